"""Linear algebra of the grism line-map extraction (:mod:`mocksim.recovery.grism_extract`, step 3).

Flux-conserving sub-pixel shift stencils, resampling and drizzle operators, the design matrix
(from cached stencil-tap tables) and the joint weighted least-squares fit of one
filter's line maps: with two grism orientations a dense normal matrix and Cholesky
solve; with one, per cross-dispersion row (:mod:`.grism_rows`). The fits of several
observations with the same grids and line models (the galaxies of a chunk) are set up,
and with one orientation solved, together (:func:`_solve_filter_many`), each with the
arithmetic of its own fit.
"""
from __future__ import annotations

import functools
import math

import numpy as np
from scipy import sparse
from scipy.linalg import lapack

from ..instruments.grism_config import overlap_matrix
from .grism_continuum import continuum_at_many
from .grism_rows import _bordered_solve, _cho_solve, _cholesky, _median_positive, _pairs, _solve_rows_many  # noqa: F401

__all__ = ["STENCIL_ORDER"]


#: Number of cell edges through which :func:`_shift_stencil` interpolates the cumulative
#: flux (6: quintic, fifth-order accurate), in the model and in the resampling to the
#: common grid (module docstring, steps 3-4).
STENCIL_ORDER = 6
#: Largest tap offset of :func:`_shift_stencil` [cells] (``order <= 8`` for ``|o| <= 1/2``).
STENCIL_REACH = 4
_IDENTITY_STENCIL = (np.array([0]), np.array([1.0]))
_IDENTITY_STENCIL[0].flags.writeable = _IDENTITY_STENCIL[1].flags.writeable = False
_INDEPENDENT = np.ones((1, 1))
_INDEPENDENT.flags.writeable = False


