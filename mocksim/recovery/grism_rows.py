"""Row-by-row least squares of single-orientation grism line maps (:mod:`.grism_solve`, step 3).

With one grism orientation only the unknowns on the same cross-dispersion row share
data pixels, so the map unknowns' normal matrix is block-diagonal (one block per
footprint row); the template fluxes and the prior amplitudes are a dense border.
The normal matrix is assembled directly per block (its lower triangle, from each
unordered pair of entries) and solved through the Schur complement of the border,
the blocks factored at once.

:func:`_solve_rows_many` does this for several fits ("jobs", e.g. the galaxies of a
chunk) in one pass: their design entries go into one bincount (each job's bins in
its own segment, summed in the job's own entry order) and the blocks of every job
with the same block size are factored and multiplied as one stack. Each job gets
exactly the arithmetic of a fit on its own (the same sums in the same order, the
same factorisation and products per block), so the results do not depend on the batch.
"""
from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import as_strided
from scipy.linalg import lapack


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


def _stack_matmul(a, b):
    """``a @ b`` of stacks of small matrices; element-wise for an inner size of 1 (a BLAS
    call per 1 x 1 product costs more)."""
    return a * b if a.shape[-1] == 1 else a @ b


def _lower_inverse_inplace(low):
    """Invert a C-contiguous stack ``(G, m, m)`` of lower-triangular matrices in place.

    Recursive doubling: with the diagonal blocks of size ``b`` inverted, each pair of
    them forms the inverse of their ``2b`` block, ``[[X, 0], [-Y L21 X, Y]]`` for the
    inverses ``X``, ``Y`` of its diagonal blocks (a partial last block is done alone);
    every level is a few batched products. Returns ``low``.
    """
    g, m = low.shape[:2]
    diag = low.reshape(g, -1)[:, ::m + 1]
    np.divide(1.0, diag, out=diag)
    b = 1
    while b < m:
        full = m // (2 * b)                                   # whole 2b blocks
        o = 2 * b * full
        # a view of the whole 2b diagonal blocks, and a last block of b + fewer
        blocks = [_diagonal_blocks(low, full, o)] if full else []
        if m - o > b:
            blocks.append(low[:, o:, o:])
        for blk in blocks:
            x = _stack_matmul(_stack_matmul(blk[..., b:, b:], blk[..., b:, :b]), blk[..., :b, :b])
            np.negative(x, out=blk[..., b:, :b])
        b *= 2
    return low


def _block_inverse_factors(blocks, bounds=None):
    """``L^-1`` ``(G, m, m)`` of the Cholesky factors of SPD blocks, all at once.

    ``bounds``: first block of each job, then ``G`` (default: one job). If a block is not
    numerically positive definite, the blocks of each job are factored as that job's
    alone: at once, or block by block with :func:`_cholesky`'s jitter.
    """
    try:
        chol = np.linalg.cholesky(blocks)
    except np.linalg.LinAlgError:
        if bounds is not None and len(bounds) > 2:
            return np.concatenate([_block_inverse_factors(blocks[s:e]) for s, e in zip(bounds[:-1], bounds[1:])])
        chol = np.stack([_cholesky(b) for b in blocks])
    return _lower_inverse_inplace(np.ascontiguousarray(chol))


def _spd_inverse_many(mats):
    """Inverses ``(J, m, m)`` of SPD matrices (lower triangles read), by Cholesky factors.

    Each matrix is its own job of :func:`_block_inverse_factors`: if one is not
    numerically positive definite, only it takes :func:`_cholesky`'s jitter and the
    others keep the factor they have alone (one job's failure changed the others' last
    bits when every matrix was refactored)."""
    linv = _block_inverse_factors(mats, np.arange(mats.shape[0] + 1))
    return linv.transpose(0, 2, 1) @ linv


def _diagonal_blocks(mats, k, size):
    """View ``(G, k, s, s)`` of the ``k`` equal diagonal blocks of the leading ``size x size``
    part of a stack of square matrices ``(G, m, m)`` (``s = size // k``)."""
    s = size // k
    st0, st1, st2 = mats.strides
    return as_strided(mats, (mats.shape[0], k, s, s), (st0, s * (st1 + st2), st1, st2))


