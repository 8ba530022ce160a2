"""``mocksim run`` in fixed batched chunks: same numbers for any worker count, products
kept per galaxy, and the one-by-one results to round-off."""
import warnings

import numpy as np
import pytest

from mocksim.pipeline.chunks import chunk_bounds, default_chunk_size, run_chunk_size
from mocksim.pipeline.galaxy_run import process_galaxies, process_galaxy
from mocksim.pipeline.run import run_scenario
from mocksim.pipeline.scenario import scenario_from_dict


@pytest.mark.parametrize("n", [1, 2, 7, 8, 9, 17, 255, 256, 257, 10_000])
def test_chunks_cover_every_galaxy_once(n):
    for size in (run_chunk_size(n), default_chunk_size(n)):
        bounds = chunk_bounds(n, size)
        assert [i for a, b in bounds for i in range(a, b)] == list(range(n))
        assert all(0 < b - a <= size for a, b in bounds)
    # about 8 chunks (as many as 8 workers use), at most 32 galaxies each
    assert run_chunk_size(n) == min(32, max(1, -(-n // 8)))
    assert len(chunk_bounds(n, run_chunk_size(n))) <= max(8, -(-n // 32))


def _grism_scenario(n):
    return scenario_from_dict({
        "name": "chunks", "seed": 11,
        "population": {"n": n, "redshift": 6.0,
                       "re_kpc": {"dist": "uniform", "low": 0.4, "high": 0.8},
                       "log_oh_center": {"dist": "uniform", "low": 7.7, "high": 7.85},
                       "gradient_dex_per_kpc": {"dist": "uniform", "low": -0.3, "high": 0.0},
                       "hbeta_flux_cgs": 2e-18},
        "instrument": {"name": "nircam-wfss-f356w", "psf": "jwst", "fov_arcsec": 2.0, "oversample": 3},
        "noise": {"model": "snr", "snr_oiii": 50.0},
        "recovery": {"calibration": "sanders24", "binning": "annuli", "annulus_width_arcsec": 0.084,
                     "r_max_arcsec": 0.42, "geometry": "truth", "branch": "lower", "keep_edge_bins": True,
                     "metallicity_method": "grid", "gradient_fit": "linear",
                     "lines": ["Hbeta", "OIII5007"]}})


def test_run_chunks_workers_identical_and_match_one_by_one(tmp_path):
    n = 17                                          # chunks of 3: five full, one of 2
    scn = _grism_scenario(n)
    assert run_chunk_size(n) == 3
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = run_scenario(scn, tmp_path / "a", progress=False, workers=1, n_plot=2)
        b = run_scenario(scn, tmp_path / "b", progress=False, workers=2, n_plot=2)
        single = [process_galaxy(scn, i) for i in range(n)]
    for group in ("truth", "recovered"):
        for k in a.arrays[group]:
            np.testing.assert_array_equal(a.arrays[group][k], b.arrays[group][k], err_msg=f"{group}/{k}")
    # products only for the plotted galaxies, though galaxies 0-2 share a batch
    assert [o.obs is not None for o in a.outputs] == [i < 2 for i in range(n)]
    assert [o.index for o in a.outputs] == list(range(n))
    # batched recovery: the one-by-one numbers to round-off
    grads = np.array([o.recovery.gradient for o in a.outputs])
    ref = np.array([o.recovery.gradient for o in single])
    assert np.isfinite(ref).all()
    np.testing.assert_allclose(grads, ref, rtol=1e-9, atol=1e-12)
    np.testing.assert_array_equal(a.arrays["truth"]["gradient_dex_per_kpc"],
                                  [o.params["gradient_dex_per_kpc"] for o in single])


def test_process_galaxies_keep_flags_checked():
    scn = _grism_scenario(4)
    with pytest.raises(ValueError, match="keep_products: 1 flags for 2 galaxies"):
        process_galaxies(scn, [0, 1], keep_products=[True])


def test_observe_runs_split_by_memory_change_nothing(monkeypatch):
    """Grism galaxies observed a few at a time (working-memory cap) or all in one
    ``observe_many`` call: the same numbers, bit for bit."""
    import mocksim.pipeline.galaxy_run as gr

    scn = _grism_scenario(6)
    sizes = []
    real = gr._observe_run
    monkeypatch.setattr(gr, "_observe_run", lambda run: sizes.append(len(run)) or real(run))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        whole = process_galaxies(scn, range(6))
        assert sizes == [6]
        one = gr._scene(scn, 0)[0]
        monkeypatch.setattr(gr, "OBSERVE_BATCH_BYTES", int(2.5 * one.inst.batch_nbytes(one.scene)))
        split = process_galaxies(scn, range(6))
    assert sizes[1:] == [2, 2, 2]
    for a, b in zip(whole, split):
        assert a.recovery.gradient == b.recovery.gradient
        np.testing.assert_array_equal(a.recovery.log_oh, b.recovery.log_oh)


def test_grism_batch_nbytes_counts_lines_in_band():
    from mocksim.instruments import make_instrument
    from mocksim.scene import EmissionScene, SceneComponent

    inst = make_instrument("nircam-wfss-f356w", psf="none")
    grid = inst.scene_grid()
    maps = {k: np.ones(grid.shape) for k in ("Hbeta", "OIII5007", "Halpha")}   # Halpha: 4.59 um at z = 6
    scene = EmissionScene(6.0, grid, [SceneComponent("disk", maps, np.zeros(grid.shape), np.zeros(grid.shape))])
    # Hbeta and [OIII] in the one F356W-R beam: 8 + 32 bytes per pixel; Halpha: 8 (direct term)
    assert inst.batch_nbytes(scene) == (2 * 40 + 8) * grid.shape[0] * grid.shape[1]


def test_kernel_memo_is_bounded_and_refills_from_the_psf():
    from mocksim.instruments import make_instrument
    from mocksim.instruments.base import KernelMemo

    memo = KernelMemo(3)
    for i in range(5):
        memo[i] = i
    assert list(memo.items()) == [(2, 2), (3, 3), (4, 4)]           # oldest dropped first
    memo[3] = 30                                                     # replacing drops nothing
    assert list(memo) == [2, 3, 4] and memo[3] == 30

    inst = make_instrument("nircam-wfss-f356w", psf="jwst")
    pix = inst.scene_grid().pixscale_arcsec
    first = inst._kernel(3.5, pix).copy()
    for k in range(inst._kernels.max_entries + 10):                  # continuous redshifts: new wavelengths
        inst._kernel(3.2 + 0.001 * k, pix)
    assert len(inst._kernels) == inst._kernels.max_entries
    again = inst._kernel(3.5, pix)                                   # dropped, rebuilt the same
    np.testing.assert_array_equal(again, first)
    assert again.sum() == pytest.approx(1.0, rel=1e-12)
