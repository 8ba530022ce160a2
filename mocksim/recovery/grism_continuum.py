"""Flat-continuum fit of one grism beam (:mod:`mocksim.recovery.grism_extract`, step 2).

Every cross-dispersion row of the beam is an independent weighted least-squares
problem for the flat continua of its pixels; all rows are set up and solved at once.

A pixel at along-dispersion position ``a`` puts ``f(X - a)`` into column ``X``, with
``f`` the band profile (:func:`~mocksim.instruments.grism_config.box_band_weights`,
as in :func:`~mocksim.instruments.grism_config.continuum_matrix`): 1 on a plateau
``h`` plus a few fractional edge columns ``g = f - h``. The normal-matrix entries
``sum_X w f(X - a) f(X - b)`` are then sums of the weights ``w`` over the overlap of
two plateaus (differences of cumulative sums) plus a few edge terms, so the
``(unknowns, n_disp)`` design matrices are never formed. Profile values within
round-off (``1e-12``) of 0 or 1 are taken as exactly 0 or 1.
"""
from __future__ import annotations

import functools

import numpy as np

from ..instruments.grism_config import box_band_weights

__all__ = ["fit_continuum"]

_ROUNDOFF = 1e-12     # profile values this close to 0 or 1 are round-off of exactly 0 or 1


def _left_indices(mask):
    """Column indices of each row's True entries, left-justified.

    Returns ``(idx, valid)``, both ``(n_rows, m)`` with ``m`` the largest count per
    row: ``idx[r, :k_r]`` are the ``k_r`` True columns of row ``r`` in increasing
    order, ``idx[r, k_r:] = 0`` with ``valid`` False.
    """
    count = mask.sum(axis=1)
    m = int(count.max())
    idx = np.argsort(~mask, axis=1, kind="stable")[:, :m]
    valid = np.arange(m)[None, :] < count[:, None]
    return np.where(valid, idx, 0), valid


@functools.lru_cache(maxsize=32)
def _profile_tables(n: int, n_disp: int, e_lo: float, e_hi: float):
    """Row-independent tables of the continuum design of one beam (cached, read-only).

    Returns a dict: ``wc`` ``(n, n_disp)`` = ``f(X - a)``; ``starts``: the column
    breakpoints of the cumulative sums, whose positions ``starts + [n_disp]`` are
    indexed by ``lo``/``hi`` ``(n, n)`` (plateau overlap of pixels ``a, b``:
    columns ``[lo, hi)``) and ``lo1``/``hi1`` ``(n,)`` (plateau of pixel ``a``);
    ``xe`` ``(n, n_edge)``: the edge columns ``a + e`` of each pixel (clipped to the
    detector), ``ge`` their profile values ``g(e)`` (0 off the detector), and ``fhe``
    ``(n, n_edge, 2n)``: ``f(a + e - b)`` then ``h(a + e - b)`` at ``[a, e, b]``.
    """
    d0 = -2 * (n - 1)                                         # f on every a + e - b
    d = np.arange(d0, n_disp + n - 1)
    f = box_band_weights(d, e_lo, e_hi)
    f = np.where(np.abs(f) <= _ROUNDOFF, 0.0, np.where(np.abs(f - 1.0) <= _ROUNDOFF, 1.0, f))
    dom = (d >= -(n - 1)) & (d < n_disp)                      # X - a on the detector
    flat = d[dom & (f == 1.0)]
    p0, p1 = (int(flat[0]), int(flat[-1])) if flat.size else (1, 0)
    g = f - ((d >= p0) & (d <= p1))
    e = d[dom & (g != 0.0)]
    a = np.arange(n)
    lo_a, hi_a = np.clip(a + p0, 0, n_disp), np.clip(a + p1 + 1, 0, n_disp)
    starts = np.unique(np.concatenate([[0], lo_a, hi_a]))
    starts = starts[starts < n_disp]
    pos = np.append(starts, n_disp)
    amax, amin = np.maximum(a[:, None], a[None, :]), np.minimum(a[:, None], a[None, :])
    lo = np.clip(amax + p0, 0, n_disp)
    hi = np.maximum(np.clip(amin + p1 + 1, 0, n_disp), lo)
    xe = a[:, None] + e[None, :]
    aeb = a[:, None, None] + e[None, :, None] - a[None, None, :]  # [a, e, b]: a + e - b
    t = dict(wc=f[np.arange(n_disp)[None, :] - a[:, None] - d0], starts=starts,
             lo=np.searchsorted(pos, lo), hi=np.searchsorted(pos, hi),
             lo1=np.searchsorted(pos, lo_a), hi1=np.searchsorted(pos, np.maximum(hi_a, lo_a)),
             xe=np.clip(xe, 0, n_disp - 1), ge=np.where((xe >= 0) & (xe < n_disp), g[e - d0], 0.0),
             fhe=np.concatenate([f[aeb - d0], ((aeb >= p0) & (aeb <= p1)).astype(float)], axis=2))
    for v in t.values():
        v.flags.writeable = False
    return t


