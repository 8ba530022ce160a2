"""Sub-structure added to a disk: star-forming clumps and merging companions."""
from __future__ import annotations

from dataclasses import dataclass

from ..errors import MocksimInputError, require_range


@dataclass(frozen=True)
class Clump:
    """A compact star-forming clump embedded in the disk.

    Parameters
    ----------
    r_kpc : float
        Disk-plane galactocentric radius [kpc].
    phi_deg : float
        Disk-plane azimuth from the receding major axis [deg].
    fwhm_kpc : float
        Gaussian FWHM of the clump's emission [kpc].
    hbeta_fraction : float
        Clump Hβ flux as a fraction of the disk's intrinsic Hβ flux.
    log_oh : float or None
        Clump 12+log(O/H); ``None`` means the local disk value plus ``delta_log_oh``.
    delta_log_oh : float
        Offset from the local disk metallicity [dex] when ``log_oh`` is None.
    """

    r_kpc: float
    phi_deg: float
    fwhm_kpc: float = 0.3
    hbeta_fraction: float = 0.1
    log_oh: float | None = None
    delta_log_oh: float = 0.0

    def __post_init__(self):
        require_range("clumps.r_kpc", self.r_kpc, 0.0, 100.0)
        require_range("clumps.phi_deg", self.phi_deg, -360.0, 360.0)
        require_range("clumps.delta_log_oh", self.delta_log_oh, -4.0, 4.0)
        require_range("clumps.fwhm_kpc", self.fwhm_kpc, 0.0, 20.0, low_inclusive=False)
        require_range("clumps.hbeta_fraction", self.hbeta_fraction, 0.0, 10.0)
        if self.log_oh is not None:
            require_range("clumps.log_oh", self.log_oh, 6.0, 10.0)


@dataclass(frozen=True)
class Companion:
    """A merging companion: a second Sérsic disk with its own metallicity.

    It is rendered without dust (its Balmer decrement is Case B whatever the main
    disk's ``av``).

    Parameters
    ----------
    dx_arcsec, dy_arcsec : float
        Sky offset from the main galaxy's centre [arcsec] (+x West, +y North).
    dv_kms : float
        Systemic line-of-sight velocity offset [km/s].
    re_kpc, sersic_n, inclination_deg, pa_deg : float
        Structure (as for the main disk).
    hbeta_fraction : float
        Intrinsic Hβ flux relative to the main disk.
    log_oh_center, gradient_dex_per_kpc : float
        Its own linear metallicity profile.
    v_rot_kms, sigma_kms : float
        Kinematics [km/s].
    """

    dx_arcsec: float
    dy_arcsec: float
    dv_kms: float = 0.0
    re_kpc: float = 0.5
    sersic_n: float = 1.0
    inclination_deg: float = 30.0
    pa_deg: float = 0.0
    hbeta_fraction: float = 0.3
    log_oh_center: float = 8.0
    gradient_dex_per_kpc: float = 0.0
    v_rot_kms: float = 0.0
    sigma_kms: float = 50.0

    def __post_init__(self):
        # offsets, velocities and angles as the main disk's (scenario POPULATION_KEYS);
        # |dv| <= 1e4 km/s (a merger, not a chance projection); all must be finite
        require_range("companions.dx_arcsec", self.dx_arcsec, -10.0, 10.0)
        require_range("companions.dy_arcsec", self.dy_arcsec, -10.0, 10.0)
        require_range("companions.dv_kms", self.dv_kms, -1e4, 1e4)
        require_range("companions.pa_deg", self.pa_deg, -360.0, 360.0)
        require_range("companions.gradient_dex_per_kpc", self.gradient_dex_per_kpc, -5.0, 5.0)
        require_range("companions.v_rot_kms", self.v_rot_kms, 0.0, 1000.0)
        require_range("companions.sigma_kms", self.sigma_kms, 0.0, 1000.0)
        require_range("companions.re_kpc", self.re_kpc, 0.0, 50.0, low_inclusive=False)
        require_range("companions.hbeta_fraction", self.hbeta_fraction, 0.0, 100.0, low_inclusive=False)
        require_range("companions.log_oh_center", self.log_oh_center, 6.0, 10.0)
        require_range("companions.inclination_deg", self.inclination_deg, 0.0, 85.0)
        require_range("companions.sersic_n", self.sersic_n, 0.3, 6.2)


def clumps_from_config(items) -> tuple[Clump, ...]:
    """Build clumps from a list of TOML tables."""
    return tuple(_build(Clump, "clumps", it) for it in (items or ()))


def companions_from_config(items) -> tuple[Companion, ...]:
    """Build companions from a list of TOML tables."""
    return tuple(_build(Companion, "companions", it) for it in (items or ()))


def _build(cls, key, item):
    if not isinstance(item, dict):
        raise MocksimInputError(f"population.{key}: each entry must be a table, got {item!r}")
    fields = cls.__dataclass_fields__
    unknown = set(item) - set(fields)
    if unknown:
        raise MocksimInputError(
            f"population.{key}: unknown key(s) {sorted(unknown)}; allowed: {', '.join(fields)}"
        )
    try:
        return cls(**item)
    except TypeError as exc:
        raise MocksimInputError(f"population.{key}: {exc}") from None
