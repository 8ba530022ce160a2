"""The fast grism line dispersion (FFT path) against the exact reference, and its caches."""
import math

import numpy as np
import pytest
from scipy.special import ndtr

from mocksim.instruments import get_instrument
from mocksim.instruments.fftconv import SpectrumCache
from mocksim.instruments.grism_config import band_fraction
from mocksim.instruments.grism_disperse import (MIN_FAST_SIGMA, MIN_FAST_WIDTH, _deposit, _line_kernel,
                                                deposit_weights, disperse_line, disperse_line_exact,
                                                disperse_line_fft, fast_sigma_threshold, lagrange_weights,
                                                lagrange_nodes, psf_core_sigma, series_terms)


def _full(pieces, n, n_disp):
    out = np.zeros((n, n_disp))
    for img, c0 in pieces:
        out[:, c0:c0 + img.shape[1]] += img
    return out


def _disk_line(nfine=80, os_=5, v_rot=150.0, sigma_px=0.7, mu0=60.0, seed=0):
    """Exponential disk on the fine grid with a rotation-like offset field and a width map."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:nfine, 0:nfine] - (nfine - 1) / 2.0
    r = np.hypot(x, 0.6 * y)
    f = np.exp(-r / 6.0) * (1.0 + 0.05 * rng.standard_normal(r.shape))
    idx = np.flatnonzero(f > 0)
    v = v_rot * np.tanh(x / 8.0).ravel()[idx]
    mu = mu0 + v / 3e5 * 3.5 * 1021.0                 # column offset [detector px] at 3.5 um
    sig = sigma_px * (1.0 + v / 3e5)                   # width follows lambda (as in the renderer)
    return idx, f.ravel()[idx], mu, sig


@pytest.fixture(scope="module")
def psf_kernel():
    inst = get_instrument("nircam-wfss-f356w", psf="jwst", fov_arcsec=1.0, kernel_max_arcsec=1.0)
    return inst._kernel(3.5, inst.pixscale_arcsec / inst.oversample)


@pytest.mark.parametrize("grism", ["R", "C"])
@pytest.mark.parametrize("sigma_px,v_rot", [(0.7, 150.0), (0.35, 0.0), (0.7, 600.0)])
def test_fft_dispersion_matches_exact_reference(psf_kernel, grism, sigma_px, v_rot):
    nfine, os_, n_disp = 80, 5, 140
    idx, w, mu, sig = _disk_line(nfine, os_, v_rot, sigma_px)
    ref = _full(disperse_line_exact(idx, w, mu, sig, nfine, n_disp, os_, psf_kernel, grism), nfine // os_, n_disp)
    fast = _full(disperse_line_fft(idx, w, mu, sig, nfine, n_disp, os_, psf_kernel, grism, ("k", grism)),
                 nfine // os_, n_disp)
    assert np.max(np.abs(fast - ref)) < 1e-5 * ref.max()
    assert fast.sum() == pytest.approx(ref.sum(), rel=1e-9)


def test_fft_dispersion_without_psf_and_with_width_bins():
    """No PSF (only the line profile smooths) and a width map spanning several bins."""
    nfine, os_, n_disp = 60, 5, 120
    idx, w, mu, _ = _disk_line(nfine, os_, 100.0)
    sig = np.linspace(0.4, 1.2, idx.size)              # 2-6 fine px: 6 bins of s^2
    ref = _full(disperse_line_exact(idx, w, mu, sig, nfine, n_disp, os_, None, "R"), nfine // os_, n_disp)
    fast = _full(disperse_line_fft(idx, w, mu, sig, nfine, n_disp, os_, None, "R"), nfine // os_, n_disp)
    assert np.max(np.abs(fast - ref)) < 1e-5 * ref.max()      # 2.8e-6 (1.7e-5 with second differences)
    assert fast.sum() == pytest.approx(ref.sum(), rel=1e-9)


def test_narrow_lines_use_exact_profiles_and_distant_pixels_separate_windows(psf_kernel):
    nfine, os_, n_disp = 60, 5, 400
    idx, w, mu, sig = _disk_line(nfine, os_, 0.0, 0.2)     # 1 fine px < MIN_FAST_SIGMA
    assert np.all(sig * os_ < MIN_FAST_SIGMA)
    ref = disperse_line_exact(idx, w, mu, sig, nfine, n_disp, os_, psf_kernel, "R")
    got = _full(disperse_line(idx, w, mu, sig, nfine, n_disp, os_, psf_kernel, "R", "k", SpectrumCache()), 12, n_disp)
    ref = _full(ref, 12, n_disp)
    # the same profiles; PSF and block sum through the cached spectrum: round-off apart
    assert np.max(np.abs(got - ref)) < 1e-13 * ref.max()
    assert got.sum() == pytest.approx(ref.sum(), rel=1e-13)
    # a neighbour at another redshift: its own FFT window, same result as the reference
    mu2 = np.where(np.arange(idx.size) % 2 == 0, mu, mu + 200.0)
    sig2 = np.full(idx.size, 0.7)
    pieces = disperse_line(idx, w, mu2, sig2, nfine, n_disp, os_, psf_kernel, "R", "k", SpectrumCache())
    assert len(pieces) == 2 and max(p[0].shape[1] for p in pieces) < 120
    ref2 = _full(disperse_line_exact(idx, w, mu2, sig2, nfine, n_disp, os_, psf_kernel, "R"), 12, n_disp)
    assert np.max(np.abs(_full(pieces, 12, n_disp) - ref2)) < 1e-5 * ref2.max()


def test_lagrange_weights_interpolate_quintics_and_series_terms():
    frac = np.linspace(0.0, 0.999, 37)
    nodes, a = lagrange_weights(frac)
    assert a.shape == (6, frac.size)
    np.testing.assert_allclose(a.sum(axis=0), 1.0, atol=1e-12)
    g = lambda t: 0.3 - t + 2 * t ** 2 - 0.5 * t ** 3 + 0.1 * t ** 5   # noqa: E731
    np.testing.assert_allclose((a * g(nodes)[:, None]).sum(axis=0), g(frac), atol=1e-11)
    assert series_terms(0.0) == 1
    assert series_terms(1e-4) == 2          # 1e-4 > tol; 1.5e-8 < 1e-7
    assert series_terms(0.05) == 5          # bins of 20 % in s^2 need the full series


def _lagrange_second_derivatives(frac):
    """Second derivative at ``frac`` of each Lagrange basis polynomial of the deposit nodes
    (built from its roots, independently of the module's coefficient matrix)."""
    from numpy.polynomial import Polynomial

    nodes = lagrange_nodes().astype(float)
    out = np.empty((nodes.size, frac.size))
    for j, t in enumerate(nodes):
        others = np.delete(nodes, j)
        basis = Polynomial.fromroots(others) / np.prod(t - others)
        out[j] = basis.deriv(2)(frac)
    return out


def _width_series_reference(frac, coef):
    """Deposit weights with the line-width series, term by term: ``coef[0] a + coef[1] a''
    + sum_{n >= 2} coef[n] D^(2n - 2) a''`` (``a``: Lagrange weights, ``a''`` their second
    derivative, ``D^2`` the second difference [1, -2, 1]), each term centred on the nodes."""
    a = lagrange_weights(frac)[1]
    n_terms = len(coef)
    wide = max(0, n_terms - 2)
    out = np.zeros((a.shape[0] + 2 * wide, a.shape[1]))
    out[wide:wide + a.shape[0]] += a * coef[0]
    cur = _lagrange_second_derivatives(frac)
    for n in range(1, n_terms):
        o = wide - (n - 1)
        out[o:o + cur.shape[0]] += cur * coef[n]
        nxt = np.zeros((cur.shape[0] + 2, cur.shape[1]))
        nxt[:-2] += cur
        nxt[1:-1] -= 2.0 * cur
        nxt[2:] += cur
        cur = nxt
    return out


@pytest.mark.parametrize("n_terms", [1, 2, 3, 5])
def test_deposit_weights_equal_the_term_by_term_series(n_terms):
    rng = np.random.default_rng(n_terms)
    frac = rng.uniform(0.0, 1.0, 500)
    coef = [rng.normal(size=500) for _ in range(n_terms)]
    got = deposit_weights(frac, coef)
    ref = _width_series_reference(frac, coef)
    assert got.shape == ref.shape == (6 + 2 * max(0, n_terms - 2), 500)
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-12 * np.abs(ref).max())
    # the series moves flux, never creates it: higher terms sum to zero over the nodes
    np.testing.assert_allclose(got.sum(axis=0), coef[0], rtol=0, atol=1e-13 * np.abs(coef[0]).max())


