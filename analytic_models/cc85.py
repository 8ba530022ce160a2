"""Chevalier & Clegg (1985, CC85) adiabatic wind from a uniformly heated sphere.

Mass and energy are injected uniformly at rates Mdot and Edot inside a sphere
of radius R.  Every quantity below is written in the dimensionless form used
by seed 000's Eq. 7,

    rho(r) = C(r / R) * (Mdot / Edot)^(1/2) * Mdot / R^2,

with any consistent unit system (e.g. cgs, or Msun-kpc-yr).

Seed 000 (Li Z. et al. 2025, Eq. 7) approximates C by 0.3 inside R and by
0.05 (R/r)^2 outside.  The exact solution gives C(0) = 0.296 at the centre,
C(1) = sqrt(2)/(4 pi) = 0.113 at the sonic point r = R, and
C -> (R/r)^2 / (4 pi sqrt(2)) = 0.0563 (R/r)^2 far outside, where the wind
coasts at v_inf = sqrt(2 Edot / Mdot).  :func:`cc85_density_coefficient`
solves the exact implicit Mach-number relations of CC85.
"""
from __future__ import annotations

import numpy as np
from scipy.optimize import brentq

GAMMA_ADIABATIC = 5.0 / 3.0  # monatomic ideal gas (CC85)

# Seed 000, Eq. 7: inner (r < R_shell) and outer (r > R_shell) coefficients.
EQ7_INNER_COEFF = 0.3
EQ7_OUTER_COEFF = 0.05


def cc85_asymptotic_coefficient():
    """Exact large-radius coefficient 1 / (4 pi sqrt(2)) = 0.0563.

    Far from the injection region all enthalpy has become kinetic energy,
    v -> v_inf = sqrt(2 Edot / Mdot), and rho = Mdot / (4 pi r^2 v_inf).
    The value does not depend on gamma.
    """
    return 1.0 / (4.0 * np.pi * np.sqrt(2.0))


def cc85_central_coefficient(gamma=GAMMA_ADIABATIC):
    """Exact coefficient C(0) of the density at the centre (0.296 for gamma = 5/3).

    Near r = 0 the Mach number grows linearly, r/R = c_g M with
    c_g = (1+3g)^((3g+1)/(5g+1)) ((1+g)/2)^(-(g+1)/(2(5g+1))), and the velocity is
    u = sqrt((g-1) Edot/Mdot) M, so C(0) = c_g / (4 pi sqrt(g - 1)).
    """
    g = gamma
    c_g = (1 + 3 * g) ** ((3 * g + 1) / (5 * g + 1)) * ((1 + g) / 2) ** (-(g + 1) / (2 * (5 * g + 1)))
    return c_g / (4.0 * np.pi * np.sqrt(g - 1.0))


def _x_inside(mach, g):
    """r/R as a function of the Mach number inside the injection sphere (M < 1)."""
    a = ((3 * g + 1.0 / mach**2) / (1 + 3 * g)) ** (-(3 * g + 1) / (5 * g + 1))
    b = ((g - 1 + 2.0 / mach**2) / (1 + g)) ** ((g + 1) / (2 * (5 * g + 1)))
    return a * b


def _x2_outside(mach, g):
    """(r/R)^2 as a function of the Mach number outside (M > 1)."""
    return mach ** (2 / (g - 1)) * ((g - 1 + 2.0 / mach**2) / (1 + g)) ** ((g + 1) / (2 * (g - 1)))


def cc85_mach(x, gamma=GAMMA_ADIABATIC):
    """Mach number of the CC85 wind at r/R = x (subsonic inside, supersonic outside).

    Parameters
    ----------
    x : array_like
        r / R (dimensionless), > 0.
    gamma : float
        Adiabatic index.

    Returns
    -------
    ndarray
        Mach number M(x).
    """
    x = np.atleast_1d(np.asarray(x, dtype=float))
    out = np.empty_like(x)
    for i, xi in enumerate(x):
        if xi <= 0:
            out[i] = 0.0
        elif xi < 1.0:
            lo = 1e-12
            out[i] = brentq(lambda m: _x_inside(m, gamma) - xi, lo, 1.0, xtol=1e-14, rtol=1e-12)
        elif xi == 1.0:
            out[i] = 1.0
        else:
            hi = 2.0
            while _x2_outside(hi, gamma) < xi**2:
                hi *= 2.0
            out[i] = brentq(lambda m: _x2_outside(m, gamma) - xi**2, 1.0, hi, xtol=1e-14, rtol=1e-12)
    return out


