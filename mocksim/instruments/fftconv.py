"""FFT convolutions on zero-padded grids, with cached kernel spectra and block sums
done in Fourier space.

The slitless renderer (:mod:`mocksim.instruments.grism_disperse`) convolves fine-grid
images with the PSF and then sums ``os x os`` blocks of fine pixels into detector
pixels. A block sum is a convolution with an ``os``-pixel box followed by keeping every
``os``-th sample, so it can be applied to the spectrum instead of the image:

    d[m] = sum_{j < os} g[os m + j]   <=>   D[k] = (1 / os) sum_{r < os} G[k + r M] B[k + r M],
    B[k] = sum_{j < os} exp(+2 pi i k j / N),   N = os M,

per axis (the spectrum is *folded* onto the coarse grid: aliasing is kept exactly).
The inverse FFT then runs on the ``M0 x M1`` coarse grid, ``os^2`` times smaller
(:func:`fold_spectrum`). Exact up to round-off whenever the padded grid and the
returned window are aligned to whole blocks (:func:`block_fast_len`).
"""
from __future__ import annotations

import functools

import numpy as np
from scipy import fft as sfft

from .base import KernelMemo


def fast_len(n: int) -> int:
    """FFT length >= n: a multiple of 16 with small prime factors (fewer cache entries)."""
    return sfft.next_fast_len(-(-int(n) // 16) * 16, real=True)


def block_fast_len(n: int, os_: int) -> int:
    """FFT length >= n that is ``os_`` times a :func:`fast_len` (whole blocks of ``os_``)."""
    return int(os_) * fast_len(-(-int(n) // int(os_)))


def block_sum(img: np.ndarray, os_: int) -> np.ndarray:
    """Sum of ``os_ x os_`` blocks of a 2D image (both sides multiples of ``os_``).

    Strided additions: several times faster than ``reshape(...).sum(axis=(1, 3))``
    on these small images (same sums, other order).
    """
    if os_ == 1:
        return np.array(img, dtype=float)
    rows = img[0::os_] + img[1::os_]
    for k in range(2, os_):
        rows += img[k::os_]
    out = rows[:, 0::os_] + rows[:, 1::os_]
    for k in range(2, os_):
        out += rows[:, k::os_]
    return out


@functools.lru_cache(maxsize=32)
def _box_factor(n: int, os_: int) -> np.ndarray:
    """``B[k] / os`` for ``k = 0 .. n - 1`` (module docstring; read-only)."""
    k = np.arange(n)
    b = np.exp(2j * np.pi * np.outer(k, np.arange(os_)) / n).sum(axis=1) / os_
    b.flags.writeable = False
    return b


@functools.lru_cache(maxsize=32)
def block_sum_transfer(shape: tuple[int, int], os_: int) -> np.ndarray:
    """``(shape[0], shape[1] // 2 + 1)`` factor that :func:`fold_spectrum` expects on an
    ``rfft2`` spectrum: the block-sum boxes of both axes over ``os_ ** 2`` (read-only)."""
    b0 = _box_factor(shape[0], os_)
    b1 = _box_factor(shape[1], os_)[:shape[1] // 2 + 1]
    t = b0[:, None] * b1[None, :]
    t.flags.writeable = False
    return t


def fold_spectrum(spec: np.ndarray, shape: tuple[int, int], os_: int) -> np.ndarray:
    """Coarse ``rfft2`` spectrum of the ``os_ x os_`` block sums of ``irfft2(spec, s=shape)``.

    ``spec`` must already carry :func:`block_sum_transfer`; ``shape`` must be multiples
    of ``os_``. Then ``irfft2(fold_spectrum(spec, shape, os_), s=(shape[0] // os_,
    shape[1] // os_))`` equals ``block_sum(irfft2(spec, s=shape), os_)`` to round-off.
    Leading axes of ``spec`` (a stack of spectra) are carried along.
    """
    if os_ == 1:
        return spec
    m0 = shape[0] // os_
    rows = spec[..., :m0, :] + spec[..., m0:2 * m0, :]             # fold of axis -2
    for r in range(2, os_):
        rows += spec[..., r * m0:(r + 1) * m0, :]
    return fold_last_axis(rows, shape[1], os_)


def fold_last_axis(rows: np.ndarray, n1: int, os_: int) -> np.ndarray:
    """Fold the last (half-spectrum, ``rfft``) axis of ``rows`` from ``n1`` to ``n1 // os_``.

    ``rows``: ``(..., m0, n1 // 2 + 1)``, already folded along axis -2 (full complex axis
    of ``m0`` points), so that the Hermitian partner of row ``k`` is row ``-k mod m0``.
    The block-sum box of the last axis must already be applied (module docstring).
    """
    m0, m1 = rows.shape[-2], n1 // os_
    mh, half = m1 // 2 + 1, n1 // 2
    neg = (-np.arange(m0)) % m0
    out = rows[..., :mh].copy()
    for r in range(1, os_):                  # columns k = r m1 .. r m1 + mh - 1 of the full spectrum
        k0, k1 = r * m1, r * m1 + mh - 1
        if k0 <= half:                       # stored in the half spectrum
            out[..., :min(k1, half) - k0 + 1] += rows[..., k0:min(k1, half) + 1]
        if k1 > half:                        # Hermitian symmetry: G[k0, k] = conj(G[-k0, n1 - k])
            a = max(k0, half + 1)
            src = rows[..., neg, n1 - k1:n1 - a + 1][..., ::-1]   # a copy (fancy index)
            out[..., a - k0:] += np.conjugate(src, out=src)
    return out


class SpectrumCache:
    """Cached 2D real FFTs of PSF kernels on zero-padded grids.

    Keys are ``(key, shape)`` with ``key`` naming the kernel (wavelength, pixel scale,
    orientation); at most ``max_entries`` spectra are kept (oldest dropped first).
    ``get(..., os_=k)`` returns the spectrum times :func:`block_sum_transfer` (for
    :func:`fold_spectrum`), cached separately.
    """

    def __init__(self, max_entries: int = 48):
        self._store = KernelMemo(max_entries)

    def get(self, key, kern: np.ndarray, shape: tuple[int, int], os_: int = 1,
            single: bool = False) -> np.ndarray:
        """``rfft2`` of ``kern`` centred on pixel ``(0, 0)`` of a ``shape`` grid (wrap-around),
        times the block-sum transfer of ``os_`` when ``os_ > 1``; ``single``: as complex64
        (for single-precision convolutions; cached alone: the complex128 spectrum it is
        rounded from is kept only if it was asked for itself)."""
        k = (key, shape, os_)
        if single:
            k32 = k + ("complex64",)
            spec = self._store.get(k32)
            if spec is None:
                double = self._store.get(k)
                double = _kernel_spectrum(kern, shape, os_) if double is None else double
                spec = self._store[k32] = double.astype(np.complex64)
            return spec
        spec = self._store.get(k)
        if spec is None:
            spec = self._store[k] = _kernel_spectrum(kern, shape, os_)
        return spec


def _kernel_spectrum(kern: np.ndarray, shape: tuple[int, int], os_: int) -> np.ndarray:
    """:meth:`SpectrumCache.get` uncached (complex128)."""
    h0, h1 = kern.shape[0] // 2, kern.shape[1] // 2
    pad = np.zeros(shape)
    pad[:kern.shape[0], :kern.shape[1]] = kern
    pad = np.roll(pad, (-h0, -h1), axis=(0, 1))
    spec = sfft.rfft2(pad)
    if os_ > 1:
        spec *= block_sum_transfer(shape, os_)
    return spec


def crop_kernel(kern: np.ndarray, h0: int, h1: int) -> np.ndarray:
    """Central part of ``kern`` with half-widths at most ``(h0, h1)``.

    Offsets beyond ``n - 1`` cannot connect two pixels of an ``n``-pixel axis, so
    cropping to ``n - 1`` leaves a "same"-size convolution unchanged.
    """
    c0, c1 = kern.shape[0] // 2, kern.shape[1] // 2
    a0, a1 = min(c0, max(h0, 0)), min(c1, max(h1, 0))
    return kern if (a0, a1) == (c0, c1) else kern[c0 - a0:c0 + a0 + 1, c1 - a1:c1 + a1 + 1]


def convolve_same(img: np.ndarray, kern, key, cache: SpectrumCache) -> np.ndarray:
    """``scipy.signal.fftconvolve(img, kern, mode="same")`` with a cached kernel spectrum.

    The zero padding is the smallest that keeps the wrap-around out of the returned
    window (``n + kernel half-width`` per axis).
    """
    if kern is None:
        return img
    kern = crop_kernel(kern, img.shape[0] - 1, img.shape[1] - 1)
    h0, h1 = kern.shape[0] // 2, kern.shape[1] // 2
    shape = (fast_len(img.shape[0] + h0), fast_len(img.shape[1] + h1))
    spec = sfft.rfft2(img, s=shape)
    spec *= cache.get((key, kern.shape), kern, shape)
    return sfft.irfft2(spec, s=shape)[:img.shape[0], :img.shape[1]]


def convolve_sum_same(terms, cache: SpectrumCache) -> np.ndarray:
    """``sum_k convolve_same(img_k, kern_k)`` for images of one shape, with one inverse FFT.

    ``terms``: ``[(img, kern, key)]`` (``kern`` None: the image itself). The zero
    padding is the largest any kernel needs, so every term is exact as in
    :func:`convolve_same`.
    """
    return convolve_sum_block(terms, cache, 1)


def convolve_sum_block(terms, cache: SpectrumCache, os_: int) -> np.ndarray:
    """``block_sum(convolve_sum_same(terms), os_)`` with the inverse FFT on the coarse grid.

    Images must be multiples of ``os_`` on both sides; the padding is rounded up to whole
    blocks (:func:`block_fast_len`), so the result is exact as before, to round-off.
    """
    shape0 = terms[0][0].shape
    plain = [t[0] for t in terms if t[1] is None]
    out = np.sum(plain, axis=0) if plain else np.zeros(shape0)
    if os_ > 1:
        out = block_sum(out, os_)
    conv, shape = _kernel_terms(terms, os_)
    if not conv:
        return out
    return out + _convolve_stack([conv], shape0, shape, cache, os_)[0]


def _kernel_terms(terms, os_: int):
    """The terms of a list that carry a kernel, kernels cropped to the images, and the
    padded grid they need (whole blocks of ``os_``; None without such terms)."""
    shape0 = terms[0][0].shape
    conv = [(img, crop_kernel(k, shape0[0] - 1, shape0[1] - 1), key) for img, k, key in terms if k is not None]
    if not conv:
        return conv, None
    h0 = max(k.shape[0] // 2 for _, k, _ in conv)
    h1 = max(k.shape[1] // 2 for _, k, _ in conv)
    return conv, (block_fast_len(shape0[0] + h0, os_), block_fast_len(shape0[1] + h1, os_))


#: Term lists transformed in one stacked call (larger stacks leave the cache).
BLOCK_CHUNK = 3


def convolve_sum_block_many(term_lists, cache: SpectrumCache, os_: int, single: bool = False) -> list:
    """:func:`convolve_sum_block` of several term lists (e.g. the direct-image terms of
    many galaxies), the FFTs of lists on one padded grid stacked.

    Each list must hold images of one shape with at least one kernel. The forward
    transform is a real FFT of each image's rows (zero-padded to the grid) followed by a
    complex FFT along the rows padded to the grid, i.e. ``rfft2(img, s=shape)`` without
    transforming the rows of zero padding. Returns one ``(n0 // os_, n1 // os_)`` image
    per list, bit-identical to :func:`convolve_sum_block` of the list alone. ``single``:
    the stacked FFTs and products in single precision (round-off ~1e-7 of the peak;
    float64 results).
    """
    out = [None] * len(term_lists)
    by_grid: dict = {}
    for i, terms in enumerate(term_lists):
        if any(k is None for _, k, _ in terms):          # plain terms: the one-list path
            out[i] = convolve_sum_block(terms, cache, os_)
            continue
        conv, shape = _kernel_terms(terms, os_)
        by_grid.setdefault((terms[0][0].shape, shape), []).append((i, conv))
    for (shape0, shape), lists in by_grid.items():
        for a in range(0, len(lists), BLOCK_CHUNK):
            part = lists[a:a + BLOCK_CHUNK]
            for (i, _), img in zip(part, _convolve_stack([c for _, c in part], shape0, shape, cache, os_, single)):
                out[i] = img
    return out


def _convolve_stack(lists, shape0, shape, cache: SpectrumCache, os_: int, single: bool = False) -> np.ndarray:
    """``(len(lists), ...)`` results of :func:`convolve_sum_block_many` for lists of
    ``(img, cropped kernel, key)`` on one padded ``shape`` (float64)."""
    imgs = np.stack([img for conv in lists for img, _, _ in conv], dtype=np.float32 if single else np.float64)
    sp = sfft.fft(sfft.rfft(imgs, n=shape[1], axis=-1), n=shape[0], axis=-2, overwrite_x=True)
    spec = np.empty((len(lists),) + sp.shape[1:], dtype=sp.dtype)
    t = 0
    for g, conv in enumerate(lists):                     # kernel products summed in the list's order
        for j, (_, k, key) in enumerate(conv):
            kspec = cache.get((key, k.shape), k, shape, os_, single)
            if j == 0:
                np.multiply(sp[t], kspec, out=spec[g])
            else:
                sp[t] *= kspec
                spec[g] += sp[t]
            t += 1
    return coarse_inverse(spec, shape, os_, shape0)


def coarse_inverse(spec: np.ndarray, shape: tuple[int, int], os_: int, shape0=None) -> np.ndarray:
    """Detector-grid image(s) of ``rfft2`` spectra on the padded fine grid ``shape``
    (carrying :func:`block_sum_transfer`): folded (:func:`fold_spectrum`), inverse
    transformed on the ``shape // os_`` grid and cut to the ``shape0 // os_`` image
    (default: all), as float64."""
    shape0 = shape if shape0 is None else shape0
    small = sfft.irfft2(fold_spectrum(spec, shape, os_), s=(shape[0] // os_, shape[1] // os_), axes=(-2, -1))
    return small[..., :shape0[0] // os_, :shape0[1] // os_].astype(float, copy=False)
