"""Line-fit solvers: grid search, variable-projection Levenberg-Marquardt, covariances.

Part of :mod:`mocksim.recovery.linefit` (see its module docstring for the algorithm).
:func:`_fit_groups` runs, for one chunk of spectra and all line groups, the coarse
(v, sigma) grid search (profiled over the linear parameters; one matrix product with
cached whitened node bases when all spectra share their weights), the parabolic start
point, the batched variable-projection Levenberg-Marquardt refinement in
(v, sigma^2) and the Gauss-Newton covariances. Small SPD systems are solved by
element-wise Cholesky on contiguous arrays.
"""
from __future__ import annotations

import numpy as np

from .linefit_model import _Batch, cache_frozen

_TOL_CHI2 = 1e-3  #: converged when the LM model predicts a chi^2 gain < _TOL_CHI2 (~0.03 sigma)
_MAX_ITER = 20  #: Levenberg-Marquardt iterations at most


def _chol_solve(N, b, solve=True):
    """Solve many small SPD systems ``N x = b``; also return ``q = b^T N^-1 b``.

    ``N`` is (..., P, P) or a function ``N(i, j)`` (``i >= j``) returning element
    arrays; ``b`` is (..., P). Works on contiguous per-element arrays (much faster
    than numpy's batched LAPACK for P <= 6). Pivots are floored at 1e-12 of the
    diagonal, so all-zero templates get a zero coefficient.
    """
    P = b.shape[-1]
    get = N if callable(N) else (lambda i, j: N[..., i, j])
    L = [[None] * P for _ in range(P)]
    for j in range(P):
        njj = np.ascontiguousarray(get(j, j))
        d = njj - sum(L[j][k] * L[j][k] for k in range(j))
        L[j][j] = np.sqrt(np.maximum(d, 1e-12 * np.abs(njj) + 1e-280))
        for i in range(j + 1, P):
            L[i][j] = (get(i, j) - sum(L[i][k] * L[j][k] for k in range(j))) / L[j][j]
    z = []
    for i in range(P):
        z.append((b[..., i] - sum(L[i][k] * z[k] for k in range(i))) / L[i][i])
    q = sum(zi * zi for zi in z)
    if not solve:
        return None, q
    x = [None] * P
    for i in range(P - 1, -1, -1):
        x[i] = (z[i] - sum(L[k][i] * x[k] for k in range(i + 1, P))) / L[i][i]
    return np.stack(x, axis=-1), q


def _chol_solve_multi(N, B):
    """Solve many small SPD systems ``N X = B`` with several right-hand sides.

    ``N`` (n, P, P), ``B`` (n, P, m) -> ``X`` (n, P, m); same pivot floors as
    :func:`_chol_solve`. Works on (P, P, n) copies, a column of the factor at a time.
    """
    P = N.shape[-1]
    Nt = np.ascontiguousarray(N.transpose(1, 2, 0))              # (P, P, n)
    L = np.zeros_like(Nt)
    for j in range(P):
        njj = Nt[j, j]
        d = njj.copy()
        for k in range(j):
            d -= L[j, k] * L[j, k]
        L[j, j] = np.sqrt(np.maximum(d, 1e-12 * np.abs(njj) + 1e-280))
        if j + 1 < P:
            e = Nt[j + 1:, j].copy()
            for k in range(j):
                e -= L[j + 1:, k] * L[j, k]
            L[j + 1:, j] = e / L[j, j]
    inv = 1.0 / np.diagonal(L).T[:, :, None]                       # (P, n, 1)
    Lc = L[:, :, :, None]
    Z = np.ascontiguousarray(B.transpose(1, 0, 2))                 # (P, n, m)
    for k in range(P):                                             # forward substitution
        Z[k] *= inv[k]
        if k + 1 < P:
            Z[k + 1:] -= Lc[k + 1:, k] * Z[k]
    X = np.empty_like(Z)
    for i in range(P - 1, -1, -1):                                 # back substitution
        xi = Z[i]
        for k in range(i + 1, P):
            xi -= Lc[k, i] * X[k]
        np.multiply(xi, inv[i], out=X[i])
    out = np.empty_like(B)                                         # B's memory layout
    out[...] = X.transpose(1, 0, 2)
    return out


