"""Gas-regulator ("bathtub") chemical-evolution model of Erb (2008, ApJ 674, 151).

Used in seed 000 (Li Z. et al. 2025), Sect. 4.5 and Figure 7(a), with pure
inflow (f_i = Mdot_in / SFR, f_o = 0) and pure outflow (f_o = Mdot_out / SFR,
f_i = 0) cases and the closed box.

Set-up (instantaneous recycling)
--------------------------------
With star-formation rate psi, a lock-up fraction alpha (= 1 - R; alpha = 1
means no gas return), primordial inflow (Z = 0) and yield y (metal mass per
unit mass locked into stars):

    dM_gas/dt   = -alpha psi + f_i psi - f_o psi
    dM_star/dt  =  alpha psi
    d(Z M_gas)/dt = y alpha psi - Z (alpha + f_o) psi

Starting from pure gas, with mu = M_gas / (M_gas + M_star) and
k = (f_i - f_o - alpha) / alpha, the exact solution is

    Z(mu) = (y alpha / f_i) {1 - [1 - k (1/mu - 1)]^(f_i / (alpha k))}

(derived here; it reduces to every closed form of reference sheet E3):

* f_i = 0:  Z = [y alpha / (alpha + f_o)] ln[1 + ((alpha + f_o)/alpha)(1/mu - 1)]
* f_o = 0:  Z = (y alpha / f_i) {1 - [1 - ((f_i - alpha)/alpha)(1/mu - 1)]^(f_i/(f_i - alpha))}
* f_i = f_o = 0 (closed box):  Z = y ln(1/mu), for any alpha.

With inflow stronger than consumption (k > 0) the gas fraction cannot fall
below mu_eq = k / (1 + k) = (f_i - f_o - alpha) / (f_i - f_o);
there Z reaches the equilibrium y alpha / f_i.  Below mu_eq Z is NaN.

Z here is a metal *mass fraction*.  ``metallicity_to_oh`` converts it with
12 + log(O/H) = 8.69 + log10(Z / Z_sun).

UNVERIFIED numbers: the yield y = 0.019 attributed to Erb (2008) and the solar
metal fraction used to convert (we default to Z_sun = 0.0142, Asplund+09;
0.02 is the older value) were not checked against the paper text
(reference sheet E3).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .gas_fraction import KS_INDEX, sigma_gas_from_sigma_sfr
from .profiles import exponential_scale_length

# Yield adopted by Erb (2008); UNVERIFIED (recollection, reference sheet E3).
YIELD_ERB08 = 0.019
# Solar metal mass fraction (Asplund+09); UNVERIFIED as the zero point of Erb's figures.
Z_SUN_MASS = 0.0142
# Solar 12 + log(O/H) (Asplund+09; all seeds).
OH_SUN = 8.69


def erb08_metallicity(mu, f_i=0.0, f_o=0.0, y=YIELD_ERB08, alpha=1.0):
    """Gas metallicity of the Erb (2008) gas-regulator model.

    Parameters
    ----------
    mu : float or array_like
        Gas fraction M_gas / (M_gas + M_star), in (0, 1].
    f_i : float
        Inflow rate in units of the SFR (>= 0).
    f_o : float
        Outflow rate in units of the SFR (>= 0).
    y : float
        Yield (metal mass per unit mass locked into stars).  Default 0.019
        (UNVERIFIED).
    alpha : float
        Lock-up fraction 1 - R (default 1: no gas return).

    Returns
    -------
    ndarray
        Metal mass fraction Z.  NaN where mu is not reachable (mu <= 0, mu > 1,
        or below the equilibrium gas fraction when inflow dominates).
    """
    if f_i < 0 or f_o < 0 or alpha <= 0:
        raise ValueError("f_i, f_o must be >= 0 and alpha > 0")
    mu = np.asarray(mu, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        x = 1.0 / mu - 1.0                      # M_star / M_gas
        k = (f_i - f_o - alpha) / alpha
        arg = 1.0 - k * x                       # M_gas,0 / M_gas
        log_arg = np.log1p(-k * x)
        if f_i == 0.0:
            z = y * alpha / (alpha + f_o) * np.log1p((alpha + f_o) / alpha * x)
        elif k == 0.0:
            z = -y * alpha / f_i * np.expm1(-f_i / alpha * x)
        else:
            z = -y * alpha / f_i * np.expm1(f_i / (alpha * k) * log_arg)
        bad = (mu <= 0) | (mu > 1) | ~(arg > 0)
    return np.where(bad, np.nan, z)


def closed_box_metallicity(mu, y=YIELD_ERB08):
    """Closed-box metallicity Z = y ln(1/mu)."""
    mu = np.asarray(mu, dtype=float)
    return y * np.log(1.0 / mu)


def equilibrium_gas_fraction(f_i, f_o=0.0, alpha=1.0):
    """Lowest reachable gas fraction when f_i > f_o + alpha (else 0).

    Returns (f_i - f_o - alpha) / (f_i - f_o), where Z = y alpha / f_i.
    """
    net = f_i - f_o
    return max(0.0, (net - alpha) / net) if net > 0 else 0.0


def metallicity_to_oh(z_mass, z_sun=Z_SUN_MASS, oh_sun=OH_SUN):
    """12 + log(O/H) = oh_sun + log10(Z / z_sun) for a metal mass fraction Z."""
    return oh_sun + np.log10(np.asarray(z_mass, dtype=float) / z_sun)


@dataclass(frozen=True)
class Erb08Model:
    """Radial metallicity profile from a local (annulus-by-annulus) Erb08 model.

    Each annulus is treated as an independent gas regulator with the same
    f_i, f_o (no radial flows, as in the seed's use of the model), so
    Z(R) = Z_Erb08(f_gas(R)).  Stars and gas are exponential discs:

        Sigma_star ~ exp(-R / h),  Sigma_gas ~ exp(-R / (gas_scale_ratio h)),

    with h = R_e / 1.678 and the central gas fraction ``fgas0``.  The default
    gas_scale_ratio = 1.4 is what the Kennicutt-Schmidt inversion of seed 000
    App. C gives when Sigma_SFR follows the stars (Sigma_gas ~ Sigma_SFR^(1/1.4));
    :meth:`from_ks` builds the model that way.  A ratio > 1 makes f_gas rise
    outwards and hence Z fall outwards (negative gradient).

    Parameters
    ----------
    re_kpc : float
        Stellar effective radius [kpc].
    fgas0 : float
        Gas fraction at R = 0.
    gas_scale_ratio : float
        Gas / stellar exponential scale-length ratio.
    f_i, f_o : float
        Inflow and outflow rates in units of SFR.
    y : float
        Yield (UNVERIFIED default 0.019).
    alpha : float
        Lock-up fraction.
    z_sun : float
        Solar metal mass fraction for the conversion to O/H.
    oh_sun : float
        Solar 12 + log(O/H).
    """

    re_kpc: float = 0.5
    fgas0: float = 0.5
    gas_scale_ratio: float = KS_INDEX
    f_i: float = 0.0
    f_o: float = 0.0
    y: float = YIELD_ERB08
    alpha: float = 1.0
    z_sun: float = Z_SUN_MASS
    oh_sun: float = OH_SUN

    def __post_init__(self):
        if not 0.0 < self.fgas0 < 1.0:
            raise ValueError("fgas0 must lie in (0, 1)")
        if self.re_kpc <= 0 or self.gas_scale_ratio <= 0:
            raise ValueError("re_kpc and gas_scale_ratio must be positive")

    @classmethod
    def from_ks(cls, log_mstar, sfr, re_kpc, kappa_s=20.0, **kwargs):
        """Model whose gas follows the inverted KS law of seed 000 App. C.

        Stars and SFR are exponential discs of the same R_e; Sigma_gas is
        (Sigma_SFR / (1e-12 kappa_s))^(1/1.4).

        Parameters
        ----------
        log_mstar : float
            log10 stellar mass [Msun].
        sfr : float
            Star-formation rate [Msun/yr].
        re_kpc : float
            Effective radius of stars and star formation [kpc].
        kappa_s : float
            Burstiness (seed: 10 at z ~ 1-3, 20 at z ~ 6-7).
        **kwargs
            Other :class:`Erb08Model` fields (f_i, f_o, y, ...).
        """
        h = float(exponential_scale_length(re_kpc))
        sig_star0 = 10.0**log_mstar / (2.0 * np.pi * h**2)
        sig_sfr0 = sfr / (2.0 * np.pi * h**2)
        sig_gas0 = float(sigma_gas_from_sigma_sfr(sig_sfr0, kappa_s))
        fgas0 = sig_gas0 / (sig_gas0 + sig_star0)
        return cls(re_kpc=re_kpc, fgas0=fgas0, gas_scale_ratio=KS_INDEX, **kwargs)

    def gas_fraction(self, R_kpc):
        """Gas fraction f_gas(R) = Sigma_gas / (Sigma_gas + Sigma_star)."""
        h = float(exponential_scale_length(self.re_kpc))
        R = np.abs(np.asarray(R_kpc, dtype=float))
        ratio0 = self.fgas0 / (1.0 - self.fgas0)                # Sigma_gas / Sigma_star at R = 0
        ratio = ratio0 * np.exp(R / h * (1.0 - 1.0 / self.gas_scale_ratio))
        return ratio / (1.0 + ratio)

    def metallicity(self, R_kpc):
        """Metal mass fraction Z(R)."""
        return erb08_metallicity(self.gas_fraction(R_kpc), self.f_i, self.f_o, self.y, self.alpha)

    def profile(self, R_kpc):
        """12 + log(O/H) at radius R [kpc]."""
        return metallicity_to_oh(self.metallicity(R_kpc), self.z_sun, self.oh_sun)


def erb08_oh_profile(gas_fraction_profile, f_i=0.0, f_o=0.0, y=YIELD_ERB08, alpha=1.0,
                     z_sun=Z_SUN_MASS, oh_sun=OH_SUN):
    """12 + log(O/H) from any gas-fraction profile via the local Erb08 relation.

    Parameters
    ----------
    gas_fraction_profile : array_like
        f_gas at each radius (e.g. from :func:`analytic_models.gas_fraction.gas_fraction`
        applied to Sigma_gas(R) and Sigma_star(R)).
    f_i, f_o, y, alpha : float
        Erb08 parameters (see :func:`erb08_metallicity`).
    z_sun, oh_sun : float
        Conversion of the metal mass fraction to 12 + log(O/H).

    Returns
    -------
    ndarray
        12 + log(O/H) at the same radii (NaN where f_gas is unreachable).
    """
    return metallicity_to_oh(erb08_metallicity(gas_fraction_profile, f_i, f_o, y, alpha), z_sun, oh_sun)
