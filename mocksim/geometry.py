"""Sky-plane / disk-plane geometry shared by generators and recovery.

Position angle convention: PA is the angle of the major axis measured from North
(+y) through East. With the grid convention of :mod:`mocksim.scene` (+x is West),
the major-axis unit vector is ``(-sin PA, cos PA)``.
Inclination ``i`` relates to the observed axis ratio of a thin disk by
``b/a = cos i``.
"""
from __future__ import annotations

import numpy as np


def axis_ratio_from_inclination(inclination_deg: float) -> float:
    """Thin-disk axis ratio ``b/a = cos(i)``."""
    return float(np.cos(np.radians(inclination_deg)))


def inclination_from_axis_ratio(axis_ratio: float) -> float:
    """Inclination [deg] of a thin disk with axis ratio ``b/a``."""
    return float(np.degrees(np.arccos(np.clip(axis_ratio, 0.0, 1.0))))


def disk_coords(x, y, pa_deg: float, axis_ratio: float, x0: float = 0.0, y0: float = 0.0):
    """Disk-plane coordinates of sky positions.

    Parameters
    ----------
    x, y : array_like
        Sky offsets (same units, e.g. arcsec or kpc).
    pa_deg : float
        Major-axis position angle [deg], North through East.
    axis_ratio : float
        Projected axis ratio b/a (1 = face-on).
    x0, y0 : float
        Centre of the disk in the same units.

    Returns
    -------
    u, v : ndarray
        Coordinates along the major axis and along the (deprojected) minor axis:
        ``v`` is the sky minor-axis offset divided by ``axis_ratio``.
    """
    pa = np.radians(pa_deg)
    sin_pa, cos_pa = np.sin(pa), np.cos(pa)
    dx = np.asarray(x, dtype=float) - x0
    dy = np.asarray(y, dtype=float) - y0
    u = -dx * sin_pa + dy * cos_pa
    w = -dx * cos_pa - dy * sin_pa
    if isinstance(w, np.ndarray):  # a fresh array (not a 0-d scalar): divided in place
        w /= axis_ratio
        return u, w
    return u, w / axis_ratio


def norm2(u, v):
    """``sqrt(u^2 + v^2)`` (broadcast; a new array, or a float): ~4x faster than
    ``np.hypot``, whose overflow guard the coordinates here (arcsec, kpc, pixels) never
    need; the two agree to ~1 ulp."""
    r = np.square(u, dtype=float) + np.square(v, dtype=float)
    return np.sqrt(r, out=r) if isinstance(r, np.ndarray) else np.sqrt(r)


def deprojected_radius(x, y, pa_deg: float, axis_ratio: float, x0: float = 0.0, y0: float = 0.0):
    """Radius in the disk plane (elliptical radius) in the units of ``x``, ``y``."""
    u, v = disk_coords(x, y, pa_deg, axis_ratio, x0, y0)
    return norm2(u, v)


def cos_azimuth(x, y, pa_deg: float, axis_ratio: float, x0: float = 0.0, y0: float = 0.0):
    """cos of the disk-plane azimuth measured from the major axis (for rotation)."""
    u, v = disk_coords(x, y, pa_deg, axis_ratio, x0, y0)
    r = norm2(u, v)
    with np.errstate(invalid="ignore", divide="ignore"):
        c = np.where(r > 0, u / np.where(r > 0, r, 1.0), 0.0)
    return c
