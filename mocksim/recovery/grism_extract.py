"""Emission-line maps from slitless (WFSS) observations, as observers make them.

:func:`extract_line_maps` turns a ``kind="grism"`` :class:`~mocksim.observation.Observation`
(layout: :mod:`mocksim.instruments.grism`) into a :class:`~mocksim.recovery.linefit.LineMaps`
on a drizzle-like grid of ``map_pixscale_arcsec`` (0.06'' NIRCam, 0.03'' NIRISS, seed 000),
so the common binning / metallicity / gradient code runs unchanged. It uses only what an
observer has: dispersed images and errors, direct images, the dispersion solution and the
systemic redshift.

Algorithm
---------
1. **Segmentation** of the detection image (:mod:`.grism_segment`): pixels above
   ``max(footprint_nsigma x error, footprint_rel x peak)``; the region nearest the field
   centre, grown by ``footprint_grow_px``, is the target footprint ``S``; other regions
   are neighbours.
2. **Continuum** (``continuum="pixel"``): each footprint or neighbour pixel has a flat
   f_lambda spectrum dispersed across its filter's top-hat band (the simulator's exact
   weights). It is fitted per cross-dispersion row of each beam to the columns not
   covered by any line of the target (footprint extent +- ``v_max_kms`` + 2 px), with a
   weak prior (1e-3 of the data weight) towards a multiple of the direct-image row
   profile, and subtracted (:func:`~.grism_continuum.continuum_coefficients`, all rows
   at once; only the rows and pixels that step 3 reads are fitted and evaluated, which
   leaves them unchanged: each row is an independent fit). Its noise is not propagated
   (it adds ~3-7 % to the variance of footprint-wide sums, negligible per pixel).
   Neighbours' lines are not modelled and remain as contamination.
3. **Line maps**, per filter and jointly over the filter's beams: every requested line
   (``lines``) is a free image on ``S``; doublets with fixed ratios
   (:data:`~mocksim.recovery.linefit.TIED_LINES`) share one map with a two-line kernel.
   Other lines in the band, and requested lines closer than ``min_separation_px`` to a
   brighter mapped line (``LineMaps.blends``; e.g. [NII] next to Halpha at R ~ 150),
   are direct-image templates with one free flux each (as grizli models its spectra), so
   their light does not leak into the maps; they are not reported. Each map lives on its
   own grid, offset by the fractional part of the line's dispersion offset along each
   dispersion axis, so lines land on whole columns (no deconvolution of sub-pixel shifts,
   as in drizzling); with two orthogonal grisms the remaining cross-dispersion offset is
   modelled with a flux-conserving shift stencil (:func:`~.grism_solve._shift_stencil`, quintic:
   ``STENCIL_ORDER``), as are the sub-pixel offsets of tied doublet partners. The
   weighted linear least-squares problem is solved by Cholesky (dense, or per
   cross-dispersion row plus a Schur complement for the few global unknowns when there
   is a single grism orientation); errors are the diagonal of the inverse normal
   matrix. Regularisation, relative to the median data weight: ``regularization``
   (1e-3) pulls each map towards ``a_k x`` the direct image (only decisive where the
   data are degenerate) and ``checker_regularization`` (1e-2, two grisms only) damps
   the 2x2 checkerboard that cross-interpolation leaves free.
   Overlapping lines in a *single* grism (e.g. NIRISS Hbeta/[OIII] with GR150R only) are
   degenerate; there ``blend_mode="auto"`` solves one map at a time with the other
   lines as templates, i.e. grizli's ``drizzle_fit_lines`` (biased where the line
   morphologies differ from the direct image). The velocity field is not modelled:
   velocity shifts remain as smearing along each grism's dispersion axis.
4. **Common grid, then drizzle**: each map is first resampled from its own grid to the
   common detector grid (offset 0: the grid of the direct image and of ``S``) with the
   same flux-conserving stencil, then drizzled to the output grid (centred on the field
   centre) with exact pixel-overlap weights (pixfrac = 1; flux conserving); variances
   propagate with the squared weights of the combined operator; all maps share one NaN
   mask (the drizzled footprint). Drizzling each map straight from its own offset grid
   would smooth every line by a different, phase-dependent amount (a pixfrac = 1
   drizzle spreads a pixel over an output cell according to its sub-pixel position),
   so line *ratios* of compact, centrally peaked sources would depend erratically on
   redshift (R3 errors up to ~0.015 dex in the central annulus of a 0.8 kpc disk at
   z ~ 7.5 with NIRCam); on the common grid every line gets the same pixel response and
   only the stencil's interpolation error (< 0.002 dex there) differs between lines.
   ``noise_correlation`` is the exact true / naive standard deviation of the [OIII]5007
   (else first) map summed over the footprint, from the solution's covariance.

Returned :class:`LineMaps`: ``flux``/``flux_err`` [erg s^-1 cm^-2 per map pixel];
``velocity_kms``/``sigma_kms`` and their errors are **zeros: kinematics are not measured
in grism mode**; ``chi2_nu`` is each filter's reduced chi^2 over its footprint (mean over
filters), also per line group in ``chi2_nu_group``. Extra attributes: ``pixscale_arcsec``
(map pixel), ``noise_correlation`` (and per line ``noise_correlation_lines``), ``shape``,
``center_xy`` (field centre in map pixels), ``blends``, ``footprint`` (detector grid),
``map_offsets_px`` (per mapped parent line, the ``(x, y)`` offset [detector pixels] of the
grid on which it was solved, i.e. where the data sample it; the reported maps are all
resampled to offset ``(0, 0)``), ``solve_mode``. :func:`map_observation` wraps them in an
Observation (``shape``, ``pixscale_arcsec``, ``noise_correlation`` of the maps) for the
binning code.
"""
from __future__ import annotations

