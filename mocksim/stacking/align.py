"""Centroids of emission-line maps and resampling onto a common, centred grid.

Pixel convention as in :mod:`mocksim.recovery.binning`: pixel ``(j, i)`` (row,
column) has ``x = i``, ``y = j``; a centre ``(x, y)`` is in these pixel units and
pixel ``i`` spans ``[i - 0.5, i + 0.5]``.

Seed 000 §3.1 centres each galaxy on its [OIII] map with photutils'
``DAOStarFinder`` ("using a Gaussian kernel") and stacks "centrally aligned"
maps without rescaling, rotation or deprojection. Aligning on a sub-pixel
centroid needs resampling; here it is an exact pixel-overlap (drizzle with
``pixfrac = 1``) rebinning, which conserves flux and for a pure shift equals
bilinear interpolation. Rotation/deprojection (optional, not the seed's default)
use bilinear interpolation of the surface brightness on sub-sampled output pixels.
"""
from __future__ import annotations

import warnings

import numpy as np
from scipy import ndimage

from ..errors import MocksimInputError

__all__ = ["find_centroid", "find_centroids", "overlap_matrix", "resample_centered", "CENTROID_METHODS"]

CENTROID_METHODS = ("daofind", "peak", "truth")
_FWHM_TO_SIGMA = 1.0 / (2.0 * np.sqrt(2.0 * np.log(2.0)))


def _noise_level(img, error):
    """Robust 1-sigma noise of a map [map units]: median error, else MAD of the map."""
    if error is not None:
        e = np.asarray(error, float)
        e = e[np.isfinite(e) & (e > 0)]
        if e.size:
            return float(np.median(e))
    v = img[np.isfinite(img)]
    mad = np.median(np.abs(v - np.median(v))) if v.size else 0.0
    return float(1.4826 * mad)


def _peak_refine(sm, j, i):
    """Sub-pixel peak of a smooth image near pixel (j, i): three-point Gaussian
    (log-parabola) interpolation per axis, plain parabola where values are <= 0."""
    ny, nx = sm.shape
    out = []
    for axis, (k, n) in enumerate(((i, nx), (j, ny))):
        if k <= 0 or k >= n - 1:
            out.append(float(k))
            continue
        a, b, c = (sm[j, k - 1], sm[j, k], sm[j, k + 1]) if axis == 0 else (sm[k - 1, i], sm[k, i], sm[k + 1, i])
        if min(a, b, c) > 0:
            a, b, c = np.log(a), np.log(b), np.log(c)
        den = a - 2 * b + c
        d = 0.5 * (a - c) / den if den < 0 else 0.0
        out.append(float(k + np.clip(d, -0.5, 0.5)))
    return out[0], out[1]


def _search_mask(shape, guess, radius):
    ny, nx = shape
    gx, gy = ((nx - 1) / 2.0, (ny - 1) / 2.0) if guess is None else guess
    if radius is None:
        return np.ones(shape, bool), (gx, gy)
    y, x = np.mgrid[0:ny, 0:nx]
    return (x - gx) ** 2 + (y - gy) ** 2 <= radius ** 2, (gx, gy)


def _prepare(image, method, fwhm_pix, error, guess, search_radius_pix, nsigma):
    """Validated map (NaN -> 0), search mask, smoothed-peak centroid and DAOFIND threshold."""
    img = np.nan_to_num(np.asarray(image, float), nan=0.0, posinf=0.0, neginf=0.0)
    if img.ndim != 2:
        raise MocksimInputError(f"image: need a 2D map, got shape {img.shape}")
    if not (np.isfinite(fwhm_pix) and fwhm_pix > 0):
        raise MocksimInputError(f"stack.centroid_fwhm_pix: must be > 0, got {fwhm_pix!r}")
    if method not in ("daofind", "peak"):
        raise MocksimInputError(f"stack.centroid: {method!r}; allowed: {', '.join(CENTROID_METHODS)}")
    mask, _ = _search_mask(img.shape, guess, search_radius_pix)
    sm = ndimage.gaussian_filter(img, fwhm_pix * _FWHM_TO_SIGMA, mode="constant")
    j, i = np.unravel_index(int(np.argmax(np.where(mask, sm, -np.inf))), sm.shape)
    peak = _peak_refine(sm, j, i)
    sigma = _noise_level(img, error) if method == "daofind" else 0.0
    thr = nsigma * sigma if sigma > 0 else 1e-3 * np.max(np.abs(img))
    return img, mask, peak, thr


