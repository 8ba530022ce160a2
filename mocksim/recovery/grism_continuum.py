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
round-off (``1e-12``) of 0 or 1 are taken as exactly 0 or 1. The fit returns each
pixel's continuum level (:func:`continuum_coefficients`); the dispersed model is
evaluated only where it is needed (:func:`continuum_at`).
"""
from __future__ import annotations

import functools

import numpy as np

from ..instruments.grism_config import box_band_weights

__all__ = ["fit_continuum", "continuum_coefficients", "continuum_coefficients_many", "continuum_at",
           "continuum_at_many"]

_ROUNDOFF = 1e-12     # profile values this close to 0 or 1 are round-off of exactly 0 or 1


@functools.lru_cache(maxsize=32)
def _profile_tables(n: int, n_disp: int, e_lo: float, e_hi: float):
    """Row-independent tables of the continuum design of one beam (cached, read-only).

    Returns a dict: ``wc`` ``(n, n_disp)`` = ``f(X - a)`` (``wct``: its transpose,
    contiguous); ``starts``: the column breakpoints of the cumulative sums, whose
    positions ``starts + [n_disp]`` are indexed by ``lo``/``hi`` ``(n, n)`` (plateau
    overlap of pixels ``a, b``: columns ``[lo, hi)``) and ``lo1``/``hi1`` ``(n,)``
    (plateau of pixel ``a``);
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
    wc = f[np.arange(n_disp)[None, :] - a[:, None] - d0]
    t = dict(wc=wc, wct=np.ascontiguousarray(wc.T), starts=starts,
             lo=np.searchsorted(pos, lo), hi=np.searchsorted(pos, hi),
             lo1=np.searchsorted(pos, lo_a), hi1=np.searchsorted(pos, np.maximum(hi_a, lo_a)),
             xe=np.clip(xe, 0, n_disp - 1), ge=np.where((xe >= 0) & (xe < n_disp), g[e - d0], 0.0),
             fhe=np.concatenate([f[aeb - d0], ((aeb >= p0) & (aeb <= p1)).astype(float)], axis=2))
    for v in t.values():
        v.flags.writeable = False
    return t


def _normal_equations(a, both, t, sizes=None):
    """Normal matrices ``(R, m, m)`` and right-hand sides ``(R, m)`` of the rows.

    ``a`` ``(R, m)``: along-dispersion pixel of each unknown; ``both`` ``(2, R, n_disp)``:
    column weights and weighted data (0 where not used); ``t``: :func:`_profile_tables`;
    ``sizes``: rows of each beam (default: one beam), whose edge-term matrix products
    are made beam by beam (the same BLAS calls as for each beam alone).
    Entry ``[r, i, j]`` is ``sum_X w f(X - a_i) f(X - a_j)``, with ``f = h + g``:
    ``f_i f_j = h_i h_j + g_j f_i + g_i h_j``.
    """
    nr, n = a.shape[0], t["wc"].shape[0]
    both = both.reshape(2 * nr, -1)
    red = np.add.reduceat(both, t["starts"], axis=1)
    nc = red.shape[1] + 1
    cum = np.zeros((2 * nr, nc))                               # sums over columns [0, starts + [n_disp])
    red.cumsum(axis=1, out=cum[:, 1:])
    cum = cum.reshape(-1)
    row = np.arange(nr)[:, None] * nc
    pair = (a[:, :, None] * n + a[:, None, :]).reshape(nr, -1)    # (a_i, a_j) on the n x n grid
    nmat = cum.take(row + t["hi"].take(pair)) - cum.take(row + t["lo"].take(pair))
    row = row + nr * nc
    rhs = cum.take(row + t["hi1"].take(a)) - cum.take(row + t["lo1"].take(a))
    if t["ge"].size:
        edge = both[:, t["xe"]] * t["ge"]                          # (2R, n, n_edge)
        # fh[a, r, b] = sum_e g(e) w(a + e) f(a + e - b) for b < n, h(a + e - (b - n)) above
        fh = np.empty((n, nr, 2 * n))
        for r in _slices([nr] if sizes is None else sizes):
            np.matmul(edge[r].transpose(1, 0, 2), t["fhe"], out=fh[:, r])
        fh = fh.reshape(-1)
        base = a * (nr * 2 * n) + np.arange(nr)[:, None] * (2 * n)   # flat index of fh[a_i, r, 0]
        # g_j f_i + g_i h_j
        gf = fh.take(base[:, None, :] + a[:, :, None]) + fh.take(base[:, :, None] + (a + n)[:, None, :])
        nmat += gf.reshape(nr, -1)
        rhs += edge[nr:].sum(axis=2).reshape(-1).take(np.arange(nr)[:, None] * n + a)
    return nmat.reshape(nr, a.shape[1], a.shape[1]), rhs


