"""PSF model implementations: Fourier-optics JWST, Gaussian, Moffat, delta.

File-based models (:class:`FITSPSF`, :class:`StpsfPSF`) live in
:mod:`mocksim.psf.files` and are re-exported here.
"""
from __future__ import annotations

import functools
import math
from typing import Callable, Union

import numpy as np
from scipy import special

from ..errors import require_range
from .base import DEFAULT_ENCLOSED_FRACTION, PSFModel, _round_scale
from .fourier import (
    FWHM_PER_SIGMA,
    fourier_filter,
    lambda_over_d_arcsec,
    mft_intensity,
    monochromatic_psf,
    nyquist_step_arcsec,
)
from .pupil import NOMINAL_DIAMETER_M, geometry_signature, rasterize_pupil

#: FWHM of our analytic JWST pupil's monochromatic PSF in units of
#: lambda / 6.5 m (azimuthally averaged; measured, see tests/test_psf.py).
JWST_FWHM_LAMBDA_OVER_D = 1.066

FloatOrCallable = Union[float, Callable[[float], float]]


@functools.lru_cache(maxsize=8)
def _jwst_box_halfwidth_lod(pupil_npix: int, pupil_supersample: int, fraction: float) -> float:
    """Half-width, in lambda / 6.5 m, of the square enclosing ``fraction`` of the light.

    Computed once per pupil from the energy-normalised monochromatic PSF
    (pure optics; the shape in lambda/D units does not depend on lambda).
    """
    pupil = rasterize_pupil(pupil_npix, pupil_supersample)
    wave = 2.0
    lod = lambda_over_d_arcsec(wave, NOMINAL_DIAMETER_M)
    # stay within half of the aliasing period lambda / dx of the sampled pupil (= D/dx in lambda/D)
    half_range = min(170.0, 0.45 * NOMINAL_DIAMETER_M / pupil.pixel_m)
    step = nyquist_step_arcsec(wave)
    n = 2 * int(math.ceil(half_range * lod / step)) + 1
    img = monochromatic_psf(pupil, wave, step, n, normalize="energy")
    c = n // 2
    yy, xx = np.indices(img.shape)
    cheb = np.maximum(np.abs(yy - c), np.abs(xx - c)).ravel()
    enclosed = np.cumsum(np.bincount(cheb, weights=img.ravel()))
    k = np.nonzero(enclosed >= fraction)[0]
    k = k[0] if k.size else len(enclosed) - 1
    return float((k + 0.5) * step / lod)


