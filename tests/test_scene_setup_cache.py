"""Per-galaxy set-up shortcuts of the pipeline equal the plain constructions."""
import numpy as np
import pytest

from mocksim.errors import MocksimInputError
from mocksim.instruments import NoiseSpec
from mocksim.instruments.noise import noise_generator
from mocksim.pipeline.build import build_noise
from mocksim.pipeline.galaxy_run import _streams
from mocksim.pipeline.scenario import _check_value, _fixed_value, scenario_from_dict

SCN = {"name": "t", "seed": 11,
       "population": {"n": 10, "redshift": 6.0, "re_kpc": {"dist": "uniform", "low": 0.3, "high": 1.0},
                      "snr_oiii": {"dist": "uniform", "low": 10.0, "high": 50.0}},
       "instrument": {"name": "nircam-wfss-f356w", "psf": "gaussian", "fov_arcsec": 1.0},
       "noise": {"model": "snr", "snr_oiii": 20.0}, "recovery": {"calibration": "sanders24"}}


def test_streams_are_the_spawned_children():
    scn = scenario_from_dict(SCN)
    for i in (0, 3, 12345):
        noise_ss, fit_ss = np.random.SeedSequence(scn.seed, spawn_key=(i,)).spawn(2)
        a, b = noise_generator(noise_ss), np.random.default_rng(fit_ss)
        c, d = _streams(scn, i)
        assert np.array_equal(a.standard_normal(50), c.standard_normal(50))
        assert np.array_equal(b.random(50), d.random(50))


def test_build_noise_equals_from_dict_and_keeps_types():
    scn = scenario_from_dict(SCN)
    for i in range(4):
        params = scn.draw_galaxy(i)
        want = NoiseSpec.from_dict(dict(scn.noise, snr_oiii=params["snr_oiii"]))
        assert build_noise(scn, i, params) == want
    d = dict(SCN, noise={"model": "snr", "snr_oiii": 20})
    spec_int = build_noise(scenario_from_dict(d), 0)
    spec_float = build_noise(scenario_from_dict(SCN), 0)
    assert spec_int.to_dict() == NoiseSpec.from_dict(d["noise"]).to_dict()
    assert type(spec_int.snr_oiii) is type(NoiseSpec.from_dict(d["noise"]).snr_oiii)
    assert spec_float == NoiseSpec.from_dict(SCN["noise"])


def test_fixed_value_checks_like_check_value():
    assert _fixed_value("redshift", 6) == 6.0 and isinstance(_fixed_value("redshift", 6), float)
    with pytest.raises(MocksimInputError) as want:
        _check_value("population.redshift", "redshift", 25.0)
    with pytest.raises(MocksimInputError) as got:
        _fixed_value("redshift", 25.0)
    assert str(got.value) == str(want.value)
