"""Instruments: turn an EmissionScene into an Observation.

Usage::

    from mocksim.instruments import get_instrument, NoiseSpec
    inst = get_instrument("nirspec-ifu-g395m", psf="jwst")
    scene = generator.render(inst.scene_grid())          # fine grid, 0.02'' pixels
    obs = inst.observe(scene, NoiseSpec("snr", snr_oiii=30), rng=np.random.default_rng(1))

Presets live in :data:`INSTRUMENT_PRESETS` (name -> factory). Other instrument
families register theirs with :func:`register_instrument` from their own module;
import that module below so its presets are available.
"""
from __future__ import annotations

from .base import INSTRUMENT_PRESETS, Instrument, make_instrument, register_instrument
from .fits_io import FitsCube, read_cube_fits, write_cube_fits
from .noise import LineSNRAperture, NoiseSpec, line_snr_aperture
from . import nirspec_ifu as _nirspec_ifu  # noqa: F401  (registers nirspec-ifu-* presets)
from .nirspec_ifu import NIRSpecIFU

# Further instrument modules register their presets on import, e.g.:
# from . import grism as _grism  # noqa: F401


def get_instrument(name: str, **options) -> Instrument:
    """Instantiate an instrument preset.

    Parameters
    ----------
    name : str
        A key of :data:`INSTRUMENT_PRESETS`, e.g. ``"nirspec-ifu-g395m"``.
    **options
        Keyword options of the preset's class (e.g. ``psf="none"``,
        ``resample_pixscale_arcsec=0.05``, ``inflight_resolution_factor=1.1``).

    Raises
    ------
    MocksimInputError
        Unknown name (message names ``instrument.name`` and lists the presets) or
        unknown option (names ``instrument.<option>``).
    """
    return make_instrument(name, **options)


__all__ = [
    "INSTRUMENT_PRESETS", "Instrument", "NIRSpecIFU", "NoiseSpec", "LineSNRAperture",
    "line_snr_aperture", "get_instrument", "register_instrument", "write_cube_fits",
    "read_cube_fits", "FitsCube",
]
from . import grism  # noqa: F401
