"""Dust attenuation curves for nebular lines.

Laws (reference sheet section C)
--------------------------------
``"smc"``
    Gordon et al. 2003 SMC Bar extinction, ``dust_extinction.averages.G03_SMCBar``
    (R_V = 2.74; valid 0.3-10 um^-1, i.e. 0.1-3.33 um). The curve is tabulated
    once on 20 000 points uniform in 1/lambda and linearly interpolated
    (max. error < 1e-5 in k), so calls on millions of pixels stay fast.
``"calzetti"``
    Calzetti et al. 2000 starburst attenuation, analytic two-branch form with
    R_V = 4.05, valid 0.12-2.2 um (dust_extinction 1.7 does not ship it).
``"none"``
    No attenuation (k = 0 at every positive wavelength).

Conventions: ``k(lambda) = A_lambda / E(B-V)``; ``A_lambda = k(lambda) A_V / R_V``;
transmission ``= 10**(-0.4 A_lambda)``. Wavelengths are REST-frame microns.
"""
from __future__ import annotations

import numpy as np

from ..errors import MocksimInputError
from ..lines import CASE_B_TO_HBETA, LINES

__all__ = [
    "DUST_LAWS",
    "R_V",
    "VALID_UM",
    "k_lambda",
    "attenuation_mag",
    "transmission",
    "ebv_from_balmer_decrement",
    "av_from_balmer_decrement",
    "balmer_decrement",
]

DUST_LAWS = ("smc", "calzetti", "none")
#: Total-to-selective ratio A_V / E(B-V) per law.
R_V = {"smc": 2.74, "calzetti": 4.05, "none": None}
#: Rest-frame validity range [micron].
VALID_UM = {"smc": (1.0 / 10.0, 1.0 / 0.3), "calzetti": (0.12, 2.20), "none": (0.0, np.inf)}

_SMC_TABLE: tuple[np.ndarray, np.ndarray] | None = None


def _check_law(law: str) -> str:
    key = str(law).lower()
    if key not in DUST_LAWS:
        raise MocksimInputError(f"dust_law: unknown law {law!r}; allowed: {', '.join(DUST_LAWS)}")
    return key


def _check_wave(law, wave):
    w = np.asarray(wave, dtype=float)
    if not np.all(np.isfinite(w)):
        raise MocksimInputError("wave_um_rest: must be finite")
    lo, hi = VALID_UM[law]
    if w.size and (w.min() <= 0 or w.min() < lo or w.max() > hi):
        raise MocksimInputError(
            f"wave_um_rest: [{w.min():.4g}, {w.max():.4g}] um outside the {law} law range "
            f"[{lo:.4g}, {hi:.4g}] um (rest frame)"
        )
    return w


def _smc_table():
    global _SMC_TABLE
    if _SMC_TABLE is None:
        from dust_extinction.averages import G03_SMCBar

        model = G03_SMCBar()
        x = np.linspace(0.3, 10.0, 20001)  # 1/um
        # G03_SMCBar accepts bare numbers as inverse microns; it returns A(x)/A(V).
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            a_over_av = np.asarray(model(x), dtype=float)
        _SMC_TABLE = (x, a_over_av * R_V["smc"])
    return _SMC_TABLE


def _calzetti_k(w):
    # Calzetti et al. 2000, eq. 4 (sheet section C): k'(lambda), lambda in um.
    inv = 1.0 / w
    blue = 2.659 * (-2.156 + 1.509 * inv - 0.198 * inv**2 + 0.011 * inv**3) + 4.05
    red = 2.659 * (-1.857 + 1.040 * inv) + 4.05
    return np.where(w < 0.63, blue, red)


def k_lambda(law: str, wave_um_rest) -> np.ndarray:
    """Attenuation curve ``k(lambda) = A_lambda / E(B-V)``.

    Parameters
    ----------
    law : {"smc", "calzetti", "none"}
    wave_um_rest : float or array_like
        Rest-frame wavelength [micron].

    Returns
    -------
    ndarray
        k(lambda) [mag per mag of E(B-V)], shape of ``wave_um_rest``.

    Raises
    ------
    MocksimInputError
        Unknown law or wavelength outside the law's validity range.
    """
    law = _check_law(law)
    w = _check_wave(law, wave_um_rest)
    if law == "none":
        return np.zeros_like(w)
    if law == "calzetti":
        return _calzetti_k(w)
    x, k = _smc_table()
    u = (1.0 / w - x[0]) * (1.0 / (x[1] - x[0]))  # uniform grid: direct index (fast)
    i = np.clip(u.astype(np.intp), 0, len(k) - 2)
    return k[i] + (u - i) * (k[i + 1] - k[i])


