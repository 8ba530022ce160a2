"""Calibration engine: executors, crash + resume, correction curves (seed 001), mocksim correct."""
import argparse
import json
import os
import signal
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import h5py
import numpy as np
import pytest

from mocksim.calibration import (add_correct_parser, correct_gradient, fit_curve, fit_property_bias, hill,
                                 load_curves, run_grid, stacking_bias_points)
from mocksim.calibration.engine import parse_scheduler, run_chunk, tally_warnings
from mocksim.calibration.store import ChunkStore
from mocksim.errors import MocksimInputError
from mocksim.pipeline.scenario import load_scenario, scenario_from_dict

ROOT = Path(__file__).resolve().parents[1]
SEED001 = ROOT / "scenarios" / "calib_nirspec_g395m_z5.toml"  # cheap 0.1" cubes: engine tests
SEED001_MOCKS = ROOT / "scenarios" / "calib_nirspec_g235m_z5.toml"  # seed 001's mocks and recovery


def seed001(grid: dict, name="calib_test", seed=1, path=SEED001) -> dict:
    """A seed-001 calibration scenario as a mapping, with another [grid]."""
    d = tomllib.loads(path.read_text())
    d["grid"], d["name"], d["seed"] = grid, name, seed
    return d


SMALL_GRID = {"realisations": 3, "log_oh_center": [9.1], "gradient_dex_per_kpc": [-0.1],
              "instrument.psf": ["gaussian:0.2", "gaussian:0.4"], "noise.snr_oiii": [50.0]}


def small(**kw):
    return scenario_from_dict(seed001(dict(SMALL_GRID, **kw)))


def read_all(path) -> dict:
    """Every dataset of an HDF5 file (path -> array) plus the root attributes."""
    out = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda k, v: out.__setitem__(k, v[()]) if isinstance(v, h5py.Dataset) else None)
        out["@attrs"] = {k: f.attrs[k] for k in f.attrs}
    return out


def assert_same_file(a, b, ignore_attrs=()):
    da, db = read_all(a), read_all(b)
    for k in ignore_attrs:
        da["@attrs"].pop(k), db["@attrs"].pop(k)
    assert sorted(da) == sorted(db)
    for k in da:
        if k == "@attrs":
            assert {x: str(v) for x, v in da[k].items()} == {x: str(v) for x, v in db[k].items()}
        else:
            np.testing.assert_array_equal(da[k], db[k], err_msg=k)


# ----------------------------------------------------------------- executors
@pytest.mark.parametrize("bad", ["local", "local:0", "local:x", "tcp://host", "tcp://:80", "http://a:1", "dask"])
def test_bad_scheduler_names_the_flag(bad):
    with pytest.raises(MocksimInputError, match="--scheduler"):
        parse_scheduler(bad)


def test_bad_options_fail_before_any_output(tmp_path):
    scn = small()
    with pytest.raises(MocksimInputError, match="--scheduler"):
        run_grid(scn, tmp_path / "a", scheduler="local:two", progress=False)
    with pytest.raises(MocksimInputError, match="--workers"):
        run_grid(scn, tmp_path / "b", workers=0, progress=False)
    with pytest.raises(MocksimInputError, match="--workers"):
        run_grid(scn, tmp_path / "c", workers=2, scheduler="local:2", progress=False)
    bad = seed001(dict(SMALL_GRID))
    bad["calibration"]["estimator"] = "mode"
    with pytest.raises(MocksimInputError, match="calibration.estimator"):
        run_grid(scenario_from_dict(bad), tmp_path / "d", progress=False)
    assert not any(tmp_path.iterdir())


def test_executors_give_bit_identical_results(tmp_path):
    pytest.importorskip("distributed")
    scn = small()
    r1 = run_grid(scn, tmp_path / "w1", workers=1, chunk_size=2, progress=False)
    r2 = run_grid(scn, tmp_path / "w2", workers=2, chunk_size=2, progress=False)
    r3 = run_grid(scn, tmp_path / "dask", scheduler="local:2", chunk_size=2, progress=False)
    assert r1.n_run == scn.n == 6 and r1.cpu_s > 0
    assert_same_file(r1.results_path, r2.results_path)
    assert_same_file(r1.results_path, r3.results_path)
    from distributed import LocalCluster

    with LocalCluster(n_workers=1, processes=True, threads_per_worker=1, dashboard_address=None) as cluster:
        r4 = run_grid(scn, tmp_path / "tcp", scheduler=cluster.scheduler_address, chunk_size=3, progress=False)
    assert_same_file(r1.results_path, r4.results_path, ignore_attrs=["chunk_size"])  # nor does the chunk size