import functools
import inspect

import numpy as np

from ..errors import MocksimInputError
from ..lines import C_KMS, LINE_GROUPS, LINES
from ..observation import Observation
from .grism_continuum import continuum_coefficients_many
from .grism_segment import _dilate, _segment, _segment_many
# STENCIL_ORDER and _shift_stencil re-exported: they define the documented resampling (step 3-4)
from .grism_solve import STENCIL_ORDER, _shift_stencil  # noqa: F401
from .grism_solve import (STENCIL_REACH, _drizzle_lags, _drizzle_many, _drizzle_matrix, _overlapping,
                          _solve_filter_many)
from .noise_cov import MapNoise, sum_variance
from .linefit import TIED_LINES, LineMaps

__all__ = ["extract_line_maps", "extract_line_maps_many", "map_observation", "LINE_PRIORITY", "DEFAULT_MAP_LINES"]

#: Order in which blended lines keep their own map (the first of a close pair wins).
LINE_PRIORITY = ("Halpha", "OIII5007", "Hbeta", "OII3727", "NII6584", "SII6731", "NeIII3869",
                 "Hgamma", "Hdelta", "OIII4363")


def _priority(name):
    return LINE_PRIORITY.index(name) if name in LINE_PRIORITY else len(LINE_PRIORITY) + list(LINES).index(name)


def _column(lam, dispersion):
    """Dispersed-column offset of wavelength ``lam`` [um] from a source pixel [pixels];
    ``dispersion = (wave_start_um, dispersion_um_per_pix, margin_px)`` of the geometry."""
    w0, disp, marg = dispersion
    return (lam - w0) / disp + marg


