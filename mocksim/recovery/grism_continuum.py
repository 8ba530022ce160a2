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
    positions ``starts + [n_disp]`` are indexed by ``lo1``/``hi1`` ``(n,)`` (plateau of
    pixel ``a``: columns ``[lo1, hi1)``);
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
    xe = a[:, None] + e[None, :]
    aeb = a[:, None, None] + e[None, :, None] - a[None, None, :]  # [a, e, b]: a + e - b
    wc = f[np.arange(n_disp)[None, :] - a[:, None] - d0]
    t = dict(wc=wc, wct=np.ascontiguousarray(wc.T), starts=starts,
             lo1=np.searchsorted(pos, lo_a), hi1=np.searchsorted(pos, np.maximum(hi_a, lo_a)),
             xe=np.clip(xe, 0, n_disp - 1), ge=np.where((xe >= 0) & (xe < n_disp), g[e - d0], 0.0),
             fhe=np.concatenate([f[aeb - d0], ((aeb >= p0) & (aeb <= p1)).astype(float)], axis=2))
    for v in t.values():
        v.flags.writeable = False
    return t


def _row_sums(both, t, single=()):
    """Row-wise sums behind the normal equations of stacked rows (:func:`_normal_equations`).

    ``both`` ``(2, R, n_disp)``: column weights and weighted data of the rows (0 where not
    used, :func:`_data_weights`); ``t``: :func:`_profile_tables`; ``single``: the rows that
    are a beam's only fitted row, whose edge products are made alone (as in that beam's
    own call: a one-row matrix product takes another BLAS path; products of two or more
    rows give each row the same bits however many rows are stacked). Returns a dict:
    ``cum`` (flat ``(2R, nc)``: cumulative sums of weights, then of weighted data, over
    the columns ``[0, starts + [n_disp])``), ``nc``, ``nr`` (= R), and with edge columns
    ``fh`` (flat ``(n, R, 2n)``, :func:`_normal_equations`) and ``erhs`` ``(R, n)``
    (edge terms of the right-hand sides), else None.
    """
    nr, n = both.shape[1], t["wc"].shape[0]
    both = both.reshape(2 * nr, -1)
    red = np.add.reduceat(both, t["starts"], axis=1)
    nc = red.shape[1] + 1
    cum = np.zeros((2 * nr, nc))
    red.cumsum(axis=1, out=cum[:, 1:])
    fh = erhs = None
    if t["ge"].size:
        edge = both[:, t["xe"]] * t["ge"]                          # (2R, n, n_edge)
        # fh[a, r, b] = sum_e g(e) w(a + e) f(a + e - b) for b < n, h(a + e - (b - n)) above
        fh = np.empty((n, nr, 2 * n))
        np.matmul(edge[:nr].transpose(1, 0, 2), t["fhe"], out=fh)
        for r in single:
            np.matmul(edge[r:r + 1].transpose(1, 0, 2), t["fhe"], out=fh[:, r:r + 1])
        fh = fh.reshape(-1)
        erhs = edge[nr:].sum(axis=2)
    return dict(cum=cum.reshape(-1), nc=nc, nr=nr, fh=fh, erhs=erhs)


