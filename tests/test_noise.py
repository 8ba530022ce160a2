"""Noise models: validation, target integrated [OIII]5007 S/N, exposure-time model."""
from __future__ import annotations

import numpy as np
import pytest

from mocksim.errors import MocksimInputError
from mocksim.instruments import NoiseSpec, get_instrument
from mocksim.instruments.noise import load_sensitivity_table
from mocksim.scene import EmissionScene, SceneComponent


def blob_scene(inst, *, z=6.0, fov=1.2, sigma_arcsec=0.15, flux=2e-17, lines=None):
    grid = inst.scene_grid(fov)
    x, y = grid.coords_arcsec()
    prof = np.exp(-0.5 * (x ** 2 + y ** 2) / sigma_arcsec ** 2)
    prof /= prof.sum()
    ratios = lines or {"OIII5007": 1.0, "OIII4959": 1 / 2.98, "Hbeta": 0.25}
    comp = SceneComponent("blob", {k: flux * r * prof for k, r in ratios.items()},
                          velocity_kms=60.0 * x, sigma_kms=np.full(grid.shape, 50.0))
    return EmissionScene(z, grid, [comp])


@pytest.fixture(scope="module")
def g395m():
    return get_instrument("nirspec-ifu-g395m", psf="none")


# --------------------------------------------------------------- validation
@pytest.mark.parametrize("kwargs, key", [
    ({"model": "loud"}, "noise.model"),
    ({"model": "snr"}, "noise.snr_oiii"),
    ({"model": "snr", "snr_oiii": 0.0}, "noise.snr_oiii"),
    ({"model": "snr", "snr_oiii": -3}, "noise.snr_oiii"),
    ({"model": "exposure"}, "noise.exposure_s"),
    ({"model": "exposure", "exposure_s": -10}, "noise.exposure_s"),
    ({"model": "exposure", "exposure_s": 100, "n_exposures": 0}, "noise.n_exposures"),
    ({"model": "none", "read_noise_e": -1}, "noise.read_noise_e"),
    ({"model": "exposure", "exposure_s": 100, "n_exposures": "4"}, "noise.n_exposures"),
    ({"model": "exposure", "exposure_s": 100, "n_exposures": [4]}, "noise.n_exposures"),
    ({"model": "snr", "snr_oiii": 30, "snr_enclosed_fraction": "x"}, "noise.snr_enclosed_fraction"),
])
def test_noisespec_validation(kwargs, key):
    with pytest.raises(MocksimInputError, match=key.replace(".", r"\.")):
        NoiseSpec(**kwargs)


def test_noisespec_from_dict():
    spec = NoiseSpec.from_dict({"model": "SNR", "snr_oiii": 12})
    assert spec.model == "snr" and spec.snr_oiii == 12.0
    assert NoiseSpec.from_dict(spec.to_dict()) == spec
    with pytest.raises(MocksimInputError, match=r"noise\.snr"):
        NoiseSpec.from_dict({"model": "snr", "snr": 10})


def test_snr_mode_needs_oiii_in_scene_and_coverage(g395m):
    no_oiii = blob_scene(g395m, lines={"Hbeta": 1.0})
    with pytest.raises(MocksimInputError, match=r"noise\.snr_oiii"):
        g395m.observe(no_oiii, NoiseSpec("snr", snr_oiii=10), np.random.default_rng(0))
    low_z = blob_scene(g395m, z=3.0)  # [OIII]5007 at 2.00 um, outside 2.87-5.27
    with pytest.raises(ValueError, match=r"noise\.snr_oiii.*OIII5007.*2\.87–5\.27"):
        g395m.observe(low_z, NoiseSpec("snr", snr_oiii=10), np.random.default_rng(0))


