"""Grid-method machinery of :mod:`mocksim.recovery.metallicity` (seed 000 Eq. 1).

Part of :mod:`mocksim.recovery.metallicity` (see its module docstring for the
likelihood, priors, methods and status codes). This module holds the deterministic
"grid" posterior evaluation and the posterior summaries both methods share:

* likelihood kernels: :func:`_metal_ll` (metal-line log likelihood at given f_Hb),
  :func:`_metal_chi2` and :func:`_log_marginal` (log likelihood marginalised over
  f_Hb: Laplace approximation or adaptive Gauss-Hermite quadrature on the
  :data:`_GH_X` nodes), evaluated in memory chunks by :func:`_chunked`;
* the passes: :func:`_coarse_pass` (Laplace posterior on a
  :data:`_COARSE_DZ` x :data:`_COARSE_DA` grid; also the emcee walkers' start) and
  :func:`_fine_passes` / :func:`_fine_pass` (quadrature posterior on
  :data:`_NZ_FINE` x :data:`_NA_FINE` nodes spanning, per bin, the coarse region with
  log posterior > max - :data:`_SUPPORT_DLOGP`, see :func:`_fine_grid`, :func:`_box`);
* posterior summaries: :func:`_cdf_quantiles` (quantiles of piecewise-linear
  marginals) and the status-flag tests :func:`_shape_flags` /
  :func:`_grid_shape_flags` (edge-truncated and bimodal marginals).

The functions take the observables' forward model (``_Model`` of
:mod:`mocksim.recovery.metallicity`) as an argument and do not import it, so this
module depends on numpy only.
"""
from __future__ import annotations

import numpy as np

_GH_X, _GH_W = np.polynomial.hermite.hermgauss(8)
_GH_LOGW = np.log(_GH_W) + _GH_X**2
_COARSE_DZ, _COARSE_DA = 0.03, 0.15
_NZ_FINE, _NA_FINE = 41, 21
_SUPPORT_DLOGP = 13.0
_EDGE_FRAC, _MODE_MASS, _DIP_FRAC = 0.10, 0.10, 0.5


# --------------------------------------------------------------------------- likelihood
def _metal_ll(a, s2, m, b, c, f, normalize):
    """sum_j log N(a_j | b_j f, s2_j + c_j (b_j f)^2) without 2 pi; trailing J axis,
    ``f`` lacks it."""
    var = b * f[..., None]
    r = a - var
    var *= var
    var *= c
    var += s2  # s2 + c (b f)^2, built in place
    r *= r
    r /= var
    if normalize:
        r += np.log(var, out=var)
    r *= m
    return -0.5 * r.sum(axis=-1)


