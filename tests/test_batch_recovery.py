"""Batched recovery of a chunk (process_galaxies / recovery.batch) equals galaxy-by-galaxy."""
import numpy as np
import pytest

from mocksim.errors import MocksimInputError
from mocksim.pipeline.galaxy_run import process_galaxies, process_galaxy
from mocksim.pipeline.scenario import scenario_from_dict
from mocksim.recovery.batch import analyse_many, batchable


def scenario(noise=None, **rec):
    recovery = {"calibration": "curti20", "binning": "annuli", "metallicity_method": "grid", "gradient_fit": "linear",
                "extraction": "spectra", "tie_kinematics": True, "r_max_snr": 2.5}
    recovery.update(rec)
    return scenario_from_dict({
        "name": "batch_test", "seed": 7,
        "population": {"n": 6, "redshift": 6.0, "re_kpc": {"dist": "uniform", "low": 0.6, "high": 1.2},
                       "log_oh_center": 8.5, "gradient_dex_per_kpc": {"dist": "uniform", "low": -0.2, "high": 0.0},
                       "inclination_deg": 40.0, "pa_deg": {"dist": "uniform", "low": 0.0, "high": 180.0},
                       "hbeta_flux_cgs": 2e-17, "v_rot_kms": 150.0, "sigma_kms": 60.0},
        "instrument": {"name": "nirspec-ifu-g395m", "psf": "gaussian:0.15", "fov_arcsec": 1.2},
        "noise": noise or {"model": "snr", "snr_oiii": 25.0},
        "recovery": recovery,
    })


def assert_same(one, many, tol):
    assert [o.index for o in one] == [m.index for m in many]
    for a, b in zip(one, many):
        ra, rb = a.recovery, b.recovery
        assert ra.status == rb.status and ra.bins.n_bins == rb.bins.n_bins
        np.testing.assert_array_equal(ra.used, rb.used)
        np.testing.assert_array_equal(ra.radius_kpc, rb.radius_kpc)
        for k in ("log_oh", "log_oh_lo", "log_oh_hi"):
            np.testing.assert_allclose(getattr(rb, k), getattr(ra, k), rtol=0, atol=tol)
        for k in ("gradient", "gradient_err", "log_oh_center"):
            assert getattr(rb, k) == pytest.approx(getattr(ra, k), rel=0, abs=tol, nan_ok=True)
        for ln in ra.binned_flux:
            pull = (rb.binned_flux[ln] - ra.binned_flux[ln]) / ra.binned_err[ln]
            assert np.nanmax(np.abs(pull)) <= 1e3 * tol, ln
        assert a.derived == b.derived and a.params == b.params


@pytest.mark.parametrize("tie", [True, False])
def test_batched_chunk_equals_one_by_one(tie):
    scn = scenario(tie_kinematics=tie)
    idx = range(scn.n)
    one = [process_galaxy(scn, i) for i in idx]
    many = process_galaxies(scn, idx)
    assert sum(o.recovery.status == 0 for o in one) >= 4        # real gradients, not all failures
    assert_same(one, many, 1e-9)                                # round-off (summation order) only


def test_unequal_noise_fits_galaxy_by_galaxy():
    """Exposure-time noise (weights not proportional across spectra): the line fits run per
    galaxy (as bin_line_fluxes), the metallicities still in one call."""
    scn = scenario(noise={"model": "exposure", "exposure_s": 20000.0})
    one = [process_galaxy(scn, i) for i in range(3)]
    many = process_galaxies(scn, range(3))
    for a, b in zip(one, many):
        for ln in a.recovery.binned_flux:
            np.testing.assert_array_equal(a.recovery.binned_flux[ln], b.recovery.binned_flux[ln])
    assert_same(one, many, 1e-9)


def test_maps_chunk_equals_one_by_one():
    """Per-spaxel line maps summed in annuli: the metallicities of the chunk in one call."""
    scn = scenario(extraction="maps", tie_kinematics=False, r_max_snr=None)
    assert batchable(scn.recovery)
    one = [process_galaxy(scn, i) for i in range(3)]
    many = process_galaxies(scn, range(3))
    assert sum(o.recovery.status == 0 for o in one) >= 2
    for a, b in zip(one, many):     # the binned fluxes come from the same per-galaxy code
        for ln in a.recovery.binned_flux:
            np.testing.assert_array_equal(a.recovery.binned_flux[ln], b.recovery.binned_flux[ln])
    assert_same(one, many, 1e-9)


def test_grism_chunk_equals_one_by_one():
    """Slitless-grism line maps (ASPIRE-like, R3 lower branch) batched across a chunk."""
    scn = scenario_from_dict({
        "name": "batch_grism", "seed": 11,
        "population": {"n": 4, "redshift": 6.0, "re_kpc": {"dist": "uniform", "low": 0.4, "high": 0.8},
                       "log_oh_center": 7.8, "gradient_dex_per_kpc": {"dist": "uniform", "low": -0.3, "high": 0.0},
                       "inclination_deg": 30.0, "pa_deg": {"dist": "uniform", "low": 0.0, "high": 180.0},
                       "hbeta_flux_cgs": 3e-18, "v_rot_kms": 60.0, "sigma_kms": 60.0},
        "instrument": {"name": "nircam-wfss-f356w", "psf": "gaussian:0.12", "fov_arcsec": 1.5, "oversample": 3},
        "noise": {"model": "snr", "snr_oiii": 60.0},
        "recovery": {"calibration": "sanders24", "binning": "annuli", "annulus_width_arcsec": 0.084,
                     "r_max_arcsec": 0.42, "geometry": "truth", "branch": "lower", "keep_edge_bins": True,
                     "metallicity_method": "grid", "gradient_fit": "linear", "lines": ["Hbeta", "OIII5007"]},
    })
    assert batchable(scn.recovery)
    one = [process_galaxy(scn, i) for i in range(scn.n)]
    many = process_galaxies(scn, range(scn.n))
    assert sum(o.recovery.status == 0 for o in one) >= 3
    assert_same(one, many, 1e-9)


def test_not_batchable_configurations_run_one_by_one():
    for rec in ({"metallicity_method": "emcee"}, {"gradient_fit": "forward"}, {"gradient_fit": "both"}):
        assert not batchable(dict(scenario().recovery, **rec))
    scn = scenario(gradient_fit="both")
    assert not batchable(scn.recovery)
    one = [process_galaxy(scn, i) for i in range(2)]
    many = process_galaxies(scn, range(2))
    assert_same(one, many, 0.0)
    with pytest.raises(MocksimInputError, match="extraction"):
        analyse_many([], scn.recovery)