def attenuation_mag(law: str, wave_um_rest, av) -> np.ndarray:
    """Attenuation ``A_lambda = k(lambda) A_V / R_V`` [mag].

    Parameters
    ----------
    law : {"smc", "calzetti", "none"}
    wave_um_rest : float or array_like
        Rest-frame wavelength [micron].
    av : float or array_like
        V-band attenuation A_V [mag], >= 0; broadcast against ``wave_um_rest``
        (e.g. a radial A_V map times one line wavelength).

    Returns
    -------
    ndarray
        A_lambda [mag], broadcast shape.
    """
    law = _check_law(law)
    a = np.asarray(av, dtype=float)
    if not np.all(np.isfinite(a)) or (a.size and a.min() < 0):
        raise MocksimInputError("av: A_V must be finite and >= 0 mag")
    k = k_lambda(law, wave_um_rest)
    if law == "none":
        return np.zeros(np.broadcast_shapes(k.shape, a.shape))
    return k * a / R_V[law]


def transmission(law: str, wave_um_rest, av) -> np.ndarray:
    """Fraction of the intrinsic flux transmitted, ``10**(-0.4 A_lambda)`` (0-1]."""
    return 10.0 ** (-0.4 * attenuation_mag(law, wave_um_rest, av))


def _pair(law, lines):
    num, den = lines
    for ln in lines:
        if ln not in CASE_B_TO_HBETA:
            raise MocksimInputError(
                f"lines: {ln!r} is not a Balmer line; allowed: {', '.join(CASE_B_TO_HBETA)}"
            )
    if num == den:
        raise MocksimInputError("lines: need two different Balmer lines")
    k1, k2 = k_lambda(law, [LINES[num].wave_um, LINES[den].wave_um])
    return CASE_B_TO_HBETA[num] / CASE_B_TO_HBETA[den], k1, k2


def ebv_from_balmer_decrement(ratio_obs, law: str = "smc", lines=("Halpha", "Hbeta"), intrinsic=None):
    """Colour excess E(B-V) [mag] from an observed Balmer decrement.

    ``E(B-V) = 2.5 / (k_den - k_num) * log10(ratio_obs / ratio_int)``
    (sheet section C), with ``ratio = F(lines[0]) / F(lines[1])``.

    Parameters
    ----------
    ratio_obs : float or array_like
        Observed flux ratio (> 0).
    law : {"smc", "calzetti"}
    lines : (str, str)
        Numerator and denominator Balmer lines (mocksim names).
    intrinsic : float, optional
        Intrinsic ratio; default Case B (T = 1e4 K, n_e = 100 cm^-3,
        :data:`mocksim.lines.CASE_B_TO_HBETA`).

    Returns
    -------
    ndarray
        E(B-V) [mag]. Negative values (ratio below Case B, e.g. from noise) are
        returned as they are, not clipped.
    """
    law = _check_law(law)
    if law == "none":
        raise MocksimInputError("dust_law: a Balmer decrement needs an attenuation law ('smc' or 'calzetti')")
    r = np.asarray(ratio_obs, dtype=float)
    if not np.all(np.isfinite(r)) or (r.size and r.min() <= 0):
        raise MocksimInputError("ratio_obs: Balmer decrement must be finite and > 0")
    r_int, k_num, k_den = _pair(law, lines)
    if intrinsic is not None:
        r_int = float(intrinsic)
    return 2.5 / (k_den - k_num) * np.log10(r / r_int)


def av_from_balmer_decrement(ratio_obs, law: str = "smc", lines=("Halpha", "Hbeta"), intrinsic=None):
    """A_V = R_V E(B-V) [mag] from an observed Balmer decrement (may be < 0; see
    :func:`ebv_from_balmer_decrement`)."""
    ebv = ebv_from_balmer_decrement(ratio_obs, law, lines, intrinsic)  # validates the law
    return R_V[_check_law(law)] * ebv


def balmer_decrement(av, law: str = "smc", lines=("Halpha", "Hbeta"), intrinsic=None):
    """Observed Balmer decrement for a given A_V [mag] (inverse of
    :func:`av_from_balmer_decrement`)."""
    law = _check_law(law)
    if law == "none":
        raise MocksimInputError("dust_law: a Balmer decrement needs an attenuation law ('smc' or 'calzetti')")
    a = np.asarray(av, dtype=float)
    if not np.all(np.isfinite(a)):
        raise MocksimInputError("av: must be finite")
    r_int, k_num, k_den = _pair(law, lines)
    if intrinsic is not None:
        r_int = float(intrinsic)
    return r_int * 10.0 ** (0.4 * (k_den - k_num) * a / R_V[law])
