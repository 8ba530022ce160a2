"""End to end: CLI, outputs, closed-loop recovery (identity and beam smearing)."""
import json
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from mocksim.cli import main
from mocksim.pipeline.run import run_scenario
from mocksim.pipeline.scenario import scenario_from_dict

ROOT = Path(__file__).resolve().parents[1]


def scenario(**kw):
    pop = {"n": 1, "redshift": 6.0, "re_kpc": 2.0, "log_oh_center": 8.6, "gradient_dex_per_kpc": -0.2,
           "inclination_deg": 0.0, "hbeta_flux_cgs": 2e-17, "v_rot_kms": 0.0, "sigma_kms": 50.0}
    pop.update(kw.pop("population", {}))
    d = {"name": kw.pop("name", "t"), "seed": kw.pop("seed", 3), "population": pop,
         "instrument": kw.pop("instrument", {"name": "nirspec-ifu-g395m", "psf": "none"}),
         "noise": kw.pop("noise", {"model": "none"}),
         "recovery": kw.pop("recovery", {"calibration": "curti20", "gradient_fit": "both"})}
    return scenario_from_dict(d)


def test_identity_noise_free_no_psf(tmp_path):
    res = run_scenario(scenario(), tmp_path / "out", progress=False)
    r = res.arrays["recovered"]
    assert r["linear_gradient"][0] == pytest.approx(-0.2, abs=0.005)
    assert r["forward_gradient"][0] == pytest.approx(-0.2, abs=0.005)
    assert r["status"][0] == 0


@pytest.mark.slow
def test_beam_smearing_flattens_and_forward_fit_corrects(tmp_path):
    scn = scenario(population={"re_kpc": 0.5, "gradient_dex_per_kpc": -0.3, "log_oh_center": 8.7},
                   instrument={"name": "nirspec-ifu-g395m", "psf": "jwst", "fov_arcsec": 1.6},
                   noise={"model": "snr", "snr_oiii": 50.0, "snr_definition": "peak_re"},
                   recovery={"calibration": "curti20", "gradient_fit": "both", "min_snr": 3.0})
    res = run_scenario(scn, tmp_path / "out", progress=False)
    r = res.arrays["recovered"]
    lin, fwd, err = r["linear_gradient"][0], r["forward_gradient"][0], r["forward_gradient_err"][0]
    assert lin > -0.3 + 0.03, "beam smearing should flatten the direct annulus fit"
    assert abs(fwd + 0.3) < 0.03
    assert abs(fwd + 0.3) < 2 * err


def test_ifu_forward_fit_insensitive_to_single_precision_models():
    """The IFU's default float32 PSF FFTs leave the forward fit's finite-difference Jacobian
    intact (steps >= 1e-3): single and double precision agree to < 3e-5 dex/kpc (measured
    <= 9e-6 on W1-like galaxies at S/N 1e4, against errors of 1e-4 to 4e-4)."""
    from mocksim.pipeline.galaxy_run import process_galaxy

    fits = []
    for single in (True, False):
        scn = scenario(population={"re_kpc": 1.0, "gradient_dex_per_kpc": -0.2, "inclination_deg": 40.0,
                                   "v_rot_kms": 150.0, "sigma_kms": 60.0},
                       instrument={"name": "nirspec-ifu-g395m", "psf": "jwst", "fov_arcsec": 1.5,
                                   "oversample": 3, "single_precision_fft": single},
                       noise={"model": "snr", "snr_oiii": 1e4},
                       recovery={"calibration": "curti20", "binning": "annuli", "gradient_fit": "both",
                                 "extraction": "spectra", "tie_kinematics": True})
        fits.append(process_galaxy(scn, 0).recovery.forward)
    sp, dp = fits
    assert sp.status == 0 and dp.status == 0
    assert abs(dp.gradient + 0.2) < max(3 * dp.gradient_err, 2e-3)
    assert abs(sp.gradient - dp.gradient) < 3e-5
    assert abs(sp.log_oh_center - dp.log_oh_center) < 3e-5


def test_outputs_layout_and_attributes(tmp_path):
    scn = scenario(population={"n": 2, "gradient_dex_per_kpc": {"dist": "uniform", "low": -0.3, "high": 0.0}},
                   recovery={"calibration": "curti20"})
    res = run_scenario(scn, tmp_path / "out", progress=False, save_cubes=True)
    out = res.out_dir
    names = sorted(p.name for p in out.iterdir())
    assert names == ["cube_00000.fits", "cube_00001.fits", "overview.png", "results.h5", "summary.json"]
    with h5py.File(out / "results.h5") as f:
        for key in ("gradient", "gradient_err", "log_oh_center", "status"):
            assert f[f"recovered/{key}"].shape == (2,)
        for key in ("redshift", "re_kpc", "gradient_dex_per_kpc", "inclination_deg", "pa_deg", "sersic_n",
                    "hbeta_flux_cgs", "v_rot_kms", "sigma_kms", "log_oh_center"):
            assert f[f"truth/{key}"].shape == (2,)
        assert f.attrs["seed"] == 3 and "gradient_dex_per_kpc" in f.attrs["scenario"]
        assert "mocksim_version" in f.attrs
        np.testing.assert_allclose(f["recovered/gradient"][()], f["truth/gradient_dex_per_kpc"][()], atol=0.01)
    s = json.loads((out / "summary.json").read_text())
    assert s["n_galaxies"] == 2 and s["seed"] == 3
    from astropy.io import fits

    from mocksim import __version__

    with fits.open(out / "cube_00000.fits") as hdul:
        assert hdul["SCI"].data.shape == hdul["ERR"].data.shape
        assert hdul["SCI"].header["CTYPE3"].startswith("WAVE")
        prim = hdul[0].header  # every output file records the scenario, seed and mocksim version
        assert prim["SCENARIO"] == "t" and prim["SEED"] == 3 and prim["MOCKVERS"] == __version__
    # a rerun into the same folder leaves no cube of the earlier run beside its results; other files stay
    (out / "notes.txt").write_text("mine")
    (out / "stack.png").write_bytes(b"")
    run_scenario(scn, out, progress=False)
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt", "overview.png", "results.h5", "summary.json"]


