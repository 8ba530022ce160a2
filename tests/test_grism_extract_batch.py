"""Grism line maps extracted for several observations at once against one at a time.

``extract_line_maps_many`` stacks work across observations only where each one gets
exactly the arithmetic of its own call, so its results must be bit-identical
(``np.array_equal``) to :func:`extract_line_maps`, whatever the batch: a seeded
scenario's results may not depend on which galaxies share a chunk.
"""
from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

from mocksim.instruments import NoiseSpec, get_instrument
from mocksim.pipeline.galaxy_run import _simulate_groups
from mocksim.pipeline.scenario import scenario_from_dict
from mocksim.recovery import grism_continuum as gcont
from mocksim.recovery.grism_continuum import continuum_coefficients, continuum_coefficients_many
from mocksim.recovery.grism_extract import extract_line_maps, extract_line_maps_many
from mocksim.recovery.grism_solve import _drizzle_many, _drizzle_operators
from mocksim.scene import EmissionScene, SceneComponent

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # ``benchmarks`` is a top-level folder, not an installed package
    sys.path.insert(0, str(ROOT))
from benchmarks.workloads import W2_SCENARIO  # noqa: E402


def _w2_observations(indices):
    d = dict(W2_SCENARIO, population=dict(W2_SCENARIO["population"], n=100))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return [sim.obs for group in _simulate_groups(scenario_from_dict(d), indices) for sim in group]


def _gaussian_source(name, z, grisms, seed, sigma_arcsec=0.085):
    """A Gaussian source (Hbeta, [OIII], continuum) with a contaminating neighbour."""
    neighbour = {"dx_arcsec": 0.6, "dy_arcsec": 0.1, "fwhm_arcsec": 0.15, "continuum_flam": 2e-18,
                 "line": "Halpha", "redshift": 0.9, "line_flux": 3e-18}
    inst = get_instrument(name, psf="none", fov_arcsec=1.8, grisms=grisms, neighbours=[neighbour])
    grid = inst.scene_grid()
    gx, gy = grid.coords_arcsec()
    prof = np.exp(-0.5 * (gx ** 2 + gy ** 2) / sigma_arcsec ** 2)
    prof /= prof.sum()
    fl = {"Hbeta": 1e-17, "OIII5007": 4e-17, "OIII4959": 4e-17 / 2.98}
    comp = SceneComponent("src", {k: f * prof for k, f in fl.items()}, np.zeros(grid.shape),
                          np.full(grid.shape, 40.0), 5e-18 * prof)
    return inst.observe(EmissionScene(z, grid, [comp]), NoiseSpec(model="snr", snr_oiii=40.0),
                        np.random.default_rng(seed))


def _assert_same_maps(a, b):
    assert a.lines == b.lines and a.solve_mode == b.solve_mode and a.blends == b.blends
    for ln in a.lines:
        assert np.array_equal(a.flux[ln], b.flux[ln], equal_nan=True), ln
        assert np.array_equal(a.flux_err[ln], b.flux_err[ln], equal_nan=True), ln
    assert np.array_equal(a.chi2_nu, b.chi2_nu, equal_nan=True)
    assert set(a.chi2_nu_group) == set(b.chi2_nu_group)
    for g in a.chi2_nu_group:
        assert np.array_equal(a.chi2_nu_group[g], b.chi2_nu_group[g], equal_nan=True)
    assert a.noise_correlation_lines == b.noise_correlation_lines
    assert a.map_offsets_px == b.map_offsets_px
    assert np.array_equal(a.footprint, b.footprint)


def test_extract_line_maps_many_equals_one_by_one(monkeypatch):
    """W2 galaxies of different footprints (several continuum row sizes, some shared), a
    two-orientation NIRISS source and another redshift, in one call and in parts."""
    obs = _w2_observations(range(1, 9))
    obs += [_gaussian_source("niriss-wfss-f150w", 2.1, ("R", "C"), seed=3),
            _gaussian_source("nircam-wfss-f356w", 6.2, ("R",), seed=4, sigma_arcsec=0.06)]
    calls = []
    fit_rows = gcont._fit_rows

    def spy(sums, rows, order, count, m, *args, **kw):
        calls.append((m, rows.stop - rows.start))        # row size, rows solved together
        return fit_rows(sums, rows, order, count, m, *args, **kw)

    monkeypatch.setattr(gcont, "_fit_rows", spy)
    one = [extract_line_maps(o) for o in obs]
    alone = {}                                  # most rows of one beam, per row size
    for m, r in calls:
        alone[m] = max(alone.get(m, 0), r)
    calls.clear()
    many = extract_line_maps_many(obs)
    # the batch is not trivial: beams of one row size stacked, several row sizes
    assert any(r > alone[m] for m, r in calls) and len({m for m, _ in calls}) >= 3
    for a, b in zip(one, many):
        _assert_same_maps(a, b)
    for a, b in zip(one, extract_line_maps_many(obs[::-1])[::-1]):
        _assert_same_maps(a, b)
    for a, b in zip(one[:3], extract_line_maps_many(obs[:3])):
        _assert_same_maps(a, b)


