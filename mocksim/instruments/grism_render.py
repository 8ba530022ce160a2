"""Beams and direct images of slitless scenes, one scene or a batch of scenes.

:func:`render_beams_many` renders several scenes through one
:class:`~mocksim.instruments.grism.SlitlessGrism` (e.g. the galaxies of a
calibration-grid chunk): each scene's lines are prepared as before, then every line
sharing a PSF kernel and grism orientation -- the same line of all the galaxies at one
redshift -- is dispersed in one :func:`~.grism_disperse.disperse_line_many` call
(stacked deposits and FFTs), the direct-image terms of all scenes are convolved in
stacked FFTs (:func:`~.fftconv.convolve_sum_block_many`), and each scene's images are
summed in the one-scene order. The result of a scene is bit-identical to
:func:`render_beams` of it alone, whatever the batch (``tests/test_grism_batch.py``).
"""
from __future__ import annotations

import numpy as np

from ..errors import MocksimInputError
from ..lines import C_KMS, LINES
from .fftconv import convolve_sum_block, convolve_sum_block_many
from .grism_config import band_fraction, band_fraction_is_one
from .grism_disperse import all_pixels as _all_pixels


def render_beams(inst, scene, keep=(), single=None):
    """Noise-free beams and direct images of ``scene`` through ``inst`` (a ``SlitlessGrism``).

    See :meth:`mocksim.instruments.grism.SlitlessGrism.render_components`.
    """
    return render_beams_many(inst, [scene], keep, single)[0]


def _line_pixels(comps, name, grid_shape, flat):
    """``(idx, flux, 1 + v/c, sigma)`` of the pixels emitting line ``name`` in any component,
    or None (``v``, ``sigma`` [km/s]).

    ``flat``: per component index, the flattened Doppler factor ``1 + v/c`` and dispersion
    map (filled on first use and shared by the component's lines: ``lam_sys * (1 + v/c)``
    is then one product per line, with the values of ``lam_sys * (1.0 + v / C_KMS)``)."""
    parts = []
    for ci, c in enumerate(comps):
        f = c.line_flux.get(name)
        if f is None:
            continue
        f = np.asarray(f, float).ravel()
        if ci not in flat:
            vf, sf = (np.broadcast_to(np.asarray(a, float), grid_shape).ravel()
                      for a in (c.velocity_kms, c.sigma_kms))
            flat[ci] = (1.0 + vf / C_KMS, sf)
        df, sf = flat[ci]
        if f.all():                                     # every pixel emits: no mask
            parts.append((_all_pixels(f.size), f, df, sf))
        elif f.any():
            idx = np.flatnonzero(f)
            parts.append((idx, f[idx], df[idx], sf[idx]))
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else [np.concatenate(a) for a in zip(*parts)]


#: A line's faint pixels (:func:`kept_pixels`) are left out of the dispersion only when
#: that drops more than this fraction of them: a few dropped pixels save less deposit work
#: than the gathers they cost (and dispersing them too is, if anything, more exact).
KEEP_ALL_FRACTION = 0.9
#: Faint pixels (:func:`kept_pixels`): a line's pixels below ``DROP_BELOW`` of its flux
#: are left out of its dispersion and direct image when together they hold at most
#: ``DROP_BUDGET`` of it (an exponential disk then drops what lies beyond ~8.5 scale
#: lengths, ~6e-6 of its flux), else only those below ``DROP_BELOW_FALLBACK`` (in all at
#: most ``n_pixels`` x 1e-10 of it).
DROP_BELOW = 1e-8
DROP_BUDGET = 3e-5
DROP_BELOW_FALLBACK = 1e-10


def kept_pixels(aw: np.ndarray) -> np.ndarray:
    """Mask of the pixels of a line (absolute fluxes ``aw``) that are dispersed: those
    above ``DROP_BELOW`` of the line's flux if the others hold at most ``DROP_BUDGET`` of
    it, else those above ``DROP_BELOW_FALLBACK`` of it. The light left out lies in the
    line's far outskirts, orders of magnitude below any noise."""
    total = max(float(aw.sum()), 1e-300)
    keep = aw > DROP_BELOW * total
    if float(np.vdot(aw, ~keep)) > DROP_BUDGET * total:  # flux left out (a dot product: faster than a masked sum)
        keep = aw > DROP_BELOW_FALLBACK * total
    return keep


