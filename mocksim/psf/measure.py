"""Image-based PSF size measurements."""
from __future__ import annotations

import numpy as np

from ..errors import MocksimInputError


def _centroid_above_half(img: np.ndarray, peak_idx: tuple[int, int]) -> tuple[float, float]:
    """Centroid of ``img - max/2`` over the above-half-maximum region holding the peak."""
    from scipy import ndimage

    half = img[peak_idx] / 2.0
    above = img > half
    labels, _ = ndimage.label(above)
    region = labels == labels[peak_idx]
    w = np.where(region, img - half, 0.0)
    yy, xx = np.indices(img.shape)
    s = w.sum()
    return float((w * yy).sum() / s), float((w * xx).sum() / s)


def radial_profile(image: np.ndarray, center: tuple[float, float], bin_px: float = 0.5,
                   rmax_px: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Azimuthally averaged profile.

    Parameters
    ----------
    image : ndarray, shape (ny, nx)
    center : (float, float)
        ``(row, column)`` of the centre [pixels].
    bin_px : float
        Annulus width [pixels].
    rmax_px : float, optional
        Outermost radius [pixels]; default: the largest circle inside the image.

    Returns
    -------
    r : ndarray
        Mean radius of the pixels in each non-empty annulus [pixels].
    value : ndarray
        Mean pixel value in each annulus.
    """
    img = np.asarray(image, dtype=float)
    yy, xx = np.indices(img.shape)
    rr = np.hypot(yy - center[0], xx - center[1])
    if rmax_px is None:
        rmax_px = min(center[0], center[1], img.shape[0] - 1 - center[0], img.shape[1] - 1 - center[1])
    sel = rr <= rmax_px
    idx = np.floor(rr[sel] / bin_px).astype(int)
    cnt = np.bincount(idx)
    good = cnt > 0
    rsum = np.bincount(idx, weights=rr[sel])
    vsum = np.bincount(idx, weights=img[sel])
    return rsum[good] / cnt[good], vsum[good] / cnt[good]


def measure_fwhm(image: np.ndarray, pixscale_arcsec: float, center: tuple[float, float] | None = None) -> float:
    """FWHM of a (roughly round) PSF image from its azimuthally averaged profile.

    The centre is the centroid of the above-half-maximum core (or ``center``).
    The peak is estimated by fitting ``a + b r^2 + c r^4`` to the pixels within
    half of the first-guess half-width (falls back to the brightest pixel when
    the core is undersampled). The half-maximum radius is interpolated
    linearly between annuli 0.5 pixel wide, so the result is accurate to
    well below 1 % on images with FWHM >~ 5 pixels.

    Parameters
    ----------
    image : ndarray, shape (ny, nx)
        PSF image (any normalisation, background-free).
    pixscale_arcsec : float
        Pixel size [arcsec].
    center : (float, float), optional
        ``(row, column)`` centre [pixels].

    Returns
    -------
    float
        FWHM [arcsec] (of the image as sampled, i.e. including any pixel
        integration already present in the values).
    """
    img = np.asarray(image, dtype=float)
    if img.ndim != 2 or not np.all(np.isfinite(img)) or img.max() <= 0:
        raise MocksimInputError("image: need a finite 2D array with a positive peak")
    if not pixscale_arcsec > 0:
        raise MocksimInputError(f"pixscale_arcsec: {pixscale_arcsec!r} must be > 0")
    peak_idx = np.unravel_index(np.argmax(img), img.shape)
    if center is None:
        center = _centroid_above_half(img, peak_idx)
    # first guess of the half-width from the area above half maximum
    hw0 = np.sqrt(np.count_nonzero(img > img[peak_idx] / 2.0) / np.pi)
    yy, xx = np.indices(img.shape)
    rr = np.hypot(yy - center[0], xx - center[1])
    core = rr <= 0.5 * hw0
    peak = img[peak_idx]
    if np.count_nonzero(core) >= 12:
        r2 = rr[core] ** 2
        design = np.column_stack([np.ones_like(r2), r2, r2**2])
        coef, *_ = np.linalg.lstsq(design, img[core], rcond=None)
        if coef[0] > 0:
            peak = coef[0]
    r, v = radial_profile(img, center, bin_px=0.5)
    half = peak / 2.0
    below = np.nonzero(v < half)[0]
    below = below[below > 0]
    if below.size == 0:
        raise MocksimInputError("image: profile never drops below half maximum (image too small?)")
    k = below[0]
    r0, r1, v0, v1 = r[k - 1], r[k], v[k - 1], v[k]
    rh = r0 + (v0 - half) * (r1 - r0) / (v0 - v1) if v0 != v1 else r1
    return float(2.0 * rh * pixscale_arcsec)