def _log_marginal(model, a, s2, m, R, T, normalize, exact):
    """log ∫ L df_Hb on a grid. a,s2,m: (nb,J); R: (J,nb,nz); T: (J,nb,na) -> (nb,nz,na).

    Balmer lines (no intrinsic scatter) give a quadratic ``-(q2 f^2 - 2 q1 f + q0)/2``
    in f evaluated in closed form; metal lines are evaluated at the quadrature nodes.
    The small axes (observable j, quadrature node k) lead, so every operation runs
    over contiguous (nb, nz*na) blocks (the grid flattened: long inner loops for the
    per-bin constants) and sums over j or k add whole blocks.
    """
    nb, nz, na = a.shape[0], R.shape[2], T.shape[2]
    B = model.is_balmer
    lead = (slice(None), slice(None), None)  # (j, nb) -> (j, nb, 1)
    # Balmer lines: b_j = R_j T_j, weights m_j / s2_j
    bB = R[B][:, :, :, None] * T[B][:, :, None, :]                    # (JB,nb,nz,na)
    bB = bB.reshape(bB.shape[:2] + (nz * na,))
    wb = bB * (m[:, B] / s2[:, B]).T[lead]
    q1 = (wb * a[:, B].T[lead]).sum(axis=0)
    wb *= bB
    q2 = wb.sum(axis=0)
    q0 = (m[:, B] * a[:, B] ** 2 / s2[:, B]).sum(axis=1)[:, None]
    # metal lines: model b_j f, variance s2_j + c_j (b_j f)^2
    M = ~B
    bM = R[M][:, :, :, None] * T[M][:, :, None, :]                    # (JM,nb,nz,na)
    bM = bM.reshape(bM.shape[:2] + (nz * na,))
    aM, sM = a[:, M].T[lead], s2[:, M].T[lead]
    mM = None if np.all(m[:, M] == 1.0) else m[:, M].T[lead]
    cM = model.sfrac2[M][:, None, None]
    mb = bM if mM is None else mM * bM
    f = None
    for _ in range(3):  # conditional mode of f_Hb by iterated weighted least squares
        if f is None:
            w = mb / sM
        else:
            w = bM * np.maximum(f, 0.0)
            w *= w
            w *= cM
            w += sM
            np.divide(mb, w, out=w)
        num = q1 + (w * aM).sum(axis=0)
        w *= bM
        p2 = q2 + w.sum(axis=0)
        f = num
        f /= p2
    s = 1.0 / np.sqrt(p2)
    f = np.where(f > 0, f, s)  # keep the quadrature centre inside the prior f > 0
    if not exact:  # Laplace approximation (coarse pass)
        ll = (q2 * f - 2 * q1) * f
        ll += q0
        ll += _metal_chi2(bM, aM, sM, mM, cM, f, normalize)
        ll *= -0.5
        ll += np.log(s)
        return ll.reshape(nb, nz, na)
    # adaptive Gauss-Hermite nodes f_k = f + sqrt(2) s x_k, node axis first: (K,nb,nz*na)
    fk = (np.sqrt(2.0) * _GH_X)[:, None, None] * s
    fk += f
    ll = (q2 * fk - 2 * q1) * fk      # Balmer chi^2: (q2 f - 2 q1) f + q0
    ll += q0
    ll += _metal_chi2(bM[:, None], aM[:, None], sM[:, None], None if mM is None else mM[:, None],
                      cM[:, None], fk, normalize)
    ll *= -0.5
    ll += _GH_LOGW[:, None, None]
    if np.any(f <= -np.sqrt(2.0) * _GH_X[0] * s):  # some nodes outside the prior f > 0
        ll[fk <= 0] = -np.inf
    mx = ll.max(axis=0)
    ll -= mx
    np.exp(ll, out=ll)
    out = np.log(ll.sum(axis=0))
    out += mx
    out += np.log(np.sqrt(2.0) * s)
    return out.reshape(nb, nz, na)


def _metal_chi2(bM, aM, sM, mM, cM, f, normalize):
    """sum_j m_j [(a_j - b_j f)^2 / v_j + log v_j], v_j = s2_j + c_j (b_j f)^2: the metal
    part of -2 log L without 2 pi. Arrays have a leading observable axis j (``f`` lacks
    it); ``mM`` None means every line is present. One observable at a time, in two
    work buffers of ``f``'s shape (no large temporaries)."""
    t, r = np.empty(f.shape), np.empty(f.shape)
    acc = np.zeros(f.shape)
    for j in range(bM.shape[0]):
        np.multiply(bM[j], f, out=t)   # model flux b_j f
        np.subtract(aM[j], t, out=r)
        r *= r
        t *= t
        t *= cM[j]
        t += sM[j]                     # variance
        r /= t
        if normalize:
            r += np.log(t, out=t)
        if mM is not None:
            r *= mM[j]
        acc += r
    return acc


