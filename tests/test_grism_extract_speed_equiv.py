"""The vectorised grism line-map extraction agrees with the straightforward computations it replaces.

References kept here: the segmentation with ndimage (label, binary_dilation), the
per-row continuum fit (lstsq per cross-dispersion row, the model formed densely), the
per-block Cholesky solve with a Schur complement of a dense normal matrix, the
stencil-tap loops building the design matrix and the scipy.sparse normal matrix.
"""
import numpy as np
import pytest
from scipy import ndimage, sparse
from scipy.linalg import cho_factor, cho_solve, lapack
from scipy.special import erf

from mocksim.instruments import NoiseSpec, get_instrument
from mocksim.instruments.grism_config import continuum_matrix
from mocksim.recovery import grism_extract as gext
from mocksim.recovery import grism_solve as gsol
from mocksim.recovery.grism_continuum import continuum_at, continuum_coefficients, fit_continuum
from mocksim.scene import EmissionScene, SceneComponent

NEIGHBOUR = {"dx_arcsec": 0.75, "dy_arcsec": 0.1, "fwhm_arcsec": 0.15, "continuum_flam": 2e-18,
             "line": "Halpha", "redshift": 0.9, "line_flux": 3e-18}
CASES = [("nircam-wfss-f356w", 6.2, ("R",)), ("niriss-wfss-f150w", 2.1, ("R", "C")),
         ("niriss-wfss-f150w", 2.1, ("C",))]


# ------------------------------------------------------------------ references
def _fit_continuum_ref(y, e, wc, cont_df, tgt_df, prior_df, mask_offsets, pad, reg=1e-3, fit_rows=None):
    """Row by row: design ``wc[a_idx].T``, line windows masked, regularised lstsq; ``(n, n)`` coefficients."""
    n, n_disp = y.shape
    coef = np.zeros((n, n))
    ok_col = np.isfinite(y) & (e > 0)
    for r in range(n):
        a_idx = np.flatnonzero(cont_df[r])
        if a_idx.size == 0 or (fit_rows is not None and not fit_rows[r]):
            continue
        t_idx = np.flatnonzero(tgt_df[r])
        use = ok_col[r].copy()
        if t_idx.size:
            for off in mask_offsets:
                lo = max(int(np.ceil(t_idx[0] + off - pad)), 0)
                hi = int(np.floor(t_idx[-1] + off + pad)) + 1
                use[lo:max(hi, lo)] = False
        a = wc[a_idx].T
        use &= a.sum(axis=1) > 0
        w = 1.0 / e[r, use] ** 2
        au = a[use]
        nmat = au.T @ (au * w[:, None])
        rhs = au.T @ (w * y[r, use])
        p = np.clip(prior_df[r, a_idx], 0.0, None)
        p = p / p.sum() if p.sum() > 0 else np.full(a_idx.size, 1.0 / a_idx.size)
        d = np.diag(nmat)
        lam = reg * (float(np.median(d[d > 0])) if np.any(d > 0) else 1.0)
        na = a_idx.size
        full = np.zeros((na + 1, na + 1))
        full[:na, :na] = nmat + lam * np.eye(na)
        full[:na, na] = full[na, :na] = -lam * p
        full[na, na] = lam * (p @ p)
        sol = np.linalg.lstsq(full, np.concatenate([rhs, [0.0]]), rcond=1e-12)[0]
        coef[r, a_idx] = sol[:na]
    return coef


def _cholesky_ref(mat):
    scale = float(np.mean(np.diag(mat))) or 1.0
    for jitter in (0.0, 1e-12, 1e-10, 1e-8, 1e-6):
        try:
            return cho_factor(mat + jitter * scale * np.eye(mat.shape[0]), lower=True, check_finite=False)
        except np.linalg.LinAlgError:
            continue
    raise np.linalg.LinAlgError("not positive definite")


def _inv_diag_ref(cf):
    linv = lapack.dtrtri(np.tril(cf[0]), lower=1)[0]
    return np.einsum("ij,ij->j", linv, linv)


