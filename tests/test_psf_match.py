"""PSF homogenisation of line maps (recovery.psf_match)."""
import tomllib
import warnings
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from mocksim.errors import MocksimInputError
from mocksim.lines import get_line
from mocksim.recovery.psf_match import FWHM_TO_SIGMA, match_line_maps, match_maps, matching_kernel_1d

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("var", [0.0, 0.01, 0.04, 0.3, 0.5, 1.7, 6.0])
def test_kernel_moments(var):
    k = matching_kernel_1d(var)
    i = np.arange(k.size) - k.size // 2
    assert k.sum() == pytest.approx(1.0, abs=1e-14)
    assert np.all(k >= 0) and np.allclose(k, k[::-1])
    assert (k * i).sum() == pytest.approx(0.0, abs=1e-14)
    assert (k * i**2).sum() == pytest.approx(var, rel=1e-12, abs=1e-15)


def test_kernel_rejects_bad_variance():
    for bad in (-0.1, np.nan, np.inf):
        with pytest.raises(ValueError, match="variance"):
            matching_kernel_1d(bad)


def _moments(img):
    y, x = np.indices(img.shape)
    tot = img.sum()
    yc, xc = (img * y).sum() / tot, (img * x).sum() / tot
    return tot, ((x - xc) ** 2 * img).sum() / tot, ((y - yc) ** 2 * img).sum() / tot


def test_match_adds_the_kernel_variance_and_conserves_flux():
    y, x = np.indices((61, 61)) - 30.0
    img = np.exp(-0.5 * (x**2 / 2.0**2 + y**2 / 1.3**2)) * 3e-18
    out, _ = match_maps(img, np.full(img.shape, 1e-20), 0.37)
    t0, vx0, vy0 = _moments(img)
    t1, vx1, vy1 = _moments(out)
    assert t1 == pytest.approx(t0, rel=1e-12)
    assert vx1 == pytest.approx(vx0 + 0.37, rel=1e-9) and vy1 == pytest.approx(vy0 + 0.37, rel=1e-9)


def test_matched_gaussians_agree():
    """A sigma = 1.6 px Gaussian matched to 2.0 px equals the 2.0 px Gaussian (to discretisation)."""
    y, x = np.indices((81, 81)) - 40.0

    def g(s):
        return np.exp(-0.5 * (x**2 + y**2) / s**2) / (2 * np.pi * s**2)

    out, _ = match_maps(g(1.6), np.ones(x.shape), 2.0**2 - 1.6**2)
    assert np.max(np.abs(out - g(2.0))) < 0.01 * g(2.0).max()


def test_error_propagation_and_missing_pixels():
    var = 0.8
    k = matching_kernel_1d(var)
    err = np.full((21, 21), 2.0)
    flux = np.zeros((21, 21))
    flux[10, 4] = np.nan
    f, e = match_maps(flux, err, var)
    h = k.size // 2
    assert np.all(np.isnan(f[10 - h:10 + h + 1, 4 - h:4 + h + 1]))
    assert np.isnan(e[10, 4]) and np.isfinite(f[10, 4 + h + 1]) and np.isfinite(f[10 - h - 1, 4])
    # interior pixels: independent errors through the kernel, sigma * sqrt(sum K^2)
    assert e[10, 15] == pytest.approx(2.0 * np.sqrt((k**2).sum()) ** 2, rel=1e-12)
    # Monte Carlo: the scatter of matched noise maps is the propagated error
    rng = np.random.default_rng(3)
    noise = rng.standard_normal((400, 21, 21)) * 2.0
    conv = np.stack([match_maps(n, err, var)[0] for n in noise[:, :, :]])
    assert conv[:, 10, 15].std() == pytest.approx(e[10, 15], rel=0.1)


def test_match_line_maps_degrades_the_sharper_line_only():
    z, pix = 6.0, 0.06
    inst = SimpleNamespace(psf_fwhm_arcsec=lambda w: 0.035 * w)      # FWHM proportional to wavelength
    y, x = np.indices((41, 41)) - 20.0
    img = np.exp(-0.5 * (x**2 + y**2) / 1.5**2)
    lm = SimpleNamespace(flux={"Hbeta": img.copy(), "OIII5007": img.copy()},
                         flux_err={"Hbeta": np.ones_like(img), "OIII5007": np.ones_like(img)}, pixscale_arcsec=pix)
    out = match_line_maps(lm, inst, z, pix)
    assert out.pixscale_arcsec == pix and out is not lm and lm.flux["Hbeta"] is not out.flux["Hbeta"]
    np.testing.assert_array_equal(out.flux["OIII5007"], img)
    s = {ln: 0.035 * get_line(ln).observed_um(z) * FWHM_TO_SIGMA / pix for ln in ("Hbeta", "OIII5007")}
    _, vx0, _ = _moments(img)
    _, vx1, _ = _moments(out.flux["Hbeta"])
    assert vx1 - vx0 == pytest.approx(s["OIII5007"] ** 2 - s["Hbeta"] ** 2, rel=1e-9)
    np.testing.assert_array_equal(lm.flux["Hbeta"], img)          # input untouched
    with pytest.raises(MocksimInputError, match="psf_match"):
        match_line_maps(lm, SimpleNamespace(psf_fwhm_arcsec=lambda w: 0.0), z, pix)


def _grism_flat(psf_match: bool):
    from mocksim.pipeline.galaxy_run import process_galaxy
    from mocksim.pipeline.scenario import scenario_from_dict

    d = tomllib.loads((ROOT / "scenarios" / "calib_nircam_grism_z6.toml").read_text())
    d.pop("grid"), d.pop("calibration")
    d["population"].update(n=1, re_kpc=1.6, gradient_dex_per_kpc=0.0, inclination_deg=0.0)
    d["noise"] = {"model": "none", "snr_oiii": 1000.0}
    d["recovery"]["psf_match"] = psf_match
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = process_galaxy(scenario_from_dict(d), 0, keep_products=True).recovery
    return np.log10(r.binned_flux["OIII5007"] / r.binned_flux["Hbeta"])


def test_psf_match_removes_the_chromatic_ratio_gradient():
    """Flat metallicity through NIRCam F356W (JWST PSF, noise-free): without matching,
    [OIII]/Hbeta rises outwards by ~0.005 dex (Hbeta's PSF is 3 % sharper); matched, by half that."""
    raw, matched = _grism_flat(False), _grism_flat(True)
    assert raw[-1] - raw[0] > 0.004
    # FWHM-based matching leaves the JWST PSF's wings unmatched: half the trend remains
    # (0.0025 dex, i.e. ~0.01 dex of 12+log(O/H) near the R3 turnover)
    assert np.ptp(matched) < 0.5 * np.ptp(raw) and np.ptp(matched) < 0.003


def test_psf_match_option_is_validated():
    from mocksim.pipeline.scenario import scenario_from_dict

    d = tomllib.loads((ROOT / "scenarios" / "calib_nircam_grism_z6.toml").read_text())
    d["recovery"]["psf_match"] = "yes"
    with pytest.raises(MocksimInputError, match="recovery.psf_match: must be true or false"):
        scenario_from_dict(d)
    d = tomllib.loads((ROOT / "scenarios" / "calib_nirspec_g235m_z5.toml").read_text())
    d["recovery"]["psf_match"] = True
    with pytest.raises(MocksimInputError, match="recovery.psf_match.*extraction"):
        scenario_from_dict(d)
