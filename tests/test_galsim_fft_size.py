"""GalSim's FFT-size floor of the disk draws (``mocksim.galaxy.disk.GSPARAMS``): 64, not 128.

``minimum_fft_size`` only pads GalSim's FFTs; GalSim's accuracy criteria
(``folding_threshold``, ``maxk_threshold``) keep their defaults, and the FFT still covers
the stamp. W2 stamps (96 fine pixels) are then drawn with 96-point FFTs instead of 128,
W1 stamps (45) with 64 (96 for the largest disks). Measured on noise-free galaxies,
64 against GalSim's default 128 (W2 galaxies 0-59, W1 galaxies 0-39):

* gradient [dex/kpc]: W2 max 2.2e-6 (median 2e-8); W1 max 1.6e-5 (median 1.2e-6). The
  noisy error bars are ~0.3 (W2) and ~0.02-0.05 (W1) dex/kpc.
* 12+log(O/H) per annulus [dex]: W2 max 1.1e-5; W1 max 6.9e-5.
* binned line fluxes (relative): W2 max 7e-5; W1 max 1.5e-3 (outermost annuli).
* Against a much more accurate draw (``maxk_threshold = 1e-5``, ``folding_threshold =
  1e-4``) both are equally good: W2 gradients within 1.9e-5 (64) and 2.1e-5 (128) dex/kpc
  of it, W1 within 8.6e-6 and 1.2e-5. The Hbeta images of galaxies 1-64 differ from it
  by up to 4.2e-3 (W2) and 1.3e-2 (W1) of the peak either way, over 10x the change made
  here (at most 3e-4 and 1.1e-3 of the peak).

The tolerances are a few times the largest change on these galaxies (the worst of the
samples above); a 10x looser ``maxk_threshold`` (1e-2) breaks them, so they can fail.
"""
from __future__ import annotations

import copy
import sys
import warnings
from pathlib import Path

import galsim
import numpy as np
import pytest

from mocksim.galaxy import disk
from mocksim.pipeline.galaxy_run import _scene, process_galaxy
from mocksim.pipeline.scenario import scenario_from_dict

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # ``benchmarks`` is a top-level folder, not an installed package
    sys.path.insert(0, str(ROOT))
from benchmarks.workloads import W1_SCENARIO, W2_SCENARIO  # noqa: E402
from test_oversample import _differences  # noqa: E402  (tests/ is on the path under pytest)

#: per benchmark: the scenario and the galaxies with the largest 64-vs-128 gradient changes
SETUPS = {"w2": (W2_SCENARIO, (12, 49, 27, 6)), "w1": (W1_SCENARIO, (29, 3, 14))}
#: |gradient(64) - gradient(128)| bound [dex/kpc]: 3x the worst of 40 W1 galaxies (1.6e-5)
GRADIENT_TOL = 5e-5
#: |12+log(O/H)| per annulus bound [dex]: 2x the worst W1 change (6.9e-5)
LOG_OH_TOL = 1.5e-4
#: relative binned line-flux bound: 2x the worst W1 change (1.5e-3)
FLUX_RTOL = 3e-3
#: GalSim at its default accuracy, and much more accurate (the reference of the images)
DEFAULT = galsim.GSParams()
ACCURATE = galsim.GSParams(maxk_threshold=1e-5, folding_threshold=1e-4)


def _scenario(bench: str):
    """Benchmark ``bench`` ("w1", "w2") without noise (every annulus used, no S/N cut)."""
    d = copy.deepcopy(SETUPS[bench][0])
    d["noise"] = {"model": "none"}
    return scenario_from_dict(d)


def _recover(bench: str, gsparams) -> list:
    """Noise-free ``recovery`` of the galaxies of ``SETUPS[bench]`` with the disks drawn
    under ``gsparams``."""
    scn = _scenario(bench)
    with pytest.MonkeyPatch.context() as mp, warnings.catch_warnings():
        mp.setattr(disk, "GSPARAMS", gsparams)
        warnings.simplefilter("ignore")  # calibration-domain notes
        return [process_galaxy(scn, i).recovery for i in SETUPS[bench][1]]


def _hbeta_maps(bench: str, gsparams) -> list:
    """Intrinsic Hbeta maps (the GalSim draws) of the galaxies of ``SETUPS[bench]``."""
    scn = _scenario(bench)
    with pytest.MonkeyPatch.context() as mp, warnings.catch_warnings():
        mp.setattr(disk, "GSPARAMS", gsparams)
        warnings.simplefilter("ignore")
        return [_scene(scn, i)[0].scene.truth["hbeta_intrinsic_map"] for i in SETUPS[bench][1]]


@pytest.fixture(scope="module", params=sorted(SETUPS))
def bench(request) -> str:
    return request.param


@pytest.fixture(scope="module")
def reference(bench) -> list:
    """Recoveries with the disks drawn at GalSim's defaults (FFT floor 128)."""
    return _recover(bench, DEFAULT)


def test_only_the_fft_floor_differs_from_galsim_defaults():
    """The change is scoped to ``minimum_fft_size``; every accuracy parameter is GalSim's."""
    assert disk.GSPARAMS == galsim.GSParams(minimum_fft_size=64)


def test_fft_floor_64_recovers_the_default_gradients(bench, reference):
    """Disks drawn with the 64 floor give the gradients, metallicities and fluxes of 128."""
    d = _differences(_recover(bench, disk.GSPARAMS), reference, lines=None)
    assert d["gradient"] <= GRADIENT_TOL, d
    assert d["log_oh"] <= LOG_OH_TOL, d
    assert d["flux"] <= FLUX_RTOL, d


def test_looser_maxk_violates_the_tolerances(bench, reference):
    """The tolerances catch a real loss of accuracy: 10x looser ``maxk_threshold``."""
    d = _differences(_recover(bench, galsim.GSParams(minimum_fft_size=64, maxk_threshold=1e-2)), reference,
                     lines=None)
    assert d["log_oh"] > LOG_OH_TOL, d
    assert d["gradient"] > GRADIENT_TOL or d["flux"] > FLUX_RTOL, d


def test_fft_floor_64_is_as_accurate_as_the_default(bench):
    """Against accurate draws, the 64-floor Hbeta images are as good as the default ones,
    and differ from them by < 0.1 of GalSim's own error at the default accuracy (on these
    galaxies: W2 <= 1.3e-5 against up to 1.4e-3 of the peak, W1 <= 4.1e-4 against 1.3e-2)."""
    acc = _hbeta_maps(bench, ACCURATE)
    maps = {"default": _hbeta_maps(bench, DEFAULT), "floor64": _hbeta_maps(bench, disk.GSPARAMS)}

    def worst(imgs, refs):  # largest |difference| / peak of the reference
        return max(float(np.max(np.abs(a - b)) / b.max()) for a, b in zip(imgs, refs))

    err = {k: worst(m, acc) for k, m in maps.items()}
    change = worst(maps["floor64"], maps["default"])
    assert err["floor64"] <= 1.05 * err["default"], err
    assert change < 0.1 * err["default"], (change, err)
