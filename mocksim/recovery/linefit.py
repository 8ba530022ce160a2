"""Vectorised emission-line fitting of spectral cubes and (binned) spectra.

Model, per line group of :data:`mocksim.lines.LINE_GROUPS` (one fit per group):

* one Gaussian per line, all lines of the group sharing a line-of-sight velocity
  ``v`` [km/s] (relative to the systemic redshift, ``lambda = lambda_rest (1 + z)
  (1 + v / c)``) and an intrinsic dispersion ``sigma`` [km/s]. The observed
  Gaussian width of line ``l`` is ``sqrt((lambda_l sigma / c)^2 + LSF_l^2)`` with
  ``LSF_l`` the instrumental sigma interpolated at the line's observed wavelength;
* fixed doublet ratios: [OIII]4959 = 5007 / 2.98, [NII]6548 = 6584 / 3.071,
  [OII]3729 = 1.2 x 3727, [SII]6716 = 1.1 x 6731 (module constants of
  :mod:`mocksim.lines`), applied when both members are in coverage;
* a linear (or constant, or no) continuum over the group's wavelength window.

Channels hold the mean flux density over the channel [erg s^-1 cm^-2 um^-1];
with the default ``profile="integrated"`` each Gaussian is integrated
analytically (error functions) over the channel, whose edges are the mid-points
between channel centres (non-uniform grids allowed), so the fitted amplitude is
the line flux ``F = integral f_lambda d lambda`` [erg s^-1 cm^-2]. With
``profile="sampled"`` the Gaussian density is evaluated at channel centres.

Algorithm (all spectra and all groups at once, numpy only): for fixed ``(v,
sigma)`` the model is linear in the line fluxes and continuum coefficients, so a
coarse grid in ``(v, sigma)`` is searched by solving the weighted normal
equations of every spectrum at every grid node (for a common weight vector, e.g.
a uniform error cube, as one matrix product with cached, whitened node bases);
the best node is refined by a parabola through its neighbours and then by
variable-projection Levenberg-Marquardt in ``(v, sigma^2)`` (the linear
parameters are re-solved exactly at every trial point; width as ``sigma^2``,
smooth down to unresolved lines; bounds handled by an active set). All groups'
spectra are stacked into one padded batch so every iteration is one sequence
of array operations, line templates are evaluated only within +-_NSIG widths of
each line, and the normal equations are accumulated from those windows. A
spectrum is converged when the Gauss-Newton model predicts a chi^2 gain below
``_TOL_CHI2`` (parameters within ~0.03 standard errors of the optimum); at most
``_MAX_ITER`` iterations. Spectra are processed in chunks of ``_CHUNK``. Fluxes
are not constrained to be positive. Flux errors come from the Gauss-Newton
covariance at the optimum, marginalised over ``v`` and ``sigma`` (a nonlinear
parameter that sits on its bound is treated as fixed); ``v`` and ``sigma``
errors come from the same matrix.

Code layout: this module holds the public API (:class:`LineMaps`,
:func:`fit_spectra`, :func:`fit_cube`, :func:`lines_in_coverage`,
:data:`TIED_LINES`); :mod:`.linefit_model` the per-group model and the padded
multi-group batch (templates, Gram matrices); :mod:`.linefit_solve` the grid
search, the Levenberg-Marquardt refinement and the covariances.
"""

from dataclasses import dataclass, field

import numpy as np

from mocksim.errors import MocksimInputError
from mocksim.lines import C_KMS, LINE_GROUPS, get_line

from .linefit_model import TIED_LINES, _channel_edges, _check_wave, _grid_key, _group_model
from .linefit_solve import _fit_groups

__all__ = ["LineMaps", "fit_cube", "fit_spectra", "lines_in_coverage", "TIED_LINES"]

_CHUNK = 2048  #: spectra fitted together (bounds memory to ~K * 60 doubles per spectrum and group)