@functools.lru_cache(maxsize=256)
def _line_setup(filt_band, z, dispersion, primary, min_sep):
    """Line models of one filter (cached: treat the result as read-only).

    ``dispersion``: ``(wave_start_um, dispersion_um_per_pix, margin_px)`` of the
    geometry (column of a wavelength: ``(lam - wave_start) / dispersion + margin``);
    ``primary``: frozenset of the lines to map. Returns ``(models, blends, in_band,
    offsets, groups_of)``: ``models`` maps a parent line to ``{"kind": "map" | "template",
    "parts": ((line, ratio, column offset), ...)}`` (parent first, then its tied
    doublet partners); ``blends`` maps a mapped line to the lines within ``min_sep``
    of it, which are modelled as templates instead; ``in_band`` lists every line of
    LINES inside the band, ``offsets`` their column offsets, ``groups_of`` the
    LINE_GROUPS of each model's lines.
    """
    def col_off(lam):
        return _column(lam, dispersion)

    lo, hi = filt_band
    in_band = tuple(ln for ln in LINES if lo <= LINES[ln].observed_um(z) <= hi)
    children = {ln: TIED_LINES[ln] for ln in in_band if ln in TIED_LINES and TIED_LINES[ln][0] in in_band}
    free = [ln for ln in in_band if ln not in children]
    free.sort(key=lambda ln: (ln not in primary, _priority(ln)))
    models, blends = {}, {}
    for ln in free:
        off = col_off(LINES[ln].observed_um(z))
        kind = "map" if ln in primary else "template"
        if kind == "map":
            host = next((p for p, m in models.items()
                         if m["kind"] == "map" and abs(m["parts"][0][2] - off) < min_sep), None)
            if host is not None:  # unresolved from a brighter mapped line
                kind = "template"
                blends.setdefault(host, []).append(ln)
        models[ln] = {"kind": kind, "parts": [(ln, 1.0, off)]}
    for ch, (par, ratio) in children.items():
        models[par]["parts"].append((ch, ratio, col_off(LINES[ch].observed_um(z))))
    for m in models.values():
        m["parts"] = tuple(m["parts"])
    offsets = tuple(col_off(LINES[ln].observed_um(z)) for ln in in_band)
    groups_of = {p: tuple(g for g, gl in LINE_GROUPS.items() if any(ln in gl for ln, _, _ in m["parts"]))
                 for p, m in models.items()}
    return models, {h: tuple(v) for h, v in blends.items()}, in_band, offsets, groups_of


#: Lines mapped by default; every other line in a band is modelled as a
#: direct-image template with one free flux (and not reported).
DEFAULT_MAP_LINES = ("OII3727", "OII3729", "NeIII3869", "Hgamma", "Hbeta", "OIII4959", "OIII5007",
                     "NII6548", "Halpha", "NII6584", "SII6716", "SII6731")


def extract_line_maps(obs, lines=None, *, map_pixscale_arcsec=None, continuum: str = "pixel",
                      footprint=None, footprint_nsigma: float = 2.0, footprint_rel: float = 1e-3,
                      footprint_grow_px: int = 2, min_separation_px: float = 2.0,
                      regularization: float = 1e-3, checker_regularization: float = 1e-2,
                      v_max_kms: float = 500.0, max_unknowns: int = 3000,
                      blend_mode: str = "auto") -> LineMaps:
    """Extract emission-line maps from a slitless observation (see module docstring).

    Parameters
    ----------
    obs : Observation
        ``kind="grism"`` observation from :mod:`mocksim.instruments.grism` (or the same
        layout with model data, as in forward fits: only ``obs.data``/``obs.error``,
        ``obs.redshift`` and ``obs.extras`` are read).
    lines : sequence of str, optional
        Lines to map (default :data:`DEFAULT_MAP_LINES`), where inside a filter band
        at the systemic redshift. Every other line of :data:`mocksim.lines.LINES` in a
        band is still modelled, as the direct image times one free flux, so that it
        does not leak into the maps.
    map_pixscale_arcsec : float, optional
        Output pixel [arcsec]; default ``obs.extras["map_pixscale_arcsec"]``.
    continuum : {"pixel", "none"}
        Per-pixel flat continuum model, or none.
    footprint : ndarray of bool, optional
        ``(n, n)`` detector-grid target footprint (overrides segmentation).
    footprint_nsigma, footprint_rel, footprint_grow_px
        Segmentation threshold (in direct-image sigma; relative to the peak) and growth [px].
    min_separation_px : float
        Lines closer than this on the detector [pixels] are merged (blends).
    regularization, checker_regularization : float
        Relative weights of the direct-image prior and of the checkerboard damping.
    v_max_kms : float
        Velocity half-range of the line windows masked in the continuum fit [km/s].
    max_unknowns : int
        Cap on (maps x footprint pixels) per filter; the footprint threshold is
        raised until it fits.
    blend_mode : {"auto", "joint", "per-line"}
        ``"joint"``: all maps of a filter solved together; ``"per-line"``: one map at a
        time with every other line as a direct-image template (grizli's
        ``drizzle_fit_lines``); ``"auto"``: per-line only for a single grism
        orientation whose line images overlap within the footprint (there the joint
        problem is degenerate), else joint.

    Returns
    -------
    LineMaps
        With the extra attributes listed in the module docstring.
    """
    return extract_line_maps_many(
        [obs], lines, map_pixscale_arcsec=map_pixscale_arcsec, continuum=continuum, footprints=[footprint],
        footprint_nsigma=footprint_nsigma, footprint_rel=footprint_rel, footprint_grow_px=footprint_grow_px,
        min_separation_px=min_separation_px, regularization=regularization,
        checker_regularization=checker_regularization, v_max_kms=v_max_kms, max_unknowns=max_unknowns,
        blend_mode=blend_mode)[0]


