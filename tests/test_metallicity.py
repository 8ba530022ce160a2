"""Bayesian metallicity inference (mocksim.recovery.metallicity, seed 000 Eq. 1)."""

import numpy as np
import pytest

from mocksim.errors import MocksimInputError
from mocksim.lines import LINES
from mocksim.physics.calibrations import get_calibration
from mocksim.physics.dust import transmission
from mocksim.physics.emission import line_ratios_to_hbeta, line_scatter_dex
from mocksim.recovery.metallicity import _Model, _metal_ll, infer_metallicity

REALISTIC = ["OII3727", "OII3729", "Hgamma", "Hbeta", "OIII5007", "Halpha"]
SNR_REAL = {"OII3727": 10, "OII3729": 10, "Hgamma": 10, "Hbeta": 20, "OIII5007": 30, "Halpha": 30}


def mock(logoh, av, lines, snr, cal="sanders24", law="smc", fhb=100.0, rng=None, scatter=False):
    """Observed fluxes: intrinsic ratios x f_Hb x transmission (+ noise, + intrinsic scatter)."""
    z = np.atleast_1d(np.asarray(logoh, float))
    av = np.broadcast_to(np.asarray(av, float), z.shape)
    r = line_ratios_to_hbeta(z, cal, range_policy="extrapolate")
    sig = line_scatter_dex(cal)
    # one scatter draw per diagnostic (members of a doublet share it)
    draws = {}
    fl, er = {}, {}
    for ln in lines:
        f = fhb * r[ln] * transmission(law, LINES[ln].wave_um, av)
        if scatter and sig[ln] > 0:
            key = ln[:-4]
            draws.setdefault(key, rng.standard_normal(z.shape) * sig[ln])
            f = f * 10 ** draws[key]
        s = snr[ln] if isinstance(snr, dict) else snr
        e = np.abs(f) / s
        fl[ln] = f + (rng.standard_normal(z.shape) * e if rng is not None else 0.0)
        er[ln] = e
    return fl, er


@pytest.mark.parametrize("name,lines,truths", [
    ("sanders24", REALISTIC, [7.45, 7.7, 7.9, 8.1, 8.25]),
    ("sanders25", REALISTIC, [7.4, 7.8, 8.2, 8.5]),
    ("curti20", REALISTIC + ["NII6584", "SII6716", "SII6731"], [7.7, 8.0, 8.3, 8.6, 8.85]),
    ("maiolino08", REALISTIC + ["NII6584", "NeIII3869"], [7.1, 7.6, 8.0, 8.5, 9.1]),
    ("bian18", REALISTIC + ["NII6584", "NeIII3869"], [7.85, 8.0, 8.2, 8.35]),
])
def test_noise_free_recovery_tight_scatter(name, lines, truths):
    cal = get_calibration(name, scatter_dex=0.005)
    fl, er = mock(truths, 0.7, lines, 1000.0, cal=cal)
    r = infer_metallicity(fl, er, cal)
    np.testing.assert_allclose(r.log_oh, truths, atol=0.01)
    np.testing.assert_allclose(r.av, 0.7, atol=0.02)
    assert np.all(r.status == 0) and np.all(r.av_fitted)
    assert np.all(r.log_oh_lo < r.log_oh) and np.all(r.log_oh < r.log_oh_hi)


def test_noise_free_recovery_realistic_sanders24():
    """Published-default scatter (0.1 dex), S/N 10-30: posterior median within 0.01 dex."""
    truths = np.array([7.5, 7.7, 7.9, 8.1, 8.2])
    fl, er = mock(truths, 0.8, REALISTIC, SNR_REAL)
    r = infer_metallicity(fl, er, "sanders24")
    np.testing.assert_allclose(r.log_oh, truths, atol=0.01)
    np.testing.assert_allclose(r.av, 0.8, atol=0.05)
    assert np.all((r.log_oh_lo < truths) & (truths < r.log_oh_hi))
    assert np.all((r.av_lo < 0.8) & (0.8 < r.av_hi))
    assert np.all((r.log_oh_hi - r.log_oh_lo > 0.1) & (r.log_oh_hi - r.log_oh_lo < 0.3))


