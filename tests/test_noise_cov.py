"""Errors of bin sums with spatially correlated noise (recovery.noise_cov), against Monte Carlo."""
import numpy as np
import pytest

from mocksim.instruments import get_instrument, read_cube_fits, write_cube_fits
from mocksim.instruments.noise import axis_correlation, resampling_matrix
from mocksim.observation import Observation
from mocksim.recovery.binning import annular_bins, bin_spectra, sum_in_bins
from mocksim.recovery.noise_cov import BinPairs, MapNoise, bin_sum_errors, convolved_noise, map_noise
from mocksim.recovery.psf_match import match_maps, matching_kernel_1d

N_NATIVE = 14
N_MC = 3000


@pytest.fixture(scope="module")
def drizzled():
    """White native noise (sigma 1, 0.1" spaxels) resampled to 0.05" by the prism preset."""
    inst = get_instrument("nirspec-ifu-prism", psf="none", resample_pixscale_arcsec=0.05)
    rng = np.random.default_rng(5)
    native = rng.normal(size=(N_MC, N_NATIVE, N_NATIVE))
    maps = inst.resample(native)
    err = inst.resample_error(np.ones((1, N_NATIVE, N_NATIVE)))[0]
    shape = (N_NATIVE,) * 2
    return inst, maps, err, inst.noise_kernel(shape), inst.noise_correlation(shape)


def _annuli(shape, pix=0.05):
    c = ((shape[1] - 1) / 2, (shape[0] - 1) / 2)
    return annular_bins(shape, c, pix, width_arcsec=pix, r_max_arcsec=0.3)


def _mc_std(maps, bins):
    bm = bins.bin_map
    return np.array([maps[:, bm == k].sum(axis=1).std(ddof=1) for k in range(bins.n_bins)])