def _normal_equations(a, w, wy, t):
    """Normal matrices ``(R, m, m)`` and right-hand sides ``(R, m)`` of the rows.

    ``a`` ``(R, m)``: along-dispersion pixel of each unknown; ``w``, ``wy``
    ``(R, n_disp)``: column weights and weighted data (0 where not used); ``t``:
    :func:`_profile_tables`. Entry ``[r, i, j]`` is ``sum_X w f(X - a_i) f(X - a_j)``,
    with ``f = h + g``: ``f_i f_j = h_i h_j + g_j f_i + g_i h_j``.
    """
    nr, n = w.shape[0], t["wc"].shape[0]
    both = np.concatenate([w, wy])
    cum = np.cumsum(np.add.reduceat(both, t["starts"], axis=1), axis=1)
    cum = np.concatenate([np.zeros((2 * nr, 1)), cum], axis=1).ravel()
    nc = cum.size // (2 * nr)
    row = np.arange(nr)[:, None] * nc
    pair = (a[:, :, None] * n + a[:, None, :]).reshape(nr, -1)    # (a_i, a_j) on the n x n grid
    nmat = np.take(cum, row + np.take(t["hi"], pair)) - np.take(cum, row + np.take(t["lo"], pair))
    rhs = np.take(cum, row + nr * nc + np.take(t["hi1"], a)) - np.take(cum, row + nr * nc + np.take(t["lo1"], a))
    if t["ge"].size:
        edge = both[:, t["xe"]] * t["ge"]                          # (2R, n, n_edge)
        # fh[x, r, y] = sum_e g(e) w(x + e) f(x + e - y) for y < n, h(x + e - (y - n)) above
        fh = (edge[:nr].transpose(1, 0, 2) @ t["fhe"]).ravel()
        xr = np.arange(nr)[:, None, None] * (2 * n)
        ai, aj = a[:, :, None] * (nr * 2 * n) + xr, a[:, None, :] * (nr * 2 * n) + xr    # (x, r) offsets in fh
        # g_j f_i + g_i h_j
        nmat += (np.take(fh, aj + a[:, :, None]) + np.take(fh, ai + n + a[:, None, :])).reshape(nr, -1)
        rhs += np.take(edge[nr:].sum(axis=2), np.arange(nr)[:, None] * n + a)
    nmat = nmat.reshape(nr, a.shape[1], a.shape[1])
    return nmat, rhs