def test_calzetti_and_fixed_av():
    fl, er = mock([7.8, 8.1], 1.2, REALISTIC, 500.0, law="calzetti", cal=get_calibration("sanders24", scatter_dex=0.005))
    cal = get_calibration("sanders24", scatter_dex=0.005)
    r = infer_metallicity(fl, er, cal, dust_law="calzetti")
    np.testing.assert_allclose(r.log_oh, [7.8, 8.1], atol=0.01)
    np.testing.assert_allclose(r.av, 1.2, atol=0.03)
    # one Balmer line only: A_V not fitted, fixed at av_fixed
    one = {k: fl[k] for k in ("OII3727", "OII3729", "Hbeta", "OIII5007")}
    r = infer_metallicity(one, er, cal, dust_law="calzetti")
    assert not r.av_fitted.any() and np.all(r.av == 0) and np.all(r.av_lo == r.av_hi)
    r = infer_metallicity(one, er, cal, dust_law="calzetti", av_fixed=1.2)
    np.testing.assert_allclose(r.log_oh, [7.8, 8.1], atol=0.01)
    assert np.all(r.av == 1.2)


def _brute(fl, er, cal, av, zgrid, ngrid_f=2000):
    """Posterior quantiles of 12+log(O/H) at fixed A_V by direct integration over f_Hb."""
    model = _Model(fl, er, get_calibration(cal), "smc", False)
    b = model.ratios(zgrid) * model.trans(np.full(zgrid.shape, av))
    fh = fl["Hbeta"][0] / transmission("smc", LINES["Hbeta"].wave_um, av)
    F = np.linspace(0.3 * fh, 3.0 * fh, ngrid_f)
    ll = _metal_ll(model.a[0], model.s2[0], model.m[0], b[:, None, :], model.sfrac2,
                   np.broadcast_to(F, (len(zgrid), len(F))), True)
    mx = ll.max()
    p = np.trapezoid(np.exp(ll - mx), F, axis=1)
    c = np.concatenate([[0], np.cumsum(0.5 * (p[1:] + p[:-1]) * np.diff(zgrid))])
    return np.interp([0.16, 0.5, 0.84], c / c[-1], zgrid)


def test_grid_matches_brute_force_integration():
    rng = np.random.default_rng(11)
    fl, er = mock([7.8], 0.4, REALISTIC, {**SNR_REAL, "Hbeta": 5, "OIII5007": 50}, rng=rng)
    r = infer_metallicity(fl, er, "sanders24", fit_av=False, av_fixed=0.4)
    ref = _brute(fl, er, "sanders24", 0.4, np.arange(7.3, 8.4 + 1e-9, 0.002))
    np.testing.assert_allclose([r.log_oh_lo[0], r.log_oh[0], r.log_oh_hi[0]], ref, atol=0.002)


def test_literal_eq1_close_to_normalised():
    fl, er = mock([7.7, 8.1], 0.5, REALISTIC, SNR_REAL)
    a = infer_metallicity(fl, er, "sanders24")
    b = infer_metallicity(fl, er, "sanders24", normalize_likelihood=False)
    np.testing.assert_allclose(a.log_oh, b.log_oh, atol=0.05)
    assert b.extra["normalize_likelihood"] is False


def _emcee_vs_grid(fl, er, cal, nsteps, nburn, seed, **kw):
    g = infer_metallicity(fl, er, cal, **kw)
    e = infer_metallicity(fl, er, cal, method="emcee", rng=seed, nwalkers=32, nsteps=nsteps, nburn=nburn, **kw)
    return g, e


def _check_agreement(g, e):
    np.testing.assert_allclose(e.log_oh, g.log_oh, atol=0.02)
    wg, we = g.log_oh_hi - g.log_oh_lo, e.log_oh_hi - e.log_oh_lo
    np.testing.assert_allclose(we / wg, 1.0, atol=0.2)
    fit = g.av_fitted
    np.testing.assert_allclose(e.av[fit], g.av[fit], atol=0.05)
    np.testing.assert_allclose((e.av_hi - e.av_lo)[fit] / (g.av_hi - g.av_lo)[fit], 1.0, atol=0.2)
    # status flags use thresholds (edge density >= 10 % of peak): only the bimodal flag must agree
    np.testing.assert_array_equal(e.status == 3, g.status == 3)


def test_emcee_agrees_with_grid():
    rng = np.random.default_rng(7)
    fl, er = mock([7.75], 0.6, REALISTIC, SNR_REAL, rng=rng)
    g, e = _emcee_vs_grid(fl, er, "sanders24", 2000, 500, 3)
    _check_agreement(g, e)
    assert e.method == "emcee" and g.av_fitted[0]