def _spd_solve_ref(full, rhs_list, groups=None):
    """One Cholesky per group, then the Schur complement of the border."""
    if groups is None:
        cf = _cholesky_ref(full)
        return [cho_solve(cf, r) for r in rhs_list], _inv_diag_ref(cf)
    nl = groups.size
    c = full[:nl, nl:]
    binv_c = np.zeros_like(c)
    binv_r = [np.zeros_like(r[:nl], dtype=float) for r in rhs_list]
    dinv = np.zeros(nl)
    for gid in np.unique(groups):
        idx = np.flatnonzero(groups == gid)
        cf = _cholesky_ref(full[np.ix_(idx, idx)])
        binv_c[idx] = cho_solve(cf, c[idx])
        for br, r in zip(binv_r, rhs_list):
            br[idx] = cho_solve(cf, r[idx])
        dinv[idx] = _inv_diag_ref(cf)
    schur = _cholesky_ref(full[nl:, nl:] - c.T @ binv_c)
    sols = []
    for br, r in zip(binv_r, rhs_list):
        xg = cho_solve(schur, r[nl:] - c.T @ br)
        sols.append(np.concatenate([br - binv_c @ xg, xg]))
    w = cho_solve(schur, binv_c.T)
    return sols, np.concatenate([dinv + np.einsum("ij,ji->i", binv_c, w), _inv_diag_ref(schur)])


def _design_ref(models, sky, prior, beams, bsel, tgt, n_disp):
    """One stencil tap (cross x along) at a time."""
    n = tgt.shape[0]
    jj, ii = np.divmod(np.flatnonzero(tgt.ravel()), n)
    npix = ii.size
    maps = [p for p, m in models.items() if m["kind"] == "map"]
    temps = [p for p, m in models.items() if m["kind"] == "template"]
    rows, cols, vals = [], [], []
    for par, model in models.items():
        ox, oy = sky[par]
        if model["kind"] == "map":
            col_of, amp = maps.index(par) * npix + np.arange(npix), np.ones(npix)
        else:
            col_of, amp = np.full(npix, len(maps) * npix + temps.index(par)), prior[par]
        for b in bsel:
            g = beams[b]["grism"]
            a0, c0, o_cross = (ii, jj, oy) if g == "R" else (jj, ii, ox)
            o_along = ox if g == "R" else oy
            ct, cw = gsol._shift_stencil(o_cross)
            for _, ratio, loff in model["parts"]:
                shift = int(np.round(o_along + loff))
                at, aw = gsol._shift_stencil(o_along + loff - shift)
                for tc, wc_ in zip(ct, cw):
                    cr = c0 - tc
                    for ta, wa in zip(at, aw):
                        co = a0 + shift - ta
                        wv = ratio * wc_ * wa * amp
                        ok = (np.abs(wv) > 1e-12) & (cr >= 0) & (cr < n) & (co >= 0) & (co < n_disp)
                        rows.append(((b * n + cr) * n_disp + co)[ok])
                        cols.append(col_of[ok])
                        vals.append(wv[ok])
    return np.concatenate(rows), np.concatenate(cols), np.concatenate(vals)


def _gram_ref(grp, cols, vals, size):
    bmat = sparse.csr_matrix((vals, (grp, cols)), shape=(int(grp.max()) + 1, size))
    return (bmat.T @ bmat).toarray()


def _solve_rows_ref(grp, starts, cols, bv, wy, drow, tgt, axis, n_maps, n_temps, pk, reg):
    """Dense normal matrix, regularised, solved per cross-dispersion row with the Schur complement."""
    K, npix = n_maps, pk.shape[1]
    U = K * npix + n_temps
    full = _gram_ref(grp, cols, bv, U + K)
    rhs = np.bincount(cols, weights=bv * wy[grp], minlength=U)
    d = np.diagonal(full)[:K * npix]
    lam = reg * (float(np.median(d[d > 0])) if np.any(d > 0) else 1.0)
    ones = np.zeros((U + K, K))
    for k in range(K):
        blk = slice(k * npix, (k + 1) * npix)
        full[blk, blk] += lam * np.eye(npix)
        full[blk, U + k] -= lam * pk[k]
        full[U + k, blk] -= lam * pk[k]
        full[U + k, U + k] += lam * (pk[k] @ pk[k])
        ones[blk, k] = 1.0
    jj, ii = np.divmod(np.flatnonzero(tgt.ravel()), tgt.shape[1])
    (sol, z1), var = _spd_solve_ref(full, [np.concatenate([rhs, np.zeros(K)]), ones], np.tile(jj if axis else ii, K))
    return sol[:U], var[:K * npix].reshape(K, npix), np.einsum("uk,uk->k", ones, z1)