class JWSTPSF(PSFModel):
    """Monochromatic Fourier-optics PSF of the analytic JWST pupil, plus Gaussian broadening.

    PSF = |FT(pupil)|^2 (Fraunhofer, no wavefront error) convolved with a
    Gaussian of sigma ``sqrt(broadening^2 + jitter^2)`` per axis. Pixel
    integration and the Gaussian are applied exactly in Fourier space on a
    Nyquist-sampled grid (:mod:`mocksim.psf.fourier`).

    Parameters
    ----------
    broadening_sigma_arcsec : float
        Detector / IFU broadening, Gaussian sigma per axis [arcsec]
        (e.g. 0.050 for the NIRSpec IFU, 0.0202 for NIRISS charge diffusion).
    jitter_mas : float
        Telescope line-of-sight jitter, Gaussian sigma per axis [mas]
        (stpsf's typical value is ~1 mas).
    pupil_npix : int
        Pupil grid size [pixels]. The sampled pupil makes the PSF periodic with
        period ``lambda / dx`` (dx = 6.67 m / pupil_npix; 9.5" at 0.6 um for 512),
        so kernels should stay well inside that.
    pupil_supersample : int
        Anti-aliasing sub-samples per pupil pixel and axis.
    max_kernel_arcsec : float
        Cap on the full width of default-size kernels [arcsec]. 99.5 % of the
        light of this PSF lies within a box of +-93 lambda/D (+-13" at 4.4 um)
        because the struts and segment gaps diffract light far out, which is
        impractical; with the default 6" cap a default kernel encloses 99.5 /
        98.9 / 98.4 / 97.5 % of the light at 1 / 2 / 3 / 4.4 um and is then
        renormalised to unit sum.
    name : str
        Identifier.
    """

    disk_cache = True

    def __init__(self, broadening_sigma_arcsec: float = 0.0, jitter_mas: float = 1.0, pupil_npix: int = 512,
                 pupil_supersample: int = 4, max_kernel_arcsec: float = 6.0, name: str = "jwst"):
        require_range("broadening_sigma_arcsec", broadening_sigma_arcsec, 0.0, 5.0)
        require_range("jitter_mas", jitter_mas, 0.0, 1000.0)
        require_range("pupil_npix", pupil_npix, 64, 4096)
        require_range("pupil_supersample", pupil_supersample, 1, 16)
        require_range("max_kernel_arcsec", max_kernel_arcsec, 0.0, 60.0, low_inclusive=False)
        self.broadening_sigma_arcsec = float(broadening_sigma_arcsec)
        self.jitter_mas = float(jitter_mas)
        self.pupil_npix = int(pupil_npix)
        self.pupil_supersample = int(pupil_supersample)
        self.max_kernel_arcsec = float(max_kernel_arcsec)
        self.name = name

    @property
    def sigma_total_arcsec(self) -> float:
        """Total Gaussian sigma per axis (broadening and jitter in quadrature) [arcsec]."""
        return math.hypot(self.broadening_sigma_arcsec, self.jitter_mas / 1000.0)

    @property
    def pupil(self):
        """The rasterised pupil (:class:`mocksim.psf.pupil.Pupil`, cached)."""
        return rasterize_pupil(self.pupil_npix, self.pupil_supersample)

    def cache_params(self, wave_um: float) -> dict:
        return {"type": "jwst", "broadening_sigma_arcsec": self.broadening_sigma_arcsec,
                "jitter_mas": self.jitter_mas, "pupil_npix": self.pupil_npix,
                "pupil_supersample": self.pupil_supersample, "geometry": geometry_signature()}

    def _fwhm_guess(self, wave_um: float) -> float:
        opt = JWST_FWHM_LAMBDA_OVER_D * lambda_over_d_arcsec(wave_um, NOMINAL_DIAMETER_M)
        return math.hypot(opt, FWHM_PER_SIGMA * self.sigma_total_arcsec)

    def _halfwidth_arcsec(self, wave_um: float) -> float:
        lod = lambda_over_d_arcsec(wave_um, NOMINAL_DIAMETER_M)
        hw = _jwst_box_halfwidth_lod(self.pupil_npix, self.pupil_supersample, DEFAULT_ENCLOSED_FRACTION)
        return hw * lod + 3.0 * self.sigma_total_arcsec

    def _integrated(self, wave_um: float, pixscale_arcsec: float, n: int, oversample: int) -> np.ndarray:
        # exact: Nyquist-sampled optics, Gaussian and pixel box applied as transfer functions
        sigma = self.sigma_total_arcsec
        q = max(1, math.ceil(pixscale_arcsec / nyquist_step_arcsec(wave_um) - 1e-9))
        step = pixscale_arcsec / q
        margin = math.ceil((0.5 * pixscale_arcsec + 5.0 * sigma) / step) + 2 * q
        span = (n - 1) * q + 1
        nf = span + 2 * margin
        inten = mft_intensity(self.pupil, wave_um, step, nf)
        inten = fourier_filter(inten, step, sigma_arcsec=sigma, box_arcsec=pixscale_arcsec)
        out = inten[margin:margin + span:q, margin:margin + span:q]
        return np.clip(out, 0.0, None)


class _FWHM:
    """FWHM [arcsec] at a wavelength: a constant, or a function checked on each call.

    A class rather than a closure so that PSF models pickle (``mocksim run --workers N``
    sends each galaxy's observation, which holds its PSF, back from the worker processes).
    """

    def __init__(self, value: FloatOrCallable, key: str):
        self.key = key
        if callable(value):
            self.func, self.value = value, None
        else:
            require_range(key, value, 0.0, 60.0, low_inclusive=False)
            self.func, self.value = None, float(value)

    def __call__(self, wave_um: float) -> float:
        if self.func is None:
            return self.value
        v = float(self.func(wave_um))
        require_range(self.key, v, 0.0, 60.0, low_inclusive=False)
        return v


def _as_callable(value: FloatOrCallable, key: str) -> Callable[[float], float]:
    return _FWHM(value, key)