def extract_line_maps_many(observations, lines=None, *, footprints=None, **options) -> list:
    """:func:`extract_line_maps` of several observations, with shared work batched.

    Parameters
    ----------
    observations : sequence of Observation
        ``kind="grism"`` observations (any mix of instruments and redshifts).
    lines : sequence of str, optional
        As for :func:`extract_line_maps`, for every observation.
    footprints : sequence of (ndarray or None), optional
        Per observation, the ``footprint`` of :func:`extract_line_maps`.
    **options
        The other keyword arguments of :func:`extract_line_maps`, for every observation.

    Returns
    -------
    list of LineMaps
        Bit-identical to one :func:`extract_line_maps` call per observation: the
        continuum fits of beams with the same band, line windows and row size are
        solved in one call (:func:`~.grism_continuum.continuum_coefficients_many`),
        which does per row the arithmetic of the one-beam call.
    """
    opts = dict(_DEFAULTS, **options)
    if set(opts) != set(_DEFAULTS):
        raise TypeError(f"extract_line_maps_many: unknown option(s) {sorted(set(opts) - set(_DEFAULTS))}")
    footprints = [None] * len(observations) if footprints is None else list(footprints)
    preps = [_prepare(obs, lines, opts) for obs in observations]
    segs = _segment_prepared(preps, footprints, opts)          # 1. segmentation, batched
    preps = [_prepare_fits(st, fp, sg, opts) for st, fp, sg in zip(preps, footprints, segs)]
    # 2. continuum: the beams of all observations, grouped by band and line windows
    jobs = {}
    for k, st in enumerate(preps):
        for b, (key, args) in enumerate(st["cont_jobs"]):
            jobs.setdefault(key, []).append((k, b, args))
    for key, group in jobs.items():
        for (k, b, _), fit in zip(group, continuum_coefficients_many([g[2] for g in group], *key[1:])):
            preps[k]["cont"][b] = fit
    # 3. the line fits of every observation and filter, in one call
    fits, solves = [], []
    for st in preps:
        solves.append(_plan_fits(st, opts["blend_mode"], fits))
    results = _solve_filter_many(fits, opts["regularization"], opts["checker_regularization"])
    return _finish_many(preps, [{f: (mode, [(par, results[q]) for par, q in idx]) for f, (mode, idx) in sv.items()}
                                for sv in solves])


#: Keyword options of :func:`extract_line_maps` (besides ``footprint``) and their defaults,
#: read from its signature (the one place they are written).
_DEFAULTS = {k: p.default for k, p in inspect.signature(extract_line_maps).parameters.items()
             if p.kind is inspect.Parameter.KEYWORD_ONLY and k != "footprint"}