def _chunked(model, idx, Z, A, normalize, exact, chunk, R=None, T=None):
    """_log_marginal over bins ``idx`` (rows of Z (n,nz), A (n,na)) in memory chunks.

    ``R`` (J,n,nz) and ``T`` (J,n,na) are the ratios and transmissions on Z and A
    (computed here if not given); a bin axis of length 1 is shared by all bins.
    """
    n, nz = Z.shape
    na = A.shape[1]
    per = nz * na * model.J * (len(_GH_X) if exact else 1)
    step = max(1, int(chunk // per))
    if R is None:
        R = model.ratios(Z, axis=0)
    if T is None:
        T = model.trans(A, axis=0)
    out = np.empty((n, nz, na))
    for i in range(0, n, step):
        sl = slice(i, i + step)
        rows = idx[sl]
        out[sl] = _log_marginal(model, model.a[rows], model.s2[rows], model.m[rows],
                                R[:, sl] if R.shape[1] > 1 else R, T[:, sl] if T.shape[1] > 1 else T,
                                normalize, exact)
    return out


# --------------------------------------------------------------------------- passes
def _coarse_pass(model, zlo, zhi, free, av_range, av_fixed, normalize, computable, chunk):
    """Laplace-approximated posterior on a coarse grid; groups bins by A_V freedom."""
    groups = []
    for fr in (True, False):
        idx = np.flatnonzero(computable & (free == fr))
        if not idx.size:
            continue
        nz = int(np.ceil((zhi - zlo)[idx].max() / _COARSE_DZ)) + 1
        Z = zlo[idx, None] + (zhi - zlo)[idx, None] * np.linspace(0.0, 1.0, nz)
        if fr:
            na = int(np.ceil((av_range[1] - av_range[0]) / _COARSE_DA)) + 1
            A = np.broadcast_to(np.linspace(*av_range, na), (idx.size, na)).copy()
        else:
            A = np.full((idx.size, 1), float(av_fixed))
        R = None
        if np.all(zlo[idx] == zlo[idx[0]]) and np.all(zhi[idx] == zhi[idx[0]]):  # same row for every bin
            R = model.ratios_row(Z[0])[:, None, :]                 # (J, 1, nz): broadcast over bins
        T = model.trans_row(A[0], model.law)[:, None, :]
        logp = _chunked(model, idx, Z, A, normalize, False, chunk, R, T)
        groups.append(dict(idx=idx, free=fr, Z=Z, A=A, logp=logp, zlo=zlo[idx], zhi=zhi[idx],
                           av_range=av_range, av_fixed=av_fixed, chunk=chunk))
    return {"groups": groups}


def _box(grid, keep):
    """Per row, [grid[first-1], grid[last+1]] around the True entries of keep (n, m)."""
    m = keep.shape[1]
    i0 = np.maximum(np.argmax(keep, axis=1) - 1, 0)
    i1 = np.minimum(m - 1 - np.argmax(keep[:, ::-1], axis=1) + 1, m - 1)
    r = np.arange(keep.shape[0])
    return grid[r, i0], grid[r, i1]


def _fine_grid(g):
    """Fine (12+log(O/H), A_V) grid of group ``g``: rows spanning, per bin, the coarse
    nodes with log posterior >= max - :data:`_SUPPORT_DLOGP` (plus one node)."""
    lp = g["logp"]
    keep = lp >= (lp.max(axis=(1, 2)) - _SUPPORT_DLOGP)[:, None, None]
    z0, z1 = _box(g["Z"], keep.any(axis=2))
    Z = z0[:, None] + (z1 - z0)[:, None] * np.linspace(0.0, 1.0, _NZ_FINE)
    if g["free"]:
        a0, a1 = _box(g["A"], keep.any(axis=1))
        A = a0[:, None] + (a1 - a0)[:, None] * np.linspace(0.0, 1.0, _NA_FINE)
    else:
        A = g["A"]
    return Z, A


def _fine_passes(model, groups, normalize, chunk):
    """:func:`_fine_pass` of every group, with the ratios of all groups in one evaluation."""
    grids = [_fine_grid(g) for g in groups]
    if not grids:
        return []
    R = model.ratios(np.concatenate([Z for Z, _ in grids]), axis=0)
    out, i = [], 0
    for g, (Z, A) in zip(groups, grids):
        out.append(_fine_pass(model, g, normalize, chunk, Z, A, R[:, i:i + Z.shape[0]]))
        i += Z.shape[0]
    return out


def _fine_pass(model, g, normalize, chunk, Z=None, A=None, R=None):
    """Quadrature posterior of group ``g`` on its fine grid; medians and 16/84 % quantiles."""
    if Z is None:
        Z, A = _fine_grid(g)
    T = model.trans_row(A[0], model.law)[:, None, :] if not g["free"] else None
    logp = _chunked(model, g["idx"], Z, A, normalize, True, chunk, R, T)
    p = np.exp(logp - logp.max(axis=(1, 2))[:, None, None])
    dz = np.diff(Z, axis=1)
    # trapezoid integrals, as np.trapezoid (same expression, without its call overhead)
    if g["free"]:
        pz = (np.diff(A, axis=1)[:, None, :] * (p[:, :, 1:] + p[:, :, :-1]) / 2.0).sum(2)
        pa = (dz[:, :, None] * (p[:, 1:, :] + p[:, :-1, :]) / 2.0).sum(1)
        (alo, a, ahi), _ = _cdf_quantiles(A, pa, (0.16, 0.5, 0.84))
    else:
        pz = p[:, :, 0]
        alo = a = ahi = A[:, 0]
    pz = pz / (dz * (pz[:, 1:] + pz[:, :-1]) / 2.0).sum(1)[:, None]
    (zlo, z, zhi), cdf = _cdf_quantiles(Z, pz, (0.16, 0.5, 0.84))
    return dict(z=z, zlo=zlo, zhi=zhi, a=a, alo=alo, ahi=ahi, x=Z, p=pz, cdf=cdf)


# --------------------------------------------------------------------------- summaries
def _cdf_quantiles(x, p, qs):
    """Quantiles of piecewise-linear densities p(x) (rows of 2-D arrays), via the
    trapezoid CDF. Returns ``(list of quantile arrays, normalised CDF)``.
    """
    n, m = x.shape
    cdf = np.empty((n, m))
    cdf[:, 0] = 0.0
    np.cumsum(0.5 * (p[:, 1:] + p[:, :-1]) * np.diff(x, axis=-1), -1, out=cdf[:, 1:])
    pn = p / np.where(cdf[:, -1:] > 0, cdf[:, -1:], 1.0)  # normalised density
    cdf /= cdf[:, -1:]
    if not len(qs):
        return [], cdf
    # exact inverse of the piecewise-quadratic CDF of a piecewise-linear pdf, all qs at once
    q = np.asarray(qs, dtype=float)
    i = (cdf[:, None, :] < q[:, None]).sum(axis=-1) - 1                 # (n, nq)
    np.minimum(np.maximum(i, 0, out=i), m - 2, out=i)
    r = np.arange(n)[:, None]
    c0, x0, p0 = cdf[r, i], x[r, i], pn[r, i]
    h = x[r, i + 1] - x0
    d = pn[r, i + 1] - p0
    dq = np.maximum(q - c0, 0.0)
    den = p0 + np.sqrt(np.maximum(p0 * p0 + 2.0 * d * dq / h, 0.0))
    t = np.where(den > 0, 2.0 * dq / np.where(den > 0, den, 1.0), 0.5 * h)
    res = x0 + np.minimum(t, h)
    return [res[:, k] for k in range(q.size)], cdf


def _shape_flags(x, p, cdf, lo, hi, turn):
    """(edge, bimodal) flags for one bin's marginal p(x) on nodes x."""
    pmax = p.max()
    edge = (abs(x[0] - lo) < 1e-9 and p[0] >= _EDGE_FRAC * pmax) or (
        abs(x[-1] - hi) < 1e-9 and p[-1] >= _EDGE_FRAC * pmax)
    bimodal = False
    if turn is not None and x[0] < turn < x[-1]:
        below = np.interp(turn, x, cdf)
        bimodal = _MODE_MASS <= below <= 1 - _MODE_MASS
    # two separated peaks
    pk = np.flatnonzero((p[1:-1] > p[:-2]) & (p[1:-1] >= p[2:])) + 1
    pk = [i for i in pk if p[i] > 1e-3 * pmax]
    if len(pk) >= 2:
        top = sorted(pk, key=lambda i: p[i])[-2:]
        i0, i1 = min(top), max(top)
        j = i0 + int(np.argmin(p[i0:i1 + 1]))
        if p[j] < _DIP_FRAC * min(p[i0], p[i1]) and _MODE_MASS <= cdf[j] <= 1 - _MODE_MASS:
            bimodal = True
    return edge, bimodal


def _grid_shape_flags(x, p, cdf, lo, hi, turns):
    """:func:`_shape_flags` of every row of 2-D ``x``, ``p``, ``cdf`` (``lo``, ``hi``,
    ``turns``: one per row); the peak search only for rows with two candidate peaks."""
    pmax = p.max(axis=1)
    edge = ((np.abs(x[:, 0] - lo) < 1e-9) & (p[:, 0] >= _EDGE_FRAC * pmax)) | (
        (np.abs(x[:, -1] - hi) < 1e-9) & (p[:, -1] >= _EDGE_FRAC * pmax))
    cand = (p[:, 1:-1] > p[:, :-2]) & (p[:, 1:-1] >= p[:, 2:]) & (p[:, 1:-1] > 1e-3 * pmax[:, None])
    bim = np.zeros(p.shape[0], bool)
    for n in np.flatnonzero((cand.sum(axis=1) >= 2) | np.array([t is not None for t in turns], bool)):
        bim[n] = _shape_flags(x[n], p[n], cdf[n], lo[n], hi[n], turns[n])[1]
    return edge, bim
