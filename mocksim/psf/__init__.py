"""Point-spread functions for mocksim.

Models share the :class:`PSFModel` interface (``kernel``, ``pixel_integrated``,
``fwhm_arcsec``); :func:`make_psf` builds one from the scenario string
``instrument.psf``. Modules: :mod:`.pupil` (analytic JWST pupil),
:mod:`.fourier` (MFT optics), :mod:`.models`/:mod:`.files` (implementations),
:mod:`.cache` (memory + disk kernel cache), :mod:`.measure` (FWHM),
:mod:`.factory`, :mod:`.filters` (pivot wavelengths, broadening constants).
"""
from .base import PSFModel
from .cache import clear_memory_cache
from .factory import make_psf
from .files import write_psf_fits
from .filters import NIRCAM_PIVOT_UM, NIRISS_PIVOT_UM
from .measure import measure_fwhm
from .models import FITSPSF, JWSTPSF, GaussianPSF, MoffatPSF, NoPSF, StpsfPSF

__all__ = [
    "PSFModel",
    "JWSTPSF",
    "GaussianPSF",
    "MoffatPSF",
    "FITSPSF",
    "StpsfPSF",
    "NoPSF",
    "make_psf",
    "measure_fwhm",
    "write_psf_fits",
    "clear_memory_cache",
    "NIRCAM_PIVOT_UM",
    "NIRISS_PIVOT_UM",
]
