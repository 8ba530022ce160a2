"""Slitless-grism mode through the full pipeline (mocksim run): identity and survey scenarios."""
import warnings
from pathlib import Path

import h5py
import numpy as np
import pytest

from mocksim.cli import main
from mocksim.pipeline.run import run_scenario
from mocksim.pipeline.scenario import scenario_from_dict

ROOT = Path(__file__).resolve().parents[1]

SETUPS = {
    # instrument, redshift, calibration, branch, log_oh_center. R3-only set-ups sit on the
    # upper branch, where R3 is steep: near the lower-branch turnover (7.92) a 0.003 dex
    # error in R3 is ~0.03 dex in 12+log(O/H), too blunt for an identity test.
    "aspire": ("nircam-wfss-f356w", 6.2, "sanders24", "upper", 8.3),
    "fresco": ("nircam-wfss-f444w", 7.6, "sanders24", "upper", 8.3),
    "ngdeep": ("niriss-wfss", 2.0, "bian18", "auto", 8.3),
}


@pytest.mark.parametrize("survey", sorted(SETUPS))
def test_identity_noise_free_no_psf(tmp_path, survey):
    inst, z, cal, branch, z0 = SETUPS[survey]
    scn = scenario_from_dict({
        "name": survey, "seed": 1,
        "population": {"n": 1, "redshift": z, "re_kpc": 0.8, "log_oh_center": z0,
                       "gradient_dex_per_kpc": -0.1, "hbeta_flux_cgs": 3e-17, "v_rot_kms": 0.0},
        "instrument": {"name": inst, "psf": "none", "fov_arcsec": 2.0},
        "noise": {"model": "none"},
        # identity isolates instrument + extraction: negligible calibration scatter
        "recovery": {"calibration": cal, "branch": branch, "calibration_scatter_dex": 0.005,
                     "r_max_arcsec": 0.42, "annulus_width_arcsec": 0.084}})
    res = run_scenario(scn, tmp_path / "o", progress=False)
    r = res.arrays["recovered"]
    assert r["status"][0] == 0
    assert r["linear_gradient"][0] == pytest.approx(-0.1, abs=0.01)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["aspire_f356w", "fresco_f444w", "ngdeep_niriss"])
def test_survey_scenarios_run_from_cli(tmp_path, name, capsys):
    out = tmp_path / name
    assert main(["run", str(ROOT / "scenarios" / f"{name}.toml"), "--out", str(out), "--no-progress"]) == 0
    with h5py.File(out / "results.h5") as f:
        n = f.attrs["n_galaxies"]
        for key in ("gradient", "gradient_err", "log_oh_center", "status"):
            assert f[f"recovered/{key}"].shape == (n,)
        assert np.isfinite(f["truth/gradient_dex_per_kpc"][()]).all()
    assert "median true gradient" in capsys.readouterr().out


def _saved_single_galaxy(tmp_path, instrument, redshift):
    """One noise-free disk run with --save-cubes (its grism_00000.fits in tmp_path / "o")."""
    scn = scenario_from_dict({
        "name": "g", "seed": 2,
        "population": {"n": 1, "redshift": redshift, "re_kpc": 0.8, "log_oh_center": 8.3, "hbeta_flux_cgs": 3e-17},
        "instrument": {"name": instrument, "psf": "none", "fov_arcsec": 1.6},
        "noise": {"model": "none"}, "recovery": {"calibration": "sanders24", "branch": "upper"}})
    return run_scenario(scn, tmp_path / "o", progress=False, save_cubes=True)