@dataclass
class LineMaps:
    """Result of a line fit; arrays are ``(ny, nx)`` maps or ``(nspec,)`` vectors.

    Attributes
    ----------
    flux, flux_err : dict of str -> ndarray
        Line flux and 1-sigma error [erg s^-1 cm^-2] of every fitted line,
        including tied doublet members (whose errors are the tied fraction of the
        parent's). NaN where the line has no valid data.
    velocity_kms, sigma_kms : dict of str -> ndarray
        Per line group (key = group name in ``LINE_GROUPS``): velocity relative to
        the systemic redshift [km/s] and intrinsic (LSF-deconvolved) dispersion
        [km/s].
    chi2_nu : ndarray
        Reduced chi^2 summed over all fitted groups.
    lines : list of str
        Lines that were fitted (:func:`modelled_lines`).
    groups : list of str
        Groups that were fitted.
    velocity_err_kms, sigma_err_kms : dict of str -> ndarray
        1-sigma errors of ``velocity_kms`` and ``sigma_kms`` [km/s]. The width is
        fitted as ``sigma^2``; ``sigma_err = min(err(sigma^2) / (2 sigma),
        sqrt(err(sigma^2)))``, i.e. a resolution scale for unresolved lines.
    chi2_nu_group : dict of str -> ndarray
        Reduced chi^2 of each group's window.
    """

    flux: dict
    flux_err: dict
    velocity_kms: dict
    sigma_kms: dict
    chi2_nu: np.ndarray
    lines: list
    groups: list
    velocity_err_kms: dict = field(default_factory=dict)
    sigma_err_kms: dict = field(default_factory=dict)
    chi2_nu_group: dict = field(default_factory=dict)


def _outer_edges(wave: np.ndarray) -> tuple[float, float]:
    """Outer channel edges of ``wave`` (as ``_channel_edges(wave)[[0, -1]]``) [micron]."""
    w0, w1, wm2, wm1 = (float(x) for x in wave[[0, 1, -2, -1]])
    return 2 * w0 - 0.5 * (w1 + w0), 2 * wm1 - 0.5 * (wm1 + wm2)


def lines_in_coverage(wave_um, redshift: float, lines=None, *, margin_kms: float = 0.0) -> list:
    """Lines whose observed (systemic) centre falls inside the channel range.

    Parameters
    ----------
    wave_um : array_like
        ``(nwave,)`` increasing channel-centre wavelengths [micron].
    redshift : float
        Systemic redshift.
    lines : sequence of str, optional
        Candidate line names (default: all lines of ``LINE_GROUPS``).
    margin_kms : float
        Required distance of the line centre from the outer channel edges [km/s].

    Returns
    -------
    list of str
        The covered subset of ``lines``, in input order.
    """
    wave = _check_wave(wave_um)
    lo, hi = _outer_edges(wave)
    if lines is None:
        lines = [ln for grp in LINE_GROUPS.values() for ln in grp]
    out = []
    f = margin_kms / C_KMS
    lo, hi = lo * (1 + f), hi * (1 - f)
    for name in lines:
        lam = get_line(name).observed_um(redshift)
        if lo <= lam <= hi:
            out.append(name)
    return out


#: Lines whose centre lies up to this many LSF sigmas beyond the channel range are
#: modelled too: their wing reaches into the band and would otherwise be fitted by the
#: in-band lines of their group (their own flux is NaN: under half of it is covered).
EDGE_REACH_SIGMA = 5.0


def modelled_lines(wave_um, redshift: float, lsf_sigma_um) -> set:
    """Names of the lines a fit models: :func:`lines_in_coverage` and those whose centre
    lies within ``EDGE_REACH_SIGMA`` LSF sigmas beyond the outer channel edges."""
    wave = _check_wave(wave_um)
    lsf = np.broadcast_to(np.asarray(lsf_sigma_um, dtype=float), wave.shape)
    lo, hi = _outer_edges(wave)
    lo -= EDGE_REACH_SIGMA * float(lsf[0])
    hi += EDGE_REACH_SIGMA * float(lsf[-1])
    return {ln for grp in LINE_GROUPS.values() for ln in grp if lo <= get_line(ln).observed_um(redshift) <= hi}


def _check_ranges(velocity_range_kms, sigma_range_kms, continuum, window_kms, profile):
    vr = tuple(float(x) for x in velocity_range_kms)
    sr = tuple(float(x) for x in sigma_range_kms)
    checks = [(len(vr) == 2 and vr[0] < vr[1], "velocity_range_kms", "(low, high), low < high"),
              (len(sr) == 2 and 0 < sr[0] < sr[1], "sigma_range_kms", "(low, high), 0 < low < high"),
              (continuum in ("linear", "constant", "none", None), "continuum",
               "'linear', 'constant' or 'none'"),
              (np.isfinite(window_kms) and window_kms > 0, "window_kms", "> 0"),
              (profile in ("integrated", "sampled"), "profile", "'integrated' or 'sampled'")]
    for ok, key, allowed in checks:
        if not ok:
            value = dict(velocity_range_kms=velocity_range_kms, sigma_range_kms=sigma_range_kms,
                         continuum=continuum, window_kms=window_kms, profile=profile)[key]
            raise MocksimInputError(f"{key}: must be {allowed}, got {value!r}")
    return vr, sr


