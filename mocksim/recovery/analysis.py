"""The observer's analysis of one observation: line maps -> bins -> 12+log(O/H) -> gradient.

:func:`analyse` chains the recovery modules the way the seeds do it and returns a
:class:`GalaxyRecovery`. It uses only the observation plus what an observer would
know from elsewhere (redshift; optionally the disk geometry from imaging).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..cosmology import kpc_per_arcsec
from ..lines import LINES
from .binning import annular_bins, measure_geometry, sn_mask, sum_in_bins
from .gradient import GradientFit, fit_linear_gradient
from .bin_extraction import bin_line_fluxes, narrowband_map, truncate_at_snr
from .linefit import LineMaps, fit_cube, lines_in_coverage
from .metallicity import infer_metallicity
from .noise_cov import map_noise
from .psf_match import match_line_maps
from .voronoi import voronoi_bins

#: status codes of a galaxy's recovery
STATUS_OK = 0
STATUS_FEW_BINS = 1
STATUS_FIT_FAILED = 2


@dataclass
class Geometry:
    """Disk geometry used for binning and deprojection.

    Attributes
    ----------
    center_xy : tuple of float
        Centre in spaxel coordinates (x = column, y = row).
    axis_ratio : float
    pa_deg : float
        North through East.
    re_arcsec : float or None
        Half-light radius along the major axis, when known.
    source : str
        ``"truth"`` (e.g. from imaging) or ``"measured"`` (from the line maps).
    """

    center_xy: tuple[float, float]
    axis_ratio: float = 1.0
    pa_deg: float = 0.0
    re_arcsec: float | None = None
    source: str = "truth"


@dataclass
class GalaxyRecovery:
    """Everything recovered for one galaxy (radii in kpc, metallicities as 12+log(O/H))."""

    gradient: float
    gradient_err: float
    log_oh_center: float
    log_oh_center_err: float
    status: int
    radius_kpc: np.ndarray
    log_oh: np.ndarray
    log_oh_lo: np.ndarray
    log_oh_hi: np.ndarray
    bin_status: np.ndarray
    used: np.ndarray
    geometry: Geometry
    map_obs: object | None = None
    linear: GradientFit | None = None
    forward: object | None = None
    line_maps: object | None = None
    bins: object | None = None
    binned_flux: dict = field(default_factory=dict)
    binned_err: dict = field(default_factory=dict)
    extraction: str = "maps"
    tie_kinematics: bool = False


def fit_lines_for(obs, extra_lines=()):
    """Fit every line of :data:`mocksim.lines.LINES` that the cube covers."""
    lines = lines_in_coverage(obs.wave_um, obs.redshift, list(LINES))
    for ln in extra_lines:
        if ln not in lines:
            lines.append(ln)
    return fit_cube(obs, lines)


def extract_maps(obs, psf_match: bool = False, line_maps=None):
    """Line maps of an observation and the observation that describes their grid.

    IFU cubes are fitted spaxel by spaxel (:func:`fit_lines_for`); slitless-grism
    observations go through :func:`mocksim.recovery.grism_extract.extract_line_maps`
    (or pass its result as ``line_maps``, e.g. from ``extract_line_maps_many``).
    ``psf_match``: every map is degraded to the PSF of the line with the widest PSF
    (:mod:`mocksim.recovery.psf_match`). Returns ``(line_maps, map_obs)``;
    ``map_obs.shape``, ``pixscale_arcsec`` and ``noise_correlation`` describe the maps.
    """
    grism = obs.kind == "grism"
    if grism:
        from .grism_extract import extract_line_maps, map_observation

        lm = extract_line_maps(obs) if line_maps is None else line_maps
    else:
        lm = fit_lines_for(obs)
    map_obs = map_observation(obs, lm) if grism else obs
    if psf_match:
        pix = lm.pixscale_arcsec if grism else obs.pixscale_arcsec
        lm = match_line_maps(lm, obs.instrument, obs.redshift, pix, noise=line_map_noise(lm, map_obs))
    return lm, map_obs


def line_map_noise(line_maps, map_obs):
    """Noise correlation of line maps for :func:`sum_in_bins`: their own per line (grism
    maps, or after PSF matching), otherwise that of the map grid's observation."""
    return getattr(line_maps, "noise", None) or map_noise(map_obs)