def test_save_cubes_writes_spectra_direct_image_and_line_maps(tmp_path):
    from astropy.io import fits
    from astropy.wcs import WCS

    res = _saved_single_galaxy(tmp_path, "nircam-wfss-f356w", 6.2)
    obs, lm = res.outputs[0].obs, res.outputs[0].recovery.line_maps
    with fits.open(tmp_path / "o" / "grism_00000.fits") as h:
        names = [x.name for x in h]
        assert {"SCI_F356W-R", "ERR_F356W-R", "DIRECT", "LINE_OIII5007", "LINEERR_HBETA"} <= set(names)
        w = WCS(h["SCI_F356W-R"].header)
        lam = w.pixel_to_world_values([0, 100], [0, 0])[0] * 1e6
        np.testing.assert_allclose(lam, obs.wave_um[[0, 100]], atol=1e-9)
        np.testing.assert_allclose(np.nansum(h["LINE_OIII5007"].data), np.nansum(lm.flux["OIII5007"]), rtol=1e-5)
        assert h["LINE_OIII5007"].header["CTYPE1"] == "RA---TAN"
        assert h["DIRECT"].header["BUNIT"] == h["SCI_F356W-R"].header["BUNIT"] == "erg s-1 cm-2 um-1"


def test_grism_forward_fit_insensitive_to_single_precision_observations():
    """Observations rendered with float32 FFTs (the grism default) give the forward fit the
    same gradient as double precision to < 1e-6 dex/kpc at S/N 1e4 (measured 6e-8, against
    an error of 3e-3): its models (``render_noiseless``) are double precision either way."""
    from mocksim.pipeline.galaxy_run import process_galaxy

    fits = []
    for single in (True, False):
        scn = scenario_from_dict({
            "name": "t", "seed": 3,
            "population": {"n": 1, "redshift": 6.0, "re_kpc": 0.8, "log_oh_center": 7.8,
                           "gradient_dex_per_kpc": -0.2, "inclination_deg": 40.0, "pa_deg": 30.0,
                           "hbeta_flux_cgs": 2e-18, "v_rot_kms": 80.0, "sigma_kms": 60.0},
            "instrument": {"name": "nircam-wfss-f356w", "psf": "jwst", "fov_arcsec": 2.0, "oversample": 3,
                           "single_precision_fft": single},
            "noise": {"model": "snr", "snr_oiii": 1e4},
            "recovery": {"calibration": "sanders24", "binning": "annuli", "annulus_width_arcsec": 0.084,
                         "r_max_arcsec": 0.42, "branch": "lower", "keep_edge_bins": True,
                         "gradient_fit": "both", "lines": ["Hbeta", "OIII5007"]}})
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")                 # calibration-domain notes
            fits.append(process_galaxy(scn, 0).recovery)
    sp, dp = fits
    assert sp.forward.status == 0 and dp.forward.status == 0
    assert abs(dp.forward.gradient + 0.2) < 3 * dp.forward.gradient_err
    assert abs(sp.forward.gradient - dp.forward.gradient) < 1e-6
    assert abs(sp.forward.log_oh_center - dp.forward.log_oh_center) < 1e-6
    assert abs(sp.gradient - dp.gradient) < 1e-6



def test_save_cubes_grism_c_wavelength_wcs_on_dispersion_axis(tmp_path):
    """GR150C beams are written in detector orientation, (n_disp, n): the wavelength WCS
    must run along FITS axis 2 (numpy axis 0) and give obs.wave_um there, as for GR150R
    along axis 1 (it was on axis 1, the 24-pixel cross-dispersion axis)."""
    from astropy.io import fits
    from astropy.wcs import WCS

    res = _saved_single_galaxy(tmp_path, "niriss-wfss-f150w", 2.0)
    obs = res.outputs[0].obs
    k = np.array([0, 69, obs.wave_um.size - 1])
    with fits.open(tmp_path / "o" / "grism_00000.fits") as h:
        for beam, (col, row) in (("F150W-R", (k, 0 * k)), ("F150W-C", (0 * k, k))):
            hdu = h["SCI_" + beam]
            axis = 1 if beam.endswith("R") else 2
            assert hdu.header[f"CTYPE{axis}"] == "WAVE"
            assert hdu.header[f"NAXIS{axis}"] == obs.wave_um.size
            lam = WCS(hdu.header).pixel_to_world_values(col, row)[axis - 1] * 1e6
            np.testing.assert_allclose(lam, obs.wave_um[k], atol=1e-9)