def _prepare(inst, scene, jobs, g):
    """Direct-image terms, continuum and the dispersion jobs of scene number ``g`` (appended to ``jobs``).

    Each job: ``(g, line, beam index, kernel wavelength [um], (idx, w, mu_off, sig_px))``
    in the order the one-scene renderer accumulates them; ``line`` is None for a
    neighbour's line (dispersed with the PSF of its own wavelength, not one of the scene's
    lines). Returns ``(terms, continuum)``: per filter the
    :func:`~.fftconv.convolve_sum_block` terms of the lines (PSF-convolved together), and
    the summed fine continuum map or None."""
    ny, nx = inst.check_scene_grid(scene.grid)
    if ny != nx:
        raise MocksimInputError(f"scene.grid: {inst.name} needs a square field, got {scene.grid.shape}")
    direct_terms = {f.name: [] for f in inst.filters}     # PSF-convolved together per filter
    cont = []
    for comps, z, own in inst._sources(scene):
        _prepare_lines(inst, scene.grid, comps, z, own, direct_terms, jobs, g)
        cont += [np.asarray(c.continuum, float) for c in comps if c.continuum is not None]
    return direct_terms, (np.sum(cont, axis=0) if cont else None)


def _prepare_lines(inst, grid, comps, z, own, direct_terms, jobs, g):
    """The lines of components ``comps`` at redshift ``z`` (:func:`_prepare`): their
    direct-image terms appended to ``direct_terms``, their dispersion jobs to ``jobs``."""
    nfine = grid.shape[1]
    pix = grid.pixscale_arcsec
    names = []
    for c in comps:
        names += [k for k in c.line_flux if k not in names]
    flat, bounds = {}, {}
    for name in names:
        if name not in LINES:
            raise MocksimInputError(f"scene.line_flux: unknown line {name!r}")
        lam_sys = LINES[name].observed_um(z)
        px = _line_pixels(comps, name, grid.shape, flat)
        if px is None:
            continue
        idx, flux, dop, s = px
        # lines of one component emitted by all its pixels share dop and s; the entry holds
        # dop, so that no later line's array can take its id while the dict lives
        b = bounds.get(id(dop))
        if b is None:
            b = bounds[id(dop)] = (dop, float(dop.min()), float(dop.max()), float(s.max()))
        lam = sig_um = None                             # per-pixel values, made when needed
        for filt in inst.filters:
            if band_fraction_is_one(lam_sys, *b[1:], filt.lo_um, filt.hi_um):
                w = flux                                # flux x 1.0: the same values
            else:
                if lam is None:
                    lam = lam_sys * dop
                    sig_um = lam * s / C_KMS
                w = flux * band_fraction(lam, sig_um, filt.lo_um, filt.hi_um)
            keep_px = kept_pixels(np.abs(w))
            n_keep = int(np.count_nonzero(keep_px))
            if n_keep == 0:
                continue
            if n_keep >= KEEP_ALL_FRACTION * keep_px.size:   # all pixels: no gathers (jobs only read w)
                ii, ww, sel = idx, w, None
            else:
                sel = np.flatnonzero(keep_px)               # one mask scan, then plain gathers
                ii = sel if idx is _all_pixels(nfine * nfine) else idx[sel]
                ww = w[sel]
            # wavelength of the kept pixels, then their column offset and line sigma [pixels]
            if lam is not None:
                ll = lam if sel is None else lam[sel]
            else:
                ll = lam_sys * (dop if sel is None else dop[sel])
            mu_off = inst.column_offset(ll)
            sig_px = ll * (s if sel is None else s[sel])
            sig_px *= 1.0 / (C_KMS * inst.dispersion_um)
            if ii is _all_pixels(nfine * nfine):
                fine = (ww / filt.width_um).reshape(nfine, nfine)
            else:
                fine = np.bincount(ii, ww / filt.width_um, nfine * nfine).reshape(nfine, nfine)
            direct_terms[filt.name].append(inst._direct_term(fine, lam_sys, pix))
            for bi, (bf, grism) in enumerate(inst.beams):
                if bf is filt:
                    jobs.append((g, name if own else None, bi, lam_sys, (ii, ww, mu_off, sig_px)))