def test_continuum_many_with_a_singular_row_equals_one_by_one():
    """A beam whose row has no usable data (a singular system: the whole beam falls back
    to least squares) does not change the fits of the beams stacked with it."""
    obs = _w2_observations([3])[0]
    lm = extract_line_maps(obs)
    y, e = obs.data[0], obs.error[0]
    tgt = lm.footprint
    cm = tgt.copy()
    rows = tgt.any(axis=1)
    prior = np.asarray(obs.extras["direct_image"], float)
    e_bad = e.copy()
    e_bad[rows.nonzero()[0][2]] = np.inf                     # no data weight in one fitted row
    args = (10.0, 850.0, (300.0, 340.0), 5.0)
    beams = [(y, e, cm, tgt, prior, rows), (y, e_bad, cm, tgt, prior, rows), (2.0 * y, e, cm, tgt, prior, None)]
    many = continuum_coefficients_many(beams, *args)
    for (yy, ee, c, t, p, fr), (coef, wct) in zip(beams, many):
        one, wct1 = continuum_coefficients(yy, ee, args[0], args[1], c, t, p, args[2], args[3], fit_rows=fr)
        assert np.array_equal(coef, one) and wct is wct1
    assert np.isfinite(many[1][0]).all() and not np.array_equal(many[0][0], many[1][0])


def test_continuum_many_with_single_row_beams_equals_one_by_one():
    """Beams with one fitted row (their edge products take another BLAS path than
    stacked rows, :func:`~mocksim.recovery.grism_continuum._row_sums`) stacked with beams
    of several rows and row sizes: each beam as in its own call."""
    obs = _w2_observations([3, 5])
    rng = np.random.default_rng(7)
    beams = []
    for o in obs:
        lm = extract_line_maps(o)
        tgt = lm.footprint
        prior = np.asarray(o.extras["direct_image"], float)
        rid = tgt.any(axis=1).nonzero()[0]
        err = o.error[0] * rng.uniform(0.7, 1.3, o.error[0].shape)     # weights of many digits
        for pick in (rid, rid[:1], rid[-1:], rid[::2]):
            rows = np.zeros(tgt.shape[0], bool)
            rows[pick] = True
            beams.append((o.data[0], err, tgt, tgt, prior, rows))
    args = (10.0, 850.0, (300.0, 340.0), 5.0)
    many = continuum_coefficients_many(beams, *args)
    for (yy, ee, c, t, p, fr), (coef, wct) in zip(beams, many):
        one, wct1 = continuum_coefficients(yy, ee, args[0], args[1], c, t, p, args[2], args[3], fit_rows=fr)
        assert np.array_equal(coef, one) and wct is wct1
        assert coef[fr].any() and not coef[~fr].any()


def test_row_sums_of_stacked_rows_equal_each_beam_alone():
    """:func:`~mocksim.recovery.grism_continuum._row_sums` of the rows of several beams
    (some with a single row) equals, bit for bit, each beam's rows summed alone, also
    with edge profiles of many digits (where a one-row matrix product differs)."""
    rng = np.random.default_rng(3)
    t = dict(gcont._profile_tables(32, 956, 10.0, 850.0))
    t["fhe"] = rng.normal(size=t["fhe"].shape)
    sizes = [3, 1, 5, 1, 2, 7]
    both = rng.uniform(0.0, 2.0, (2, sum(sizes), 956))
    starts = np.cumsum(sizes) - sizes
    whole = gcont._row_sums(both, t, [s for s, k in zip(starts, sizes) if k == 1])
    fh = whole["fh"].reshape(32, sum(sizes), 64)
    cum = whole["cum"].reshape(2, sum(sizes), -1)
    for s, k in zip(starts, sizes):
        alone = gcont._row_sums(both[:, s:s + k], t)
        assert np.array_equal(alone["fh"].reshape(32, k, 64), fh[:, s:s + k])
        assert np.array_equal(alone["cum"].reshape(2, k, -1), cum[:, s:s + k])
        assert np.array_equal(alone["erhs"], whole["erhs"][s:s + k])


