"""The IFU render / noise shortcuts give the same numbers as the direct computations.

Batched line preparation (:func:`mocksim.instruments.ifu_render.prepare_lines`), channel
windows from the extreme pixels only, the compact [OIII]5007 cube of the S/N definition
and chunked noise draws are pure speed-ups: the results are compared for equality.
"""
from __future__ import annotations

import numpy as np
import pytest

from mocksim.instruments import NoiseSpec, get_instrument, line_snr_aperture
from mocksim.instruments import ifu_render as R
from mocksim.instruments.noise import apply_noise
from mocksim.lines import LINES
from mocksim.scene import EmissionScene, SceneComponent

RATIOS = {"Hgamma": 0.47, "Hbeta": 1.0, "OIII4959": 1.7, "OIII5007": 5.0, "Halpha": 2.86,
          "SII6716": 0.2}


def disk_scene(inst, z=6.0, sigma_kms=60.0, v_rot=150.0):
    grid = inst.scene_grid(1.5)
    x, y = grid.coords_arcsec()
    disk = np.exp(-np.hypot(x, y / 0.7) / 0.15)
    disk /= disk.sum()
    comp = SceneComponent("disk", {k: 2e-18 * r * disk for k, r in RATIOS.items()},
                          velocity_kms=v_rot * np.tanh(x / 0.1), sigma_kms=np.full(grid.shape, sigma_kms))
    return EmissionScene(z, grid, [comp])


@pytest.fixture(scope="module")
def g395m():
    return get_instrument("nirspec-ifu-g395m", psf="gaussian:0.15")


def test_batched_lines_equal_line_by_line(g395m):
    sc = disk_scene(g395m)
    parts = dict.fromkeys(RATIOS)
    total = g395m.render_native(sc, parts=parts)        # all lines prepared together
    acc = np.zeros_like(total)
    for name in sc.line_names():
        alone = g395m.render_native(sc, lines=[name])   # a single line: not batched
        assert np.array_equal(alone, parts[name]), name
        acc += parts[name]
    assert np.array_equal(acc, total)


@pytest.mark.parametrize("grating, sigma_kms", [("g395m", 60.0), ("prism", 0.0), ("g140m", 300.0),
                                                ("g395h", 20.0)])
def test_window_from_extreme_pixels_equals_all_pixels(grating, sigma_kms):
    inst = get_instrument(f"nirspec-ifu-{grating}", psf="none")
    z = 2.0 if grating == "g140m" else 6.0
    sc = disk_scene(inst, z=z, sigma_kms=sigma_kms, v_rot=250.0)
    fields = R.component_fields(sc)
    assert inst.nsigma_window * (sigma_kms / 2.998e5 + R.lsf_slope_max(inst)) < 0.5
    for name in RATIOS:
        lam0 = LINES[name].wave_um * (1.0 + z)
        parts, _ = R.line_parts(sc, name, fields)
        p = parts[0]
        assert p.shared is not None
        full = R.LinePart(None, p.flux, p.g, p.s, p.s0, None)   # not shared: every pixel evaluated
        assert R.line_window(inst, parts, lam0) == R.line_window(inst, [full], lam0), name
    R.prefetch_windows(inst, fields, [LINES[n].wave_um * (1.0 + z) for n in RATIOS])
    for name in RATIOS:
        lam0 = LINES[name].wave_um * (1.0 + z)
        parts, _ = R.line_parts(sc, name, fields)
        full = R.LinePart(None, parts[0].flux, parts[0].g, parts[0].s, parts[0].s0, None)
        assert R.line_window(inst, parts, lam0) == R.line_window(inst, [full], lam0), name


def test_lsf_slope_bound(g395m):
    w = np.linspace(2.5, 5.6, 5001)
    s = g395m.lsf_sigma_um(w)
    assert np.max(np.abs(np.diff(s) / np.diff(w))) <= R.lsf_slope_max(g395m) * (1 + 1e-9)


