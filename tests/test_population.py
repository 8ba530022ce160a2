"""Scaling relations and relation-based draws (mocksim.population)."""
import numpy as np
import pytest

from mocksim.errors import MocksimInputError
from mocksim.population import (MASS_SIZE_PARAMS, POPULATION_RELATION_KEYS, RELATION_SCATTER, mass_size_re_kpc,
                                resolve_relations, sarkar25_mzr, validate_relation_spec)


def test_sarkar25_spot_values():
    # 6.29 + 0.237 * 9 - 0.06 * 7 = 8.003 (seed 000 §2.3)
    assert sarkar25_mzr(9.0, 6.0) == pytest.approx(8.003, abs=1e-12)
    assert sarkar25_mzr(8.0, 8.0) == pytest.approx(6.29 + 1.896 - 0.54, abs=1e-12)
    # seed 000: log M* <~ 9 at 5 < z < 9 -> 12+log(O/H) <~ 7.9 (8.06 at z = 5, 7.82 at z = 9)
    assert np.allclose(sarkar25_mzr(9.0, np.array([5.0, 7.0, 9.0])), [8.063, 7.943, 7.823], atol=1e-12)
    assert sarkar25_mzr([7.0, 8.0], 6.0).shape == (2,)


def test_mass_size_anchors():
    # anchored on seed 000's empirical medians at the sample median mass log M* = 8.16
    assert mass_size_re_kpc(8.16, 6.0) == pytest.approx(0.53, rel=1e-12)
    assert mass_size_re_kpc(8.16, 8.0) == pytest.approx(0.36, rel=1e-12)
    # slope 0.20 in log R_e per dex of mass
    assert np.log10(mass_size_re_kpc(9.16, 6.0) / mass_size_re_kpc(8.16, 6.0)) == pytest.approx(0.20)
    assert MASS_SIZE_PARAMS["beta"] == pytest.approx(-1.539, abs=1e-3)
    assert RELATION_SCATTER == {"mass-size": 0.25, "mzr": 0.16}
    assert POPULATION_RELATION_KEYS == ("log_mstar", "axis_ratio", "snr_oiii")


def test_resolve_relations_scatter_and_reproducibility():
    rng = np.random.default_rng(5)
    base = {"log_mstar": 8.5, "redshift": 6.5, "re_kpc": "mass-size", "log_oh_center": "mzr",
            "gradient_dex_per_kpc": -0.2}
    draws = [resolve_relations(base, rng) for _ in range(4000)]
    re = np.array([d["re_kpc"] for d in draws])
    oh = np.array([d["log_oh_center"] for d in draws])
    dlog = np.log10(re / mass_size_re_kpc(8.5, 6.5))
    assert np.mean(dlog) == pytest.approx(0.0, abs=0.015)
    assert np.std(dlog) == pytest.approx(0.25, rel=0.05)
    assert np.mean(oh) == pytest.approx(sarkar25_mzr(8.5, 6.5), abs=0.01)
    assert np.std(oh) == pytest.approx(0.16, rel=0.05)
    assert np.corrcoef(dlog, oh)[0, 1] == pytest.approx(0.0, abs=0.05)
    assert draws[0]["gradient_dex_per_kpc"] == -0.2 and base["re_kpc"] == "mass-size"  # input untouched
    a = resolve_relations(base, np.random.default_rng(9))
    b = resolve_relations(base, np.random.default_rng(9))
    assert a == b
    # fixed numbers pass through, and the stream advances the same way
    fixed = resolve_relations({**base, "re_kpc": 0.7}, np.random.default_rng(9))
    assert fixed["re_kpc"] == 0.7 and fixed["log_oh_center"] == a["log_oh_center"]


def test_relation_tables_and_axis_ratio():
    rng = np.random.default_rng(1)
    out = resolve_relations({"log_mstar": 8.0, "redshift": 6.0, "log_oh_center": {"relation": "mzr", "scatter": 0.0},
                             "re_kpc": {"relation": "mass-size", "scatter": 0.0}, "axis_ratio": 0.5}, rng)
    assert out["log_oh_center"] == pytest.approx(sarkar25_mzr(8.0, 6.0))
    assert out["re_kpc"] == pytest.approx(mass_size_re_kpc(8.0, 6.0))
    assert out["inclination_deg"] == pytest.approx(60.0)
    assert resolve_relations({"axis_ratio": 1.0}, rng)["inclination_deg"] == pytest.approx(0.0)


@pytest.mark.parametrize("params, match", [
    ({"re_kpc": "mass-size", "redshift": 6.0}, "population.re_kpc.*log_mstar"),
    ({"log_oh_center": "mzr", "log_mstar": 8.0}, "population.log_oh_center.*redshift"),
    ({"re_kpc": "mzr", "log_mstar": 8.0, "redshift": 6.0}, "population.re_kpc.*'mass-size'"),
    ({"log_oh_center": {"relation": "mzr", "scatter": -1}, "log_mstar": 8.0, "redshift": 6.0},
     r"population.log_oh_center.scatter"),
    ({"log_oh_center": {"relation": "mzr", "sigma": 0.1}, "log_mstar": 8.0, "redshift": 6.0}, "unknown field"),
    ({"axis_ratio": 0.0}, "population.axis_ratio"),
    ({"axis_ratio": 1.2}, "population.axis_ratio"),
])
def test_bad_relation_specs(params, match):
    with pytest.raises(MocksimInputError, match=match):
        resolve_relations(params, np.random.default_rng(0))


def test_validate_relation_spec_only_for_known_keys():
    assert validate_relation_spec("re_kpc", "mass-size") == {"relation": "mass-size", "scatter": 0.25}
    with pytest.raises(MocksimInputError, match="population.sersic_n"):
        validate_relation_spec("sersic_n", "mass-size")