def test_realisation_warnings_are_reported_once_with_counts(tmp_path):
    """A steep gradient leaves the calibration domain in every realisation: one warning
    with the count, not one per realisation (a 10^4-mock grid would print 10^4 lines)."""
    import warnings

    scn = small(gradient_dex_per_kpc=[-1.0])
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        run_grid(scn, tmp_path, workers=1, chunk_size=2, progress=False)
    notes = [str(w.message) for w in rec if "outside the" in str(w.message)]
    assert len(notes) == 1, notes
    assert notes[0].startswith(f"{scn.n} of {scn.n} realisations: ") and notes[0].endswith("(numbers vary)")


def test_tally_warnings_groups_messages_that_differ_only_in_numbers():
    import warnings

    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        for x in (5.8, 13.2, 1e-3):
            warnings.warn(f"{x}% of the flux lies outside [7.1, 8.6]")
        warnings.warn("another note", RuntimeWarning)
    t = tally_warnings(rec)
    assert t == {("UserWarning", "#% of the flux lies outside [#, #]"): [3, "5.8% of the flux lies outside [7.1, 8.6]"],
                 ("RuntimeWarning", "another note"): [1, "another note"]}


def test_unreachable_scheduler_fails_without_output(tmp_path, monkeypatch):
    pytest.importorskip("distributed")
    monkeypatch.setattr("mocksim.calibration.engine.CONNECT_TIMEOUT", "2s")
    with pytest.raises(MocksimInputError, match="--scheduler: cannot connect"):
        run_grid(small(), tmp_path / "x", scheduler="tcp://127.0.0.1:9", progress=False)
    assert not (tmp_path / "x").exists()


# ----------------------------------------------------------------- store / resume
KILL_SCRIPT = """
import sys
from mocksim.calibration import run_grid
from mocksim.pipeline.scenario import scenario_from_dict
import json
d = json.loads(sys.argv[1])
run_grid(scenario_from_dict(d), sys.argv[2], workers=1, chunk_size=1, progress=False, consolidate_every_s=0.0)
"""


def test_sigkill_then_resume_gives_the_uninterrupted_dataset(tmp_path):
    d = seed001(dict(SMALL_GRID, realisations=8))
    scn = scenario_from_dict(d)
    ref = run_grid(scn, tmp_path / "ref", chunk_size=1, progress=False)
    out = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-c", KILL_SCRIPT, json.dumps(d), str(out)],
                            start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    chunks = out / ".chunks"
    t0 = time.time()
    try:
        while time.time() - t0 < 120:
            if chunks.is_dir() and any(p.name.startswith("chunk_") for p in chunks.iterdir()):
                break
            assert proc.poll() is None, "run ended before any chunk was written"
            time.sleep(0.01)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the run and its worker process
        proc.wait()
    n_chunks = sum(p.name.startswith("chunk_") for p in chunks.iterdir())
    assert 1 <= n_chunks < scn.n, "the kill should interrupt the run"
    if (out / "results.h5").exists():  # partial consolidation: always a readable file
        with h5py.File(out / "results.h5") as f:
            assert not f.attrs["complete"] and f["truth/index"].shape[0] >= 1
    with pytest.raises(MocksimInputError, match="--resume"):  # a fresh run must not discard the chunks
        run_grid(scn, out, progress=False)
    res = run_grid(scn, out, resume=True, progress=False)
    assert res.n_resumed >= 1 and res.n_run >= 1 and res.n_resumed + res.n_run == scn.n
    assert_same_file(ref.results_path, res.results_path)
    assert not chunks.exists()
    again = run_grid(scn, out, resume=True, progress=False)  # finished: nothing to do
    assert again.n_run == 0


