"""Cosmology helpers (astropy; Planck18 by default)."""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from .errors import MocksimInputError

#: Cosmologies available by name (astropy.cosmology realizations).
COSMOLOGY_NAMES = ("Planck18", "Planck15", "Planck13", "WMAP9", "FlatLCDM70")


@lru_cache(maxsize=None)
def get_cosmology(name: str = "Planck18"):
    """Return an astropy cosmology by name.

    ``"FlatLCDM70"`` is flat with H0 = 70 km/s/Mpc and Omega_m = 0.3.
    """
    from astropy import cosmology as ac

    if name == "FlatLCDM70":
        return ac.FlatLambdaCDM(H0=70.0, Om0=0.3)
    if name in COSMOLOGY_NAMES:
        return getattr(ac, name)
    raise MocksimInputError(f"cosmology: unknown cosmology {name!r}; allowed: {', '.join(COSMOLOGY_NAMES)}")


@lru_cache(maxsize=4096)
def kpc_per_arcsec(z: float, name: str = "Planck18") -> float:
    """Proper transverse scale [kpc/arcsec] at redshift ``z``."""
    if not np.isfinite(z) or z <= 0:
        raise MocksimInputError(f"redshift: {z!r} must be > 0")
    cosmo = get_cosmology(name)
    return float(cosmo.kpc_proper_per_arcmin(z).to_value("kpc/arcmin") / 60.0)


@lru_cache(maxsize=4096)
def luminosity_distance_cm(z: float, name: str = "Planck18") -> float:
    """Luminosity distance [cm]."""
    cosmo = get_cosmology(name)
    return float(cosmo.luminosity_distance(z).to_value("cm"))