def _chol_inverse(H, rcond=1e-10):
    """Inverses of SPD ``H`` (n, P, P) with unit diagonal via Cholesky, and a flag per
    matrix: False where a pivot fell below ``rcond`` (ill-conditioned)."""
    n, P = H.shape[:2]
    ok = np.ones(n, bool)
    Lm = np.zeros((n, P, P))
    for j in range(P):
        d = H[:, j, j] - np.einsum("nk,nk->n", Lm[:, j, :j], Lm[:, j, :j])
        ok &= d > rcond
        Lm[:, j, j] = np.sqrt(np.where(d > rcond, d, 1.0))
        if j + 1 < P:
            Lm[:, j + 1:, j] = (H[:, j + 1:, j] - np.einsum("nik,nk->ni", Lm[:, j + 1:, :j], Lm[:, j, :j])) \
                / Lm[:, j, j][:, None]
    Linv = np.linalg.solve(Lm, np.broadcast_to(np.eye(P), (n, P, P)))
    return Linv.transpose(0, 2, 1) @ Linv, ok


_GRID_CACHE: dict = {}
_GRID_CACHE_MAX = 64


def _grid(gm, vrange, srange):
    """Coarse grid: v step 0.7 x the narrowest observed width, sigma_obs ratio 1.35
    (cached; read-only arrays)."""
    key = (gm.lsf_kms_mean, tuple(vrange), tuple(srange))
    out = _GRID_CACHE.get(key)
    if out is None:
        out = cache_frozen(_GRID_CACHE, _GRID_CACHE_MAX, key, _make_grid(gm.lsf_kms_mean, vrange, srange))
    return out


def _make_grid(lsf, vrange, srange):
    """:func:`_grid` for the mean LSF width ``lsf`` [km/s]."""
    so_min, so_max = np.hypot(srange[0], lsf), np.hypot(srange[1], lsf)
    nv = int(np.clip(np.ceil((vrange[1] - vrange[0]) / (0.7 * so_min)) + 1, 3, 81))
    ns = int(np.clip(np.ceil(np.log(so_max / so_min) / np.log(1.35)) + 1, 2, 25))
    sg = np.clip(np.sqrt(np.clip(np.geomspace(so_min, so_max, ns) ** 2 - lsf ** 2, 0, None)),
                 *srange)
    sg[0], sg[-1] = srange
    return np.linspace(vrange[0], vrange[1], nv), sg


_BASIS_CACHE: dict = {}
_BASIS_CACHE_MAX = 32


def _node_bases(gm, vg, sg, w0):
    """Whitened, Cholesky-orthonormalised bases ``(K, nodes * P)`` of all grid nodes
    for the common weights ``w0``: rows of ``L^-1 A^T W`` (cached: calibration grids
    repeat the same redshift, instrument and uniform weights)."""
    key = (gm.key, vg.tobytes(), sg.tobytes(), w0.tobytes())
    out = _BASIS_CACHE.get(key)
    if out is None:
        V, S = np.meshgrid(vg, sg, indexing="ij")
        A = gm.design(gm.profiles(V.ravel(), S.ravel() ** 2))       # (g, K, P)
        P = A.shape[2]
        AW = A * w0[None, :, None]
        N = np.einsum("gkp,gkq->gpq", AW, A)
        N += (1e-12 * np.diagonal(N, axis1=1, axis2=2) + 1e-280)[:, :, None] * np.eye(P)
        Gm = np.linalg.solve(np.linalg.cholesky(N), AW.transpose(0, 2, 1))   # (g, P, K)
        out = np.ascontiguousarray(Gm.reshape(-1, A.shape[1]).T)
        if len(_BASIS_CACHE) >= _BASIS_CACHE_MAX:
            _BASIS_CACHE.pop(next(iter(_BASIS_CACHE)))
        _BASIS_CACHE[key] = out
    return out


