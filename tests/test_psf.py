"""Tests for mocksim.psf: pupil geometry, Fourier optics, models, caching, factory."""
from __future__ import annotations

import math
import os
import time

import numpy as np
import pytest
from scipy import ndimage, signal, special

from mocksim.errors import MocksimInputError
from mocksim.psf import (
    FITSPSF,
    JWSTPSF,
    NIRCAM_PIVOT_UM,
    NIRISS_PIVOT_UM,
    GaussianPSF,
    MoffatPSF,
    NoPSF,
    PSFModel,
    StpsfPSF,
    clear_memory_cache,
    make_psf,
    measure_fwhm,
    write_psf_fits,
)
from mocksim.psf import pupil as pup
from mocksim.psf.cache import KERNEL_CACHE
from mocksim.psf.filters import NIRCAM_JDOX_FWHM_ARCSEC
from mocksim.psf.fourier import FWHM_PER_SIGMA, lambda_over_d_arcsec

pytestmark = pytest.mark.filterwarnings("error::RuntimeWarning")


@pytest.fixture(autouse=True, scope="module")
def _cache_dir(tmp_path_factory):
    """Keep the disk cache of this module in a temporary directory."""
    old = os.environ.get("MOCKSIM_CACHE_DIR")
    os.environ["MOCKSIM_CACHE_DIR"] = str(tmp_path_factory.mktemp("psfcache"))
    yield
    if old is None:
        os.environ.pop("MOCKSIM_CACHE_DIR", None)
    else:
        os.environ["MOCKSIM_CACHE_DIR"] = old


def _gauss_image(sigma, pixscale, n):
    """Pixel-integrated circular Gaussian (unit flux) on an n x n grid."""
    edges = (np.arange(n + 1) - n / 2.0) * pixscale
    w = np.diff(0.5 * special.erf(edges / (math.sqrt(2) * sigma)))
    return np.outer(w, w)


def _centroid(img):
    yy, xx = np.indices(img.shape)
    s = img.sum()
    return (img * yy).sum() / s - (img.shape[0] - 1) / 2, (img * xx).sum() / s - (img.shape[1] - 1) / 2


# ----------------------------------------------------------------------------- pupil
def test_pupil_collecting_area():
    area = pup.rasterize_pupil(512, 4).area_m2  # the grid used by JWSTPSF
    # reference: 25.76 m^2 from stpsf's vertex tables, published ~25.4 m^2
    assert abs(area / 25.6 - 1) < 0.02, area
    assert 25.4 <= area <= 25.9
    assert pup.collecting_area_m2(npix=256) == pytest.approx(area, rel=0.002)  # anti-aliasing: grid independent
    seg_only = pup.rasterize_pupil(512, 4, struts=False).area_m2
    hexagon = math.sqrt(3) / 2 * pup.FLAT_TO_FLAT_M**2
    assert seg_only == pytest.approx(18 * hexagon, rel=0.003)  # only A-B edges trimmed (2.3 mm)
    # struts remove 0.8-1.1 m^2 (three ~0.12 m bars across ~2.6 m of glass)
    assert 0.8 < seg_only - area < 1.1


def test_pupil_has_18_segments_and_jwst_layout():
    assert pup.count_segments() == 18
    labels, dx = pup.segment_label_map(2048)
    assert sorted(np.unique(labels[labels > 0])) == list(range(1, 19))
    for s in range(1, 19):  # each segment is a single connected piece
        assert ndimage.label(labels == s)[1] == 1
    n = labels.shape[0]

    def label_at(x, y):
        return labels[int(round(y / dx + (n - 1) / 2)), int(round(x / dx + (n - 1) / 2))]

    assert label_at(0.0, 0.0) == 0  # no central segment
    assert label_at(0.0, pup.RING_A_RADIUS_M) == 1  # A1 on +V3
    assert label_at(0.0, pup.RING_B_RADIUS_M) == 7  # B1 beyond it
    # flat-top hexagons: A1 is 1.3088 m tall along y (flat-to-flat) and 2/sqrt(3) as wide along x
    col = labels[:, int(round((n - 1) / 2))]
    assert np.count_nonzero(col == 1) * dx == pytest.approx(pup.FLAT_TO_FLAT_M - 0.0023, abs=2 * dx)
    row = labels[int(round(pup.RING_A_RADIUS_M / dx + (n - 1) / 2))]
    assert np.count_nonzero(row == 1) * dx == pytest.approx(pup.FLAT_TO_FLAT_M * 2 / math.sqrt(3), abs=2 * dx)


