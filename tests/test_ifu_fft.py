"""The buffered FFT steps of the IFU convolution give the bits of the plain formulation."""
import numpy as np
import pytest
from scipy import fft as sfft

from mocksim.instruments import ifu_fft


def _reference(x, kf, by, bx, fy, fx, os_):
    """The unbuffered formulation (scipy.fft with ``n=`` padding)."""
    nch = x.shape[0]
    spec = sfft.fft(sfft.rfft(x[:, :, :bx], n=fx, axis=2), n=fy, axis=1)
    spec *= kf
    if os_ > 1:
        spec = spec.reshape(nch, os_, fy // os_, -1).sum(axis=1)
        spec *= 1.0 / os_
    spec = sfft.ifft(spec, axis=1)[:, :by // os_]
    return sfft.irfft(spec, n=fx, axis=2)[:, :, :bx]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("os_,by,bx,fy,fx", [(1, 7, 9, 12, 15), (3, 9, 12, 15, 20), (5, 75, 75, 125, 125)])
def test_fold_paths_equal_reference_bitwise(dtype, os_, by, bx, fy, fx):
    rng = np.random.default_rng(os_ + by)
    ctype = np.result_type(dtype, np.complex64)
    kf = (rng.standard_normal((fy, fx // 2 + 1)) + 1j * rng.standard_normal((fy, fx // 2 + 1))).astype(ctype)
    for nch in (1, 4, 9):
        img = rng.standard_normal((nch, by, bx)).astype(dtype)
        ref = _reference(np.ascontiguousarray(img), kf, by, bx, fy, fx, os_)
        for fold in (ifu_fft._fold_public, ifu_fft._fold_direct if ifu_fft._pf is not None else None):
            if fold is None:
                continue
            for _ in range(2):      # the second call reuses the (dirty) buffers
                x, spec = ifu_fft.buffers(nch, by, bx, fy, fx, dtype)
                x[:, :, :bx] = img
                got = fold(x, spec, kf, by, bx, fy, fx, os_)
                assert got.shape == ref.shape and got.dtype == ref.dtype
                assert np.array_equal(got, ref)
                assert not x[:, :, bx:].any()


def test_direct_path_is_used():
    assert ifu_fft._pf is None or ifu_fft._FOLD is ifu_fft._fold_direct


@pytest.mark.parametrize("n", range(1, 10))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sum_last_equals_numpy_sum_bitwise(n, dtype):
    rng = np.random.default_rng(n)
    full = rng.standard_normal((3, 4, 6 * n + 5)).astype(dtype)
    full[0, 0, :n] = -0.0                              # all negative zeros: numpy gives +0
    full[1, 1, :6 * n] *= 1e-30 ** (rng.random(6 * n) > 0.5)
    a = full[:, :, :6 * n].reshape(3, 4, 6, n)
    got = ifu_fft.sum_last(a)
    ref = a.sum(axis=-1)
    assert np.array_equal(got, ref)
    assert np.array_equal(np.signbit(got), np.signbit(ref))
