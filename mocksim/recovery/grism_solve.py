"""Linear algebra of the grism line-map extraction (:mod:`mocksim.recovery.grism_extract`, step 3).

Flux-conserving sub-pixel shift stencils, resampling and drizzle operators, the design matrix
(from cached stencil-tap tables) and the joint weighted least-squares fit of one
filter's line maps: with two grism orientations a dense normal matrix and Cholesky
solve; with one, the normal matrix is assembled directly per cross-dispersion row
(block-diagonal, with the template fluxes and prior amplitudes as a dense border) and
solved through the Schur complement of the border, the rows' blocks factored at once.
"""
from __future__ import annotations

import functools

import numpy as np
from scipy import ndimage, sparse
from scipy.linalg import lapack

from ..instruments.grism_config import overlap_matrix
from .grism_continuum import continuum_at

__all__ = ["STENCIL_ORDER"]


#: Number of cell edges through which :func:`_shift_stencil` interpolates the cumulative
#: flux (6: quintic, fifth-order accurate), in the model and in the resampling to the
#: common grid (module docstring, steps 3-4).
STENCIL_ORDER = 6
#: Largest tap offset of :func:`_shift_stencil` [cells] (``order <= 8`` for ``|o| <= 1/2``).
STENCIL_REACH = 4
_IDENTITY_STENCIL = (np.array([0]), np.array([1.0]))
_IDENTITY_STENCIL[0].flags.writeable = _IDENTITY_STENCIL[1].flags.writeable = False


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


def _cholesky(mat):
    """Lower Cholesky factor of an SPD matrix (Fortran order, upper triangle zero).

    If ``mat`` is not numerically positive definite, a growing jitter (relative to its
    mean diagonal) is added to the diagonal.
    """
    for jitter in (0.0, 1e-12, 1e-10, 1e-8, 1e-6):
        m = mat if jitter == 0.0 else mat + jitter * (float(np.mean(np.diag(mat))) or 1.0) * np.eye(mat.shape[0])
        cf, info = lapack.dpotrf(m, lower=1, clean=1)
        if info == 0:
            return cf
    raise np.linalg.LinAlgError("grism line-map normal matrix is not positive definite")  # pragma: no cover


def _cho_solve(cf, rhs):
    """Solve ``L L^T x = rhs`` for the factor ``L`` of :func:`_cholesky`."""
    return lapack.dpotrs(cf, rhs, lower=1)[0]


def _spd_solve(full, rhs_list):
    """Solve a dense SPD system; returns (solutions, diagonal of the inverse)."""
    cf = _cholesky(full)
    linv = lapack.dtrtri(cf, lower=1)[0]
    return [_cho_solve(cf, r) for r in rhs_list], np.einsum("ij,ij->j", linv, linv)


def _block_inverse_factors(blocks):
    """``L^-1`` ``(G, m, m)`` of the Cholesky factors of SPD blocks, all at once.

    If a block is not numerically positive definite, block by block with
    :func:`_cholesky`'s jitter.
    """
    try:
        chol = np.linalg.cholesky(blocks)
    except np.linalg.LinAlgError:
        chol = [_cholesky(b) for b in blocks]
        return np.stack([lapack.dtrtri(f, lower=1)[0] for f in chol])
    # L^-1 from (L^T)^-1, upper triangular in Fortran order (no copy)
    linv = np.empty_like(chol)
    for g, f in enumerate(chol):
        linv[g] = lapack.dtrtri(f.T, 0)[0].T
    return linv