# -------------------------------------------------------------- none model
def test_none_model_is_noiseless_with_positive_errors(g395m):
    sc = blob_scene(g395m)
    clean = g395m.render_noiseless(sc)
    obs = g395m.observe(sc)  # no rng needed
    assert np.array_equal(obs.data, clean)
    assert np.all(obs.error > 0) and np.all(np.isfinite(obs.error))
    assert obs.error.max() / clean.max() == pytest.approx(1e-3, rel=1e-12)  # ratio: flux units are ~1e-17
    # with an exposure time the error cube is the exposure model's, still noise-free data
    obs_t = g395m.observe(sc, NoiseSpec("none", exposure_s=1e4))
    ref = g395m.observe(sc, NoiseSpec("exposure", exposure_s=1e4), np.random.default_rng(1))
    assert np.array_equal(obs_t.data, clean)
    assert np.allclose(obs_t.error, ref.error, rtol=1e-12)


def test_rng_is_the_only_randomness(g395m):
    sc = blob_scene(g395m, fov=0.6)
    spec = NoiseSpec("snr", snr_oiii=10)
    a = g395m.observe(sc, spec, np.random.default_rng(5)).data
    b = g395m.observe(sc, spec, np.random.default_rng(5)).data
    c = g395m.observe(sc, spec, np.random.default_rng(6)).data
    assert np.array_equal(a, b) and not np.allclose(a, c, rtol=1e-3, atol=0)
    with pytest.raises(TypeError, match="rng"):
        g395m.observe(sc, spec, None)


# --------------------------------------------------------------- S/N mode
def test_snr_mode_integrated_oiii_snr_matches_target(g395m):
    sc = blob_scene(g395m)
    spec = NoiseSpec("snr", snr_oiii=15.0)
    parts = {"OIII5007": None}
    native = g395m.render_native(sc, parts=parts)
    ap = g395m.snr_aperture(sc, spec, parts["OIII5007"])
    assert ap.flux_ap / ap.flux_total >= 0.9
    assert ap.flux_ap / sc.total_line_flux("OIII5007") == pytest.approx(ap.flux_ap / ap.flux_total,
                                                                         rel=1e-6)
    rng = np.random.default_rng(2024)
    n = 1000
    est = np.empty(n)
    resid = []
    for i in range(n):
        data, err, info = g395m.add_noise(native, sc, spec, rng, snr_aperture=ap)
        est[i] = ap.estimate_flux(data)
        if i < 60:
            resid.append((data - native)[500:900])
    assert info["snr_oiii_expected"] == pytest.approx(15.0, rel=1e-9)
    assert est.mean() == pytest.approx(ap.flux_ap, abs=3 * est.std() / np.sqrt(n))
    assert ap.flux_ap / est.std() == pytest.approx(15.0, rel=0.05)
    # the error cube is the scatter of (noisy - noiseless)
    assert np.std(resid) == pytest.approx(err.mean(), rel=0.05, abs=0)
    # and the S/N is the same when measured on full observations
    obs = g395m.observe(sc, spec, np.random.default_rng(1))
    assert obs.meta["snr_oiii_expected"] == pytest.approx(15.0, rel=1e-9)
    assert np.allclose(obs.error, err)


def test_fixed_aperture_radius(g395m):
    sc = blob_scene(g395m, fov=1.1)  # odd number of spaxels: centroid on a spaxel centre
    ap = g395m.snr_aperture(sc, NoiseSpec("snr", snr_oiii=5, snr_aperture_arcsec=0.25))
    assert ap.radius_arcsec == 0.25
    assert ap.n_spaxels == 21  # spaxel centres within 2.5 spaxels of the (central) centroid


# ---------------------------------------------------------- exposure mode
def test_sensitivity_table_units():
    """1 uJy at 4 um gives 25.4 m^2 x f_nu / (h lambda) photons/s/um; throughput 0.3-0.8."""
    w, s = load_sensitivity_table()["g395m"]
    h = 6.62607015e-27
    ideal = 25.4e4 * 1e-29 / (h * 4.0)  # photons s^-1 um^-1 (per micron of lambda)
    eff = np.interp(4.0, w, s) / ideal
    assert 0.3 < eff < 0.8