def _data_weights(y, e, tgt_df, mask_offsets, pad):
    """``(2, R, n_disp)``: weights ``1/e^2`` and weighted data ``y/e^2`` of the rows, 0 where not used.

    Not used: non-finite data, errors that are not positive, and the target's line
    windows (columns ``[t0 + off - pad, t1 + off + pad]`` of each row holding target
    pixels ``t0..t1``).
    """
    nr, n_disp = y.shape
    both = np.empty((2, nr, n_disp))
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        np.divide(1.0, e * e, out=both[0])
        np.multiply(both[0], y, out=both[1])
    # y/e^2 is finite exactly where y is finite and 0 < e (e = inf: weight 0) ...
    ok = np.isfinite(both[1])
    ok &= e > 0                                               # ... or e < 0
    if not ok.all():
        both[:, ~ok] = 0.0
    has_t = tgt_df.any(axis=1).nonzero()[0]
    if has_t.size and len(mask_offsets):
        tr = tgt_df[has_t]
        t0 = tr.argmax(axis=1)[:, None]
        t1 = tgt_df.shape[1] - 1 - tr[:, ::-1].argmax(axis=1)[:, None]
        offs = np.asarray(mask_offsets, float)
        lo = np.minimum(np.maximum(np.ceil(t0 + offs - pad), 0), n_disp).astype(int)
        size = np.maximum(np.minimum(np.floor(t1 + offs + pad) + 1, n_disp).astype(int) - lo, 0).ravel()
        # flat index of every windowed column (windows may overlap: zeroed twice)
        start = (has_t[:, None] * n_disp + lo).ravel()
        skip = size.cumsum() - size
        idx = (start - skip).repeat(size) + np.arange(skip[-1] + size[-1])
        both[0].reshape(-1)[idx] = 0.0
        both[1].reshape(-1)[idx] = 0.0
    return both