def cc85_velocity_coefficient(x, gamma=GAMMA_ADIABATIC):
    """Wind speed in units of sqrt(Edot / Mdot) at r/R = x.

    From Bernoulli, u^2/2 + c^2/(g-1) = Edot/Mdot, so
    u^2 = 2 (g-1) M^2 / ((g-1) M^2 + 2) * Edot/Mdot.
    """
    m = cc85_mach(x, gamma)
    g = gamma
    return np.sqrt(2.0 * (g - 1) * m**2 / ((g - 1) * m**2 + 2.0))


def cc85_density_coefficient(x, gamma=GAMMA_ADIABATIC):
    """Exact dimensionless CC85 density C(x), x = r / R.

    rho = C(x) (Mdot/Edot)^(1/2) Mdot / R^2, with C = x / (4 pi u~) inside
    (mass continuity rho u = q r / 3) and C = 1 / (4 pi x^2 u~) outside, where
    u~ = u / sqrt(Edot/Mdot).

    Parameters
    ----------
    x : array_like
        r / R.
    gamma : float
        Adiabatic index.

    Returns
    -------
    ndarray
        C(x); C(0) is returned as the analytic central value.
    """
    x = np.atleast_1d(np.asarray(x, dtype=float))
    out = np.empty_like(x)
    zero = x <= 0
    out[zero] = cc85_central_coefficient(gamma)
    inside = (~zero) & (x < 1.0)
    outside = x >= 1.0
    if inside.any():
        out[inside] = x[inside] / (4.0 * np.pi * cc85_velocity_coefficient(x[inside], gamma))
    if outside.any():
        out[outside] = 1.0 / (4.0 * np.pi * x[outside] ** 2 * cc85_velocity_coefficient(x[outside], gamma))
    return out


def outflow_density_eq7(r, r_shell, mdot_out, edot_sn, inner=EQ7_INNER_COEFF, outer=EQ7_OUTER_COEFF):
    """Outflow density of seed 000 Eq. 7 (CC85 approximation).

    rho_out = inner * (Mdot/Edot)^(1/2) Mdot / R_shell^2  for r < R_shell,
    rho_out = outer * (Mdot/Edot)^(1/2) Mdot / r^2        for r >= R_shell.

    Parameters
    ----------
    r : array_like
        Radius.
    r_shell : float
        Radius of the star-forming shell (injection region).
    mdot_out : float
        Outflow mass rate.
    edot_sn : float
        Supernova energy injection rate, in units consistent with ``mdot_out``
        and ``r`` (e.g. Msun kpc^2 / yr^3 with Msun/yr and kpc).
    inner, outer : float
        Coefficients (seed: 0.3 and 0.05; exact CC85: 0.296 central and 0.0563).

    Returns
    -------
    ndarray
        Density in mass / length^3 of the chosen unit system.
    """
    r = np.asarray(r, dtype=float)
    norm = np.sqrt(mdot_out / edot_sn) * mdot_out
    with np.errstate(divide="ignore"):
        return np.where(r < r_shell, inner * norm / r_shell**2, outer * norm / r**2)


_TABLE_X = np.logspace(-4.0, 4.0, 1601)
_TABLE_LOGC = None


def cc85_density_coefficient_fast(x, gamma=GAMMA_ADIABATIC):
    """Tabulated version of :func:`cc85_density_coefficient` (gamma = 5/3 only).

    Interpolates log C on a log x grid from 1e-4 to 1e4 (1601 points, built on
    first use); outside that range the central and asymptotic limits are used.
    Relative accuracy is better than 1e-4 except within ~1e-3 of x = 1, where C
    has a kink.

    Parameters
    ----------
    x : array_like
        r / R.
    gamma : float
        Must be 5/3 (the table is built for it).

    Returns
    -------
    ndarray
        C(x).
    """
    global _TABLE_LOGC
    if not np.isclose(gamma, GAMMA_ADIABATIC):
        return cc85_density_coefficient(x, gamma)
    if _TABLE_LOGC is None:
        _TABLE_LOGC = np.log(cc85_density_coefficient(_TABLE_X, gamma))
    x = np.asarray(x, dtype=float)
    lx = np.log(np.clip(x, _TABLE_X[0], _TABLE_X[-1]))
    c = np.exp(np.interp(lx, np.log(_TABLE_X), _TABLE_LOGC))
    c = np.where(x < _TABLE_X[0], cc85_central_coefficient(gamma), c)
    with np.errstate(divide="ignore"):
        c = np.where(x > _TABLE_X[-1], cc85_asymptotic_coefficient() / np.maximum(x, 1e-300) ** 2, c)
    return c