def test_drizzle_many_equals_each_map_alone():
    """Stacked drizzles (:func:`~mocksim.recovery.grism_solve._drizzle_many`) against the
    resample-then-drizzle of each map alone, written out: ``wy @ (D x map) @ wxt``, the
    variances with the squared operators, NaN outside the drizzled footprint."""
    rng = np.random.default_rng(11)
    n, geo, offsets, pars = 12, (12, 0.063, 13, 0.06), ((0.3, -0.2), (-0.45, 0.1)), ("a", "b")
    tgts = [rng.random((n, n)) < f for f in (0.3, 0.6, 0.5)]
    values = [{p: rng.normal(size=t.sum()) for p in pars} for t in tgts]
    variances = [{p: rng.uniform(0.5, 2.0, t.sum()) for p in pars} for t in tgts]
    disps = [0.001, 0.002, 0.0015]
    holes = rng.random((3, 13, 13)) < 0.3
    out, eout, naive = _drizzle_many(tgts, values, variances, pars, disps, geo, offsets, holes)
    wy, wxt, wy2, wxt2 = _drizzle_operators(*geo, offsets)
    for i, (t, v, var, d) in enumerate(zip(tgts, values, variances, disps)):
        for k, p in enumerate(pars):
            img, vimg = np.zeros((n, n)), np.zeros((n, n))
            img[t], vimg[t] = v[p], var[p]
            ref = wy[k] @ (img * d) @ wxt[k]
            vref = wy2[k] @ (vimg * d ** 2) @ wxt2[k]
            assert np.array_equal(out[i, k], np.where(holes[i], np.nan, ref), equal_nan=True)
            assert np.array_equal(eout[i, k], np.where(holes[i], np.nan, np.sqrt(vref)), equal_nan=True)
            assert naive[i, k] == vref.sum() / d ** 2


def test_many_rejects_unknown_options():
    with pytest.raises(TypeError):
        extract_line_maps_many([], footprint_sigma=3.0)


def test_duplicate_design_entries_are_summed(monkeypatch):
    """Design entries repeated for one data pixel and unknown (their values split in two)
    give the maps of the entries summed: the row solves see each unknown once per data
    pixel (:func:`~mocksim.recovery.grism_rows._solve_rows_many`), the dense solve too."""
    from mocksim.recovery import grism_solve as gsol

    obs = _w2_observations([2, 4]) + [_gaussian_source("niriss-wfss-f150w", 2.1, ("R", "C"), seed=3)]
    ref = extract_line_maps_many(obs)
    design = gsol._design_many

    def split(*args):
        rows, cols, vals = design(*args)
        half = np.arange(0, rows.size, 3)                    # every third entry in two parts
        return (np.concatenate([rows, rows[half]]), np.concatenate([cols, cols[half]]),
                np.concatenate([np.where(np.isin(np.arange(rows.size), half), 0.25 * vals, vals), 0.75 * vals[half]]))

    monkeypatch.setattr(gsol, "_design_many", split)
    for a, b in zip(ref, extract_line_maps_many(obs)):
        for ln in a.lines:
            np.testing.assert_allclose(b.flux[ln], a.flux[ln], rtol=1e-9, atol=1e-12 * np.nanmax(a.flux[ln]))
            np.testing.assert_allclose(b.flux_err[ln], a.flux_err[ln], rtol=1e-9)


@pytest.mark.parametrize("band", [(3.0, 9.5), (-2.3, 40.2), (10.0, 850.0)])
def test_normal_equations_match_dense_profiles(band):
    """:func:`~mocksim.recovery.grism_continuum._normal_equations` (plateau overlaps from
    cumulative sums, possibly empty for bands narrower than the row, and edge terms)
    against ``sum_X w f(X - a_i) f(X - a_j)`` with the dense profiles."""
    rng = np.random.default_rng(8)
    n, n_disp = 16, 900 if band[1] > 100 else 60
    t = gcont._profile_tables(n, n_disp, *band)
    both = rng.uniform(0.0, 2.0, (2, 5, n_disp))
    both[:, :, ::7] = 0.0
    sums = gcont._row_sums(both, t)
    a = np.sort(np.stack([rng.choice(n, 6, replace=False) for _ in range(5)]), axis=1)
    nmat, rhs = gcont._normal_equations(a, sums, slice(0, 5), t)
    for r in range(5):
        f = t["wc"][a[r]]
        np.testing.assert_allclose(nmat[r], (f * both[0, r]) @ f.T, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(rhs[r], f @ both[1, r], rtol=1e-12, atol=1e-12)
