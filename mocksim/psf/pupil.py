"""Analytic JWST primary-mirror pupil, generated procedurally and rasterised.

Geometry (all numbers from the stpsf constants tables as summarised in
``/work/shared/reference/anchors_and_jwst_numbers.md`` section 6, which cites
``spacetelescope/stpsf`` ``stpsf/constants.py`` and ``optics.py``; provenance
there: Lightsey "Transmission X Area Budget", Ball drawing 2220169 Rev B):

* 18 hexagonal segments, flat-to-flat 1.3088 m, no central segment;
* ring "A" (inner, 6 segments) centred at r = 1.3235 m, polar angles
  90, 30, -30, -90, -150, 150 deg (A1 on +V3 = +y), numbered clockwise;
* ring "B" (outer corners, 6) at r = 2.6347 m on the same angles as A;
* ring "C" (outer edges, 6) at r = 2.2859 m, rotated by -30 deg
  (C1 at 60 deg, between B1 and B2);
* "flat-top" hexagons (vertices at 0, 60, ... deg, edge normals at
  30 + 60 k deg) so that every shared edge faces the neighbouring segment;
* uniform clearance gap 7 mm ("~7 mm" design value): an edge is pulled back
  only where the neighbour centre is closer than ``flat_to_flat + gap``
  (the real segments are "not quite perfect hexagons ... while maintaining
  uniform clearance"); with these centres that trims only the A-B edges by
  2.3 mm, other gaps are 8.6-14.7 mm;
* three secondary-mirror struts seen in projection as radial bars at
  polar angles 90 deg (+V3, width 0.1189 m, with two "bumps" of extra
  half-width 0.0826 m over 2.146 < y < 2.365 m and 0.0698 m over
  2.483 < y < 2.544 m) and 240 / 300 deg (i.e. -120 / -60 deg from +x,
  width 0.1224 m). The lower struts therefore run along hexagon-edge
  directions, which is why their diffraction spikes coincide with the
  segment spikes and JWST shows the familiar "6 + 2" spike pattern;
* circumscribed diameter 6.6035 m (outer B corners) for stpsf's slightly
  irregular segments; perfect hexagons on the same centres reach 6.621 m.

The reference quotes 25.76 m^2 after struts for stpsf's vertex tables
(published collecting area ~25.4 m^2); this procedural pupil gives
~25.7 m^2 (see :func:`collecting_area_m2`).

Coordinates: ``x`` = V2 (columns), ``y`` = V3 (rows), metres, origin at the
pupil centre; array index ``(j, i)`` has centre
``((i - (n-1)/2) dx, (j - (n-1)/2) dx)``.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from ..errors import MocksimInputError

#: Segment flat-to-flat width [m] (stpsf A1 segment, anchors section 6).
FLAT_TO_FLAT_M = 1.3088
#: Ring radii of the segment centres [m] (stpsf JWST_PRIMARY_SEGMENT_CENTERS).
RING_A_RADIUS_M = 1.3235
RING_B_RADIUS_M = 2.6347
RING_C_RADIUS_M = 2.2859
#: Minimum clearance between neighbouring segments [m] (design "~7 mm").
SEGMENT_GAP_M = 0.007
#: Circumscribed diameter [m] (stpsf JWST_CIRCUMSCRIBED_DIAMETER = 6.603464).
CIRCUMSCRIBED_DIAMETER_M = 6.6035
#: Nominal aperture diameter [m] used for lambda/D quotes.
NOMINAL_DIAMETER_M = 6.5
#: Strut widths [m]: upper (+V3) strut and the two lower struts.
STRUT_UPPER_WIDTH_M = 0.1189
STRUT_LOWER_WIDTH_M = 0.1224
#: Polar angles [deg] of the three struts in the pupil plane.
STRUT_ANGLES_DEG = (90.0, 240.0, 300.0)
#: Length of the struts from the pupil centre [m] (3.30 m; runs past the rim).
STRUT_LENGTH_M = 3.30
#: Upper-strut "bumps": (y_min, y_max, extra half-width) [m]. The reference
#: says "extra half-widths"; we add them to the nominal half-width [assumption].
STRUT_UPPER_BUMPS_M = ((2.146, 2.365, 0.0826), (2.483, 2.544, 0.0698))

_EDGE_NORMAL_DEG = 30.0 + 60.0 * np.arange(6)


def geometry_signature() -> list:
    """All geometry constants, for cache keys (changing one invalidates cached PSFs)."""
    return [FLAT_TO_FLAT_M, RING_A_RADIUS_M, RING_B_RADIUS_M, RING_C_RADIUS_M, STRUT_UPPER_WIDTH_M,
            STRUT_LOWER_WIDTH_M, list(STRUT_ANGLES_DEG), STRUT_LENGTH_M,
            [list(b) for b in STRUT_UPPER_BUMPS_M]]


def segment_names() -> list[str]:
    """Names of the 18 segments in the order used by :func:`segment_centers`."""
    return [f"{ring}{k}" for ring in "ABC" for k in range(1, 7)]


def segment_centers() -> np.ndarray:
    """Centres of the 18 segments.

    Returns
    -------
    ndarray, shape (18, 2)
        ``(x, y)`` [m] for A1..A6, B1..B6, C1..C6 (clockwise from +y).
    """
    k = np.arange(6)
    ang_ab = np.deg2rad(90.0 - 60.0 * k)
    ang_c = np.deg2rad(60.0 - 60.0 * k)
    rows = []
    for r, ang in ((RING_A_RADIUS_M, ang_ab), (RING_B_RADIUS_M, ang_ab), (RING_C_RADIUS_M, ang_c)):
        rows.append(np.column_stack([r * np.cos(ang), r * np.sin(ang)]))
    return np.vstack(rows)


def segment_apothems(gap_m: float = SEGMENT_GAP_M, flat_to_flat_m: float = FLAT_TO_FLAT_M) -> np.ndarray:
    """Distance from each segment centre to each of its six edges.

    Every edge sits at ``flat_to_flat / 2`` unless a neighbouring segment lies
    across it closer than ``flat_to_flat + gap``; then the edge is placed half
    way between the two centres minus half the gap (uniform clearance).

    Parameters
    ----------
    gap_m : float
        Minimum clearance between neighbouring segments [m].
    flat_to_flat_m : float
        Nominal flat-to-flat width [m].

    Returns
    -------
    ndarray, shape (18, 6)
        Apothems [m] for edge normals at 30, 90, 150, 210, 270, 330 deg.
    """
    centers = segment_centers()
    normals = np.column_stack([np.cos(np.deg2rad(_EDGE_NORMAL_DEG)), np.sin(np.deg2rad(_EDGE_NORMAL_DEG))])
    apo = np.full((len(centers), 6), flat_to_flat_m / 2.0)
    for i, ci in enumerate(centers):
        d = centers - ci
        dist = np.hypot(d[:, 0], d[:, 1])
        for k, nk in enumerate(normals):
            proj = d @ nk
            # neighbour across edge k: direction within 5 deg of the normal, adjacent
            across = (dist > 0) & (dist < 1.5 * flat_to_flat_m) & (proj > np.cos(np.deg2rad(5.0)) * dist)
            if np.any(across):
                apo[i, k] = min(apo[i, k], (proj[across].min() - gap_m) / 2.0)
    return apo


def _inside_segment(x, y, center, apothems):
    """Boolean mask of points inside one (possibly trimmed) flat-top hexagon."""
    dx = x - center[0]
    dy = y - center[1]
    inside = np.ones(np.broadcast(dx, dy).shape, dtype=bool)
    for ang, h in zip(np.deg2rad(_EDGE_NORMAL_DEG), apothems):
        inside &= dx * np.cos(ang) + dy * np.sin(ang) <= h
    return inside


def _inside_struts(x, y):
    """Boolean mask of points covered by the three struts."""
    out = np.zeros(np.broadcast(x, y).shape, dtype=bool)
    for ang_deg in STRUT_ANGLES_DEG:
        ang = np.deg2rad(ang_deg)
        along = x * np.cos(ang) + y * np.sin(ang)
        across = np.abs(-x * np.sin(ang) + y * np.cos(ang))
        if ang_deg == 90.0:
            half = np.full(out.shape, STRUT_UPPER_WIDTH_M / 2.0)
            for y0, y1, extra in STRUT_UPPER_BUMPS_M:
                half = np.where((along >= y0) & (along <= y1), half + extra, half)
        else:
            half = STRUT_LOWER_WIDTH_M / 2.0
        out |= (along >= 0.0) & (along <= STRUT_LENGTH_M) & (across <= half)
    return out


@dataclass(frozen=True)
class Pupil:
    """A rasterised pupil.

    Attributes
    ----------
    transmission : ndarray, shape (n, n)
        Fraction of each pixel that transmits (0-1; grey at anti-aliased edges).
    pixel_m : float
        Pixel size in the pupil plane [m].
    """

    transmission: np.ndarray
    pixel_m: float

    @property
    def npix(self) -> int:
        return self.transmission.shape[0]

    @property
    def area_m2(self) -> float:
        """Collecting (transmitting) area [m^2]."""
        return float(self.transmission.sum() * self.pixel_m**2)

    def coords_m(self) -> np.ndarray:
        """1D pixel-centre coordinates [m] along either axis."""
        return (np.arange(self.npix) - (self.npix - 1) / 2.0) * self.pixel_m


def _check_grid(npix, supersample):
    try:
        ok_n = int(npix) == npix and 16 <= npix <= 8192
        ok_s = int(supersample) == supersample and 1 <= supersample <= 16
    except (TypeError, ValueError):
        ok_n = ok_s = False
    if not ok_n:
        raise MocksimInputError(f"pupil_npix: {npix!r} must be an integer in [16, 8192]")
    if not ok_s:
        raise MocksimInputError(f"supersample: {supersample!r} must be an integer in [1, 16]")


def _rasterize(npix, supersample, struts, gap_m, extent_m, labels):
    _check_grid(npix, supersample)
    npix, ss = int(npix), int(supersample)
    nsub = npix * ss
    step = extent_m / nsub
    sub = (np.arange(nsub) - (nsub - 1) / 2.0) * step
    grid = np.zeros((nsub, nsub), dtype=np.int8 if labels else bool)
    centers = segment_centers()
    apo = segment_apothems(gap_m)
    rmax = FLAT_TO_FLAT_M / np.sqrt(3.0) + step  # vertex radius of a segment
    for s, (c, a) in enumerate(zip(centers, apo), start=1):
        ix = np.nonzero(np.abs(sub - c[0]) <= rmax)[0]
        iy = np.nonzero(np.abs(sub - c[1]) <= rmax)[0]
        if ix.size == 0 or iy.size == 0:
            continue
        xs, ys = np.meshgrid(sub[ix], sub[iy])
        inside = _inside_segment(xs, ys, c, a)
        block = grid[iy[0]:iy[-1] + 1, ix[0]:ix[-1] + 1]
        if labels:
            block[inside] = s
        else:
            block |= inside
    if struts:
        # struts only matter where there is glass; evaluate in row chunks to bound memory
        for j0 in range(0, nsub, 512):
            ys, xs = np.meshgrid(sub[j0:j0 + 512], sub, indexing="ij")
            cover = _inside_struts(xs, ys)
            grid[j0:j0 + 512][cover] = 0
    return grid, step


@functools.lru_cache(maxsize=8)
def rasterize_pupil(
    npix: int = 512,
    supersample: int = 4,
    struts: bool = True,
    gap_m: float = SEGMENT_GAP_M,
    extent_m: float | None = None,
) -> Pupil:
    """Rasterise the analytic JWST pupil on an ``npix x npix`` grid.

    Edges are anti-aliased by evaluating the geometry on a
    ``supersample x supersample`` sub-grid per pixel and averaging. Results
    are cached (the returned array is read-only).

    Parameters
    ----------
    npix : int
        Pupil grid size [pixels].
    supersample : int
        Sub-samples per pixel along each axis for anti-aliasing.
    struts : bool
        Include the three secondary-mirror struts.
    gap_m : float
        Inter-segment clearance [m].
    extent_m : float, optional
        Physical width of the grid [m]; default 1.01 x circumscribed diameter.

    Returns
    -------
    Pupil
    """
    if extent_m is None:
        extent_m = 1.01 * CIRCUMSCRIBED_DIAMETER_M
    _check_grid(npix, supersample)
    if not extent_m > 2 * 3.32:
        raise MocksimInputError(f"extent_m: {extent_m!r} must exceed the pupil diameter (6.64 m)")
    from .cache import KERNEL_CACHE

    def compute():
        grid, _ = _rasterize(npix, supersample, struts, gap_m, extent_m, labels=False)
        ss, n = int(supersample), int(npix)
        return grid.reshape(n, ss, n, ss).mean(axis=(1, 3))

    params = {"kind": "jwst-pupil", "npix": int(npix), "supersample": int(supersample),
              "struts": bool(struts), "gap_m": float(gap_m), "extent_m": float(extent_m),
              "geometry": geometry_signature()}
    trans = KERNEL_CACHE.get_or_compute(params, compute, disk=True)
    return Pupil(transmission=trans, pixel_m=float(extent_m) / int(npix))


def segment_label_map(npix: int = 2048, struts: bool = False, gap_m: float = SEGMENT_GAP_M,
                      extent_m: float | None = None) -> tuple[np.ndarray, float]:
    """Integer map of which segment covers each pixel centre (0 = none).

    Parameters
    ----------
    npix : int
        Grid size [pixels]; the pixel must be smaller than the gap to resolve it.
    struts, gap_m, extent_m
        As in :func:`rasterize_pupil`.

    Returns
    -------
    labels : ndarray of int8, shape (npix, npix)
        1..18 in the order of :func:`segment_names`.
    pixel_m : float
        Pixel size [m].
    """
    if extent_m is None:
        extent_m = 1.01 * CIRCUMSCRIBED_DIAMETER_M
    return _rasterize(npix, 1, struts, gap_m, extent_m, labels=True)


def count_segments(npix: int = 2048, gap_m: float = SEGMENT_GAP_M) -> int:
    """Number of separate mirror pieces (4-connected components) before struts.

    With ``npix=2048`` the pixel (3.3 mm) is smaller than the 7 mm clearance,
    so each segment is one component: the answer should be 18.
    """
    from scipy import ndimage

    labels, _ = segment_label_map(npix, struts=False, gap_m=gap_m)
    _, n = ndimage.label(labels > 0)
    return int(n)


def collecting_area_m2(npix: int = 512, supersample: int = 4) -> float:
    """Collecting area of the analytic pupil, struts included [m^2]."""
    return rasterize_pupil(npix, supersample).area_m2