def _solve_rows_many_ref(grp, starts, cols, bv, wy, drow, tg, axis, pix, n_temps, pk, reg, separate=False):
    """:func:`_solve_rows_ref` of the one job of a single observation (``separate``: not needed, it is dense)."""
    assert tg.shape[0] == 1
    sol, var, true_var = _solve_rows_ref(grp, starts, cols, bv, wy, drow, tg[0], axis, pk.shape[0], n_temps, pk, reg)
    return sol[:var.size].reshape(var.shape), var, sol[None, var.size:], true_var[None]


def _design_many_ref(models, sky, prior, beams, bsel, n, n_disp, n_data, pix):
    """:func:`_design_ref` of the one job of a single observation."""
    assert not pix[0].any()
    tgt = np.zeros((n, n), bool)
    tgt[pix[1], pix[2]] = True
    return _design_ref(models, sky, dict(zip(models, prior)), beams, bsel, tgt, n_disp)


def _segment_ref(det, det_err, nsigma, rel, grow):
    """Threshold, ndimage labels, the central region grown with ndimage.binary_dilation."""
    n = det.shape[0]
    peak = float(np.nanmax(det)) if np.isfinite(det).any() else 0.0
    mask = np.isfinite(det) & (det > np.maximum(nsigma * det_err, rel * max(peak, 0.0)))
    lab, _ = ndimage.label(mask)
    yy, xx = np.mgrid[0:n, 0:n]
    r = np.hypot(yy - (n - 1) / 2.0, xx - (n - 1) / 2.0)
    cand = mask & (r <= max(n / 4.0, 3.0))
    if cand.any():
        j, i = np.unravel_index(np.argmax(np.where(cand, det, -np.inf)), det.shape)
        tgt = lab == lab[j, i]
    else:
        tgt = r <= 2.0
    tgt = ndimage.binary_dilation(tgt, iterations=int(grow)) if grow > 0 else tgt
    return tgt, mask & ~tgt


# -------------------------------------------------------------------- helpers
def _observe(name, z, grisms, seed, noise=None):
    """A Gaussian source (Hbeta, [OIII], continuum) and a contaminating neighbour."""
    inst = get_instrument(name, psf="none", fov_arcsec=2.4, grisms=grisms, neighbours=[NEIGHBOUR])
    grid = inst.scene_grid()
    gx, gy = grid.coords_arcsec()
    h, s = 0.5 * grid.pixscale_arcsec, 0.06 * np.sqrt(2.0)
    prof = 0.25 * (erf((gx + h) / s) - erf((gx - h) / s)) * (erf((gy + h) / s) - erf((gy - h) / s))
    fl = {"Hbeta": 1e-17, "OIII5007": 4e-17, "OIII4959": 4e-17 / 2.98}
    comp = SceneComponent("src", {k: f * prof for k, f in fl.items()}, np.zeros(grid.shape),
                          np.full(grid.shape, 40.0), 5e-18 * prof)
    spec = noise or NoiseSpec(model="snr", snr_oiii=40.0)
    return inst.observe(EmissionScene(z, grid, [comp]), spec, np.random.default_rng(seed))


def _continuum_calls(obs):
    """Arguments of every beam's continuum fit, as extract_line_maps makes them."""
    ex, geo = obs.extras, obs.extras["geometry"]
    n, nd = int(geo["field_shape"][0]), obs.data.shape[2]
    disp, w0, marg = geo["dispersion_um_per_pix"], geo["wave_start_um"], geo["margin_px"]
    tgt, neigh = gext._segment(ex["direct_image"], ex["direct_error"], 2.0, 1e-3, 2)
    cm = tgt | neigh
    calls = []
    for b, bm in enumerate(ex["beams"]):
        lo, hi = [(lam - w0) / disp + marg for lam in bm["band_um"]]
        tr = bm["grism"] == "C"
        prior = np.asarray(ex["direct_images"][bm["filter"]], float)
        offs = gext._line_setup(tuple(bm["band_um"]), obs.redshift, (w0, disp, marg),
                                frozenset(gext.DEFAULT_MAP_LINES), 2.0)[3]
        calls.append((obs.data[b], obs.error[b], lo, hi, n, nd, cm.T if tr else cm, tgt.T if tr else tgt,
                      prior.T if tr else prior, offs, 2.0 + 500.0 / gext.C_KMS * bm["band_um"][1] / disp))
    return calls