def _prepare(obs, lines, opts):
    """Checks and line set-up of one observation (a dict; then :func:`_prepare_fits`)."""
    continuum, blend_mode = opts["continuum"], opts["blend_mode"]
    map_pixscale_arcsec, min_separation_px = opts["map_pixscale_arcsec"], opts["min_separation_px"]
    if getattr(obs, "kind", None) != "grism":
        raise MocksimInputError(f"obs.kind: extract_line_maps needs a grism observation, got {obs.kind!r}")
    ex = obs.extras
    geo = ex["geometry"]
    n = int(geo["field_shape"][0])
    disp, w0, marg = geo["dispersion_um_per_pix"], geo["wave_start_um"], geo["margin_px"]
    z = float(obs.redshift)
    data = np.asarray(obs.data, float)
    err = np.asarray(obs.error, float)
    nb, _, n_disp = data.shape
    beams = ex["beams"]
    if len(beams) != nb or data.shape[1] != n or err.shape != data.shape:
        raise MocksimInputError("obs.data: shape does not match obs.extras['beams'/'geometry']")
    if continuum not in ("pixel", "none"):
        raise MocksimInputError(f"continuum: {continuum!r} is not one of pixel, none")
    if blend_mode not in ("auto", "joint", "per-line"):
        raise MocksimInputError(f"blend_mode: {blend_mode!r} is not one of auto, joint, per-line")
    primary = frozenset(DEFAULT_MAP_LINES if lines is None else lines)
    unknown = primary - set(LINES)
    if unknown:
        raise MocksimInputError(f"lines: unknown line(s) {sorted(unknown)}; known: {', '.join(LINES)}")
    p_det = float(geo["pixscale_arcsec"])
    p_map = float(map_pixscale_arcsec or ex.get("map_pixscale_arcsec") or p_det)

    def col_off(lam):
        return _column(lam, (w0, disp, marg))

    filters = []
    for bm in beams:
        if bm["filter"] not in [f for f, _ in filters]:
            filters.append((bm["filter"], tuple(bm["band_um"])))
    setup = {f: _line_setup(band, z, (w0, disp, marg), primary, min_separation_px) for f, band in filters}
    kmax = max([sum(m["kind"] == "map" for m in s[0].values()) for s in setup.values()] + [1])

    det, det_err = np.asarray(ex["direct_image"], float), np.asarray(ex["direct_error"], float)
    return dict(obs=obs, n=n, disp=disp, data=data, err=err, beams=beams, p_det=p_det, p_map=p_map,
                filters=filters, setup=setup, kmax=kmax, det=det, det_err=det_err, col_off=col_off)


def _segment_prepared(preps, footprints, opts):
    """Step 1 of prepared observations without a given footprint, those with the same
    image size in one :func:`_segment_many` call: ``[(tgt, neigh) or None]``."""
    by_n = {}
    for q, (st, fp) in enumerate(zip(preps, footprints)):
        if fp is None:
            by_n.setdefault(st["det"].shape, []).append(q)
    out = [None] * len(preps)
    for idx in by_n.values():
        det, det_err = (np.stack([preps[q][k] for q in idx]) for k in ("det", "det_err"))
        tgt, neigh = _segment_many(det, det_err, opts["footprint_nsigma"], opts["footprint_rel"],
                                   opts["footprint_grow_px"])
        for q, t, nb in zip(idx, tgt, neigh):
            out[q] = (t, nb)
    return out


def _prepare_fits(st, footprint, seg, opts):
    """The footprint (step 1; ``seg``: its :func:`_segment_prepared` segmentation) and the
    continuum jobs (step 2) of an observation prepared by :func:`_prepare`."""
    continuum, v_max_kms = opts["continuum"], opts["v_max_kms"]
    n, disp, data, err, beams, ex = st["n"], st["disp"], st["data"], st["err"], st["beams"], st["obs"].extras
    setup, col_off = st["setup"], st.pop("col_off")
    det, det_err = st.pop("det"), st.pop("det_err")
    # 1. segmentation
    if footprint is not None:
        tgt = np.asarray(footprint, bool)
        neigh = np.zeros_like(tgt)
    else:
        rel = opts["footprint_rel"]
        tgt, neigh = seg
        while tgt.sum() * st["kmax"] > opts["max_unknowns"] and rel < 0.5:
            rel *= 1.5
            tgt, neigh = _segment(det, det_err, opts["footprint_nsigma"], rel, opts["footprint_grow_px"])
    if tgt.shape != (n, n) or not tgt.any():
        raise MocksimInputError("footprint: empty or of the wrong shape")

    # 2. continuum (per beam: coefficients; evaluated only where the line fit reads the data)
    jobs = []
    if continuum == "pixel":
        cont_mask = tgt | neigh
        for b, bm in enumerate(beams):
            band = tuple(bm["band_um"])
            tr = bm["grism"] == "C"
            prior = np.asarray(ex["direct_images"][bm["filter"]], float)
            pad = 2.0 + v_max_kms / C_KMS * band[1] / disp
            # rows the line fit reads: the footprint's, and with two orientations its
            # neighbours within the cross-dispersion stencil
            need = (tgt.T if tr else tgt).any(axis=1)
            if len({x["grism"] for x in beams if x["filter"] == bm["filter"]}) > 1:
                need = _dilate(need, STENCIL_REACH)
            key = (data.shape[1:], float(col_off(band[0])), float(col_off(band[1])), setup[bm["filter"]][3], pad)
            jobs.append((key, (data[b], err[b], cont_mask.T if tr else cont_mask, tgt.T if tr else tgt,
                               prior.T if tr else prior, need)))

    st.update(tgt=tgt, cont_jobs=jobs, cont=[None] * len(jobs) if continuum == "pixel" else None)
    return st


