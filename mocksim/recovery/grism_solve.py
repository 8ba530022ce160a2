"""Linear algebra of the grism line-map extraction (:mod:`mocksim.recovery.grism_extract`, step 3).

Flux-conserving sub-pixel shift stencils and resampling matrices, the SPD solves
(dense, or per cross-dispersion row with a Schur complement for the few global
unknowns) and the joint weighted least-squares fit of one filter's line maps.
"""
from __future__ import annotations

import functools

import numpy as np
from scipy import ndimage, sparse

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
    from scipy.linalg import cho_factor

    scale = float(np.mean(np.diag(mat))) or 1.0
    for jitter in (0.0, 1e-12, 1e-10, 1e-8, 1e-6):
        try:
            return cho_factor(mat + jitter * scale * np.eye(mat.shape[0]), lower=True, check_finite=False)
        except np.linalg.LinAlgError:
            continue
    raise np.linalg.LinAlgError("grism line-map normal matrix is not positive definite")  # pragma: no cover


def _inv_diag(cf):
    from scipy.linalg import lapack

    linv = lapack.dtrtri(np.tril(cf[0]), lower=1)[0]
    return np.einsum("ij,ij->j", linv, linv)


def _spd_solve(full, rhs_list, groups=None):
    """Solve a dense SPD system; returns (solutions, diagonal of the inverse).

    With ``groups`` (one id per leading unknown), the leading block is taken to be
    block-diagonal over those ids (true for a single grism orientation, where only
    unknowns on the same cross-dispersion row share data) and the trailing unknowns a
    dense border; the solve then uses the Schur complement of the border, exactly.
    """
    from scipy.linalg import cho_solve

    if groups is None:
        cf = _cholesky(full)
        return [cho_solve(cf, r, check_finite=False) for r in rhs_list], _inv_diag(cf)
    nl = groups.size
    c = full[:nl, nl:]
    binv_c = np.zeros_like(c)
    binv_r = [np.zeros_like(r[:nl], dtype=float) for r in rhs_list]
    dinv = np.zeros(nl)
    for gid in np.unique(groups):
        idx = np.flatnonzero(groups == gid)
        cf = _cholesky(full[np.ix_(idx, idx)])
        binv_c[idx] = cho_solve(cf, c[idx], check_finite=False)
        for br, r in zip(binv_r, rhs_list):
            br[idx] = cho_solve(cf, r[idx], check_finite=False)
        dinv[idx] = _inv_diag(cf)
    schur = _cholesky(full[nl:, nl:] - c.T @ binv_c)
    sols = []
    for br, r in zip(binv_r, rhs_list):
        xg = cho_solve(schur, r[nl:] - c.T @ br, check_finite=False)
        sols.append(np.concatenate([br - binv_c @ xg, xg]))
    w = cho_solve(schur, binv_c.T, check_finite=False)
    diag = np.concatenate([dinv + np.einsum("ij,ji->i", binv_c, w), _inv_diag(schur)])
    return sols, diag


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
    rows, cols, vals, sky = [], [], [], {}
    for par in names:
        off = models[par]["parts"][0][2]
        frac = off - np.round(off)
        ox, oy = (-frac if has_r else 0.0), (-frac if has_c else 0.0)
        sky[par] = (ox, oy)
        if models[par]["kind"] == "map":
            col_of = maps.index(par) * npix + np.arange(npix)
            amp = np.ones(npix)
        else:
            col_of = np.full(npix, K * npix + temps.index(par))
            pk = ndimage.map_coordinates(prior_img, [jj + oy, ii + ox], order=1, mode="nearest")
            amp = pk / pk.sum() if pk.sum() > 0 else np.full(npix, 1.0 / npix)
        for lb, b in enumerate(bsel):
            g = beams[b]["grism"]
            a0, c0, o_cross = (ii, jj, oy) if g == "R" else (jj, ii, ox)
            o_along = ox if g == "R" else oy
            ct, cw = _shift_stencil(o_cross)
            for _, ratio, loff in models[par]["parts"]:
                shift = int(np.round(o_along + loff))
                at, aw = _shift_stencil(o_along + loff - shift)
                for tc, wc_ in zip(ct, cw):
                    cr = c0 - tc
                    for ta, wa in zip(at, aw):
                        co = a0 + shift - ta
                        wv = ratio * wc_ * wa * amp
                        ok = (np.abs(wv) > 1e-12) & (cr >= 0) & (cr < n) & (co >= 0) & (co < n_disp)
                        rows.append(((lb * n + cr) * n_disp + co)[ok])
                        cols.append(col_of[ok])
                        vals.append(wv[ok])
    rows, cols, vals = np.concatenate(rows), np.concatenate(cols), np.concatenate(vals)
    used, rinv = np.unique(rows, return_inverse=True)
    yv = resid[bsel].reshape(-1)[used]
    ev = err[bsel].reshape(-1)[used]
    good = np.isfinite(yv) & np.isfinite(ev) & (ev > 0)
    wv = np.where(good, 1.0 / np.where(good, ev, 1.0) ** 2, 0.0)
    yv = np.where(good, yv, 0.0)
    amat = sparse.csr_matrix((vals, (rinv, cols)), shape=(used.size, U))
    aw = amat.multiply(wv[:, None]).tocsr()
    nmat = (amat.T @ aw).toarray()
    rhs = aw.T @ yv
    diag = np.diag(nmat)[:K * npix]
    dref = float(np.median(diag[diag > 0])) if np.any(diag > 0) else 1.0
    # regularisation: maps -> a_k x direct image (a_k extra unknowns), checkerboard damping
    full = np.zeros((U + K, U + K))
    full[:U, :U] = nmat
    for k, par in enumerate(maps):
        ox, oy = sky[par]
        pk = ndimage.map_coordinates(prior_img, [jj + oy, ii + ox], order=1, mode="nearest")
        pk = pk / pk.sum() if pk.sum() > 0 else np.full(npix, 1.0 / npix)
        lam = reg * dref
        blk = slice(k * npix, (k + 1) * npix)
        full[blk, blk] += lam * np.eye(npix)
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
    res = yv - amat @ sol[:U]
    chi2 = float(np.sum(wv * res ** 2)) / max(int(good.sum()) - U, 1)
    values = {par: sol[k * npix:(k + 1) * npix] for k, par in enumerate(maps)}
    variances = {par: np.clip(var[k * npix:(k + 1) * npix], 0.0, None) for k, par in enumerate(maps)}
    true_var = {par: float(ones[:, k] @ z1[:, k]) for k, par in enumerate(maps)}
    return values, variances, sky, chi2, true_var


def _overlapping(models, tgt, grism) -> bool:
    """Whether two line models' images overlap along the dispersion (single grism)."""
    fp = tgt if grism == "R" else tgt.T
    ext = max((np.ptp(np.flatnonzero(r)) for r in fp if r.any()), default=0) + 2.0
    offs = [[o for _, _, o in m["parts"]] for m in models.values()]
    for a in range(len(offs)):
        for b in range(a + 1, len(offs)):
            if min(abs(x - y) for x in offs[a] for y in offs[b]) < ext:
                return True
    return False
