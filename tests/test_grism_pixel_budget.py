"""Faint pixels left out of the grism dispersion (:func:`~mocksim.instruments.grism_render.kept_pixels`).

A line's pixels below ``DROP_BELOW`` (1e-8) of its flux are skipped when together they
hold at most ``DROP_BUDGET`` (3e-5) of it; otherwise only those below 1e-10 are. Checked
on the rule itself and on rendered beams against dispersing every pixel.
"""
from __future__ import annotations

import numpy as np
import pytest

from mocksim.galaxy import linear_disk
from mocksim.instruments import get_instrument
from mocksim.instruments import grism_render
from mocksim.instruments.grism_render import DROP_BUDGET, kept_pixels
from mocksim.lines import LINES


def _exponential(n=96, h=2.6, q=1.0):
    y, x = np.mgrid[:n, :n] - (n - 1) / 2.0
    return np.exp(-np.hypot(x, y / q) / h)


@pytest.mark.parametrize("q", [1.0, 0.4])
def test_exponential_disk_drops_its_far_outskirts_within_the_budget(q):
    aw = _exponential(q=q)
    keep = kept_pixels(aw)
    dropped = aw[~keep].sum() / aw.sum()
    assert 0.0 < dropped <= DROP_BUDGET
    assert keep.mean() < 0.7                      # most of the field is far outskirts
    # every kept pixel is brighter than every dropped one
    assert aw[keep].min() > aw[~keep].max()


def test_faint_extended_light_falls_back_to_the_strict_threshold():
    aw = _exponential(n=160)
    aw += 0.5e-8 * aw.sum()                       # a faint floor: each pixel < 1e-8, ~1.3e-4 of the flux
    floor = aw < 1e-8 * aw.sum()
    assert aw[floor].sum() > DROP_BUDGET * aw.sum()
    keep = kept_pixels(aw)
    assert keep.all()                             # every pixel is above 1e-10 of the flux
    aw[:, :10] = 0.5e-10 * aw.sum()               # now a few are not
    keep = kept_pixels(aw)
    assert not keep[:, :10].any() and keep[:, 10:].all()


def test_zero_line_keeps_nothing():
    assert not kept_pixels(np.zeros(50)).any()


def test_beams_equal_dispersing_every_pixel_to_the_budget(monkeypatch):
    inst = get_instrument("nircam-wfss-f356w", psf="jwst", fov_arcsec=2.0, oversample=3)
    gal = linear_disk(6.0, 0.4, 7.8, -0.2, inclination_deg=60.0, pa_deg=30.0, v_rot_kms=80.0,
                      sigma_kms=60.0, hbeta_flux_cgs=2e-18)
    lines = [ln for ln in LINES if inst.wave_range_um[0] <= LINES[ln].observed_um(6.0) <= inst.wave_range_um[1]]
    scene = gal.render(inst.scene_grid(), "sanders24", lines=lines)
    jobs = []
    grism_render._prepare(inst, scene, jobs, 0)
    assert all(j[4][0].size < 0.7 * scene.grid.shape[0] ** 2 for j in jobs)   # pixels were dropped
    beams = inst.render_noiseless(scene)
    monkeypatch.setattr(grism_render, "DROP_BELOW", 0.0)      # every pixel of nonzero flux
    full = inst.render_noiseless(scene)
    assert beams.sum() == pytest.approx(full.sum(), rel=DROP_BUDGET)
    assert beams.sum() < full.sum()
    assert np.abs(beams - full).max() < 1e-6 * full.max()
