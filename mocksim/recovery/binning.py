"""Spatial binning of spaxels: elliptical annuli, bin sums, geometry (Voronoi bins:
:mod:`mocksim.recovery.voronoi`).

Pixel convention (as in :mod:`mocksim.scene`): pixel ``(j, i)`` (row, column)
has ``x = i`` (column, +x towards West) and ``y = j`` (row, +y towards North);
``center_xy`` is given in these pixel units. Sky offsets are
``(x - x0, y - y0) * pixscale`` [arcsec] and elliptical (deprojected) radii use
:func:`mocksim.geometry.deprojected_radius` with its position-angle convention
(PA of the major axis from North (+y) through East; major-axis unit vector
``(-sin PA, cos PA)``).
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

from mocksim.errors import MocksimInputError
from mocksim.geometry import deprojected_radius
from mocksim.recovery.noise_cov import BinPairs, MapNoise, bin_sum_errors, stacked_bincount

__all__ = ["Bins", "annular_bins", "sum_in_bins", "bin_spectra",
           "measure_geometry", "sn_mask", "elliptical_radius_map"]


@dataclass
class Bins:
    """A partition of a ``(ny, nx)`` map into bins.

    Attributes
    ----------
    bin_map : ndarray of int
        ``(ny, nx)`` bin index of each pixel, ``-1`` for excluded pixels. Bins are
        numbered ``0 .. n_bins-1`` in order of increasing ``radius_arcsec``.
    n_bins : int
    radius_arcsec : ndarray
        ``(n_bins,)`` representative elliptical (deprojected) radius [arcsec]:
        for annuli without ``weights`` the annulus mid-point
        ``(r_inner + r_outer) / 2``; otherwise (annuli with ``weights``, Voronoi
        bins) the weight-(signal-)weighted mean radius of the bin's pixels, with
        negative weights set to zero (unweighted mean if all weights are <= 0).
    kind : str
        ``"annular"`` or ``"voronoi"``.
    r_inner, r_outer : ndarray or None
        Annulus boundaries [arcsec] (annuli only).
    n_pix : ndarray
        ``(n_bins,)`` number of pixels per bin.
    sn : ndarray or None
        Achieved S/N per bin (Voronoi bins only).
    center_xy : tuple of float
        Centre [pixels] (x = column, y = row).
    axis_ratio, pa_deg : float
        Ellipse axis ratio b/a and major-axis PA [deg] used for the radii.
    pixscale_arcsec : float
        Pixel size [arcsec].
    """

    bin_map: np.ndarray
    n_bins: int
    radius_arcsec: np.ndarray
    kind: str
    r_inner: np.ndarray | None = None
    r_outer: np.ndarray | None = None
    n_pix: np.ndarray | None = None
    sn: np.ndarray | None = None
    center_xy: tuple = (0.0, 0.0)
    axis_ratio: float = 1.0
    pa_deg: float = 0.0
    pixscale_arcsec: float = 1.0


def _check_geom(pixscale_arcsec, axis_ratio, center_xy):
    # (math.isfinite: scalars, without numpy's per-call overhead)
    if not (math.isfinite(pixscale_arcsec) and pixscale_arcsec > 0):
        raise MocksimInputError(f"pixscale_arcsec: must be > 0, got {pixscale_arcsec!r}")
    if not (math.isfinite(axis_ratio) and 0 < axis_ratio <= 1):
        raise MocksimInputError(f"axis_ratio: must be in (0, 1], got {axis_ratio!r}")
    c = tuple(float(v) for v in center_xy)
    if len(c) != 2 or not all(map(math.isfinite, c)):
        raise MocksimInputError(f"center_xy: must be two finite numbers (x=column, y=row), got {center_xy!r}")
    return c


def elliptical_radius_map(shape, center_xy, pixscale_arcsec, axis_ratio=1.0, pa_deg=0.0):
    """Deprojected (elliptical) radius of every pixel centre [arcsec], shape ``shape``."""
    cx, cy = _check_geom(pixscale_arcsec, axis_ratio, center_xy)
    return _radius_map(tuple(int(n) for n in shape), cx, cy, float(pixscale_arcsec), float(axis_ratio),
                       float(pa_deg)).copy()


def pixel_mean_radius(shape, center_xy, pixscale_arcsec, axis_ratio=1.0, pa_deg=0.0, nsub: int = 5):
    """Deprojected radius averaged over each pixel's area [arcsec] (``nsub``² samples).

    A pixel's light comes from its whole area, not its centre: the central pixel's
    mean radius is ~0.38 pixel, not 0. Used for the radius assigned to a bin.
    """
    cx, cy = _check_geom(pixscale_arcsec, axis_ratio, center_xy)
    return _mean_radius_map(tuple(int(n) for n in shape), cx, cy, float(pixscale_arcsec),
                            float(axis_ratio), float(pa_deg), int(nsub)).copy()


@functools.lru_cache(maxsize=8)
def _radius_map(shape, cx, cy, pixscale, axis_ratio, pa_deg):
    """Read-only :func:`elliptical_radius_map` [arcsec], cached on the geometry (usually
    shared by the galaxies of a run). The pixel offsets enter as a ``(1, nx)`` row and a
    ``(ny, 1)`` column that ``deprojected_radius`` broadcasts: the element-wise arithmetic
    of full coordinate grids, so the same values."""
    ny, nx = shape
    x = (np.arange(nx, dtype=float) - cx) * pixscale
    y = (np.arange(ny, dtype=float) - cy) * pixscale
    r = deprojected_radius(x[None, :], y[:, None], pa_deg, axis_ratio)
    r.flags.writeable = False
    return r


@functools.lru_cache(maxsize=8)
def _mean_radius_map(shape, cx, cy, pixscale, axis_ratio, pa_deg, nsub):
    """Read-only :func:`pixel_mean_radius` [arcsec], cached and broadcast like
    :func:`_radius_map`; the sub-pixel radii come one sub-pixel row at a time."""
    ny, nx = shape
    off = (np.arange(nsub) + 0.5) / nsub - 0.5
    x = ((np.arange(nx, dtype=float) + off[:, None] - cx) * pixscale)[None]  # (1, nsub, nx)
    y = np.arange(ny, dtype=float)[:, None, None]
    acc = np.zeros(shape)
    for dy in off:  # (ny, nsub, nx) radii of one sub-pixel row
        r = deprojected_radius(x, (y + dy - cy) * pixscale, pa_deg, axis_ratio)
        for k in range(nsub):  # summed in the order of a plain (dy, dx) double loop
            acc += r[:, k]
    acc /= nsub**2
    acc.flags.writeable = False
    return acc


def _weighted_radius(r, bin_map, n_bins, weights):
    """Weighted (negative weights -> 0) mean radius per bin; unweighted fallback."""
    return _weighted_mean(_radius_terms(r, bin_map, n_bins), weights)


def _radius_terms(r, bin_map, n_bins):
    """Weight-independent terms of :func:`_weighted_radius`: ``(sel, idx, r[sel], mean_r)``."""
    sel = bin_map >= 0
    idx = bin_map[sel]
    r_sel = r[sel]
    cnt = np.bincount(idx, None, n_bins)
    return sel, idx, r_sel, np.bincount(idx, r_sel, n_bins) / np.maximum(cnt, 1)


def _weighted_mean(terms, weights):
    """:func:`_weighted_radius` from its :func:`_radius_terms`."""
    sel, idx, r_sel, mean_r = terms
    n_bins = mean_r.size
    # np.clip(np.nan_to_num(w), 0, None) without their overhead: NaN -> 0, inf -> the largest
    # float, negative -> 0 (fmax drops the NaN)
    w = np.fmax(np.minimum(np.asarray(weights, float)[sel], np.finfo(float).max), 0.0)
    sw = np.bincount(idx, w, n_bins)
    swr = np.bincount(idx, w * r_sel, n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(sw > 0, swr / np.where(sw > 0, sw, 1), mean_r)


def annular_bins(shape, center_xy, pixscale_arcsec, *, width_arcsec=None, n_annuli=None,
                 r_max_arcsec=None, axis_ratio=1.0, pa_deg=0.0, weights=None, mask=None) -> Bins:
    """Circular (``axis_ratio=1``) or elliptical annuli in deprojected radius.

    Parameters
    ----------
    shape : (int, int)
        Map shape ``(ny, nx)``.
    center_xy : (float, float)
        Centre [pixels] (x = column, y = row).
    pixscale_arcsec : float
        Pixel size [arcsec].
    width_arcsec : float, optional
        Annulus width in deprojected radius [arcsec].
    n_annuli : int, optional
        Number of annuli. With ``width_arcsec`` the outer radius is
        ``n_annuli * width_arcsec``; alone, ``r_max / n_annuli`` sets the width.
        If neither is given the width is one pixel.
    r_max_arcsec : float, optional
        Outer radius [arcsec]; default: the largest ellipse contained in the map
        (smallest radius of the border pixels).
    axis_ratio, pa_deg : float
        Ellipse axis ratio b/a and major-axis PA [deg] (``mocksim.geometry``).
    weights : ndarray, optional
        ``(ny, nx)`` weights (e.g. line flux) for ``radius_arcsec``; see :class:`Bins`.
    mask : ndarray of bool, optional
        ``(ny, nx)``, True = usable pixel.

    Returns
    -------
    Bins
        ``kind="annular"``; annuli with no pixels are dropped.
    """
    c = _check_geom(pixscale_arcsec, axis_ratio, center_xy)
    shape = tuple(int(n) for n in shape)
    geom = (c[0], c[1], float(pixscale_arcsec), float(axis_ratio), float(pa_deg))
    r = _radius_map(shape, *geom)
    if r_max_arcsec is None and not (width_arcsec is not None and n_annuli is not None):
        border = np.concatenate([r[0], r[-1], r[:, 0], r[:, -1]])
        r_max_arcsec = float(border.min())
    if width_arcsec is not None and n_annuli is not None:
        if r_max_arcsec is not None:
            raise MocksimInputError("annular_bins: give at most two of width_arcsec, n_annuli, r_max_arcsec")
        r_max_arcsec = width_arcsec * n_annuli
    elif n_annuli is not None:
        width_arcsec = r_max_arcsec / n_annuli
    elif width_arcsec is None:
        width_arcsec = pixscale_arcsec
    if not (np.isfinite(width_arcsec) and width_arcsec > 0 and r_max_arcsec > 0):
        raise MocksimInputError(f"annular_bins: need width_arcsec > 0 and r_max_arcsec > 0, got "
                                f"{width_arcsec!r}, {r_max_arcsec!r}")
    if mask is None:                        # the geometry alone: shared by the galaxies of a run
        ann = _annuli(shape, geom, width_arcsec, r_max_arcsec)
    else:
        ann = _annuli_of(r, width_arcsec, r_max_arcsec, np.asarray(mask, bool))
    bin_map, r_in, r_out, n_pix = ann
    if weights is None:
        radius = 0.5 * (r_in + r_out)
    else:
        terms = _annuli_radius_terms(shape, geom, width_arcsec, r_max_arcsec) if mask is None \
            else _radius_terms(_mean_radius_map(shape, *geom, 5), bin_map, n_pix.size)
        radius = _weighted_mean(terms, weights)
    return Bins(bin_map, int(n_pix.size), radius, "annular", r_in, r_out, n_pix, None,
                c, float(axis_ratio), float(pa_deg), float(pixscale_arcsec))


def _annuli_of(r, width_arcsec, r_max_arcsec, mask=None):
    """Annuli of :func:`annular_bins` on the radius map ``r``: ``(bin_map, r_in, r_out, n_pix)``."""
    n = max(int(np.floor(r_max_arcsec / width_arcsec + 1e-9)), 1)
    edges = width_arcsec * np.arange(n + 1)
    idx = np.floor(r / width_arcsec).astype(int)
    idx[(idx >= n) | (r >= edges[-1])] = -1
    if mask is not None:
        idx[~mask] = -1
    counts = np.bincount(idx[idx >= 0], minlength=n)
    keep = np.flatnonzero(counts > 0)
    lut = np.full(n, -1)
    lut[keep] = np.arange(keep.size)
    bin_map = np.where(idx >= 0, lut[np.clip(idx, 0, None)], -1)
    return bin_map, edges[:-1][keep], edges[1:][keep], counts[keep]


@functools.lru_cache(maxsize=16, typed=True)
def _annuli(shape, geom, width_arcsec, r_max_arcsec):
    """:func:`_annuli_of` without a mask on the radius map of ``geom`` = ``(cx, cy,
    pixscale, axis_ratio, pa_deg)`` (cached, read-only; typed: an int width keeps int edges)."""
    out = _annuli_of(_radius_map(shape, *geom), width_arcsec, r_max_arcsec)
    for a in out:
        a.flags.writeable = False
    return out


@functools.lru_cache(maxsize=16, typed=True)
def _annuli_radius_terms(shape, geom, width_arcsec, r_max_arcsec):
    """:func:`_radius_terms` of :func:`_annuli` on the pixel-mean radius map (cached, read-only)."""
    bin_map, _, _, n_pix = _annuli(shape, geom, width_arcsec, r_max_arcsec)
    out = _radius_terms(_mean_radius_map(shape, *geom, 5), bin_map, n_pix.size)
    for a in out:
        a.flags.writeable = False
    return out


def sn_mask(signal, noise, min_sn: float, mask=None) -> np.ndarray:
    """True where ``signal / noise >= min_sn`` (finite, ``noise > 0``, and ``mask``)."""
    s, n = np.asarray(signal, float), np.asarray(noise, float)
    with np.errstate(invalid="ignore", divide="ignore"):
        ok = np.isfinite(s) & np.isfinite(n) & (n > 0) & (s / np.where(n > 0, n, 1) >= min_sn)
    return ok if mask is None else ok & np.asarray(mask, bool)


def sum_in_bins(maps: dict, err_maps: dict, bins: Bins, noise_correlation: float = 1.0, noise=None):
    """Sum maps (e.g. line fluxes [erg s^-1 cm^-2]) over bins.

    Parameters
    ----------
    maps : dict of str -> ndarray
        ``(ny, nx)`` maps to sum. Non-finite pixels are ignored (treated as 0).
    err_maps : dict of str -> ndarray
        ``(ny, nx)`` 1-sigma errors, for any subset of the keys of ``maps``.
    bins : Bins
    noise_correlation : float
        Factor applied to the quadrature-summed error of bins with more than one
        pixel (``Observation.noise_correlation``); single-pixel bins are unchanged.
    noise : MapNoise or dict of str -> MapNoise, optional
        Pixel-to-pixel noise correlation (:mod:`mocksim.recovery.noise_cov`), for all
        maps or per key; replaces ``noise_correlation`` when given.

    Returns
    -------
    sums, errs : dict of str -> ndarray
        ``(n_bins,)`` sums and errors (``sqrt(sum err^2) * noise_correlation`` for
        independent pixels).
    """
    bm = np.asarray(bins.bin_map)
    sel = bm >= 0
    idx = bm[sel]
    nb, keys = bins.n_bins, list(maps)
    if not keys:
        return {}, {}
    default = MapNoise(None, float(noise_correlation))
    # every map at once, in one bincount
    v = np.array([maps[k] for k in keys], float)
    vs = v.reshape(len(keys), -1).take(np.flatnonzero(sel), axis=1)      # (v[:, sel], faster)
    sums = dict(zip(keys, stacked_bincount(idx, np.where(np.isfinite(vs), vs, 0.0), nb)))
    errs, plain, kernels = {}, {}, {}    # maps without a kernel by excess; with one by kernel shape
    for i, key in enumerate(keys):
        if key in err_maps:
            nz = (noise.get(key) if isinstance(noise, dict) else noise) or default
            if nz.kernel is None:
                plain.setdefault(float(nz.excess), []).append(i)
            else:
                kernels.setdefault(np.shape(nz.kernel), []).append((i, nz))
    for shape, members in kernels.items():   # one BinPairs per shape, on the union of the kernels' lags
        pk = BinPairs(bm, nb, sum(np.abs(np.asarray(nz.kernel, float)) for _, nz in members))
        for i, nz in members:
            e = np.where(np.isfinite(v[i]), np.asarray(err_maps[keys[i]], float), np.nan)
            errs[keys[i]] = bin_sum_errors(e, bm, nb, nz, pk)
    for excess, rows in plain.items():
        e = np.array([err_maps[keys[i]] for i in rows], float)
        e = np.where(np.isfinite(v if len(rows) == len(keys) else v[rows]), e, np.nan)
        errs.update(zip([keys[i] for i in rows], bin_sum_errors(e, bm, nb, MapNoise(None, excess))))
    return sums, {k: errs[k] for k in keys if k in errs}


def bin_spectra(data, error, bins: Bins, noise_correlation: float = 1.0, noise=None):
    """Sum cube spectra over bins (for :func:`mocksim.recovery.linefit.fit_spectra`).

    Parameters
    ----------
    data, error : ndarray
        ``(nwave, ny, nx)`` flux density and 1-sigma error [erg s^-1 cm^-2 um^-1].
        Non-finite voxels are ignored.
    bins : Bins
    noise_correlation : float
        Applied to the errors of multi-pixel bins (see :func:`sum_in_bins`).
    noise : MapNoise, optional
        Spatial noise correlation of every channel; replaces ``noise_correlation``.

    Returns
    -------
    spectra, errors : ndarray
        ``(n_bins, nwave)`` summed flux density and its error; channels in which a
        bin has no valid voxel are NaN.

    Notes
    -----
    The sums are products with the pixel-to-bin membership matrix (dense for up to
    16 bins); invalid voxels are masked in a second pass only if any exist.
    """
    d, e = np.asarray(data, float), np.asarray(error, float)
    nw = d.shape[0]
    nb = bins.n_bins
    bm = np.asarray(bins.bin_map).ravel()
    sel = np.flatnonzero(bm >= 0)
    npix = np.bincount(bm[sel], minlength=nb)
    if nb <= 16:                                                 # pixel -> bin membership
        M = np.zeros((bm.size, nb))
        M[sel, bm[sel]] = 1.0
    else:                                                        # many bins: sparse
        from scipy import sparse

        M = sparse.csc_matrix((np.ones(sel.size), (sel, bm[sel])), shape=(bm.size, nb))
    d2, e2 = d.reshape(nw, -1), e.reshape(nw, -1)
    with np.errstate(invalid="ignore"):                          # non-finite voxels: see below
        spec = d2 @ M                                            # (nwave, n_bins)
        var = np.empty_like(spec)
        for i in range(0, nw, 128):                              # error^2 in cache-sized blocks
            var[i:i + 128] = np.square(e2[i:i + 128]) @ M
    if np.isfinite(spec).all() and np.isfinite(var).all():      # every voxel valid
        empty = np.broadcast_to(npix == 0, spec.shape)
    else:                                                        # mask invalid voxels
        ok = np.isfinite(d2) & np.isfinite(e2)
        spec = np.where(ok, d2, 0.0) @ M
        var = np.where(ok, e2 * e2, 0.0) @ M
        empty = (ok.astype(float) @ M) == 0
    if noise is not None and noise.kernel is not None:
        e3 = np.where(np.isfinite(d2) & np.isfinite(e2), e2, 0.0).reshape(e.shape)
        err = float(noise.excess) * np.sqrt(np.maximum(BinPairs(bins.bin_map, nb, noise.kernel).variance(e3), 0.0))
    else:
        exc = float(noise.excess) if noise is not None else float(noise_correlation)
        err = np.sqrt(var) * np.where(npix > 1, exc, 1.0)
    spec[empty] = np.nan
    err[empty] = np.nan
    return np.ascontiguousarray(spec.T), np.ascontiguousarray(err.T)


def measure_geometry(image, pixscale_arcsec: float, mask=None, *, aperture_scale: float = 4.0,
                     n_iter: int = 20):
    """Centre, axis ratio and PA from flux-weighted second moments.

    The moments are measured iteratively inside an elliptical aperture of
    semi-major axis ``aperture_scale`` times the major-axis rms, matched to the
    current shape estimate (self-similar truncation leaves the axis ratio of an
    elliptical profile unbiased). No PSF correction is applied: a PSF comparable
    to the minor axis biases ``axis_ratio`` towards 1.

    Parameters
    ----------
    image : ndarray
        ``(ny, nx)`` image (e.g. a line-flux map); non-finite pixels are ignored.
    pixscale_arcsec : float
        Pixel size [arcsec] (moments are scale-free; only validated).
    mask : ndarray of bool, optional
        True = pixel to use.
    aperture_scale : float
        Aperture semi-major axis in units of the major-axis rms.
    n_iter : int
        Maximum number of iterations.

    Returns
    -------
    center_xy : tuple of float
        Flux-weighted centre [pixels] (x = column, y = row).
    axis_ratio : float
        ``sqrt(lambda_min / lambda_max)`` of the second-moment tensor.
    pa_deg : float
        Major-axis PA [deg] in [0, 180), North (+y) through East (-x).
    """
    _check_geom(pixscale_arcsec, 1.0, (0, 0))
    img = np.asarray(image, float)
    ok = np.isfinite(img) if mask is None else np.isfinite(img) & np.asarray(mask, bool)
    y, x = np.mgrid[0:img.shape[0], 0:img.shape[1]].astype(float)
    w = np.where(ok, np.clip(img, 0, None), 0.0)
    if not np.any(w > 0):
        raise MocksimInputError("measure_geometry: image has no positive finite pixels")
    ap = np.ones(img.shape, bool)
    state = None
    for it in range(n_iter):
        ww = w if it == 0 else np.where(ok & ap, img, 0.0)
        tot = ww.sum()
        if not tot > 0:
            break
        cx, cy = (ww * x).sum() / tot, (ww * y).sum() / tot
        dx, dy = x - cx, y - cy
        M = np.array([[(ww * dx * dx).sum(), (ww * dx * dy).sum()],
                      [(ww * dx * dy).sum(), (ww * dy * dy).sum()]]) / tot
        evals, evecs = np.linalg.eigh(M)
        if evals[1] <= 0:
            break
        q = float(np.sqrt(max(evals[0], 0.0) / evals[1]))
        ex, ey = evecs[:, 1]
        pa = float(np.degrees(np.arctan2(-ex, ey)) % 180.0)
        new = (cx, cy, q, pa)
        if state is not None and np.allclose(new[:3], state[:3], atol=1e-5) \
                and abs((pa - state[3] + 90) % 180 - 90) < 1e-4:
            state = new
            break
        state = new
        rr = deprojected_radius(dx, dy, pa, max(q, 1e-3))
        ap = rr <= aperture_scale * np.sqrt(evals[1])
    cx, cy, q, pa = state
    return (float(cx), float(cy)), float(q), float(pa)


def __getattr__(name):
    """``voronoi_bins`` (now in :mod:`mocksim.recovery.voronoi`) stays importable from here."""
    if name == "voronoi_bins":
        from mocksim.recovery.voronoi import voronoi_bins

        return voronoi_bins
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