def _check_continuum(call, reg=1e-3, tol=1e-10):
    y, e, lo, hi, n, nd, *rest = call
    wc = continuum_matrix(n, nd, lo, hi)
    ref = _fit_continuum_ref(y, e, wc, *rest, reg=reg) @ wc
    got = fit_continuum(y, e, lo, hi, *rest, reg=reg)
    scale = np.max(np.abs(ref))
    assert scale > 0
    np.testing.assert_allclose(got, ref, rtol=0, atol=tol * scale)
    # rows fitted alone are unchanged; the others get no continuum
    rows = np.arange(n) % 3 == 1
    coef, wct = continuum_coefficients(y, e, lo, hi, *rest, reg=reg, fit_rows=rows)
    part = coef @ wct.T
    np.testing.assert_allclose(part[rows], ref[rows], rtol=0, atol=tol * scale)
    assert not part[~rows].any()


# ---------------------------------------------------------------------- tests
@pytest.mark.parametrize("name,z,grisms", CASES)
def test_continuum_fit_matches_row_by_row_lstsq(name, z, grisms):
    for call in _continuum_calls(_observe(name, z, grisms, seed=3)):
        _check_continuum(call)


def test_continuum_fit_with_bad_pixels_varying_errors_and_singular_rows():
    obs = _observe("nircam-wfss-f356w", 6.2, ("R",), seed=4,
                   noise=NoiseSpec(model="exposure", exposure_s=3000.0))
    y, e, *rest = _continuum_calls(obs)[0]
    rng = np.random.default_rng(5)
    y, e = y.copy(), e.copy()
    assert np.ptp(e) > 0
    y[rng.random(y.shape) < 0.05] = np.nan
    e[rng.random(e.shape) < 0.05] = 0.0
    e[rng.random(e.shape) < 0.01] = np.inf
    _check_continuum((y, e, *rest))
    # without the prior every row is singular (the prior amplitude is free): the
    # minimum-norm lstsq fallback of each row; its rank cut (rcond 1e-12) makes it
    # sensitive to round-off, hence the looser tolerance
    _check_continuum((y, e, *rest), reg=0.0, tol=1e-6)


def test_bordered_solve_matches_per_block_cholesky():
    rng = np.random.default_rng(7)
    nblk, kb, nb = 4, 5, 3
    sizes = [4, 5, 1, 3]                                  # real unknowns per block (then padding)
    gram = np.zeros((nblk, kb + nb, kb + nb))
    for g, m in enumerate(sizes):
        # normal matrix of data rows that see one block and the border (block 1: not the border)
        rows = rng.normal(size=(3 * m + 2, kb + nb))
        rows[:, m:kb] = 0.0
        if g == 1:
            rows[:, kb:] = 0.0
        gram[g] = rows.T @ rows
        gram[g, np.arange(m, kb), np.arange(m, kb)] = 1.0  # padding: identity
    gram[0, kb:, kb:] += np.eye(nb)
    rhs_a, rhs_d = rng.normal(size=(nblk, kb, 2)), rng.normal(size=(nb, 2))
    # the same system, dense: block unknowns (block after block), then the border
    full = np.zeros((nblk * kb + nb, nblk * kb + nb))
    for g in range(nblk):
        sl = slice(g * kb, (g + 1) * kb)
        full[sl, sl] = gram[g, :kb, :kb]
        full[sl, nblk * kb:] = gram[g, :kb, kb:]
        full[nblk * kb:, sl] = gram[g, kb:, :kb]
        full[nblk * kb:, nblk * kb:] += gram[g, kb:, kb:]
    rhs = np.concatenate([rhs_a.reshape(-1, 2), rhs_d])
    groups = np.repeat(np.arange(nblk), kb)
    # block 1 (decoupled from the border) made singular: the per-block jitter fallback
    singular = gram.copy()
    v = np.arange(1.0, sizes[1] + 1)
    singular[1, :sizes[1], :sizes[1]] = np.outer(v, v)
    full_singular = full.copy()
    full_singular[kb:kb + sizes[1], kb:kb + sizes[1]] = np.outer(v, v)
    for gm, fm in ((gram, full), (singular, full_singular)):
        x_a, x_d, dinv = gsol._bordered_solve(gm, kb, rhs_a, rhs_d)
        (ref,), dref = _spd_solve_ref(fm, [rhs], groups)
        for a, b in ((x_a.reshape(-1, 2), ref[:nblk * kb]), (x_d, ref[nblk * kb:]), (dinv.ravel(), dref[:nblk * kb])):
            np.testing.assert_allclose(a, b, rtol=0, atol=1e-9 * np.abs(b).max())
    # the dense solve of two grism orientations
    (s1,), d = gsol._spd_solve(full, [rhs])
    (r1,), dr = _spd_solve_ref(full, [rhs])
    np.testing.assert_allclose(s1, r1, rtol=0, atol=1e-9 * np.abs(r1).max())
    np.testing.assert_allclose(d, dr, rtol=0, atol=1e-9 * np.abs(dr).max())