def _plan_fits(st, blend_mode, fits):
    """The line fits of one prepared observation (step 3), appended to ``fits`` as
    :func:`~.grism_solve._solve_filter_many` jobs; returns per filter with line models
    ``(mode, [(parent line or None, index in fits), ...])`` (per-line mode: one fit per map)."""
    beams, tgt, ex = st["beams"], st["tgt"], st["obs"].extras
    plan = {}
    for f, _ in st["filters"]:
        models = st["setup"][f][0]
        if not models:
            continue
        bsel = [b for b, bm in enumerate(beams) if bm["filter"] == f]
        prior_img = np.maximum(np.asarray(ex["direct_images"][f], float), 0.0)
        mode = blend_mode
        if mode == "auto":
            single = len({beams[b]["grism"] for b in bsel}) == 1
            mode = "per-line" if single and _overlapping(models, tgt, beams[bsel[0]]["grism"]) else "joint"
        if mode == "joint":
            one_by_one = [(None, models)]
        else:  # grizli-like: one free map at a time, the other lines as direct-image templates
            one_by_one = [(par, {p: {**m, "kind": "map" if p == par else "template"} for p, m in models.items()})
                          for par in [p for p, m in models.items() if m["kind"] == "map"]]
        plan[f] = (mode, [(par, len(fits) + k) for k, (par, _) in enumerate(one_by_one)])
        fits += [(st["data"], st["err"], st["cont"], beams, bsel, m, tgt, prior_img) for _, m in one_by_one]
    return plan


def _filter_maps(st, f, solved_f):
    """The solved maps of filter ``f`` of a prepared observation (``solved_f``: its entry of
    :func:`_finish_many`'s ``solved``): a dict of ``mode``, ``pars`` (mapped lines) and per
    line ``values``, ``variances``, ``sky`` (grid offsets), ``true_var``, ``rho``; and ``chi2``."""
    mode, fits = solved_f
    if mode == "joint":
        values, variances, sky, chi2, true_var, rho = fits[0][1]
    else:
        values, variances, sky, true_var, rho, chi2s = {}, {}, {}, {}, {}, []
        for par, (v1, var1, sky1, c1, t1, r1) in fits:
            values[par], variances[par], sky[par], true_var[par], rho[par] = v1[par], var1[par], sky1[par], t1[par], r1[par]
            chi2s.append(c1)
        chi2 = float(np.mean(chi2s)) if chi2s else np.nan
    return dict(mode=mode, pars=list(values), values=values, variances=variances, sky=sky,
                true_var=true_var, rho=rho, chi2=chi2)