def test_resume_with_a_different_scenario_is_refused(tmp_path):
    a = small()
    store = ChunkStore(tmp_path, a, 2)
    store.start(resume=False)
    store.write_chunk(0, 2, run_chunk(a, 0, 2)["arrays"])
    b = scenario_from_dict(seed001(dict(SMALL_GRID, realisations=3, **{"noise.snr_oiii": [60.0]})))
    with pytest.raises(MocksimInputError, match="--resume.*different run"):
        run_grid(b, tmp_path, resume=True, progress=False)
    c = scenario_from_dict(seed001(dict(SMALL_GRID), seed=2))
    with pytest.raises(MocksimInputError, match="--resume.*seed"):
        run_grid(c, tmp_path, resume=True, progress=False)
    assert [p.name for p in (tmp_path / ".chunks").iterdir() if p.name.startswith("chunk_")] == \
        ["chunk_00000000_00000002.h5"]


# ----------------------------------------------------------------- seed 001 grid
SEED001_GRID = {"realisations": 3, "log_oh_center": [8.55, 8.55, 7.35, 7.35],
                "gradient_dex_per_kpc": [-0.2, -0.05, 0.05, 0.2],
                "link": [["log_oh_center", "gradient_dex_per_kpc"]],
                "instrument.psf": ["gaussian:0.1", "gaussian:0.127", "gaussian:0.18", "gaussian:0.255",
                                   "gaussian:0.36", "gaussian:0.53"],
                "noise.snr_oiii": [20.0, 100.0]}


@pytest.fixture(scope="module")
def seed001_grid(tmp_path_factory):
    scn = scenario_from_dict(seed001(SEED001_GRID, name="calib_seed001_reduced", path=SEED001_MOCKS))
    return run_grid(scn, tmp_path_factory.mktemp("seed001"), workers=2, progress=False)


def _fit(res, g):
    return next(f for f in res.products.fits if np.isclose(f.abs_gradient, g))