def _normal_equations(a, sums, rows, t):
    """Normal matrices ``(R_g, m, m)`` and right-hand sides ``(R_g, m)`` of rows ``rows``.

    ``a`` ``(R_g, m)``: along-dispersion pixel of each unknown of the rows ``rows`` (a
    slice) of the stacked :func:`_row_sums` ``sums``, increasing along each row (entries
    after a row's last unknown: padding, their matrix entries are not meaningful);
    ``t``: :func:`_profile_tables`. Entry ``[r, i, j]`` is ``sum_X w f(X - a_i) f(X - a_j)``,
    with ``f = h + g``: ``f_i f_j = h_i h_j + g_j f_i + g_i h_j``.
    """
    n, nc, nr_all, cum = t["wc"].shape[0], sums["nc"], sums["nr"], sums["cum"]
    rid = np.arange(rows.start, rows.stop)[:, None]
    nr = rid.shape[0]
    row = rid * nc
    # h_i h_j: the weights over the plateaus' overlap [lo1(a_j), hi1(a_i)) for a_i <= a_j, i.e.
    # cum(hi1(a_i)) - cum(lo1(a_j)), the smaller of the two orders (cum does not decrease), 0 if empty
    hh = cum.take(row + t["hi1"].take(a))[:, :, None] - cum.take(row + t["lo1"].take(a))[:, None, :]
    nmat = np.maximum(np.minimum(hh, hh.transpose(0, 2, 1)), 0.0).reshape(nr, -1)
    row = row + nr_all * nc
    rhs = cum.take(row + t["hi1"].take(a)) - cum.take(row + t["lo1"].take(a))
    if sums["fh"] is not None:
        fh = sums["fh"]
        base = a * (nr_all * 2 * n) + rid * (2 * n)                 # flat index of fh[a_i, r, 0]
        # g_j f_i + g_i h_j
        gf = fh.take(base[:, None, :] + a[:, :, None]) + fh.take(base[:, :, None] + (a + n)[:, None, :])
        nmat += gf.reshape(nr, -1)
        rhs += sums["erhs"].reshape(-1).take(rid * n + a)
    return nmat.reshape(nr, a.shape[1], a.shape[1]), rhs