def test_snr_aperture_from_channel_window_matches_full_cube(g395m):
    sc = disk_scene(g395m)
    parts = {"OIII5007": None}
    g395m.render_native(sc, parts=parts)
    full = parts["OIII5007"]
    nz = np.flatnonzero(np.abs(full).sum(axis=(1, 2)))
    k0, k1 = int(nz[0]), int(nz[-1]) + 1
    for radius in (None, 0.25):
        a = line_snr_aperture(full, g395m.dwave_um, 0.1, radius_arcsec=radius)
        b = line_snr_aperture(full[k0:k1], g395m.dwave_um, 0.1, radius_arcsec=radius,
                              channel_offset=k0, nwave=full.shape[0])
        # the line map is summed over fewer channels: round-off level differences only
        assert np.array_equal(a.mask, b.mask)
        assert b.radius_arcsec == pytest.approx(a.radius_arcsec, rel=1e-13)
        assert b.peak_mean_re == pytest.approx(a.peak_mean_re, rel=1e-13)
        np.testing.assert_allclose(b.centre_pix, a.centre_pix, rtol=1e-13)
        np.testing.assert_allclose(b.profile_per_um, a.profile_per_um, rtol=1e-13, atol=0)
        assert b.flux_ap == pytest.approx(a.flux_ap, rel=1e-13)
        assert b.flux_total == pytest.approx(a.flux_total, rel=1e-13)


def test_observe_equals_full_oiii_cube_path(g395m):
    sc = disk_scene(g395m)
    spec = NoiseSpec("snr", snr_oiii=20.0)
    obs = g395m.observe(sc, spec, np.random.default_rng(7))
    parts = {"OIII5007": None}
    native = g395m.render_native(sc, parts=parts)
    data, error, info = g395m.add_noise(native, sc, spec, np.random.default_rng(7),
                                        oiii_cube=parts["OIII5007"])
    assert np.array_equal(obs.data, data) and np.array_equal(obs.error, error)
    assert obs.meta["snr_oiii_expected"] == pytest.approx(info["snr_oiii_expected"], rel=1e-12)


class _UniformAperture:
    """Stand-in S/N definition: a fixed uniform sigma."""

    radius_arcsec = 0.3

    def sigma_for_snr(self, snr, definition):
        return 0.37

    def snr_for_sigma(self, sigma):
        return 1.0


# an empty cube only with the uniform model (the exposure model needs channels)
@pytest.mark.parametrize("shape, uniform", [((70, 30, 20), True), ((3, 4, 5), True), ((0, 4, 5), True),
                                            ((70, 30, 20), False), ((3, 4, 5), False)])
def test_chunked_noise_equals_one_draw(shape, uniform):
    """Noise formed chunk by chunk: the same deviates, values and final generator state
    as ``cube + error * rng.standard_normal(cube.shape)``."""
    cube = np.random.default_rng(11).random(shape)
    inputs = {"wave_um": np.linspace(3.0, 5.0, shape[0]), "dwave_um": 0.0018, "pixscale_arcsec": 0.1,
              "sens_e_s_ujy_um": np.full(shape[0], 50.0), "dlds_um": np.full(shape[0], 0.0018)}
    if uniform:
        spec, ap = NoiseSpec("snr", snr_oiii=5.0), _UniformAperture()
    else:
        spec, ap = NoiseSpec("exposure", exposure_s=3000.0), None
    a, b = np.random.default_rng(3), np.random.default_rng(3)
    data, error, _ = apply_noise(cube, spec, a, snr_aperture=ap, exposure_inputs=inputs)
    assert np.array_equal(data, cube + error * b.standard_normal(shape))
    assert a.bit_generator.state == b.bit_generator.state


def test_exposure_model_rejects_an_empty_cube():
    from mocksim.errors import MocksimInputError

    inputs = {"wave_um": np.zeros(0), "dwave_um": 0.0018, "pixscale_arcsec": 0.1,
              "sens_e_s_ujy_um": np.zeros(0), "dlds_um": np.zeros(0)}
    with pytest.raises(MocksimInputError, match="no channels"):
        apply_noise(np.zeros((0, 4, 5)), NoiseSpec("exposure", exposure_s=3000.0), np.random.default_rng(0),
                    exposure_inputs=inputs)