def _finish_many(preps, solved):
    """Line maps of prepared observations (steps 3-4) from their line fits.

    ``solved``: per observation, :func:`_plan_fits`'s plan with each fit's result in place
    of its index. The maps of all observations and filters with the same grids, map
    offsets and line models are drizzled together (:func:`~.grism_solve._drizzle_many`:
    the same arithmetic per map as alone), and so are their footprints.
    """
    geo = [(st["n"], st["p_det"], max(int(round(st["n"] * st["p_det"] / st["p_map"])), 1), st["p_map"])
           for st in preps]
    # the drizzled footprint of each observation (from the common detector grid, offset 0)
    bad = [None] * len(preps)
    by_geo = {}
    for q, key in enumerate(geo):
        by_geo.setdefault(key, []).append(q)
    for key, idx in by_geo.items():
        wd = _drizzle_matrix(*key)
        for q, b in zip(idx, (wd @ np.stack([preps[q]["tgt"] for q in idx]).astype(float) @ wd.T) <= 1e-9):
            bad[q] = b
    # 3. line maps per filter, 4. drizzle
    maps = [{f: _filter_maps(st, f, sv[f]) for f, _ in st["filters"] if f in sv} for st, sv in zip(preps, solved)]
    jobs = {}
    for q, mq in enumerate(maps):
        for f, m in mq.items():
            if m["pars"]:
                models = preps[q]["setup"][f][0]
                key = (geo[q], tuple(m["sky"][p] for p in m["pars"]), tuple(models[p]["parts"] for p in m["pars"]))
                jobs.setdefault(key, []).append((q, m))
    for (g, offsets, parts), members in jobs.items():
        holes = np.stack([bad[q] for q, _ in members])
        out, eout, naive = _drizzle_many([preps[q]["tgt"] for q, _ in members], [m["values"] for _, m in members],
                                         [m["variances"] for _, m in members], members[0][1]["pars"],
                                         [preps[q]["disp"] for q, _ in members], g, offsets, holes)
        fin = np.isfinite(out)
        cmap = np.where(fin, np.array([m["chi2"] for _, m in members], float).reshape(-1, 1, 1, 1), np.nan)
        agree = (fin == ~holes[:, None]).reshape(len(members), -1).all(axis=1)
        flux, flux_err = {}, {}
        for k, pp in enumerate(parts):
            for ln, ratio, _ in pp:
                flux[ln], flux_err[ln] = out[:, k] * ratio, eout[:, k] * ratio
        for i, (_, m) in enumerate(members):
            m.update(naive=naive[i], fin=fin[i], cmap=cmap[i], agree=bool(agree[i]),
                     flux={ln: v[i] for ln, v in flux.items()}, flux_err={ln: v[i] for ln, v in flux_err.items()})
    return [_line_maps(st, mq, g[2], b) for st, mq, g, b in zip(preps, maps, geo, bad)]


def _line_maps(st, maps, n_out, bad):
    """:class:`LineMaps` of one prepared observation from its drizzled filter maps
    (:func:`_finish_many`; ``bad``: the holes of its drizzled footprint)."""
    filters, setup, tgt, p_map = st["filters"], st["setup"], st["tgt"], st["p_map"]
    flux, flux_err, chi2_group, offsets, blends_all, corr, noise = {}, {}, {}, {}, {}, {}, {}
    modes, finite, chi2_maps, agree = {}, [], [], True
    for f, _ in filters:
        models, blends, _, _, groups_of = setup[f]
        blends_all.update({h: list(v) for h, v in blends.items()})
        if f not in maps:
            continue
        m = maps[f]
        modes[f] = m["mode"]
        if not m["pars"]:
            continue
        naive = m["naive"]
        for k, par in enumerate(m["pars"]):
            offsets[par] = m["sky"][par]
            true_var = m["true_var"][par]
            corr[par] = float(np.sqrt(true_var / naive[k])) if naive[k] > 0 and true_var > 0 else 1.0
            nz = _map_noise(st, n_out, p_map, m["sky"][par], m["rho"][par], m["flux_err"][models[par]["parts"][0][0]],
                            corr[par])
            for ln, _, _ in models[par]["parts"]:
                flux[ln], flux_err[ln] = m["flux"][ln], m["flux_err"][ln]
                noise[ln] = nz
            for gname in groups_of[par]:
                chi2_group[gname] = m["cmap"][k]
        finite.append(m["fin"])
        agree = agree and m["agree"]
        chi2_maps += [m["chi2"]] * len(m["pars"])
    fitted = [ln for ln in LINES if ln in flux]
    if not finite:
        chi2_nu = np.full((n_out, n_out), np.nan)
    else:
        chi2_maps = np.array(chi2_maps, float)
        if np.isfinite(chi2_maps).all() and agree:
            # every map is finite exactly where drizzled: footprints agree, chi2 is a plain mean
            chi2_nu = np.where(bad, np.nan, chi2_maps.sum() / chi2_maps.size)
        else:
            finite = np.concatenate(finite)
            # one footprint for all maps (their grids differ by sub-pixel offsets)
            common = np.all(finite, axis=0)
            for ln in fitted:
                flux[ln] = np.where(common, flux[ln], np.nan)
                flux_err[ln] = np.where(common, flux_err[ln], np.nan)
            # mean of the finite chi2 of the maps finite at each pixel (NaN: none)
            cnt = (finite & np.isfinite(chi2_maps)[:, None, None]).sum(axis=0)
            tot = np.einsum("k,kyx->yx", np.where(np.isnan(chi2_maps), 0.0, chi2_maps), finite)
            chi2_nu = np.where(cnt > 0, tot / np.maximum(cnt, 1), np.nan)
    fitted_set = set(fitted)
    groups = [g for g, gl in LINE_GROUPS.items() if not fitted_set.isdisjoint(gl)]
    zeros = iter(np.zeros((4 * len(groups), n_out, n_out)))       # kinematic maps: not measured
    lm = LineMaps(flux=flux, flux_err=flux_err, velocity_kms={g: next(zeros) for g in groups},
                  sigma_kms={g: next(zeros) for g in groups}, chi2_nu=chi2_nu, lines=fitted,
                  groups=groups, velocity_err_kms={g: next(zeros) for g in groups},
                  sigma_err_kms={g: next(zeros) for g in groups}, chi2_nu_group=chi2_group)
    lm.pixscale_arcsec = p_map
    lm.shape = (n_out, n_out)
    lm.center_xy = ((n_out - 1) / 2.0, (n_out - 1) / 2.0)
    ref = "OIII5007" if "OIII5007" in corr else (next(iter(corr)) if corr else None)
    lm.noise_correlation = corr[ref] if ref else 1.0
    lm.noise_correlation_lines = corr
    lm.noise = {ln: noise[ln] for ln in fitted}
    lm.blends = blends_all
    lm.footprint = tgt
    lm.map_offsets_px = offsets
    lm.kinematics = "not measured in grism mode (zeros)"
    lm.solve_mode = modes
    return lm