def _data_weights(rows, tgt_df, mask_offsets, pad):
    """Weights ``1/e^2`` and weighted data ``y/e^2`` of stacked rows, 0 where not used.

    ``rows``: ``(y, e)`` blocks of rows (data and errors, ``(R_k, n_disp)`` each), stacked
    in order into the returned ``(2, R, n_disp)`` ``(1/e^2, y/e^2)`` (squared and
    weighted on the way: no copy of the inputs). Not used: non-finite data, errors that
    are not positive, and the target's line windows (columns ``[t0 + off - pad, t1 + off +
    pad]`` of each row holding target pixels ``t0..t1``).
    """
    n_disp = rows[0][1].shape[1]
    ends = np.cumsum([e.shape[0] for _, e in rows]).tolist()
    nr = ends[-1]
    both = np.empty((2, nr, n_disp))
    w = both[0]
    # y/e^2 is finite exactly where y is finite and 0 < e (e = inf: weight 0) ... or e < 0
    positive = all(e.min() > 0 for _, e in rows)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        for (_, e), r0, r1 in zip(rows, [0] + ends, ends):
            np.multiply(e, e, out=w[r0:r1])
        np.divide(1.0, w, out=w)
        for (y, _), r0, r1 in zip(rows, [0] + ends, ends):
            np.multiply(y, w[r0:r1], out=both[1, r0:r1])
    if not positive or not np.isfinite(both[1].sum()):    # a finite sum: every term is
        ok = np.isfinite(both[1])
        if not positive:
            ok &= np.concatenate([e > 0 for _, e in rows])
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
    ``mask_offsets``, ``pad``, ``reg`` are shared. The fitted rows of the beams whose
    longest fitted row has the same number of unknowns ``m`` are weighted, summed and
    solved together: every row is an independent fit of size ``m + 1`` either way, and
    its sums are the same whatever rows are stacked with it (:func:`_row_sums`), so each
    beam's result is bit-identical to its own call. Returns a list of ``(coef, wct)``.
    """
    n, n_disp = beams[0][0].shape
    t = _profile_tables(n, n_disp, float(e_lo), float(e_hi))
    coef = np.zeros((len(beams), n, n + 1))                 # last column: scratch for padded unknowns
    out = [(c[:, :n], t["wct"]) for c in coef]
    cont = np.stack([b[2] for b in beams])
    count = cont.sum(axis=2)                                 # unknowns per row
    rows = count > 0
    if any(b[5] is not None for b in beams):
        rows &= np.stack([np.ones(n, bool) if b[5] is None else b[5] for b in beams])
    m_beam = np.where(rows, count, 0).max(axis=1)            # longest fitted row of each beam
    order = np.argsort(m_beam, kind="stable")
    order = order[m_beam[order] > 0]                         # beams by row size (no fitted row: no fit)
    if order.size == 0:
        return out
    # the fitted rows of every beam, beams in that order
    bk, rr = rows[order].nonzero()
    bk = order[bk]
    nrow = rows.sum(axis=1)[order]
    first = rows.argmax(axis=1)[order]
    last = n - 1 - rows[:, ::-1].argmax(axis=1)[order]
    parts = [(beams[k][0], beams[k][1], slice(f, f + c) if l - f + 1 == c else rows[k])
             for k, f, l, c in zip(order.tolist(), first.tolist(), last.tolist(), nrow.tolist())]
    starts = np.cumsum(nrow) - nrow
    tgt = np.stack([b[3] for b in beams])[bk, rr]
    cm, count = cont[bk, rr], count[bk, rr]
    prior = np.stack([b[4] for b in beams])[bk, rr]
    a_all = (~cm).argsort(axis=1, kind="stable")             # each row's continuum unknowns first
    # the rows of the beams of one row size: weighted, summed and solved together
    ms, nrl, starts = m_beam[order].tolist(), nrow.tolist(), starts.tolist()
    group_start = [q for q in range(len(ms)) if not q or ms[q] != ms[q - 1]]
    for g, g1 in zip(group_start, group_start[1:] + [len(ms)]):
        m, gb, r0 = ms[g], slice(g, g1), starts[g]
        sizes = nrl[gb]
        rs = slice(r0, r0 + sum(sizes))
        loc = [s - r0 for s in starts[gb]]
        both = _data_weights([(p[0][p[2]], p[1][p[2]]) for p in parts[gb]], tgt[rs], mask_offsets, pad)
        sums = _row_sums(both, t,
                         [s for s, k in zip(loc, sizes) if k == 1])
        try:
            sol, a, valid = _fit_rows(sums, slice(0, rs.stop - r0), a_all[rs, :m], count[rs], m, prior[rs], reg, t)
        except np.linalg.LinAlgError:       # a singular row: the beams one by one (only its beam falls back)
            fits = []
            for s, k in zip(loc, sizes):
                r = slice(r0 + s, r0 + s + k)
                fits.append(_fit_rows(sums, slice(s, s + k), a_all[r, :m], count[r], m, prior[r], reg, t,
                                      solve_failed=None))
            sol, a, valid = (np.concatenate(v) for v in zip(*fits))
        coef[bk[rs, None], rr[rs, None], np.where(valid, a, n)] = sol[:, :m]
    return out


def _fit_rows(sums, rows, order, count, m, prior, reg, t, solve_failed="raise"):
    """Continuum fits of rows ``rows`` (a slice of :func:`_row_sums` ``sums``), ``m`` unknowns each (padded).

    ``order`` ``(R, >= m)``: each row's along-dispersion pixels, those with an unknown
    first (``count`` of them); ``prior`` ``(R, n)``: the rows of the prior image. Returns
    ``(sol, a, valid)``: the ``(R, m + 1)`` solutions (continua, then the prior
    amplitude), the along-dispersion pixel of each unknown and which are real. A
    singular system raises LinAlgError unless ``solve_failed`` is None (then every row
    is solved by least squares).
    """
    valid = np.arange(m) < count[:, None]
    a = order[:, :m] * valid                                  # (R, m) continuum unknowns per row, padded: 0
    nr = a.shape[0]
    ridx = np.arange(nr)[:, None]
    nmat, rhs = _normal_equations(a, sums, rows, t)
    nmat *= valid[:, :, None] & valid[:, None, :]
    rhs *= valid
    p = np.where(valid, np.maximum(prior[ridx, a], 0.0), 0.0)
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


#: Pixels per block of :func:`continuum_at_many`'s dot products.
_AT_BLOCK = 2048


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
    rows, cols = (cb * n + r)[sel], x[sel]
    coef, wct = coef.reshape(-1, n), next(iter(wcts.values()))
    val = np.empty(sel.size)
    # in blocks of pixels: the gathered rows stay small (large temporaries cost page faults);
    # each pixel's dot product is the same in any block (take: a faster gather of whole rows)
    for s in range(0, sel.size, _AT_BLOCK):
        val[s:s + _AT_BLOCK] = np.einsum("ua,ua->u", coef.take(rows[s:s + _AT_BLOCK], axis=0),
                                         wct.take(cols[s:s + _AT_BLOCK], axis=0))
    out[sel] = val
    return out

