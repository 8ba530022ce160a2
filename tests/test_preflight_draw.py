"""Preflight refuses disks too compact to draw (GalSim would allocate tens of GB) before a
run writes anything; with a continuous sersic_n distribution the draw itself refuses them."""
import pytest

from mocksim.errors import MocksimInputError
from mocksim.galaxy.disk import DiskGalaxy
from mocksim.pipeline import run as run_mod
from mocksim.pipeline.scenario import scenario_from_dict


def _scenario(sersic_n, n=3):
    return scenario_from_dict({
        "name": "too_compact", "seed": 1,
        "population": {"n": n, "redshift": 6.0, "re_kpc": 0.3, "log_oh_center": 8.5,
                       "gradient_dex_per_kpc": -0.1, "inclination_deg": 85.0, "sersic_n": sersic_n,
                       "hbeta_flux_cgs": 2e-17},
        "instrument": {"name": "nirspec-ifu-g395m", "psf": "none", "fov_arcsec": 2.0},
        "noise": {"model": "snr", "snr_oiii": 30.0},
        "recovery": {"calibration": "curti20", "metallicity_method": "grid"},
    })


def test_preflight_refuses_too_compact_disk():
    with pytest.raises(MocksimInputError, match=r"galaxy 0: population: sersic_n, re_kpc, inclination_deg"):
        run_mod.preflight(_scenario(4.0))
    run_mod.preflight(_scenario(1.0))                    # the same disk as an exponential draws


def test_preflight_leaves_continuous_sersic_indices_to_the_draw(monkeypatch):
    calls = []
    monkeypatch.setattr(DiskGalaxy, "check_drawable", lambda self, grid: calls.append(self.sersic_n))
    n = run_mod.PREFLIGHT_MAX_SERSIC_INDICES + 4
    run_mod.preflight(_scenario({"dist": "uniform", "low": 0.8, "high": 1.2}, n=n))
    assert calls == []
    run_mod.preflight(_scenario(1.0, n=n))
    assert len(calls) == n