def _bordered_solve(gram, kb, rhs_a, rhs_d):
    """Solve ``[[A, C], [C^T, D]] x = r`` for block-diagonal ``A``, by the Schur complement of ``D``.

    ``gram`` ``(G, kb + nb, kb + nb)``: per block, ``A``'s SPD diagonal block (first
    ``kb`` unknowns), its coupling ``C`` to the ``nb`` border unknowns and a share of
    ``D`` (``D`` is the sum over the blocks); only its lower triangle is read
    (``C^T`` below ``A``); ``rhs_a`` ``(G, kb, q)``, ``rhs_d``
    ``(nb, q)``: ``q`` right-hand sides. Returns ``(x_a, x_d, dinv)``: the solutions
    ``(G, kb, q)`` and ``(nb, q)`` and the diagonal of the inverse at the block unknowns
    ``(G, kb)``. Exact (no approximation of the coupling).
    """
    x_a, x_d, dinv = _bordered_solve_many(gram, kb, rhs_a, rhs_d[None], np.array([0, gram.shape[0]]))
    return x_a, x_d[0], dinv


def _bordered_solve_many(gram, kb, rhs_a, rhs_d, bounds, n_split=1):
    """:func:`_bordered_solve` of several systems of the same block size, blocks stacked.

    ``bounds`` ``(J + 1,)``: first block of each system, then ``G``; ``rhs_d`` ``(J, nb, q)``;
    ``n_split``: each ``A`` block is block-diagonal with ``n_split`` equal diagonal blocks
    (the entries between them are zero and not read), factored separately.
    Returns ``(x_a, x_d, dinv)`` with ``x_d`` ``(J, nb, q)``; each system's values are
    those of its own call.
    """
    g, c = gram.shape[0], gram[:, kb:, :kb].transpose(0, 2, 1)      # C, from the lower triangle
    nb, s = c.shape[2], kb // n_split
    # L^-1 of A's diagonal blocks, (G * n_split, s, s)
    linv = _block_inverse_factors(_diagonal_blocks(gram, n_split, kb).reshape(-1, s, s), bounds * n_split)
    # A^-1 [C, r] = L^-T L^-1 [C, r] (diagonal block by block), and C^T A^-1 [C, r] summed
    # over each system's blocks
    x = np.concatenate([c, rhs_a], axis=2).reshape(g * n_split, s, -1)
    ainv = (linv.transpose(0, 2, 1) @ (linv @ x)).reshape(g, kb, -1)
    cx = np.add.reduceat(c.transpose(0, 2, 1) @ ainv, bounds[:-1], axis=0)
    # the Schur complements D - C^T A^-1 C (lower triangles) and their inverses
    sinv = _spd_inverse_many(np.add.reduceat(gram[:, kb:, kb:], bounds[:-1], axis=0) - cx[:, :, :nb])
    x_d = sinv @ (rhs_d - cx[:, :, nb:])
    sys_of = np.repeat(np.arange(len(bounds) - 1), np.diff(bounds))
    ainv_c = ainv[:, :, :nb]
    x_a = ainv[:, :, nb:] - ainv_c @ x_d[sys_of]
    dinv = (np.einsum("gij,gij->gj", linv, linv).reshape(g, kb)
            + np.einsum("gik,gik->gi", ainv_c @ sinv[sys_of], ainv_c))
    return x_a, x_d, dinv


def _pairs(starts, size, lower=False):
    """Every ordered pair ``(i, j)`` of entries within the same run of a sorted sequence.

    ``starts``: index of the first entry of each run; ``size``: number of entries;
    ``lower``: only the pairs with ``j <= i`` (each unordered pair once). Pairs come by
    ``i``, then ``j``.
    """
    sizes = np.diff(starts, append=size)
    first = starts.repeat(sizes)
    # partners of each entry: its run's size, or the entries of its run up to itself
    rep = np.arange(size) - first + 1 if lower else sizes.repeat(sizes)
    skip = rep.cumsum() - rep
    i = np.arange(size).repeat(rep)
    j = (first - skip).repeat(rep) + np.arange(i.size)
    return i, j


