"""Linear algebra of the grism line-map extraction (:mod:`mocksim.recovery.grism_extract`, step 3).

Flux-conserving sub-pixel shift stencils and resampling matrices, the design matrix
and its normal matrix, the SPD solves (dense, or per cross-dispersion row with a Schur
complement for the few global unknowns; the rows' blocks factored all at once) and the
joint weighted least-squares fit of one filter's line maps.
"""
from __future__ import annotations

import functools

import numpy as np
from scipy import ndimage, sparse
from scipy.linalg import lapack

__all__ = ["STENCIL_ORDER"]


#: Number of cell edges through which :func:`_shift_stencil` interpolates the cumulative
#: flux (6: quintic, fifth-order accurate), in the model and in the resampling to the
#: common grid (module docstring, steps 3-4).
STENCIL_ORDER = 6
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
    span = np.arange(-4, 5)

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


def _inv_diag(cf):
    """Diagonal of ``(L L^T)^-1`` for the factor ``L`` of :func:`_cholesky`."""
    linv = lapack.dtrtri(cf, lower=1)[0]
    return np.einsum("ij,ij->j", linv, linv)


def _group_index(groups):
    """``(idx, valid)``, both ``(n_groups, m)``: the unknowns of each group (ascending), padded with 0.

    ``groups``: non-negative integer group id of each unknown.
    """
    counts = np.bincount(groups)
    rank = np.cumsum(counts > 0) - 1                  # group id -> block number
    counts = counts[counts > 0]
    order = np.argsort(groups, kind="stable")
    pos = np.arange(groups.size) - np.repeat(np.cumsum(counts) - counts, counts)
    idx = np.zeros((counts.size, int(counts.max())), int)
    valid = np.zeros(idx.shape, bool)
    idx[rank[groups[order]], pos] = order
    valid[rank[groups[order]], pos] = True
    return idx, valid


def _block_solve(full, rhs, idx, valid):
    """Solve the block-diagonal system ``B x = rhs`` with all blocks at once.

    ``B`` is ``full`` restricted to the groups ``idx`` (``valid`` marks real entries;
    padded unknowns get an identity block). Returns ``(B^-1 rhs, diag(B^-1))``, or
    ``None`` if a block is not positive definite (no jitter here: see :func:`_cholesky`).
    """
    v2 = valid[:, :, None] & valid[:, None, :]
    blocks = np.where(v2, np.take(full, idx[:, :, None] * full.shape[1] + idx[:, None, :]), 0.0)
    gp, jp = np.nonzero(~valid)
    blocks[gp, jp, jp] = 1.0
    try:
        chol = np.linalg.cholesky(blocks)
    except np.linalg.LinAlgError:
        return None
    # L^-1 from (L^T)^-1, upper triangular in Fortran order (no copy)
    linv = np.stack([lapack.dtrtri(f.T, lower=0)[0].T for f in chol])
    rg = np.where(valid[:, :, None], rhs[idx], 0.0)
    sol = np.empty_like(rhs)
    sol[idx[valid]] = (linv.transpose(0, 2, 1) @ (linv @ rg))[valid]
    dinv = np.empty(rhs.shape[0])
    dinv[idx[valid]] = np.einsum("gij,gij->gj", linv, linv)[valid]
    return sol, dinv