def continuum_coefficients(y, e, e_lo, e_hi, cont_df, tgt_df, prior_df, mask_offsets, pad, reg=1e-3,
                           fit_rows=None):
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
    fit_rows : ndarray of bool, optional
        ``(n,)`` rows to fit (default: all); the others get no continuum (each row is an
        independent fit, so the fitted rows do not depend on this choice).

    Returns
    -------
    coef : ndarray
        ``(n, n)`` fitted flat continuum of each pixel [units of ``y``], 0 without an
        unknown; the model is ``coef @ wct.T``.
    wct : ndarray
        ``(n_disp, n)``: column ``a`` is the dispersed profile of a unit flat continuum
        from along-dispersion pixel ``a`` (cached, read-only).
    """
    return continuum_coefficients_many([(y, e, cont_df, tgt_df, prior_df, fit_rows)], e_lo, e_hi,
                                       mask_offsets, pad, reg)[0]


def continuum_coefficients_many(beams, e_lo, e_hi, mask_offsets, pad, reg=1e-3):
    """:func:`continuum_coefficients` of several beams with the same band and line windows.

    ``beams``: sequence of ``(y, e, cont_df, tgt_df, prior_df, fit_rows)`` (arguments as
    in :func:`continuum_coefficients`, one ``(n, n_disp)`` shape); ``e_lo``, ``e_hi``,
    ``mask_offsets``, ``pad``, ``reg`` are shared. The rows of all beams whose longest
    fitted row has the same number of unknowns ``m`` are solved together: every row is
    an independent fit of size ``m + 1`` either way, so each beam's result is
    bit-identical to its own call (the only operation coupling a beam's rows, its
    matrix product of edge terms, runs beam by beam). Returns a list of ``(coef, wct)``.
    """
    n, n_disp = beams[0][0].shape
    t = _profile_tables(n, n_disp, float(e_lo), float(e_hi))
    out, by_m = [], {}
    for k, (y, e, cont_df, tgt_df, prior_df, fit_rows) in enumerate(beams):
        coef = np.zeros((n, n + 1))                            # last column: scratch for padded unknowns
        out.append((coef, t["wct"]))
        rows = cont_df.any(axis=1)
        if fit_rows is not None:
            rows &= fit_rows
        rid = rows.nonzero()[0]
        if rid.size == 0:
            continue
        rows = slice(rid[0], rid[-1] + 1) if rid[-1] - rid[0] + 1 == rid.size else rid   # contiguous: views
        cm = cont_df[rows]
        count = cm.sum(axis=1)
        by_m.setdefault(int(count.max()), []).append((k, rid, rows, cm, count))
    for m, group in by_m.items():
        parts = [(beams[k], rows) for k, _, rows, _, _ in group]
        if len(group) == 1:
            (y, e, _, tgt_df, prior_df, _), rows = parts[0]
            y, e, tgt_df, prior_df = y[rows], e[rows], tgt_df[rows], prior_df[rows]
        else:
            y, e, tgt_df, prior_df = (np.concatenate([b[i][rows] for b, rows in parts]) for i in (0, 1, 3, 4))
        cm = group[0][3] if len(group) == 1 else np.concatenate([g[3] for g in group])
        count = group[0][4] if len(group) == 1 else np.concatenate([g[4] for g in group])
        sizes = [g[1].size for g in group]
        try:
            sol, a, valid = _fit_rows(y, e, cm, count, m, tgt_df, prior_df, mask_offsets, pad, reg, t, sizes)
        except np.linalg.LinAlgError:       # a singular row: the beams one by one (only its beam falls back)
            fits = [_fit_rows(*(x[r] for x in (y, e, cm, count)), m, tgt_df[r], prior_df[r], mask_offsets,
                              pad, reg, t, [s], solve_failed=None)
                    for s, r in zip(sizes, _slices(sizes))]
            sol, a, valid = (np.concatenate(v) for v in zip(*fits))
        for (k, rid, _, _, _), r in zip(group, _slices(sizes)):
            out[k][0][rid[:, None], np.where(valid[r], a[r], n)] = sol[r, :m]
    return [(coef[:, :n], wct) for coef, wct in out]


def _slices(sizes):
    """Consecutive slices of the given sizes."""
    ends = np.cumsum(sizes)
    return [slice(int(b - s), int(b)) for s, b in zip(sizes, ends)]


def _fit_rows(y, e, cm, count, m, tgt_df, prior_df, mask_offsets, pad, reg, t, sizes, solve_failed="raise"):
    """Continuum fits of stacked rows, ``m`` unknowns each (padded), beams of ``sizes`` rows.

    Returns ``(sol, a, valid)``: the ``(R, m + 1)`` solutions (continua, then the prior
    amplitude), the along-dispersion pixel of each unknown and which are real. A
    singular system raises LinAlgError unless ``solve_failed`` is None (then every row
    is solved by least squares).
    """
    valid = np.arange(m) < count[:, None]
    a = (~cm).argsort(axis=1, kind="stable")[:, :m] * valid   # (R, m) continuum unknowns per row, padded: 0
    nr = a.shape[0]
    ridx = np.arange(nr)[:, None]
    both = _data_weights(y, e, tgt_df, mask_offsets, pad)
    nmat, rhs = _normal_equations(a, both, t, sizes)
    nmat *= valid[:, :, None] & valid[:, None, :]
    rhs *= valid
    p = np.where(valid, np.maximum(prior_df[ridx, a], 0.0), 0.0)
    psum = p.sum(axis=1, keepdims=True)
    if (psum > 0).all():
        p /= psum
    else:                                                     # no prior light: uniform
        p = np.where(psum > 0, p / np.where(psum > 0, psum, 1.0), valid / count[:, None])
    # median of each row's positive diagonal (as np.median: mean of the two middle values):
    # sorted, the positive entries are the last npos
    d = np.diagonal(nmat, axis1=1, axis2=2)
    npos = (d > 0).sum(axis=1)
    ds = np.sort(d, axis=1)
    mid = ds[ridx[:, 0], m - npos + (npos - 1) // 2] + ds[ridx[:, 0], np.minimum(m - npos + npos // 2, m - 1)]
    lam = reg * np.where(npos > 0, 0.5 * mid, 1.0)
    # unknowns 0..m-1: continuum; m: prior amplitude; padded unknowns: lam on the diagonal only
    full = np.zeros((nr, m + 1, m + 1))
    full[:, :m, :m] = nmat
    diag = full.reshape(nr, -1)[:, ::m + 2]                   # a view of the diagonals
    diag[:, :m] += lam[:, None]
    full[:, :m, m] = full[:, m, :m] = -lam[:, None] * p
    diag[:, m] = lam * (p * p).sum(axis=1)
    rhs_full = np.concatenate([rhs, np.zeros((nr, 1))], axis=1)
    try:
        sol = np.linalg.solve(full, rhs_full[:, :, None])[:, :, 0]
        bad = ~np.isfinite(sol).all(axis=1)
    except np.linalg.LinAlgError:
        if solve_failed is not None:
            raise
        sol, bad = np.zeros_like(rhs_full), np.ones(nr, bool)
    for r in bad.nonzero()[0]:                                # singular or failed: minimum-norm solution
        sel = np.append(valid[r].nonzero()[0], m)
        sol[r] = 0.0
        sol[r, sel] = np.linalg.lstsq(full[r][np.ix_(sel, sel)], rhs_full[r, sel], rcond=1e-12)[0]
    return sol, a, valid


def fit_continuum(y, e, e_lo, e_hi, cont_df, tgt_df, prior_df, mask_offsets, pad, reg=1e-3):
    """Continuum model ``(n, n_disp)`` [units of ``y``] of :func:`continuum_coefficients` (same arguments)."""
    coef, wct = continuum_coefficients(y, e, e_lo, e_hi, cont_df, tgt_df, prior_df, mask_offsets, pad, reg)
    return coef @ wct.T


def continuum_at(fits, flat, n, n_disp):
    """Continuum models at flat indices ``flat`` of ``(n_beams, n, n_disp)`` data.

    ``fits``: per beam ``(coef, wct)`` of :func:`continuum_coefficients`, or None (no
    continuum). Evaluates only the requested pixels.
    """
    return continuum_at_many([fits], np.zeros(flat.size, np.int64), flat, n, n_disp)


def continuum_at_many(fits, job, flat, n, n_disp):
    """:func:`continuum_at` of several observations ("jobs") at once.

    ``fits``: per job, its :func:`continuum_at` ``fits`` (or None: no continuum);
    ``job``, ``flat``: job and flat index into its ``(n_beams, n, n_disp)`` data of each
    pixel. Each pixel's value is the same dot product as in its job's own call.
    """
    out = np.zeros(flat.size)
    wcts = {id(f[1]): f[1] for fj in fits for f in (fj or ()) if f is not None}
    if not wcts:
        return out
    r, x = np.divmod(flat, n_disp)
    b, r = np.divmod(r, n)
    if len(wcts) > 1:                                  # bands differ: job by job, beam by beam
        for q, fj in enumerate(fits):
            for beam, fit in enumerate(fj or ()):
                if fit is not None:
                    sel = ((job == q) & (b == beam)).nonzero()[0]
                    out[sel] = np.einsum("ua,ua->u", fit[0][r[sel]], fit[1][x[sel]])
        return out
    nb = max(len(fj or ()) for fj in fits)
    coef = np.zeros((len(fits) * nb, n, n))
    has = np.zeros(len(fits) * nb, bool)
    for q, fj in enumerate(fits):
        for beam, fit in enumerate(fj or ()):
            if fit is not None:
                coef[q * nb + beam], has[q * nb + beam] = fit[0], True
    cb = job * nb + b
    sel = has[cb].nonzero()[0]
    # (take: a faster gather of whole rows than fancy indexing)
    out[sel] = np.einsum("ua,ua->u", coef.reshape(-1, n).take((cb * n + r)[sel], axis=0),
                         next(iter(wcts.values())).take(x[sel], axis=0))
    return out
