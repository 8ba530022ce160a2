"""Dispersion of emission lines on the fine grid of a slitless (WFSS) beam.

:func:`~.grism_render.render_beams_many` renders scenes into beams and direct images
(:meth:`~mocksim.instruments.grism.SlitlessGrism.render_components`) with the functions
here; :func:`disperse_line_many` disperses the same line of several scenes at once. The model
(:mod:`mocksim.instruments.grism`, "Rendering"): fine pixel ``p`` (flux
``w_p``, cross-dispersion row ``r_p``) sends its line to the fine dispersed coordinate
``x_p = along_p + o (column offset of its wavelength)``; fine dispersed column ``X``
receives ``w_p H_p(X - x_p)`` with

    H_s(u) = (box * box * N(0, s))(u),

the unit box of the fine pixel, the unit box of the fine column and the Gaussian of the
intrinsic line width ``s_p`` [fine pixels]. The fine dispersed image is convolved with
the 2D PSF of the line's systemic wavelength and block-summed to detector pixels.

Two implementations of this one model:

* :func:`disperse_line_exact` -- the reference: ``H`` evaluated for every pixel and
  column from differences of the exact box x Gaussian CDF. Cost ~ pixels x ``12 s``
  columns of ``erf``/``exp``, then a 2D FFT convolution: the reference in the tests.
  Narrow lines (:func:`fast_sigma_threshold`), where the profile integrals are cheap,
  take the same profiles with the fast path's PSF step (:mod:`~.grism_narrow`).
* :func:`disperse_line_fft` -- the fast path. It uses that ``H`` is a convolution:

  1. *deposit*: each pixel's flux is spread over the ``DEPOSIT_ORDER`` fine columns
     around ``x_p`` with Lagrange-interpolation weights (exact for polynomials of
     degree ``DEPOSIT_ORDER - 1``; at spatial frequency ``f`` [cycles per fine
     pixel] the relative error is ~ ``(2 pi f)^6 / 6!``, 3e-6 at ``f = 0.05``, and
     only frequencies passed by the line profile and the PSF matter);
  2. *line width*: pixels are grouped in bins of ``s^2``; inside a bin of centre
     ``s0^2`` the width is exact to the order needed through the heat equation
     ``dH/d(s^2) = H'' / 2``: ``H_s = sum_n (Delta^n / (2^n n!)) d^{2n} H_{s0}``,
     ``Delta = s^2 - s0^2``, with the derivatives moved onto the deposit weights: the
     second derivative of the Lagrange weights (the same nodes), higher ones through
     second differences of it (:func:`deposit_weights`);
  3. one FFT per bin (stacked with the bins of other clusters on the same FFT grid),
     multiplied by the analytic spectrum of ``H_{s0}`` (``sinc^2(f) exp(-2 pi^2 s0^2 f^2)``,
     applied between the row and the column transforms) and the cached spectrum of the
     PSF (in single precision for observations, ``single_precision_fft``), and one
     inverse FFT per group of pixels (a *cluster*: pixels whose dispersed positions
     are close; neighbours at other redshifts form their own). The block sum to
     detector pixels is folded into the spectrum, so that inverse FFT runs on the
     detector grid (:func:`~.fftconv.fold_spectrum`).

  Differences from the reference are the deposit's interpolation error, about
  ``0.015 w^-6`` of the line's peak for an effective width ``w^2 = s^2 + s_psf^2``
  (``s_psf``: Gaussian sigma of the PSF core along the dispersion, fine pixels): the
  PSF removes the high frequencies where the error lies. The FFT path therefore takes
  lines with ``s >= MIN_FAST_SIGMA`` and ``w >= MIN_FAST_WIDTH`` only
  (:func:`fast_sigma_threshold`), which keeps the difference below 3e-5 of the peak
  (measured 2.5e-5 at most, without a PSF at oversample 1; 1e-5 with the JWST PSF at
  oversample 3, 2e-6 at 5; ``tests/test_grism_disperse.py``); total flux to 1e-9. Light dispersed
  beyond the ends of the dispersed cutout is cut after the PSF convolution (the
  reference cuts the profile before it); both only matter for lines within a PSF
  radius of the cutout ends, which the cutout margin avoids.

Both functions work in the beam's dispersion frame: axis 0 is the cross-dispersion
fine row, axis 1 the fine dispersed column.
"""
from __future__ import annotations

import functools
import math