def test_exposure_background_only_error_by_hand(g395m):
    """Independent unit bookkeeping for an empty voxel: zodiacal + read noise only."""
    from mocksim.instruments.lsf import dispersion_um_per_pix

    sc = blob_scene(g395m, fov=0.6, flux=1e-40)
    t, rn, nexp, bg = 1e4, 6.0, 4, 0.2
    err = g395m.observe(sc, NoiseSpec("none", exposure_s=t, read_noise_e=rn, n_exposures=nexp,
                                      background_mjysr=bg)).error
    k = int(np.argmin(np.abs(g395m.wave_um - 4.0)))
    lam = g395m.wave_um[k]
    w, s = load_sensitivity_table()["g395m"]
    sens = np.interp(lam, w, s)  # e-/s per uJy per um (gain 1)
    dlds = float(dispersion_um_per_pix("g395m", lam))
    npix = max(0.0018 / dlds, 1.0)
    bg_ujy = bg * 1e6 * 1e6 * (0.1 / 206264.806) ** 2  # MJy/sr -> uJy per 0.1" spaxel
    electrons = bg_ujy * sens * npix * dlds * t
    n_spat = (0.1 / 0.10435) ** 2  # detector pixels per 0.1" spaxel
    sig_ujy = np.sqrt(electrons + npix * n_spat * nexp * rn ** 2) / (sens * npix * dlds * t)
    sig_flam = sig_ujy * 1e-29 * 2.99792458e14 / lam ** 2  # erg s-1 cm-2 um-1
    assert err[k, 0, 0] / sig_flam == pytest.approx(1.0, rel=1e-3)  # ratio: approx's abs=1e-12 default


def test_exposure_error_cube_matches_scatter(g395m):
    sc = blob_scene(g395m, fov=1.0, flux=3e-16)
    spec = NoiseSpec("exposure", exposure_s=3600.0)
    native = g395m.render_native(sc)
    rng = np.random.default_rng(7)
    draws = np.stack([g395m.add_noise(native, sc, spec, rng)[0][300:800] for _ in range(150)])
    err = g395m.add_noise(native, sc, spec, rng)[1][300:800]
    ratio = (draws - native[300:800]).std(axis=0) / err
    assert ratio.mean() == pytest.approx(1.0, abs=0.05)
    assert err.max() / err.min() > 1.5  # source Poisson noise makes it non-uniform


def test_exposure_integrated_noise_independent_of_channel_width():
    """PRISM channels (0.005 um) are narrower than a detector pixel (DLDS = 0.010 um at
    4 um): the noise of a flux integrated over a fixed 0.2 um window must be the detector's
    (background + read noise of the 0.2 / DLDS pixels it spans, by hand), whatever the
    channel width. With one full pixel of noise per channel it was 1.43x too small."""
    from mocksim.instruments.noise import C_UM_S, exposure_sigma

    inp = get_instrument("nirspec-ifu-prism", psf="none").exposure_inputs()
    w, sens, dlds = inp["wave_um"], inp["sens_e_s_ujy_um"], inp["dlds_um"]
    spec = NoiseSpec("exposure", exposure_s=1e4, n_exposures=4, read_noise_e=6.0, background_mjysr=0.2)

    def window_noise(step):  # 1-sigma of sum_k D_k step over 3.9-4.1 um, empty spaxel
        wk = np.arange(3.9 + step / 2, 4.1, step)
        s = exposure_sigma(np.zeros((wk.size, 1, 1)), wk, step, 0.1, np.full(wk.size, np.interp(4.0, w, sens)),
                           np.full(wk.size, np.interp(4.0, w, dlds)), spec)[:, 0, 0]
        return np.sqrt(np.sum((s * step) ** 2))

    s_um, d_um = np.interp(4.0, w, sens), np.interp(4.0, w, dlds)
    assert 0.009 < d_um < 0.011                      # two PRISM channels per detector pixel
    bg_ujy = 0.2e12 * (0.1 / 206264.806) ** 2        # MJy/sr -> uJy per 0.1" spaxel
    var_e = bg_ujy * s_um * 0.2 * 1e4 + 0.2 / d_um * (0.1 / 0.10435) ** 2 * 4 * 6.0 ** 2
    by_hand = np.sqrt(var_e) / (s_um * 1e4) * C_UM_S / (1e29 * 4.0 ** 2)
    # ratios: pytest.approx's default abs=1e-12 would accept any two ~1e-20 numbers
    ref = window_noise(0.02)                         # channels wider than a pixel: unchanged
    assert ref / by_hand == pytest.approx(1.0, rel=3e-3)   # f_lambda conversion at 4.0 vs each channel
    for step in (0.0025, 0.005, 0.01):
        assert window_noise(step) / ref == pytest.approx(1.0, rel=1e-4)


