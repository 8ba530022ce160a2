"""FFT convolutions with cached kernel spectra and block sums folded into Fourier space."""
import numpy as np
import pytest
from scipy import fft as sfft

from mocksim.instruments import fftconv, get_instrument
from mocksim.instruments.fftconv import (SpectrumCache, block_fast_len, block_sum, block_sum_transfer,
                                         convolve_same, convolve_sum_block, convolve_sum_block_many, convolve_sum_same,
                                         fold_spectrum)


@pytest.fixture(scope="module")
def psf_kernel():
    inst = get_instrument("nircam-wfss-f356w", psf="jwst", fov_arcsec=1.0, kernel_max_arcsec=1.0)
    return inst._kernel(3.5, inst.pixscale_arcsec / inst.oversample)


@pytest.mark.parametrize("os_", [1, 3, 5])
def test_block_sum_equals_the_reshaped_sum(os_):
    img = np.random.default_rng(os_).random((4 * os_, 7 * os_))
    ref = img.reshape(4, os_, 7, os_).sum(axis=(1, 3))
    np.testing.assert_allclose(block_sum(img, os_), ref, rtol=1e-14, atol=0)
    np.testing.assert_allclose(block_sum(img[:, os_:], os_), ref[:, 1:], rtol=1e-14, atol=0)   # strided view


def test_convolve_sum_same_equals_the_sum_of_convolutions(psf_kernel):
    rng = np.random.default_rng(5)
    imgs = [rng.random((40, 40)) for _ in range(3)]
    small = psf_kernel[2:-2, 2:-2] / psf_kernel[2:-2, 2:-2].sum()      # a second kernel size
    terms = [(imgs[0], psf_kernel, "a"), (imgs[1], small, "b"), (imgs[2], None, "c")]
    cache = SpectrumCache()
    ref = convolve_same(imgs[0], psf_kernel, "a", SpectrumCache()) + convolve_same(imgs[1], small, "b",
                                                                                  SpectrumCache()) + imgs[2]
    np.testing.assert_allclose(convolve_sum_same(terms, cache), ref, rtol=0, atol=1e-13 * ref.max())


def test_convolve_same_matches_fftconvolve_and_caches(psf_kernel):
    from scipy.signal import fftconvolve

    rng = np.random.default_rng(3)
    img = rng.random((50, 50))
    cache = SpectrumCache(max_entries=2)
    got = convolve_same(img, psf_kernel, "k", cache)
    np.testing.assert_allclose(got, fftconvolve(img, psf_kernel, mode="same"), atol=1e-14 * img.sum())
    assert len(cache._store) == 1
    again = convolve_same(img, psf_kernel, "k", cache)
    assert np.array_equal(got, again)
    convolve_same(img[:20], psf_kernel, "k", cache)
    convolve_same(img[:10], psf_kernel, "k", cache)
    assert len(cache._store) == 2           # oldest dropped


@pytest.mark.parametrize("os_", [3, 5, 7])
@pytest.mark.parametrize("m", [(16, 27), (9, 9), (5, 14), (48, 80)])
def test_folded_inverse_fft_equals_the_block_sum_of_the_fine_one(os_, m):
    """Odd and even coarse sizes: the Hermitian half of the last axis is folded correctly."""
    shape = (m[0] * os_, m[1] * os_)
    img = np.random.default_rng(os_ * 100 + m[1]).standard_normal(shape)
    spec = sfft.rfft2(img)
    ref = block_sum(img, os_)
    got = sfft.irfft2(fold_spectrum(spec * block_sum_transfer(shape, os_), shape, os_), s=m)
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-13 * np.abs(ref).max())
    assert fold_spectrum(spec, shape, 1) is spec


@pytest.mark.parametrize("os_", [1, 3, 5])
def test_convolve_sum_block_equals_the_block_sum_of_the_convolutions(psf_kernel, os_):
    rng = np.random.default_rng(7)
    n = 12 * os_
    imgs = [rng.random((n, n)) for _ in range(3)]
    small = psf_kernel[2:-2, 2:-2] / psf_kernel[2:-2, 2:-2].sum()
    terms = [(imgs[0], psf_kernel, "a"), (imgs[1], small, "b"), (imgs[2], None, "c")]
    ref = block_sum(convolve_sum_same(terms, SpectrumCache()), os_)
    got = convolve_sum_block(terms, SpectrumCache(), os_)
    assert got.shape == (12, 12)
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-13 * ref.max())
    # flux: a point source with a kernel that fits in the field keeps all of it
    point = np.zeros((n, n))
    point[n // 2, n // 2] = 1.0
    k9 = psf_kernel[psf_kernel.shape[0] // 2 - 4:psf_kernel.shape[0] // 2 + 5,
                    psf_kernel.shape[1] // 2 - 4:psf_kernel.shape[1] // 2 + 5]
    out = convolve_sum_block([(point, k9 / k9.sum(), "p")], SpectrumCache(), os_)
    assert out.sum() == pytest.approx(1.0, abs=1e-13)


@pytest.mark.parametrize("chunk", [1, 2, 32])
@pytest.mark.parametrize("os_", [1, 3])
def test_convolve_sum_block_many_equals_one_list_at_a_time(psf_kernel, os_, chunk, monkeypatch):
    """Lists of different lengths, kernels (so padded grids) and a list with a plain term,
    stacked in chunks: each result bit-identical to :func:`convolve_sum_block` of its list."""
    monkeypatch.setattr(fftconv, "BLOCK_CHUNK", chunk)
    rng = np.random.default_rng(11)
    n = 12 * os_
    small = psf_kernel[4:-4, 4:-4] / psf_kernel[4:-4, 4:-4].sum()
    kerns = [(psf_kernel, "a"), (small, "b"), (psf_kernel[1:-1, 1:-1], "c")]
    lists = []
    for i in range(7):
        picks = [kerns[(i + j) % 3] for j in range(1 + i % 3)] if i != 4 else [(small, "b"), (small, "b")]
        lists.append([(rng.random((n, n)), k, key) for k, key in picks])
    lists.append([(rng.random((n, n)), None, "plain"), (rng.random((n, n)), small, "b")])
    got = convolve_sum_block_many(lists, SpectrumCache(), os_)
    assert len(got) == len(lists)
    for terms, img in zip(lists, got):
        assert np.array_equal(img, convolve_sum_block(terms, SpectrumCache(), os_))


def test_block_fast_len_is_whole_blocks_and_not_shorter():
    for n in (1, 17, 143, 224, 1000):
        for os_ in (1, 3, 5):
            m = block_fast_len(n, os_)
            assert m >= n and m % os_ == 0
