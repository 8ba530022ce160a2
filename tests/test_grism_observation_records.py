"""Per-field records a grism observation shares with the next (``_observation_records``):
equal to the instrument's methods, arrays read-only, dicts fresh per observation."""
import numpy as np

from mocksim.galaxy import linear_disk
from mocksim.instruments import NoiseSpec, get_instrument


def test_observation_records_match_the_methods_and_are_not_shared_mutably():
    inst = get_instrument("niriss-wfss", psf="gaussian", fov_arcsec=1.0, oversample=1)
    gal = linear_disk(2.0, 0.5, 8.2, -0.1, hbeta_flux_cgs=1e-17)
    scene = gal.render(inst.scene_grid(), "curti20")
    spec = NoiseSpec(model="snr", snr_oiii=30.0)
    obs = [inst.observe(scene, spec, np.random.default_rng(k)) for k in range(2)]
    n = obs[0].shape[0]
    wave = inst.wave_grid(n)
    names = inst.beam_names()
    for o in obs:
        assert np.array_equal(o.wave_um, wave) and not o.wave_um.flags.writeable
        assert np.array_equal(o.lsf_sigma_um, inst.lsf_sigma_um(wave)) and not o.lsf_sigma_um.flags.writeable
        assert o.extras["geometry"] == inst.geometry(n)
        assert o.extras["beams"] == [{"name": nm, "filter": f.name, "grism": g,
                                      "dispersion_axis": "x" if g == "R" else "y", "band_um": (f.lo_um, f.hi_um)}
                                     for nm, (f, g) in zip(names, inst.beams)]
        assert o.meta["noise"] == spec.to_dict()
    assert obs[0].extras["geometry"] is not obs[1].extras["geometry"]
    assert all(a is not b for a, b in zip(obs[0].extras["beams"], obs[1].extras["beams"]))
    obs[0].extras["geometry"]["margin_px"] = -1       # a caller's edit stays in its observation
    assert obs[1].extras["geometry"]["margin_px"] == inst.margin_px


def test_noise_spec_to_dict_has_every_field():
    import dataclasses

    spec = NoiseSpec(model="snr", snr_oiii=12.0, snr_aperture_arcsec=0.3)
    assert spec.to_dict() == dataclasses.asdict(spec)
    assert list(spec.to_dict()) == [f.name for f in dataclasses.fields(NoiseSpec)]