def _bordered_solve(gram, kb, rhs_a, rhs_d):
    """Solve ``[[A, C], [C^T, D]] x = r`` for block-diagonal ``A``, by the Schur complement of ``D``.

    ``gram`` ``(G, kb + nb, kb + nb)``: per block, ``A``'s SPD diagonal block (first
    ``kb`` unknowns), its coupling ``C`` to the ``nb`` border unknowns and a share of
    ``D`` (``D`` is the sum over the blocks); ``rhs_a`` ``(G, kb, q)``, ``rhs_d``
    ``(nb, q)``: ``q`` right-hand sides. Returns ``(x_a, x_d, dinv)``: the solutions
    ``(G, kb, q)`` and ``(nb, q)`` and the diagonal of the inverse at the block unknowns
    ``(G, kb)``. Exact (no approximation of the coupling).
    """
    c = gram[:, :kb, kb:]
    nb = c.shape[2]
    linv = _block_inverse_factors(gram[:, :kb, :kb])
    # A^-1 [C, r] = L^-T L^-1 [C, r], and C^T A^-1 [C, r] summed over the blocks
    x = np.concatenate([c, rhs_a], axis=2)
    ainv = linv.transpose(0, 2, 1) @ (linv @ x)
    cx = (c.transpose(0, 2, 1) @ ainv).sum(axis=0)
    sinv = _cho_solve(_cholesky(gram[:, kb:, kb:].sum(axis=0) - cx[:, :nb]), np.eye(nb))
    x_d = sinv @ (rhs_d - cx[:, nb:])
    ainv_c = ainv[:, :, :nb]
    x_a = ainv[:, :, nb:] - ainv_c @ x_d
    dinv = np.einsum("gij,gij->gj", linv, linv) + np.einsum("gik,gik->gi", ainv_c @ sinv, ainv_c)
    return x_a, x_d, dinv


