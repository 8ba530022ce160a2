"""Turn a validated :class:`Scenario` into pipeline objects (instrument, noise, galaxies)."""
from __future__ import annotations

from functools import lru_cache

from ..errors import MocksimInputError
from ..galaxy import DiskGalaxy, LinearProfile
from ..galaxy.components import clumps_from_config, companions_from_config
from ..instruments import NoiseSpec, get_instrument

_INSTRUMENT_KEYS = ("name", "psf")


def build_instrument(scn):
    """Instrument preset from ``[instrument]`` (``name``, ``psf`` and preset options)."""
    opts = {k: v for k, v in scn.instrument.items() if k not in _INSTRUMENT_KEYS}
    return _cached_instrument(scn.instrument["name"], scn.instrument.get("psf", "jwst"),
                              tuple(sorted((k, _hashable(v)) for k, v in opts.items())))


def _hashable(v):
    return tuple(v) if isinstance(v, list) else v


@lru_cache(maxsize=16)
def _cached_instrument(name, psf, opts):
    try:
        return get_instrument(name, psf=psf, **dict(opts))
    except TypeError as exc:
        raise MocksimInputError(f"instrument: unsupported option for {name!r}: {exc}") from None


def build_noise(scn) -> NoiseSpec:
    """Noise model from ``[noise]``."""
    return NoiseSpec.from_dict(scn.noise)


def build_galaxy(scn, params: dict) -> DiskGalaxy:
    """The model galaxy for one set of drawn population parameters."""
    return DiskGalaxy(
        redshift=params["redshift"], re_kpc=params["re_kpc"],
        profile=LinearProfile(params["log_oh_center"], params["gradient_dex_per_kpc"]),
        inclination_deg=params["inclination_deg"], pa_deg=params["pa_deg"], sersic_n=params["sersic_n"],
        center_offset_arcsec=(params["center_dx_arcsec"], params["center_dy_arcsec"]),
        hbeta_flux_cgs=params["hbeta_flux_cgs"], sfr_msun_yr=params["sfr_msun_yr"],
        v_rot_kms=params["v_rot_kms"], r_turn_kpc=params["r_turn_kpc"], sigma_kms=params["sigma_kms"],
        av=params["av"], av_scale_kpc=params["av_scale_kpc"], dust_law=scn.dust_law,
        clumps=clumps_from_config(scn.clumps), companions=companions_from_config(scn.companions),
        cosmology=scn.cosmology,
    )