def _daofind(img, thr, fwhm_pix, mask):
    """photutils ``DAOStarFinder`` centroids ``(x, y)`` of the sources above ``thr``
    outside ``mask`` (no sharpness/roundness cuts, borders included)."""
    from photutils.detection import DAOStarFinder

    try:  # photutils >= 3.0
        finder = DAOStarFinder(threshold=thr, fwhm=fwhm_pix, sharpness_range=None,
                               roundness_range=None, exclude_border=False)
    except TypeError:  # older photutils
        finder = DAOStarFinder(threshold=thr, fwhm=fwhm_pix, sharplo=-np.inf, sharphi=np.inf,
                               roundlo=-np.inf, roundhi=np.inf, exclude_border=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tab = finder(img, mask=mask)
    if tab is None or not len(tab):
        return np.zeros(0), np.zeros(0)
    cols = tab.colnames
    x = np.asarray(tab["x_centroid" if "x_centroid" in cols else "xcentroid"], float)
    y = np.asarray(tab["y_centroid" if "y_centroid" in cols else "ycentroid"], float)
    return x, y


def _closest(x, y, peak, fwhm_pix, dx=0.0, dy=0.0):
    """The detection within ``max(fwhm / 2, 1)`` pixel of ``peak`` (offset by dx, dy), or None."""
    if x.size == 0:
        return None
    d = np.hypot(x - dx - peak[0], y - dy - peak[1])
    d = np.where(np.isfinite(d), d, np.inf)
    k = int(np.argmin(d))
    return (float(x[k] - dx), float(y[k] - dy)) if d[k] <= max(0.5 * fwhm_pix, 1.0) else None


def _fallback(peak):
    warnings.warn("find_centroid: DAOStarFinder found no source at the smoothed peak; using the peak",
                  RuntimeWarning, stacklevel=3)
    return peak


def find_centroid(image, *, method: str = "daofind", fwhm_pix: float = 2.0, error=None,
                  guess=None, search_radius_pix: float | None = None, nsigma: float = 3.0):
    """Centroid of the brightest source of an emission-line map.

    Parameters
    ----------
    image : ndarray
        ``(ny, nx)`` line-flux map (any flux unit); NaN = no data.
    method : {"daofind", "peak"}
        ``"daofind"``: photutils ``DAOStarFinder`` with a Gaussian kernel of FWHM
        ``fwhm_pix`` (seed 000 §3.1); the detection closest to the ``"peak"``
        estimate is used (noise spikes of faint extended sources can outshine
        the galaxy in DAOFIND's own flux ranking). Falls back to ``"peak"``
        (with a warning) when no detection lies within ``max(fwhm / 2, 1)``
        pixel of it. ``"peak"``: maximum of the map smoothed
        with the same Gaussian kernel, refined by three-point Gaussian
        interpolation along x and y.
    fwhm_pix : float
        Gaussian kernel FWHM [pixels].
    error : ndarray, optional
        ``(ny, nx)`` 1-sigma errors; their median sets the detection threshold
        (else the MAD of the map).
    guess : (float, float), optional
        Search centre (x, y) [pixels]; default the map centre.
    search_radius_pix : float, optional
        Only sources within this distance of ``guess`` [pixels]; default: anywhere.
    nsigma : float
        DAOStarFinder threshold in units of the per-pixel noise.

    Returns
    -------
    (float, float)
        Centroid ``(x, y)`` [pixels].
    """
    img, mask, peak, thr = _prepare(image, method, fwhm_pix, error, guess, search_radius_pix, nsigma)
    if method == "peak":
        return peak
    x, y = _daofind(img, thr, fwhm_pix, ~mask)
    c = _closest(x, y, peak, fwhm_pix)
    return _fallback(peak) if c is None else c


def find_centroids(images, *, method: str = "daofind", fwhm_pix: float = 2.0, errors=None,
                   search_radius_pix=None, nsigma: float = 3.0,
                   batch: int = 256) -> np.ndarray:
    """:func:`find_centroid` of many maps, with one DAOStarFinder call per ``batch`` maps.

    Each map, divided by its own detection threshold, is placed in a mosaic with
    zero-filled gaps wider than the DAOFIND kernel; the detections of the mosaic
    are those of the maps run one by one (DAOFIND is linear in the data and local),
    without photutils' per-call overhead. Maps whose threshold is zero (blank maps)
    take the single-map path.

    Parameters
    ----------
    images : sequence of ndarray
        ``(ny, nx)`` line-flux maps (shapes may differ).
    errors : sequence of ndarray or None, optional
        Per-map 1-sigma error maps (see :func:`find_centroid`).
    method, fwhm_pix, nsigma
        As :func:`find_centroid`.
    search_radius_pix : float or sequence of float, optional
        Search radius around each map's centre [pixels]: one value, or one per map.
    batch : int
        Maps per mosaic.

    Returns
    -------
    ndarray
        ``(n, 2)`` centroids ``(x, y)`` [pixels of each map].
    """
    n = len(images)
    errors = [None] * n if errors is None else list(errors)
    if len(errors) != n:
        raise MocksimInputError(f"errors: need {n} error maps (one per image), got {len(errors)}")
    radii = [None] * n if search_radius_pix is None else np.broadcast_to(np.asarray(search_radius_pix, float), (n,))
    prep = [_prepare(im, method, fwhm_pix, er, None, None if r is None else float(r), nsigma)
            for im, er, r in zip(images, errors, radii)]
    out = np.array([p[2] for p in prep], float).reshape(n, 2)
    if method == "peak":
        return out
    todo = [k for k in range(n) if prep[k][3] > 0]
    for k in sorted(set(range(n)) - set(todo)):
        img, mask, peak, thr = prep[k]
        c = _closest(*_daofind(img, thr, fwhm_pix, ~mask), peak, fwhm_pix)
        out[k] = _fallback(peak) if c is None else c
    gap = int(np.ceil(3.0 * fwhm_pix)) + 4       # > DAOFIND kernel half-width + centroid box
    for b0 in range(0, len(todo), batch):
        idx = todo[b0:b0 + batch]
        ty = max(prep[k][0].shape[0] for k in idx) + gap
        tx = max(prep[k][0].shape[1] for k in idx) + gap
        ncol = int(np.ceil(np.sqrt(len(idx))))
        nrow = int(np.ceil(len(idx) / ncol))
        big = np.zeros((nrow * ty + gap, ncol * tx + gap))
        blocked = np.ones(big.shape, bool)
        offs = []
        for m, k in enumerate(idx):
            img, mask, _, thr = prep[k]
            y0, x0 = gap + (m // ncol) * ty, gap + (m % ncol) * tx
            big[y0:y0 + img.shape[0], x0:x0 + img.shape[1]] = img / thr
            blocked[y0:y0 + img.shape[0], x0:x0 + img.shape[1]] = ~mask
            offs.append((x0, y0))
        x, y = _daofind(big, 1.0, fwhm_pix, blocked)
        for k, (x0, y0) in zip(idx, offs):
            c = _closest(x, y, prep[k][2], fwhm_pix, x0, y0)
            out[k] = _fallback(prep[k][2]) if c is None else c
    return out


def overlap_matrix(n_in: int, center: float, half: int, scale: float) -> np.ndarray:
    """1D overlap lengths of output pixels with input pixels.

    Output pixel ``k`` (``0 .. 2 half``) covers input coordinates
    ``center + (k - half +/- 0.5) * scale``; input pixel ``i`` covers
    ``[i - 0.5, i + 0.5]``.

    Returns
    -------
    ndarray
        ``(2 half + 1, n_in)`` overlaps [input pixels]; each fully covered input
        pixel's column sums to 1 over the output pixels that contain it.
    """
    k = np.arange(2 * half + 1) - half
    lo = center + (k - 0.5) * scale
    hi = center + (k + 0.5) * scale
    i = np.arange(n_in)
    ov = np.minimum(hi[:, None], i[None, :] + 0.5) - np.maximum(lo[:, None], i[None, :] - 0.5)
    return np.clip(ov, 0.0, None)


def _affine_matrix(rotate, deproject, axis_ratio, pa_deg):
    """2x2 matrix M: input offset (x, y) = M @ output offset (u, v) (in output pixels)."""
    if not (rotate or deproject):
        return np.eye(2)
    if axis_ratio is None or pa_deg is None:
        raise MocksimInputError("stack.rotate/stack.deproject: need axis_ratios and pa_degs for every galaxy")
    pa = np.radians(pa_deg)
    major = np.array([-np.sin(pa), np.cos(pa)])
    minor = np.array([np.cos(pa), np.sin(pa)])
    q = float(axis_ratio) if deproject else 1.0
    if rotate:  # output +y = major axis, output +x = minor axis
        return np.column_stack([q * minor, major])
    return q * np.outer(minor, minor) + np.outer(major, major)


def resample_centered(image, center_xy, half: int, scale: float = 1.0, *, variance=None,
                      rotate: bool = False, deproject: bool = False, axis_ratio=None, pa_deg=None,
                      interp: str = "overlap"):
    """Resample a map onto a ``(2 half + 1)^2`` grid centred on ``center_xy``.

    Parameters
    ----------
    image : ndarray
        ``(ny, nx)`` flux per pixel (NaN = no data).
    center_xy : (float, float)
        Position [input pixels] that lands on the centre of output pixel ``(half, half)``.
    half : int
        Output half-size [output pixels].
    scale : float
        Output pixel size in input pixels (1 = same pixels; 0.25 Re / pixscale for
        stacks in units of R_e).
    variance : ndarray, optional
        ``(ny, nx)`` per-pixel variance to propagate (pixels independent).
    rotate, deproject : bool
        Rotate the major axis (``pa_deg``) onto output +y; stretch the minor axis
        by ``1 / axis_ratio`` (output pixels then sample the disk plane).
    axis_ratio, pa_deg : float, optional
        Needed with ``rotate`` / ``deproject``.
    interp : {"overlap", "bilinear"}
        Without rotation/deprojection: exact pixel-overlap rebinning (flux
        conserved exactly, piecewise-constant surface brightness) or bilinear
        interpolation of the surface brightness (always used with rotation or
        deprojection).

    Returns
    -------
    out, out_var : ndarray
        Flux per output pixel (flux conserved) and its variance (None without
        ``variance``). Output pixels not fully covered by finite input are NaN.
    """
    img = np.asarray(image, float)
    ny, nx = img.shape
    cx, cy = (float(v) for v in center_xy)
    bad = ~np.isfinite(img)
    M = _affine_matrix(rotate, deproject, axis_ratio, pa_deg)
    if interp not in ("overlap", "bilinear"):
        raise MocksimInputError(f"interp: {interp!r}; allowed: 'overlap', 'bilinear'")
    if np.allclose(M, np.eye(2)) and interp == "overlap":
        ox, oy = overlap_matrix(nx, cx, half, scale), overlap_matrix(ny, cy, half, scale)
        out = oy @ np.where(bad, 0.0, img) @ ox.T
        cover = np.outer(oy.sum(1), ox.sum(1)) / scale ** 2
        touched_bad = (oy @ bad.astype(float) @ ox.T) > 0
        out_var = None
        if variance is not None:
            var = np.where(bad, 0.0, np.nan_to_num(np.asarray(variance, float)))
            out_var = (oy ** 2) @ var @ (ox ** 2).T
    else:
        # bilinear surface brightness on m x m sub-samples of every output pixel
        m = int(max(2, np.ceil(2 * scale)))
        sub = (np.arange(m) + 0.5) / m - 0.5
        k = np.arange(2 * half + 1) - half
        u = (k[None, :, None, None] + sub[None, None, None, :])      # (1, nx_o, 1, m)
        v = (k[:, None, None, None] + sub[None, None, :, None])      # (ny_o, 1, m, 1)
        u, v = np.broadcast_arrays(u, v)
        xs = cx + scale * (M[0, 0] * u + M[0, 1] * v)
        ys = cy + scale * (M[1, 0] * u + M[1, 1] * v)
        coords = np.array([ys.ravel(), xs.ravel()])
        area = abs(np.linalg.det(M)) * scale ** 2
        shape = u.shape

        def sample(a, cval):
            s = ndimage.map_coordinates(a, coords, order=1, mode="constant", cval=cval)
            return s.reshape(shape).mean(axis=(2, 3))

        out = sample(np.where(bad, 0.0, img), 0.0) * area
        cover = sample(np.ones_like(img), 0.0)
        touched_bad = sample(bad.astype(float), 0.0) > 0
        out_var = None
        if variance is not None:
            var = np.where(bad, 0.0, np.nan_to_num(np.asarray(variance, float)))
            out_var = sample(var, 0.0) * area * min(area, 1.0)
    invalid = (cover < 1 - 1e-6) | touched_bad
    out = np.where(invalid, np.nan, out)
    if out_var is not None:
        out_var = np.where(invalid, np.nan, out_var)
    return out, out_var
