"""Batched slitless rendering (several lines / scenes per call) against one at a time.

The batched paths stack the same element-wise operations and FFTs along a leading axis,
so they must be bit-identical to the one-by-one calls (``np.array_equal``), whatever
the batch: that keeps a seeded scenario's results independent of the chunk size.
"""
from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

from mocksim.instruments import get_instrument
from mocksim.instruments.fftconv import SpectrumCache
from mocksim.instruments import grism_disperse
from mocksim.instruments.grism_disperse import disperse_line, disperse_line_exact, disperse_line_many
from mocksim.pipeline.galaxy_run import _scene, process_galaxies, process_galaxy
from mocksim.pipeline.scenario import scenario_from_dict

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # ``benchmarks`` is a top-level folder, not an installed package
    sys.path.insert(0, str(ROOT))
from benchmarks.workloads import W2_SCENARIO  # noqa: E402


def _full(pieces, n, n_disp):
    out = np.zeros((n, n_disp))
    for img, c0 in pieces:
        out[:, c0:c0 + img.shape[1]] += img
    return out


def _line(nfine, v_rot, sig_scale, seed, mu0=60.0):
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:nfine, 0:nfine] - (nfine - 1) / 2.0
    f = np.exp(-np.hypot(x, 0.6 * y) / 6.0) * (1.0 + 0.05 * rng.standard_normal(x.shape))
    idx = np.flatnonzero(f > 0)
    v = v_rot * np.tanh(x / 8.0).ravel()[idx]
    mu = mu0 + v / 3e5 * 3.5 * 1021.0
    return idx, f.ravel()[idx], mu, sig_scale * (1.0 + v / 3e5)


@pytest.fixture(scope="module")
def psf_kernel():
    inst = get_instrument("nircam-wfss-f356w", psf="jwst", fov_arcsec=1.0, kernel_max_arcsec=1.0)
    return inst._kernel(3.5, inst.pixscale_arcsec / inst.oversample)