def line_extractor(obs):
    """``extract(obs_like, lines) -> LineMaps`` used by forward fits for this mode."""
    if obs.kind == "grism":
        from .grism_extract import extract_line_maps

        return lambda o, lines: extract_line_maps(o)  # same (default) line set as the data
    return fit_cube


def annulus_width(obs, config: dict) -> float:
    """Annulus width [arcsec]: ``annulus_width_arcsec``, ``annulus_width_hwhm`` x PSF HWHM, or one spaxel."""
    if config.get("annulus_width_hwhm"):
        from .bin_extraction import psf_hwhm_arcsec

        return float(config["annulus_width_hwhm"]) * psf_hwhm_arcsec(obs)
    return config.get("annulus_width_arcsec") or obs.pixscale_arcsec


def make_bins(obs, line_maps, config: dict, geometry: Geometry, weights=None):
    """Build the spatial bins the configuration asks for.

    ``weights`` (default: the [OIII]5007 map) set the flux-weighted annulus radii
    unless ``config["annulus_radius"] == "midpoint"``. With ``r_max_snr`` the annuli
    reach the field edge; :func:`analyse` then truncates them by S/N.
    """
    ny, nx = obs.shape
    pix = obs.pixscale_arcsec
    width = annulus_width(obs, config)
    half_field = 0.5 * min(ny, nx) * pix
    r_max = config.get("r_max_arcsec") or half_field
    if config.get("r_max_re") and geometry.re_arcsec:
        r_max = config["r_max_re"] * geometry.re_arcsec
    r_max = max(min(r_max, half_field), 1.5 * width)
    binning = config.get("binning", "annuli")
    elliptical = binning == "elliptical" or config.get("deproject", False)
    q = geometry.axis_ratio if elliptical else 1.0
    pa = geometry.pa_deg if elliptical else 0.0
    if binning == "voronoi":
        sig, noise = line_maps.flux["OIII5007"], line_maps.flux_err["OIII5007"]
        return voronoi_bins(sig, noise, config.get("target_sn", 10.0), pixscale_arcsec=pix,
                            mask=sn_mask(sig, noise, 1.0), center_xy=geometry.center_xy, axis_ratio=q,
                            pa_deg=pa, noise_correlation=obs.noise_correlation)
    if weights is None and line_maps is not None:
        weights = line_maps.flux.get("OIII5007")
    if config.get("annulus_radius", "flux") == "midpoint":
        weights = None
    return annular_bins((ny, nx), geometry.center_xy, pix, width_arcsec=width, r_max_arcsec=r_max,
                        axis_ratio=q, pa_deg=pa, weights=weights)


def measured_geometry(obs, line_maps) -> Geometry:
    """Centre, axis ratio, PA and half-light radius from the [OIII]5007 map."""
    img = line_maps.flux["OIII5007"]
    snr = img / line_maps.flux_err["OIII5007"]
    mask = snr > 2.0
    center, q, pa = measure_geometry(img, obs.pixscale_arcsec, mask=mask)
    return Geometry(center_xy=tuple(center), axis_ratio=float(q), pa_deg=float(pa),
                    re_arcsec=_half_light_radius(img * mask, center, obs.pixscale_arcsec, q, pa),
                    source="measured")


def _half_light_radius(img, center, pix, q, pa):
    from ..geometry import deprojected_radius

    ny, nx = img.shape
    yy, xx = np.mgrid[0:ny, 0:nx]
    r = deprojected_radius(xx * pix, yy * pix, pa, q, center[0] * pix, center[1] * pix)
    order = np.argsort(r.ravel())
    cum = np.cumsum(np.clip(img.ravel()[order], 0, None))
    if cum[-1] <= 0:
        return None
    return float(np.interp(0.5 * cum[-1], cum, r.ravel()[order]))


