"""Spatially correlated noise in maps and cubes, and the errors of sums over bins.

A resampled (drizzled) cube or a PSF-matched line map has noise that is correlated
between neighbouring pixels, so the quadrature sum of per-pixel errors is wrong for
a sum over a bin. Here the covariance of two pixels a lag ``d`` apart is modelled as

    Cov(o, o + d) = sigma_o sigma_{o+d} rho(d),    rho(0) = 1,

with ``sigma`` the per-pixel error map and ``rho`` a small symmetric kernel (odd
shape, zero lag at the centre), plus a scalar ``excess`` for correlation the kernel
does not describe (e.g. a grism extraction's large-area factor). The variance of a
bin's sum is then ``excess^2 sum_{o, o' in bin} sigma_o sigma_o' rho(o' - o)``: exact
for a thin annulus one pixel wide as well as for a large area, where a single
large-area factor overestimates thin bins (by ~2 for 0.05" annuli of a cube drizzled
from 0.1"). A resampled cube's kernel is averaged over the phases of its output
pixels relative to the native grid: exact on average, within ~10 % for bins of a
few pixels (tests/test_noise_cov.py checks both against Monte Carlo).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class MapNoise:
    """Noise correlation of a map (or of every channel of a cube).

    Attributes
    ----------
    kernel : ndarray or None
        ``rho``: correlation coefficient vs pixel lag, odd shape, centre 1 (or the true /
        reported variance of one pixel where the reported errors are approximate, as
        for grism line maps); None for independent pixels.
    excess : float
        Extra factor on the standard deviation of a multi-pixel sum (1 if the kernel
        describes all the correlation).
    """

    kernel: np.ndarray | None = None
    excess: float = 1.0


def map_noise(obs) -> MapNoise:
    """:class:`MapNoise` of an Observation: its ``noise_kernel`` if it has one, otherwise
    its scalar ``noise_correlation`` as the excess of independent pixels."""
    k = getattr(obs, "noise_kernel", None)
    c = float(getattr(obs, "noise_correlation", 1.0))
    if k is None:
        return MapNoise(None, c)
    k = np.asarray(k, float)
    return MapNoise(k, c / np.sqrt(k.sum()))


def convolved_noise(noise: MapNoise, k1d: np.ndarray) -> tuple[float, MapNoise]:
    """Noise of a map after convolution with the separable kernel ``k1d x k1d``.

    Returns
    -------
    scale : float
        Factor on the errors propagated with the squared kernel (which assume
        independent input pixels): ``sqrt(g / sum K^2)``, ``g = sum_ij K_i K_j rho(i - j)``.
    noise : MapNoise
        The convolved map's kernel ``(K * K~ * rho) / g``; the excess is unchanged.
    """
    k1d = np.asarray(k1d, float)
    kk = np.convolve(k1d, k1d[::-1])
    auto = np.outer(kk, kk)
    rho = np.ones((1, 1)) if noise.kernel is None else np.asarray(noise.kernel, float)
    from scipy.signal import fftconvolve  # imported here: scipy.signal costs ~0.4 s to import

    q = fftconvolve(auto, rho) if rho.size > 1 else auto.copy()
    cy, cx = q.shape[0] // 2, q.shape[1] // 2
    g = float(q[cy, cx])
    q /= g
    q[np.abs(q) < 1e-12] = 0.0
    return float(np.sqrt(g / np.sum(k1d ** 2) ** 2)), MapNoise(q, noise.excess)


class BinPairs:
    """Same-bin pixel pairs at every lag of a kernel, for :meth:`variance`.

    Parameters
    ----------
    bin_map : ndarray
        ``(ny, nx)`` bin index per pixel, -1 outside the bins.
    n_bins : int
    kernel : ndarray
        Correlation kernel ``rho`` (odd shape, symmetric, centre 1).
    """

    def __init__(self, bin_map, n_bins: int, kernel):
        lab = np.asarray(bin_map)
        k = np.asarray(kernel, float)
        ny, nx = lab.shape
        hy, hx = k.shape[0] // 2, k.shape[1] // 2
        self.n_bins, self.shape, self.kernel_shape = int(n_bins), lab.shape, k.shape
        self.terms = []  # (weight, flat index a, flat index b, bin)
        self.lags = []   # per term: (kernel index, 1 or 2), to weight it with another kernel
        flat = np.arange(lab.size).reshape(lab.shape)
        for dy in range(0, hy + 1):
            for dx in range(-hx, hx + 1):
                if dy == 0 and dx < 0:
                    continue  # the lag -d adds the same as +d
                r = k[hy + dy, hx + dx]
                if r == 0 or abs(dy) >= ny or abs(dx) >= nx:
                    continue
                ys_a, ys_b = slice(0, ny - dy), slice(dy, ny)
                xs_a = slice(max(0, -dx), nx - max(0, dx))
                xs_b = slice(max(0, dx), nx - max(0, -dx))
                la, lb = lab[ys_a, xs_a], lab[ys_b, xs_b]
                same = (la == lb) & (la >= 0)
                if not same.any():
                    continue
                mult = 1.0 if (dy == 0 and dx == 0) else 2.0
                self.terms.append((mult * r, flat[ys_a, xs_a][same], flat[ys_b, xs_b][same], la[same]))
                self.lags.append(((hy + dy, hx + dx), mult))

    def variance(self, sigma: np.ndarray, kernel=None) -> np.ndarray:
        """``sum_{o, o' in bin} sigma_o sigma_o' rho(o' - o)`` per bin.

        ``sigma``: ``(..., ny, nx)`` errors (non-finite = no pixel); returns ``(..., n_bins)``.
        ``kernel``: another ``rho`` of the same shape, zero where the one these pairs were
        built with is zero (e.g. pairs built once for several maps' kernels).
        """
        if kernel is not None:
            k = np.asarray(kernel, float)
            if k.shape != self.kernel_shape:
                raise ValueError(f"kernel shape {k.shape}; these pairs are for {self.kernel_shape}")
            terms = [(mult * k[ij], a, b, lab) for (ij, mult), (_, a, b, lab) in zip(self.lags, self.terms)]
        else:
            terms = self.terms
        s = np.asarray(sigma, float)
        lead = s.shape[:-2]
        s = s.reshape(lead + (-1,))
        s = np.where(np.isfinite(s), s, 0.0)
        out = np.zeros(lead + (self.n_bins,))
        for w, a, b, lab in terms:
            if w == 0:
                continue
            prod = s[..., a] * s[..., b]
            if not lead:
                out += w * np.bincount(lab, prod, self.n_bins)
            else:
                m = np.zeros((lab.size, self.n_bins))
                m[np.arange(lab.size), lab] = w
                out += prod @ m
        return out


def sum_variance(sigma, kernel) -> float:
    """``sum_{o, o'} sigma_o sigma_o' rho(o' - o)`` over a whole ``(ny, nx)`` error map
    (non-finite = no pixel): the variance of the map's total, :meth:`BinPairs.variance`
    of a single bin without building its pairs."""
    s = np.asarray(sigma, float)
    s = np.where(np.isfinite(s), s, 0.0)
    k = np.asarray(kernel, float)
    ny, nx = s.shape
    hy, hx = k.shape[0] // 2, k.shape[1] // 2
    total = 0.0
    for dy in range(0, min(hy, ny - 1) + 1):
        for dx in range(-min(hx, nx - 1), min(hx, nx - 1) + 1):
            r = k[hy + dy, hx + dx]
            if r == 0 or (dy == 0 and dx < 0):
                continue
            a = s[:ny - dy, max(0, -dx):nx - max(0, dx)]
            b = s[dy:, max(0, dx):nx - max(0, -dx)]
            total += (1.0 if (dy == 0 and dx == 0) else 2.0) * r * float(np.vdot(a, b))
    return total


def stacked_bincount(idx, values, n_bins: int) -> np.ndarray:
    """``np.bincount(idx, row, n_bins)`` of every row of ``values`` ``(m, len(idx))``, in one
    bincount (the bins of row ``k`` offset by ``k * n_bins``: each bin's values summed in
    their order, as row by row). Returns ``(m, n_bins)``."""
    m = values.shape[0]
    lab = (idx + n_bins * np.arange(m)[:, None]).reshape(-1)
    return np.bincount(lab, values.reshape(-1), m * n_bins).reshape(m, n_bins)


def bin_sum_errors(err_map, bin_map, n_bins: int, noise: MapNoise, pairs: BinPairs | None = None) -> np.ndarray:
    """1-sigma error of the sum of a ``(..., ny, nx)`` map over each bin (``(..., n_bins)``).

    Without a kernel this is the quadrature sum times ``noise.excess`` for bins of more
    than one pixel; with one, ``sqrt(BinPairs.variance)``, times ``excess`` for bins of
    more than one pixel. Non-finite errors
    are pixels without a value. ``pairs``: a :class:`BinPairs` to reuse, built with this
    kernel or one of its shape that is nonzero wherever it is.
    """
    e = np.asarray(err_map, float)
    lab = np.asarray(bin_map)
    if noise.kernel is None:
        sel = lab >= 0
        idx = lab[sel]
        fac = np.where(np.bincount(idx, minlength=n_bins) > 1, float(noise.excess), 1.0)
        es = e.reshape(e.shape[:-2] + (-1,)).take(np.flatnonzero(sel), axis=-1)   # (e[..., sel], faster)
        e2 = np.where(np.isfinite(es), es ** 2, 0.0)
        m = math.prod(e.shape[:-2])            # maps (leading dimensions, or none): one bincount
        return np.sqrt(stacked_bincount(idx, e2.reshape(m, -1), n_bins)).reshape(e.shape[:-2] + (n_bins,)) * fac
    pairs = pairs or BinPairs(lab, n_bins, noise.kernel)
    # the excess is a multi-pixel factor (as above): a single pixel's error is already exact
    fac = np.where(np.bincount(lab[lab >= 0], minlength=n_bins) > 1, float(noise.excess), 1.0)
    return fac * np.sqrt(np.maximum(pairs.variance(e, noise.kernel), 0.0))