def _spd_solve(full, rhs_list, groups=None):
    """Solve a dense SPD system; returns (solutions, diagonal of the inverse).

    With ``groups`` (one id per leading unknown), the leading block is taken to be
    block-diagonal over those ids (true for a single grism orientation, where only
    unknowns on the same cross-dispersion row share data) and the trailing unknowns a
    dense border; the solve then uses the Schur complement of the border, exactly.
    The diagonal blocks are factored all at once; if one of them is not positive
    definite, block by block with :func:`_cholesky`'s jitter.
    """
    if groups is None:
        cf = _cholesky(full)
        return [_cho_solve(cf, r) for r in rhs_list], _inv_diag(cf)
    nl = groups.size
    c = full[:nl, nl:]
    # every right-hand side of the leading block in one matrix: [C, rhs_1, rhs_2, ...]
    rhs_all = np.concatenate([c] + [r[:nl].reshape(nl, -1) for r in rhs_list], axis=1)
    out = _block_solve(full, rhs_all, *_group_index(groups))
    if out is None:
        out = (np.zeros_like(rhs_all), np.zeros(nl))
        for gid in np.unique(groups):
            idx = np.flatnonzero(groups == gid)
            cf = _cholesky(full[np.ix_(idx, idx)])
            out[0][idx] = _cho_solve(cf, rhs_all[idx])
            out[1][idx] = _inv_diag(cf)
    binv_all, dinv = out
    nc = c.shape[1]
    binv_c = binv_all[:, :nc]
    schur = _cholesky(full[nl:, nl:] - c.T @ binv_c)
    # border unknowns, one solve: [(B^-1 C)^T (inverse diagonal), then r_g - C^T B^-1 r_l per rhs r]
    rhs_g = np.concatenate([binv_c.T] + [r[nl:].reshape(nc, -1) for r in rhs_list], axis=1)
    rhs_g[:, nl:] -= c.T @ binv_all[:, nc:]
    xg = _cho_solve(schur, rhs_g)
    cuts = np.cumsum([0] + [r.size // r.shape[0] for r in rhs_list])     # columns of each rhs
    sols = []
    for r, lo, hi in zip(rhs_list, cuts[:-1], cuts[1:]):
        x = xg[:, nl + lo:nl + hi]
        sols.append(np.concatenate([binv_all[:, nc + lo:nc + hi] - binv_c @ x, x]).reshape(r.shape))
    diag = np.concatenate([dinv + np.einsum("ij,ji->i", binv_c, xg[:, :nl]), _inv_diag(schur)])
    return sols, diag


#: Above this many pairs of design entries sharing a data pixel (two grisms), :func:`_gram`
#: uses scipy.sparse, below (single grism) one bincount over all pairs (less overhead).
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
    # every ordered pair (i, j) of entries on the same row of B
    rep = np.repeat(sizes, sizes)
    i = np.repeat(np.arange(grp.size), rep)
    j = np.repeat(np.repeat(starts, sizes), rep) + np.arange(i.size) - np.repeat(np.cumsum(rep) - rep, rep)
    return np.bincount(cols[i] * size + cols[j], weights=vals[i] * vals[j], minlength=size * size).reshape(size, size)


def _design(models, sky, prior, beams, bsel, tgt, n_disp):
    """Entries of the design matrix of one filter's line models (module docstring, step 3).

    Unknowns: the map-kind models' footprint pixels (model after model, in the order
    of ``models``), then one flux per template model. ``sky``: each model's grid offset
    ``(ox, oy)`` [pixels]; ``prior``: each model's normalised direct image on the
    footprint (the template shape). Returns ``(rows, cols, vals)``: flat index into
    the ``(n_beams, n, n_disp)`` data, unknown and weight of each entry (duplicates add
    up).
    """
    n = tgt.shape[0]
    jj, ii = np.divmod(np.flatnonzero(tgt.ravel()), n)
    npix = ii.size
    maps = [p for p, m in models.items() if m["kind"] == "map"]
    temps = [p for p, m in models.items() if m["kind"] == "template"]
    rows, cols, vals = [], [], []
    for par, model in models.items():
        ox, oy = sky[par]
        if model["kind"] == "map":
            col_of = maps.index(par) * npix + np.arange(npix)
            amp = np.ones(npix)
        else:
            col_of = np.full(npix, len(maps) * npix + temps.index(par))
            amp = prior[par]
        for b in bsel:
            g = beams[b]["grism"]
            a0, c0, o_cross = (ii, jj, oy) if g == "R" else (jj, ii, ox)
            o_along = ox if g == "R" else oy
            ct, cw = _shift_stencil(o_cross)
            for _, ratio, loff in model["parts"]:
                shift = int(np.round(o_along + loff))
                at, aw = _shift_stencil(o_along + loff - shift)
                # all stencil taps at once: (cross tap, along tap, pixel)
                wv = ratio * cw[:, None, None] * aw[None, :, None] * amp
                cr = (c0 - ct[:, None])[:, None, :]
                co = (a0 + shift - at[:, None])[None, :, :]
                ok = (np.abs(wv) > 1e-12) & (cr >= 0) & (cr < n) & (co >= 0) & (co < n_disp)
                rows.append(((b * n + cr) * n_disp + co)[ok])
                cols.append(np.broadcast_to(col_of, ok.shape)[ok])
                vals.append(wv[ok])
    return np.concatenate(rows), np.concatenate(cols), np.concatenate(vals)


def _solve_filter(resid, err, beams, bsel, models, tgt, prior_img, n_disp, reg, checker_reg):
    """Joint weighted least squares of one filter's line maps (module docstring, step 3).

    Returns ``(values, variances, sky_offsets, chi2_nu, corr)``: per map-kind model
    ``(npix,)`` solutions in data units (flux / D per pixel) with their variances, the
    map grids' sky offsets ``(ox, oy)`` [pixels], the reduced chi^2 and the
    large-area noise-correlation factor of each map.
    """
    n = tgt.shape[0]
    sidx = np.flatnonzero(tgt.ravel())
    jj, ii = np.divmod(sidx, n)
    npix = sidx.size
    grs = {beams[b]["grism"] for b in bsel}
    has_r, has_c = "R" in grs, "C" in grs
    names = list(models)
    kinds = [models[p]["kind"] for p in names]
    maps = [p for p, k in zip(names, kinds) if k == "map"]
    temps = [p for p, k in zip(names, kinds) if k == "template"]
    K, T = len(maps), len(temps)
    U = K * npix + T
    sky = {}
    for par in names:
        off = models[par]["parts"][0][2]
        frac = off - np.round(off)
        sky[par] = ((-frac if has_r else 0.0), (-frac if has_c else 0.0))
    # direct image at each model's grid positions, normalised to unit sum
    oxy = np.array([sky[par] for par in names])
    pks = ndimage.map_coordinates(prior_img, [(jj + oxy[:, 1:]).ravel(), (ii + oxy[:, :1]).ravel()], order=1,
                                  mode="nearest").reshape(len(names), npix)
    prior = {par: pk / pk.sum() if pk.sum() > 0 else np.full(npix, 1.0 / npix) for par, pk in zip(names, pks)}
    rows, cols, vals = _design(models, sky, prior, beams, bsel, tgt, n_disp)
    # design entries sorted by data pixel; used: the data pixels the model touches
    order = np.argsort(rows, kind="stable")
    rows, cols, vals = rows[order], cols[order], vals[order]
    first = np.concatenate([[True], rows[1:] != rows[:-1]])
    used, grp = rows[first], np.cumsum(first) - 1
    yv = resid.reshape(-1)[used]
    ev = err.reshape(-1)[used]
    good = np.isfinite(yv) & np.isfinite(ev) & (ev > 0)
    sw = np.where(good, 1.0 / np.where(good, ev, 1.0), 0.0)       # sqrt of the data weight
    ys = np.where(good, yv, 0.0) * sw
    bv = vals * sw[grp]                      # B = diag(sw) A: normal matrix B^T B, rhs B^T (sw y)
    full = _gram(grp, cols, bv, U + K)       # unknowns U..U+K-1: the prior amplitudes a_k
    rhs = np.bincount(cols, weights=bv * ys[grp], minlength=U)
    diag = np.diagonal(full)[:K * npix]
    dpos = np.sort(diag[diag > 0])
    # median (as np.median: mean of the two middle values)
    dref = 0.5 * float(dpos[(dpos.size - 1) // 2] + dpos[dpos.size // 2]) if dpos.size else 1.0
    # regularisation: maps -> a_k x direct image (a_k extra unknowns), checkerboard damping
    lam = reg * dref
    for k, par in enumerate(maps):
        pk = prior[par]
        blk = slice(k * npix, (k + 1) * npix)
        dg = np.arange(k * npix, (k + 1) * npix)
        full[dg, dg] += lam
        full[blk, U + k] -= lam * pk
        full[U + k, blk] -= lam * pk
        full[U + k, U + k] += lam * (pk @ pk)
    if has_r and has_c and checker_reg > 0 and K:
        lut = -np.ones(n * n, int)
        lut[sidx] = np.arange(npix)
        quad = np.array([lut[sidx], lut[np.minimum(sidx + 1, n * n - 1)], lut[np.minimum(sidx + n, n * n - 1)],
                         lut[np.minimum(sidx + n + 1, n * n - 1)]])
        okq = (ii < n - 1) & (jj < n - 1) & np.all(quad >= 0, axis=0)
        q = quad[:, okq]
        sgn = np.array([1.0, -1.0, -1.0, 1.0]) * 0.25
        cb = sparse.coo_matrix((np.tile(sgn, q.shape[1]), (np.repeat(np.arange(q.shape[1]), 4), q.T.ravel())),
                               shape=(q.shape[1], npix)).tocsr()
        ctc = (cb.T @ cb).toarray() * (checker_reg * dref)
        for k in range(K):
            blk = slice(k * npix, (k + 1) * npix)
            full[blk, blk] += ctc
    ones = np.zeros((U + K, K))
    for k in range(K):
        ones[k * npix:(k + 1) * npix, k] = 1.0
    groups = None
    if len(grs) == 1:  # single orientation: unknowns couple only along cross-dispersion rows
        groups = np.tile(jj if has_r else ii, K)
    (sol, z1), var = _spd_solve(full, [np.concatenate([rhs, np.zeros(K)]), ones], groups)
    chi2 = float(np.sum((ys - np.bincount(grp, weights=bv * sol[cols], minlength=used.size)) ** 2))
    chi2 /= max(int(good.sum()) - U, 1)
    values = {par: sol[k * npix:(k + 1) * npix] for k, par in enumerate(maps)}
    variances = {par: np.clip(var[k * npix:(k + 1) * npix], 0.0, None) for k, par in enumerate(maps)}
    true_var = {par: float(ones[:, k] @ z1[:, k]) for k, par in enumerate(maps)}
    return values, variances, sky, chi2, true_var


def _overlapping(models, tgt, grism) -> bool:
    """Whether two line models' images overlap along the dispersion (single grism)."""
    fp = tgt if grism == "R" else tgt.T
    rows = fp[fp.any(axis=1)]
    ext = 2.0                                           # widest row of the footprint + 2
    if rows.size:
        ext += float(np.max(fp.shape[1] - 1 - np.argmax(rows[:, ::-1], axis=1) - np.argmax(rows, axis=1)))
    offs = [[o for _, _, o in m["parts"]] for m in models.values()]
    for a in range(len(offs)):
        for b in range(a + 1, len(offs)):
            if min(abs(x - y) for x in offs[a] for y in offs[b]) < ext:
                return True
    return False