def test_segmentation_matches_ndimage():
    rng = np.random.default_rng(3)
    for shape in [(32, 32), (17, 9), (40,)]:
        for it in range(4):
            m = rng.random(shape) < 0.05
            ref = ndimage.binary_dilation(m, iterations=it) if it else m
            assert np.array_equal(gext._dilate(m, it), ref)
    for name, z, grisms in CASES:
        ex = _observe(name, z, grisms, seed=5).extras
        det, err = ex["direct_image"], ex["direct_error"]
        for args in ((2.0, 1e-3, 2), (3.0, 0.2, 0), (1.0, 1e-3, 3)):
            for got, ref in zip(gext._segment(det, err, *args), _segment_ref(det, err, *args)):
                assert np.array_equal(got, ref)
    # a stack: each image as alone (labels and dilations do not cross images), with an
    # image without finite pixels, one with a NaN and an infinite pixel, one without a candidate
    dets = np.stack([det, np.full_like(det, np.nan), det, np.zeros_like(det), det[::-1]])
    dets[2, 0, 0], dets[2, 0, 1] = np.nan, np.inf
    errs = np.stack([err] * 5)
    for args in ((2.0, 1e-3, 2), (3.0, 0.2, 0)):
        tgt, neigh = gext._segment_many(dets, errs, *args)
        for d, e, t, nb in zip(dets, errs, tgt, neigh):
            ref = _segment_ref(d, e, *args)
            assert np.array_equal(t, ref[0]) and np.array_equal(nb, ref[1])


def test_continuum_at_matches_dense_model():
    obs = _observe("niriss-wfss-f150w", 2.1, ("R", "C"), seed=6)
    fits, models = [], []
    for y, e, lo, hi, n, nd, *rest in _continuum_calls(obs):
        fits.append(continuum_coefficients(y, e, lo, hi, *rest))
        models.append(fits[-1][0] @ fits[-1][1].T)
    models = np.array(models)
    flat = np.random.default_rng(2).choice(models.size, 500, replace=False)
    np.testing.assert_allclose(continuum_at(fits, flat, n, nd), models.ravel()[flat], rtol=1e-12,
                               atol=1e-12 * np.abs(models).max())
    fits[0] = None
    models[0] = 0.0
    np.testing.assert_allclose(continuum_at(fits, flat, n, nd), models.ravel()[flat], rtol=1e-12,
                               atol=1e-12 * np.abs(models).max())