def test_exposure_area_noise_independent_of_spaxel_size():
    """Spaxels smaller than a detector pixel (native 0.05" or 0.025"): the noise of a flux
    summed over a fixed 0.2" x 0.2" area must not depend on the spaxel size. With a whole
    pixel's read noise per spaxel it was 1.8x (0.05") and 3.5x (0.025") that of 0.1"."""
    from mocksim.instruments.noise import NIRSPEC_DETECTOR_PIXSCALE, exposure_sigma

    inp = get_instrument("nirspec-ifu-g395m", psf="none").exposure_inputs()
    k = int(np.argmin(np.abs(inp["wave_um"] - 4.0)))
    spec = NoiseSpec("exposure", exposure_s=1e4, read_noise_e=6.0, background_mjysr=0.2)

    def area_noise(p):
        s = exposure_sigma(np.zeros((1, 1, 1)), inp["wave_um"][k:k + 1], 0.0018, p,
                           inp["sens_e_s_ujy_um"][k:k + 1], inp["dlds_um"][k:k + 1], spec)[0, 0, 0]
        return s * 0.2 / p                           # sqrt(number of spaxels) x sigma

    ref = area_noise(NIRSPEC_DETECTOR_PIXSCALE)
    for p in (0.1, 0.05, 0.025):
        assert area_noise(p) / ref == pytest.approx(1.0, rel=1e-9)


def _snr_exp(inst, sc, **kw):
    return inst.observe(sc, NoiseSpec("none", **kw)).meta["snr_oiii_expected"]


def test_exposure_snr_scaling(g395m):
    sc = blob_scene(g395m, flux=5e-18)
    # background(+source)-limited: S/N ~ sqrt(t)
    r0 = _snr_exp(g395m, sc, exposure_s=4e4, read_noise_e=0.0) / _snr_exp(
        g395m, sc, exposure_s=1e4, read_noise_e=0.0)
    assert r0 == pytest.approx(2.0, rel=1e-6)
    r1 = _snr_exp(g395m, sc, exposure_s=4e6) / _snr_exp(g395m, sc, exposure_s=1e6)
    assert r1 == pytest.approx(2.0, rel=0.03)
    # read-noise-limited (short exposures): S/N ~ t
    r2 = _snr_exp(g395m, sc, exposure_s=40.0, read_noise_e=15.0) / _snr_exp(
        g395m, sc, exposure_s=10.0, read_noise_e=15.0)
    assert 3.5 < r2 <= 4.0
    # brighter background -> lower S/N
    assert _snr_exp(g395m, sc, exposure_s=1e4, background_mjysr=2.0) < _snr_exp(
        g395m, sc, exposure_s=1e4)


def test_exposure_snr_empirical(g395m):
    sc = blob_scene(g395m, flux=2e-17)
    spec = NoiseSpec("exposure", exposure_s=2e4)
    parts = {"OIII5007": None}
    native = g395m.render_native(sc, parts=parts)
    ap = g395m.snr_aperture(sc, spec, parts["OIII5007"])
    rng = np.random.default_rng(99)
    est = []
    for _ in range(600):
        data, _, info = g395m.add_noise(native, sc, spec, rng, snr_aperture=ap)
        est.append(ap.estimate_flux(data))
    assert ap.flux_ap / np.std(est) == pytest.approx(info["snr_oiii_expected"], rel=0.07)
    assert 1.0 < info["snr_oiii_expected"] < 1e3