def _grid_search(gm, Y, W, vg, sg, w_shared=None):
    """chi^2 of every spectrum at every (v, sigma) node, profiled over the linear
    parameters: (n, nv, ns).

    ``w_shared`` (K,): all rows of ``W`` are ``c_n * w_shared`` (e.g. a uniform
    error cube); then the normal matrices of a node are common to all spectra and
    the profiled chi^2 of every spectrum at every node is one matrix product with
    the nodes' whitened, orthonormalised bases.
    """
    n, K = Y.shape
    P = gm.nlin
    if w_shared is not None:
        j = int(np.argmax(w_shared))
        c = W[:, j] / w_shared[j]
        Z = Y @ _node_bases(gm, vg, sg, w_shared)                   # (n, g * P)
        Z *= Z
        q = np.add.reduceat(Z, np.arange(0, Z.shape[1], P), axis=1) if P > 1 else Z
        yWy = (Y * Y) @ w_shared
        return (c[:, None] * (yWy[:, None] - q)).reshape(n, vg.size, sg.size)
    V, S = np.meshgrid(vg, sg, indexing="ij")
    A = gm.design(gm.profiles(V.ravel(), S.ravel() ** 2))           # (g, K, P)
    il = np.tril_indices(P)
    pair = np.zeros((P, P), int)
    pair[il] = np.arange(il[0].size)
    WY = W * Y
    yWy = np.sum(WY * Y, axis=1)
    g = A.shape[0]
    B = (WY @ A.transpose(1, 0, 2).reshape(K, g * P)).reshape(n, g, P)
    AA = (A[:, :, il[0]] * A[:, :, il[1]]).transpose(1, 2, 0).reshape(K, -1)
    Nu = (W @ AA).reshape(n, il[0].size, g)
    chi2 = yWy[:, None] - _chol_solve(lambda i, j: Nu[:, pair[i, j]], B, False)[1]
    return chi2.reshape(n, vg.size, sg.size)


def _start_point(chi2, vg, sg):
    """Best grid node per spectrum, refined by a parabola along each axis."""
    n, nv, ns = chi2.shape
    iv, js = np.unravel_index(np.argmin(chi2.reshape(n, -1), axis=1), (nv, ns))
    r = np.arange(n)
    out = []
    for idx, grid, cut in ((iv, vg, lambda k: chi2[r, k, js]), (js, sg, lambda k: chi2[r, iv, k])):
        kc = np.clip(idx, 1, grid.size - 2) if grid.size > 2 else idx
        cm, c0, cp = cut(np.clip(kc - 1, 0, None)), cut(kc), cut(np.clip(kc + 1, None, grid.size - 1))
        den = cm - 2 * c0 + cp
        with np.errstate(divide="ignore", invalid="ignore"):
            off = np.clip(np.where(den > 0, 0.5 * (cm - cp) / den, 0.0), -0.5, 0.5)
        inner = (idx > 0) & (idx < grid.size - 1)
        out.append(np.where(inner, np.interp(kc + off, np.arange(grid.size), grid), grid[idx]))
    return out[0].astype(float), out[1].astype(float)


class _State:
    """Variable-projection state of batch rows at given ``(v, u)``.

    The Gram matrix ``G`` of the whitened columns ``[T, continuum, dT/dv, dT/du,
    y]`` (see :meth:`_Batch.gram`) gives the optimal linear parameters ``a``,
    chi^2, the gradient ``g`` of -chi^2 / 2 in ``(v, u)`` and the Schur
    complement ``S`` of the Gauss-Newton normal matrix (Jacobian ``[A, dT/dv a,
    dT/du a]``) on ``(v, u)``: the variable-projection (Kaufman) normal matrix.
    """

    __slots__ = ("a", "chi2", "G", "S", "g", "frac")

    def __init__(self, bt, rows, v, u):
        C, P = bt.C, bt.P
        G, self.frac = bt.gram(rows, v, u)                           # (N, Q, Q), (N, C)
        Z = _chol_solve_multi(G[:, :P, :P], G[:, :P, bt.rhs])
        a = Z[:, :, 0]
        aT = a[:, :C]
        self.chi2 = np.maximum(G[:, -1, -1] - np.einsum("np,np->n", a, G[:, :P, -1]), 0.0)
        gD = G[:, P:P + 2 * C, -1] - np.einsum("nqp,np->nq", G[:, P:P + 2 * C, :P], a)   # dT^T W r
        self.g = np.einsum("njc,nc->nj", gD.reshape(-1, 2, C), aT)
        X = np.einsum("npjc,nc->njp", Z[:, :, 1:].reshape(-1, P, 2, C), aT)      # N^-1 A^T W D
        B = np.einsum("npjc,nc->njp", G[:, :P, P:P + 2 * C].reshape(-1, P, 2, C), aT)  # A^T W D
        DD = G[:, P:P + 2 * C, P:P + 2 * C].reshape(-1, 2, C, 2, C)
        self.S = np.einsum("nc,nicjd,nd->nij", aT, DD, aT) - np.einsum("nip,njp->nij", B, X)
        self.a, self.G = a, G

    def update(self, other, sel, rows):
        """Copy ``other``'s entries ``rows`` into this state's entries ``sel``."""
        for k in self.__slots__:
            getattr(self, k)[sel] = getattr(other, k)[rows]

    def hessian(self, C, P):
        """Full Gauss-Newton normal matrix (n, P+2, P+2) in [linear, v, u]."""
        n = self.a.shape[0]
        R = np.zeros((n, P + 2 * C, P + 2))
        R[:, np.arange(P), np.arange(P)] = 1.0
        R[:, P:P + C, P] = self.a[:, :C]
        R[:, P + C:P + 2 * C, P + 1] = self.a[:, :C]
        return R.transpose(0, 2, 1) @ (self.G[:, :-1, :-1] @ R)