@pytest.mark.parametrize("chunk", [1, 2, 32])
@pytest.mark.parametrize("grism", ["R", "C"])
def test_disperse_line_many_equals_one_by_one(psf_kernel, grism, chunk, monkeypatch):
    """Jobs with one or several width bins (different series lengths), narrow (exact-path)
    and mixed pixels, distant clusters and several FFT grids, in one call."""
    nfine, os_, n_disp = 60, 5, 500
    jobs = [_line(nfine, 150.0, 0.7, 0), _line(nfine, 600.0, 0.7, 1), _line(nfine, 0.0, 0.2, 2)]
    idx, w, mu, _ = _line(nfine, 100.0, 0.7, 3)
    jobs.append((idx, w, mu, np.linspace(0.2, 1.2, idx.size)))       # width bins + narrow pixels
    mu2 = mu.copy()
    mu2[: idx.size // 3] += 250.0                                    # a second cluster
    jobs.append((idx, w, mu2, np.full(idx.size, 0.6)))
    monkeypatch.setattr(grism_disperse, "CLUSTER_CHUNK", chunk)
    cache = SpectrumCache()
    many = disperse_line_many(jobs, nfine, n_disp, os_, psf_kernel, grism, "k", cache)
    assert len(many) == len(jobs)
    for job, got in zip(jobs, many):
        one = disperse_line(*job, nfine, n_disp, os_, psf_kernel, grism, "k", SpectrumCache())
        assert np.array_equal(_full(got, nfine // os_, n_disp), _full(one, nfine // os_, n_disp))
        ref = _full(disperse_line_exact(*job, nfine, n_disp, os_, psf_kernel, grism), nfine // os_, n_disp)
        assert np.max(np.abs(_full(got, nfine // os_, n_disp) - ref)) < 1e-4 * ref.max()



@pytest.mark.parametrize("grism", ["R", "C"])
def test_all_pixels_shortcut_equals_gather(psf_kernel, grism):
    """A line emitted by every fine pixel, passed as the cached ``all_pixels`` array (no
    gather of rows and columns) or as an equal private array (gathered): bit-identical."""
    nfine, os_, n_disp = 60, 5, 500
    _, w, mu, sig = _line(nfine, 150.0, 0.7, 4)
    assert w.size == nfine * nfine
    fast = grism_disperse.all_pixels(nfine * nfine)
    got = disperse_line(fast, w, mu, sig, nfine, n_disp, os_, psf_kernel, grism, "k", SpectrumCache())
    ref = disperse_line(np.arange(nfine * nfine), w, mu, sig, nfine, n_disp, os_, psf_kernel, grism, "k",
                        SpectrumCache())
    assert np.array_equal(_full(got, nfine // os_, n_disp), _full(ref, nfine // os_, n_disp))
    # a permuted index array of the same size must still be gathered (not taken as all pixels)
    perm = np.random.default_rng(5).permutation(nfine * nfine)
    moved = disperse_line(perm, w, mu, sig, nfine, n_disp, os_, psf_kernel, grism, "k", SpectrumCache())
    assert not np.array_equal(_full(moved, nfine // os_, n_disp), _full(ref, nfine // os_, n_disp))

def _w2(n_gal, **instrument):
    d = dict(W2_SCENARIO, population=dict(W2_SCENARIO["population"], n=n_gal),
             instrument=dict(W2_SCENARIO["instrument"], **instrument))
    return scenario_from_dict(d)


@pytest.mark.parametrize("instrument", [{}, {"grisms": ["R", "C"], "fov_arcsec": 1.5,
                                             "neighbours": [{"dx_arcsec": 0.4, "dy_arcsec": -0.3,
                                                             "continuum_flam": 1e-19, "redshift": 4.4,
                                                             "line": "Halpha", "line_flux": 1e-17}]}])
def test_render_and_observe_many_equal_one_by_one(instrument):
    """W2 scenes (and GRISMR + GRISMC beams with a continuum neighbour): beams, direct
    images, kept [OIII] beams and noisy observations bit-identical to one scene at a time."""
    scn = _w2(8, **instrument)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        made = [_scene(scn, i) for i in range(6)]
    inst = made[0][0].inst
    scenes = [m[0].scene for m in made]
    many = inst.render_components_many(scenes, keep=("OIII5007",))
    for sc, (beams, direct, kept) in zip(scenes, many):
        b1, d1, k1 = inst.render_components(sc, keep=("OIII5007",))
        assert np.array_equal(beams, b1) and beams.any()
        assert all(np.array_equal(direct[f], d1[f]) for f in d1)
        assert np.array_equal(kept["OIII5007"], k1["OIII5007"])
    obs = inst.observe_many(scenes, [m[1] for m in made], [m[2] for m in made])
    again = [_scene(scn, i) for i in range(6)]                       # fresh random streams
    for o, (sim, noise, rng) in zip(obs, again):
        o1 = inst.observe(sim.scene, noise, rng)
        assert np.array_equal(o.data, o1.data) and np.array_equal(o.error, o1.error)
        assert np.array_equal(o.extras["direct_image"], o1.extras["direct_image"])


def test_process_galaxies_independent_of_batch():
    """Recovered gradients of W2 galaxies: one batch, two batches and one by one agree exactly."""
    scn = _w2(10)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        whole = process_galaxies(scn, range(1, 7))
        halves = process_galaxies(scn, range(1, 4)) + process_galaxies(scn, range(4, 7))
        single = [process_galaxy(scn, i) for i in range(1, 7)]
    for a, b, c in zip(whole, halves, single):
        assert a.recovery.gradient == b.recovery.gradient
        assert a.recovery.gradient == pytest.approx(c.recovery.gradient, rel=1e-10, abs=1e-12)
        assert np.isfinite(a.recovery.gradient)
