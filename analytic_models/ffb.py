"""Steady-state feedback-free-starburst (FFB) metallicity model of seed 000.

Li Z. et al. (2025, ApJ), Sect. 4.5, Eqs. 5-9 and Figure 7, after
Dekel et al. (2023) and Li, Dekel et al. (2024).

Units: lengths kpc, masses Msun, times yr, rates Msun/yr, densities
Msun/kpc^3 (3D) or Msun/kpc^2 (projected), metallicities in solar units
(Z / Z_sun) unless a function says it returns 12 + log(O/H).

Model summary
-------------
A halo of mass M_h accretes baryons at Mdot_in = f_b Mdot_h (Dekel+13) and
forms stars at SFR = eps Mdot_in.  Mass and metal conservation (Eqs. 5-6)
with Z_sf = Z_in and Z_out = Z_ism give Z_ism (Eq. 8).  Outflows carry
Mdot_out = f_out eta_max SFR with eta_max = 1/eps - 1 + f_sn.  Three gas
components have spherically averaged densities:

* inflow  rho_in = Mdot'_in(r) / (4 pi r^2 v_in), v_in = V_vir, with
  Mdot'_in = Mdot_in outside R_shell = 2 R_e and (Mdot_in - SFR)(r/R_shell)^3
  inside (metallicity Z_in);
* outflow rho_out from CC85 (Eq. 7; metallicity Z_ism);
* ISM     rho_ism: Sersic n = 1 of the galaxy R_e, total mass M_ism
  (metallicity Z_ism); stars likewise with M_star.

Eq. 9 gives Z(r); projecting each component along the line of sight gives
the gas-mass-weighted Z(R) and f_gas(R) = Sigma_gas / (Sigma_gas + Sigma_star).

Choices the seed leaves open (documented in :class:`FFBModel`)
--------------------------------------------------------------
* SN energy per unit SFR, e_sn (UNVERIFIED, default 2.2e49 erg/Msun).
* 3D form of the n = 1 profiles: exact Abel deprojection (``profiles``).
* Inflow and outflow are truncated at r_max = R_vir along the line of sight.
* Projected Z is gas-mass weighted over all three components, and the gas
  fraction counts inflow + outflow + ISM as gas.
* Halo mass default: the FFB threshold mass at z (the seed gives none).
* Sample averages: mean of 12 + log(O/H) over 64 equal-probability R_e nodes
  of the log-normal (sigma_lnRe = 0.5; median 0.53 kpc at z < 7, 0.36 kpc above).
* Gradient: unweighted straight-line fit to the averaged profile from R = 0 to
  0.42" at z, the radial range of the seed's stacked annuli (Sect. 3.4).
* Eq. 7 makes rho_out jump by 0.3/0.05 = 6 at R_shell, which leaves a small
  kink in projected profiles there; ``outflow="cc85"`` uses the smooth exact
  solution instead.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Optional

import numpy as np
from astropy import units as u

from . import halo
from .cc85 import (EQ7_INNER_COEFF, EQ7_OUTER_COEFF, cc85_density_coefficient_fast,
                   outflow_density_eq7)
from .profiles import (exponential_deprojected_density, exponential_surface_density,
                       linear_gradient, lognormal_nodes, project_density)

# Solar oxygen abundance 12 + log(O/H) = 8.69 (Asplund+09; used by all seeds).
OH_SUN = 8.69

# Seed 000 Sect. 4.5 adopted parameters.
EPS_RANGE = (0.05, 0.20)      # star-formation efficiency range
Z_IN_SOLAR = 0.01             # inflow metallicity [Z_sun]
Z_SN_SOLAR = 3.0              # SN-ejecta metallicity [Z_sun]
F_SN = 0.2                    # SN-ejecta mass fraction
F_OUT = 0.95                  # eta / eta_max
SHELL_FACTOR = 2.0            # R_shell ~= 2 R_e

# SN energy returned per Msun of stars formed [erg/Msun].  UNVERIFIED: the
# seed cites Li+24 without a number.  Li+24's code uses a wind speed
# 3333 km/s * eta_L^-1/2 with eta_L = eta_max / f_sn, which implies
# Edot/SFR = 0.5 f_sn (3333 km/s)^2 = 2.2e49 erg/Msun (reference sheet E2,
# an inference).  The textbook 1e51 erg per 100 Msun (1e49 erg/Msun) would
# raise rho_out by a factor 2.2^(1/2) = 1.5.
E_SN_ERG_PER_MSUN = 2.2e49

# Seed 000 Sect. 4.5: log-normal R_e of the stacked samples.
RE_SIGMA_LN = 0.5
RE_MEDIAN_Z5_7_KPC = 0.53
RE_MEDIAN_Z7_9_KPC = 0.36

# Seed 000 Sect. 3.4: stack gradients are fitted over five annuli from r = 0 to 0.42".
STACK_APERTURE_ARCSEC = 0.42

_KMS_TO_KPC_PER_YR = (1.0 * u.km / u.s).to(u.kpc / u.yr).value
_ERG_PER_MSUN_TO_KPC2_PER_YR2 = (1.0 * u.erg / u.Msun).to(u.kpc**2 / u.yr**2).value

_STATISTICS = ("mean", "median", "gas_weighted")


def eta_max(eps, f_sn=F_SN):
    """Maximum mass-loading factor for non-negative Mdot_ism: 1/eps - 1 + f_sn."""
    return 1.0 / np.asarray(eps, dtype=float) - 1.0 + f_sn


def mass_loading(eps, f_sn=F_SN, f_out=F_OUT):
    """Mass-loading factor eta = Mdot_out / SFR = f_out * eta_max (dimensionless)."""
    return f_out * eta_max(eps, f_sn)


def ism_metallicity(eps, z_in=Z_IN_SOLAR, z_sn=Z_SN_SOLAR, f_sn=F_SN):
    """Steady-state ISM metallicity, seed 000 Eq. 8.

    Z_ism = [Z_in (1 - eps) + Z_sn f_sn eps] / [(1 - eps) + f_sn eps].

    Parameters
    ----------
    eps : float or array_like
        Star-formation efficiency SFR / Mdot_in.
    z_in, z_sn : float
        Inflow and SN-ejecta metallicities (any common unit, e.g. Z_sun).
    f_sn : float
        Mass fraction of SN ejecta.

    Returns
    -------
    ndarray
        Z_ism in the unit of ``z_in``.
    """
    eps = np.asarray(eps, dtype=float)
    return (z_in * (1.0 - eps) + z_sn * f_sn * eps) / ((1.0 - eps) + f_sn * eps)


def median_re_kpc(z):
    """Median R_e of the seed-000 stacks: 0.53 kpc at z < 7, 0.36 kpc at z >= 7."""
    return RE_MEDIAN_Z5_7_KPC if z < 7.0 else RE_MEDIAN_Z7_9_KPC


def stack_fit_range_kpc(z, aperture_arcsec=STACK_APERTURE_ARCSEC):
    """Radial range (0, 0.42" in proper kpc at z) of the seed-000 stack gradients."""
    return (0.0, aperture_arcsec * halo.kpc_per_arcsec(z))


def _powerlaw2_projection(R, A, r1, r2):
    """Projection of rho = A / r^2 between 3D radii max(R, r1) and r2.

    2 int A / (r sqrt(r^2 - R^2)) dr = (2A/R) [arcsin(R/r_lo) - arcsin(R/r2)].
    """
    R = np.asarray(R, dtype=float)
    r_lo = np.maximum(R, r1)
    with np.errstate(divide="ignore", invalid="ignore"):
        val = 2.0 * A / R * (np.arcsin(np.clip(R / r_lo, 0, 1)) - np.arcsin(np.clip(R / r2, 0, 1)))
    val = np.where(R > 0, val, 2.0 * A * (1.0 / r1 - 1.0 / r2))
    return np.where(R < r2, val, 0.0)


@dataclass(frozen=True)
class FFBModel:
    """FFB steady-state galaxy of seed 000 (Li Z. et al. 2025, Sect. 4.5).

    Parameters
    ----------
    z : float
        Redshift.
    eps : float
        Star-formation efficiency SFR / Mdot_in (seed: 0.05-0.2; default 0.1).
    log_mh : float, optional
        log10 halo mass [Msun]; default: FFB threshold 10.8 - 6.2 log10((1+z)/10).
    re_kpc : float, optional
        Effective radius of stars and ISM [kpc]; default 0.53 (z < 7) or 0.36.
    f_sn, z_in, z_sn, f_out : float
        SN mass fraction, inflow and SN metallicities [Z_sun], eta/eta_max.
    f_b : float
        Cosmic baryon fraction (0.16).
    shell_factor : float
        R_shell / R_e (seed: ~2).
    v_in_factor : float
        Inflow speed in units of V_vir (seed: v_in ~ V_vir).
    e_sn_erg_per_msun : float
        SN energy per Msun of stars formed (UNVERIFIED; default 2.2e49).
    outflow : {"eq7", "cc85"}
        "eq7": the seed's piecewise approximation (0.3 / 0.05 coefficients);
        "cc85": the exact CC85 profile (tabulated), projected numerically.
    r_max_factor : float
        Inflow and outflow are truncated at r_max_factor * R_vir (line of
        sight and 3D); the seed does not specify a truncation.
    oh_sun : float
        Solar 12 + log(O/H); Z/Z_sun is converted assuming O/H scales with Z.
    """

    z: float = 6.0
    eps: float = 0.1
    log_mh: Optional[float] = None
    re_kpc: Optional[float] = None
    f_sn: float = F_SN
    z_in: float = Z_IN_SOLAR
    z_sn: float = Z_SN_SOLAR
    f_out: float = F_OUT
    f_b: float = halo.F_BARYON
    shell_factor: float = SHELL_FACTOR
    v_in_factor: float = 1.0
    e_sn_erg_per_msun: float = E_SN_ERG_PER_MSUN
    outflow: str = "eq7"
    r_max_factor: float = 1.0
    oh_sun: float = OH_SUN

    def __post_init__(self):
        if not 0.0 < self.eps < 1.0:
            raise ValueError("eps must lie in (0, 1)")
        if not 0.0 <= self.f_out <= 1.0:
            raise ValueError("f_out must lie in [0, 1]")
        if self.outflow not in ("eq7", "cc85"):
            raise ValueError("outflow must be 'eq7' or 'cc85'")

    # ------------------------------------------------------------------ set-up
    @classmethod
    def from_stellar_mass(cls, log_mstar, z, eps=0.1, **kwargs):
        """Model whose M_star = (1 - f_sn) eps f_b M_h equals 10**log_mstar Msun."""
        f_sn = kwargs.get("f_sn", F_SN)
        f_b = kwargs.get("f_b", halo.F_BARYON)
        log_mh = log_mstar - np.log10((1.0 - f_sn) * eps * f_b)
        return cls(z=z, eps=eps, log_mh=float(log_mh), **kwargs)

    def with_re(self, re_kpc):
        """Copy of the model with another effective radius [kpc]."""
        return replace(self, re_kpc=float(re_kpc))

    @property
    def halo_log_mass(self):
        """log10 M_h [Msun] actually used."""
        return float(halo.ffb_threshold_log_mass(self.z)) if self.log_mh is None else float(self.log_mh)

    @property
    def re(self):
        """Effective radius used [kpc]."""
        return median_re_kpc(self.z) if self.re_kpc is None else float(self.re_kpc)

    @property
    def r_shell(self):
        """Radius of the star-forming shell, shell_factor * R_e [kpc]."""
        return self.shell_factor * self.re

    @property
    def r_vir(self):
        """Virial radius [kpc]."""
        return float(halo.virial_radius(self.halo_log_mass, self.z))

    @property
    def v_vir(self):
        """Virial velocity [km/s]."""
        return float(halo.virial_velocity(self.halo_log_mass, self.z))

    @property
    def r_max(self):
        """Outer truncation of inflow and outflow [kpc]."""
        return self.r_max_factor * self.r_vir

    # --------------------------------------------------------- integrated rates
    @property
    def mdot_halo(self):
        """Halo accretion rate (Dekel+13) [Msun/yr]."""
        return float(halo.halo_accretion_rate(self.halo_log_mass, self.z))

    @property
    def mdot_in(self):
        """Gas inflow rate f_b Mdot_h [Msun/yr]."""
        return self.f_b * self.mdot_halo

    @property
    def sfr(self):
        """Star-formation rate eps Mdot_in [Msun/yr]."""
        return self.eps * self.mdot_in

    @property
    def eta_max(self):
        """Maximum mass loading 1/eps - 1 + f_sn."""
        return float(eta_max(self.eps, self.f_sn))

    @property
    def eta(self):
        """Mass loading f_out eta_max."""
        return self.f_out * self.eta_max

    @property
    def mdot_out(self):
        """Outflow rate eta SFR [Msun/yr]."""
        return self.eta * self.sfr

    @property
    def mdot_ism(self):
        """ISM growth rate (1 - f_out) eta_max SFR [Msun/yr]."""
        return (1.0 - self.f_out) * self.eta_max * self.sfr

    @property
    def m_star(self):
        """Stellar mass (1 - f_sn) eps f_b M_h [Msun]."""
        return (1.0 - self.f_sn) * self.eps * self.f_b * 10.0**self.halo_log_mass

    @property
    def m_ism(self):
        """ISM mass (1 - f_out) eta_max eps f_b M_h [Msun]."""
        return (1.0 - self.f_out) * self.eta_max * self.eps * self.f_b * 10.0**self.halo_log_mass

    @property
    def z_ism(self):
        """Steady-state ISM (and outflow) metallicity, Eq. 8 [Z_sun]."""
        return float(ism_metallicity(self.eps, self.z_in, self.z_sn, self.f_sn))

    @property
    def edot_sn(self):
        """SN energy injection rate e_sn * SFR [Msun kpc^2 / yr^3]."""
        return self.e_sn_erg_per_msun * _ERG_PER_MSUN_TO_KPC2_PER_YR2 * self.sfr

    def budget(self):
        """Mass and metal budget of Eqs. 5-6 with their residuals.

        Returns
        -------
        dict
            Rates [Msun/yr], metal rates [Z_sun Msun/yr] and the residuals
            ``mass_residual`` (Eq. 5) and ``metal_residual`` (Eq. 6, with
            Z_sf = Z_in and Z_out = Z_ism), both zero for a consistent model.
        """
        lhs_mass = self.mdot_ism + self.mdot_out
        rhs_mass = self.mdot_in - (1.0 - self.f_sn) * self.sfr
        lhs_metal = self.z_ism * self.mdot_ism + self.z_ism * self.mdot_out
        rhs_metal = self.z_in * self.mdot_in - (self.z_in - self.z_sn * self.f_sn) * self.sfr
        return {
            "mdot_halo": self.mdot_halo, "mdot_in": self.mdot_in, "sfr": self.sfr,
            "mdot_out": self.mdot_out, "mdot_ism": self.mdot_ism, "eta": self.eta,
            "eta_max": self.eta_max, "z_ism": self.z_ism, "m_star": self.m_star, "m_ism": self.m_ism,
            "mass_residual": lhs_mass - rhs_mass, "metal_residual": lhs_metal - rhs_metal,
        }

    # ------------------------------------------------------------ 3D densities
    @property
    def _v_in(self):
        return self.v_in_factor * self.v_vir * _KMS_TO_KPC_PER_YR

    @property
    def _outflow_norm(self):
        """(Mdot_out / Edot_sn)^(1/2) Mdot_out [Msun/kpc]; divide by r^2 for a density."""
        return np.sqrt(self.mdot_out / self.edot_sn) * self.mdot_out

    def rho_in(self, r_kpc):
        """Inflow density [Msun/kpc^3] at 3D radius r [kpc]."""
        r = np.asarray(r_kpc, dtype=float)
        rs = self.r_shell
        with np.errstate(divide="ignore", invalid="ignore"):
            flux = np.where(r > rs, self.mdot_in, (self.mdot_in - self.sfr) * (r / rs) ** 3)
            rho = flux / (4.0 * np.pi * r**2 * self._v_in)
        rho = np.where(r > 0, rho, 0.0)
        return np.where(r <= self.r_max, rho, 0.0)

    def rho_out(self, r_kpc):
        """Outflow density [Msun/kpc^3] (Eq. 7, or exact CC85 if ``outflow='cc85'``)."""
        r = np.asarray(r_kpc, dtype=float)
        if self.outflow == "eq7":
            rho = outflow_density_eq7(r, self.r_shell, self.mdot_out, self.edot_sn)
        else:
            rho = cc85_density_coefficient_fast(r / self.r_shell) * self._outflow_norm / self.r_shell**2
        return np.where(r <= self.r_max, rho, 0.0)

    def rho_ism(self, r_kpc):
        """ISM density [Msun/kpc^3]: deprojected exponential of R_e, mass M_ism."""
        return exponential_deprojected_density(r_kpc, self.m_ism, self.re)

    def rho_star(self, r_kpc):
        """Stellar density [Msun/kpc^3]: deprojected exponential of R_e, mass M_star."""
        return exponential_deprojected_density(r_kpc, self.m_star, self.re)

    def metallicity_3d(self, r_kpc):
        """Spherically averaged gas metallicity Z(r), Eq. 9 [Z_sun]."""
        r_in, r_out, r_ism = self.rho_in(r_kpc), self.rho_out(r_kpc), self.rho_ism(r_kpc)
        return (self.z_in * r_in + self.z_ism * (r_out + r_ism)) / (r_in + r_out + r_ism)

    # -------------------------------------------------------- surface densities
    def sigma_in(self, R_kpc):
        """Projected inflow surface density [Msun/kpc^2] (analytic)."""
        R = np.abs(np.asarray(R_kpc, dtype=float))
        rs, v = self.r_shell, self._v_in
        b = (self.mdot_in - self.sfr) / (4.0 * np.pi * v * rs**3)   # rho = b r inside
        a = self.mdot_in / (4.0 * np.pi * v)                          # rho = a / r^2 outside
        s = np.sqrt(np.clip(rs**2 - R**2, 0.0, None))
        with np.errstate(divide="ignore", invalid="ignore"):
            log_term = np.where(R > 0, R**2 * np.log((rs + s) / np.where(R > 0, R, 1.0)), 0.0)
        inner = np.where(R < rs, b * (rs * s + log_term), 0.0)
        return inner + _powerlaw2_projection(R, a, rs, self.r_max)

    def sigma_out(self, R_kpc):
        """Projected outflow surface density [Msun/kpc^2]."""
        R = np.abs(np.asarray(R_kpc, dtype=float))
        rs = self.r_shell
        if self.outflow == "cc85":
            return project_density(self.rho_out, R, self.r_max, breaks=(rs,), n=200)
        norm = self._outflow_norm
        inner = np.where(R < rs, 2.0 * EQ7_INNER_COEFF * norm / rs**2 * np.sqrt(np.clip(rs**2 - R**2, 0, None)), 0.0)
        return inner + _powerlaw2_projection(R, EQ7_OUTER_COEFF * norm, rs, self.r_max)

    def sigma_ism(self, R_kpc):
        """ISM surface density [Msun/kpc^2] (exponential)."""
        return exponential_surface_density(R_kpc, self.m_ism, self.re)

    def sigma_star(self, R_kpc):
        """Stellar surface density [Msun/kpc^2] (exponential)."""
        return exponential_surface_density(R_kpc, self.m_star, self.re)

    def sigma_gas(self, R_kpc):
        """Total gas (inflow + outflow + ISM) surface density [Msun/kpc^2]."""
        return self.sigma_in(R_kpc) + self.sigma_out(R_kpc) + self.sigma_ism(R_kpc)

    # ------------------------------------------------------- projected profiles
    def projected_metallicity(self, R_kpc):
        """Line-of-sight gas-mass-weighted metallicity Z(R) [Z_sun]."""
        s_in, s_out, s_ism = self.sigma_in(R_kpc), self.sigma_out(R_kpc), self.sigma_ism(R_kpc)
        return (self.z_in * s_in + self.z_ism * (s_out + s_ism)) / (s_in + s_out + s_ism)

    def gas_fraction(self, R_kpc):
        """Projected gas fraction Sigma_gas / (Sigma_gas + Sigma_star)."""
        sg = self.sigma_gas(R_kpc)
        return sg / (sg + self.sigma_star(R_kpc))

    def profile(self, R_kpc):
        """Projected 12 + log(O/H) at radius R [kpc] for this single galaxy."""
        return self.oh_sun + np.log10(self.projected_metallicity(R_kpc))

    def averaged_profile(self, R_kpc, re_median_kpc=None, sigma_ln=RE_SIGMA_LN, n_nodes=64,
                         statistic="mean", quantity="oh"):
        """Profile averaged over a log-normal R_e distribution (seed 000 Fig. 7).

        Parameters
        ----------
        R_kpc : array_like
            Projected radii [kpc].
        re_median_kpc : float, optional
            Median R_e [kpc]; default ``self.re``.
        sigma_ln : float
            Scatter in ln R_e (seed: 0.5).
        n_nodes : int
            Equal-probability R_e nodes (see ``profiles.lognormal_nodes``).
        statistic : {"mean", "median", "gas_weighted"}
            "mean"/"median" of the per-galaxy quantity at each R;
            "gas_weighted" averages Z (or Sigma ratios for f_gas) weighted by
            Sigma_gas, as a stack of gas maps would.
        quantity : {"oh", "fgas"}
            12 + log(O/H) or gas fraction.

        Returns
        -------
        ndarray
            Averaged profile at ``R_kpc``.
        """
        if statistic not in _STATISTICS:
            raise ValueError(f"statistic must be one of {_STATISTICS}")
        if quantity not in ("oh", "fgas"):
            raise ValueError("quantity must be 'oh' or 'fgas'")
        med = self.re if re_median_kpc is None else re_median_kpc
        R = np.asarray(R_kpc, dtype=float)
        vals, wts, stars = [], [], []
        for re in lognormal_nodes(med, sigma_ln, n_nodes):
            m = self.with_re(re)
            sg = m.sigma_gas(R)
            wts.append(sg)
            stars.append(m.sigma_star(R))
            vals.append(m.projected_metallicity(R) if quantity == "oh" else sg / (sg + stars[-1]))
        vals, wts, stars = np.array(vals), np.array(wts), np.array(stars)
        if statistic == "gas_weighted":
            if quantity == "oh":
                return self.oh_sun + np.log10(np.sum(vals * wts, 0) / np.sum(wts, 0))
            return np.sum(wts, 0) / np.sum(wts + stars, 0)
        if quantity == "oh":
            vals = self.oh_sun + np.log10(vals)
        return vals.mean(0) if statistic == "mean" else np.median(vals, 0)

    def gradient(self, r_range_kpc=None, averaged=True, n_points=50, **avg_kwargs):
        """Slope of a straight-line fit to the projected 12 + log(O/H) [dex/kpc].

        Parameters
        ----------
        r_range_kpc : (float, float), optional
            Fit range; default (0, 0.42") at the model redshift, the annuli of
            the seed-000 stacks (Sect. 3.4) that Figure 7(b) compares with.
        averaged : bool
            Fit the log-normal-R_e averaged profile (default) or the single galaxy.
        n_points : int
            Evenly spaced radii in the range (unweighted fit).
        **avg_kwargs
            Passed to :meth:`averaged_profile`.

        Returns
        -------
        float
            Gradient in dex/kpc.
        """
        lo, hi = stack_fit_range_kpc(self.z) if r_range_kpc is None else r_range_kpc
        R = np.linspace(lo, hi, n_points)
        y = self.averaged_profile(R, **avg_kwargs) if averaged else self.profile(R)
        return linear_gradient(R, y)[0]


def ffb_gradient(z, eps=0.1, r_range_kpc=None, averaged=True, **model_kwargs):
    """Gradient [dex/kpc] of the projected FFB 12 + log(O/H) profile.

    Convenience wrapper for ``FFBModel(z=z, eps=eps, **model_kwargs).gradient(...)``;
    the default fit range is the seed-000 stack aperture (0 to 0.42") at z and
    the profile is averaged over the log-normal R_e distribution.
    """
    return FFBModel(z=z, eps=eps, **model_kwargs).gradient(r_range_kpc=r_range_kpc, averaged=averaged)
