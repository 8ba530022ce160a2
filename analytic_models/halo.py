"""Dark-matter halo quantities used by the FFB model of Li Z. et al. (2025).

All functions take halo masses in solar masses and return quantities in kpc,
km/s, Msun/yr or Gyr as stated in each docstring.

Cosmology
---------
Seed 000 (Li Z. et al. 2025, Sect. 1) assumes a flat LCDM model with
H0 = 70 km/s/Mpc, Omega_m = 0.3, Omega_Lambda = 0.7.  The FFB code of
Li, Dekel et al. (2024) (``ffb_predict``, reference sheet E1) uses the same
H0 and Omega_m with Omega_b = 0.048, so the cosmic baryon fraction is
f_b = 0.048 / 0.3 = 0.16.  We adopt that cosmology (``COSMOLOGY``).

Virial definition
-----------------
The halo is a sphere of mean density Delta = 18 pi^2 (~178) times the *mean
matter* density at redshift z (Einstein-de Sitter top-hat value, accurate at
z >~ 3 where Omega_m(z) ~ 1).  The seed does not state its virial
definition; this is the convention of Dekel et al. (2013, 2023).  With it a
10^10.8 Msun halo has R_vir = 18.2 / 14.2 kpc and V_vir = 122 / 138 km/s at
z = 6 / 8 (reference sheet E1).  Using 200 rho_crit instead gives radii about
4 per cent smaller.
"""
from __future__ import annotations

import numpy as np
from astropy import units as u
from astropy.constants import G
from astropy.cosmology import FlatLambdaCDM

# Cosmology of seed 000 (Sect. 1) with Omega_b of Li+24's ffb_predict (ref. sheet E1).
COSMOLOGY = FlatLambdaCDM(H0=70.0, Om0=0.3, Ob0=0.048)

# Cosmic baryon fraction Omega_b / Omega_m = 0.048 / 0.3 (ffb_predict; seed 000 Sect. 4.5 uses f_b).
F_BARYON = 0.16

# Top-hat virial overdensity relative to the mean matter density (EdS value, Dekel+13/23).
DELTA_VIR = 18.0 * np.pi**2

# Dekel et al. (2013) mean halo accretion rate normalisation and mass slope
# (reference sheet E1, V1+chk via ffb_predict "beta=0.14 in Dekel+13 eq. 7").
ACCRETION_S_PER_GYR = 0.030
ACCRETION_BETA = 0.14

# FFB threshold halo mass, log M = 10.8 - 6.2 log10[(1+z)/10]
# (Dekel+23 eq. 62 / Li+24 eq. 2; reference sheet E1, status V2+).
FFB_LOGM_PIVOT = 10.8
FFB_LOGM_SLOPE = -6.2

# Gravitational constant in kpc (km/s)^2 / Msun.
_G_KPC_KMS2_MSUN = G.to(u.kpc * u.km**2 / u.s**2 / u.Msun).value


def mean_matter_density(z):
    """Mean matter density of the Universe.

    Parameters
    ----------
    z : float or array_like
        Redshift.

    Returns
    -------
    ndarray
        rho_m(z) in Msun / kpc^3.
    """
    z = np.asarray(z, dtype=float)
    rho0 = COSMOLOGY.Om0 * COSMOLOGY.critical_density0.to(u.Msun / u.kpc**3).value
    return rho0 * (1.0 + z) ** 3


def virial_radius(log_mh, z):
    """Virial radius of a halo with mean overdensity 18 pi^2 rho_m(z).

    Parameters
    ----------
    log_mh : float or array_like
        log10 of the halo mass [Msun].
    z : float or array_like
        Redshift.

    Returns
    -------
    ndarray
        R_vir in proper kpc.
    """
    mh = 10.0 ** np.asarray(log_mh, dtype=float)
    return (3.0 * mh / (4.0 * np.pi * DELTA_VIR * mean_matter_density(z))) ** (1.0 / 3.0)


def virial_velocity(log_mh, z):
    """Circular velocity at the virial radius, V_vir = sqrt(G M_h / R_vir).

    Parameters
    ----------
    log_mh : float or array_like
        log10 of the halo mass [Msun].
    z : float or array_like
        Redshift.

    Returns
    -------
    ndarray
        V_vir in km/s.
    """
    mh = 10.0 ** np.asarray(log_mh, dtype=float)
    return np.sqrt(_G_KPC_KMS2_MSUN * mh / virial_radius(log_mh, z))


def halo_accretion_rate(log_mh, z, s=ACCRETION_S_PER_GYR, beta=ACCRETION_BETA):
    """Mean halo mass accretion rate of Dekel et al. (2013).

    Mdot_h = s M_h (M_h / 1e12 Msun)^beta (1+z)^(5/2).

    Parameters
    ----------
    log_mh : float or array_like
        log10 of the halo mass [Msun].
    z : float or array_like
        Redshift.
    s : float
        Normalisation [1/Gyr]; default 0.030.
    beta : float
        Mass slope; default 0.14.

    Returns
    -------
    ndarray
        Mdot_h in Msun/yr.
    """
    mh = 10.0 ** np.asarray(log_mh, dtype=float)
    z = np.asarray(z, dtype=float)
    return s * 1e-9 * mh * (mh / 1e12) ** beta * (1.0 + z) ** 2.5


def ffb_threshold_log_mass(z):
    """FFB threshold halo mass (Dekel et al. 2023; Li et al. 2024).

    Parameters
    ----------
    z : float or array_like
        Redshift.

    Returns
    -------
    ndarray
        log10 M_h,ffb [Msun] = 10.8 - 6.2 log10[(1+z)/10].
    """
    z = np.asarray(z, dtype=float)
    return FFB_LOGM_PIVOT + FFB_LOGM_SLOPE * np.log10((1.0 + z) / 10.0)


def kpc_per_arcsec(z):
    """Proper transverse scale in kpc per arcsec in ``COSMOLOGY``.

    Parameters
    ----------
    z : float
        Redshift.

    Returns
    -------
    float
        kpc / arcsec.
    """
    return float(COSMOLOGY.kpc_proper_per_arcmin(z).to(u.kpc / u.arcsec).value)