class GaussianPSF(PSFModel):
    """Circular Gaussian PSF, integrated exactly over pixels (error functions).

    Parameters
    ----------
    fwhm_arcsec : float or callable
        FWHM [arcsec], or a function ``fwhm(wave_um) -> arcsec``.
    name : str
        Identifier.
    """

    def __init__(self, fwhm_arcsec: FloatOrCallable, name: str = "gaussian"):
        self._fwhm = _as_callable(fwhm_arcsec, "fwhm_arcsec")
        self._fwhm_is_callable = callable(fwhm_arcsec)
        self.name = name

    def sigma_arcsec(self, wave_um: float) -> float:
        """Gaussian sigma per axis [arcsec]."""
        return self._fwhm(wave_um) / FWHM_PER_SIGMA

    def cache_params(self, wave_um: float) -> dict:
        return {"type": "gaussian", "fwhm_arcsec": _round_scale(self._fwhm(wave_um))}

    def _fwhm_guess(self, wave_um: float) -> float:
        return self._fwhm(wave_um)

    def fwhm_arcsec(self, wave_um: float) -> float:
        """FWHM [arcsec] (analytic; equals the measured value of a fine kernel)."""
        return self._fwhm(round(float(wave_um), 4))

    def _halfwidth_arcsec(self, wave_um: float) -> float:
        # square box: P(|x| < a)^2 = 0.995
        a = special.erfinv(math.sqrt(DEFAULT_ENCLOSED_FRACTION)) * math.sqrt(2.0)
        return a * self.sigma_arcsec(wave_um)

    def _integrated(self, wave_um: float, pixscale_arcsec: float, n: int, oversample: int) -> np.ndarray:
        s = self.sigma_arcsec(wave_um)
        edges = (np.arange(n + 1) - n / 2.0) * pixscale_arcsec
        w1 = np.diff(0.5 * special.erf(edges / (math.sqrt(2.0) * s)))
        return np.outer(w1, w1)


class MoffatPSF(PSFModel):
    """Circular Moffat PSF ``I(r) ~ (1 + r^2/alpha^2)^-beta``.

    Parameters
    ----------
    fwhm_arcsec : float or callable
        FWHM [arcsec] (or function of wavelength [um]);
        ``alpha = FWHM / (2 sqrt(2^(1/beta) - 1))``.
    beta : float
        Power-law index (> 1 for finite flux; 2.5-4.765 typical).
    name : str
        Identifier.
    """

    def __init__(self, fwhm_arcsec: FloatOrCallable, beta: float = 2.5, name: str = "moffat"):
        self._fwhm = _as_callable(fwhm_arcsec, "fwhm_arcsec")
        require_range("beta", beta, 1.0, 100.0, low_inclusive=False)
        self.beta = float(beta)
        self.name = name

    def alpha_arcsec(self, wave_um: float) -> float:
        """Moffat core radius alpha [arcsec]."""
        return self._fwhm(wave_um) / (2.0 * math.sqrt(2.0 ** (1.0 / self.beta) - 1.0))

    def cache_params(self, wave_um: float) -> dict:
        return {"type": "moffat", "fwhm_arcsec": _round_scale(self._fwhm(wave_um)), "beta": self.beta}

    def _fwhm_guess(self, wave_um: float) -> float:
        return self._fwhm(wave_um)

    def fwhm_arcsec(self, wave_um: float) -> float:
        """FWHM [arcsec] (analytic)."""
        return self._fwhm(round(float(wave_um), 4))

    def _halfwidth_arcsec(self, wave_um: float) -> float:
        # circle holding 99.5 %: 1 - (1 + r^2/alpha^2)^(1-beta) = 0.995; the square contains it
        frac_out = 1.0 - DEFAULT_ENCLOSED_FRACTION
        return self.alpha_arcsec(wave_um) * math.sqrt(frac_out ** (1.0 / (1.0 - self.beta)) - 1.0)

    def _sample(self, wave_um: float, step_arcsec: float, n: int) -> np.ndarray:
        a = self.alpha_arcsec(wave_um)
        x = (np.arange(n) - (n - 1) / 2.0) * step_arcsec
        r2 = x[:, None] ** 2 + x[None, :] ** 2
        return (self.beta - 1.0) / (math.pi * a * a) * (1.0 + r2 / (a * a)) ** (-self.beta)


class NoPSF(PSFModel):
    """Delta-function PSF: the kernel is ``[[1.0]]`` (or a centred delta of ``size``)."""

    name = "none"

    def cache_params(self, wave_um: float) -> dict:
        return {"type": "none"}

    def _fwhm_guess(self, wave_um: float) -> float:
        return 0.0

    def _halfwidth_arcsec(self, wave_um: float) -> float:
        return 0.0

    def default_size(self, wave_um: float, pixscale_arcsec: float) -> int:
        return 1

    def _integrated(self, wave_um, pixscale_arcsec, n, oversample):
        out = np.zeros((n, n))
        if n % 2:
            out[n // 2, n // 2] = 1.0
        else:  # centre on a pixel corner: split between the four central pixels
            out[n // 2 - 1:n // 2 + 1, n // 2 - 1:n // 2 + 1] = 0.25
        return out

    def fwhm_arcsec(self, wave_um: float) -> float:
        """Zero: a point stays a point."""
        return 0.0


from .files import FITSPSF, StpsfPSF  # noqa: E402  (re-export; files imports base only)

__all__ = ["PSFModel", "JWSTPSF", "GaussianPSF", "MoffatPSF", "NoPSF", "FITSPSF", "StpsfPSF"]