def _pairs(starts, size):
    """Every ordered pair ``(i, j)`` of entries within the same run of a sorted sequence.

    ``starts``: index of the first entry of each run; ``size``: number of entries.
    """
    sizes = np.diff(starts, append=size)
    rep = sizes.repeat(sizes)                          # partners of each entry: its run's size
    skip = rep.cumsum() - rep
    i = np.arange(size).repeat(rep)
    j = (starts.repeat(sizes) - skip).repeat(rep) + np.arange(i.size)
    return i, j


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

    Unknowns: the map-kind models' footprint pixels (model after model, in the order
    of ``models``), then one flux per template model. ``sky``: each model's grid offset
    ``(ox, oy)`` [pixels]; ``prior``: each model's normalised direct image on the
    footprint (the template shape); ``pix``: the footprint's ``(rows, columns)``, if
    known. Returns ``(rows, cols, vals)``: flat index into the ``(n_beams, n, n_disp)``
    data, unknown and weight of each entry (duplicates add up).
    """
    n = tgt.shape[0]
    jj, ii = np.divmod(tgt.reshape(-1).nonzero()[0], n) if pix is None else pix
    npix = ii.size
    names = list(models)
    # first unknown of each model (maps: npix each, then one per template) and its step per pixel
    step = [int(models[p]["kind"] == "map") for p in names]
    col0, k_map, k_tmp = [], 0, sum(step) * npix
    for st in step:
        col0.append(k_map * npix if st else k_tmp)
        k_map, k_tmp = k_map + st, k_tmp + 1 - st
    amp = np.array([np.ones(npix) if st else prior[p] for p, st in zip(names, step)])
    spec = tuple((k, b, beams[b]["grism"], *sky[p], tuple((r, o) for _, r, o in models[p]["parts"]))
                 for k, p in enumerate(names) for b in bsel)
    mi, bi, is_r, d_al, d_cr, w = _taps(spec)
    # (tap, pixel) entries, pixel-fastest
    along = np.where(is_r[:, None], ii, jj) + d_al[:, None]
    cross = np.where(is_r[:, None], jj, ii) + d_cr[:, None]
    vals = w[:, None] * amp[mi]
    # (unsigned views: negative indices fail the upper bound too)
    ok = (np.abs(vals) > 1e-12) & (cross.view(np.uint64) < n) & (along.view(np.uint64) < n_disp)
    sel = ok.reshape(-1).nonzero()[0]
    rows = ((bi[:, None] * n + cross) * n_disp + along).reshape(-1)[sel]
    cols = (np.array(col0)[mi][:, None] + np.array(step)[mi][:, None] * np.arange(npix)).reshape(-1)[sel]
    return rows, cols, vals.reshape(-1)[sel]


def _solve_rows(grp, starts, cols, bv, wy, drow, tgt, axis, n_maps, n_temps, pk, reg):
    """Least squares of a single grism orientation, per cross-dispersion row (as :func:`_solve_filter`).

    Only unknowns on the same cross-dispersion row share data, so the map unknowns'
    normal matrix is block-diagonal; the template fluxes and the prior amplitudes
    are a dense border. ``grp``, ``starts``: data pixel (``0..``, non-decreasing) of each
    design entry and the first entry of each data pixel; ``cols``, ``bv``: unknown and
    weighted value of each entry; ``wy``, ``drow``: weighted data and cross-dispersion
    row of each data pixel; ``tgt``: the footprint, dispersed along ``axis`` (1: R,
    0: C); ``pk`` ``(n_maps, npix)``: the normalised prior shapes; ``reg``: the prior's
    relative weight. Returns ``(sol, var, true_var)``: the solution ``(U,)`` (maps,
    then templates), the variances of the map unknowns ``(n_maps, npix)`` and the
    variance of each map's sum.
    """
    K, T = n_maps, n_temps
    sidx = tgt.reshape(-1).nonzero()[0]
    # block (cross-dispersion row) of each pixel and its position along the row
    count = tgt.sum(axis=axis)
    lut = (count > 0).cumsum() - 1
    count = count[count > 0]
    nblk, m = count.size, int(count.max())
    blk = lut[sidx // tgt.shape[1] if axis else sidx % tgt.shape[1]]
    pos = (tgt.cumsum(axis=axis) - 1).reshape(-1)[sidx]
    # per block: maps (k, pos), templates, prior amplitudes a_k
    kb = K * m
    size = kb + T + K
    loc = np.arange(K)[:, None] * m + pos                     # (K, npix)
    fu = blk * kb + loc                                        # flat index of each map unknown in (G, kb)
    eloc = np.concatenate([loc.reshape(-1), kb + np.arange(T)])[cols]
    eidx = lut[drow][grp] * size + eloc
    i, j = _pairs(starts, grp.size)
    gram = np.bincount(eidx[i] * size + eloc[j], weights=bv[i] * bv[j],
                       minlength=nblk * size * size).reshape(nblk, size, size)
    rhs = np.bincount(eidx, weights=bv * wy[grp], minlength=nblk * size).reshape(nblk, size)
    # regularisation: lam on the maps' diagonal (padding: 1), -lam p_k between map k and
    # a_k, lam |p_k|^2 on a_k (in block 0: the border is summed over the blocks)
    diag = gram.reshape(nblk, -1)[:, ::size + 1]                  # a view
    on = np.arange(kb) % m < count[:, None]                      # (G, kb): real map unknowns
    lam = reg * _median_positive(diag[:, :kb][on])
    diag[:, :kb] += np.where(on, lam, 1.0)
    kk = np.arange(K)[:, None]
    coupling = np.zeros((nblk * kb, K))
    coupling[fu, kk] = -lam * pk
    coupling = coupling.reshape(nblk, kb, K)
    gram[:, :kb, kb + T:] = coupling
    gram[:, kb + T:, :kb] = coupling.transpose(0, 2, 1)
    diag[0, kb + T:] += lam * (pk * pk).sum(axis=1)
    ones = np.zeros((nblk * kb, K))                               # indicator of each map's unknowns
    ones[fu, kk] = 1.0
    ones = ones.reshape(nblk, kb, K)
    rhs_d = np.zeros((T + K, 1 + K))
    rhs_d[:T, 0] = rhs[:, kb:kb + T].sum(axis=0)
    x_a, x_d, dinv = _bordered_solve(gram, kb, np.concatenate([rhs[:, :kb, None], ones], axis=2), rhs_d)
    sol = np.concatenate([x_a[:, :, 0].reshape(-1)[fu].reshape(-1), x_d[:T, 0]])
    return sol, dinv.reshape(-1)[fu], np.einsum("gik,gik->k", x_a[:, :, 1:], ones)


def _solve_filter(data, err, cont, beams, bsel, models, tgt, prior_img, reg, checker_reg):
    """Joint weighted least squares of one filter's line maps (module docstring, step 3).

    ``data``, ``err``: ``(n_beams, n, n_disp)`` dispersed data and errors; ``cont``: per
    beam continuum fit (:func:`~.grism_continuum.continuum_coefficients`), subtracted
    from the data, or None.

    Returns ``(values, variances, sky_offsets, chi2_nu, corr)``: per map-kind model
    ``(npix,)`` solutions in data units (flux / D per pixel) with their variances, the
    map grids' sky offsets ``(ox, oy)`` [pixels], the reduced chi^2 and the
    large-area noise-correlation factor of each map.
    """
    n, n_disp = tgt.shape[0], data.shape[2]
    sidx = np.flatnonzero(tgt.ravel())
    jj, ii = np.divmod(sidx, n)
    npix = sidx.size
    grs = {beams[b]["grism"] for b in bsel}
    has_r, has_c = "R" in grs, "C" in grs
    names = list(models)
    maps = [p for p in names if models[p]["kind"] == "map"]
    K, T = len(maps), len(names) - len(maps)
    U = K * npix + T
    frac = {par: models[par]["parts"][0][2] - round(models[par]["parts"][0][2]) for par in names}
    sky = {par: ((-f if has_r else 0.0), (-f if has_c else 0.0)) for par, f in frac.items()}
    # direct image at each model's grid positions, normalised to unit sum
    oxy = np.array([sky[par] for par in names])
    pks = ndimage.map_coordinates(prior_img, [(jj + oxy[:, 1:]).ravel(), (ii + oxy[:, :1]).ravel()], order=1,
                                  mode="nearest").reshape(len(names), npix)
    psum = pks.sum(axis=1, keepdims=True)
    pks = pks / psum if (psum > 0).all() else np.where(psum > 0, pks / np.where(psum > 0, psum, 1.0), 1.0 / npix)
    prior = dict(zip(names, pks))
    rows, cols, vals = _design(models, sky, prior, beams, bsel, tgt, n_disp, (jj, ii))
    # design entries sorted by data pixel; used: the data pixels the model touches
    order = rows.argsort(kind="stable")
    rows, cols, vals = rows[order], cols[order], vals[order]
    first = np.concatenate([[True], rows[1:] != rows[:-1]])
    starts = first.nonzero()[0]
    used, grp = rows[starts], first.cumsum() - 1
    yv = data.reshape(-1)[used]
    if cont is not None:
        yv = yv - continuum_at(cont, used, n, n_disp)
    with np.errstate(divide="ignore", invalid="ignore"):
        sw = 1.0 / err.reshape(-1)[used]                          # sqrt of the data weight
        ys = yv * sw
    # finite data with 0 < error < inf (y/e is not finite for e = 0, 1/e not positive for e <= 0, inf, NaN)
    good = np.isfinite(ys) & (sw > 0)
    sw = np.where(good, sw, 0.0)
    ys = np.where(good, ys, 0.0)
    bv = vals * sw[grp]                      # B = diag(sw) A: normal matrix B^T B, rhs B^T (sw y)
    pk = np.array([prior[par] for par in maps]).reshape(K, npix)
    if len(grs) == 1 and K:
        sol, var, true_var = _solve_rows(grp, starts, cols, bv, ys, (used // n_disp) % n, tgt, int(has_r),
                                         K, T, pk, reg)
    else:
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
        if has_r and has_c and checker_reg > 0 and K:
            ctc = _checker_gram(sidx, n) * (checker_reg * dref)
            for k in range(K):
                full[k * npix:(k + 1) * npix, k * npix:(k + 1) * npix] += ctc
        (sol, z1), var = _spd_solve(full, [np.concatenate([rhs, np.zeros(K)]), ones])
        var = var[:K * npix].reshape(K, npix)
        true_var = np.einsum("uk,uk->k", ones, z1)
    chi2 = float(np.sum((ys - np.bincount(grp, weights=bv * sol[cols], minlength=used.size)) ** 2))
    chi2 /= max(int(good.sum()) - U, 1)
    values = {par: sol[k * npix:(k + 1) * npix] for k, par in enumerate(maps)}
    variances = {par: np.maximum(var[k], 0.0) for k, par in enumerate(maps)}
    return values, variances, sky, chi2, dict(zip(maps, true_var.tolist()))


def _median_positive(diag):
    """Median of the positive entries (as np.median: mean of the two middle values); 1 if none."""
    dpos = np.sort(diag[diag > 0])
    return 0.5 * float(dpos[(dpos.size - 1) // 2] + dpos[dpos.size // 2]) if dpos.size else 1.0


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


def _overlapping(models, tgt, grism) -> bool:
    """Whether two line models' images overlap along the dispersion (single grism)."""
    offs = [[o for _, _, o in m["parts"]] for m in models.values()]
    dmin = min((abs(x - y) for a in range(len(offs)) for b in range(a + 1, len(offs))
                for x in offs[a] for y in offs[b]), default=np.inf)
    fp = tgt if grism == "R" else tgt.T
    if dmin >= fp.shape[1] + 1:                         # farther apart than any footprint row + 2
        return False
    rows = fp[fp.any(axis=1)]
    ext = 2.0                                           # widest row of the footprint + 2
    if rows.size:
        ext += float(np.max(fp.shape[1] - 1 - np.argmax(rows[:, ::-1], axis=1) - np.argmax(rows, axis=1)))
    return dmin < ext
