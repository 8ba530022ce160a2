"""The recovery fast paths agree with the straightforward computations they replace."""
import numpy as np
import pytest
from scipy import sparse

from mocksim.lines import LINE_GROUPS
from mocksim.recovery import linefit_model as lm
from mocksim.recovery import linefit_tied as lt
from mocksim.recovery import metallicity as met
from mocksim.recovery.binning import Bins, annular_bins, bin_spectra
from mocksim.recovery.linefit import lines_in_coverage
from mocksim.recovery.linefit_solve import _chol_solve_multi

C = 299792.458


def _grid():
    wave = np.linspace(2.9, 5.2, 1200)
    return wave, lm._channel_edges(wave), 2.5e-4 * wave / wave[0]


def _bin_spectra_ref(data, error, bins, corr):
    """The sparse bin x pixel sum (each bin's pixels added in order)."""
    nw = data.shape[0]
    bm = bins.bin_map.ravel()
    sel = np.flatnonzero(bm >= 0)
    A = sparse.csr_matrix((np.ones(sel.size), (bm[sel], sel)), shape=(bins.n_bins, bm.size))
    D, E = data.reshape(nw, -1).T, error.reshape(nw, -1).T
    ok = np.isfinite(D) & np.isfinite(E)
    spec, var = A @ np.where(ok, D, 0.0), A @ np.where(ok, E * E, 0.0)
    empty = (A @ ok.astype(float)) == 0
    err = np.sqrt(var) * np.where(np.bincount(bm[sel], minlength=bins.n_bins) > 1, corr, 1.0)[:, None]
    spec[empty] = np.nan
    err[empty] = np.nan
    return spec, err


