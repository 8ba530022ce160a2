"""PSF homogenisation of line maps (``recovery.psf_match``).

The PSF grows with wavelength, so a bluer line's map is sharper than a redder
one's. In a ratio map the difference is a spurious radial trend: for a compact
disk, [OIII]5007/Hbeta rises outwards by a few per cent between 3.40 and 3.50 um
with NIRCam, which R3 on its lower branch turns into a positive metallicity
gradient of a few 0.01 dex/kpc. Observers therefore degrade every map to the PSF
of the reddest line before forming ratios (seed 001, Sect. 2: "we homogenise the
PSF of all channels to the size of the PSF at the wavelength of the reddest line").

Each map is convolved with a kernel whose variance is the difference of the PSF
variances, ``s_k^2 = s_ref^2 - s_line^2`` with ``s = FWHM / (2 sqrt(2 ln 2))``
(Gaussian-equivalent widths of the instrument's PSF at the lines' observed
wavelengths). The kernel is a product of ``n`` three-tap kernels
``[a, 1 - 2a, a]`` per axis (``a <= 1/8``): non-negative, flux-conserving, with
exactly the requested second moment even when ``s_k`` is a fraction of a pixel
(a sampled Gaussian is not), and Gaussian-like for large ``n``. Errors are
propagated with the squared kernel and rescaled for the input's pixel-to-pixel
noise correlation; the matched map's own correlation (the kernel's
autocorrelation convolved with the input's) is returned for sums over bins
(:mod:`mocksim.recovery.noise_cov`). Pixels within the kernel's reach of a missing
(NaN) pixel become NaN.
"""
from __future__ import annotations

import copy
import math

import numpy as np
from scipy import ndimage

from ..errors import MocksimInputError
from ..instruments.grism_config import FWHM_TO_SIGMA
from ..lines import get_line
from .noise_cov import MapNoise, convolved_noise


def matching_kernel_1d(var_px2: float) -> np.ndarray:
    """Symmetric, non-negative 1-D kernel with unit sum and variance ``var_px2`` [pixel^2].

    ``n = ceil(4 var)`` three-tap kernels ``[a, 1 - 2a, a]`` with ``a = var / (2n) <= 1/8``
    convolved together (Gaussian-like: a binomial of ``2n`` steps); ``var = 0`` gives ``[1.0]``.
    """
    var = float(var_px2)
    if not (np.isfinite(var) and var >= 0):
        raise ValueError(f"kernel variance must be finite and >= 0, got {var_px2!r}")
    if var == 0:
        return np.ones(1)
    n = max(1, math.ceil(4.0 * var))
    a = var / (2.0 * n)
    tap = np.array([a, 1.0 - 2.0 * a, a])
    k = tap
    for _ in range(n - 1):
        k = np.convolve(k, tap)
    return k


def psf_sigmas_arcsec(instrument, redshift: float, lines) -> dict:
    """Gaussian-equivalent PSF sigma [arcsec] of ``instrument`` at each line's observed wavelength."""
    out = {}
    for ln in lines:
        fwhm = float(instrument.psf_fwhm_arcsec(get_line(ln).observed_um(redshift)))
        if not (np.isfinite(fwhm) and fwhm > 0):
            raise MocksimInputError(f"recovery.psf_match: the instrument has no PSF with a finite FWHM at {ln} "
                                    f"(FWHM = {fwhm!r}); set psf_match = false")
        out[ln] = fwhm * FWHM_TO_SIGMA
    return out


def _convolve(img: np.ndarray, k: np.ndarray) -> np.ndarray:
    out = ndimage.convolve1d(img, k, axis=0, mode="constant", cval=0.0)
    return ndimage.convolve1d(out, k, axis=1, mode="constant", cval=0.0)


def match_maps(flux: np.ndarray, err: np.ndarray, var_px2: float) -> tuple[np.ndarray, np.ndarray]:
    """Convolve one map and propagate its errors (see module docstring).

    Parameters
    ----------
    flux, err : ndarray
        ``(ny, nx)`` line flux and 1-sigma error per pixel (any flux unit).
    var_px2 : float
        Kernel variance per axis [pixel^2].

    Returns
    -------
    flux, err : ndarray
        Matched maps; NaN within the kernel's reach of a missing pixel.
    """
    k = matching_kernel_1d(var_px2)
    if k.size == 1:
        return flux.copy(), err.copy()
    bad = ~(np.isfinite(flux) & np.isfinite(err))
    f = _convolve(np.where(bad, 0.0, flux), k)
    v = _convolve(np.where(bad, 0.0, err) ** 2, k * k)
    e = np.sqrt(v)
    if bad.any():
        h = k.size // 2
        reach = ndimage.binary_dilation(bad, structure=np.ones((2 * h + 1, 2 * h + 1), bool))
        f[reach] = np.nan
        e[reach] = np.nan
    return f, e


def match_line_maps(line_maps, instrument, redshift: float, pixscale_arcsec: float, noise=None):
    """Line maps degraded to the PSF of the line with the widest PSF.

    Parameters
    ----------
    line_maps : LineMaps
        ``flux`` / ``flux_err`` maps on a grid of ``pixscale_arcsec``.
    instrument : object
        Provides ``psf_fwhm_arcsec(wave_um)``.
    redshift : float
    pixscale_arcsec : float
        Pixel scale of the maps [arcsec].
    noise : MapNoise or dict of str -> MapNoise, optional
        Noise correlation of the input maps, for all or per line (default: independent pixels).

    Returns
    -------
    LineMaps
        A shallow copy (extra attributes such as ``pixscale_arcsec`` kept) with
        matched ``flux`` and ``flux_err``, and ``noise``: a dict line -> MapNoise of
        the matched maps.
    """
    noise = noise if noise is not None else MapNoise()
    lines = [ln for ln in line_maps.flux if np.asarray(line_maps.flux[ln]).ndim == 2]
    if len(lines) < 2:
        return line_maps
    sig = psf_sigmas_arcsec(instrument, redshift, lines)
    ref = max(sig.values())
    flux, err = dict(line_maps.flux), dict(line_maps.flux_err)
    out_noise = {}
    for ln in lines:
        var = (ref ** 2 - sig[ln] ** 2) / float(pixscale_arcsec) ** 2
        flux[ln], err[ln] = match_maps(np.asarray(flux[ln], float), np.asarray(err[ln], float), var)
        nz = (noise.get(ln) or MapNoise()) if isinstance(noise, dict) else noise
        scale, out_noise[ln] = convolved_noise(nz, matching_kernel_1d(var))
        if scale != 1.0:
            err[ln] = err[ln] * scale
    out = copy.copy(line_maps)
    out.flux, out.flux_err, out.noise = flux, err, out_noise
    return out