def _lm_step(S, g, lam, frozen):
    """Damped (Levenberg-Marquardt) 2x2 step in (v, u); frozen parameters do not move."""
    a = S[:, 0, 0] * (1.0 + lam + 1e-12) + 1e-280
    d = S[:, 1, 1] * (1.0 + lam + 1e-12) + 1e-280
    b = S[:, 0, 1]
    gv, gu = g[:, 0], g[:, 1]
    if frozen is not None:
        fv, fu = frozen[:, 0], frozen[:, 1]
        b = np.where(fv | fu, 0.0, b)
        gv = np.where(fv, 0.0, gv)
        gu = np.where(fu, 0.0, gu)
    det = a * d - b * b
    det = np.where(det > 0, det, np.inf)
    return np.stack([(d * gv - b * gu) / det, (a * gu - b * gv) / det], axis=1)


def _refine(bt, v, u, vrange, urange, max_iter=_MAX_ITER, tol=_TOL_CHI2):
    """Variable-projection Levenberg-Marquardt on (v, u = sigma^2) for all batch rows.

    ``v``, ``u`` are start values (updated in place). The linear parameters are
    optimal at every trial point. Nonlinear parameters on a bound and pushed
    outwards are frozen for the step (active set); steps are shrunk (direction
    kept) so that ``v`` moves < 0.5 LSF widths and the observed width by <~ 30 %.
    A row is converged when the Gauss-Newton model predicts a chi^2 gain below
    ``tol`` (parameters within ~ sqrt(tol) standard errors of the optimum), or an
    accepted step gained less.
    """
    n = v.size
    rows = np.arange(n)
    st = _State(bt, rows, v, u)
    lam = np.full(n, 1e-3)
    lsf2 = bt.lsf_kms_mean[bt.grp] ** 2
    vmax = 0.5 * np.sqrt(urange[0] + lsf2)
    act = rows
    for _ in range(max_iter):
        if act.size == 0:
            break
        S, g = st.S[act], st.g[act]
        va, ua, la = v[act], u[act], lam[act]
        step = _lm_step(S, g, la, None)
        frz = np.stack([((va <= vrange[0]) & (step[:, 0] < 0)) | ((va >= vrange[1]) & (step[:, 0] > 0)),
                        ((ua <= urange[0]) & (step[:, 1] < 0)) | ((ua >= urange[1]) & (step[:, 1] > 0))],
                       axis=1)
        if frz.any():
            step = _lm_step(S, g, la, frz)
        umax = 0.6 * (ua + lsf2[act])
        step *= np.minimum(1.0, np.minimum(vmax[act] / np.maximum(np.abs(step[:, 0]), 1e-300),
                                           umax / np.maximum(np.abs(step[:, 1]), 1e-300)))[:, None]
        pred = 2.0 * np.einsum("np,np->n", step, g) - np.einsum("np,npq,nq->n", step, S, step)
        conv = pred < tol
        try_ = np.flatnonzero(~conv)
        if try_.size == 0:
            break
        v_n = np.minimum(np.maximum(va[try_] + step[try_, 0], vrange[0]), vrange[1])   # clip
        u_n = np.minimum(np.maximum(ua[try_] + step[try_, 1], urange[0]), urange[1])
        at = act[try_]
        trial = _State(bt, at, v_n, u_n)
        ok = np.isfinite(trial.chi2) & (trial.chi2 <= st.chi2[at])
        acc = at[ok]
        gain = st.chi2[acc] - trial.chi2[ok]
        st.update(trial, acc, ok)
        v[acc], u[acc] = v_n[ok], u_n[ok]
        lam[acc] = np.maximum(lam[acc] * 0.2, 1e-7)
        lam[at[~ok]] *= 10.0
        done = conv
        done[try_[ok]] |= gain < tol
        done |= lam[act] > 1e8
        act = act[~done]
    return st