@functools.lru_cache(maxsize=256)
def _shift_stencil(o: float, order: int = STENCIL_ORDER):
    """Flux-conserving shift of cell averages by a sub-pixel amount.

    Map cell ``i`` is centred at data coordinate ``i + o`` (``|o| < 1``). Returns
    ``(taps, weights)`` such that data cell ``j`` receives ``sum_t w_t M[j + t]``.
    The cumulative flux ``Phi`` is known exactly at map cell edges; it is
    interpolated with a Lagrange polynomial through ``order`` edges (2: uniform
    flux inside each cell, i.e. box-overlap weights; 4: cubic, third-order
    accurate, PPM-like; 6, the default: quintic) and differenced at the data cell
    edges. Weights sum to 1; ``order <= 8`` for ``|o| <= 1/2``.
    """
    if abs(o) < 1e-12:
        return _IDENTITY_STENCIL
    span = np.arange(-STENCIL_REACH, STENCIL_REACH + 1)

    def phi_coeffs(u):  # Phi(u) = sum_i a_i M_i (+ flux left of the span)
        k0 = int(np.floor(u - 0.5))
        ks = np.arange(k0 - order // 2 + 1, k0 + order // 2 + 1)
        xk = ks + 0.5
        a = np.zeros(span.size)
        for m, km in enumerate(ks):
            lm = np.prod([(u - xk[q]) / (xk[m] - xk[q]) for q in range(ks.size) if q != m])
            a += lm * (span <= km)
        return a

    u_lo = -o - 0.5
    w = phi_coeffs(u_lo + 1.0) - phi_coeffs(u_lo)
    keep = np.abs(w) > 1e-14
    taps, wts = span[keep], w[keep]
    taps.flags.writeable = wts.flags.writeable = False     # cached: shared between calls
    return taps, wts


@functools.lru_cache(maxsize=64)
def _resample_matrix(n: int, o: float, order: int = STENCIL_ORDER) -> np.ndarray:
    """``(n, n)`` operator taking cell averages centred at ``i + o`` to cells centred at ``j``.

    Row ``j`` holds the :func:`_shift_stencil` weights (``order``), so that
    ``(S @ m)[j] = sum_t w_t m[j + t]``; taps falling outside ``[0, n)`` are dropped
    (the maps vanish there). Identity for ``o = 0``. Cached (read-only).
    """
    taps, w = _shift_stencil(float(o), order)
    mat = np.zeros((n, n))
    j = np.arange(n)
    for t, wt in zip(taps, w):
        ok = (j + t >= 0) & (j + t < n)
        mat[j[ok], j[ok] + t] += wt
    mat.flags.writeable = False
    return mat


@functools.lru_cache(maxsize=16)
def _drizzle_matrix(n: int, p_det: float, n_out: int, p_map: float) -> np.ndarray:
    """:func:`~mocksim.instruments.grism_config.overlap_matrix` from the detector grid (cached, read-only)."""
    w = overlap_matrix(n, p_det, 0.0, n_out, p_map)
    w.flags.writeable = False
    return w


@functools.lru_cache(maxsize=64)
def _drizzle_operators(n: int, p_det: float, n_out: int, p_map: float, offsets: tuple):
    """Resample-then-drizzle operators of maps on grids offset by ``offsets`` ((ox, oy) each) [pixels].

    ``p_det``, ``p_map``: detector and output pixel scales [arcsec] (step 4). Returns
    ``(wy, wxt, wy2, wxt2)``, ``(n_maps, n_out, n)`` and ``(n_maps, n, n_out)``: a map
    ``M`` on its own grid drizzles to ``wy @ M @ wxt``, its variances to
    ``wy2 @ V @ wxt2`` (squared weights). Cached, read-only.
    """
    w = _drizzle_matrix(n, p_det, n_out, p_map)
    wy = np.stack([w @ _resample_matrix(n, oy) for _, oy in offsets])
    wxt = np.stack([(w @ _resample_matrix(n, ox)).T for ox, _ in offsets])
    ops = (wy, wxt, wy ** 2, wxt ** 2)
    for op in ops:
        op.flags.writeable = False
    return ops


@functools.lru_cache(maxsize=64)
def _drizzle_lags(n: int, p_det: float, n_out: int, p_map: float, o: float, h: int = 0) -> np.ndarray:
    """Noise transfer of resample-then-drizzle along one axis (map grid offset ``o``).

    Returns ``T`` ``(2h + 1, 2L + 1)``: ``T[h + d, L + D]`` is the covariance of two output
    pixels ``D`` apart for unit input covariance between input pixels ``d`` apart,
    averaged over the central half of the output pixels (all phases) and divided by the
    output variance of i.i.d. input; ``T[h]`` is :func:`~mocksim.instruments.noise.axis_correlation`.
    Cached, read-only.
    """
    w = _drizzle_matrix(n, p_det, n_out, p_map) @ _resample_matrix(n, o)
    core = np.arange(n_out // 4, n_out - n_out // 4)
    big = n_out // 4
    rows = []
    for d in range(-h, h + 1):
        wd = np.zeros_like(w)                                   # wd[:, i] = w[:, i + d]
        if d >= 0:
            wd[:, :n - d] = w[:, d:]
        else:
            wd[:, -d:] = w[:, :n + d]
        c = w @ wd.T
        rows.append([c[core, core + lag].mean() if lag >= 0 else c[core - lag, core].mean()
                     for lag in range(-big, big + 1)])
    t = np.array(rows) / np.mean(np.diagonal(w @ w.T)[core])
    keep = np.flatnonzero(np.abs(t).max(axis=0) > 1e-3)
    reach = int(max(abs(keep[0] - big), abs(keep[-1] - big)))
    t = np.ascontiguousarray(t[:, big - reach:big + reach + 1])
    t.flags.writeable = False
    return t


def _drizzle_many(tgts, values, variances, pars, disps, geo, offsets, holes):
    """Resample and drizzle (step 4) the maps of several observations with the same grids,
    map offsets and lines.

    Per observation: ``tgts`` its ``(n, n)`` footprint, ``values`` / ``variances`` its maps
    (dicts, ``pars`` -> values on the footprint pixels in flat order), ``disps`` its
    dispersion [um per pixel]; ``geo``: ``(n, p_det, n_out, p_map)``; ``offsets``: each
    map's grid offset ``(ox, oy)`` [pixels]; ``holes``: ``(G, n_out, n_out)`` outside the
    drizzled footprints. Returns ``(out, eout, naive)``: ``(G, n_maps, n_out, n_out)``
    fluxes and errors per map pixel [erg s^-1 cm^-2] (NaN in the holes) and
    ``(G, n_maps)`` naive variances of the maps' sums [(flux / D)^2]. The matrix products
    of a stack are one BLAS call per map, as for one observation, and the other steps
    element-wise or per map: each observation's maps are those of its own call.
    """
    n, p_det, n_out, p_map = geo
    g, k = len(tgts), len(pars)
    # resample each map from its own grid (offset ox, oy) to the common grid, then
    # drizzle: every line ends up with the same pixel response (step 4); data are
    # flux / D per pixel: map values x D are fluxes per pixel
    wy, wxt, wy2, wxt2 = _drizzle_operators(n, p_det, n_out, p_map, offsets)
    img = np.zeros((2, g, k, n * n))
    on = np.stack([t.reshape(-1) for t in tgts])
    on = np.broadcast_to(on[:, None, :], img.shape[1:])          # each map's footprint pixels, flat order
    img[0][on] = np.concatenate([v[p] for v in values for p in pars])
    img[1][on] = np.concatenate([v[p] for v in variances for p in pars])
    disp2 = np.array([d ** 2 for d in disps]).reshape(g, 1, 1)
    img[0] *= np.array(disps, float).reshape(g, 1, 1)
    img[1] *= disp2
    img = img.reshape(2, g, k, n, n)
    out = wy @ img[0] @ wxt
    vout = wy2 @ img[1] @ wxt2
    nan_bad = np.where(holes, np.nan, 0.0)[:, None]                 # added: NaN outside the drizzled footprint
    out += nan_bad
    eout = np.sqrt(vout) + nan_bad
    naive = vout.sum(axis=(2, 3))
    if np.isnan(naive).any():
        naive = np.nansum(vout, axis=(2, 3))
    naive /= disp2[:, :, 0]
    return out, eout, naive


def _shifted_linear(imgs, job, jj, ii, ox, oy):
    """Images sampled at shifted pixel positions, by linear interpolation.

    ``imgs`` ``(J, n, n)``; per sample its image ``job`` and pixel ``(jj, ii)`` (row,
    column), read at ``(jj + oy, ii + ox)`` [pixels]; beyond the edges the edge pixels
    extend (as ``scipy.ndimage.map_coordinates(order=1, mode="nearest")``). Taps of zero
    weight are not read.
    """
    n = imgs.shape[1]
    flat = imgs.reshape(-1)
    base = job * (n * n)
    taps = []
    for idx, o in ((jj, oy), (ii, ox)):                    # (index, weight) of each tap per axis
        f = math.floor(o)
        t = float(o - f)
        taps.append([(np.clip(idx + f, 0, n - 1), 1.0 - t)] + ([(np.clip(idx + f + 1, 0, n - 1), t)] if t else []))
    out = 0.0
    for y, wy in taps[0]:
        row = base + y * n
        acc = 0.0
        for x, wx in taps[1]:
            acc = acc + wx * flat[row + x]
        out = out + wy * acc
    return out


def _spd_solve(full, rhs_list):
    """Solve a dense SPD system; returns (solutions, diagonal of the inverse)."""
    cf = _cholesky(full)
    linv = lapack.dtrtri(cf, lower=1)[0]
    return [_cho_solve(cf, r) for r in rhs_list], np.einsum("ij,ij->j", linv, linv)


#: Above this many pairs of design entries sharing a data pixel (two grisms), :func:`_gram`
#: uses scipy.sparse, below one bincount over all pairs (less overhead).
_GRAM_MAX_PAIRS = 30_000


def _gram(grp, cols, vals, size):
    """Dense ``B^T B`` ``(size, size)`` of a sparse ``B`` (duplicate entries add up).

    ``grp``: row of each entry of ``B`` (non-decreasing, from 0); ``cols``, ``vals``:
    its column and value.
    """
    starts = np.flatnonzero(np.diff(grp, prepend=-1))
    sizes = np.diff(np.append(starts, grp.size))
    if int(sizes @ sizes) > _GRAM_MAX_PAIRS:
        bmat = sparse.csr_matrix((vals, (grp, cols)), shape=(starts.size, size))
        return (bmat.T @ bmat).toarray()
    i, j = _pairs(starts, grp.size)
    return np.bincount(cols[i] * size + cols[j], weights=vals[i] * vals[j], minlength=size * size).reshape(size, size)


@functools.lru_cache(maxsize=128)
def _taps(spec):
    """Stencil taps of line models (cached, read-only): one entry per (model, beam, part, cross tap, along tap).

    ``spec``: per model and beam ``(model index, beam index, grism, ox, oy, ((ratio,
    column offset), ...))``. Returns ``(model, beam, is_r, d_along, d_cross, weight)``
    arrays: a pixel at (along, cross) puts ``weight`` x its map value into the data
    pixel (along + d_along, cross + d_cross) of the beam.
    """
    out = []
    for mi, bi, g, ox, oy, parts in spec:
        o_cross, o_along = (oy, ox) if g == "R" else (ox, oy)
        ct, cw = _shift_stencil(o_cross)
        for ratio, loff in parts:
            shift = int(round(o_along + loff))
            at, aw = _shift_stencil(o_along + loff - shift)
            shape = (ct.size, at.size)
            cols = [np.full(shape, v) for v in (mi, bi, g == "R")]
            cols += [np.broadcast_to(shift - at, shape), np.broadcast_to(-ct[:, None], shape),
                     ratio * cw[:, None] * aw[None, :]]
            out.append([c.ravel() for c in cols])
    tab = tuple(np.concatenate(c) for c in zip(*out))
    for c in tab:
        c.flags.writeable = False
    return tab


def _design(models, sky, prior, beams, bsel, tgt, n_disp, pix=None):
    """Entries of the design matrix of one filter's line models (module docstring, step 3).

    ``prior``: each model's normalised direct image on the footprint (dict of ``(npix,)``);
    ``pix``: the footprint's ``(rows, columns)``, if known. Otherwise as :func:`_design_many`
    for one job.
    """
    jj, ii = np.divmod(tgt.reshape(-1).nonzero()[0], tgt.shape[0]) if pix is None else pix
    return _design_many(models, sky, np.array([prior[p] for p in models]).reshape(len(models), ii.size), beams,
                        bsel, tgt.shape[0], n_disp, 0, (np.zeros(ii.size, np.int64), jj, ii))


def _design_many(models, sky, prior, beams, bsel, n, n_disp, n_data, pix):
    """Entries of the design matrices of one filter's line models for several footprints ("jobs").

    Per job, the unknowns are the map-kind models' footprint pixels (model after model,
    in the order of ``models``), then one flux per template model; the jobs' unknowns
    are concatenated. ``sky``: each model's grid offset ``(ox, oy)`` [pixels];
    ``prior`` ``(n_models, n_pix)``: each model's normalised direct image on the
    footprint (the template shape); ``pix``: ``(job, rows, columns)`` of every footprint
    pixel, job after job; ``n_data``: size of one job's ``(n_beams, n, n_disp)`` data.
    Returns ``(rows, cols, vals)``: flat index into the jobs' stacked data, unknown and
    weight of each entry (duplicates add up); each job's entries in the order of its own call.
    """
    pj, jj, ii = pix
    npix = np.bincount(pj)
    names = list(models)
    # first unknown of each model, a * npix + b (maps: npix each, then one per template), and its step per pixel
    step = np.array([models[p]["kind"] == "map" for p in names], np.int64)
    a = np.where(step, np.cumsum(step) - step, step.sum())
    b = np.where(step, 0, np.cumsum(1 - step) - (1 - step))
    ucount = step.sum() * npix + (1 - step).sum()
    amp = np.where(step[:, None] == 1, 1.0, prior)
    spec = tuple((k, bm, beams[bm]["grism"], *sky[p], tuple((r, o) for _, r, o in models[p]["parts"]))
                 for k, p in enumerate(names) for bm in bsel)
    mi, bi, is_r, d_al, d_cr, w = _taps(spec)
    # (tap, pixel) entries, pixel-fastest
    along = np.where(is_r[:, None], ii, jj) + d_al[:, None]
    cross = np.where(is_r[:, None], jj, ii) + d_cr[:, None]
    vals = w[:, None] * amp[mi]
    # (unsigned views: negative indices fail the upper bound too)
    ok = (np.abs(vals) > 1e-12) & (cross.view(np.uint64) < n) & (along.view(np.uint64) < n_disp)
    sel = ok.reshape(-1).nonzero()[0]
    tap, p = np.divmod(sel, ii.size)
    # data index = a per-tap part (beam, tap offsets) + a per-pixel part (job, pixel along each
    # orientation: C, then R); unknown from a (model, pixel) table
    pix_part = np.array([ii * n_disp + jj, jj * n_disp + ii]) + pj * n_data
    rows = ((bi * n + d_cr) * n_disp + d_al)[tap] + pix_part.reshape(-1)[is_r[tap] * ii.size + p]
    first_unknown, first_pixel = np.cumsum(ucount) - ucount, np.cumsum(npix) - npix
    unknown = (first_unknown[pj] + a[:, None] * npix[pj] + b[:, None]
               + step[:, None] * (np.arange(ii.size) - first_pixel[pj]))          # (models, pixels)
    cols = unknown.reshape(-1)[mi[tap] * ii.size + p]
    return rows, cols, vals.reshape(-1)[sel]


def _solve_filter_many(jobs, reg, checker_reg):
    """Joint weighted least squares of one filter's line maps (module docstring, step 3),
    for several fits.

    ``jobs``: per fit ``(data, err, cont, beams, bsel, models, tgt, prior_img)``;
    ``data``, ``err``: ``(n_beams, n, n_disp)`` dispersed data and errors; ``cont``: per
    beam continuum fit (:func:`~.grism_continuum.continuum_coefficients`), subtracted
    from the data, or None.

    Fits with the same grids, beams and line models (e.g. one filter of the galaxies of a
    chunk at one redshift) are set up together and, with one grism orientation, solved
    together (:func:`~.grism_rows._solve_rows_many`); each gets exactly the arithmetic of
    its own call. Returns per fit ``(values, variances, sky_offsets, chi2_nu, true_var, rho)``:
    per map-kind model ``(npix,)`` solutions in data units (flux / D per pixel) with their
    variances, the map grids' sky offsets ``(ox, oy)`` [pixels], the reduced chi^2, the
    variance of each map's sum and the noise correlation kernel of each map's pixels on
    the solve grid (odd shape, centre 1; None: not known).
    """
    groups = {}
    for q, (data, _, _, beams, bsel, models, tgt, _) in enumerate(jobs):
        key = (tgt.shape, data.shape, tuple(bsel), tuple(beams[b]["grism"] for b in bsel),
               tuple((p, m["kind"], m["parts"]) for p, m in models.items()))
        groups.setdefault(key, []).append(q)
    out = [None] * len(jobs)
    for idx in groups.values():
        for q, res in zip(idx, _solve_group([jobs[q] for q in idx], reg, checker_reg)):
            out[q] = res
    return out


def _solve_group(jobs, reg, checker_reg):
    """:func:`_solve_filter_many` of fits with the same grids, beams and line models."""
    data, _, _, beams, bsel, models, tgt, _ = jobs[0]
    n, n_disp, n_data, nj = tgt.shape[0], data.shape[2], data.size, len(jobs)
    grs = {beams[b]["grism"] for b in bsel}
    has_r, has_c = "R" in grs, "C" in grs
    names = list(models)
    maps = [p for p in names if models[p]["kind"] == "map"]
    K, T = len(maps), len(names) - len(maps)
    frac = {par: models[par]["parts"][0][2] - round(models[par]["parts"][0][2]) for par in names}
    sky = {par: ((-f if has_r else 0.0), (-f if has_c else 0.0)) for par, f in frac.items()}
    tg = np.stack([jb[6] for jb in jobs])
    by_rows = len(grs) == 1 and K
    perm = np.argsort(tg.sum(axis=int(has_r) + 1).max(axis=1), kind="stable") if by_rows else np.arange(nj)
    if by_rows:                                  # _solve_rows_many: jobs by their longest row
        tg, jobs = tg[perm], [jobs[q] for q in perm]
    flat = np.flatnonzero(tg)
    pj, sidx = np.divmod(flat, n * n)
    jj, ii = np.divmod(sidx, n)
    npix = np.bincount(pj, minlength=nj)
    pstart = np.cumsum(npix) - npix
    ucount = K * npix + T
    uoff = np.cumsum(ucount) - ucount
    # direct image at each model's grid positions, normalised to unit sum per job (uniform if not positive)
    imgs = np.stack([jb[7] for jb in jobs])
    pks = np.array([_shifted_linear(imgs, pj, jj, ii, *sky[par]) for par in names])
    psum = np.add.reduceat(pks, pstart, axis=1)                   # (models, jobs); footprints are not empty
    pos = psum > 0
    pks /= np.where(pos, psum, 1.0)[:, pj]
    if not pos.all():
        pks = np.where(pos[:, pj], pks, 1.0 / npix[pj])
    rows, cols, vals = _design_many(models, sky, pks, beams, bsel, n, n_disp, n_data, (pj, jj, ii))
    # design entries sorted by data pixel (job after job), then unknown; duplicates summed;
    # used: the data pixels the model touches
    key = rows * int(ucount.sum()) + cols
    order = key.argsort(kind="stable")
    key, rows, cols, vals = key[order], rows[order], cols[order], vals[order]
    new = key[1:] != key[:-1]
    if not new.all():                                               # duplicates
        one = np.concatenate([[True], new]).nonzero()[0]
        rows, cols, vals = rows[one], cols[one], np.add.reduceat(vals, one)
    first = np.concatenate([[True], rows[1:] != rows[:-1]])
    starts = first.nonzero()[0]
    used, grp = rows[starts], first.cumsum() - 1
    ub = np.searchsorted(used, np.arange(nj + 1) * n_data)          # each job's data pixels
    ujob = np.repeat(np.arange(nj), np.diff(ub))
    uloc = used - ujob * n_data
    yv = np.concatenate([jb[0].reshape(-1)[uloc[s:e]] for jb, s, e in zip(jobs, ub[:-1], ub[1:])])
    ev = np.concatenate([jb[1].reshape(-1)[uloc[s:e]] for jb, s, e in zip(jobs, ub[:-1], ub[1:])])
    if any(jb[2] is not None for jb in jobs):
        yv = yv - continuum_at_many([jb[2] for jb in jobs], ujob, uloc, n, n_disp)
    with np.errstate(divide="ignore", invalid="ignore"):
        sw = 1.0 / ev                                              # sqrt of the data weight
        ys = yv * sw
    # finite data with 0 < error < inf (y/e is not finite for e = 0, 1/e not positive for e <= 0, inf, NaN)
    good = np.isfinite(ys) & (sw > 0)
    sw = np.where(good, sw, 0.0)
    ys = np.where(good, ys, 0.0)
    bv = vals * sw[grp]                      # B = diag(sw) A: normal matrix B^T B, rhs B^T (sw y)
    pk = pks[[names.index(p) for p in maps]]
    umap = uoff[pj] + np.arange(K)[:, None] * npix[pj] + (np.arange(flat.size) - pstart[pj])  # (K, n_pix)
    sol = np.empty(int(ucount.sum()))
    if by_rows:
        # maps whose images never meet: their unknowns' normal matrix is block-diagonal per map
        sol[umap], var, temps, true_var = _solve_rows_many(
            grp, starts, cols, bv, ys, ujob * n + (uloc // n_disp) % n, tg, int(has_r), (pj, flat), T, pk, reg,
            separate=_maps_apart(models, n))
        sol[(uoff + K * npix)[:, None] + np.arange(T)] = temps
    else:
        var, true_var = np.empty((K, flat.size)), np.empty((nj, K))
        ebound = np.append(starts, grp.size)[ub]                   # each job's design entries
        for q in range(nj):
            e, u, p = slice(ebound[q], ebound[q + 1]), slice(ub[q], ub[q + 1]), slice(pstart[q], pstart[q] + npix[q])
            sol[uoff[q]:uoff[q] + ucount[q]], var[:, p], true_var[q] = _solve_dense(
                grp[e] - ub[q], cols[e] - uoff[q], bv[e], ys[u], int(ucount[q]), pk[:, p], sidx[p], n,
                has_r and has_c, reg, checker_reg)
    res2 = (ys - np.bincount(grp, weights=bv * sol[cols], minlength=used.size)) ** 2
    ngood = np.bincount(ujob, weights=good, minlength=nj)
    chi2 = np.bincount(ujob, weights=res2, minlength=nj) / np.maximum(ngood - ucount, 1)
    var = np.maximum(var, 0.0)
    # noise kernel of the solved maps on the solve grid: one orientation, independent pixels
    # (within ~10 % for annuli one map pixel wide, NIRCam F356W: tests/test_grism_noise_kernel.py);
    # two: unknown (the extraction anti-correlates pixels up to a few pixels apart)
    rho = _INDEPENDENT if by_rows else None
    out = [None] * nj
    for q, (s, c, x2, tv) in enumerate(zip(pstart.tolist(), npix.tolist(), chi2.tolist(), true_var.tolist())):
        values = {par: sol[umap[k, s]:umap[k, s] + c] for k, par in enumerate(maps)}
        variances = {par: var[k, s:s + c] for k, par in enumerate(maps)}
        out[perm[q]] = values, variances, sky, x2, dict(zip(maps, tv)), dict.fromkeys(maps, rho)
    return out


def _solve_dense(grp, cols, bv, ys, n_unknowns, pk, sidx, n, checker, reg, checker_reg):
    """Dense least squares of one fit (two grism orientations, or no map): see :func:`_solve_filter_many`.

    ``grp``, ``cols``, ``bv``: data pixel, unknown and weighted value of each design
    entry; ``ys``: weighted data; ``pk`` ``(K, npix)``: the maps' normalised prior
    shapes; ``sidx``: the footprint's flat pixels on the ``(n, n)`` grid; ``checker``:
    damp the checkerboard. Returns ``(sol, var, true_var)``: the solution, the
    variances ``(K, npix)`` of the map unknowns and the variance of each map's sum.
    """
    U, (K, npix) = n_unknowns, pk.shape
    full = _gram(grp, cols, bv, U + K)   # unknowns U..U+K-1: the prior amplitudes a_k
    rhs = np.bincount(cols, weights=bv * ys[grp], minlength=U)
    dref = _median_positive(np.diagonal(full)[:K * npix])
    # regularisation: maps -> a_k x direct image (a_k extra unknowns), checkerboard damping
    lam = reg * dref
    ones = np.zeros((U + K, K))                                # indicator of each map's unknowns
    for k in range(K):
        blk = slice(k * npix, (k + 1) * npix)
        dg = np.arange(k * npix, (k + 1) * npix)
        full[dg, dg] += lam
        full[blk, U + k] -= lam * pk[k]
        full[U + k, blk] -= lam * pk[k]
        full[U + k, U + k] += lam * (pk[k] @ pk[k])
        ones[blk, k] = 1.0
    if checker and checker_reg > 0 and K:
        ctc = _checker_gram(sidx, n) * (checker_reg * dref)
        for k in range(K):
            full[k * npix:(k + 1) * npix, k * npix:(k + 1) * npix] += ctc
    (sol, z1), var = _spd_solve(full, [np.concatenate([rhs, np.zeros(K)]), ones])
    return sol[:U], var[:K * npix].reshape(K, npix), np.einsum("uk,uk->k", ones, z1)


def _checker_gram(sidx, n):
    """``Q^T Q`` ``(npix, npix)`` of the 2x2 checkerboard pattern of each complete footprint quad."""
    jj, ii = np.divmod(sidx, n)
    lut = -np.ones(n * n, int)
    lut[sidx] = np.arange(sidx.size)
    quad = np.array([lut[sidx], lut[np.minimum(sidx + 1, n * n - 1)], lut[np.minimum(sidx + n, n * n - 1)],
                     lut[np.minimum(sidx + n + 1, n * n - 1)]])
    okq = (ii < n - 1) & (jj < n - 1) & np.all(quad >= 0, axis=0)
    q = quad[:, okq]
    sgn = np.array([1.0, -1.0, -1.0, 1.0]) * 0.25
    cb = sparse.coo_matrix((np.tile(sgn, q.shape[1]), (np.repeat(np.arange(q.shape[1]), 4), q.T.ravel())),
                           shape=(q.shape[1], sidx.size)).tocsr()
    return (cb.T @ cb).toarray()


def _separation(models) -> float:
    """Smallest column distance [pixels] between parts of two different line models (inf: one model)."""
    offs = [[o for _, _, o in m["parts"]] for m in models.values()]
    return min((abs(x - y) for a in range(len(offs)) for b in range(a + 1, len(offs))
                for x in offs[a] for y in offs[b]), default=np.inf)


def _maps_apart(models, n) -> bool:
    """Whether no data pixel takes light from two map-kind models on an ``n x n`` grid
    (single grism): their parts are farther apart than a row plus both shift stencils."""
    return _separation({p: m for p, m in models.items() if m["kind"] == "map"}) > n + 2 * STENCIL_REACH + 2


def _overlapping(models, tgt, grism) -> bool:
    """Whether two line models' images overlap along the dispersion (single grism)."""
    dmin = _separation(models)
    fp = tgt if grism == "R" else tgt.T
    if dmin >= fp.shape[1] + 1:                         # farther apart than any footprint row + 2
        return False
    rows = fp[fp.any(axis=1)]
    ext = 2.0                                           # widest row of the footprint + 2
    if rows.size:
        ext += float(np.max(fp.shape[1] - 1 - np.argmax(rows[:, ::-1], axis=1) - np.argmax(rows, axis=1)))
    return dmin < ext