@pytest.mark.slow
def test_emcee_agrees_with_grid_long():
    rng = np.random.default_rng(8)
    lines = REALISTIC + ["NII6584", "SII6716", "SII6731"]
    for cal, z in (("curti20", [7.9, 8.5]), ("bian18", [8.0, 8.3]), ("sanders24", [7.5, 8.1])):
        fl, er = mock(z, [0.3, 1.1], lines, SNR_REAL | {"NII6584": 8, "SII6716": 5, "SII6731": 5},
                      cal=cal, rng=rng)
        g, e = _emcee_vs_grid(fl, er, cal, 6000, 1000, 5)
        _check_agreement(g, e)
    # A_V fixed (two free parameters)
    fl, er = mock([7.7], 0.0, ["OII3727", "OII3729", "Hbeta", "OIII5007"], 15, rng=rng)
    g, e = _emcee_vs_grid(fl, er, "sanders24", 6000, 1000, 6)
    _check_agreement(g, e)


def test_r3_alone_bimodal_unless_branch_prior():
    fl, er = mock([7.6, 7.7], 0.0, ["Hbeta", "OIII5007"], 30)
    r = infer_metallicity(fl, er, "sanders24")
    assert np.all(r.status == 3)
    t = get_calibration("sanders24").turnover("R3")
    lo = infer_metallicity(fl, er, "sanders24", branch_prior="lower")
    up = infer_metallicity(fl, er, "sanders24", branch_prior="upper")
    mzr = infer_metallicity(fl, er, "sanders24", branch_prior=np.array([7.5, 8.2]))
    assert np.all(lo.status != 3) and np.all(up.status != 3)
    assert np.all(lo.log_oh_hi <= t + 1e-9) and np.all(up.log_oh_lo >= t - 1e-9)
    np.testing.assert_allclose(mzr.log_oh, [lo.log_oh[0], up.log_oh[1]])
    # with R2 as well, the degeneracy is broken
    fl, er = mock([7.6], 0.0, ["Hbeta", "OIII5007", "OII3727", "OII3729"], 30)
    assert infer_metallicity(fl, er, "sanders24").status[0] == 0


def test_status_insufficient_and_edge():
    fl, er = mock([7.8, 7.8], 0.0, ["Hbeta", "OIII5007", "OII3727", "OII3729"], 1.0)
    r = infer_metallicity(fl, er, "sanders24")
    assert np.all(r.status == 2) and np.all(np.isfinite(r.log_oh))
    fl["Hbeta"] = np.array([fl["Hbeta"][0], np.nan])  # no Balmer line left in bin 1
    r = infer_metallicity(fl, er, "sanders24")
    assert r.status[1] == 2 and np.isnan(r.log_oh[1]) and np.isfinite(r.log_oh[0])
    # posterior piling up at the prior edge (truth 8.5 > 8.3 + 0.1): flagged, not clipped
    cal = get_calibration("sanders24", scatter_dex=0.02)
    fl, er = mock([8.5], 0.0, ["Hbeta", "OIII5007", "OII3727", "OII3729"], 100, cal=cal)
    r = infer_metallicity(fl, er, cal)
    assert r.status[0] == 1 and r.log_oh_hi[0] <= 8.4 + 1e-9
    # median outside the validity range (but inside the padded prior) -> 1
    fl, er = mock([8.36], 0.0, ["Hbeta", "OIII5007", "OII3727", "OII3729"], 300, cal=cal)
    r = infer_metallicity(fl, er, cal)
    assert r.status[0] == 1 and r.log_oh[0] == pytest.approx(8.36, abs=0.01)


def test_lines_used_and_fallbacks():
    fl, er = mock([7.9], 0.3, REALISTIC + ["NII6584", "OIII4959", "OIII4363"], 30)
    r = infer_metallicity(fl, er, "sanders24")
    assert "N2" not in r.diagnostics and "R3" in r.diagnostics and "R2" in r.diagnostics
    assert any("NII6584" in s for s in r.lines_ignored) and any("OIII4363" in s for s in r.lines_ignored)
    assert "OII3727+OII3729" in r.lines_used
    r2 = infer_metallicity(fl, er, "sanders24", use_fallback_lines=True)
    assert "N2" in r2.diagnostics and r2.extra["sigma_dex"]["N2"] == pytest.approx(0.16)


def test_keep_samples_pdf_normalised():
    fl, er = mock([7.9, 8.0], 0.3, REALISTIC, SNR_REAL)
    r = infer_metallicity(fl, er, "sanders24", keep_samples=True)
    for s in r.samples:
        assert np.trapezoid(s["pdf"], s["logoh"]) == pytest.approx(1.0, abs=1e-9)


