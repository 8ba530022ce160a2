"""File-based PSFs: FITS images and (optionally) stpsf, plus PSF FITS writing.

FITS conventions
----------------
``PIXELSCL`` is the pixel scale [arcsec/pixel] (the stpsf / poppy keyword);
``WAVELEN`` the wavelength [m] (poppy convention) and ``WAVE_UM`` the same in
um; ``FWHM`` the measured FWHM [arcsec]. The PSF is taken to be centred on the
geometric centre of the array (the central pixel for odd sizes).
"""
from __future__ import annotations

import math
import os
import re
from pathlib import Path

import numpy as np

from ..errors import MocksimInputError, require_range
from .base import DEFAULT_ENCLOSED_FRACTION, PSFModel, _round_scale, normalise
from .measure import measure_fwhm


# ----------------------------------------------------------------- resampling
def _rebin_axis(arr: np.ndarray, axis: int, p_in: float, p_out: float, n_out: int) -> np.ndarray:
    """Flux-conserving resampling of one axis by interpolating the cumulative flux.

    Pixels of both grids are centred on the same origin (the array centre).
    The cumulative flux at input pixel edges is interpolated with a monotone
    cubic (PCHIP), which conserves flux exactly, reproduces the input when the
    grids coincide and never creates negative pixels from non-negative input.
    """
    from scipy.interpolate import PchipInterpolator

    n_in = arr.shape[axis]
    e_in = (np.arange(n_in + 1) - n_in / 2.0) * p_in
    e_out = (np.arange(n_out + 1) - n_out / 2.0) * p_out
    shape = list(arr.shape)
    shape[axis] = 1
    cum = np.concatenate([np.zeros(shape), np.cumsum(arr, axis=axis)], axis=axis)
    interp = PchipInterpolator(e_in, cum, axis=axis, extrapolate=False)
    vals = interp(np.clip(e_out, e_in[0], e_in[-1]))
    return np.diff(vals, axis=axis)


def resample_flux(image: np.ndarray, pixscale_in: float, pixscale_out: float, n_out: int) -> np.ndarray:
    """Resample a pixel-integrated image to ``n_out x n_out`` pixels of ``pixscale_out``.

    Parameters
    ----------
    image : ndarray, shape (ny, nx)
        Flux per input pixel.
    pixscale_in, pixscale_out : float
        Input and output pixel sizes [arcsec].
    n_out : int
        Output size [pixels]; both grids share their geometric centre.

    Returns
    -------
    ndarray
        Flux per output pixel (total conserved inside the common area).
    """
    out = _rebin_axis(np.asarray(image, dtype=float), 0, pixscale_in, pixscale_out, n_out)
    return _rebin_axis(out, 1, pixscale_in, pixscale_out, n_out)


def _box_halfwidth(image: np.ndarray, pixscale: float, fraction: float) -> float:
    """Half-width [arcsec] of the centred square holding ``fraction`` of the flux."""
    ny, nx = image.shape
    yy, xx = np.indices(image.shape)
    cheb = np.maximum(np.abs(yy - (ny - 1) / 2.0), np.abs(xx - (nx - 1) / 2.0)).ravel()
    order = np.argsort(cheb, kind="stable")
    cum = np.cumsum(image.ravel()[order])
    k = np.searchsorted(cum, fraction * cum[-1])
    return float((cheb[order][min(k, len(cheb) - 1)] + 0.5) * pixscale)


# ----------------------------------------------------------------- FITS reading
def _pixscale_from_header(header) -> float | None:
    if "PIXELSCL" in header:
        return float(header["PIXELSCL"])
    for k1, k2 in (("CD1_1", "CD2_2"), ("CDELT1", "CDELT2")):
        if k1 in header:
            unit = str(header.get("CUNIT1", "deg")).strip().lower()
            factor = {"deg": 3600.0, "arcsec": 1.0, "arcmin": 60.0, "mas": 1e-3}.get(unit)
            if factor is None:
                return None
            s1 = abs(float(header[k1]))
            s2 = abs(float(header.get(k2, header[k1])))
            if s2 > 0 and abs(s1 / s2 - 1.0) > 0.01:
                raise ValueError(f"non-square pixels ({k1}={s1}, {k2}={s2})")
            return s1 * factor
    return None