def analyse(obs, config: dict, geometry: Geometry | None = None, *, rng=None,
            cosmology: str = "Planck18") -> GalaxyRecovery:
    """Recover the metallicity profile and linear gradient of one observation.

    Parameters
    ----------
    obs : Observation
    config : dict
        The scenario's ``[recovery]`` table (see ``mocksim.pipeline.scenario``).
    geometry : Geometry or callable, optional
        Known disk geometry, or ``geometry(map_obs) -> Geometry`` when it depends on
        the map grid; measured from the maps when None or when
        ``config["geometry"] == "measured"``.
    rng : numpy.random.Generator, optional
        Used by the emcee method.

    Returns
    -------
    GalaxyRecovery
    """
    lm, obs, geometry, bins = prepare_bins(obs, config, geometry)
    spectra = config.get("extraction", "maps") == "spectra"
    if spectra:
        lines = lines_in_coverage(obs.wave_um, obs.redshift, list(LINES))
        flux, err, _ = bin_line_fluxes(obs, bins, lines, tie_kinematics=bool(config.get("tie_kinematics")))
    else:
        flux, err = sum_in_bins(lm.flux, lm.flux_err, bins, noise=line_map_noise(lm, obs))
    bins, flux, err = truncate_bins(bins, flux, err, config)
    prof = binned_metallicity(flux, err, config, rng=rng)
    return finish_recovery(obs, config, geometry, bins, lm, flux, err, prof, cosmology)


def prepare_bins(obs, config: dict, geometry=None, line_maps=None):
    """First stage of :func:`analyse`: ``(line_maps, map_obs, geometry, bins)``.

    With ``extraction = "spectra"`` the line maps are only the [OIII]5007 narrow-band
    image (geometry, radii); otherwise every spaxel is fitted (grism: ``line_maps``,
    if given, are the already extracted maps of ``obs``).
    """
    if config.get("extraction", "maps") == "spectra":
        lm = _narrowband_maps(obs)
    else:
        lm, obs = extract_maps(obs, psf_match=bool(config.get("psf_match")), line_maps=line_maps)
    if callable(geometry):
        geometry = geometry(obs)
    if geometry is None or config.get("geometry") == "measured":
        geometry = measured_geometry(obs, lm)
    return lm, obs, geometry, make_bins(obs, lm, config, geometry)


def truncate_bins(bins, flux: dict, err: dict, config: dict):
    """Seed 001's S/N-limited outer radius (``r_max_snr``): ``(bins, flux, err)`` cut at
    the first annulus where [OIII]5007 or a line of ``recovery.lines`` is below it."""
    if not (config.get("r_max_snr") and bins.kind == "annular"):
        return bins, flux, err
    refs = [ln for ln in dict.fromkeys(["OIII5007", *config.get("lines", [])]) if ln in flux]
    with np.errstate(invalid="ignore", divide="ignore"):
        snr = np.min([flux[ln] / err[ln] for ln in refs], axis=0)
    bins = truncate_at_snr(bins, snr, float(config["r_max_snr"]))
    keep = bins.n_bins
    return bins, {k: v[:keep] for k, v in flux.items()}, {k: v[:keep] for k, v in err.items()}


def bin_radii_kpc(obs, bins, cosmology) -> np.ndarray:
    """The bins' radii [kpc] at the observation's redshift."""
    return np.asarray(bins.radius_arcsec, dtype=float) * kpc_per_arcsec(obs.redshift, cosmology)


def finish_recovery(obs, config: dict, geometry, bins, lm, flux, err, prof, cosmology,
                    gradient=None) -> GalaxyRecovery:
    """Last stage of :func:`analyse`: radii, usable bins and the linear gradient.

    ``gradient``: ``(r_kpc, used, fit)`` if already made (:func:`bin_radii_kpc`,
    :func:`usable_bins`, :func:`~mocksim.recovery.gradient.fit_linear_gradient` of
    them, e.g. by :func:`~mocksim.recovery.batch.complete` for many galaxies at once).
    """
    spectra = config.get("extraction", "maps") == "spectra"
    if gradient is None:
        r_kpc = bin_radii_kpc(obs, bins, cosmology)
        used = usable_bins(flux, err, prof, config)
        fit = fit_linear_gradient(r_kpc, prof.log_oh, gradient_errors(prof), mask=used)
    else:
        r_kpc, used, fit = gradient
    status = STATUS_OK if fit.status == 0 else STATUS_FEW_BINS
    return GalaxyRecovery(
        gradient=fit.slope, gradient_err=fit.slope_err, log_oh_center=fit.intercept,
        log_oh_center_err=fit.intercept_err, status=status, radius_kpc=r_kpc, log_oh=prof.log_oh,
        log_oh_lo=prof.log_oh_lo, log_oh_hi=prof.log_oh_hi, bin_status=prof.status, used=used,
        geometry=geometry, map_obs=obs, linear=fit, line_maps=lm, bins=bins, binned_flux=flux, binned_err=err,
        extraction="spectra" if spectra else "maps", tie_kinematics=bool(config.get("tie_kinematics")),
    )