def test_noise_applied_in_place_equals_expression():
    """apply_noise forms data = cube + error * deviate in the deviates' buffer: the same
    values as the expression, for uniform (snr) and per-voxel (exposure) errors."""
    from mocksim.instruments.noise import apply_noise, exposure_sigma

    rng = np.random.default_rng(3)
    cube = rng.uniform(0.0, 1e-19, (40, 3, 4))

    class _Ap:
        def sigma_for_snr(self, snr, definition):
            return 2e-20

        def snr_for_sigma(self, sigma):
            return 10.0

        radius_arcsec = 0.3

    d, e, info = apply_noise(cube, NoiseSpec(model="snr", snr_oiii=10.0), np.random.default_rng(7),
                             snr_aperture=_Ap())
    assert np.all(e == 2e-20) and info["sigma_uniform"] == 2e-20
    assert np.array_equal(d, cube + e * np.random.default_rng(7).standard_normal(cube.shape))
    inputs = dict(wave_um=np.linspace(3.0, 3.1, 40), dwave_um=0.0025, pixscale_arcsec=0.1,
                  sens_e_s_ujy_um=np.full(40, 2e4), dlds_um=np.full(40, 0.0018))
    spec = NoiseSpec(model="exposure", exposure_s=3000.0)
    d, e, _ = apply_noise(cube, spec, np.random.default_rng(8), exposure_inputs=inputs)
    assert np.array_equal(e, exposure_sigma(cube, spec=spec, **inputs))
    assert np.array_equal(d, cube + e * np.random.default_rng(8).standard_normal(cube.shape))


def test_noise_generator_deviates_are_standard_normal_and_streams_independent():
    """The pipeline's noise stream (SFC64 from the galaxy's SeedSequence): 1e6 deviates
    with mean 0 and variance 1 to within 5 standard errors, a normal 4-sigma tail
    fraction, and two galaxies' streams uncorrelated."""
    from scipy.special import erfc

    from mocksim.instruments.noise import noise_generator
    from mocksim.pipeline.galaxy_run import _streams
    from mocksim.pipeline.scenario import scenario_from_dict

    n = 1_000_000
    scn = scenario_from_dict({"name": "t", "seed": 11, "population": {"n": 2, "redshift": 6.0},
                              "instrument": {"name": "nirspec-ifu-g395m", "psf": "none"},
                              "recovery": {"calibration": "curti20"}})
    a, b = (_streams(scn, i)[0] for i in (0, 1))
    assert isinstance(a.bit_generator, np.random.SFC64)
    x, y = a.standard_normal(n), b.standard_normal(n)
    assert abs(x.mean()) < 5 / np.sqrt(n) and abs(x.var() - 1) < 5 * np.sqrt(2 / n)
    tail = np.mean(np.abs(x) > 4)
    expect = erfc(4 / np.sqrt(2))                   # 6.3e-5
    assert abs(tail - expect) < 5 * np.sqrt(expect / n)
    assert abs(np.corrcoef(x, y)[0, 1]) < 5 / np.sqrt(n)
    # same seed, same stream; the fit stream differs from the noise stream
    assert np.array_equal(noise_generator(np.random.SeedSequence(5)).standard_normal(8),
                          noise_generator(np.random.SeedSequence(5)).standard_normal(8))
    assert not np.array_equal(_streams(scn, 0)[0].standard_normal(8), _streams(scn, 0)[1].standard_normal(8))


def test_snr_aperture_stable_under_single_precision_round_off():
    """A source symmetric about a pixel row puts mirror pixel pairs at equal distances from
    the centroid; float32-level changes of the image (1e-7) move the centroid by ~1e-7
    pixel, which must not move one pixel of a pair in or out of the aperture (with a
    1e-9 tie tolerance 35 of these 200 cases flipped a pixel, a ~0.5 % noise change)."""
    from mocksim.instruments import line_snr_aperture

    yy, xx = np.mgrid[0:31, 0:61]
    rng = np.random.default_rng(4)
    for s in range(40):
        img = np.exp(-np.hypot(yy - 15.0, (xx - 30.3) / 1.7) / (1.0 + 0.05 * s))   # symmetric about row 15
        ref = line_snr_aperture(img[None], 1e-3, 0.063)
        for _ in range(5):
            ap = line_snr_aperture((img * (1.0 + 1e-7 * rng.standard_normal(img.shape)))[None], 1e-3, 0.063)
            assert np.array_equal(ap.mask, ref.mask)
            assert ap.sigma_for_snr(50.0) == pytest.approx(ref.sigma_for_snr(50.0), rel=1e-6)