def _read_psf_fits(path: Path, ext=None):
    from astropy.io import fits

    with fits.open(path) as hdul:
        if ext is not None:
            hdu = hdul[ext]
        else:
            hdu = next((h for h in hdul if h.data is not None and getattr(h.data, "ndim", 0) >= 2), None)
            if hdu is None:
                raise ValueError("no image HDU")
        data = np.array(hdu.data, dtype=float)
        header = hdu.header.copy()
    data = np.squeeze(data)
    if data.ndim != 2:
        raise ValueError(f"expected a 2D image, got shape {data.shape}")
    if not np.all(np.isfinite(data)) or data.sum() <= 0:
        raise ValueError("image has non-finite values or no positive flux")
    return data, header


class FITSPSF(PSFModel):
    """PSF read from a FITS image and resampled (flux-conserving) to any pixel scale.

    Parameters
    ----------
    path : str or Path
        FITS file; the first HDU holding a 2D image is used (or ``ext``).
    pixscale_arcsec : float, optional
        Pixel scale of the file [arcsec]; default from ``PIXELSCL``, else
        ``CD1_1``/``CDELT1`` (with ``CUNIT1``, default deg).
    ext : int or str, optional
        HDU to read.
    scale_with_wavelength : bool
        If True, scale the PSF size as ``wave / WAVELEN`` (diffraction-limited
        scaling; needs the ``WAVELEN`` [m] or ``WAVE_UM`` keyword). Default:
        the same image at every wavelength.
    name : str
        Identifier.

    Raises
    ------
    MocksimInputError
        Naming the file when it is missing, unreadable or has no pixel scale.
    """

    def __init__(self, path, pixscale_arcsec: float | None = None, *, ext=None,
                 scale_with_wavelength: bool = False, name: str = "fits"):
        self.path = Path(path).expanduser()
        if not self.path.is_file():
            raise MocksimInputError(f"instrument.psf: PSF FITS file {str(self.path)!r} does not exist")
        try:
            data, header = _read_psf_fits(self.path, ext)
            scale = pixscale_arcsec if pixscale_arcsec is not None else _pixscale_from_header(header)
        except Exception as exc:  # astropy raises many types for broken files
            raise MocksimInputError(f"instrument.psf: cannot read PSF FITS file {str(self.path)!r}: {exc}") from exc
        if scale is None:
            raise MocksimInputError(
                f"instrument.psf: PSF FITS file {str(self.path)!r} has no pixel scale "
                "(PIXELSCL, CD1_1 or CDELT1); give pixscale_arcsec")
        if not (np.isfinite(scale) and 0 < scale < 10):
            raise MocksimInputError(f"instrument.psf: PSF FITS file {str(self.path)!r}: pixel scale "
                                    f"{scale!r} arcsec outside the allowed range (0, 10)")
        self.image = normalise(data)
        self.image.flags.writeable = False
        self.native_pixscale_arcsec = float(scale)
        self.wave0_um = None
        if "WAVE_UM" in header:
            self.wave0_um = float(header["WAVE_UM"])
        elif "WAVELEN" in header:
            self.wave0_um = float(header["WAVELEN"]) * 1e6
        if scale_with_wavelength and not self.wave0_um:
            raise MocksimInputError(f"instrument.psf: PSF FITS file {str(self.path)!r} has no WAVELEN/WAVE_UM; "
                                    "cannot scale with wavelength")
        self.scale_with_wavelength = bool(scale_with_wavelength)
        self.max_kernel_arcsec = math.inf  # default sizes follow the file's own 99.5 % box
        st = self.path.stat()
        self._stamp = (str(self.path.resolve()), st.st_mtime_ns, st.st_size)
        self.name = name

    def _scale(self, wave_um: float) -> float:
        if self.scale_with_wavelength:
            return self.native_pixscale_arcsec * wave_um / self.wave0_um
        return self.native_pixscale_arcsec

    def cache_params(self, wave_um: float) -> dict:
        return {"type": "fits", "file": list(self._stamp), "pixscale": _round_scale(self._scale(wave_um))}

    def _fwhm_guess(self, wave_um: float) -> float:
        return self.fwhm_arcsec(wave_um)

    def fwhm_arcsec(self, wave_um: float) -> float:
        """FWHM [arcsec] measured on the file's image at its native sampling."""
        memo = self.__dict__.setdefault("_native_fwhm", [])
        if not memo:
            memo.append(measure_fwhm(self.image, self.native_pixscale_arcsec))
        return memo[0] * self._scale(wave_um) / self.native_pixscale_arcsec

    def _halfwidth_arcsec(self, wave_um: float) -> float:
        hw = _box_halfwidth(self.image, self.native_pixscale_arcsec, DEFAULT_ENCLOSED_FRACTION)
        return hw * self._scale(wave_um) / self.native_pixscale_arcsec

    def _integrated(self, wave_um, pixscale_arcsec, n, oversample):
        return resample_flux(self.image, self._scale(wave_um), pixscale_arcsec, n)


