"""CLI: psf command FWHM against JDox, models command JSON, help texts."""
import json

import pytest

from mocksim.cli import main


@pytest.mark.parametrize("filt, jdox", [("F277W", 0.092), ("F356W", 0.116), ("F444W", 0.145)])
def test_psf_command_fwhm_matches_jdox(capsys, tmp_path, filt, jdox, monkeypatch):
    monkeypatch.setenv("MOCKSIM_CACHE_DIR", str(tmp_path / "cache"))
    out = tmp_path / f"{filt}.fits"
    assert main(["psf", filt, "--out", str(out)]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    fwhm = float(last.split()[-1])
    assert fwhm == pytest.approx(jdox, rel=0.05)
    from astropy.io import fits

    with fits.open(out) as h:
        assert abs(h[0].data.sum() - 1.0) < 1e-6
        assert h[0].header["PIXELSCL"] == pytest.approx(0.063 / 4)


def test_psf_command_unknown_target_exits_2(capsys):
    assert main(["psf", "F999Z"]) == 2
    assert "target" in capsys.readouterr().err


def test_models_ffb_json_reproduces_seed000_numbers(capsys, tmp_path):
    assert main(["models", "ffb", "--z", "6", "--eps", "0.05", "0.2", "--json",
                 "--plot", str(tmp_path / "f.png")]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["z_ism_zsun"] == pytest.approx([0.04, 0.15], abs=0.006)
    assert d["eta"] == pytest.approx([18.0, 4.0], abs=0.3)
    assert (tmp_path / "f.png").stat().st_size > 1000


def test_models_bad_eps_exits_2(capsys):
    assert main(["models", "ffb", "--z", "6", "--eps", "1.5"]) == 2
    assert "--eps" in capsys.readouterr().err


def test_models_evolution_fit_on_file(tmp_path, capsys):
    import numpy as np

    from analytic_models import double_power_law

    z = np.linspace(0.5, 9, 25)
    g = double_power_law(z)
    path = tmp_path / "g.csv"
    path.write_text("z,grad,grad_err\n" + "\n".join(f"{a},{b},0.03" for a, b in zip(z, g)))
    assert main(["models", "evolution", "--fit", str(path), "--steps", "600", "--burn", "200", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    pred = np.array(d["fit_gradient"])
    assert np.allclose(pred, d["published_gradient"], atol=0.06)


@pytest.mark.parametrize("cmd", [["--help"], ["run", "--help"], ["psf", "--help"], ["models", "ffb", "--help"]])
def test_help(cmd, capsys):
    with pytest.raises(SystemExit) as e:
        main(cmd)
    assert e.value.code == 0
    assert "usage: mocksim" in capsys.readouterr().out


def test_help_does_not_import_the_simulation_stack():
    """`mocksim --help` (and the parser every command builds) loads no GalSim/scipy.signal:
    the simulation stack takes ~1 s to import, the parser ~0.1 s."""
    import subprocess
    import sys

    code = ("import sys; from mocksim.cli import build_parser; build_parser(); "
            "print(','.join(m for m in ('galsim', 'scipy.signal', 'mocksim.calibration.engine', "
            "'mocksim.pipeline.galaxy_run') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_calibration_engine_names_load_on_first_use():
    import mocksim.calibration as cal
    from mocksim.calibration import engine

    assert cal.run_grid is engine.run_grid and cal.GridResult is engine.GridResult
    with pytest.raises(AttributeError, match="no_such_name"):
        cal.no_such_name


@pytest.mark.slow
def test_models_observe_prints_intrinsic_observed_and_seed_values(tmp_path, capsys):
    from analytic_models import FFBModel

    assert main(["models", "observe", "--eps", "0.2", "--n", "4", "--out", str(tmp_path), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["rows"]
    assert [r["survey"] for r in rows] == ["ASPIRE", "FRESCO"]
    aspire = rows[0]
    assert aspire["seed000_gradient"] == pytest.approx(-0.34) and aspire["seed000_gradient_err"] == pytest.approx(0.18)
    assert rows[1]["seed000_gradient"] == pytest.approx(-0.53)
    assert aspire["intrinsic_gradient"] == pytest.approx(FFBModel(z=6.28, eps=0.2).gradient(averaged=True))
    assert aspire["intrinsic_gradient"] < -0.1
    for r in rows:
        assert r["observed_stacked_gradient_err"] > 0


def test_chunk_size_refused_for_plain_runs(tmp_path, capsys):
    """--chunk-size only sets grid runs' stored chunks; a plain run would ignore it silently."""
    from pathlib import Path

    scn = Path(__file__).resolve().parents[1] / "scenarios" / "quickstart.toml"
    assert main(["run", str(scn), "--chunk-size", "4", "--out", str(tmp_path / "o"), "--no-progress"]) == 2
    assert "--chunk-size" in capsys.readouterr().err and not (tmp_path / "o").exists()