@pytest.mark.parametrize("width, invalid", [(0.1, False), (0.1, True), (0.02, False), (0.02, True)])
def test_bin_spectra_matches_sparse_sum(width, invalid):
    rng = np.random.default_rng(1)
    data = rng.normal(size=(200, 24, 24))
    error = rng.uniform(0.5, 1.0, size=data.shape)
    if invalid:
        data[rng.random(data.shape) < 0.02] = np.nan
        error[3, 5, 5] = np.inf
        data[:, 6, 6] = np.nan                          # a pixel without any valid channel
    bins = annular_bins((24, 24), (11.7, 11.4), 0.05, width_arcsec=width)   # 5 or 27 (> 16) bins
    assert bins.n_bins == (5 if width == 0.1 else 27)
    bm = bins.bin_map.copy()
    bm[bm == 1] = 0                                     # bin 1 left empty
    bins = Bins(bm, bins.n_bins, bins.radius_arcsec, "annular")
    spec, err = bin_spectra(data, error, bins, 1.3)
    ref_s, ref_e = _bin_spectra_ref(data, error, bins, 1.3)
    assert spec.shape == (bins.n_bins, 200) and spec.flags.c_contiguous
    np.testing.assert_allclose(spec, ref_s, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(err, ref_e, rtol=1e-12, atol=1e-12)
    assert np.isnan(spec[1]).all() and np.isnan(err[1]).all()


def test_group_model_cache_returns_independent_equal_copies():
    wave, edges, lsf = _grid()
    names = ["Hbeta", "OIII4959", "OIII5007"]
    a = lm._group_model(names, wave, edges, lsf, 6.0, 3000.0, "linear", "integrated")
    b = lm._group_model(names, wave.copy(), edges, lsf, 6.0, 3000.0, "linear", "integrated")
    ref = lm._GroupModel(names, wave.copy(), edges, lsf, 6.0, 3000.0, "linear", "integrated")
    assert a is not b and a.key == b.key == ref.key
    a.cols = np.arange(3)
    assert not hasattr(b, "cols")
    v, u = np.array([-40.0, 10.0, 250.0]), np.array([30.0, 80.0, 150.0]) ** 2
    assert np.array_equal(a.profiles(v, u), ref.profiles(v, u))
    orig = wave.copy()
    wave += 0.01                                        # the cached model owns its arrays
    c = lm._group_model(names, orig, edges, lsf, 6.0, 3000.0, "linear", "integrated")
    assert np.array_equal(c.profiles(v, u), ref.profiles(v, u))


def test_windows_match_sliding_window_view():
    x = np.arange(60.0).reshape(3, 20)
    assert np.array_equal(lm._windows(x, 5), np.lib.stride_tricks.sliding_window_view(x, 5, axis=1))


def test_tied_templates_match_group_profiles():
    wave, edges, lsf = _grid()
    covered = set(lines_in_coverage(wave, 6.0))
    gms = [lm._group_model([ln for ln in m if ln in covered], wave, edges, lsf, 6.0, 3000.0, "linear",
                           "integrated") for g, m in LINE_GROUPS.items()
           if g != "Hbeta_OIII" and any(ln in covered for ln in m)]
    st = lt._static(gms)
    v, u = np.array([-300.0, 0.0, 120.0]), np.array([5.0, 60.0, 400.0]) ** 2
    T = lt._templates(gms, st, v, u)
    for g, gm in enumerate(gms):
        k = gm.wave.size
        assert np.array_equal(T[:, g, :k, :gm.ncomp], gm.profiles(v, u))
        assert not T[:, g, k:].any() and not T[:, g, :, gm.ncomp:].any()


def _chol_solve_multi_ref(N, B):
    """Element-wise Cholesky, one right-hand-side column set at a time (the reference)."""
    P = N.shape[-1]
    L = [[None] * P for _ in range(P)]
    for j in range(P):
        njj = N[:, j, j]
        d = njj.copy()
        for k in range(j):
            d -= L[j][k] * L[j][k]
        L[j][j] = np.sqrt(np.maximum(d, 1e-12 * np.abs(njj) + 1e-280))
        for i in range(j + 1, P):
            e = N[:, i, j].copy()
            for k in range(j):
                e -= L[i][k] * L[j][k]
            L[i][j] = e / L[j][j]
    z = []
    for i in range(P):
        zi = B[:, i].copy()
        for k in range(i):
            zi -= L[i][k][:, None] * z[k]
        z.append(zi * (1.0 / L[i][i][:, None]))
    X = np.empty_like(B)
    for i in range(P - 1, -1, -1):
        xi = z[i]
        for k in range(i + 1, P):
            xi -= L[k][i][:, None] * X[:, k]
        X[:, i] = xi * (1.0 / L[i][i][:, None])
    return X


def test_chol_solve_multi_bit_identical_with_zero_columns():
    rng = np.random.default_rng(2)
    A = rng.normal(size=(9, 7, 12))
    A[:3, 1] = 0.0                                      # all-zero template: floored pivot
    G = A @ A.transpose(0, 2, 1)
    N, B = G[:, :4, :4], G[:, :4, [6, 4, 5]]
    assert np.array_equal(_chol_solve_multi(N, B), _chol_solve_multi_ref(N, B))


def test_grid_shape_flags_match_per_row():
    rng = np.random.default_rng(3)
    x = np.tile(np.linspace(7.5, 9.0, 41), (6, 1))
    p = np.exp(-0.5 * ((x - rng.uniform(7.5, 9.0, (6, 1))) / 0.1) ** 2)
    p[2] += np.exp(-0.5 * ((x[2] - 7.7) / 0.05) ** 2)    # two peaks
    p[3, 0] = 0.5                                          # edge
    cdf = np.cumsum(p, axis=1) / p.sum(axis=1, keepdims=True)
    lo, hi = np.full(6, 7.5), np.full(6, 9.0)
    turns = [None, 8.0, None, None, 8.2, None]
    edge, bim = met._grid_shape_flags(x, p, cdf, lo, hi, turns)
    for n in range(6):
        assert (edge[n], bim[n]) == met._shape_flags(x[n], p[n], cdf[n], lo[n], hi[n], turns[n])