def fit_continuum(y, e, e_lo, e_hi, cont_df, tgt_df, prior_df, mask_offsets, pad, reg=1e-3):
    """Row-by-row flat-continuum fit of one beam (module docstring of grism_extract, step 2).

    Parameters
    ----------
    y, e : ndarray
        ``(n, n_disp)`` dispersed data and errors [erg s^-1 cm^-2 um^-1 per pixel],
        rows along the cross-dispersion axis.
    e_lo, e_hi : float
        Band edges [columns from a source pixel's along-dispersion position], as in
        :func:`~mocksim.instruments.grism_config.continuum_matrix`.
    cont_df, tgt_df : ndarray of bool
        ``(n, n)`` pixels with a continuum unknown, and the target footprint, in the
        beam's (cross, along) orientation.
    prior_df : ndarray
        ``(n, n)`` direct image [any flux unit], same orientation: the prior row profile.
    mask_offsets : sequence of float
        Column offsets [pixels] of the lines whose windows are masked.
    pad : float
        Half-width added to each line window [pixels].
    reg : float
        Prior weight relative to the median data weight of the row.

    Returns
    -------
    ndarray
        ``(n, n_disp)`` continuum model, in the units of ``y``.
    """
    n, n_disp = y.shape
    model = np.zeros_like(y)
    rows = np.flatnonzero(cont_df.any(axis=1))
    if rows.size == 0:
        return model
    t = _profile_tables(n, n_disp, float(e_lo), float(e_hi))
    a, valid = _left_indices(cont_df[rows])                  # (R, m) continuum unknowns per row
    nr, m = a.shape
    yr, er = y[rows], e[rows]
    use = np.isfinite(yr) & (er > 0)
    has_t = np.flatnonzero(tgt_df[rows].any(axis=1))
    if has_t.size and len(mask_offsets):                     # mask the target's line windows
        tr = tgt_df[rows[has_t]]
        t0 = np.argmax(tr, axis=1)[:, None]
        t1 = n - 1 - np.argmax(tr[:, ::-1], axis=1)[:, None]
        offs = np.asarray(mask_offsets, float)[None, :]
        lo = np.clip(np.ceil(t0 + offs - pad).astype(int), 0, n_disp)
        hi = np.clip(np.floor(t1 + offs + pad).astype(int) + 1, lo, n_disp)
        # windows [lo, hi) of each row: +1 at lo, -1 at hi, cumulated along the row
        base = np.arange(has_t.size)[:, None] * (n_disp + 1)
        size = has_t.size * (n_disp + 1)
        edges = np.bincount((base + lo).ravel(), minlength=size) - np.bincount((base + hi).ravel(), minlength=size)
        use[has_t] &= np.cumsum(edges.reshape(has_t.size, n_disp + 1)[:, :n_disp], axis=1) == 0
    w = 1.0 / np.where(use, er, np.inf) ** 2                 # 0 where not used
    nmat, rhs = _normal_equations(a, w, w * np.where(use, yr, 0.0), t)
    nmat = np.where(valid[:, :, None] & valid[:, None, :], nmat, 0.0)
    rhs = np.where(valid, rhs, 0.0)
    p = np.where(valid, np.clip(prior_df[rows[:, None], a], 0.0, None), 0.0)
    psum = p.sum(axis=1, keepdims=True)
    p = np.where(psum > 0, p / np.where(psum > 0, psum, 1.0), valid / valid.sum(axis=1, keepdims=True))
    # median of each row's positive diagonal (as np.median: mean of the two middle values)
    d = np.diagonal(nmat, axis1=1, axis2=2)
    npos = (d > 0).sum(axis=1)
    ds = np.sort(np.where(d > 0, d, np.inf), axis=1)
    mid = ds[np.arange(nr), np.maximum(npos - 1, 0) // 2] + ds[np.arange(nr), npos // 2]
    lam = reg * np.where(npos > 0, 0.5 * mid, 1.0)
    # unknowns 0..m-1: continuum; m: prior amplitude; padded unknowns: lam on the diagonal only
    full = np.zeros((nr, m + 1, m + 1))
    full[:, :m, :m] = nmat
    ii = np.arange(m)
    full[:, ii, ii] += lam[:, None]
    full[:, :m, m] = full[:, m, :m] = -lam[:, None] * p
    full[:, m, m] = lam * np.einsum("ri,ri->r", p, p)
    rhs_full = np.concatenate([rhs, np.zeros((nr, 1))], axis=1)
    try:
        sol = np.linalg.solve(full, rhs_full[:, :, None])[:, :, 0]
        bad = ~np.all(np.isfinite(sol), axis=1)
    except np.linalg.LinAlgError:
        sol, bad = np.zeros_like(rhs_full), np.ones(nr, bool)
    for r in np.flatnonzero(bad):                            # singular or failed: minimum-norm solution
        sel = np.append(np.flatnonzero(valid[r]), m)
        sol[r] = 0.0
        sol[r, sel] = np.linalg.lstsq(full[r][np.ix_(sel, sel)], rhs_full[r, sel], rcond=1e-12)[0]
    on_grid = np.zeros((nr, n))                              # solution on each row's pixel grid
    on_grid[np.nonzero(valid)[0], a[valid]] = sol[:, :m][valid]
    model[rows] = on_grid @ t["wc"]
    return model
