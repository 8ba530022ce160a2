"""Turn a validated :class:`Scenario` into pipeline objects (instrument, noise, galaxies)."""
from __future__ import annotations

import json
from functools import lru_cache

from ..errors import MocksimInputError
import numpy as np

from ..galaxy import DiskGalaxy, FunctionProfile, LinearProfile
from ..galaxy.components import clumps_from_config, companions_from_config
from ..instruments import NoiseSpec, get_instrument

_INSTRUMENT_KEYS = ("name", "psf")


def build_instrument(scn, index: int = 0):
    """Instrument preset from ``[instrument]`` (``name``, ``psf`` and preset options),
    with the grid cell's overrides for galaxy ``index``."""
    inst = scn.instrument_for(index)
    opts = {k: v for k, v in inst.items() if k not in _INSTRUMENT_KEYS}
    return _cached_instrument(inst["name"], inst.get("psf", "jwst"), json.dumps(opts, sort_keys=True))


@lru_cache(maxsize=16)
def _cached_instrument(name, psf, opts_json):
    opts = {k: tuple(v) if isinstance(v, list) and not any(isinstance(x, dict) for x in v) else v
            for k, v in json.loads(opts_json).items()}
    try:
        return get_instrument(name, psf=psf, **opts)
    except TypeError as exc:
        raise MocksimInputError(f"instrument: unsupported option for {name!r}: {exc}") from None


def build_noise(scn, index: int = 0, params: dict | None = None) -> NoiseSpec:
    """Noise model from ``[noise]`` (with the grid cell's overrides for galaxy ``index``);
    a per-galaxy ``population.snr_oiii`` replaces ``noise.snr_oiii``."""
    d = dict(scn.noise_for(index))
    if params is not None and params.get("snr_oiii") is not None:
        d["snr_oiii"] = params["snr_oiii"]
    key = tuple((k, type(v), v) for k, v in sorted(d.items()))  # types too: 50 and 50.0 stay apart
    try:
        return _cached_noise(key)
    except TypeError:  # an unhashable value: built (and its error raised) uncached
        return NoiseSpec.from_dict(d)


@lru_cache(maxsize=256)
def _cached_noise(items):
    """The (frozen, so shareable) :class:`NoiseSpec` of the ``(key, type, value)`` items."""
    return NoiseSpec.from_dict({k: v for k, _, v in items})


def build_profile(scn, params: dict):
    """Metallicity profile of one galaxy and its intrinsic (centre, gradient).

    For ``profile = "linear"`` these are the drawn values. For the analytic models
    (``"ffb"``, ``"erb08"``) the profile is the model's projected 12+log(O/H)(R) and
    the intrinsic gradient is a least-squares line through it over 0-2 Re
    (:data:`MODEL_GRADIENT_RANGE_RE`), the range the recovery's annuli sample.
    """
    if scn.profile == "linear":
        prof = LinearProfile(params["log_oh_center"], params["gradient_dex_per_kpc"])
        return prof, params["log_oh_center"], params["gradient_dex_per_kpc"]
    re = params["re_kpc"]
    if scn.profile == "ffb":
        from analytic_models import FFBModel

        try:
            model = FFBModel(z=params["redshift"], eps=params["ffb_eps"], log_mh=params.get("ffb_log_mh"),
                             re_kpc=re, f_sn=params["ffb_f_sn"], z_in=params["ffb_z_in"],
                             z_sn=params["ffb_z_sn"], f_out=params["ffb_f_out"])
        except ValueError as exc:
            raise MocksimInputError(f"population.ffb_*: {exc}") from None
    else:
        from analytic_models import Erb08Model

        try:
            model = Erb08Model(re_kpc=re, fgas0=params["erb08_fgas0"], f_i=params["erb08_f_i"],
                               f_o=params["erb08_f_o"], y=params["erb08_y"])
        except ValueError as exc:
            raise MocksimInputError(f"population.erb08_*: {exc}") from None
    prof = FunctionProfile(model.profile, kind=scn.profile)
    r = np.linspace(0.0, MODEL_GRADIENT_RANGE_RE * re, 64)
    z = prof(r)
    if not np.all(np.isfinite(z)):
        raise MocksimInputError(f"population.profile: the {scn.profile} model gives no metallicity at some "
                                f"radii for galaxy parameters {params} (e.g. gas fraction below equilibrium)")
    slope, icpt = np.polyfit(r, z, 1)
    return prof, float(z[0]), float(slope)


#: intrinsic gradient of model profiles: linear fit over 0 .. this many Re
MODEL_GRADIENT_RANGE_RE = 2.0


def build_galaxy(scn, params: dict, profile=None) -> DiskGalaxy:
    """The model galaxy for one set of drawn population parameters."""
    if profile is None:
        profile = build_profile(scn, params)[0]
    return DiskGalaxy(
        redshift=params["redshift"], re_kpc=params["re_kpc"],
        profile=profile,
        inclination_deg=params["inclination_deg"], pa_deg=params["pa_deg"], sersic_n=params["sersic_n"],
        center_offset_arcsec=(params["center_dx_arcsec"], params["center_dy_arcsec"]),
        hbeta_flux_cgs=params["hbeta_flux_cgs"], sfr_msun_yr=params["sfr_msun_yr"],
        v_rot_kms=params["v_rot_kms"], r_turn_kpc=params["r_turn_kpc"], sigma_kms=params["sigma_kms"],
        av=params["av"], av_scale_kpc=params["av_scale_kpc"], dust_law=scn.dust_law,
        clumps=clumps_from_config(scn.clumps), companions=companions_from_config(scn.companions),
        cosmology=scn.cosmology,
    )