import numpy as np
from scipy import fft as sfft

from .fftconv import SpectrumCache, block_fast_len, block_sum, block_sum_transfer, coarse_inverse, crop_kernel
from .grism_narrow import disperse_narrow, profile_image


#: Number of fine columns over which a pixel's flux is deposited (Lagrange nodes).
DEPOSIT_ORDER = 6
#: Smallest line sigma [fine pixels] handled by the FFT path: the spectrum of ``H`` is
#: then < 2e-5 of its peak at the fine Nyquist frequency (no aliasing of the deposit).
MIN_FAST_SIGMA = 1.5
#: Smallest effective width ``sqrt(s^2 + s_psf^2)`` [fine pixels] handled by the FFT path
#: (module docstring): its interpolation error is then below 3e-5 of the line's peak.
MIN_FAST_WIDTH = 3.0
#: Largest relative spread of ``s^2`` within one line-width bin.
SIGMA_BIN_SPREAD = 0.2
#: Target truncation error of the line-width series, relative to the line's peak.
SIGMA_SERIES_TOL = 1e-7
#: Most terms of the line-width series (bins are narrow enough for 4 with the spread above).
SIGMA_SERIES_MAX = 4


# ------------------------------------------------------------------- reference
def disperse_line_exact(idx, w, mu_off, sig_px, nfine: int, n_disp: int, os_: int, kern, grism: str):
    """Reference fine-grid dispersion of one line (exact profile integrals).

    Parameters
    ----------
    idx : ndarray of int
        Flat indices of the fine scene pixels (``row * nfine + column``).
    w : ndarray
        Flux of each pixel in the band [any flux unit].
    mu_off : ndarray
        Dispersed-column offset of each pixel's wavelength [detector pixels].
    sig_px : ndarray
        Gaussian line sigma of each pixel [detector pixels].
    nfine : int
        Side of the fine scene grid [fine pixels].
    n_disp : int
        Length of the dispersion axis [detector pixels].
    os_ : int
        Fine pixels per detector pixel.
    kern : ndarray or None
        PSF kernel on the fine grid (detector orientation), normalised to 1.
    grism : {"R", "C"}

    Returns
    -------
    list of (ndarray, int)
        ``[(coarse, col0)]``: the ``(nfine // os_, m)`` detector-pixel image [flux per
        pixel] covering dispersed columns ``col0 .. col0 + m - 1``; empty if nothing
        lands on the cutout.
    """
    from scipy.signal import fftconvolve

    prof = profile_image(idx, w, mu_off, sig_px, nfine, n_disp, os_, 0 if kern is None else kern.shape[0] // 2,
                         grism)
    if prof is None:
        return []
    img, lo = prof
    if kern is not None:
        img = fftconvolve(img, kern if grism == "R" else kern.T, mode="same")
    return [(block_sum(img, os_), lo // os_)]


# ------------------------------------------------------------------ fast path
def lagrange_nodes(order: int = DEPOSIT_ORDER) -> np.ndarray:
    """Deposit nodes ``t = -(order//2 - 1) .. order//2`` around ``floor(x)``."""
    return np.arange(-(order // 2 - 1), order // 2 + 1)


@functools.lru_cache(maxsize=8)
def _lagrange_coefficients(order: int) -> np.ndarray:
    """``(order, order)`` matrix ``C``: Lagrange weight of node ``j`` at ``f`` is ``sum_k C[j, k] f^k``."""
    nodes = lagrange_nodes(order).astype(float)
    return np.linalg.inv(np.vander(nodes, order, increasing=True)).T


def lagrange_weights(frac: np.ndarray, order: int = DEPOSIT_ORDER):
    """Lagrange weights of the nodes :func:`lagrange_nodes` at ``frac`` (0 <= frac < 1).

    ``sum_t a_t(frac) g(t) ~= g(frac)`` exactly for polynomials ``g`` of degree
    ``< order``. Returns ``(nodes (order,), weights (order, npix))``.
    """
    return lagrange_nodes(order), _lagrange_coefficients(order) @ _powers(frac, order)


def _powers(frac: np.ndarray, order: int) -> np.ndarray:
    """``(order, npix)``: ``frac ** k`` for ``k = 0 .. order - 1``."""
    powers = np.empty((order, frac.size))
    powers[0] = 1.0
    for k in range(1, order):
        np.multiply(powers[k - 1], frac, out=powers[k])
    return powers


@functools.lru_cache(maxsize=64)
def _double_fold(n: int) -> float:
    return float(np.prod(np.arange(n, 0, -2))) if n > 0 else 1.0


def series_terms(y: float, tol: float = SIGMA_SERIES_TOL, n_max: int = SIGMA_SERIES_MAX) -> int:
    """Terms of the line-width series for a relative width spread ``y = max|Delta| / (2 s_min^2)``.

    The first omitted term, relative to the peak of a Gaussian profile, is bounded by
    ``y^(n+1) (2n+1)!! / (n+1)!`` (the ``2(n+1)``-th derivative of a Gaussian of variance
    ``s_min^2`` peaks at ``(2n+1)!! / s_min^(2n+2)`` times its peak).
    """
    for n in range(n_max + 1):
        if y ** (n + 1) * _double_fold(2 * n + 1) / math.factorial(n + 1) <= tol:
            return n + 1
    return n_max + 1


@functools.lru_cache(maxsize=8)
def all_pixels(n: int) -> np.ndarray:
    """``arange(n)`` (read-only, cached): the flat indices of a line every pixel emits
    (the renderer passes this very array, so the dispersion can skip gathers by it)."""
    a = np.arange(n)
    a.flags.writeable = False
    return a


@functools.lru_cache(maxsize=8)
def _rows_cols(nfine: int):
    """Row and column of every flat index of an ``nfine x nfine`` grid (read-only, cached)."""
    rc = np.divmod(np.arange(nfine * nfine), nfine)
    for a in rc:
        a.flags.writeable = False
    return rc


def series_widening(n_terms: int) -> int:
    """Nodes the line-width series adds on each side of the Lagrange nodes (terms
    ``n >= 2`` of :func:`_series_matrix`)."""
    return max(0, n_terms - 2)


@functools.lru_cache(maxsize=16)
def _series_matrix(order: int, n_terms: int) -> np.ndarray:
    """``(order + 2 w, n_terms (order - 2) + 2)`` matrix ``M`` of the fused deposit
    weights, ``w = series_widening(n_terms)``: ``weights = M @ q`` with the rows of ``q``
    ``coef[n] frac^k`` for ``n < n_terms``, ``k < order - 2`` (``n``-major), then
    ``coef[0] frac^(order - 2)`` and ``coef[0] frac^(order - 1)``.

    Term 0 holds the Lagrange coefficients; term 1 those of their second derivative
    (``L_j''(f) = sum_k C[j, k] k (k - 1) f^(k - 2)``, degree ``order - 3``: the second
    derivative of the interpolant, exact for polynomials of degree ``< order``, on the
    same nodes); term ``n >= 2`` the ``(n - 1)``-fold second difference ``[1, -2, 1]`` of
    term 1, placed ``w - (n - 1)`` rows down.
    """
    c = _lagrange_coefficients(order)
    w = series_widening(n_terms)
    low = order - 2                                    # powers used by every term
    out = np.zeros((order + 2 * w, n_terms * low + 2))
    out[w:w + order, :low] = c[:, :low]
    out[w:w + order, n_terms * low:] = c[:, low:]
    if n_terms > 1:
        k = np.arange(2, order)
        cur = c[:, 2:] * (k * (k - 1))                 # (order, order - 2): L'' in powers 0 .. order - 3
        for n in range(1, n_terms):
            o = w - (n - 1)
            out[o:o + cur.shape[0], n * low:(n + 1) * low] = cur
            nxt = np.zeros((cur.shape[0] + 2, low))
            nxt[:-2] += cur
            nxt[1:-1] -= 2.0 * cur
            nxt[2:] += cur
            cur = nxt
    out.flags.writeable = False
    return out


def _series_powers(frac: np.ndarray, coef: list, order: int) -> np.ndarray:
    """The rows ``q`` of :func:`_series_matrix`: ``(n_terms (order - 2) + 2, npix)``."""
    n_terms, low = len(coef), order - 2
    q = np.empty((n_terms * low + 2, frac.size))
    terms = q[:n_terms * low].reshape(n_terms, low, frac.size)
    for n, c in enumerate(coef):
        terms[n, 0] = c
    power = frac.copy()
    for k in range(1, order):                          # power = frac^k
        if k > 1:
            power *= frac
        if k < low:
            np.multiply(power, terms[:, 0], out=terms[:, k])
        else:
            np.multiply(power, terms[0, 0], out=q[n_terms * low + k - low])
    return q


def deposit_weights(frac: np.ndarray, coef: list, order: int = DEPOSIT_ORDER) -> np.ndarray:
    """Lagrange deposit weights with the line-width series in one matrix product.

    ``coef[n]``: ``(npix,)`` coefficient ``Delta^n / (2^n n!)`` of the ``2n``-th
    derivative (module docstring, step 2). The second derivative is that of the Lagrange
    weights (the same nodes); higher ones apply second differences ``[1, -2, 1]`` to it
    ``n - 1`` times (their relative error ``(pi f)^2 / 3`` at frequency ``f`` multiplies
    terms that are already small). The weights live on ``order + 2 w`` nodes starting
    ``w = series_widening(len(coef))`` columns left of the first Lagrange node. Returns
    ``(nodes, npix)``.
    """
    return _series_matrix(order, len(coef)) @ _series_powers(frac, coef, order)


def _clusters(x: np.ndarray, gap: float) -> list[np.ndarray] | None:
    """Index groups of ``x`` separated by more than ``gap`` (None: one group)."""
    lo, hi = float(x.min()), float(x.max())
    if hi - lo <= 4.0 * gap:
        return None
    cell = np.floor((x - lo) / gap).astype(int)
    occ = np.bincount(cell) > 0
    # runs of occupied cells separated by at least one empty cell are separate groups
    run = np.cumsum(np.concatenate([[True], occ[1:] & ~occ[:-1]])) - 1
    lab = run[cell]
    return [np.flatnonzero(lab == g) for g in range(int(lab.max()) + 1)]


def _width_bins(s2: np.ndarray, lo: float | None = None, hi: float | None = None) -> list[np.ndarray] | None:
    """Index groups of ``s^2`` spanning at most ``SIGMA_BIN_SPREAD`` each (None: one group);
    ``lo``, ``hi``: ``s2.min()`` and ``s2.max()`` if already known."""
    lo = float(s2.min()) if lo is None else lo
    hi = float(s2.max()) if hi is None else hi
    if hi <= lo * (1.0 + SIGMA_BIN_SPREAD):
        return None
    b = np.floor(np.log(s2 / lo) / np.log1p(SIGMA_BIN_SPREAD)).astype(int)
    return [np.flatnonzero(b == k) for k in np.unique(b)]


def _fft_units(idx, w, mu_off, sig_px, nfine: int, os_: int, grism: str, hk1: int) -> list:
    """Clusters of one line's pixels for :func:`_disperse_clusters`: ``[(cross, xf, w, s2)]``
    (cross-dispersion fine row, fine dispersed coordinate, flux, ``s^2`` [fine px^2])."""
    rows, cols = _rows_cols(nfine)
    if idx is not all_pixels(rows.size):               # every pixel: no gather
        rows, cols = rows[idx], cols[idx]
    cross, along = (rows, cols) if grism == "R" else (cols, rows)
    shift = mu_off * os_                                 # [fine columns]
    xf = along + shift
    s2 = (sig_px * os_) ** 2
    half = int(np.ceil(6.0 * math.sqrt(float(s2.max())))) + 2
    groups = _clusters(shift, float(nfine + 2 * (half + hk1)))
    if groups is None:
        return [(cross, xf, w, s2)]
    return [(cross[g], xf[g], w[g], s2[g]) for g in groups]


def psf_core_sigma(kd) -> float:
    """Gaussian sigma [fine pixels] of the core of kernel ``kd`` along its axis 1 (the
    dispersion axis in the dispersion frame): its full width at half maximum through
    the peak, over 2.3548 (0 for no kernel)."""
    if kd is None:
        return 0.0
    cy, cx = np.unravel_index(int(np.argmax(kd)), kd.shape)
    row = kd[cy] / kd[cy, cx]
    half = 0.0
    for side in (row[cx:], row[cx::-1]):
        below = np.flatnonzero(side < 0.5)
        if below.size == 0:                              # no half-maximum inside: the whole side
            half += side.size - 0.5
            continue
        i = int(below[0])
        half += i - 1 + (side[i - 1] - 0.5) / (side[i - 1] - side[i])
    return half / 2.3548


def fast_sigma_threshold(kd) -> float:
    """Smallest line sigma [fine pixels] the FFT path takes with kernel ``kd`` (dispersion
    frame): ``MIN_FAST_SIGMA``, raised so that ``s^2 + psf_core_sigma(kd)^2 >= MIN_FAST_WIDTH^2``."""
    return max(MIN_FAST_SIGMA, math.sqrt(max(MIN_FAST_WIDTH ** 2 - psf_core_sigma(kd) ** 2, 0.0)))


def _line_kernel(kern, grism: str, nfine: int, kern_key):
    """Kernel in the dispersion frame cropped to the field, its half-widths and cache key."""
    kd = None if kern is None else crop_kernel(kern if grism == "R" else kern.T, nfine - 1, kern.shape[0])
    hk0, hk1 = (0, 0) if kd is None else (kd.shape[0] // 2, kd.shape[1] // 2)
    return kd, hk0, hk1, (kern_key, None if kd is None else kd.shape)


def disperse_line_fft(idx, w, mu_off, sig_px, nfine: int, n_disp: int, os_: int, kern, grism: str,
                      kern_key=None, cache: SpectrumCache | None = None):
    """Fast fine-grid dispersion of one line (module docstring); same call as
    :func:`disperse_line_exact` plus the kernel's cache key and a :class:`SpectrumCache`.

    Every ``sig_px * os_`` must be at least :func:`fast_sigma_threshold` of the kernel
    (:func:`disperse_line` splits).
    """
    return disperse_line_fft_many([(idx, w, mu_off, sig_px)], nfine, n_disp, os_, kern, grism, kern_key, cache)[0]


def disperse_line_fft_many(jobs, nfine: int, n_disp: int, os_: int, kern, grism: str,
                           kern_key=None, cache: SpectrumCache | None = None, single: bool = False) -> list:
    """:func:`disperse_line_fft` of several lines sharing one PSF kernel (e.g. one line of
    many galaxies), with one set of numpy calls and FFTs per FFT grid.

    ``jobs``: ``[(idx, w, mu_off, sig_px)]``. Returns one list of ``(coarse, col0)``
    pieces per job, bit-identical to calling :func:`disperse_line_fft` job by job (the
    same operations per element, stacked along a leading axis). ``single``: the FFTs and
    spectrum products in single precision (round-off ~1e-7 of the peak; the deposit and
    the returned images stay float64).
    """
    cache = SpectrumCache() if cache is None else cache
    kd, hk0, hk1, key = _line_kernel(kern, grism, nfine, kern_key)
    units, owner = [], []
    for j, job in enumerate(jobs):
        us = _fft_units(*job, nfine, os_, grism, hk1)
        units += us
        owner += [j] * len(us)
    out = [[] for _ in jobs]
    for j, pieces in zip(owner, _disperse_clusters(units, nfine, n_disp, os_, kd, hk0, hk1, key, cache, single)):
        out[j] += pieces
    return out


#: Most clusters transformed in one stacked FFT (larger stacks leave the cache: slower on W2).
CLUSTER_CHUNK = 4


def _disperse_clusters(units, nfine, n_disp, os_, kd, hk0, hk1, kern_key, cache, single=False) -> list:
    """Deposit, line width, PSF, block sum and inverse FFT of clusters ``[(cross, xf, w, s2)]``
    (module docstring, steps 1-3); clusters on the same FFT grid share every call.
    Returns one list of ``(coarse, col0)`` pieces per cluster."""
    out = [[] for _ in units]
    nodes = lagrange_nodes()
    by_shape: dict = {}
    for u, (_, xf, _, s2) in enumerate(units):
        s2_lo, s2_hi = float(s2.min()), float(s2.max())
        half = int(np.ceil(6.0 * math.sqrt(s2_hi))) + 2
        reach = half + hk1 + SIGMA_SERIES_MAX + 1        # + a bound on the series' widening of the deposit
        # fine column of FFT index 0 and end of the support (min floor(xf) = floor(min xf))
        x0 = (math.floor(float(xf.min())) + int(nodes[0]) - reach) // os_ * os_
        x1 = -(-(math.floor(float(xf.max())) + int(nodes[-1]) + reach + 1) // os_) * os_
        c_lo, c_hi = max(x0, 0), min(x1, n_disp * os_)
        if c_hi <= c_lo:
            continue
        shape = (block_fast_len(nfine + hk0, os_), block_fast_len(x1 - x0, os_))
        by_shape.setdefault(shape, []).append((u, x0, s2_lo, s2_hi, c_lo, c_hi))
    for shape, plan in by_shape.items():
        for a in range(0, len(plan), CLUSTER_CHUNK):
            part = plan[a:a + CLUSTER_CHUNK]
            coarse = _transform_clusters([units[p[0]] for p in part], [p[1:4] for p in part], shape,
                                         nfine, os_, kd, kern_key, cache, single)
            for (u, x0, _, _, c_lo, c_hi), img in zip(part, coarse):
                out[u] = [(img[:nfine // os_, (c_lo - x0) // os_:(c_hi - x0) // os_], c_lo // os_)]
    return out


def _width_bins_of(units, ranges) -> list:
    """Line-width bins of clusters, in deposit order (clusters in order, each cluster's bins
    by ascending ``s^2``, pixels in their order inside a bin).

    ``units``: ``[(cross, xf, w, s2)]``; ``ranges``: ``[(x0, min s2, max s2)]`` per
    cluster (``x0``: fine column of FFT index 0). Returns ``[(cluster, x0, s02, n_terms,
    (cross, xf, w, s2))]`` per bin (``s02``: bin centre [fine px^2])."""
    out = []
    for c, ((cross, xf, w, s2), (x0, lo, hi)) in enumerate(zip(units, ranges)):
        sels = _width_bins(s2, lo, hi)
        if sels is None:                                 # one bin
            sels, spans = [None], [(lo, hi)]
        else:
            spans = [(float(s2[sel].min()), float(s2[sel].max())) for sel in sels]
        for sel, (b_lo, b_hi) in zip(sels, spans):
            pixels = (cross, xf, w, s2) if sel is None else (cross[sel], xf[sel], w[sel], s2[sel])
            out.append((c, x0, 0.5 * (b_lo + b_hi), series_terms(0.5 * (b_hi - b_lo) / (2.0 * b_lo)), pixels))
    return out


def _deposit(slab, pixels, x0: int, s02: float, n_terms: int, n1: int) -> None:
    """Add the fused deposit (:func:`deposit_weights`) of one width bin to ``slab`` (flat
    ``(nfine, n1)`` FFT array whose column 0 is fine column ``x0``).

    ``pixels``: ``(cross, xf, w, s2)``; ``s02``: bin centre [fine px^2]. The same
    operations per pixel as :func:`deposit_weights`; the sums are accumulated node by
    node, pixels in order (the order of a ``bincount`` of the node-major weights)."""
    cross, xf, w, s2 = pixels
    base = np.floor(xf)
    frac = xf - base
    first = int(lagrange_nodes()[0]) - series_widening(n_terms)   # first node, relative to floor(xf)
    row = cross * n1                                   # flat index of the first node
    row += base.astype(np.int64)
    row -= x0 - first
    coef = [w]                                           # coef[n] = w (delta^n / (2^n n!))
    if n_terms > 1:
        delta = s2 - s02
        for n in range(1, n_terms):
            c = np.divide(delta ** n if n > 1 else delta, 2.0 ** n * math.factorial(n))
            c *= w
            coef.append(c)
    q = _series_powers(frac, coef, DEPOSIT_ORDER)
    if frac.size == 1:          # a matrix-vector product sums in another order: keep the matrix product
        q = np.repeat(q, 2, axis=1)
    wts = _series_matrix(DEPOSIT_ORDER, n_terms) @ q
    for j in range(wts.shape[0]):
        np.add.at(slab[j:], row, wts[j, :frac.size])


@functools.lru_cache(maxsize=16)
def _column_factors(n1: int):
    """``(-2 pi^2 f^2, sinc^2(f))`` of the ``rfft`` frequencies ``f`` of ``n1`` points
    (read-only): the exponent of the line-width Gaussian per unit ``s0^2``, and the
    fine pixel box x fine column box."""
    f1 = sfft.rfftfreq(n1)
    out = (-2.0 * np.pi ** 2 * f1 ** 2, np.sinc(f1) ** 2)
    for a in out:
        a.flags.writeable = False
    return out


def _scale_by_real(z: np.ndarray, factor: np.ndarray) -> None:
    """``z *= factor`` for a real ``factor`` along the last axis of complex ``z``
    (C-contiguous; ``factor`` broadcast over the leading axes): the values of the complex
    products, less work (the real and imaginary parts scaled as one float array)."""
    parts = z.view(np.float32 if z.dtype == np.complex64 else np.float64)
    parts *= np.repeat(factor, 2, axis=-1).astype(parts.dtype, copy=False)


def _transform_clusters(units, ranges, shape, nfine, os_, kd, kern_key, cache, single=False) -> np.ndarray:
    """Coarse images ``(len(units), shape[0] // os_, shape[1] // os_)`` (float64) of clusters
    on one FFT grid (``units``, ``ranges``: as :func:`_width_bins_of`; ``single``: FFTs and
    products in single precision)."""
    bins = _width_bins_of(units, ranges)
    dep = np.zeros((len(bins), nfine * shape[1]))
    for slab, (_, x0, s02, n_terms, pixels) in zip(dep, bins):     # each bin on its own slab
        _deposit(slab, pixels, x0, s02, n_terms, shape[1])
    # the row transform; then each bin's profile -- Gaussian of its centre s0 x fine pixel box
    # x fine column box, functions of the column frequency only -- before the column FFT
    # pads the rows (fewer products than after it)
    dep = dep.reshape(len(bins), nfine, shape[1])
    rows = sfft.rfft(dep.astype(np.float32) if single else dep, axis=-1)
    expo, sinc2 = _column_factors(shape[1])
    s02 = np.array([b[2] for b in bins])
    profile = np.exp(s02[:, None] * expo)
    profile *= sinc2
    _scale_by_real(rows, profile[:, None, :])
    sp = sfft.fft(rows, n=shape[0], axis=-2, overwrite_x=True)
    owner = [b[0] for b in bins]
    if len(bins) == len(units):                          # one width bin per cluster
        spec = sp
    else:
        spec = sp[[owner.index(c) for c in range(len(units))]]
        done = set()
        for k, c in enumerate(owner):
            if c in done:
                spec[c] += sp[k]
            done.add(c)
    # PSF and detector-pixel block sum; the inverse FFT runs on the coarse grid
    spec *= block_sum_transfer(shape, os_) if kd is None else cache.get(kern_key, kd, shape, os_, single)
    return coarse_inverse(spec, shape, os_)


def disperse_line(idx, w, mu_off, sig_px, nfine: int, n_disp: int, os_: int, kern, grism: str,
                  kern_key=None, cache: SpectrumCache | None = None):
    """Fine-grid dispersion of one line: the FFT path for lines at least
    :func:`fast_sigma_threshold` fine pixels wide, exact profiles followed by the same
    PSF step for the others (:func:`~.grism_narrow.disperse_narrow`).

    Arguments and return value as :func:`disperse_line_exact`, plus the kernel's cache
    key and a :class:`SpectrumCache` (list of ``(coarse, col0)`` pieces).
    """
    return disperse_line_many([(idx, w, mu_off, sig_px)], nfine, n_disp, os_, kern, grism, kern_key, cache)[0]


def disperse_line_many(jobs, nfine: int, n_disp: int, os_: int, kern, grism: str,
                       kern_key=None, cache: SpectrumCache | None = None, single: bool = False) -> list:
    """:func:`disperse_line` of several lines sharing one PSF kernel; ``jobs``:
    ``[(idx, w, mu_off, sig_px)]``, one list of pieces per job (the fast parts of all
    jobs in one :func:`disperse_line_fft_many`, in single precision if ``single``;
    bit-identical to job by job)."""
    cache = SpectrumCache() if cache is None else cache    # one cache for the fast and narrow parts
    kd = _line_kernel(kern, grism, nfine, kern_key)[0]
    thr = fast_sigma_threshold(kd)
    fast_jobs, fast_of, slow_jobs = [], [], []
    for j, job in enumerate(jobs):
        if float(job[3].min()) * os_ >= thr:              # every pixel (no mask needed)
            fast_jobs.append(job)
            fast_of.append(j)
            continue
        fast = job[3] * os_ >= thr
        if not fast.any():
            slow_jobs.append((j, job))
        else:
            slow = ~fast
            fast_jobs.append(tuple(a[fast] for a in job))
            fast_of.append(j)
            slow_jobs.append((j, tuple(a[slow] for a in job)))
    out = [[] for _ in jobs]
    if fast_jobs:
        for j, pieces in zip(fast_of, disperse_line_fft_many(fast_jobs, nfine, n_disp, os_, kern, grism,
                                                             kern_key, cache, single)):
            out[j] += pieces
    if slow_jobs:                                        # narrow pixels: exact profiles
        for j, job in slow_jobs:
            out[j] += disperse_narrow(job, nfine, n_disp, os_, kd, kern_key, cache, grism, single)
    return out