def _narrowband_maps(obs):
    """[OIII]5007 narrow-band image as a :class:`LineMaps` (geometry, radii, plots)."""
    f, e = narrowband_map(obs, "OIII5007")
    return LineMaps(flux={"OIII5007": f}, flux_err={"OIII5007": e}, velocity_kms={}, sigma_kms={},
                    chi2_nu=np.full(f.shape, np.nan), lines=["OIII5007"], groups=[])


def binned_metallicity(flux, err, config, rng=None):
    """12+log(O/H) per bin with the configured method and calibration."""
    branch = config.get("branch", "auto")
    # a bin with no valid pixels of a line (e.g. outside a grism footprint) has no
    # measurement: NaN marks it missing for the inference
    flux, err = dict(flux), dict(err)
    for ln in flux:
        bad = ~(np.isfinite(err[ln]) & (err[ln] > 0) & np.isfinite(flux[ln]))
        if bad.any():
            flux[ln] = np.where(bad, np.nan, flux[ln])
            err[ln] = np.where(bad, np.nan, err[ln])
    cal = config["calibration"]
    if config.get("calibration_scatter_dex") is not None or config.get("extrapolate_dex") is not None:
        from ..physics.calibrations import get_calibration

        cal = get_calibration(cal, scatter_dex=config.get("calibration_scatter_dex"),
                              extrapolate_dex=config.get("extrapolate_dex"))
    mode = config.get("metallicity_estimate", "median") == "mode"
    res = infer_metallicity(flux, err, cal, method=config.get("metallicity_method", "grid"),
                            dust_law=config.get("dust_law", "smc"), rng=rng,
                            branch_prior=None if branch == "auto" else branch, keep_samples=mode,
                            normalize_likelihood=not mode)
    if mode:
        res.log_oh = np.array([posterior_mode(s["logoh"], s["pdf"]) if isinstance(s, dict) else np.nan
                               for s in res.samples])
        res.samples = None
    return res


def posterior_mode(x, pdf) -> float:
    """Peak of a tabulated 1-D density, refined by a parabola through the top three nodes.

    Seed 001's Method I reports the 12+log(O/H) of minimum chi^2; with flat priors
    that is the posterior mode.
    """
    x, p = np.asarray(x, float), np.asarray(pdf, float)
    ok = np.isfinite(p)
    if ok.sum() == 0:
        return float("nan")
    x, p = x[ok], p[ok]
    k = int(np.argmax(p))
    if 0 < k < x.size - 1:
        x0, x1, x2 = x[k - 1:k + 2]
        y0, y1, y2 = p[k - 1:k + 2]
        den = (x0 - x1) * (x0 - x2) * (x1 - x2)
        a = (x2 * (y1 - y0) + x1 * (y0 - y2) + x0 * (y2 - y1)) / den
        b = (x2**2 * (y0 - y1) + x1**2 * (y2 - y0) + x0**2 * (y1 - y2)) / den
        if a < 0:
            return float(np.clip(-b / (2 * a), x0, x2))
    return float(x[k])


def gradient_errors(prof):
    """Errors of the bins' 12+log(O/H) in the gradient fit: half the 16-84 % range [dex]."""
    return 0.5 * (prof.log_oh_hi - prof.log_oh_lo)


def usable_bins(flux, err, prof, config):
    """Bins used by the gradient fit: S/N of the configured lines >= ``min_snr``, a good
    metallicity status (also 1 with ``keep_edge_bins``) and a finite 12+log(O/H)."""
    min_snr = float(config.get("min_snr", 3.0))
    ok = np.ones(len(prof.log_oh), dtype=bool)
    for ln in config.get("lines", ["Hbeta", "OIII5007"]):
        if ln in flux:
            ok &= flux[ln] / err[ln] >= min_snr
    # status 1 (posterior piles up at the calibration's validity edge: biased) only on
    # request; 2 (too few lines) and 3 (two branches, no prior) never
    status = np.asarray(prof.status)
    ok &= ((status == 0) | (status == 1)) if config.get("keep_edge_bins") else status == 0   # (np.isin: ~10x slower)
    ok &= np.isfinite(prof.log_oh)
    return ok
