"""Mock observations produced by instruments and consumed by recovery."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class Observation:
    """A spectral cube (IFU) or line-map set (grism) with its errors.

    Attributes
    ----------
    kind : str
        ``"ifu"`` or ``"grism"``.
    data : ndarray
        ``(nwave, ny, nx)`` flux density per spaxel [erg s^-1 cm^-2 um^-1].
    error : ndarray
        1-sigma uncertainty, same shape and units as ``data``.
    wave_um : ndarray
        ``(nwave,)`` observed-frame wavelength of each channel centre [micron].
    pixscale_arcsec : float
        Spaxel size [arcsec].
    redshift : float
        Systemic redshift (known to the observer, used as the fit's prior).
    instrument : object
        The instrument that produced it (public API only: ``observe``,
        ``lsf_sigma_um``, ``psf_fwhm_arcsec``, ``name``).
    lsf_sigma_um : ndarray
        ``(nwave,)`` instrumental Gaussian sigma at each channel [micron].
    noise_correlation : float
        Ratio of the true to the naive (independent-pixel) standard deviation of a
        sum over many spaxels; 1 for native cubes, > 1 for resampled ones.
    noise_kernel : ndarray or None
        Correlation coefficient of the noise of two spaxels vs their offset (odd
        shape, zero lag at the centre, value 1 there); None for independent spaxels.
        Its sum is ``noise_correlation**2`` (see :mod:`mocksim.recovery.noise_cov`).
    meta : dict
        Free-form provenance (instrument preset, PSF, noise settings...).
    extras : dict
        Mode-specific products, e.g. for slitless grism: the dispersed 2D spectra
        per grism orientation and the direct image (see ``mocksim.instruments.grism``).
    """

    kind: str
    data: np.ndarray
    error: np.ndarray
    wave_um: np.ndarray
    pixscale_arcsec: float
    redshift: float
    instrument: Any
    lsf_sigma_um: np.ndarray
    noise_correlation: float = 1.0
    noise_kernel: np.ndarray | None = None
    meta: dict = field(default_factory=dict)
    extras: dict = field(default_factory=dict)

    @property
    def shape(self) -> tuple[int, int]:
        """Spatial shape ``(ny, nx)``."""
        return self.data.shape[1:]