def test_pupil_extent_symmetry_and_struts():
    p = pup.rasterize_pupil(512, 4)
    t = np.asarray(p.transmission)
    x = p.coords_m()
    xx, yy = np.meshgrid(x, x)
    r = np.hypot(xx, yy)[t > 0]
    # perfect hexagons on the stpsf centres reach 6.621 m (stpsf's curved-surface segments: 6.6035 m);
    # partially covered edge pixels add up to half a pixel diagonal on each side
    assert 2 * r.max() == pytest.approx(pup.CIRCUMSCRIBED_DIAMETER_M, rel=0.006)
    np.testing.assert_allclose(t, t[:, ::-1], atol=1e-12)  # mirror symmetric about V3
    # struts: the column through +V3 is dark over A1/B1, open at -V3 (A4 centre)
    centre = (p.npix - 1) // 2
    assert t[(yy[:, centre] > 0.8) & (yy[:, centre] < 3.2), centre].max() < 0.05
    assert t[np.argmin(np.abs(x + pup.RING_A_RADIUS_M)), centre] > 0.99
    assert 0 < t.min() + 1 and np.any((t > 0) & (t < 1))  # anti-aliased edges exist


# ------------------------------------------------------------------------ JWST optics
@pytest.mark.parametrize("n", [31, 30])
def test_fast_mft_matches_direct_transform(n):
    from mocksim.psf.fourier import mft_field, mft_intensity

    p = pup.rasterize_pupil(128, 2)
    direct = np.abs(mft_field(p, 2.0, 0.02, n)) ** 2
    np.testing.assert_allclose(mft_intensity(p, 2.0, 0.02, n), direct, rtol=0, atol=1e-12 * direct.max())
    t = np.array(p.transmission)
    t[70:80, 20:40] = 0.0  # break the mirror symmetry -> general path
    q = pup.Pupil(t, p.pixel_m)
    direct = np.abs(mft_field(q, 2.0, 0.02, n)) ** 2
    np.testing.assert_allclose(mft_intensity(q, 2.0, 0.02, n), direct, rtol=0, atol=1e-12 * direct.max())
    if n % 2:  # Fraunhofer sanity: the on-axis intensity is (sum of transmission)^2
        assert direct[n // 2, n // 2] == pytest.approx(t.sum() ** 2, rel=1e-12)


@pytest.mark.parametrize("filt", ["F277W", "F356W", "F444W"])
def test_jwst_nircam_fwhm_matches_jdox(filt):
    model = make_psf("jwst", family="nircam")
    wave = NIRCAM_PIVOT_UM[filt]
    step = 0.004
    fwhm = measure_fwhm(model.kernel(wave, step, size=121), step)
    assert fwhm == pytest.approx(NIRCAM_JDOX_FWHM_ARCSEC[filt], rel=0.05)
    assert model.fwhm_arcsec(wave) == pytest.approx(fwhm, rel=0.005)
    ratio = fwhm / lambda_over_d_arcsec(wave, 6.5)
    assert 1.03 <= ratio <= 1.10, ratio


def test_jwst_optics_scale_with_wavelength_and_broadening_adds_in_quadrature():
    optics = JWSTPSF(broadening_sigma_arcsec=0.0, jitter_mas=0.0)
    r = [optics.fwhm_arcsec(w) / lambda_over_d_arcsec(w) for w in (1.5, 3.0, 4.5)]
    assert max(r) / min(r) - 1 < 0.005  # pure diffraction: FWHM proportional to lambda
    assert r[0] == pytest.approx(1.066, abs=0.01)
    ifu = make_psf("jwst", family="nirspec-ifu")
    for w in (3.0, 4.5):
        expect = math.hypot(optics.fwhm_arcsec(w), FWHM_PER_SIGMA * math.hypot(0.050, 0.001))
        # quadrature is exact only for Gaussians; the diffraction core is not one
        assert ifu.fwhm_arcsec(w) == pytest.approx(expect, rel=0.05)
        assert optics.fwhm_arcsec(w) < ifu.fwhm_arcsec(w) < expect
    # reference's quadrature estimates for the IFU: ~0.155" at 3 um, ~0.19" at 4.5 um
    assert ifu.fwhm_arcsec(3.0) == pytest.approx(0.155, rel=0.05)
    assert ifu.fwhm_arcsec(4.5) == pytest.approx(0.19, rel=0.05)


def test_jwst_kernel_is_pixel_integral_of_fine_psf():
    model = JWSTPSF(broadening_sigma_arcsec=0.0202)
    n, sub = 31, 5
    coarse = model.kernel(1.5, 0.05, size=n)
    fine = model.kernel(1.5, 0.01, size=n * sub)
    binned = fine.reshape(n, sub, n, sub).sum(axis=(1, 3))
    np.testing.assert_allclose(coarse, binned / binned.sum(), atol=1e-6 * coarse.max() + 1e-9)
    pix = model.pixel_integrated(1.5, 0.05, size=n, oversample=1)
    np.testing.assert_allclose(pix, coarse, atol=1e-12)


def test_jwst_default_size_and_speed():
    model = JWSTPSF(broadening_sigma_arcsec=0.05)
    model.kernel(2.0, 0.025)  # warm the pupil and the enclosed-energy table
    t0 = time.perf_counter()
    k = model.kernel(3.21987, 0.025)
    t_new = time.perf_counter() - t0
    t0 = time.perf_counter()
    for _ in range(100):
        k2 = model.kernel(3.21987, 0.025)
    t_hit = (time.perf_counter() - t0) / 100
    assert t_new < 0.5, t_new
    assert t_hit < 1e-3, t_hit
    assert k2 is k and not k.flags.writeable
    assert k.shape[0] % 2 == 1 and k.shape[0] * 0.025 <= model.max_kernel_arcsec + 0.05
    # wavelengths closer than 1e-4 um share the kernel
    assert model.kernel(3.21991, 0.025) is k
    # uncapped, 99.5 % of the light needs a box of +-(50-150) lambda/D (strut and gap diffraction)
    big = JWSTPSF(broadening_sigma_arcsec=0.05, max_kernel_arcsec=60).default_size(1.0, 0.05)
    assert 50 < (big * 0.05 / 2) / lambda_over_d_arcsec(1.0) < 150
    assert model.default_size(1.0, 0.05) == 2 * round(model.max_kernel_arcsec / 0.05 / 2) + 1


# ----------------------------------------------------------------- analytic models
@pytest.mark.parametrize("fwhm,pixscale", [(0.15, 0.005), (0.08, 0.004), (0.3, 0.02)])
def test_gaussian_kernel_fwhm_sum_centroid(fwhm, pixscale):
    k = GaussianPSF(fwhm).kernel(2.0, pixscale)
    assert measure_fwhm(k, pixscale) == pytest.approx(fwhm, rel=0.01)
    assert abs(k.sum() - 1) < 1e-10
    assert k.shape[0] % 2 == 1 and np.unravel_index(np.argmax(k), k.shape) == (k.shape[0] // 2,) * 2
    cy, cx = _centroid(k)
    assert abs(cy) < 1e-9 and abs(cx) < 1e-9
    # default size encloses >= 99.5 % of the analytic flux
    half = k.shape[0] * pixscale / 2
    assert special.erf(half / (math.sqrt(2) * fwhm / FWHM_PER_SIGMA)) ** 2 >= 0.995


def test_gaussian_source_convolved_with_gaussian_psf():
    pixscale, n = 0.01, 161
    s1, s2 = 0.08, 0.05
    source = _gauss_image(s1, pixscale, n)
    psf = GaussianPSF(FWHM_PER_SIGMA * s2).kernel(3.0, pixscale)
    img = signal.fftconvolve(source, psf, mode="same")
    assert img.sum() == pytest.approx(1.0, abs=1e-6)
    expect = math.hypot(s1, s2)
    assert measure_fwhm(img, pixscale) / FWHM_PER_SIGMA == pytest.approx(expect, rel=0.01)
    yy, xx = np.indices(img.shape)
    var = (img * ((xx - (n - 1) / 2) ** 2)).sum() / img.sum() * pixscale**2
    # second moment includes the two fine-pixel integrations (p^2/12 each)
    assert math.sqrt(var - 2 * pixscale**2 / 12) == pytest.approx(expect, rel=0.01)


def test_gaussian_pixel_integrated_equals_block_sum():
    g = GaussianPSF(0.12)
    detector = g.pixel_integrated(2.0, 0.06, size=15, oversample=1)
    fine = g.kernel(2.0, 0.02, size=45).reshape(15, 3, 15, 3).sum(axis=(1, 3))
    np.testing.assert_allclose(detector, fine, atol=1e-14)
    assert measure_fwhm(detector, 0.06) > 0.12  # pixel integration widens


@pytest.mark.parametrize("model", [GaussianPSF(0.12), JWSTPSF(0.0202)], ids=["gaussian", "jwst"])
@pytest.mark.parametrize("oversample", [3, 4])
def test_pixel_integrated_oversampled(model, oversample):
    """Oversampled output = pixel-convolved PSF sampled at p/oversample (what `mocksim psf` writes)."""
    p, n1 = 0.065, 15
    det = model.pixel_integrated(1.5, p, size=n1, oversample=1)
    n = n1 * oversample + (1 - (n1 * oversample) % 2)
    over = model.pixel_integrated(1.5, p, size=n, oversample=oversample)
    assert over.shape == (n, n) and abs(over.sum() - 1) < 1e-10
    c = n // 2
    idx = c + oversample * (np.arange(n1) - n1 // 2)
    # samples on the detector-pixel centres reproduce the detector image (sum ~ oversample^2)
    np.testing.assert_allclose(over[np.ix_(idx, idx)] * oversample**2, det, atol=2e-3 * det.max())
    if isinstance(model, GaussianPSF):  # analytic pixel-convolved Gaussian
        s = 0.12 / FWHM_PER_SIGMA
        x = (np.arange(n) - c) * p / oversample
        prof = special.erf((x + p / 2) / (math.sqrt(2) * s)) - special.erf((x - p / 2) / (math.sqrt(2) * s))
        expect = np.outer(prof, prof)
        np.testing.assert_allclose(over, expect / expect.sum(), atol=1e-12)
    # the pixel-convolved PSF is wider than the PSF; default output is odd and centred
    assert measure_fwhm(over, p / oversample) > model.fwhm_arcsec(1.5)
    d = model.pixel_integrated(1.5, p, oversample=oversample)
    assert d.shape[0] % 2 == 1 and np.unravel_index(np.argmax(d), d.shape) == (d.shape[0] // 2,) * 2


def test_gaussian_fwhm_callable():
    g = GaussianPSF(lambda w: 0.05 * w)
    assert g.fwhm_arcsec(3.0) == pytest.approx(0.15)
    assert measure_fwhm(g.kernel(3.0, 0.005), 0.005) == pytest.approx(0.15, rel=0.01)
    assert measure_fwhm(g.kernel(2.0, 0.005), 0.005) == pytest.approx(0.10, rel=0.01)


@pytest.mark.parametrize("beta", [1.8, 2.5, 4.765])
def test_moffat_fwhm(beta):
    m = MoffatPSF(0.15, beta)
    k = m.kernel(2.0, 0.005)
    assert measure_fwhm(k, 0.005) == pytest.approx(0.15, rel=0.01)
    assert abs(k.sum() - 1) < 1e-10
    assert max(abs(c) for c in _centroid(k)) < 1e-9


def test_nopsf_is_delta():
    k = NoPSF().kernel(2.0, 0.01)
    assert k.shape == (1, 1) and k[0, 0] == 1.0
    k3 = NoPSF().kernel(2.0, 0.01, size=3)
    assert k3[1, 1] == 1.0 and k3.sum() == 1.0
    assert NoPSF().fwhm_arcsec(2.0) == 0.0


@pytest.mark.parametrize("model", [JWSTPSF(0.05), GaussianPSF(0.1), MoffatPSF(0.1, 3.0), NoPSF()],
                         ids=["jwst", "gaussian", "moffat", "none"])
@pytest.mark.parametrize("pixscale", [0.0125, 0.031])
def test_all_kernels_normalised_and_centred(model, pixscale):
    assert isinstance(model, PSFModel)
    for k in (model.kernel(1.8, pixscale), model.kernel(1.8, pixscale, size=41),
              model.pixel_integrated(1.8, 0.1, oversample=3)):
        assert abs(k.sum() - 1) < 1e-10
        assert k.shape[0] == k.shape[1] and k.shape[0] % 2 == 1
        assert k[k.shape[0] // 2, k.shape[1] // 2] == k.max()  # (NoPSF pixel response is flat-topped)
        assert max(abs(c) for c in _centroid(k)) < 1e-6
        assert k.min() >= 0


# ------------------------------------------------------------------------ FITS
def test_fits_roundtrip(tmp_path):
    model = make_psf("jwst", family="nircam")
    k = model.kernel(4.408, 0.005, size=201)
    path = write_psf_fits(k, 0.005, 4.408, tmp_path / "psf.fits", {"model": "jwst", "family": "nircam"})
    from astropy.io import fits

    hdr = fits.getheader(path)
    assert hdr["PIXELSCL"] == 0.005 and hdr["WAVE_UM"] == 4.408
    assert hdr["WAVELEN"] == pytest.approx(4.408e-6) and hdr["FAMILY"] == "nircam"
    fwhm0 = measure_fwhm(k, 0.005)
    assert hdr["FWHM"] == pytest.approx(fwhm0)
    f = FITSPSF(path)
    assert f.fwhm_arcsec(4.408) == pytest.approx(fwhm0, rel=0.02)
    np.testing.assert_allclose(f.kernel(4.408, 0.005, size=201), k, atol=1e-15)
    for scale in (0.0025, 0.01):  # resampled with flux conservation
        kk = f.kernel(4.408, scale)
        assert abs(kk.sum() - 1) < 1e-10
        assert measure_fwhm(kk, scale) == pytest.approx(fwhm0, rel=0.02)
    assert list(tmp_path.glob("*.tmp")) == []


def test_fits_cdelt_scale_and_errors(tmp_path):
    from astropy.io import fits

    img = _gauss_image(0.1 / FWHM_PER_SIGMA, 0.01, 61)
    hdu = fits.PrimaryHDU(img)
    hdu.header["CDELT1"] = -0.01 / 3600
    hdu.header["CDELT2"] = 0.01 / 3600
    hdu.writeto(tmp_path / "cdelt.fits")
    assert FITSPSF(tmp_path / "cdelt.fits").fwhm_arcsec(2.0) == pytest.approx(0.1, rel=0.01)

    fits.PrimaryHDU(img).writeto(tmp_path / "noscale.fits")
    with pytest.raises(MocksimInputError, match="noscale.fits.*pixel scale"):
        FITSPSF(tmp_path / "noscale.fits")
    assert FITSPSF(tmp_path / "noscale.fits", pixscale_arcsec=0.01).fwhm_arcsec(1.0) == pytest.approx(0.1, rel=0.01)

    with pytest.raises(MocksimInputError, match="missing.fits.*does not exist"):
        FITSPSF(tmp_path / "missing.fits")
    with pytest.raises(MocksimInputError, match="missing.fits"):
        make_psf(f"fits:{tmp_path / 'missing.fits'}", family="nircam")
    (tmp_path / "junk.fits").write_bytes(b"not a fits file at all")
    with pytest.raises(MocksimInputError, match="junk.fits"):
        FITSPSF(tmp_path / "junk.fits")


# ------------------------------------------------------------------------ caching
def test_disk_cache_roundtrip(tmp_path, monkeypatch):
    monkeypatch.setenv("MOCKSIM_CACHE_DIR", str(tmp_path))
    model = JWSTPSF(broadening_sigma_arcsec=0.0202, jitter_mas=1.5)
    first = model.kernel(1.7777, 0.02)
    files = list((tmp_path / "psf").glob("*.npy"))
    assert len(files) >= 1 and not list((tmp_path / "psf").glob("*.tmp"))

    clear_memory_cache()
    fresh = JWSTPSF(broadening_sigma_arcsec=0.0202, jitter_mas=1.5)

    def boom(*args, **kwargs):
        raise AssertionError("recomputed instead of loading from disk")

    monkeypatch.setattr(fresh, "_integrated", boom)
    disk_hits = KERNEL_CACHE.disk_hits
    second = fresh.kernel(1.7777, 0.02)
    assert KERNEL_CACHE.disk_hits == disk_hits + 1
    assert second is not first and np.array_equal(second, first)
    # a different parameter is a different key
    assert not np.array_equal(JWSTPSF(broadening_sigma_arcsec=0.03).kernel(1.7777, 0.02, size=first.shape[0]), first)


def test_disk_cache_can_be_disabled_and_survives_corruption(tmp_path, monkeypatch):
    model = JWSTPSF(broadening_sigma_arcsec=0.01)
    model.pupil  # build (and cache) the pupil outside tmp_path
    monkeypatch.setenv("MOCKSIM_CACHE_DIR", str(tmp_path))
    a = model.kernel(2.2222, 0.03, size=31)
    (f,) = (tmp_path / "psf").glob("*.npy")
    f.write_bytes(b"garbage")
    clear_memory_cache()
    b = JWSTPSF(broadening_sigma_arcsec=0.01).kernel(2.2222, 0.03, size=31)
    np.testing.assert_allclose(a, b, rtol=0, atol=1e-15)
    monkeypatch.setenv("MOCKSIM_CACHE_DIR", "off")
    clear_memory_cache()
    JWSTPSF(broadening_sigma_arcsec=0.01).kernel(2.3333, 0.03, size=31)
    assert len(list((tmp_path / "psf").glob("*.npy"))) == 1


def test_disk_cache_pruning(tmp_path, monkeypatch):
    from mocksim.psf.cache import prune_disk_cache

    model = JWSTPSF(broadening_sigma_arcsec=0.02)
    model.pupil  # build (and cache) the pupil outside tmp_path
    monkeypatch.setenv("MOCKSIM_CACHE_DIR", str(tmp_path))
    for w in (1.1, 1.2, 1.3):
        model.kernel(w, 0.05, size=21)
    files = list((tmp_path / "psf").glob("*.npy"))
    assert len(files) == 3
    assert prune_disk_cache(max_bytes=2 * files[0].stat().st_size + 10) == 1
    assert len(list((tmp_path / "psf").glob("*.npy"))) == 2


# ------------------------------------------------------------------------ factory
def test_make_psf_valid_specs(tmp_path):
    assert isinstance(make_psf("jwst", family="nirspec-ifu"), JWSTPSF)
    assert make_psf("jwst", family="nirspec-ifu").broadening_sigma_arcsec == 0.050
    assert make_psf("JWST", family="niriss").broadening_sigma_arcsec == 0.0202
    assert isinstance(make_psf("none", family="nircam"), NoPSF)
    g = make_psf("gaussian:0.15", family="nircam")
    assert isinstance(g, GaussianPSF) and g.fwhm_arcsec(2.0) == 0.15
    m = make_psf("moffat:0.15", family="nircam")
    assert isinstance(m, MoffatPSF) and m.beta == 2.5
    assert make_psf("moffat:0.2:3.5", family="nircam").beta == 3.5
    gj = make_psf("gaussian", family="nirspec-ifu")
    jw = make_psf("jwst", family="nirspec-ifu")
    for w in (1.5, 4.0):
        assert gj.fwhm_arcsec(w) == pytest.approx(jw.fwhm_arcsec(w), rel=1e-12)
        assert measure_fwhm(gj.kernel(w, 0.005), 0.005) == pytest.approx(jw.fwhm_arcsec(w), rel=0.01)
    path = write_psf_fits(GaussianPSF(0.1).kernel(2.0, 0.01), 0.01, 2.0, tmp_path / "g.fits", {})
    assert isinstance(make_psf(f"fits:{path}", family="niriss"), FITSPSF)


@pytest.mark.parametrize("spec", ["foo", "", "gaussian:abc", "gaussian:-1", "gaussian:0", "moffat",
                                  "moffat:0.1:0.5", "moffat:0.1:2:3", "fits:", "jwst:2", "none:1", "gaussian:nan"])
def test_make_psf_bad_specs(spec):
    with pytest.raises(MocksimInputError, match="instrument.psf") as exc:
        make_psf(spec, family="nircam")
    assert "allowed" in str(exc.value)


def test_make_psf_bad_family():
    with pytest.raises(MocksimInputError, match=r"instrument\.psf.*miri.*nirspec-ifu"):
        make_psf("jwst", family="miri")


def test_stpsf_requires_installed_data(monkeypatch, tmp_path):
    monkeypatch.delenv("STPSF_PATH", raising=False)
    with pytest.raises(MocksimInputError, match="STPSF_PATH"):
        make_psf("stpsf", family="nircam")
    monkeypatch.setenv("STPSF_PATH", str(tmp_path / "nowhere"))
    with pytest.raises(MocksimInputError, match="instrument.psf"):
        StpsfPSF("NIRCam", "F444W")


# ------------------------------------------------------------------ misc / inputs
def test_bad_kernel_arguments():
    g = GaussianPSF(0.1)
    for bad in ({"size": 4}, {"size": 0}, {"size": 2.5}):
        with pytest.raises(MocksimInputError, match="size"):
            g.kernel(2.0, 0.01, **bad)
    with pytest.raises(MocksimInputError, match="wave_um"):
        g.kernel(-1.0, 0.01)
    with pytest.raises(MocksimInputError, match="pixscale_arcsec"):
        g.kernel(2.0, float("nan"))
    with pytest.raises(MocksimInputError, match="fwhm_arcsec"):
        GaussianPSF(-0.1)
    with pytest.raises(MocksimInputError, match="beta"):
        MoffatPSF(0.1, beta=1.0)


def test_measure_fwhm_off_centre_and_undersampled():
    s = 0.1 / FWHM_PER_SIGMA
    x = (np.arange(101) - 50.3) * 0.004
    y = (np.arange(101) - 49.6) * 0.004
    img = np.exp(-(x[None, :] ** 2 + y[:, None] ** 2) / (2 * s * s))
    assert measure_fwhm(img, 0.004) == pytest.approx(0.1, rel=0.01)
    coarse = _gauss_image(s, 0.03, 15)  # ~3.3 pixels per FWHM, pixel-integrated
    expect = FWHM_PER_SIGMA * math.sqrt(s * s + 0.03**2 / 12)
    assert measure_fwhm(coarse, 0.03) == pytest.approx(expect, rel=0.05)


def test_pivot_tables():
    for f, lo, hi in (("F277W", 2.7, 2.8), ("F356W", 3.5, 3.6), ("F444W", 4.38, 4.43), ("F115W", 1.1, 1.2),
                      ("F150W", 1.45, 1.55), ("F200W", 1.95, 2.05), ("F090W", 0.88, 0.92)):
        assert lo < NIRCAM_PIVOT_UM[f] < hi
    for f in ("F115W", "F150W", "F200W"):
        assert NIRISS_PIVOT_UM[f] == pytest.approx(NIRCAM_PIVOT_UM[f], rel=0.01)