@pytest.mark.parametrize("name,z,grisms", CASES)
def test_design_and_normal_matrix_match_tap_loops_and_sparse(name, z, grisms):
    obs = _observe(name, z, grisms, seed=8)
    ex, geo = obs.extras, obs.extras["geometry"]
    disp, w0, marg = geo["dispersion_um_per_pix"], geo["wave_start_um"], geo["margin_px"]
    beams = ex["beams"]
    models = gext._line_setup(tuple(beams[0]["band_um"]), obs.redshift, (w0, disp, marg),
                              frozenset({"Hbeta", "OIII5007"}), 2.0)[0]
    assert any(m["kind"] == "template" for m in models.values()) and any(len(m["parts"]) > 1 for m in models.values())
    tgt, _ = gext._segment(ex["direct_image"], ex["direct_error"], 2.0, 1e-3, 2)
    rng = np.random.default_rng(9)
    npix = int(tgt.sum())
    two = len(grisms) == 2
    sky = {p: ((-0.3 + 0.1 * k), (0.2 - 0.1 * k) if two else 0.0) for k, p in enumerate(models)}
    prior = {p: rng.random(npix) / npix for p in models}
    bsel = list(range(len(beams)))
    nd = obs.data.shape[2]
    size = len(beams) * tgt.shape[0] * nd
    n_unk = sum(m["kind"] == "map" for m in models.values()) * npix + sum(m["kind"] == "template"
                                                                          for m in models.values())
    got = gsol._design(models, sky, prior, beams, bsel, tgt, nd)
    ref = _design_ref(models, sky, prior, beams, bsel, tgt, nd)
    a_got = sparse.csr_matrix((got[2], (got[0], got[1])), shape=(size, n_unk))
    a_ref = sparse.csr_matrix((ref[2], (ref[0], ref[1])), shape=(size, n_unk))
    assert abs(a_got - a_ref).max() <= 1e-15 * abs(a_ref).max()
    # normal matrix of the sorted entries, both _gram paths
    order = np.argsort(got[0], kind="stable")
    rows, cols, vals = got[0][order], got[1][order], got[2][order] * rng.uniform(0.5, 2.0, order.size)
    grp = np.cumsum(np.concatenate([[True], rows[1:] != rows[:-1]])) - 1
    ref_n = _gram_ref(grp, cols, vals, n_unk + 2)
    for limit in (0, 10**12):
        gsol_limit, gsol._GRAM_MAX_PAIRS = gsol._GRAM_MAX_PAIRS, limit
        try:
            np.testing.assert_allclose(gsol._gram(grp, cols, vals, n_unk + 2), ref_n, rtol=0,
                                       atol=1e-12 * np.abs(ref_n).max())
        finally:
            gsol._GRAM_MAX_PAIRS = gsol_limit


@pytest.mark.parametrize("name,z,grisms", CASES)
def test_extract_line_maps_matches_reference_implementation(monkeypatch, name, z, grisms):
    """End to end, relative to each value's error bar: differences at round-off level."""
    obs = _observe(name, z, grisms, seed=11)
    got = gext.extract_line_maps(obs)

    def cont_ref(y, e, lo, hi, *rest, fit_rows=None):
        wc = continuum_matrix(y.shape[0], y.shape[1], lo, hi)
        return _fit_continuum_ref(y, e, wc, *rest, fit_rows=fit_rows), wc.T

    monkeypatch.setattr(gext, "_segment", _segment_ref)

    def segment_ref_many(dets, errs, *args):
        return tuple(np.stack(v) for v in zip(*(_segment_ref(d, e, *args) for d, e in zip(dets, errs))))

    monkeypatch.setattr(gext, "_segment_many", segment_ref_many)
    def cont_ref_many(beams, lo, hi, mask_offsets, pad, reg=1e-3):
        return [cont_ref(y, e, lo, hi, c, t, p, mask_offsets, pad, reg, fit_rows=fr) for y, e, c, t, p, fr in beams]

    monkeypatch.setattr(gext, "continuum_coefficients_many", cont_ref_many)
    monkeypatch.setattr(gsol, "_spd_solve", _spd_solve_ref)
    monkeypatch.setattr(gsol, "_solve_rows_many", _solve_rows_many_ref)
    monkeypatch.setattr(gsol, "_design_many", _design_many_ref)
    monkeypatch.setattr(gsol, "_gram", _gram_ref)
    ref = gext.extract_line_maps(obs)
    assert got.lines == ref.lines and got.solve_mode == ref.solve_mode
    for ln in ref.lines:
        err = ref.flux_err[ln]
        assert np.array_equal(np.isnan(got.flux[ln]), np.isnan(ref.flux[ln]))
        ok = np.isfinite(err)
        assert np.max(np.abs(got.flux[ln] - ref.flux[ln])[ok] / err[ok]) < 1e-9
        assert np.max(np.abs(got.flux_err[ln] - err)[ok] / err[ok]) < 1e-9
    ok = np.isfinite(ref.chi2_nu)
    np.testing.assert_allclose(got.chi2_nu[ok], ref.chi2_nu[ok], rtol=1e-9)
    for ln, c in ref.noise_correlation_lines.items():
        assert got.noise_correlation_lines[ln] == pytest.approx(c, rel=1e-9)