def test_resampling_kernel_sum_is_large_area_factor(drizzled):
    _, _, _, kernel, corr = drizzled
    assert kernel.shape[0] % 2 == 1 and kernel[kernel.shape[0] // 2, kernel.shape[1] // 2] == pytest.approx(1.0)
    np.testing.assert_allclose(kernel, kernel[::-1, ::-1], atol=1e-12)
    assert np.sqrt(kernel.sum()) == pytest.approx(corr, rel=0.02)


def test_axis_correlation_of_identity_is_white():
    np.testing.assert_array_equal(axis_correlation(np.eye(12)), [1.0])
    k = axis_correlation(resampling_matrix(20, 0.1, 0.05))
    assert k.size >= 3 and np.all(k[:-1] <= 1.0)


def test_thin_annuli_of_drizzled_noise(drizzled):
    """0.05" annuli of a 0.1" -> 0.05" cube: the kernel gives the Monte Carlo scatter of the sums
    to a few per cent; the large-area factor alone overestimates it by ~1.5-2."""
    _, maps, err, kernel, corr = drizzled
    bins = _annuli(maps.shape[1:])
    mc = _mc_std(maps, bins)
    obs_like = Observation("ifu", maps[:1], err[None], np.ones(1), 0.05, 5.0, None, np.ones(1),
                           noise_correlation=corr, noise_kernel=kernel)
    ours = bin_sum_errors(err, bins.bin_map, bins.n_bins, map_noise(obs_like))
    # the kernel is averaged over the resampling's phases: exact on average, ~10 % for a 4-pixel bin
    np.testing.assert_allclose(ours[1:] / mc[1:], 1.0, atol=0.08)
    assert abs(ours[0] / mc[0] - 1.0) < 0.15
    naive = bin_sum_errors(err, bins.bin_map, bins.n_bins, MapNoise(None, corr))
    assert np.all(naive[1:] / mc[1:] > 1.4)


def test_psf_matched_white_noise():
    """Convolving white noise with a matching kernel: per-pixel errors from the squared kernel,
    bin sums from the convolved correlation, both against Monte Carlo."""
    rng = np.random.default_rng(11)
    var = 1.7  # pixel^2
    k = matching_kernel_1d(var)
    sims = np.stack([match_maps(rng.normal(size=(28, 28)), np.ones((28, 28)), var)[0] for _ in range(N_MC)])
    _, e = match_maps(np.zeros((28, 28)), np.ones((28, 28)), var)
    scale, nz = convolved_noise(MapNoise(), k)
    assert scale == pytest.approx(1.0)
    np.testing.assert_allclose(sims[:, 10:18, 10:18].std(axis=0, ddof=1), e[10:18, 10:18], rtol=0.06)
    bins = _annuli((28, 28))
    mc = _mc_std(sims, bins)
    ours = bin_sum_errors(e, bins.bin_map, bins.n_bins, nz)
    np.testing.assert_allclose(ours / mc, 1.0, atol=0.08)
    indep = bin_sum_errors(e, bins.bin_map, bins.n_bins, MapNoise())
    assert np.all(indep[2:] / mc[2:] < 0.75)


def test_psf_matched_drizzled_noise(drizzled):
    """Matching a drizzled map: the per-pixel error scale and the bin sums of the result."""
    _, maps, err, kernel, corr = drizzled
    var = 1.2
    sims = np.stack([match_maps(m, err, var)[0] for m in maps])
    _, e = match_maps(np.zeros_like(err), err, var)
    scale, nz = convolved_noise(MapNoise(kernel, corr / np.sqrt(kernel.sum())), matching_kernel_1d(var))
    e = e * scale
    c = slice(8, 20)
    np.testing.assert_allclose(sims[:, c, c].std(axis=0, ddof=1).mean(), e[c, c].mean(), rtol=0.06)
    bins = _annuli(err.shape)
    np.testing.assert_allclose(bin_sum_errors(e, bins.bin_map, bins.n_bins, nz) / _mc_std(sims, bins), 1.0,
                               atol=0.08)


def test_sum_in_bins_and_bin_spectra_agree(drizzled):
    _, maps, err, kernel, corr = drizzled
    bins = _annuli(err.shape)
    nz = MapNoise(kernel, corr / np.sqrt(kernel.sum()))
    cube, ecube = maps[:5], np.broadcast_to(err, (5,) + err.shape) * np.arange(1, 6)[:, None, None]
    spec, serr = bin_spectra(cube, ecube, bins, noise=nz)
    for k in range(5):
        s, e = sum_in_bins({"a": cube[k]}, {"a": ecube[k]}, bins, noise={"a": nz})
        np.testing.assert_allclose(spec[:, k], s["a"], rtol=1e-12)
        np.testing.assert_allclose(serr[:, k], e["a"], rtol=1e-12)
    # white noise through the kernel path equals the quadrature sum
    pairs = BinPairs(bins.bin_map, bins.n_bins, np.ones((1, 1)))
    q = np.bincount(bins.bin_map[bins.bin_map >= 0], (err ** 2)[bins.bin_map >= 0], bins.n_bins)
    np.testing.assert_allclose(pairs.variance(err), q, rtol=1e-12)


def test_noise_kernel_fits_round_trip(tmp_path, drizzled):
    _, maps, err, kernel, corr = drizzled
    obs = Observation("ifu", maps[:3], np.broadcast_to(err, (3,) + err.shape).copy(), np.array([3.0, 3.1, 3.2]),
                      0.05, 6.5, None, np.full(3, 1e-3), noise_correlation=corr, noise_kernel=kernel)
    path = write_cube_fits(obs, tmp_path / "c.fits")
    back = read_cube_fits(path)
    np.testing.assert_array_equal(back.noise_kernel, kernel)
    assert back.noise_correlation == pytest.approx(corr)


def test_single_pixel_bins_take_no_large_area_excess():
    """The excess (e.g. a grism extraction's footprint-wide factor, ~2.2 for NIRISS maps)
    multiplies multi-pixel sums only, with or without a kernel: PSF matching (which adds a
    kernel) must not change a one-pixel bin's error (before: x excess; the central annulus
    of an odd-sized grism map is one pixel)."""
    err = np.full((7, 7), 0.1)
    bm = np.full((7, 7), -1)
    bm[3, 3] = 0
    bm[2:5, 2:5][np.ones((3, 3), bool) & (bm[2:5, 2:5] < 0)] = 1
    plain = bin_sum_errors(err, bm, 2, MapNoise(None, 2.2))
    for kernel in (np.ones((1, 1)), convolved_noise(MapNoise(None, 2.2), matching_kernel_1d(0.3))[1].kernel):
        got = bin_sum_errors(err, bm, 2, MapNoise(kernel, 2.2))
        assert got[0] == pytest.approx(0.1, rel=1e-12)
    np.testing.assert_allclose(bin_sum_errors(err, bm, 2, MapNoise(np.ones((1, 1)), 2.2)), plain, rtol=1e-12)
    assert plain[1] == pytest.approx(2.2 * 0.1 * np.sqrt(8), rel=1e-12)


def test_sum_variance_and_shared_pairs_match_per_kernel_pairs():
    """``sum_variance`` (a whole map's total) and pairs built once for several kernels of one
    shape give BinPairs' own per-kernel variances."""
    from mocksim.recovery.noise_cov import BinPairs, sum_variance

    rng = np.random.default_rng(0)
    e = rng.random((30, 27))
    e[rng.random(e.shape) < 0.2] = np.nan
    k1 = rng.random((3, 9))
    k1 = k1 + k1[::-1, ::-1]
    k1[1, 4] = 1.0
    k2 = k1.copy()
    k2[0, 0] = k2[2, 8] = 0.0
    whole = np.where(np.isfinite(e), 0, -1)
    assert sum_variance(e, k1) == pytest.approx(BinPairs(whole, 1, k1).variance(e)[0], rel=1e-12)
    bm = (np.hypot(*np.mgrid[-15:15, -13:14]) // 4).astype(int)
    bm[bm > 3] = -1
    shared = BinPairs(bm, 4, np.abs(k1) + np.abs(k2))
    for k in (k1, k2):
        np.testing.assert_allclose(shared.variance(e, k), BinPairs(bm, 4, k).variance(e), rtol=1e-12)
    with pytest.raises(ValueError, match="shape"):
        shared.variance(e, np.ones((3, 3)))
