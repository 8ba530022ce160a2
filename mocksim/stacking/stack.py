"""Stacks of emission-line maps of a galaxy population (seed 000 §3.1, App. A, G).

Default recipe (seed 000): centre every galaxy on the centroid of its [OIII]5007
map (DAOStarFinder, Gaussian kernel), divide each galaxy's maps by its
integrated [OIII] flux ("to avoid excessive weighting toward bright sources"),
do not rescale, rotate or deproject, take the median of every pixel, measure
the profile of the stacked maps in five annuli to 0.42'', infer 12+log(O/H) per
annulus from the stacked fluxes and fit a line in kpc at the median redshift.

Errors (seed 000: "The uncertainties of the radial profiles are computed by
bootstrapping the stacks"): ``bootstrap`` times, draw the galaxies with
replacement, re-stack and re-measure the annulus fluxes. The standard deviation
of the replicas is the error of each annulus flux (and, per pixel, of the
stacked maps). 12+log(O/H) and its 16/84 % interval then come from Eq. 1 with
those flux errors plus the calibration's intrinsic scatter, and the gradient
error is the weighted least-squares error of the fit (the seed's "statistical
+ calibration" error bars). As a purely statistical alternative,
``gradient_boot_err`` is the spread of gradients fitted to each replica (R3
inverted directly, same weights). ``bootstrap = 0`` uses the analytic error of
the mean over the aligned galaxies instead: the standard deviation over galaxies
(noise and galaxy-to-galaxy differences) / sqrt(N), per pixel and of each
galaxy's annulus fluxes (so correlated pixels are summed correctly), times
sqrt(pi/2) for the median.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np

from ..cosmology import kpc_per_arcsec
from ..errors import MocksimInputError
from .align import find_centroids, resample_centered
from .config import StackConfig
from .profile import (annulus_sums, branch_prior, fit_profile_gradient, make_annuli,
                      point_logoh_r3, profile_metallicity, usable_annuli)

__all__ = ["StackResult", "stack_population", "STATUS_OK", "STATUS_FIT_FAILED", "STATUS_TOO_FEW"]

OIII, HB = "OIII5007", "Hbeta"
STATUS_OK, STATUS_FIT_FAILED, STATUS_TOO_FEW = 0, 1, 2
MIN_GALAXIES = 3


@dataclass
class StackResult:
    """A stacked population and its metallicity gradient.

    Attributes
    ----------
    maps, err_maps : dict of str -> ndarray
        Stacked ``(2h+1, 2h+1)`` map of every line (flux per pixel divided by each
        galaxy's integrated [OIII] flux when ``weight = "oiii"``) and its 1-sigma
        bootstrap error per pixel. The centre is pixel ``(h, h)``.
    pixscale : float
        Pixel of the stacked maps [arcsec; R_e for rescaled stacks] (``units``).
    radius_kpc, radius : ndarray
        Annulus (flux-weighted) radii [kpc] and in ``units`` (arcsec or R_e).
    r_edges : ndarray
        Annulus edges [``units``].
    flux, flux_err : dict of str -> ndarray
        Annulus fluxes of the stacked maps and their bootstrap errors.
    log_oh, log_oh_lo, log_oh_hi, log_oh_err : ndarray
        12+log(O/H) per annulus (posterior median, 16th/84th percentiles, half
        the 16–84 % width) [dex].
    met_status : ndarray of int
        Per-annulus status of :func:`mocksim.recovery.metallicity.infer_metallicity`.
    used : ndarray of bool
        Annuli used in the fit.
    gradient, gradient_err : float
        Fitted gradient and its error [dex/kpc] (rescaled stacks: ``gradient_per_re``
        divided by the median R_e).
    intercept, intercept_err : float
        12+log(O/H) at r = 0 [dex].
    cov : ndarray
        ``(2, 2)`` covariance of (intercept [dex], gradient [dex/kpc]).
    gradient_boot_err : float
        Standard deviation of the gradients of the bootstrap replicas [dex/kpc].
    gradient_per_re, gradient_per_re_err : float
        Gradient in dex/R_e (NaN without ``re_kpc``).
    n_galaxies : int
        Galaxies in the stack.
    median_true_gradient, bias : float
        Median true gradient of the stacked galaxies [dex/kpc] and
        ``gradient - median_true_gradient`` (NaN without ``true_gradients``).
    median_true_gradient_per_re, bias_per_re : float
        Same in dex/R_e (median of g_i R_e,i).
    median_redshift, kpc_per_arcsec : float
    units : str
        ``"arcsec"`` or ``"re"``.
    status : int
        0 ok, 1 fewer than two usable annuli, 2 fewer than 3 galaxies.
    galaxy_index, centers, weights : ndarray
        Input indices of the stacked galaxies, their centroids (x, y) [pixels] and
        integrated [OIII] fluxes (1 when ``weight = "none"``).
    truth : dict of str -> ndarray
        Per stacked galaxy: ``redshift`` and, when given, ``gradient``, ``re_kpc``,
        ``log_oh_center``, ``log_mstar`` (for figures).
    config : StackConfig
    bins : dict of str -> StackResult or None
        Stacks in bins of ``config.bin_by``.
    bin_ranges : dict of str -> (float, float)
    """

    maps: dict
    err_maps: dict
    pixscale: float
    radius_kpc: np.ndarray
    radius: np.ndarray
    r_edges: np.ndarray
    flux: dict
    flux_err: dict
    log_oh: np.ndarray
    log_oh_lo: np.ndarray
    log_oh_hi: np.ndarray
    log_oh_err: np.ndarray
    met_status: np.ndarray
    used: np.ndarray
    gradient: float
    gradient_err: float
    intercept: float
    intercept_err: float
    cov: np.ndarray
    gradient_boot_err: float
    gradient_per_re: float
    gradient_per_re_err: float
    n_galaxies: int
    median_true_gradient: float
    bias: float
    median_true_gradient_per_re: float
    bias_per_re: float
    median_redshift: float
    kpc_per_arcsec: float
    units: str
    status: int
    galaxy_index: np.ndarray
    centers: np.ndarray
    weights: np.ndarray
    truth: dict = field(default_factory=dict)
    config: StackConfig | None = None
    bins: dict | None = None
    bin_ranges: dict | None = None


def _as_array(name, v, n, positive=False):
    if v is None:
        return None
    a = np.asarray(v, float)
    if a.ndim == 0:
        a = np.full(n, float(a))
    if a.shape[0] != n:
        raise MocksimInputError(f"{name}: need {n} values (one per galaxy), got {a.shape[0]}")
    if positive and not np.all(np.isfinite(a) & (a > 0)):
        raise MocksimInputError(f"{name}: every value must be finite and > 0")
    return a


def _nanmedian0(cube):
    """``np.nanmedian(cube, axis=0)``, value for value, via one sort.

    NaNs sort last, so with ``k`` finite values at a pixel the median is the mean of
    the sorted values at ``(k - 1) // 2`` and ``k // 2`` (computed as ``(a + b) / 2``,
    as numpy does); NaN where ``k = 0``. Avoids numpy's slow per-pixel path for
    arrays with NaNs.
    """
    s = np.sort(cube, axis=0)
    k = np.count_nonzero(~np.isnan(cube), axis=0)
    lo = np.take_along_axis(s, np.maximum(k - 1, 0)[None] // 2, axis=0)[0]
    hi = np.take_along_axis(s, np.minimum(k // 2, cube.shape[0] - 1)[None], axis=0)[0]
    out = (lo + hi) / 2.0
    out[k == 0] = np.nan
    return out


def _combine(cube, method):
    """Median or mean over galaxies (axis 0), ignoring NaN (pixels off a galaxy's map)."""
    if method == "median":
        return _nanmedian0(cube)
    has_nan = np.isnan(cube).any()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(cube, axis=0) if has_nan else np.mean(cube, axis=0)


def _integrated_oiii(img, center, radius_pix):
    ny, nx = img.shape
    y, x = np.mgrid[0:ny, 0:nx]
    inside = (x - center[0]) ** 2 + (y - center[1]) ** 2 <= radius_pix ** 2
    return float(np.nansum(np.where(inside, img, 0.0)))


def _calibration(cfg):
    from ..physics.calibrations import get_calibration

    return get_calibration(cfg.calibration, scatter_dex=cfg.calibration_scatter_dex,
                           extrapolate_dex=cfg.extrapolate_dex)


def stack_population(line_maps, err_maps, redshifts, pixscale_arcsec, config: StackConfig, *,
                     true_gradients=None, re_kpc=None, centers=None, axis_ratios=None, pa_degs=None,
                     log_mstar=None, rng=None, true_log_oh_center=None, oiii_flux=None,
                     cosmology: str = "Planck18", _bins: bool = True) -> StackResult:
    """Stack the line maps of a population and measure the stacked metallicity gradient.

    Parameters
    ----------
    line_maps, err_maps : list of dict of str -> ndarray
        Per galaxy, ``(ny, nx)`` line-flux maps [erg s^-1 cm^-2 per pixel] and their
        1-sigma errors, keyed by mocksim line name; ``"OIII5007"`` and
        ``"Hbeta"`` are required, lines present for every galaxy are stacked.
    redshifts : array_like
        ``(N,)`` redshifts.
    pixscale_arcsec : float or array_like
        Pixel size of the maps [arcsec] (one value or one per galaxy).
    config : StackConfig
    true_gradients : array_like, optional
        ``(N,)`` true gradients [dex/kpc] -> ``median_true_gradient``, ``bias``.
    re_kpc : array_like, optional
        ``(N,)`` effective radii [kpc]; required for ``config.rescale``.
    centers : array_like, optional
        ``(N, 2)`` centres (x, y) [pixels]; required for ``centroid = "truth"``.
    axis_ratios, pa_degs : array_like, optional
        ``(N,)`` b/a and major-axis PA [deg]; required for ``rotate``/``deproject``.
    log_mstar : array_like, optional
        ``(N,)`` log10(M*/Msun); required for ``bin_by = "log_mstar"`` and ``branch = "mzr"``.
    rng : None, int or numpy.random.Generator
        Seeds the bootstrap.
    true_log_oh_center : array_like, optional
        ``(N,)`` true central 12+log(O/H) (only stored, for figures).
    oiii_flux : array_like, optional
        ``(N,)`` integrated [OIII] fluxes for ``weight = "oiii"``; default: the
        [OIII] map summed within ``r_max_arcsec`` of the centroid.
    cosmology : str
        For kpc/arcsec.

    Returns
    -------
    StackResult
    """
    cfg = config
    if not isinstance(cfg, StackConfig):
        raise MocksimInputError(f"stack: config must be a StackConfig, got {type(cfg).__name__}")
    rng = np.random.default_rng(rng)
    n = len(line_maps)
    if len(err_maps) != n:
        raise MocksimInputError(f"err_maps: need {n} entries (one per galaxy), got {len(err_maps)}")
    if n == 0:
        raise MocksimInputError("stack: no galaxies to stack")
    z = _as_array("redshifts", redshifts, n, positive=True)
    pix = _as_array("pixscale_arcsec", pixscale_arcsec, n, positive=True)
    tg = _as_array("true_gradients", true_gradients, n)
    re = _as_array("re_kpc", re_kpc, n, positive=re_kpc is not None)
    lm = _as_array("log_mstar", log_mstar, n)
    z0 = _as_array("true_log_oh_center", true_log_oh_center, n)
    q = _as_array("axis_ratios", axis_ratios, n)
    pa = _as_array("pa_degs", pa_degs, n)
    lines = [ln for ln in line_maps[0] if all(ln in m and ln in e for m, e in zip(line_maps, err_maps))]
    for ln in (OIII, HB):
        if ln not in lines:
            raise MocksimInputError(f"stack: every galaxy needs a {ln} map and its error map")
    if cfg.rescale and re is None:
        raise MocksimInputError("stack.rescale: needs re_kpc for every galaxy")
    if (cfg.rotate or cfg.deproject) and (q is None or pa is None):
        raise MocksimInputError("stack.rotate/stack.deproject: need axis_ratios and pa_degs for every galaxy")
    if cfg.centroid == "truth":
        if centers is None:
            raise MocksimInputError("stack.centroid: 'truth' needs the true centres")
        cen = np.asarray(centers, float).reshape(n, 2)
    else:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", RuntimeWarning)
            # one DAOStarFinder call per 256 maps (a mosaic); search radius in each map's pixels
            cen = find_centroids([m[OIII] for m in line_maps], method=cfg.centroid,
                                 fwhm_pix=cfg.centroid_fwhm_pix, errors=[e[OIII] for e in err_maps],
                                 search_radius_pix=None if cfg.centroid_search_arcsec is None
                                 else cfg.centroid_search_arcsec / np.asarray(pix, float))
        n_fb = sum("DAOStarFinder" in str(w.message) for w in caught)
        if n_fb:
            warnings.warn(f"stack: DAOStarFinder found no source for {n_fb} of {n} galaxies; their "
                          "centroids are the Gaussian-smoothed peaks", RuntimeWarning, stacklevel=2)
    if cfg.weight == "oiii":
        w = (_as_array("oiii_flux", oiii_flux, n) if oiii_flux is not None else
             np.array([_integrated_oiii(np.asarray(m[OIII], float), c, cfg.r_max_arcsec / p)
                       for m, c, p in zip(line_maps, cen, pix)]))
    else:
        w = np.ones(n)
    keep = np.isfinite(w) & (w > 0)
    if not keep.all():
        warnings.warn(f"stack: {int((~keep).sum())} galaxies with integrated [OIII] <= 0 are not stacked",
                      RuntimeWarning, stacklevel=2)
    idx = np.flatnonzero(keep)
    kpa = kpc_per_arcsec(float(np.median(z[idx])), cosmology) if idx.size else np.nan
    re_med = float(np.median(re[idx])) if re is not None and idx.size else np.nan

    # ---- output grid
    if cfg.rescale:
        out_pix, r_max, units = cfg.rescale_pix_re, cfg.r_max_re, "re"
        scale = cfg.rescale_pix_re * (re / np.array([kpc_per_arcsec(float(v), cosmology) for v in z])) / pix
    else:
        out_pix = cfg.pixscale_arcsec if cfg.pixscale_arcsec is not None else float(np.median(pix))
        r_max, units = cfg.r_max_arcsec, "arcsec"
        scale = out_pix / pix
    half = int(np.ceil(1.5 * r_max / out_pix))

    truth = {"redshift": z[idx]}
    for key, arr in (("gradient", tg), ("re_kpc", re), ("log_oh_center", z0), ("log_mstar", lm)):
        if arr is not None:
            truth[key] = arr[idx]
    common = dict(galaxy_index=idx, centers=cen[idx], weights=w[idx], truth=truth, config=cfg,
                  median_redshift=float(np.median(z[idx])) if idx.size else np.nan,
                  kpc_per_arcsec=kpa, units=units, pixscale=out_pix, n_galaxies=int(idx.size))
    mtg = float(np.median(tg[idx])) if tg is not None and idx.size else np.nan
    mtg_re = float(np.median(tg[idx] * re[idx])) if tg is not None and re is not None and idx.size else np.nan
    if idx.size < MIN_GALAXIES:
        res = _empty_result(lines, half, mtg, mtg_re, common)
    else:
        cubes = {ln: np.empty((idx.size, 2 * half + 1, 2 * half + 1)) for ln in lines}
        for k, i in enumerate(idx):
            for ln in lines:
                o, _ = resample_centered(line_maps[i][ln], cen[i], half, scale[i],
                                         rotate=cfg.rotate, deproject=cfg.deproject,
                                         axis_ratio=None if q is None else q[i],
                                         pa_deg=None if pa is None else pa[i])
                cubes[ln][k] = o / w[i]
        res = _measure(cubes, cfg, out_pix, r_max, kpa, re_med, mtg, mtg_re, z[idx],
                       None if lm is None else lm[idx], rng, common)
    if _bins and cfg.bin_by is not None:
        per_gal = {"true_gradients": tg, "re_kpc": re, "axis_ratios": q, "pa_degs": pa, "log_mstar": lm,
                   "true_log_oh_center": z0,
                   "centers": None if cfg.centroid != "truth" else np.asarray(centers, float).reshape(n, 2),
                   "oiii_flux": None if oiii_flux is None else np.asarray(oiii_flux, float)}
        res.bins, res.bin_ranges = _stack_bins(line_maps, err_maps, z, pix, cfg, per_gal, rng, cosmology)
    return res


def _measure(cubes, cfg, out_pix, r_max, kpa, re_med, mtg, mtg_re, z, lm, rng, common):
    """Stack, bootstrap, profile, metallicity and gradient of aligned cubes."""
    rng = np.random.default_rng(rng)
    lines = list(cubes)
    n = cubes[OIII].shape[0]
    maps = {ln: _combine(cubes[ln], cfg.method) for ln in lines}
    bins = make_annuli(maps[OIII].shape, out_pix, cfg.n_annuli, r_max, weights=maps[OIII])
    flux = {ln: annulus_sums(maps[ln], bins) for ln in lines}
    if cfg.bootstrap > 0:
        draws = rng.integers(0, n, size=(cfg.bootstrap, n))
        boot = {ln: np.array([_combine(cubes[ln][d], cfg.method) for d in draws]) for ln in lines}
        err_maps = {ln: np.std(boot[ln], axis=0, ddof=1) for ln in lines}
        boot_flux = {ln: annulus_sums(boot[ln], bins) for ln in lines}
        flux_err = {ln: np.std(boot_flux[ln], axis=0, ddof=1) for ln in lines}
    else:
        # error of the mean over galaxies (x sqrt(pi/2) for the median): the scatter of the
        # aligned galaxies holds their noise and their differences, as the bootstrap does
        fac = np.sqrt(np.pi / 2.0) if cfg.method == "median" else 1.0
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            err_maps = {ln: fac * np.nanstd(cubes[ln], axis=0, ddof=1) / np.sqrt(np.sum(np.isfinite(cubes[ln]), axis=0))
                        for ln in lines}
        flux_err = {ln: fac * np.std(annulus_sums(cubes[ln], bins), axis=0, ddof=1) / np.sqrt(n) for ln in lines}
        boot_flux = None
    prior = branch_prior(cfg.branch, lm, z)
    mlines = [ln for ln in cfg.lines if ln in flux]
    met = profile_metallicity({ln: flux[ln] for ln in mlines}, {ln: flux_err[ln] for ln in mlines},
                              _calibration(cfg), method=cfg.metallicity_method, prior=prior, rng=rng)
    used = usable_annuli(flux, flux_err, met, cfg.min_snr, lines=mlines)
    conv = re_med if cfg.rescale else kpa          # kpc per unit of the profile radius
    r_kpc = np.asarray(bins.radius_arcsec) * conv
    fit = fit_profile_gradient(r_kpc, met, used)
    g_boot = np.nan
    if boot_flux is not None and fit.ok:
        zb = point_logoh_r3(boot_flux[OIII], boot_flux[HB], cfg.calibration, prior)
        err = 0.5 * (met.log_oh_hi - met.log_oh_lo)
        slopes = []
        for row in zb:
            m = used & np.isfinite(row)
            if m.sum() >= 2:
                slopes.append(np.polyfit(r_kpc[m], row[m], 1, w=1.0 / err[m])[0])
        g_boot = float(np.std(slopes, ddof=1)) if len(slopes) > 2 else np.nan
    g_re = fit.slope * re_med
    g_re_err = fit.slope_err * re_med
    edges = np.append(bins.r_inner, bins.r_outer[-1]) if bins.n_bins else np.zeros(0)
    return StackResult(
        maps=maps, err_maps=err_maps, radius_kpc=r_kpc, radius=np.asarray(bins.radius_arcsec),
        r_edges=edges, flux=flux, flux_err=flux_err, log_oh=met.log_oh, log_oh_lo=met.log_oh_lo,
        log_oh_hi=met.log_oh_hi, log_oh_err=0.5 * (met.log_oh_hi - met.log_oh_lo),
        met_status=np.asarray(met.status), used=used, gradient=fit.slope, gradient_err=fit.slope_err,
        intercept=fit.intercept, intercept_err=fit.intercept_err, cov=np.asarray(fit.cov),
        gradient_boot_err=g_boot, gradient_per_re=g_re, gradient_per_re_err=g_re_err,
        median_true_gradient=mtg, bias=fit.slope - mtg, median_true_gradient_per_re=mtg_re,
        bias_per_re=g_re - mtg_re, status=STATUS_OK if fit.ok else STATUS_FIT_FAILED, **common)


def _empty_result(lines, half, mtg, mtg_re, common):
    nan = float("nan")
    shape = (2 * half + 1, 2 * half + 1)
    e = np.zeros(0)
    return StackResult(
        maps={ln: np.full(shape, np.nan) for ln in lines}, err_maps={ln: np.full(shape, np.nan) for ln in lines},
        radius_kpc=e, radius=e, r_edges=e, flux={ln: e for ln in lines}, flux_err={ln: e for ln in lines},
        log_oh=e, log_oh_lo=e, log_oh_hi=e, log_oh_err=e, met_status=e.astype(int), used=e.astype(bool),
        gradient=nan, gradient_err=nan, intercept=nan, intercept_err=nan, cov=np.full((2, 2), np.nan),
        gradient_boot_err=nan, gradient_per_re=nan, gradient_per_re_err=nan, median_true_gradient=mtg,
        bias=nan, median_true_gradient_per_re=mtg_re, bias_per_re=nan, status=STATUS_TOO_FEW, **common)


def _stack_bins(line_maps, err_maps, z, pix, cfg, per_gal, rng, cosmology):
    """Stacks of the galaxies in each bin of ``cfg.bin_by`` (edges: ``cfg.bin_edges`` or the median).

    Bins with fewer than 3 galaxies get a result with ``status = 2`` (NaN gradient).
    """
    if cfg.bin_by == "redshift":
        key = z
    else:
        if per_gal["log_mstar"] is None:
            raise MocksimInputError("stack.bin_by: 'log_mstar' needs log_mstar for every galaxy")
        key = per_gal["log_mstar"]
    edges = (list(cfg.bin_edges) if cfg.bin_edges is not None
             else [float(np.min(key)), float(np.median(key)), float(np.max(key))])
    out, ranges = {}, {}
    rng = np.random.default_rng(rng)
    for b, (lo, hi) in enumerate(zip(edges[:-1], edges[1:])):
        last = b == len(edges) - 2
        sel = np.flatnonzero((key >= lo) & ((key <= hi) if last else (key < hi)))
        label = f"{cfg.bin_by}_{lo:.2f}_{hi:.2f}"
        ranges[label] = (float(lo), float(hi))
        if sel.size == 0:
            out[label] = None
            continue
        kw = {k: (None if v is None else v[sel]) for k, v in per_gal.items()}
        out[label] = stack_population([line_maps[i] for i in sel], [err_maps[i] for i in sel], z[sel],
                                      pix[sel], cfg, rng=rng, cosmology=cosmology, _bins=False, **kw)
    return out, ranges
