"""The :class:`PSFModel` interface shared by every PSF implementation.

Conventions
-----------
* A kernel is a square, odd-sized image whose central pixel is centred on the
  PSF (pixel ``(j, i)`` centre at ``((i - (n-1)/2) p, (j - (n-1)/2) p)``
  arcsec, matching :class:`mocksim.scene.SceneGrid`), normalised to sum 1.
* Each kernel value is the PSF (including the model's detector / IFU
  broadening) *integrated over that pixel*. Callers render on a fine grid,
  convolve with ``kernel(wave, fine_pixscale)`` and block-sum to detector
  pixels, which completes the detector-pixel integration.
* ``pixel_integrated(wave, pixscale, oversample=k)`` is the PSF convolved
  with a detector pixel of ``pixscale``, sampled every ``pixscale / k``
  (``k = 1``: the detector image itself; this is what ``mocksim psf`` writes).
* Wavelengths are rounded to 1e-4 um before computing, so that results and
  cache entries are shared by wavelengths closer than that.
"""
from __future__ import annotations

import abc
import math

import numpy as np

from ..errors import MocksimInputError, require_range
from .cache import KERNEL_CACHE
from .measure import measure_fwhm

#: Wavelength rounding used for computation and cache keys [um].
WAVE_ROUND_DECIMALS = 4
#: Flux fraction a default-size kernel should enclose.
DEFAULT_ENCLOSED_FRACTION = 0.995
#: Hard limit on kernel sizes [pixels] to protect memory.
MAX_KERNEL_PIX = 4001


def normalise(image: np.ndarray) -> np.ndarray:
    """Return ``image / image.sum()`` as float64 (raises if the sum is not positive)."""
    arr = np.asarray(image, dtype=float)
    total = arr.sum()
    if not np.isfinite(total) or total <= 0:
        raise MocksimInputError("psf: kernel has no positive flux (check pixel scale and size)")
    return arr / total


