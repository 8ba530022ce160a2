"""Scenario parsing, distributions, reproducible per-galaxy streams, input errors."""
import numpy as np
import pytest

from mocksim.errors import MocksimInputError
from mocksim.pipeline.distributions import draw, validate_spec
from mocksim.pipeline.scenario import scenario_from_dict


def base(**over):
    d = {"name": "t", "seed": 7, "population": {"n": 50, "redshift": 6.0, "re_kpc": 1.0},
         "instrument": {"name": "nirspec-ifu-g395m", "psf": "none"}, "noise": {"model": "none"}}
    for k, v in over.items():
        d[k] = v
    return d


def test_draws_are_reproducible_and_independent_of_order():
    pop = {"n": 20, "redshift": 6.0, "re_kpc": {"dist": "lognormal", "median": 1.0, "sigma": 0.25},
           "gradient_dex_per_kpc": {"dist": "uniform", "low": -0.6, "high": 0.0}}
    scn = scenario_from_dict(base(population=pop))
    forward = [scn.draw_galaxy(i) for i in range(20)]
    backward = [scn.draw_galaxy(i) for i in reversed(range(20))][::-1]
    assert forward == backward
    g = np.array([p["gradient_dex_per_kpc"] for p in forward])
    assert np.all((g >= -0.6) & (g <= 0.0)) and np.std(g) > 0.05
    other = scenario_from_dict(base(population=pop, seed=8))
    assert other.draw_galaxy(0) != forward[0]


def test_lognormal_sigma_is_in_dex():
    rng = np.random.default_rng(1)
    spec = validate_spec("x", {"dist": "lognormal", "median": 2.0, "sigma": 0.25})
    vals = np.array([draw(spec, rng) for _ in range(20000)])
    assert np.median(vals) == pytest.approx(2.0, rel=0.02)
    assert np.std(np.log10(vals)) == pytest.approx(0.25, rel=0.03)


def test_truncated_normal_stays_in_bounds():
    rng = np.random.default_rng(2)
    spec = validate_spec("x", {"dist": "normal", "mean": 0.5, "sigma": 0.3, "low": 0.1, "high": 1.0})
    vals = np.array([draw(spec, rng) for _ in range(5000)])
    assert vals.min() >= 0.1 and vals.max() <= 1.0


@pytest.mark.parametrize("pop, key", [
    ({"re_kpc": -1.0}, "population.re_kpc"),
    ({"redshift": 0.0}, "population.redshift"),
    ({"re_kpc": {"dist": "uniform", "low": -1.0, "high": 1.0}}, "population.re_kpc.low"),
    ({"re_kpc": {"dist": "gamma", "k": 1}}, "population.re_kpc.dist"),
    ({"colour": 3}, "population: unknown"),
    ({"n": 0}, "population.n"),
])
def test_bad_population_names_the_key(pop, key):
    d = base()
    d["population"].update(pop)
    with pytest.raises(MocksimInputError, match=key.replace(".", r"\.")):
        scenario_from_dict(d)


def test_distribution_draw_outside_range_is_an_error_not_a_clip():
    d = base()
    d["population"]["re_kpc"] = {"dist": "normal", "mean": 0.1, "sigma": 1.0}
    scn = scenario_from_dict(d)
    with pytest.raises(MocksimInputError, match="population.re_kpc"):
        scn.draw_all()


@pytest.mark.parametrize("section, value, key", [
    ("recovery", {"calibration": "pettini04"}, "recovery.calibration"),
    ("recovery", {"binning": "hexagons"}, "recovery.binning"),
    ("recovery", {"lines": ["Hzeta"]}, "line"),
    ("noise", {"model": "poisson"}, "noise.model"),
    ("recovery", {"min_snr": float("nan")}, "recovery.min_snr"),  # every bin failed: all status 1
    ("recovery", {"min_snr": float("inf")}, "recovery.min_snr"),
    ("recovery", {"min_snr": True}, "recovery.min_snr"),
    ("recovery", {"target_sn": float("nan")}, "recovery.target_sn"),
    ("recovery", {"annulus_width_arcsec": True}, "recovery.annulus_width_arcsec"),
    ("recovery", {"r_max_re": True}, "recovery.r_max_re"),
])
def test_bad_sections_name_the_key(section, value, key):
    d = base()
    d[section] = value
    with pytest.raises(MocksimInputError, match=key):
        scenario_from_dict(d)


@pytest.mark.parametrize("key, value, match", [
    ("noize", {"model": "snr", "snr_oiii": 30.0}, r"unknown top-level key\(s\) \['noize'\]"),  # typo: ran noise-free
    ("recovry", {"min_snr": 5.0}, r"unknown top-level key\(s\) \['recovry'\]"),
    ("sed", 3, r"unknown top-level key\(s\) \['sed'\]"),
    ("population", 5, r"population: must be a table"),
    ("instrument", "nirspec-ifu-g395m", r"instrument: must be a table"),
    ("noise", "snr", r"noise: must be a table"),
    ("recovery", 5, r"recovery: must be a table"),
])
def test_unknown_or_malformed_top_level_tables_are_errors(key, value, match):
    d = base()
    d[key] = value
    with pytest.raises(MocksimInputError, match=match):
        scenario_from_dict(d)


def test_known_optional_tables_are_accepted():
    d = base(grid={"re_kpc": [0.5, 1.0]}, calibration={"gradient": "linear"})
    d["population"].pop("n")
    assert scenario_from_dict(d).n == 2


@pytest.mark.parametrize("spec, match", [
    ({"dist": "uniform", "low": "0.5", "high": "2"}, r"re_kpc\.low: expected a finite number"),
    ({"dist": "normal", "mean": "1", "sigma": 0.1}, r"re_kpc\.mean: expected a finite number"),
    ({"dist": "normal", "mean": 1.0, "sigma": "0.1"}, r"re_kpc\.sigma: expected a finite number"),
    ({"dist": "normal", "mean": float("nan"), "sigma": 0.1}, r"re_kpc\.mean: expected a finite number"),
    ({"dist": "lognormal", "median": "1", "sigma": 0.1}, r"re_kpc\.median: expected a finite number"),
    ({"dist": "choice", "values": ["a", "b"]}, r"re_kpc\.values: expected a finite number"),
    ({"dist": "choice", "values": [[1.0]]}, r"re_kpc\.values: expected a finite number"),
    ({"dist": "choice", "values": [True]}, r"re_kpc\.values: expected a finite number"),
    ({"dist": "normal", "mean": 1.0, "sigma": 0.1, "low": 2.0, "high": 1.0}, r"re_kpc: need low < high"),
])
def test_distribution_fields_must_be_numbers(spec, match):
    d = base()
    d["population"]["re_kpc"] = spec
    with pytest.raises(MocksimInputError, match=match):
        scenario_from_dict(d).draw_all()


@pytest.mark.parametrize("name", [".", "..", "a/b", ""])
def test_name_must_be_a_plain_folder_name(name):
    """The name is the default output folder outputs/<name>: '..' would write into the working folder."""
    with pytest.raises(MocksimInputError, match="name:"):
        scenario_from_dict(base(name=name))