def test_input_errors():
    fl, er = mock([7.9], 0.3, REALISTIC, SNR_REAL)
    with pytest.raises(MocksimInputError, match="recovery.calibration"):
        infer_metallicity(fl, er, "tremonti04")
    with pytest.raises(MocksimInputError, match="recovery.method"):
        infer_metallicity(fl, er, "sanders24", method="nested")
    with pytest.raises(MocksimInputError, match="recovery.logoh_range"):
        infer_metallicity(fl, er, "sanders24", logoh_range=(6.5, 8.3))
    with pytest.raises(MocksimInputError, match="recovery.av_range"):
        infer_metallicity(fl, er, "sanders24", av_range=(-1, 2))
    with pytest.raises(MocksimInputError, match="recovery.dust_law"):
        infer_metallicity(fl, er, "sanders24", dust_law="mw")
    with pytest.raises(MocksimInputError, match="errors"):
        infer_metallicity(fl, {**er, "Hbeta": -er["Hbeta"]}, "sanders24")
    with pytest.raises(MocksimInputError, match="fluxes"):
        infer_metallicity({**fl, "OI6300": fl["Hbeta"]}, er, "sanders24")
    with pytest.raises(MocksimInputError, match="recovery.branch_prior"):
        infer_metallicity(fl, er, "sanders24", branch_prior="middle")


def test_grid_many_bins_vectorised():
    rng = np.random.default_rng(3)
    z = rng.uniform(7.5, 8.2, 1000)
    fl, er = mock(z, rng.uniform(0, 1.5, 1000), REALISTIC, SNR_REAL, rng=rng)
    r = infer_metallicity(fl, er, "sanders24")
    assert np.all(np.isfinite(r.log_oh)) and r.av_fitted.all()


def test_grid_results_do_not_depend_on_chunking():
    """Bins are independent: any ``chunk_elements`` gives the same bits (some bins miss a line)."""
    rng = np.random.default_rng(4)
    z = rng.uniform(7.5, 8.4, 60)
    fl, er = mock(z, rng.uniform(0, 1.5, 60), REALISTIC + ["NII6584"], 8.0, cal="curti20", rng=rng)
    fl["NII6584"][::7] = np.nan
    runs = [infer_metallicity(fl, er, "curti20", chunk_elements=c) for c in (10**9, 500_000, 30_000, 1)]
    for r in runs[1:]:
        for f in ("log_oh", "log_oh_lo", "log_oh_hi", "av", "av_lo", "av_hi", "status"):
            assert np.array_equal(getattr(r, f), getattr(runs[0], f), equal_nan=True), f


@pytest.mark.slow
def test_credible_intervals_calibrated():
    """Mocks with intrinsic scatter + noise drawn from the likelihood's own model:
    the 16-84 % interval must contain the truth ~68 % of the time."""
    rng = np.random.default_rng(21)
    n = 400
    z = rng.uniform(7.5, 8.2, n)
    av = rng.uniform(0.2, 1.5, n)
    fl, er = mock(z, av, REALISTIC, SNR_REAL, rng=rng, scatter=True)
    r = infer_metallicity(fl, er, "sanders24", fit_av=True)
    ok = r.status != 2
    cover = np.mean((r.log_oh_lo[ok] < z[ok]) & (z[ok] < r.log_oh_hi[ok]))
    cover_av = np.mean((r.av_lo[ok] < av[ok]) & (av[ok] < r.av_hi[ok]))
    assert 0.60 < cover < 0.76 and 0.60 < cover_av < 0.76


def test_grid_basis_cache_is_per_calibration_object():
    """Cached coarse-grid ratios/transmissions and grouping depend on the calibration
    object: two calibrations of the same name with different scatter give their own
    results, identical to those computed with an empty cache."""
    from mocksim.recovery import metallicity as met

    rng = np.random.default_rng(5)
    lines = REALISTIC + ["NII6584", "SII6716", "SII6731"]
    fl, er = mock([7.8, 8.1, 8.4], [0.3, 0.8, 0.0], lines, 15.0, cal="curti20", rng=rng)
    cals = [get_calibration("curti20", scatter_dex=s) for s in (0.02, 0.2)]
    warm = [infer_metallicity(fl, er, c) for c in cals + cals]
    met._CACHE.clear()
    cold = [infer_metallicity(fl, er, c) for c in cals]
    for w, c in zip(warm[2:], cold):
        for k in ("log_oh", "log_oh_lo", "log_oh_hi", "av", "av_lo", "av_hi", "status"):
            np.testing.assert_array_equal(getattr(w, k), getattr(c, k))
    # larger intrinsic scatter -> wider posteriors (not a stale cache entry)
    assert np.all((warm[1].log_oh_hi - warm[1].log_oh_lo) > (warm[0].log_oh_hi - warm[0].log_oh_lo))