def block_sum(image: np.ndarray, factor: int) -> np.ndarray:
    """Sum ``factor x factor`` blocks of a 2D array whose shape is divisible by ``factor``."""
    ny, nx = image.shape
    return image.reshape(ny // factor, factor, nx // factor, factor).sum(axis=(1, 3))


def _round_scale(pixscale: float) -> float:
    return float(f"{pixscale:.12g}")


class PSFModel(abc.ABC):
    """Base class for PSF models.

    Subclasses implement :meth:`cache_params`, :meth:`_fwhm_guess`,
    :meth:`_halfwidth_arcsec` and either :meth:`_sample` (point samples; the
    base class integrates over pixels by sub-sampling) or :meth:`_integrated`
    (exact pixel integrals).

    Attributes
    ----------
    name : str
        Short identifier ("jwst", "gaussian", ...).
    disk_cache : bool
        Whether kernels are also cached on disk (expensive models only).
    kernel_oversample : int
        Minimum sub-samples per pixel per axis used when integrating a kernel
        over its pixels by sub-sampling.
    max_kernel_arcsec : float
        Upper limit on the full width of default-size kernels [arcsec].
    """

    name: str = "psf"
    disk_cache: bool = False
    kernel_oversample: int = 4
    max_kernel_arcsec: float = 6.0

    # ------------------------------------------------------------ to implement
    @abc.abstractmethod
    def cache_params(self, wave_um: float) -> dict:
        """JSON-serialisable description of the model at ``wave_um`` (cache key)."""

    @abc.abstractmethod
    def _fwhm_guess(self, wave_um: float) -> float:
        """Approximate FWHM [arcsec] used to choose sampling."""

    @abc.abstractmethod
    def _halfwidth_arcsec(self, wave_um: float) -> float:
        """Half-width [arcsec] of the centred square enclosing 99.5 % of the flux."""

    def _sample(self, wave_um: float, step_arcsec: float, n: int) -> np.ndarray:
        """Point samples of the broadened PSF on an ``n x n`` grid (any normalisation).

        Used by the default :meth:`_integrated`; models that override
        :meth:`_integrated` analytically (e.g. Gaussian) need not provide it.
        """
        raise TypeError(f"{type(self).__name__} provides neither _sample nor _integrated")

    def _integrated(self, wave_um: float, pixscale_arcsec: float, n: int, oversample: int) -> np.ndarray:
        """PSF integrated over ``n x n`` pixels (``n`` may be even), any normalisation.

        Default: midpoint rule with at least ``oversample`` (and at least
        16 per FWHM) sub-samples per pixel and axis inside the core (3 FWHM or
        8 pixels from the centre), one sample per pixel in the smooth wings.
        """
        p = pixscale_arcsec
        guess = self._fwhm_guess(wave_um)
        sub = max(1, int(oversample))
        if guess > 0:
            sub = max(sub, math.ceil(16.0 * p / guess))
        sub = min(sub, 64)
        if sub == 1:
            return self._sample(wave_um, p, n) * p * p
        half_core = math.ceil(max(3.0 * guess / p, 8.0))
        ncore = min(n, 2 * half_core + n % 2)  # same parity as n keeps it centred
        out = self._sample(wave_um, p, n) * p * p if ncore < n else np.zeros((n, n))
        start = (n - ncore) // 2
        step = p / sub
        core = block_sum(self._sample(wave_um, step, ncore * sub), sub) * step * step
        out[start:start + ncore, start:start + ncore] = core
        return out

    def _pixel_convolved(self, wave_um: float, pixscale_arcsec: float, n: int, oversample: int) -> np.ndarray:
        """Detector-box integrals centred on an ``n x n`` grid of step ``pixscale / oversample``.

        Built exactly from integrals over sub-pixels of ``p / oversample``
        (odd oversample) or ``p / (2 oversample)`` (even oversample), whose
        edges then coincide with the edges of every detector-sized box.
        """
        r = 1 if oversample % 2 else 2
        win = r * oversample
        m = r * (n - 1) + win
        if m > 2 * MAX_KERNEL_PIX:
            raise MocksimInputError(f"size: {n} samples at oversample {oversample} is too large "
                                    f"(needs {m} sub-pixels > {2 * MAX_KERNEL_PIX})")
        sub = self._integrated(wave_um, pixscale_arcsec / win, m, self.kernel_oversample)
        for axis in (0, 1):
            cs = np.cumsum(sub, axis=axis)
            cs = np.concatenate([np.zeros_like(np.take(cs, [0], axis=axis)), cs], axis=axis)
            idx = np.arange(n) * r
            sub = np.take(cs, idx + win, axis=axis) - np.take(cs, idx, axis=axis)
        return sub

    # ------------------------------------------------------------------ helpers
    @staticmethod
    def _check_wave_scale(wave_um, pixscale_arcsec) -> tuple[float, float]:
        try:
            w, p = float(wave_um), float(pixscale_arcsec)
            ok = 0.0 < w <= 30.0 and 0.0 < p <= 10.0  # False for NaN
        except (TypeError, ValueError):
            ok = False
        if not ok:  # let require_range build the message
            require_range("wave_um", wave_um, 0.0, 30.0, low_inclusive=False)
            require_range("pixscale_arcsec", pixscale_arcsec, 0.0, 10.0, low_inclusive=False)
        return round(w, WAVE_ROUND_DECIMALS), _round_scale(p)

    def _cached(self, kind: str, w: float, p: float, n: int, os_: int) -> np.ndarray:
        """Look up / compute an integrated, normalised image via a per-instance
        fast path (tuple keys, valid until the shared cache is cleared) and the
        shared memory + disk cache."""
        fast = self.__dict__.setdefault("_fast", {})
        if fast.get("_gen") != KERNEL_CACHE.generation:
            fast.clear()
            fast["_gen"] = KERNEL_CACHE.generation
        tkey = (kind, w, p, n, os_)
        arr = fast.get(tkey)
        if arr is not None:
            return arr
        params = {"kind": kind, "model": self.cache_params(w), "wave_um": w, "pixscale": p,
                  "size": n, "oversample": os_}
        if kind == "kernel":
            def compute():
                return normalise(self._integrated(w, p, n, os_))
        else:
            def compute():
                return normalise(self._pixel_convolved(w, p, n, os_))
        arr = KERNEL_CACHE.get_or_compute(params, compute, disk=self.disk_cache)
        if len(fast) > 64:  # keep the fast path small; the shared LRU holds the rest
            fast.clear()
            fast["_gen"] = KERNEL_CACHE.generation
        fast[tkey] = arr
        return arr

    @staticmethod
    def _check_size(size, key="size", odd=True) -> int | None:
        if size is None:
            return None
        if type(size) is int and 1 <= size <= MAX_KERNEL_PIX and (not odd or size % 2 == 1):
            return size
        try:
            ok = int(size) == size and size >= 1 and (not odd or int(size) % 2 == 1)
        except (TypeError, ValueError):
            ok = False
        if not ok or int(size) > MAX_KERNEL_PIX:
            kind = "odd integer" if odd else "integer"
            raise MocksimInputError(f"{key}: {size!r} must be a positive {kind} <= {MAX_KERNEL_PIX}")
        return int(size)

    def default_size(self, wave_um: float, pixscale_arcsec: float) -> int:
        """Odd kernel size [pixels] enclosing 99.5 % of the flux (capped at ``max_kernel_arcsec``)."""
        w, p = self._check_wave_scale(wave_um, pixscale_arcsec)
        return self._size_for(w, p, 0.0)

    def _size_for(self, w: float, step: float, extra_arcsec: float) -> int:
        """Odd size [pixels of ``step``] covering the 99.5 % half-width plus ``extra_arcsec``."""
        memo = self.__dict__.setdefault("_size_memo", {})
        key = (w, step, extra_arcsec)
        if key not in memo:
            hw = min(self._halfwidth_arcsec(w), 0.5 * self.max_kernel_arcsec) + extra_arcsec
            n = 2 * max(0, math.ceil(hw / step - 0.5)) + 1
            memo[key] = int(min(max(n, 3), MAX_KERNEL_PIX))
        return memo[key]

    # ------------------------------------------------------------------ public
    def kernel(self, wave_um: float, pixscale_arcsec: float, size: int | None = None) -> np.ndarray:
        """PSF kernel on a grid of ``pixscale_arcsec`` pixels.

        Parameters
        ----------
        wave_um : float
            Wavelength [um] (rounded to 1e-4 um).
        pixscale_arcsec : float
            Pixel size of the kernel grid [arcsec], normally the fine scene grid.
        size : int, optional
            Odd kernel size [pixels]; default encloses 99.5 % of the flux, up to
            ``max_kernel_arcsec``.

        Returns
        -------
        ndarray, shape (size, size)
            Read-only, sums to 1, PSF centred on the central pixel; values are
            the broadened PSF integrated over each pixel.
        """
        w, p = self._check_wave_scale(wave_um, pixscale_arcsec)
        n = self._check_size(size) or self.default_size(w, p)
        return self._cached("kernel", w, p, n, int(self.kernel_oversample))

    def pixel_integrated(self, wave_um: float, pixscale_arcsec: float, size: int | None = None,
                         oversample: int = 4) -> np.ndarray:
        """PSF convolved with a square detector pixel of ``pixscale_arcsec``, sampled at ``pixscale / oversample``.

        Each value is the PSF integrated over a detector-pixel-sized box
        centred on that sample (the "pixel-convolved" PSF, like stpsf's
        detector-sampled products). ``oversample=1`` gives the image on the
        detector grid itself; larger values sample the same function more
        finely (what ``mocksim psf`` writes, with PIXELSCL = pixscale /
        oversample).

        Parameters
        ----------
        wave_um : float
            Wavelength [um].
        pixscale_arcsec : float
            Detector pixel size [arcsec].
        size : int, optional
            Odd output size [output pixels of ``pixscale / oversample``];
            default covers the default kernel at the detector scale.
        oversample : int
            Output samples per detector pixel and axis.

        Returns
        -------
        ndarray, shape (size, size)
            Read-only, sums to 1, centred on the central sample.
        """
        w, p = self._check_wave_scale(wave_um, pixscale_arcsec)
        os_ = self._check_size(oversample, key="oversample", odd=False)
        if os_ > 64:
            raise MocksimInputError(f"oversample: {oversample!r} must be <= 64")
        n = self._check_size(size)
        if n is None and self.default_size(w, p) == 1:  # delta PSF: just the pixel response
            n = os_ + 1 - os_ % 2
        elif n is None:  # the pixel box widens the PSF by half a detector pixel
            n = self._size_for(w, _round_scale(p / os_), 0.5 * p)
        return self._cached(f"pixel-os{os_}", w, p, n, os_)

    def fwhm_arcsec(self, wave_um: float) -> float:
        """FWHM [arcsec] of the broadened PSF (no detector pixel).

        Measured with :func:`mocksim.psf.measure_fwhm` on a kernel sampled at
        ~1/20 of the FWHM (its fine-pixel integration changes the FWHM by
        < 0.1 %).
        """
        w, _ = self._check_wave_scale(wave_um, 1.0)
        memo = self.__dict__.setdefault("_fwhm_memo", {})
        key = (w, repr(self.cache_params(w)))
        if key not in memo:
            guess = self._fwhm_guess(w)
            p = guess / 20.0
            memo[key] = measure_fwhm(self.kernel(w, p, size=81), p)
        return memo[key]

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.cache_params(1.0)!r})"