def fit_spectra(wave_um, spectra, errors, redshift: float, lsf_sigma_um, lines=None, *,
                velocity_range_kms=(-600.0, 600.0), sigma_range_kms=(5.0, 500.0),
                continuum: str = "linear", window_kms: float = 3000.0,
                profile: str = "integrated") -> LineMaps:
    """Fit emission lines in many spectra at once.

    Parameters
    ----------
    wave_um : array_like
        ``(nwave,)`` increasing channel-centre wavelengths [micron]; may be non-uniform.
    spectra, errors : array_like
        ``(nspec, nwave)`` mean flux density per channel and its 1-sigma error
        [erg s^-1 cm^-2 um^-1]. Channels with non-finite data/error or error <= 0
        get zero weight.
    redshift : float
        Systemic redshift (velocities are relative to it).
    lsf_sigma_um : float or array_like
        Instrumental Gaussian sigma [micron], scalar or ``(nwave,)``.
    lines : sequence of str, optional
        Lines to fit (default: every line of ``LINE_GROUPS``). Each group with at
        least one requested line is fitted with *all* of its lines in coverage
        (they are in the data whether requested or not), and those just beyond the
        band whose wing reaches into it (:func:`modelled_lines`; their own flux is
        NaN, under half of it being covered).
    velocity_range_kms : (float, float)
        Allowed velocity range [km/s].
    sigma_range_kms : (float, float)
        Allowed intrinsic dispersion range [km/s].
    continuum : {"linear", "constant", "none"}
        Continuum model in each group's window.
    window_kms : float
        The window extends ``window_kms / 2`` [km/s] (at least 5 LSF sigmas)
        beyond the group's bluest and reddest lines.
    profile : {"integrated", "sampled"}
        Channel-integrated or centre-sampled Gaussian (see module docstring).

    Returns
    -------
    LineMaps
        With ``(nspec,)`` arrays.
    """
    vr, sr = _check_ranges(velocity_range_kms, sigma_range_kms, continuum, window_kms, profile)
    wave = _check_wave(wave_um)
    Y = np.asarray(spectra)
    E = np.asarray(errors)
    if Y.ndim == 1:
        Y = Y[None]
    if E.ndim == 1:
        E = E[None]
    if Y.ndim != 2 or Y.shape[1] != wave.size or E.shape != Y.shape:
        raise MocksimInputError(
            f"spectra/errors: need shape (nspec, {wave.size}), got {Y.shape} and {E.shape}")
    lsf = np.broadcast_to(np.asarray(lsf_sigma_um, dtype=float), wave.shape)
    if not np.all(np.isfinite(lsf)) or np.any(lsf < 0):
        raise MocksimInputError("lsf_sigma_um: must be finite and >= 0")
    edges = _channel_edges(wave)

    requested = list(lines) if lines is not None else [ln for g in LINE_GROUPS.values() for ln in g]
    for name in requested:
        get_line(name)
    covered = modelled_lines(wave, redshift, lsf)
    gkey = _grid_key(wave, edges, lsf)
    gms = []
    for gname, members in LINE_GROUPS.items():
        names = [ln for ln in members if ln in covered]
        if not names or not any(ln in requested for ln in members):
            continue
        gm = _group_model(names, wave, edges, lsf, redshift, window_kms,
                          "none" if continuum is None else continuum, profile, gkey)
        if gm.wave.size < gm.nlin + 2:                 # line at the very edge: skip
            continue
        gm.name = gname
        gms.append(gm)
    nspec = Y.shape[0]
    out = LineMaps({}, {}, {}, {}, np.full(nspec, np.nan), [], [])
    if not gms:
        return out
    # only the channels of the groups' windows are read
    sel = np.unique(np.concatenate([np.arange(gm.sl.start, gm.sl.stop) for gm in gms]))
    for gm in gms:
        gm.cols = np.searchsorted(sel, np.arange(gm.sl.start, gm.sl.stop))
    Ys = np.asarray(Y[:, sel], dtype=float)
    Es = np.asarray(E[:, sel], dtype=float)
    good = np.isfinite(Ys) & np.isfinite(Es) & (Es > 0)
    scale = float(np.median(Es[good])) if np.any(good) else 1.0
    W = np.where(good, 1.0 / np.where(good, Es / scale, 1.0) ** 2, 0.0)
    Ys = np.where(good, Ys / scale, 0.0)

    res = [{} for _ in gms]
    for i0 in range(0, nspec, _CHUNK):
        parts = _fit_groups(gms, Ys[i0:i0 + _CHUNK], W[i0:i0 + _CHUNK], vr, sr)
        for r, part in zip(res, parts):
            for k, val in part.items():
                r.setdefault(k, []).append(val)
    chi2_tot, dof_tot = np.zeros(nspec), np.zeros(nspec)
    for gm, r in zip(gms, res):
        r = {k: np.concatenate(val) for k, val in r.items()}
        for il, ln in enumerate(gm.lines):
            c, ratio = gm.comp_of[il], gm.ratio[il] * scale
            out.flux[ln] = np.where(r["ok"][:, c], r["amp"][:, c] * ratio, np.nan)
            out.flux_err[ln] = np.where(r["ok"][:, c], r["amp_err"][:, c] * ratio, np.nan)
            out.lines.append(ln)
        any_ok = np.any(r["ok"], axis=1)
        for dst, key in ((out.velocity_kms, "v"), (out.sigma_kms, "s"),
                         (out.velocity_err_kms, "v_err"), (out.sigma_err_kms, "s_err")):
            dst[gm.name] = np.where(any_ok, r[key], np.nan)
        use = any_ok & (r["ndof"] > 0)
        out.chi2_nu_group[gm.name] = np.where(use, r["chi2"] / np.maximum(r["ndof"], 1), np.nan)
        chi2_tot += np.where(use, r["chi2"], 0.0)
        dof_tot += np.where(use, r["ndof"], 0)
        out.groups.append(gm.name)
    out.chi2_nu = np.where(dof_tot > 0, chi2_tot / np.maximum(dof_tot, 1), np.nan)
    return out