def _median_positive(diag):
    """Median of the positive entries (as np.median: mean of the two middle values); 1 if none."""
    dpos = np.sort(diag[diag > 0])
    return 0.5 * float(dpos[(dpos.size - 1) // 2] + dpos[dpos.size // 2]) if dpos.size else 1.0


def _median_positive_many(values, labels, n_labels):
    """:func:`_median_positive` of the ``values`` of each label ``0..n_labels-1`` (labels non-decreasing)."""
    pos = values > 0
    v, lab = values[pos], labels[pos]
    v = v[np.lexsort((v, lab))]
    cnt = np.bincount(lab, minlength=n_labels)
    first = np.cumsum(cnt) - cnt
    lo, hi = first + (cnt - 1) // 2, first + cnt // 2
    ok = cnt > 0
    out = np.ones(n_labels)
    out[ok] = 0.5 * (v[lo[ok]] + v[hi[ok]])
    return out


def _solve_rows_many(grp, starts, cols, bv, wy, drow, tg, axis, pix, n_temps, pk, reg, separate=False):
    """Least squares of single-orientation fits ("jobs"), per cross-dispersion row (module docstring).

    Parameters
    ----------
    grp, starts : ndarray
        Data pixel (``0..``, non-decreasing; job after job) of each design entry, and the
        first entry of each data pixel.
    cols, bv : ndarray
        Unknown (jobs' unknowns concatenated: per job the maps' footprint pixels, map
        after map, then the templates) and weighted value of each entry; a data pixel's
        entries in increasing unknown, at most one per unknown (so that its pairs of
        entries ``j <= i`` fill the lower triangles of the normal matrices).
    wy, drow : ndarray
        Weighted data and ``job * n + cross-dispersion row`` of each data pixel.
    tg : ndarray of bool
        ``(J, n, n)`` footprints, dispersed along ``axis + 1`` (axis 1: R, 0: C); jobs in
        order of non-decreasing longest row.
    pix : tuple of ndarray
        ``(job, flat)``: job and flat index into ``tg`` of each footprint pixel (jobs'
        pixels concatenated).
    n_temps : int
        Template unknowns per job.
    pk : ndarray
        ``(K, n_pix)`` normalised prior shapes of the ``K`` maps.
    reg : float
        The prior's relative weight.
    separate : bool
        No data pixel has entries of two maps (the maps' unknowns are factored map by map).

    Returns
    -------
    sol, var : ndarray
        ``(K, n_pix)`` map solutions and their variances.
    temps : ndarray
        ``(J, n_temps)`` template fluxes.
    true_var : ndarray
        ``(J, K)`` variance of each map's sum.
    """
    (K, npx), T, J = pk.shape, n_temps, tg.shape[0]
    pj, flat = pix
    n = tg.shape[1]
    # blocks (footprint rows with pixels) of all jobs, job after job
    count = tg.sum(axis=axis + 1)                                 # (J, n)
    has = count > 0
    lut = has.reshape(-1).cumsum() - 1                            # block of (job, row)
    cnt_b = count[has]
    nblk = has.sum(axis=1)
    bounds = np.concatenate([[0], np.cumsum(nblk)])
    bjob = np.repeat(np.arange(J), nblk)
    m_j = count.max(axis=1)
    size_b = K * m_j[bjob] + T + K
    goff = np.concatenate([[0], np.cumsum(size_b * size_b)])      # each block's normal matrix in one buffer
    roff = np.concatenate([[0], np.cumsum(size_b)])
    # per footprint pixel: its block and position along the row; per unknown its place in its block
    sidx = flat % (n * n)
    blk = lut[pj * n + (sidx // n if axis else sidx % n)]
    pos = (tg.cumsum(axis=axis + 1) - 1).reshape(-1)[flat]
    npix = np.bincount(pj, minlength=J)
    pstart = np.cumsum(npix) - npix
    ucount = K * npix + T
    uoff = np.cumsum(ucount) - ucount
    ploc = np.arange(npx) - pstart[pj]
    loc = np.arange(K)[:, None] * m_j[pj] + pos                   # (K, npx)
    place = np.empty(int(ucount.sum()), np.int64)
    place[uoff[pj] + np.arange(K)[:, None] * npix[pj] + ploc] = loc
    if T:
        place[(uoff + K * npix)[:, None] + np.arange(T)] = (K * m_j)[:, None] + np.arange(T)
    eloc = place[cols]
    eblk = lut[drow][grp]
    i, j = _pairs(starts, grp.size, lower=True)       # unknown j <= unknown i: lower triangles
    gidx = goff[eblk] + eloc * size_b[eblk]
    # normal matrices: per group of jobs below (their blocks' bins are theirs alone, so each
    # bin sums the same products in the same order as one bincount of all jobs would)
    pbound = np.searchsorted(i, np.searchsorted(drow[grp] // n, np.arange(J + 1)))   # each job's pairs
    rbuf = np.bincount(roff[eblk] + eloc, weights=bv * wy[grp], minlength=int(roff[-1]))
    sol, var = np.empty((K, npx)), np.empty((K, npx))
    temps, true_var = np.empty((J, T)), np.empty((J, K))
    kk = np.arange(K)[:, None]
    # jobs with the same longest row m: blocks of one size, contiguous in the buffers
    for m in np.unique(m_j):
        j0, j1 = np.searchsorted(m_j, [m, m + 1])
        b0, b1 = bounds[j0], bounds[j1]
        p0, p1 = pstart[j0], pstart[j1 - 1] + npix[j1 - 1]
        G, kb = b1 - b0, K * int(m)
        size = kb + T + K
        q0, q1 = pbound[j0], pbound[j1]
        iq, jq = i[q0:q1], j[q0:q1]
        gram = np.bincount(gidx[iq] + eloc[jq] - goff[b0], weights=bv[iq] * bv[jq],
                           minlength=int(goff[b1] - goff[b0])).reshape(G, size, size)
        rhs = rbuf[roff[b0]:roff[b1]].reshape(G, size)
        jb = bounds[j0:j1 + 1] - b0                               # first block of each job
        sys_of = bjob[b0:b1] - j0
        # regularisation: lam on the maps' diagonal (padding: 1), -lam p_k between map k and
        # a_k, lam |p_k|^2 on a_k (in each job's first block: the border is summed over the blocks)
        diag = gram.reshape(G, -1)[:, ::size + 1]                 # a view
        on = np.arange(kb) % m < cnt_b[b0:b1, None]              # (G, kb): real map unknowns
        lam = reg * _median_positive_many(diag[:, :kb][on], np.repeat(sys_of, on.sum(axis=1)), j1 - j0)
        diag[:, :kb] += np.where(on, lam[sys_of][:, None], 1.0)
        fu = (blk[p0:p1] - b0) * kb + loc[:, p0:p1]               # flat index of each map unknown in (G, kb)
        pkg = pk[:, p0:p1]
        coupling = np.zeros((G * kb, K))
        coupling[fu, kk] = -lam[pj[p0:p1] - j0] * pkg
        coupling = coupling.reshape(G, kb, K)
        gram[:, kb + T:, :kb] = coupling.transpose(0, 2, 1)       # (lower triangle only)
        pp = np.add.reduceat(pkg * pkg, pstart[j0:j1] - p0, axis=1).T      # |p_k|^2 per job
        diag[jb[:-1], kb + T:] += lam[:, None] * pp
        ones = np.zeros((G * kb, K))                              # indicator of each map's unknowns
        ones[fu, kk] = 1.0
        ones = ones.reshape(G, kb, K)
        rhs_d = np.zeros((j1 - j0, T + K, 1 + K))
        rhs_d[:, :T, 0] = np.add.reduceat(rhs[:, kb:kb + T], jb[:-1], axis=0)
        x_a, x_d, dinv = _bordered_solve_many(gram, kb, np.concatenate([rhs[:, :kb, None], ones], axis=2),
                                              rhs_d, jb, K if separate else 1)
        sol[:, p0:p1] = x_a[:, :, 0].reshape(-1)[fu]
        var[:, p0:p1] = dinv.reshape(-1)[fu]
        temps[j0:j1] = x_d[:, :T, 0]
        true_var[j0:j1] = np.add.reduceat(np.einsum("gik,gik->gk", x_a[:, :, 1:], ones), jb[:-1], axis=0)
    return sol, var, temps, true_var