# ----------------------------------------------------------------- stpsf
def stpsf_status() -> str | None:
    """``None`` if stpsf and its data are usable, else the reason why not."""
    path = os.environ.get("STPSF_PATH")
    if not path or not Path(path).expanduser().is_dir():
        return ("the stpsf data files are not installed (environment variable STPSF_PATH must point to "
                "the unpacked stpsf-data directory; download it yourself, mocksim never downloads it)")
    try:
        import stpsf  # noqa: F401
    except Exception as exc:  # ImportError or errors raised at import by a broken install
        return f"the optional package stpsf cannot be imported ({exc}); install it with `pip install stpsf`"
    return None


class StpsfPSF(PSFModel):
    """Monochromatic PSF computed by the optional ``stpsf`` package (if installed with its data).

    Parameters
    ----------
    instrument : str
        stpsf instrument name ("NIRCam", "NIRISS", "NIRSpec").
    filter : str
        Filter name (selects pupil masks / detector; the PSF is monochromatic).
    mode : str, optional
        Instrument mode, e.g. "IFU" for NIRSpec.
    oversample : int
        stpsf oversampling factor relative to detector pixels.
    fov_arcsec : float
        stpsf field of view [arcsec].
    detector_effects : bool
        Use stpsf's "OVERDIST" product (distortion + charge diffusion /
        IFU broadening) when present, else the pure-optics "OVERSAMP".

    Raises
    ------
    MocksimInputError
        If stpsf cannot be imported or its data are not installed.
    """

    disk_cache = True

    def __init__(self, instrument: str, filter: str, *, mode: str | None = None, oversample: int = 4,
                 fov_arcsec: float = 5.0, detector_effects: bool = True, name: str = "stpsf"):
        reason = stpsf_status()
        if reason is not None:
            raise MocksimInputError(f"instrument.psf: 'stpsf' is unavailable: {reason}. "
                                    "Use 'jwst' (built-in Fourier optics) instead.")
        require_range("oversample", oversample, 1, 16)
        require_range("fov_arcsec", fov_arcsec, 0.0, 60.0, low_inclusive=False)
        self.instrument = str(instrument)
        self.filter = str(filter)
        self.mode = mode
        self.oversample = int(oversample)
        self.fov_arcsec = float(fov_arcsec)
        self.detector_effects = bool(detector_effects)
        self.name = name
        self._native = {}

    def cache_params(self, wave_um: float) -> dict:
        import stpsf

        return {"type": "stpsf", "version": getattr(stpsf, "__version__", "?"), "instrument": self.instrument,
                "filter": self.filter, "mode": self.mode, "oversample": self.oversample,
                "fov_arcsec": self.fov_arcsec, "detector_effects": self.detector_effects}

    def _native_psf(self, wave_um: float) -> tuple[np.ndarray, float]:
        if wave_um not in self._native:
            import stpsf

            inst = stpsf.instrument(self.instrument)
            inst.filter = self.filter
            if self.mode is not None:
                inst.mode = self.mode
            hdul = inst.calc_psf(monochromatic=wave_um * 1e-6, fov_arcsec=self.fov_arcsec,
                                 oversample=self.oversample)
            names = [h.name for h in hdul]
            hdu = hdul["OVERDIST"] if (self.detector_effects and "OVERDIST" in names) else hdul[0]
            self._native[wave_um] = (normalise(hdu.data), float(hdu.header["PIXELSCL"]))
        return self._native[wave_um]

    def _fwhm_guess(self, wave_um: float) -> float:
        img, scale = self._native_psf(wave_um)
        return measure_fwhm(img, scale)

    def _halfwidth_arcsec(self, wave_um: float) -> float:
        img, scale = self._native_psf(wave_um)
        return _box_halfwidth(img, scale, DEFAULT_ENCLOSED_FRACTION)

    def _integrated(self, wave_um, pixscale_arcsec, n, oversample):
        img, scale = self._native_psf(wave_um)
        return resample_flux(img, scale, pixscale_arcsec, n)