def test_quadrature_nodes_converged_for_detected_bins(monkeypatch):
    """The 8-node adaptive Gauss-Hermite marginalisation over f_Hb agrees with 32 nodes
    to < 0.002 dex in every quantile for bins with Hbeta and [OIII] S/N >= 3 (A_V free
    and fixed). (Noise-only bins, S/N < 3, have heavy f_Hb tails and are not converged
    at either node count; they are flagged status 2 / cut by the analysis.)"""
    from mocksim.recovery import metallicity_grid as mg

    rng = np.random.default_rng(8)
    n = 60
    z = rng.uniform(7.7, 8.7, n)
    snr = {ln: s for ln, s in zip(REALISTIC + ["NII6584", "SII6716", "SII6731"],
                                  (4, 4, 3, 5, 8, 10, 3, 3, 3))}
    lines = list(snr)
    fl, er = mock(z, rng.uniform(0, 1.0, n), lines, {k: v * rng.uniform(1, 4) for k, v in snr.items()},
                  cal="curti20", rng=rng)
    det = (fl["Hbeta"] / er["Hbeta"] >= 3) & (fl["OIII5007"] / er["OIII5007"] >= 3)
    assert det.sum() > 20
    r8 = infer_metallicity(fl, er, "curti20")
    x, w = np.polynomial.hermite.hermgauss(32)
    monkeypatch.setattr(mg, "_GH_X", x)
    monkeypatch.setattr(mg, "_GH_LOGW", np.log(w) + x ** 2)
    r32 = infer_metallicity(fl, er, "curti20")
    for k in ("log_oh", "log_oh_lo", "log_oh_hi", "av", "av_lo", "av_hi"):
        assert np.max(np.abs(getattr(r8, k) - getattr(r32, k))[det]) < 0.002, k


def test_tied_doublet_errors_add_linearly():
    """The line fit ties [OII]3729 = 1.2 x 3727 (one amplitude): the doublet sum's error is
    e3727 + e3729, not their quadrature sum (29 % too small); independent members stay in
    quadrature. Checked against the fitter's own Monte Carlo scatter of the sum."""
    from scipy.special import erf

    from mocksim.recovery.forward import _log_ratios
    from mocksim.recovery.linefit import fit_spectra

    z, lsf = 6.0, 0.0011
    wave = np.arange(2.55, 2.70, 0.0011)
    edges = np.concatenate([[wave[0] - 5.5e-4], 0.5 * (wave[1:] + wave[:-1]), [wave[-1] + 5.5e-4]])
    spec = np.full(wave.size, 0.2)
    for name, flux in (("OII3727", 1.0), ("OII3729", 1.2)):
        lam = LINES[name].wave_um * (1 + z)
        cdf = 0.5 * (1 + erf((edges - lam) / (np.sqrt(2) * np.hypot(lam * 60 / 299792.458, lsf))))
        spec += flux * np.diff(cdf) / np.diff(edges)
    rng = np.random.default_rng(1)
    Y = spec + rng.normal(0, 60.0, (1000, wave.size))
    fit = fit_spectra(wave, Y, np.full_like(Y, 60.0), z, lsf, ["OII3727", "OII3729"])
    fl = {**fit.flux, "Hbeta": np.full(1000, 2.0), "OIII5007": np.full(1000, 10.0)}
    er = {**fit.flux_err, "Hbeta": np.full(1000, 0.1), "OIII5007": np.full(1000, 0.1)}
    model = _Model(fl, er, get_calibration("sanders24"), "smc", False)
    j = [o["label"] for o in model.obs].index("R2")
    mc = np.std(fit.flux["OII3727"] + fit.flux["OII3729"])
    assert np.median(np.sqrt(model.s2[:, j])) == pytest.approx(mc, rel=0.08)   # quadrature: 0.75 x mc
    # the forward fit's ratio errors, and independent members (not in the tied ratio)
    fl = {"OII3727": np.array([10.0]), "OII3729": np.array([12.0]), "Hbeta": np.array([20.0]),
          "OIII5007": np.array([100.0])}
    er = {"OII3727": np.array([1.0]), "OII3729": np.array([1.2]), "Hbeta": np.array([1.0]),
          "OIII5007": np.array([1.0])}
    _, sig = _log_ratios(fl, er, ["R2"], np.array([True]))
    assert sig[0] == pytest.approx(np.log10(np.e) * np.hypot(2.2 / 22.0, 1.0 / 20.0))
    fl["OII3729"] = np.array([12.5])
    model = _Model(fl, er, get_calibration("sanders24"), "smc", False)
    assert np.sqrt(model.s2[0, j]) == pytest.approx(np.hypot(1.0, 1.2))