def _covariances(H, P, v, u, vrange, urange):
    """Covariance of the linear parameters marginalised over free (v, u); errors of v, u.

    ``H`` (n, P+2, P+2) is the Gauss-Newton normal matrix. A nonlinear parameter
    on its bound (or with a zero column, e.g. no line signal) is held fixed; its
    reported error is then the conditional one.
    """
    d = np.diagonal(H, axis1=1, axis2=2).copy()
    fixed = ~(d > 0)
    for jn, (val, (lo, hi)) in enumerate(((v, vrange), (u, urange))):
        tol = 1e-6 * (hi - lo)
        fixed[:, P + jn] |= (val <= lo + tol) | (val >= hi - tol)
    dd = np.where(d > 0, d, 1.0)
    norm = np.sqrt(dd[:, :, None] * dd[:, None, :])
    Hs = H / norm * (~fixed[:, :, None] & ~fixed[:, None, :])    # unit diagonal: scale-free
    Hs[:, np.arange(P + 2), np.arange(P + 2)] = 1.0
    with np.errstate(all="ignore"):
        # inverse by Cholesky where Hs is well conditioned (equal to the pseudo-inverse
        # there); the pseudo-inverse for the (near-)singular rest
        inv, ok = _chol_inverse(Hs)
        bad = np.flatnonzero(~ok)
        if bad.size:
            inv[bad] = np.linalg.pinv(Hs[bad], hermitian=True)
        cov = inv / norm
    var_nl = np.where(fixed[:, P:], 1.0 / dd[:, P:], np.diagonal(cov, axis1=1, axis2=2)[:, P:])
    err = np.where(d[:, P:] > 0, np.sqrt(np.clip(var_nl, 0, None)), np.nan)
    return cov[:, :P, :P], err[:, 0], err[:, 1]


def _shared_weights(W):
    """``w0`` (K,) if every row of ``W`` is a multiple of it, else None."""
    if W.shape[0] < 2:
        return None
    w0 = W[0]
    j = int(np.argmax(w0))
    if not w0[j] > 0:
        return None
    if np.array_equal(W, np.broadcast_to(w0, W.shape)):
        return w0
    c = W[:, j] / w0[j]
    if np.allclose(W, c[:, None] * w0[None, :], rtol=1e-12, atol=0.0):
        return w0
    return None


def _fit_groups(gms, Y, W, vr, sr):
    """Grid search (per group) + one variable-projection Levenberg-Marquardt run and
    covariances for all groups' fits of one chunk of spectra.

    ``Y``, ``W`` (n, nsel) hold the channels ``gm.cols`` of every group. Returns one
    result dict per group.
    """
    n = Y.shape[0]
    G = len(gms)
    K = max(gm.cols.size for gm in gms)
    Yb = np.zeros((G * n, K))
    Wb = np.zeros((G * n, K))
    v = np.empty(G * n)
    s = np.empty(G * n)
    for g, gm in enumerate(gms):
        rs = slice(g * n, (g + 1) * n)
        Yg, Wg = Y[:, gm.cols], W[:, gm.cols]
        Yb[rs, :gm.cols.size], Wb[rs, :gm.cols.size] = Yg, Wg
        vg, sg = _grid(gm, vr, sr)
        v[rs], s[rs] = _start_point(_grid_search(gm, Yg, Wg, vg, sg, _shared_weights(Wg)), vg, sg)
    bt = _Batch(gms, n, Yb, Wb)
    C, P = bt.C, bt.P
    ur = (sr[0] ** 2, sr[1] ** 2)
    u = s ** 2
    st = _refine(bt, v, u, vr, ur)
    cov, v_err, u_err = _covariances(st.hessian(C, P), P, v, u, vr, ur)
    s = np.sqrt(u)
    # a component is measured if >50 % of its template flux falls in valid channels
    ok = st.frac / bt.msum[bt.grp] > 0.5
    amp_err = np.sqrt(np.clip(np.diagonal(cov, axis1=1, axis2=2)[:, :C], 0, None))
    s_err = np.minimum(u_err / (2 * s), np.sqrt(u_err))
    ndof = np.sum(Wb > 0, axis=1) - (bt.nlin[bt.grp] + 2)
    out = []
    for g, gm in enumerate(gms):
        rs = slice(g * n, (g + 1) * n)
        c = gm.ncomp
        out.append(dict(amp=st.a[rs, :c], amp_err=amp_err[rs, :c], ok=ok[rs, :c], v=v[rs], s=s[rs],
                        v_err=v_err[rs], s_err=s_err[rs], chi2=st.chi2[rs], ndof=ndof[rs]))
    return out