def test_width_term_adds_the_variance_change():
    """The second-derivative weights move no flux and no centroid and add exactly 2 to the
    second moment about ``frac`` (so ``coef[1] = Delta / 2`` widens the variance by
    ``Delta``), as the second derivative of a Gaussian does; the deposit of a Gaussian of
    ``s0^2 + Delta`` equals that of ``s0^2`` plus the term to O(Delta^2)."""
    frac = np.linspace(0.0, 0.999, 41)
    nodes = lagrange_nodes().astype(float)
    d2 = deposit_weights(frac, [np.zeros_like(frac), np.ones_like(frac)])
    assert d2.shape[0] == nodes.size
    u = nodes[:, None] - frac[None, :]
    np.testing.assert_allclose(d2.sum(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose((d2 * u).sum(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose((d2 * u ** 2).sum(axis=0), 2.0, atol=1e-12)
    # the width term against the exact change of a sampled Gaussian profile, g(s0^2 + Delta)
    # - g(s0^2), in real space (no PSF or line-profile filtering): a few % at s0 = 2 fine px
    # (the second difference of the Lagrange weights, used before, gave 6 %)
    x = np.arange(-25, 26, dtype=float)
    gauss = lambda v, t: np.exp(-0.5 * (x[:, None] - t) ** 2 / v) / np.sqrt(2 * np.pi * v)   # noqa: E731
    delta = 0.01
    for s0, tol in ((2.0, 0.03), (3.0, 0.007)):
        for f in (0.0, 0.3, 0.5, 0.77):
            wts = deposit_weights(np.array([f, f]), [np.zeros(2), np.full(2, delta / 2)])[:, :1]
            got = (gauss(s0 ** 2, nodes[None, :]) @ wts).ravel()
            ref = (gauss(s0 ** 2 + delta, np.array([f])) - gauss(s0 ** 2, np.array([f]))).ravel()
            assert np.max(np.abs(got - ref)) < tol * np.abs(ref).max()


@pytest.mark.parametrize("n_terms", [1, 2, 4])
@pytest.mark.parametrize("npix", [1, 500])
def test_deposit_equals_the_bincount_of_the_deposit_weights(n_terms, npix):
    """:func:`_deposit` of one width bin (node-by-node in-order accumulation) against the
    bincount of the node-major weights of :func:`deposit_weights`: bit-identical (one
    pixel: the matrix product, not the matrix-vector one)."""
    rng = np.random.default_rng(20 + n_terms)
    nfine, n1, x0, s02 = 16, 48, -4, 9.0
    cross = rng.integers(0, nfine, npix)
    xf = rng.uniform(8.0, 30.0, npix)                      # collisions: 500 pixels on 16 x ~22 columns
    w = rng.normal(size=npix)
    s2 = s02 * rng.uniform(0.95, 1.05, npix)
    got = np.zeros(nfine * n1)
    _deposit(got, (cross, xf, w, s2), x0, s02, n_terms, n1)
    base = np.floor(xf).astype(np.int64)
    coef = [w] + [w * ((s2 - s02) ** n / (2.0 ** n * math.factorial(n))) for n in range(1, n_terms)]
    rep = 2 if npix == 1 else 1                            # a product of >= 2 columns
    wts = deposit_weights(np.repeat(xf - base, rep), [np.repeat(c, rep) for c in coef])[:, ::rep]
    row = cross * n1 + (base - x0)
    first = int(lagrange_nodes()[0]) - max(0, n_terms - 2)
    ib = (row[None, :] + np.arange(first, first + wts.shape[0])[:, None]).ravel()
    assert np.array_equal(got, np.bincount(ib, weights=wts.ravel(), minlength=got.size))


def test_band_fraction_is_bit_identical_to_the_cdf_difference():
    rng = np.random.default_rng(4)
    w = rng.uniform(3.0, 4.1, 20000)
    s = rng.uniform(1e-6, 5e-3, 20000)
    assert np.array_equal(band_fraction(w, s, 3.14, 3.98), ndtr((3.98 - w) / s) - ndtr((3.14 - w) / s))
    inside = rng.uniform(3.3, 3.8, 20000)          # all > 10 sigma from both edges: the shortcut
    assert np.array_equal(band_fraction(inside, s, 3.14, 3.98),
                          ndtr((3.98 - inside) / s) - ndtr((3.14 - inside) / s))


def test_band_fraction_is_one_only_when_every_pixel_is_far_inside():
    """The bounds test implies the per-pixel shortcut of band_fraction (all exactly 1),
    and it holds for lines well inside the band (the case it exists for)."""
    from mocksim.instruments.grism_config import band_fraction_is_one
    from mocksim.lines import C_KMS

    rng = np.random.default_rng(7)
    n_true = 0
    for _ in range(400):
        lam_sys = rng.uniform(3.0, 4.1)
        dop = 1.0 + rng.uniform(-1, 1, 500) * rng.uniform(0, 3000) / C_KMS
        sig = rng.uniform(0, rng.uniform(1, 3000), 500)
        lam = lam_sys * dop
        ok = band_fraction_is_one(lam_sys, float(dop.min()), float(dop.max()), float(sig.max()), 3.14, 3.98)
        if ok:
            n_true += 1
            assert np.array_equal(band_fraction(lam, lam * sig / C_KMS, 3.14, 3.98), np.ones(500))
    assert 50 < n_true < 350
    assert band_fraction_is_one(3.5, 1 - 1e-3, 1 + 1e-3, 60.0, 3.14, 3.98)
    assert not band_fraction_is_one(3.5, 0.0, 1.0, 60.0, 3.14, 3.98)


def test_rendering_is_deterministic_and_conserves_flux():
    from mocksim.galaxy import linear_disk
    from mocksim.physics.calibrations import get_calibration

    inst = get_instrument("nircam-wfss-f356w", psf="jwst", fov_arcsec=1.6)
    gal = linear_disk(redshift=6.0, re_kpc=0.6, log_oh_center=8.0, gradient_dex_per_kpc=-0.1,
                      hbeta_flux_cgs=1e-17, v_rot_kms=120.0, inclination_deg=50.0, pa_deg=30.0)
    scene = gal.render(inst.scene_grid(), get_calibration("sanders24"), lines=["Hbeta", "OIII5007"])
    a = inst.render_noiseless(scene)
    b = inst.render_noiseless(scene)
    assert np.array_equal(a, b)
    # the PSF spills a little light across the field edge (cross-dispersion), nothing else is lost
    total = sum(float(np.sum(f)) for f in scene.components[0].line_flux.values())
    assert a.sum() * inst.dispersion_um == pytest.approx(total, rel=0.03, abs=0)
    assert a.sum() * inst.dispersion_um < total


@pytest.mark.parametrize("os_", [1, 3, 5])
@pytest.mark.parametrize("with_psf", [False, True])
def test_routed_dispersion_within_3e5_of_peak(os_, with_psf):
    """``disperse_line`` (FFT path above ``fast_sigma_threshold``, exact profiles below)
    stays within 3e-5 of the peak of the exact reference for compact lines of every width,
    with and without the PSF and at oversample 1, 3 and 5 (the deposit's error grows as
    the effective width ``sqrt(s^2 + s_psf^2)`` falls: 2.3e-3 at s = 1.5 without a PSF at
    oversample 1 if taken by the FFT path)."""
    inst = get_instrument("nircam-wfss-f356w", psf="jwst", fov_arcsec=1.0, oversample=os_)
    kern = inst._kernel(3.5, inst.pixscale_arcsec / os_) if with_psf else None
    nfine = {1: 40, 3: 78, 5: 80}[os_]
    y, x = np.mgrid[0:nfine, 0:nfine] - (nfine - 1) / 2.0
    f = np.exp(-np.hypot(x, 0.6 * y) / (1.5 if os_ == 1 else 2.0)).ravel()
    idx = np.arange(f.size)
    mu = 60.0 + 0.37 * (idx % 7) / 7                       # sub-pixel positions
    thr = fast_sigma_threshold(_line_kernel(kern, "R", nfine, None)[0])
    assert MIN_FAST_SIGMA <= thr <= MIN_FAST_WIDTH
    for s_fine in (1.5, 2.0, 2.5, 3.0, 3.5):
        sig = np.full(f.size, s_fine / os_)
        ref = _full(disperse_line_exact(idx, f, mu, sig, nfine, 140, os_, kern, "R"), nfine // os_, 140)
        got = _full(disperse_line(idx, f, mu, sig, nfine, 140, os_, kern, "R", ("k", with_psf)), nfine // os_, 140)
        assert np.max(np.abs(got - ref)) < 3e-5 * ref.max(), s_fine
        assert got.sum() == pytest.approx(ref.sum(), rel=1e-9)


def test_psf_core_sigma_of_gaussian_and_jwst_kernels():
    """The core sigma is a Gaussian's sigma for a Gaussian, and FWHM / 2.3548 for the JWST PSF."""
    yy, xx = np.mgrid[-20:21, -20:21]
    g = np.exp(-0.5 * (xx ** 2 / 2.5 ** 2 + yy ** 2 / 1.2 ** 2))
    assert psf_core_sigma(g) == pytest.approx(2.5, rel=2e-2)
    assert psf_core_sigma(g.T) == pytest.approx(1.2, rel=5e-2)
    assert psf_core_sigma(None) == 0.0
    inst = get_instrument("nircam-wfss-f356w", psf="jwst", fov_arcsec=1.0, oversample=3)
    fine = inst.pixscale_arcsec / 3
    want = inst.psf_fwhm_arcsec(3.5) / fine / 2.3548
    assert psf_core_sigma(inst._kernel(3.5, fine)) == pytest.approx(want, rel=0.05)