# ----------------------------------------------------------------- writing
def write_psf_fits(image: np.ndarray, pixscale_arcsec: float, wave_um: float, path, meta: dict | None = None) -> Path:
    """Write a PSF image to FITS atomically.

    Parameters
    ----------
    image : ndarray, shape (ny, nx)
        PSF image (written as float64, unchanged).
    pixscale_arcsec : float
        Pixel scale [arcsec] -> ``PIXELSCL``.
    wave_um : float
        Wavelength [um] -> ``WAVELEN`` [m] and ``WAVE_UM`` [um].
    path : str or Path
        Output file.
    meta : dict, optional
        Extra header cards (long keys become HIERARCH cards; non-scalar values
        are written as strings).

    Returns
    -------
    Path
        The written file. ``FWHM`` [arcsec] is measured with
        :func:`mocksim.psf.measure_fwhm`.
    """
    from astropy.io import fits

    from ..io_utils import atomic_path

    img = np.asarray(image, dtype=float)
    if img.ndim != 2:
        raise MocksimInputError(f"image: expected a 2D PSF image, got shape {img.shape}")
    require_range("pixscale_arcsec", pixscale_arcsec, 0.0, 10.0, low_inclusive=False)
    require_range("wave_um", wave_um, 0.0, 30.0, low_inclusive=False)
    hdu = fits.PrimaryHDU(img)
    hdr = hdu.header
    hdr["PIXELSCL"] = (float(pixscale_arcsec), "pixel scale [arcsec/pixel]")
    hdr["WAVELEN"] = (float(wave_um) * 1e-6, "wavelength [m]")
    hdr["WAVE_UM"] = (float(wave_um), "wavelength [um]")
    hdr["FWHM"] = (measure_fwhm(img, pixscale_arcsec), "azimuthally averaged FWHM [arcsec]")
    hdr["PSFSUM"] = (float(img.sum()), "sum of the image")
    for key, value in (meta or {}).items():
        if not isinstance(value, (str, int, float, bool, np.integer, np.floating, np.bool_)):
            value = str(value)
        key = re.sub(r"[^A-Z0-9_-]", "_", str(key).upper())
        hdr[key if len(key) <= 8 else f"HIERARCH {key}"] = value
    path = Path(path)
    with atomic_path(path) as tmp:
        hdu.writeto(tmp, overwrite=True)
    return path