def fit_cube(obs, lines=None, *, velocity_range_kms=(-600.0, 600.0), sigma_range_kms=(5.0, 500.0),
             continuum: str = "linear", window_kms: float = 3000.0,
             profile: str | None = None) -> LineMaps:
    """Fit emission lines in every spaxel of an IFU :class:`~mocksim.observation.Observation`.

    Parameters
    ----------
    obs : Observation
        Cube with ``data``/``error`` ``(nwave, ny, nx)`` [erg s^-1 cm^-2 um^-1],
        ``wave_um``, ``lsf_sigma_um`` [micron] and ``redshift``.
    lines, velocity_range_kms, sigma_range_kms, continuum, window_kms
        See :func:`fit_spectra`.
    profile : {"integrated", "sampled"} or None
        See :func:`fit_spectra`; ``None`` uses ``obs.meta["spectral_sampling"]``
        if the instrument recorded how it sampled the spectrum, else
        ``"integrated"``.

    Returns
    -------
    LineMaps
        With ``(ny, nx)`` maps; fluxes in [erg s^-1 cm^-2] per spaxel.
    """
    data = np.asarray(obs.data, dtype=float)
    err = np.asarray(obs.error, dtype=float)
    if data.ndim != 3 or err.shape != data.shape:
        raise MocksimInputError(f"obs.data/obs.error: need matching (nwave, ny, nx) cubes, got "
                                f"{data.shape} and {err.shape}")
    nw, ny, nx = data.shape
    if profile is None:
        profile = (getattr(obs, "meta", None) or {}).get("spectral_sampling", "integrated")
    res = fit_spectra(obs.wave_um, data.reshape(nw, -1).T, err.reshape(nw, -1).T, obs.redshift,
                      obs.lsf_sigma_um, lines, velocity_range_kms=velocity_range_kms,
                      sigma_range_kms=sigma_range_kms, continuum=continuum,
                      window_kms=window_kms, profile=profile)
    for d in (res.flux, res.flux_err, res.velocity_kms, res.sigma_kms, res.velocity_err_kms,
              res.sigma_err_kms, res.chi2_nu_group):
        for k in d:
            d[k] = d[k].reshape(ny, nx)
    res.chi2_nu = res.chi2_nu.reshape(ny, nx)
    return res
