"""Narrow lines (NIRISS-like, below MIN_FAST_SIGMA): exact profiles, PSF in Fourier space."""
import numpy as np
import pytest
from scipy.special import ndtr

from mocksim.instruments import get_instrument
from mocksim.instruments import grism_narrow
from mocksim.instruments.fftconv import SpectrumCache, crop_kernel
from mocksim.instruments.grism_disperse import MIN_FAST_SIGMA, disperse_line_exact, disperse_line_many
from mocksim.instruments.grism_narrow import disperse_narrow, profile_image
from test_grism_disperse import _full  # noqa: E402  (pieces -> full dispersed image)


def _line(nfine=60, sigma_px=0.05, mu0=60.0, seed=3):
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:nfine, 0:nfine] - (nfine - 1) / 2.0
    f = np.exp(-np.hypot(x, 0.7 * y) / 5.0) * (1.0 + 0.05 * rng.standard_normal(x.shape))
    idx = np.arange(nfine * nfine)
    v = 120.0 * np.tanh(x / 6.0).ravel()
    return idx, f.ravel(), mu0 + v / 3e5 * 1.5 / 0.0047, sigma_px * (1.0 + v / 3e5)


@pytest.fixture(scope="module")
def kern():
    inst = get_instrument("niriss-wfss-f150w", psf="jwst", fov_arcsec=1.2)
    return inst._kernel(1.5, inst.pixscale_arcsec / inst.oversample)


@pytest.mark.parametrize("grism", ["R", "C"])
@pytest.mark.parametrize("mu0", [60.0, 2.0, 117.0])        # middle, and cut by either end of the cutout
def test_narrow_path_equals_reference(kern, grism, mu0):
    nfine, os_, n_disp = 60, 5, 120
    job = _line(nfine, mu0=mu0)
    assert np.all(job[3] * os_ < MIN_FAST_SIGMA)
    ref = _full(disperse_line_exact(*job, nfine, n_disp, os_, kern, grism), 12, n_disp)
    kd = crop_kernel(kern if grism == "R" else kern.T, nfine - 1, kern.shape[0])
    got = _full(disperse_narrow(job, nfine, n_disp, os_, kd, "k", SpectrumCache(), grism), 12, n_disp)
    assert ref.max() > 0
    assert np.max(np.abs(got - ref)) < 1e-13 * ref.max()
    single = _full(disperse_narrow(job, nfine, n_disp, os_, kd, "k", SpectrumCache(), grism, single=True),
                   12, n_disp)
    assert np.max(np.abs(single - ref)) < 1e-6 * ref.max()
    # through the dispatcher (narrow pixels go this way), with a shared cache
    many = disperse_line_many([job, job], nfine, n_disp, os_, kern, grism, "k", SpectrumCache())
    for pieces in many:
        np.testing.assert_array_equal(_full(pieces, 12, n_disp), got)


def test_profiles_conserve_flux_and_match_the_box_gauss_integral():
    """Each pixel's profile sums to its flux; one pixel's column weights are the exact
    integrals of (box * box * Gaussian) over the fine columns."""
    nfine, os_, n_disp = 40, 5, 200
    idx, w, mu, sig = _line(nfine, mu0=100.0)
    img, lo = profile_image(idx, w, mu, sig, nfine, n_disp, os_, 0, "R")
    assert img.sum() == pytest.approx(w.sum(), rel=1e-12)
    np.testing.assert_allclose(img.sum(axis=1), w.reshape(nfine, nfine).sum(axis=1), rtol=1e-12)
    # one pixel at xf = 7.3 fine columns with s = 0.4: brute-force quadrature of H_s over columns
    s, xf = 0.4, 7.3
    one, lo1 = profile_image(np.array([0]), np.array([1.0]), np.array([(xf - 0.0) / os_]),
                             np.array([s / os_]), nfine, n_disp, os_, 0, "R")
    u = np.linspace(-0.5, 0.5, 4001)                   # pixel box x column box, Gaussian exactly
    cols = np.arange(one.shape[1]) + lo1
    expect = [np.trapezoid(ndtr((c + 0.5 - xf - u) / s) - ndtr((c - 0.5 - xf - u) / s), u) for c in cols]
    np.testing.assert_allclose(one[0], expect, atol=1e-7)


def test_psi_tail_cut_is_below_double_precision(monkeypatch):
    for sig in (0.01, 0.05, 0.2, 1.0):
        job = _line(40, sigma_px=sig)
        cut, _ = profile_image(*job, 40, 200, 5, 0, "R")
        monkeypatch.setattr(grism_narrow, "PSI_TAIL", np.inf)
        full, _ = profile_image(*job, 40, 200, 5, 0, "R")
        monkeypatch.undo()
        assert np.max(np.abs(cut - full)) <= 1e-16 * full.max()