@pytest.mark.parametrize("psf", ["none", "gaussian:0.15", "moffat:0.15:3", "gaussian"])
def test_workers_do_not_change_results(tmp_path, psf):
    # the kept products (obs, scene) travel back from the worker processes: every PSF model pickles
    scn = scenario(population={"n": 4, "re_kpc": {"dist": "uniform", "low": 0.8, "high": 2.0}},
                   instrument={"name": "nirspec-ifu-g395m", "psf": psf, "fov_arcsec": 2.0},
                   noise={"model": "snr", "snr_oiii": 30.0}, recovery={"calibration": "curti20"})
    a = run_scenario(scn, tmp_path / "a", progress=False, workers=1).arrays
    b = run_scenario(scn, tmp_path / "b", progress=False, workers=2).arrays
    for group in ("truth", "recovered"):
        for k in a[group]:
            np.testing.assert_array_equal(a[group][k], b[group][k])


BAD = {
    "negative radius": ("re_kpc = -1.0", "population.re_kpc"),
    "unknown instrument": ('name = "nirspec-ifu-g999x"', "instrument.name"),
    "unknown calibration": ('calibration = "nobody99"', "recovery.calibration"),
    "line outside coverage": ('lines = ["Hbeta", "OIII5007", "OII3727"]', "OII3727"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_cli_bad_input_exits_2_and_writes_nothing(tmp_path, capsys, case):
    line, key = BAD[case]
    text = (ROOT / "scenarios" / "quickstart.toml").read_text()
    section = {"negative radius": "[population]", "unknown instrument": "[instrument]",
               "unknown calibration": "[recovery]", "line outside coverage": "[recovery]"}[case]
    field = line.split("=")[0].strip()
    lines, current = [], None
    for ln in text.splitlines():
        if ln.startswith("["):
            current = ln.strip()
        if current == section and ln.startswith(field + " "):
            continue  # replaced below
        lines.append(ln)
    lines.insert(lines.index(section) + 1, line)
    path = tmp_path / "bad.toml"
    path.write_text("\n".join(lines) + "\n")
    out = tmp_path / "out"
    code = main(["run", str(path), "--out", str(out), "--no-progress"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1 and key in err[0]
    assert not out.exists() and not any(p.name.startswith(".out") for p in tmp_path.iterdir())


def test_console_script_help():
    proc = subprocess.run([sys.executable, "-m", "mocksim", "run", "--help"], capture_output=True, text=True)
    assert proc.returncode == 0 and "--save-cubes" in proc.stdout


def test_ffb_profile_galaxies_record_intrinsic_model_gradient(tmp_path):
    from analytic_models import FFBModel

    scn = scenario_from_dict({
        "name": "ffb", "seed": 1,
        "population": {"n": 1, "profile": "ffb", "ffb_eps": 0.2, "redshift": 6.0, "re_kpc": 0.53,
                       "hbeta_flux_cgs": 3e-17},
        "instrument": {"name": "nirspec-ifu-prism", "psf": "none", "fov_arcsec": 1.6},
        "noise": {"model": "none"}, "recovery": {"calibration": "sanders24"}})
    res = run_scenario(scn, tmp_path / "o", progress=False)
    t, r = res.arrays["truth"], res.arrays["recovered"]
    model = FFBModel(z=6.0, eps=0.2, re_kpc=0.53)
    rr = np.linspace(0, 2 * 0.53, 64)
    slope = np.polyfit(rr, model.profile(rr), 1)[0]
    assert t["log_oh_center"][0] == pytest.approx(float(model.profile(0.0)), abs=1e-9)
    assert t["gradient_dex_per_kpc"][0] == pytest.approx(slope, abs=1e-9)
    assert slope < -0.1  # FFB profiles fall steeply (seed 000 Figure 7)
    assert r["linear_gradient"][0] < 0


@pytest.mark.parametrize("grid", [False, True])
def test_out_that_is_a_file_is_an_input_error_before_simulating(tmp_path, monkeypatch, grid):
    import mocksim.pipeline.galaxy_run as gr
    from mocksim.calibration import run_grid
    from mocksim.errors import MocksimInputError

    def no_simulation(*a, **k):
        raise AssertionError("simulated before checking --out")

    import mocksim.pipeline.run as run_mod

    monkeypatch.setattr(gr, "process_galaxies", no_simulation)
    monkeypatch.setattr(run_mod, "process_galaxies", no_simulation)
    taken = tmp_path / "notes.txt"
    taken.write_text("mine\n")
    for out in (taken, taken / "sub"):
        with pytest.raises(MocksimInputError, match=r"--out: .*notes\.txt.* is not a folder"):
            if grid:
                run_grid(scenario(), out, progress=False)
            else:
                run_scenario(scenario(), out, progress=False)
    assert taken.read_text() == "mine\n" and sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]