def _direct_images(inst, scenes, prepared, single: bool = False) -> list:
    """Per scene, filter name -> ``(n, n)`` direct image of the lines (the terms of all
    scenes convolved in stacked calls, :func:`~.fftconv.convolve_sum_block_many`)."""
    direct = [{f.name: np.zeros((sc.grid.shape[1] // inst.oversample,) * 2) for f in inst.filters}
              for sc in scenes]
    for filt in inst.filters:
        has = [g for g, (terms, _) in enumerate(prepared) if terms[filt.name]]
        images = convolve_sum_block_many([prepared[g][0][filt.name] for g in has], inst._spectra,
                                         inst.oversample, single)
        for g, img in zip(has, images):
            direct[g][filt.name] += img
    return direct


def render_beams_many(inst, scenes, keep=(), single=None) -> list:
    """:func:`render_beams` of several scenes, the dispersion batched across them.

    Parameters
    ----------
    inst : SlitlessGrism
    scenes : sequence of EmissionScene
        Each rendered on ``inst.scene_grid()`` (square field of one size).
    keep : iterable of str
        Lines whose beams are also returned separately.
    single : bool, optional
        Single-precision FFTs (default ``inst.single_precision_fft``).

    Returns
    -------
    list of (beams, direct, kept)
        Per scene, as :meth:`~mocksim.instruments.grism.SlitlessGrism.render_components`.
    """
    keep = tuple(keep)
    single = inst.single_precision_fft if single is None else bool(single)
    jobs, prepared = [], []
    for g, scene in enumerate(scenes):
        prepared.append(_prepare(inst, scene, jobs, g))
    directs = _direct_images(inst, scenes, prepared, single)
    # one dispersion call per (kernel wavelength, grism): the same line of every scene
    groups: dict = {}
    for k, (g, _, bi, lam_sys, _) in enumerate(jobs):
        grid = scenes[g].grid
        key = (inst._kernel_key(lam_sys, grid.pixscale_arcsec), inst.beams[bi][1], grid.shape)
        groups.setdefault(key, []).append(k)
    pieces = [None] * len(jobs)
    for ks in groups.values():
        _, _, bi, lam_sys, _ = jobs[ks[0]]
        grid = scenes[jobs[ks[0]][0]].grid
        nfine, n = grid.shape[1], grid.shape[1] // inst.oversample
        got = inst._disperse_lines([jobs[k][4] for k in ks], nfine, inst.n_dispersed(n), lam_sys,
                                   grid.pixscale_arcsec, inst.beams[bi][1], single)
        for k, p in zip(ks, got):
            pieces[k] = p
    of_scene = [[] for _ in scenes]
    for k, job in enumerate(jobs):
        of_scene[job[0]].append(k)
    out = []
    for scene, direct, (_, fine_c), ks in zip(scenes, directs, prepared, of_scene):
        n = scene.grid.shape[1] // inst.oversample
        beams = np.zeros((len(inst.beams), n, inst.n_dispersed(n)))
        kept = {name: np.zeros_like(beams) for name in keep}
        for k in ks:                                     # the one-scene order of accumulation
            name, bi = jobs[k][1], jobs[k][2]
            for img, c0 in pieces[k]:
                sl = (bi, slice(None), slice(c0, c0 + img.shape[1]))
                img /= inst.dispersion_um
                beams[sl] += img
                if name in kept:
                    kept[name][sl] += img
        if fine_c is not None:
            _add_continuum(inst, scene, fine_c, beams, direct)
        out.append((beams, direct, kept))
    return out


def _add_continuum(inst, scene, fine_c, beams, direct):
    """Add the PSF-convolved continuum to ``direct`` and its flat-spectrum dispersion to ``beams``."""
    n = beams.shape[1]
    for filt in inst.filters:
        cc = convolve_sum_block([inst._direct_term(fine_c, filt.pivot_um, scene.grid.pixscale_arcsec)],
                                inst._spectra, inst.oversample)
        direct[filt.name] += cc
        wmat = inst.continuum_matrix(n, filt)
        for bi, (bf, g) in enumerate(inst.beams):
            if bf is filt:
                beams[bi] += (cc if g == "R" else cc.T) @ wmat