def _map_noise(st, n_out, p_map, sky, rho, err, corr) -> MapNoise:
    """:class:`~.noise_cov.MapNoise` of one drizzled line map.

    ``rho``: the noise kernel of its solution on the solve grid (odd shape, centre 1), carried
    through the resampling and drizzle (:func:`~.grism_solve._drizzle_lags`, averaged over the
    output pixels' phases); ``excess`` then makes the error of the sum over the whole map
    (``err``: its error map) the exact one, ``corr`` x the quadrature sum. The kernel's centre
    is the true / reported variance of one pixel (the reported errors ignore the resampling's
    correlations). ``rho`` None (not known): no kernel, ``corr`` as the excess of every
    multi-pixel sum (which overestimates thin bins).
    """
    if rho is None:
        return MapNoise(None, float(corr))
    h = rho.shape[0] // 2
    ty = _drizzle_lags(st["n"], st["p_det"], n_out, p_map, float(sky[1]), h)
    tx = _drizzle_lags(st["n"], st["p_det"], n_out, p_map, float(sky[0]), h)
    kern = ty.T @ rho @ tx
    kern[np.abs(kern) < 2e-3] = 0.0                            # (fewer lags to sum; the excess takes the rest)
    e = np.where(np.isfinite(err), err, 0.0)
    with_k = sum_variance(e, kern)
    naive = float(np.vdot(e, e))
    excess = corr * np.sqrt(naive / with_k) if with_k > 0 and naive > 0 else 1.0
    return MapNoise(kern, float(excess))


def map_observation(obs, line_maps) -> Observation:
    """Observation-like wrapper of grism line maps for the common recovery code.

    ``data``/``error`` are ``(n_lines, ny, nx)`` stacks of ``line_maps.flux``/``flux_err``
    in the order of ``line_maps.lines``; ``wave_um`` the lines' systemic observed
    wavelengths; ``pixscale_arcsec``, ``noise_correlation`` those of the maps, so that
    ``obs.shape``, ``pixscale_arcsec`` and ``noise_correlation`` describe the map grid.
    """
    names = list(line_maps.lines)
    if not names:
        raise MocksimInputError("line_maps: no line was mapped (no line inside a filter band)")
    data = np.array([line_maps.flux[ln] for ln in names])          # (np.stack, with less overhead)
    error = np.array([line_maps.flux_err[ln] for ln in names])
    wave = np.array([LINES[ln].observed_um(obs.redshift) for ln in names])
    return Observation(kind="linemaps", data=data, error=error, wave_um=wave,
                       pixscale_arcsec=float(line_maps.pixscale_arcsec), redshift=float(obs.redshift),
                       instrument=obs.instrument, lsf_sigma_um=np.zeros(len(names)),
                       noise_correlation=float(line_maps.noise_correlation),
                       meta={**obs.meta, "lines": names, "source": "grism_extract"},
                       extras={"grism_observation": obs})