@pytest.mark.slow
def test_grid_outputs_layout(seed001_grid):
    res = seed001_grid
    names = sorted(p.name for p in res.out_dir.iterdir())
    assert names == ["calibration_cells.ecsv", "calibration_curves.ecsv", "correction_curves.png",
                     "results.h5", "summary.json"]
    with h5py.File(res.results_path) as f:
        n = f.attrs["n_galaxies"]
        assert f.attrs["complete"] and f.attrs["n_done"] == n == 144 and f.attrs["seed"] == 1
        assert "mocksim_version" in f.attrs and "gradient_dex_per_kpc" in f.attrs["scenario"]
        for key in ("recovered/gradient", "recovered/linear_gradient", "truth/cell", "truth/index",
                    "truth/two_re_over_fwhm", "truth/gradient_dex_per_kpc"):
            assert f[key].shape == (n,)
        np.testing.assert_array_equal(f["truth/index"][()], np.arange(n))
        np.testing.assert_array_equal(f["truth/cell"][()], np.arange(n) // 3)
        assert f["profiles/log_oh"].shape[0] == n
        assert json.loads(f["grid"].attrs["keys"])[0] == "log_oh_center" and f["grid"].attrs["n_cells"] == 48
        assert f["grid/instrument.psf"][0].decode() == "gaussian:0.1"
        assert f["calibration/fit/params"].shape == (2, 3) and f["calibration/cells/factor"].shape == (48,)
    # linked axes: the central metallicity follows the sign of the gradient
    c = res.products.cells
    g, z0 = c["true_gradient"], c["grid:log_oh_center"]
    np.testing.assert_array_equal(z0, np.where(g < 0, 8.55, 7.35))
    assert np.all(c["in_window"])


@pytest.mark.slow
def test_seed001_correction_factor_shape(seed001_grid):
    """mocksim's curve (S/N 20 + 100, both signs): monotonic, ~0.52-0.54 at 1.2, ~0.84 at 2.5, ~0.94 at 5."""
    f02 = _fit(seed001_grid, 0.2)
    xs = np.geomspace(f02.x_min, f02.x_max, 50)
    assert np.all(np.diff(f02(xs)) > 0)
    assert f02(6.37) >= 0.92 and f02(5.0) >= 0.90
    assert 0.45 <= f02(1.2) <= 0.65 and 0.75 <= f02(2.5) <= 0.9
    c = seed001_grid.products.cells
    big = (c["x"] > 6) & (c["abs_gradient"] == 0.2)
    assert np.all(c["factor"][big] > 0.85)


# Seed 001's own corrections (Table 3 measured / Table E.3 corrected gradients; digest section 4.4,
# [DERIVED]): over its sample (2Re/beam = 1.2-4.5) the factor for |grad| = 0.2 dex/kpc spans 0.49-0.93,
# for 0.05 dex/kpc 0.82-0.99. The curve is monotonic, so the extremes belong to the smallest and the
# largest 2Re/beam. The seed rounds gradients to 0.001 dex/kpc: its factors carry +-0.02.
SEED001_TABLE_E3 = {0.2: ((1.2, 0.49), (4.5, 0.93)), 0.05: ((1.2, 0.82), (4.5, 0.99))}


def _check_table_e3(res, g):
    f = _fit(res, g)
    (x_lo, f_lo), (x_hi, f_hi) = SEED001_TABLE_E3[g]
    assert f(x_lo) == pytest.approx(f_lo, abs=0.05)
    assert f(x_hi) == pytest.approx(f_hi, abs=0.03)


@pytest.mark.slow
def test_seed001_table_e3_factors_steep_gradient(seed001_grid):
    """f(0.2 dex/kpc) at the seed sample's smallest and largest 2Re/beam matches the seed's own factors."""
    _check_table_e3(seed001_grid, 0.2)


@pytest.mark.slow
@pytest.mark.xfail(strict=True, reason="seed 001 Table E.3: f(0.05 dex/kpc) = 0.82 at 2Re/beam = 1.2; mocksim gives "
                   "0.55-0.56 (0.50-0.52 for 0.2 dex/kpc): in mocksim f barely depends on |grad|, while the seed finds "
                   "shallow gradients much less flattened; the details of its mocks that could cause this are not "
                   "published")
def test_seed001_table_e3_factors_shallow_gradient(seed001_grid):
    _check_table_e3(seed001_grid, 0.05)


@pytest.mark.slow
@pytest.mark.xfail(strict=True, reason="seed 001: f(0.2 dex/kpc) >= 0.95 at 2Re/beam >= 5. mocksim gives ~0.94 at 5 "
                   "(0.95 at 6.4; 0.54 at 1.2 and 0.84 at 2.5 pass). At S/N 20 the metal-poor outskirts of negative "
                   "gradients lose Hbeta/[OII] first, the fit stops ~1 kpc earlier and, weighted by the annuli's "
                   "errors, leans on the PSF-flattened centre: the noise-free profile fitted with the S/N-20 extent "
                   "and weights gives the same 0.90 as the S/N-20 mocks (no noise bias). The seed's own Table E.3 "
                   "factors (0.93 at its largest 2Re/beam, 4.5) are matched (test above)")
def test_seed001_published_correction_factors(seed001_grid):
    f02 = _fit(seed001_grid, 0.2)
    assert f02(5.0) >= 0.95
    assert 0.5 <= f02(1.2) and f02(2.5) <= 0.9


def _sign_diffs(c, snr):
    diffs, errs = [], []
    for ag in (0.05, 0.2):
        for x in np.unique(np.round(c["x"], 6)):
            sel = c["in_window"] & (c["abs_gradient"] == ag) & (c["grid:noise.snr_oiii"] == snr) & np.isclose(c["x"], x)
            pos, neg = sel & (c["sign"] > 0), sel & (c["sign"] < 0)
            assert pos.sum() == 1 and neg.sum() == 1
            diffs.append(c["factor"][pos][0] - c["factor"][neg][0])
            errs.append(np.hypot(c["factor_err"][pos][0], c["factor_err"][neg][0]))
    return np.array(diffs), np.array(errs)


@pytest.mark.slow
@pytest.mark.parametrize("snr", [20.0, 100.0])
def test_correction_factor_independent_of_sign(seed001_grid, snr):
    diffs, errs = _sign_diffs(seed001_grid.products.cells, snr)
    mean, se = diffs.mean(), diffs.std(ddof=1) / np.sqrt(diffs.size)
    assert abs(mean) < 3 * se + 0.02, (mean, se)
    assert np.median(np.abs(diffs) / np.hypot(errs, 0.03)) < 2.0


@pytest.mark.slow
def test_seed001_numbers_at_high_snr(tmp_path):
    """Seed 001's published behaviour where noise plays no role: f >= 0.95 at 2Re/beam >= 5, 0.5-0.9 at
    1.2-2.5, the same for both signs (S/N 1000, seed 001's annulus recovery)."""
    grid = {"realisations": 1, "log_oh_center": [8.55, 7.35], "gradient_dex_per_kpc": [-0.2, 0.2],
            "link": [["log_oh_center", "gradient_dex_per_kpc"]],
            "instrument.psf": ["gaussian:0.127", "gaussian:0.255", "gaussian:0.53"], "noise.snr_oiii": [1000.0]}
    res = run_grid(scenario_from_dict(seed001(grid, name="calib_seed001_hisnr", path=SEED001_MOCKS)), tmp_path,
                   workers=1, progress=False)
    c = res.products.cells
    f = {(int(np.sign(g)), round(float(x), 1)): v for g, x, v in zip(c["true_gradient"], c["x"], c["factor"])}
    for s in (-1, 1):
        assert f[(s, 5.0)] >= 0.95, f
        assert 0.5 <= f[(s, 1.2)] <= 0.7 and 0.8 <= f[(s, 2.5)] <= 0.9, f
        for x in (1.2, 2.5, 5.0):
            assert abs(f[(1, x)] - f[(-1, x)]) < 0.05, f


@pytest.mark.slow
def test_correct_round_trip(seed001_grid, capsys):
    res = seed001_grid
    c = res.products.cells
    curves = load_curves(res.results_path)
    checked = 0
    for ag in (0.05, 0.2):
        for sign in (-1, 1):
            sel = np.flatnonzero(c["in_window"] & (c["abs_gradient"] == ag) & (c["sign"] == sign)
                                 & (c["grid:noise.snr_oiii"] == 100.0) & np.isclose(c["psf_fwhm_arcsec"], 0.255))
            i = sel[0]
            out = correct_gradient(curves, c["measured_mean"][i], c["measured_sem"][i], re_kpc=2.0, z=5.0,
                                   fwhm_arcsec=0.255)
            assert out["gradient"] == pytest.approx(sign * ag, abs=3 * out["gradient_err"] + 0.005), out
            assert np.sign(out["gradient"]) == sign
            # 0.05 and 0.2 are the grid's edges: noise may put the corrected value just outside
            # the curves' range, and the flag must then say so (and only then)
            a = abs(out["gradient"])
            assert out["extrapolated"] == (not 0.98 * 0.05 <= a <= 1.02 * 0.2), out
            checked += 1
    assert checked == 4
    # the command line, from the ECSV table, with the curves' own (JWST) PSF
    p = argparse.ArgumentParser()
    add_correct_parser(p.add_subparsers())
    args = p.parse_args(["correct", "--curves", str(res.out_dir / "calibration_curves.ecsv"), "--gradient", "-0.15",
                         "--gradient-err", "0.02", "--re-kpc", "2", "--z", "5", "--json"])
    assert args.func(args) == 0
    last = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert 0.12 < last["fwhm_arcsec"] < 0.2 and last["gradient"] < -0.15 and last["gradient_err"] > 0.02
    args = p.parse_args(["correct", "--curves", str(res.results_path), "--gradient", "0.1", "--gradient-err",
                         "0.01", "--re-kpc", "2", "--z", "5", "--instrument-fwhm-arcsec", "0.2"])
    assert args.func(args) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last.startswith("corrected gradient [dex/kpc]: +")


def synthetic_curves():
    from mocksim.calibration import Curves

    params = np.array([[0.97, np.log(1.5), 2.8], [0.94, np.log(1.7), 2.8]])
    return Curves(abs_gradient=np.array([0.05, 0.2]), params=params, cov=np.zeros((2, 3, 3)) + 1e-6 * np.eye(3),
                  x_min=np.array([0.6, 0.6]), x_max=np.array([6.4, 6.4]),
                  meta={"instrument": "nirspec-ifu-g395m", "psf": "jwst", "line": "OIII5007",
                        "cosmology": "FlatLCDM70"})


@pytest.mark.parametrize("g_true", [-0.2, -0.1, 0.05, 0.12, 0.3, 0.02])
def test_inversion_recovers_the_intrinsic_gradient(g_true):
    from mocksim.calibration.correct import invert

    cv = synthetic_curves()
    for x in (0.8, 1.5, 3.0, 6.0):
        f = cv.factor(x, abs(g_true))[0]
        out = invert(cv, f * g_true, 0.01, x)
        assert out["gradient"] == pytest.approx(g_true, rel=1e-6)
        a, h = abs(g_true), 1e-4
        dm_da = ((a + h) * cv.factor(x, a + h)[0] - (a - h) * cv.factor(x, a - h)[0]) / (2 * h)
        assert out["gradient_err_measurement"] == pytest.approx(0.01 / dm_da, rel=0.05)
        assert out["extrapolated"] == (not 0.05 <= abs(g_true) <= 0.2)


@pytest.mark.parametrize("flag, kw", [("--re-kpc", {"re_kpc": -1.0}), ("--re-kpc", {"re_kpc": 30.0}),
                                      ("--re-kpc", {"re_kpc": 0.05}), ("--z", {"z": 0.0}),
                                      ("--gradient-err", {"gradient_err": -0.1}),
                                      ("--instrument-fwhm-arcsec", {"fwhm_arcsec": 0.0}),
                                      ("--gradient", {"gradient": float("nan")})])
def test_correct_rejects_out_of_range_inputs(flag, kw):
    args = dict(gradient=0.1, gradient_err=0.01, re_kpc=2.0, z=5.0, fwhm_arcsec=0.2)
    args.update(kw)
    with pytest.raises(MocksimInputError, match=flag):
        correct_gradient(synthetic_curves(), **args)
    with pytest.raises(MocksimInputError, match="--z"):  # [OIII] outside G395M without a given FWHM
        correct_gradient(synthetic_curves(), 0.1, 0.01, 2.0, 3.0)


def test_correct_rejects_missing_curves(tmp_path):
    with pytest.raises(MocksimInputError, match="--curves"):
        load_curves(tmp_path / "nope.h5")
    (tmp_path / "x.ecsv").write_text("not a table")
    with pytest.raises(MocksimInputError, match="--curves"):
        load_curves(tmp_path / "x.ecsv")


# ----------------------------------------------------------------- fitting machinery
def test_fit_curve_recovers_a_known_hill_curve():
    x = np.geomspace(0.6, 6.4, 10)
    f = hill(x, 0.98, np.log(1.6), 2.4) + np.random.default_rng(1).normal(0, 0.005, x.size)
    fit = fit_curve(x, f, np.full(x.size, 0.005), abs_gradient=0.2)
    np.testing.assert_allclose(fit.params, [0.98, np.log(1.6), 2.4], atol=0.1)
    assert np.all(fit.err(x) < 0.02) and fit.x_min == pytest.approx(0.6)


def test_stacking_bias_fit_on_synthetic_arrays(tmp_path):
    from mocksim.calibration.figures import stacking_bias_figure

    rng = np.random.default_rng(3)
    prop = rng.uniform(7.0, 9.0, 300)  # e.g. log M*
    bias = 0.02 - 0.05 * (prop - 8.0) + rng.normal(0, 0.01, prop.size)
    fit = fit_property_bias(prop, bias, np.full(prop.size, 0.01), degree=1, n_boot=200)
    assert fit.coeffs[0] == pytest.approx(-0.05, abs=0.005)
    assert fit(8.0) == pytest.approx(0.02, abs=0.003)
    lo, hi = fit.band(np.array([8.0]))
    assert lo[0] < 0.02 + 0.003 and hi[0] > 0.02 - 0.003
    assert fit.bins["n"].sum() == prop.size
    stacking_bias_figure(tmp_path / "bias.png", prop, bias, fit, xlabel="log M*")
    assert (tmp_path / "bias.png").stat().st_size > 1000
    with h5py.File(tmp_path / "r.h5", "w") as f:  # /stack/bins/<label> as mocksim.stacking.io writes it
        b = f.create_group("stack/bins")
        b.attrs["bin_by"] = "log_mstar"
        for lo_, hi_, v in ((7.0, 8.0, 0.05), (8.0, 9.0, 0.0)):
            g = b.create_group(f"{lo_}-{hi_}")
            g.attrs["low"], g.attrs["high"] = lo_, hi_
            g["bias"], g["gradient_err"] = v, 0.01
    pts = stacking_bias_points(tmp_path / "r.h5")
    np.testing.assert_allclose(pts["prop"], [7.5, 8.5])
    np.testing.assert_allclose(pts["bias"], [0.05, 0.0])
    assert pts["bin_by"] == "log_mstar"


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("name", ["calib_nirspec_g395m_z5", "calib_nirspec_prism_z7", "calib_nircam_grism_z6",
                                  "calib_nircam_grism_z8", "calib_niriss_z2"])
def test_calibration_scenarios_are_valid(name):
    from mocksim.calibration.curves import calibration_options
    from mocksim.instruments import INSTRUMENT_PRESETS
    from mocksim.pipeline.galaxy_run import process_galaxy
    from mocksim.pipeline.run import preflight

    scn = load_scenario(ROOT / "scenarios" / f"{name}.toml")
    if scn.instrument["name"] not in INSTRUMENT_PRESETS:
        pytest.skip(f"{scn.instrument['name']} not registered")
    assert scn.grid_cells and calibration_options(scn)["logoh_window"] is not None
    preflight(scn)
    out = process_galaxy(scn, scn.n - 1)
    assert np.isfinite(out.derived["two_re_over_fwhm"])


@pytest.mark.slow
def test_grism_calibration_curve_is_beam_smearing(tmp_path):
    """NIRCam F356W at z = 6 (calib_nircam_grism_z6, S/N 1000): the factor rises from ~0.2-0.4 at
    2Re/FWHM = 1.4 to ~0.9 at 6.3. (With posterior medians, unmatched PSFs and S/N 50 the grid gave
    f ~ 0.1-0.3 at every size: prior shrinkage and S/N biases of R3 alone, not beam smearing.)"""
    d = tomllib.loads((ROOT / "scenarios" / "calib_nircam_grism_z6.toml").read_text())
    d["grid"] = {"realisations": 10, "re_kpc": [0.5, 2.2], "gradient_dex_per_kpc": [-0.1, -0.05],
                 "noise.snr_oiii": [1000.0]}
    res = run_grid(scenario_from_dict(d), tmp_path, workers=1, progress=False)
    c = res.products.cells
    small, large = c["x"] < 2, c["x"] > 6
    assert small.sum() == 2 and large.sum() == 2 and np.all(c["n_ok"] == 10)
    assert np.all(c["factor"][large] >= 0.75) and np.all(c["factor"][large] <= 1.1)
    assert np.all(c["factor"][small] <= 0.55)
    assert c["factor"][large].mean() - c["factor"][small].mean() > 0.3


@pytest.mark.slow
def test_prism_calibration_curve_is_beam_smearing(tmp_path):
    """NIRSpec prism at z = 6.5 (calib_nirspec_prism_z7, S/N 300): positive and negative 0.2 dex/kpc
    gradients give the same factor, rising from ~0.1 at 2Re/FWHM = 0.9 to ~0.8 at 4.3. (Without PSF
    matching the prism's chromatic PSF added a fake negative gradient: at 0.9 the positive gradient
    came back negative while the negative one gave f ~ 0.2.)"""
    d = tomllib.loads((ROOT / "scenarios" / "calib_nirspec_prism_z7.toml").read_text())
    d["grid"] = {"realisations": 4, "redshift": [6.5], "re_kpc": [0.4, 2.0], "log_oh_center": [7.8, 7.06],
                 "gradient_dex_per_kpc": [-0.2, 0.2], "link": [["log_oh_center", "gradient_dex_per_kpc"]],
                 "noise.snr_oiii": [300.0]}
    res = run_grid(scenario_from_dict(d), tmp_path, workers=2, progress=False)
    c = res.products.cells
    small, large = c["x"] < 1, c["x"] > 4
    assert small.sum() == 2 and large.sum() == 2 and np.all(c["n_ok"] == 4) and np.all(c["in_window"])
    f_small, f_large = c["factor"][small], c["factor"][large]
    assert np.all(f_small > -0.05) and np.all(f_small < 0.35)
    assert np.all(f_large > 0.6) and np.all(f_large < 1.05)
    assert abs(f_small[0] - f_small[1]) < 0.15 and abs(f_large[0] - f_large[1]) < 0.15


def _niriss_gradient(psf: str) -> float:
    from mocksim.pipeline.galaxy_run import process_galaxy

    d = tomllib.loads((ROOT / "scenarios" / "calib_niriss_z2.toml").read_text())
    d.pop("grid"), d.pop("calibration")
    d["population"].update(n=1, re_kpc=2.0, gradient_dex_per_kpc=-0.1, inclination_deg=0.0)
    d["instrument"]["psf"] = psf
    d["noise"]["snr_oiii"] = 1e5
    return process_galaxy(scenario_from_dict(d), 0, keep_products=True).recovery.gradient


def test_niriss_flattening_comes_from_the_psf_wings():
    """NIRISS F150W at z = 2, 2Re/FWHM = 7, S/N 1e5: the JWST PSF (FWHM 0.067", EE80 0.087") flattens
    -0.1 dex/kpc to ~-0.06, a Gaussian of the same FWHM (EE80 0.051") only to ~-0.086, a point-like PSF
    to ~-0.091 (detector pixels, drizzle and extraction). The calib_niriss_z2 curve's plateau at
    f ~ 0.65 is the real PSF's wings, so its 2Re/FWHM does not transfer to other PSF shapes."""
    g_jwst, g_gauss, g_point = (_niriss_gradient(p) for p in ("jwst", "gaussian:0.067", "gaussian:0.02"))
    assert -0.075 < g_jwst < -0.05
    assert -0.095 < g_gauss < -0.08 and -0.097 < g_point < -0.085
    assert g_jwst - g_gauss > 0.015


def test_stacking_bias_points_at_median_property_of_stacked_galaxies(tmp_path):
    """A binned stack sits at the median property of its galaxies (not at the bin mid-point):
    with seed 000's skewed mass bins [7.0, 8.1] / [8.1, 9.0] the mid-points (7.55, 8.55) are
    0.2 dex off the galaxies' medians and shrink the fitted bias slope by ~40 %."""
    rng = np.random.default_rng(1)
    lm = rng.normal(8.1, 0.45, 4000)
    lm = lm[(lm >= 7.0) & (lm < 9.0)]
    with h5py.File(tmp_path / "r.h5", "w") as f:
        b = f.create_group("stack/bins")
        b.attrs["bin_by"] = "log_mstar"
        for lo_, hi_ in ((7.0, 8.1), (8.1, 9.0)):
            g = b.create_group(f"log_mstar_{lo_:.2f}_{hi_:.2f}")
            g.attrs["low"], g.attrs["high"] = lo_, hi_
            g["bias"], g["gradient_err"] = 0.0, 0.01
            g["truth/log_mstar"] = lm[(lm >= lo_) & (lm < hi_)]
    pts = stacking_bias_points(tmp_path / "r.h5")
    np.testing.assert_allclose(pts["prop"], [np.median(lm[lm < 8.1]), np.median(lm[lm >= 8.1])])
    assert pts["group"] == ["stack/bins/log_mstar_7.00_8.10", "stack/bins/log_mstar_8.10_9.00"]
    with h5py.File(tmp_path / "r.h5", "r") as f:
        assert all(g in f for g in pts["group"])


def test_invert_refuses_vanishing_correction_factor():
    """Curves with f(x) < 1e-3 at an x inside their range: a clear input error, not a
    ValueError from the root finder (before: 'f(a) and f(b) must have different signs')."""
    from mocksim.calibration.correct import Curves, invert

    params = np.array([[1.0, np.log(3.0), 6.0], [1.0, np.log(2.5), 6.0]])
    cv = Curves(np.array([0.1, 0.3]), params, np.zeros((2, 3, 3)), np.full(2, 0.3), np.full(2, 6.0), {})
    with pytest.raises(MocksimInputError, match="--re-kpc"):
        invert(cv, -0.0002, 0.001, 0.5)
    assert invert(cv, -0.2, 0.01, 3.0)["gradient"] < -0.2  # f ~ 0.5-0.7 here: still corrected
    # one curve vanishes at x, but the solution lies where the other holds f ~ 0.4: corrected
    mixed = Curves(np.array([0.1, 0.3]), np.array([[1.0, np.log(3.0), 6.0], [1.0, np.log(0.5), 2.0]]),
                   np.zeros((2, 3, 3)), np.full(2, 0.3), np.full(2, 6.0), {})
    r = invert(mixed, -0.1, 0.01, 0.5)
    assert r["factor"] > 0.3 and r["gradient"] * r["factor"] == pytest.approx(-0.1, rel=1e-6)
