"""NIRSpec IFU instrument: LSF table, rendering, coverage, resampling, FITS I/O."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mocksim.errors import MocksimInputError
from mocksim.instruments import (INSTRUMENT_PRESETS, NoiseSpec, get_instrument, read_cube_fits,
                                 write_cube_fits)
from mocksim.instruments import lsf as lsf_mod
from mocksim.lines import C_KMS, LINES
from mocksim.scene import EmissionScene, SceneComponent

SHARED = Path("/work/shared/data/jwst/nirspec")

try:  # the PSF subpackage is developed in parallel; fall back to a Gaussian in tests only
    from mocksim.psf import make_psf  # noqa: F401
    HAVE_PSF = True
except ImportError:  # pragma: no cover
    HAVE_PSF = False


class _GaussianFallbackPSF:
    """Test-only stand-in for mocksim.psf (circular Gaussian, pixel-integrated)."""

    spec = "gaussian-fallback"

    def __init__(self, fwhm=0.15):
        self.fwhm = fwhm

    def fwhm_arcsec(self, wave_um):
        return self.fwhm

    def kernel(self, wave_um, pixscale_arcsec, size=None):
        from scipy.special import ndtr

        s = self.fwhm / 2.3548
        n = size or 2 * int(np.ceil(5 * s / pixscale_arcsec)) + 1
        e = (np.arange(n + 1) - n / 2) * pixscale_arcsec
        c = np.diff(ndtr(e / s))
        k = np.outer(c, c)
        return k / k.sum()


def jwst_psf():
    return "jwst" if HAVE_PSF else _GaussianFallbackPSF(0.15)


def blob_scene(inst, *, z=6.0, fov=3.0, sigma_arcsec=0.15, flux=1e-17, v_kms=0.0,
               sigma_kms=50.0, offset=(0.0, 0.0), lines=None, point=False, continuum=None):
    """Gaussian (or single-fine-pixel) blob with Hbeta/[OIII] maps and constant velocity."""
    grid = inst.scene_grid(fov)
    x, y = grid.coords_arcsec()
    if point:
        prof = np.zeros(grid.shape)
        j = np.argmin(np.abs(y[:, 0] - offset[1]))
        i = np.argmin(np.abs(x[0] - offset[0]))
        prof[j, i] = 1.0
    else:
        prof = np.exp(-0.5 * ((x - offset[0]) ** 2 + (y - offset[1]) ** 2) / sigma_arcsec ** 2)
        prof /= prof.sum()
    ratios = lines or {"OIII5007": 1.0, "OIII4959": 1 / 2.98, "Hbeta": 0.25}
    comp = SceneComponent("blob", {k: flux * r * prof for k, r in ratios.items()},
                          velocity_kms=np.full(grid.shape, float(v_kms)),
                          sigma_kms=np.full(grid.shape, float(sigma_kms)),
                          continuum=None if continuum is None else continuum * prof)
    return EmissionScene(z, grid, [comp])


def spectrum(obs_or_cube):
    cube = obs_or_cube if isinstance(obs_or_cube, np.ndarray) else obs_or_cube.data
    return cube.sum(axis=(1, 2))


# ------------------------------------------------------------------ presets
def test_presets_and_unknown_name():
    for g in ("prism", "g140m", "g235m", "g395m", "g395h"):
        assert f"nirspec-ifu-{g}" in INSTRUMENT_PRESETS
    with pytest.raises(MocksimInputError, match=r"instrument\.name.*nirspec-ifu-g395m"):
        get_instrument("nirspec-ifu-g999x")
    with pytest.raises(MocksimInputError, match=r"instrument\.bogus"):
        get_instrument("nirspec-ifu-g395m", psf="none", bogus=1)
    with pytest.raises(MocksimInputError, match=r"instrument\.oversample"):
        get_instrument("nirspec-ifu-g395m", psf="none", oversample=4)


@pytest.mark.parametrize("name, step, lo, hi", [
    ("prism", 0.0050, 0.60, 5.30), ("g140m", 0.0006, 0.97, 1.89), ("g235m", 0.0011, 1.66, 3.17),
    ("g395m", 0.0018, 2.87, 5.27), ("g395h", 0.0007, 2.87, 5.27)])
def test_cube_sampling(name, step, lo, hi):
    inst = get_instrument(f"nirspec-ifu-{name}", psf="none")
    assert np.allclose(np.diff(inst.wave_um), step, rtol=1e-9)
    assert inst.wave_range_um[0] == pytest.approx(lo)
    assert inst.wave_range_um[1] == pytest.approx(hi, abs=step)
    assert inst.wave_um[0] == pytest.approx(lo + step / 2)
    assert inst.kind == "ifu" and inst.pixscale_arcsec == 0.1


def test_scene_grid_and_spaxel_centres():
    inst = get_instrument("nirspec-ifu-g395m", psf="none")
    g = inst.scene_grid()
    assert g.shape == (150, 150) and g.oversample == 5
    assert g.pixscale_arcsec == pytest.approx(0.02)
    assert inst.scene_grid(1.5).shape == (75, 75)
    # a point source at the centre of spaxel (row 3, col 7) of a 1.5" cutout stays in it
    x0, y0 = (7 - 7) * 0.1, (3 - 7) * 0.1
    sc = blob_scene(inst, fov=1.5, point=True, offset=(x0, y0))
    img = inst.render_noiseless(sc).sum(axis=0)
    assert img[3, 7] == pytest.approx(img.sum(), rel=1e-12, abs=0)
    with pytest.raises(MocksimInputError, match=r"instrument\.fov_arcsec"):
        inst.scene_grid(0.0)
    for bad in (float("nan"), float("inf"), -float("inf")):  # not a bare ValueError / OverflowError
        with pytest.raises(MocksimInputError, match=r"instrument\.fov_arcsec"):
            inst.scene_grid(bad)
        with pytest.raises(MocksimInputError, match=r"instrument\.fov_arcsec"):
            get_instrument("nirspec-ifu-g395m", psf="none", fov_arcsec=bad)


# ------------------------------------------------------------------ LSF
def test_lsf_table_vs_committed_and_formula():
    tab = lsf_mod.load_resolution_table()
    inst = get_instrument("nirspec-ifu-g395m", psf="none")
    w = tab["g395m"]["wave_um"][50:55]
    fwhm = inst.lsf_sigma_um(w) * 2.0 * np.sqrt(2.0 * np.log(2.0))
    assert np.allclose(w / fwhm, tab["g395m"]["R"][50:55], rtol=1e-12)
    # nominal R ~ 1000 at 4 um for the M gratings, ~2700 for G395H, ~30-300 prism (JDox)
    assert 900 < lsf_mod.resolving_power("g395m", 4.0) < 1300
    assert 2300 < lsf_mod.resolving_power("g395h", 4.0) < 3300
    assert 25 < lsf_mod.resolving_power("prism", 1.2) < 60
    # the in-flight factor sharpens the LSF
    fast = get_instrument("nirspec-ifu-g395m", psf="none", inflight_resolution_factor=1.2)
    assert fast.lsf_sigma_um(4.0) == pytest.approx(inst.lsf_sigma_um(4.0) / 1.2, rel=1e-12)
    with pytest.raises(MocksimInputError, match="inflight_resolution_factor"):
        get_instrument("nirspec-ifu-g395m", psf="none", inflight_resolution_factor=5.0)


@pytest.mark.skipif(not SHARED.is_dir(), reason="STScI reference FITS files not available")
@pytest.mark.parametrize("disp, waves", [
    ("prism", [0.7, 1.2, 2.5, 4.0, 5.2]), ("g140m", [1.0, 1.4, 1.85]),
    ("g235m", [1.7, 2.3, 3.1]), ("g395m", [2.9, 3.5, 4.4, 5.2]), ("g395h", [2.9, 4.0, 5.2])])
def test_lsf_matches_stsci_fits(disp, waves):
    from astropy.table import Table

    t = Table.read(SHARED / f"jwst_nirspec_{disp}_disp.fits")
    r_ref = np.interp(waves, np.asarray(t["WAVELENGTH"]), np.asarray(t["R"]))
    r_tab = lsf_mod.resolving_power(disp, waves)
    assert np.allclose(r_tab, r_ref, rtol=2e-3)
    fwhm = lsf_mod.lsf_fwhm_um(disp, waves)
    assert np.allclose(fwhm, np.asarray(waves) / r_ref, rtol=2e-3)


# ------------------------------------------------------------------ flux
@pytest.mark.parametrize("psf_kind", ["none", "jwst"])
@pytest.mark.parametrize("point", [True, False])
def test_flux_conservation(psf_kind, point):
    psf = "none" if psf_kind == "none" else jwst_psf()
    inst = get_instrument("nirspec-ifu-g395m", psf=psf)
    sc = blob_scene(inst, point=point, sigma_arcsec=0.12, offset=(0.03, -0.05), v_kms=80.0)
    obs = inst.observe(sc)
    total_in = sum(sc.total_line_flux(k) for k in ("OIII5007", "OIII4959", "Hbeta"))
    total_out = obs.data.sum() * inst.dwave_um
    # ratios: pytest.approx's default absolute tolerance (1e-12) would accept any 1e-17 flux
    assert total_out / total_in == pytest.approx(1.0, rel=1e-6, abs=0)
    for name in ("OIII5007", "Hbeta"):  # per line too
        one = inst.render_native(sc, lines=[name]).sum() * inst.dwave_um
        assert one / sc.total_line_flux(name) == pytest.approx(1.0, rel=1e-6, abs=0)
    if psf_kind == "jwst":  # the PSF spreads flux out of the central spaxel
        img = obs.data.sum(axis=0)
        assert img.max() < 0.8 * img.sum()


def test_single_and_double_precision_agree():
    fast = get_instrument("nirspec-ifu-g395m", psf=jwst_psf())
    exact = get_instrument("nirspec-ifu-g395m", psf=jwst_psf(), single_precision_fft=False)
    sc = blob_scene(fast, fov=1.5, sigma_arcsec=0.2, v_kms=50.0)
    a, b = fast.render_noiseless(sc), exact.render_noiseless(sc)
    assert np.max(np.abs(a - b)) < 1e-5 * b.max()
    assert a.sum() == pytest.approx(b.sum(), rel=1e-6, abs=0)


def test_line_outside_coverage_is_dropped_and_continuum_flat():
    inst = get_instrument("nirspec-ifu-g395m", psf="none")
    sc = blob_scene(inst, z=2.0, lines={"OIII5007": 1.0}, continuum=1e-18)  # 1.5 um: not covered
    cube = inst.render_noiseless(sc)
    assert np.allclose(cube.sum(axis=(1, 2)), 1e-18, rtol=1e-9)  # only the flat continuum


# ------------------------------------------------------------ kinematics
@pytest.mark.parametrize("grating, z, v", [("g395m", 6.0, 150.0), ("g140m", 1.3, -220.0),
                                           ("g395h", 5.5, 37.0), ("prism", 6.0, 400.0)])
def test_line_centroid(grating, z, v):
    inst = get_instrument(f"nirspec-ifu-{grating}", psf="none")
    sc = blob_scene(inst, z=z, fov=0.5, v_kms=v, sigma_kms=40.0, lines={"OIII5007": 1.0})
    s = spectrum(inst.render_noiseless(sc))
    cen = np.sum(s * inst.wave_um) / s.sum()
    expect = LINES["OIII5007"].wave_um * (1 + z) * (1 + v / C_KMS)
    assert abs(cen - expect) / inst.dwave_um < 0.05


@pytest.mark.parametrize("grating, z, sig_kms", [("g395m", 6.0, 80.0), ("g140m", 1.3, 120.0),
                                                 ("g395h", 6.0, 30.0)])
def test_line_width(grating, z, sig_kms):
    inst = get_instrument(f"nirspec-ifu-{grating}", psf="none")
    sc = blob_scene(inst, z=z, fov=0.5, sigma_kms=sig_kms, lines={"OIII5007": 1.0})
    s = spectrum(inst.render_noiseless(sc))
    w = inst.wave_um
    cen = np.sum(s * w) / s.sum()
    m2 = np.sum(s * (w - cen) ** 2) / s.sum() - inst.dwave_um ** 2 / 12.0  # Sheppard: bins
    lam = LINES["OIII5007"].wave_um * (1 + z)
    expect = np.hypot(lam * sig_kms / C_KMS, inst.lsf_sigma_um(lam))
    assert np.sqrt(m2) == pytest.approx(expect, rel=0.02)


def test_velocity_gradient_shifts_spaxels():
    inst = get_instrument("nirspec-ifu-g395m", psf="none")
    grid = inst.scene_grid(1.0)
    x, y = grid.coords_arcsec()
    prof = np.exp(-0.5 * (x ** 2 + y ** 2) / 0.2 ** 2)
    comp = SceneComponent("disk", {"OIII5007": 1e-17 * prof / prof.sum()},
                          velocity_kms=500.0 * x, sigma_kms=np.full(grid.shape, 30.0))
    cube = inst.render_noiseless(EmissionScene(6.0, grid, [comp]))
    cen = np.tensordot(inst.wave_um, cube, axes=(0, 0)) / cube.sum(axis=0)
    lam = LINES["OIII5007"].wave_um * 7.0
    xs = (np.arange(10) - 4.5) * 0.1
    assert np.allclose(cen[5], lam * (1 + 500.0 * xs / C_KMS), atol=0.05 * inst.dwave_um)


# ------------------------------------------------------------ coverage
def test_check_lines_message():
    inst = get_instrument("nirspec-ifu-g395m", psf="none")
    inst.check_lines(["OIII5007", "Hbeta"], 6.0)
    with pytest.raises(MocksimInputError) as exc:
        inst.check_lines(["OIII5007", "OII3727"], 6.0, needed_by="recovery")
    msg = str(exc.value)
    for part in ("OII3727", "needed by recovery", "2.609 µm", "z=6.000", "nirspec-ifu-g395m",
                 "2.87–5.27 µm"):
        assert part in msg
    assert inst.lines_in_coverage(6.0, ["OII3727", "Hbeta", "Halpha"]) == ["Hbeta", "Halpha"]


# ------------------------------------------------------------ resampling
def test_resampled_cube_flux_and_noise_correlation():
    nat = get_instrument("nirspec-ifu-g395m", psf="none")
    res = get_instrument("nirspec-ifu-g395m", psf="none", resample_pixscale_arcsec=0.05)
    sc = blob_scene(nat, fov=2.0, sigma_arcsec=0.2)
    cn, cr = nat.render_noiseless(sc), res.render_noiseless(sc)
    assert cr.shape == (cn.shape[0], 40, 40)
    assert cr.sum() == pytest.approx(cn.sum(), rel=1e-10, abs=0)
    obs = res.observe(sc, NoiseSpec("snr", snr_oiii=30.0), rng=np.random.default_rng(3))
    assert obs.pixscale_arcsec == 0.05 and obs.noise_correlation > 1.5
    # empirical: many native noise realisations, resampled, summed over large areas
    rng = np.random.default_rng(11)
    noise = rng.standard_normal((4000, 20, 20))
    out = res.resample(noise)
    err = res.resample_error(np.ones((1, 20, 20)))[0]
    for sl in (np.s_[:, :, :], np.s_[:, 6:34, 6:34]):
        true = out[sl].sum(axis=(1, 2)).std()
        naive = np.sqrt((err[sl[1:]] ** 2).sum())
        assert true / naive == pytest.approx(obs.noise_correlation, rel=0.10)
    # per-pixel errors of the resampled cube equal the scatter of (noisy - noiseless)
    assert out.std(axis=0).mean() == pytest.approx(err.mean(), rel=0.02)
    data = np.stack([res.observe(sc, NoiseSpec("snr", snr_oiii=30.0),
                                 rng=np.random.default_rng(s)).data[600:700] for s in range(30)])
    emp = (data - cr[600:700]).std(axis=0)
    assert np.mean(emp / obs.error[600:700]) == pytest.approx(1.0, abs=0.05)


# ------------------------------------------------------------ FITS
def test_fits_round_trip(tmp_path):
    inst = get_instrument("nirspec-ifu-g235m", psf="none")
    sc = blob_scene(inst, z=3.2, fov=1.0)
    obs = inst.observe(sc, NoiseSpec("snr", snr_oiii=10.0), rng=np.random.default_rng(0))
    path = write_cube_fits(obs, tmp_path / "cube.fits", header_extra={"SEED": 7, "TRUEGRAD": -0.1},
                           ra_deg=150.1, dec_deg=2.2)
    back = read_cube_fits(path)
    assert np.allclose(back.wave_um, obs.wave_um, rtol=0, atol=1e-10)
    assert np.allclose(back.data, obs.data, rtol=1e-6)
    assert np.allclose(back.error, obs.error, rtol=1e-6)
    assert back.pixscale_arcsec == 0.1 and back.redshift == pytest.approx(3.2)
    assert back.header["SEED"] == 7 and back.instrument == "nirspec-ifu-g235m"
    assert back.meta["noise"]["snr_oiii"] == 10.0
    from astropy.io import fits
    from astropy.wcs import WCS

    with fits.open(path) as hd:
        h = hd["SCI"].header
        assert h["BUNIT"] == "erg s-1 cm-2 um-1" and h["CTYPE3"] == "WAVE"
        w = WCS(h)
        ra, dec, lam = w.pixel_to_world_values([0, 9], [0, 9], [0, 100])
        assert lam[1] * 1e6 == pytest.approx(obs.wave_um[100], abs=1e-10)
        assert ra[0] > ra[1]  # +x (columns) points West


# speed is measured in benchmarks/ (python -m benchmarks), not in unit tests



def test_interpolated_profiles_match_exact_render_multi_component():
    """Spectral-basis interpolation (sparse Lagrange weights, shared per-component
    fields) against the direct erf evaluation of every pixel and channel, for a rotating
    disk covering the whole field plus a clump covering part of it (gathered pixels)."""
    kw = dict(psf=jwst_psf(), single_precision_fft=False, svd_rtol=1e-10)
    fast = get_instrument("nirspec-ifu-g395m", **kw)
    exact = get_instrument("nirspec-ifu-g395m", profile_interp=False, **kw)
    grid = fast.scene_grid(1.5)
    x, y = grid.coords_arcsec()
    disk = np.exp(-np.hypot(x, y) / 0.2)
    clump = np.where(np.hypot(x - 0.3, y + 0.2) < 0.15, 1.0, 0.0)
    comps = [SceneComponent("disk", {"OIII5007": 1e-17 * disk / disk.sum(), "Hbeta": 3e-18 * disk / disk.sum()},
                            velocity_kms=300.0 * x, sigma_kms=np.full(grid.shape, 60.0)),
             SceneComponent("clump", {"OIII5007": 2e-18 * clump / clump.sum()},
                            velocity_kms=np.full(grid.shape, -120.0), sigma_kms=np.full(grid.shape, 25.0))]
    sc = EmissionScene(6.0, grid, comps)
    a, b = fast.render_native(sc), exact.render_native(sc)
    assert np.max(np.abs(a - b)) < 1e-8 * b.max()
    # each line alone adds up to the total (linearity; per-component fields shared by lines)
    parts = {"OIII5007": None}
    tot = fast.render_native(sc, parts=parts)
    np.testing.assert_allclose(parts["OIII5007"] + fast.render_native(sc, lines=["Hbeta"]), tot,
                               rtol=0, atol=1e-12 * tot.max())
    # flux conserved up to the PSF light spilling out of the 1.5'' field (~4 % here)
    frac = parts["OIII5007"].sum() * fast.dwave_um / 1.2e-17
    assert 0.9 < frac <= 1.0 + 1e-9


def test_default_render_matches_exact_double_precision():
    """Default renderer (single-precision FFTs, low-rank spectral basis, interpolation
    grid shared by the lines of a component) against the direct double-precision erf
    render of every pixel and channel: < 5e-7 of each line's peak for a rotating disk."""
    fast = get_instrument("nirspec-ifu-g395m", psf=jwst_psf())
    exact = get_instrument("nirspec-ifu-g395m", psf=jwst_psf(), single_precision_fft=False,
                           profile_interp=False, svd_rtol=1e-12)
    grid = fast.scene_grid(1.5)
    x, y = grid.coords_arcsec()
    disk = np.exp(-np.hypot(x, y / 0.7) / 0.15)
    disk /= disk.sum()
    ratios = {"Hgamma": 0.47, "Hbeta": 1.0, "OIII5007": 5.0, "Halpha": 2.86, "NII6584": 0.1}
    comp = SceneComponent("disk", {k: 2e-18 * r * disk for k, r in ratios.items()},
                          velocity_kms=150.0 * np.tanh(x / 0.1), sigma_kms=np.full(grid.shape, 60.0))
    sc = EmissionScene(6.0, grid, [comp])
    parts_f, parts_e = dict.fromkeys(ratios), dict.fromkeys(ratios)
    fast.render_native(sc, parts=parts_f)
    exact.render_native(sc, parts=parts_e)
    for k in ratios:
        peak = parts_e[k].max()
        assert np.max(np.abs(parts_f[k] - parts_e[k])) < 5e-7 * peak, k


def test_wave_range_cuts_the_cube_to_whole_channels():
    """A cut-down cube is the full cube's channel slice: same wavelengths and, for lines
    inside the range, the same noise-free fluxes; lines outside are not rendered."""
    full = get_instrument("nirspec-ifu-g395m", psf="gaussian:0.2", fov_arcsec=1.0)
    cut = get_instrument("nirspec-ifu-g395m", psf="gaussian:0.2", fov_arcsec=1.0, wave_range_um=(3.3, 3.6))
    assert 3.3 <= cut.wave_edges_um[0] < 3.3 + cut.dwave_um and 3.6 - cut.dwave_um < cut.wave_edges_um[-1] <= 3.6
    k0 = int(np.flatnonzero(np.isclose(full.wave_um, cut.wave_um[0], rtol=0, atol=1e-12))[0])
    sl = slice(k0, k0 + cut.wave_um.size)
    np.testing.assert_array_equal(full.wave_um[sl], cut.wave_um)
    lines = {"OIII5007": 1.0, "Hbeta": 0.25, "Halpha": 0.8}          # Halpha (4.59 um) outside
    a = full.render_noiseless(blob_scene(full, fov=1.0, lines=lines))
    b = cut.render_noiseless(blob_scene(cut, fov=1.0, lines=lines))
    assert b.shape == (cut.wave_um.size,) + a.shape[1:]
    np.testing.assert_allclose(b, a[sl], rtol=0, atol=1e-6 * a[sl].max())
    # the slice holds [OIII] + Hbeta, i.e. everything but Halpha's share of the total
    assert b.sum() == pytest.approx(a.sum() * 1.25 / 2.05, rel=1e-3, abs=0)


@pytest.mark.parametrize("bad", [(3.6, 3.3), (2.0, 3.0), (3.3, 3.301), "3.3-3.6", (3.3,)])
def test_wave_range_rejects_bad_values(bad):
    with pytest.raises(MocksimInputError, match="instrument.wave_range_um"):
        get_instrument("nirspec-ifu-g395m", psf="gaussian:0.2", wave_range_um=bad)


@pytest.mark.parametrize("single", [True, False])
@pytest.mark.parametrize("os_", [1, 3, 5, 7])
def test_convolve_blocks_equals_block_sum_of_direct_convolution(single, os_):
    """The PSF convolution with both block sums folded into the spectrum equals
    ``fftconvolve(..., "same")`` followed by the block sum (to single/double round-off)."""
    from scipy.signal import fftconvolve

    from mocksim.instruments.fftconv import block_sum

    inst = get_instrument("nirspec-ifu-g395m", psf="jwst", fov_arcsec=1.5, single_precision_fft=single)
    pix = 0.1 / os_
    kern = inst._kernel(3.5, pix)
    sub = np.random.default_rng(os_).random((3, 8 * os_, 11 * os_))
    got = inst._convolve_blocks(sub, 3.5, pix, os_)
    ref = np.array([block_sum(fftconvolve(s, kern, mode="same"), os_) for s in sub])
    assert got.shape == (3, 8, 11)
    np.testing.assert_allclose(got, ref, rtol=0, atol=(1e-6 if single else 1e-13) * ref.max())


@pytest.mark.parametrize("os_", [1, 3, 5, 7, 9, 11, 13, 15])
def test_fft_len_for_every_allowed_oversample(os_):
    """FFT lengths exist for every odd oversample (7, 11 and 13 divide no 5-smooth number:
    the search used to loop forever) and are the smallest FFT-friendly multiples."""
    from scipy import fft as sfft

    from mocksim.instruments.nirspec_ifu import _fft_len

    for n in (40, 75, 125, 203):
        m = _fft_len(n, os_)
        assert m >= n and m % os_ == 0
        r = os_
        for p in (2, 3, 5):
            while r % p == 0:
                r //= p
        assert sfft.next_fast_len(m // r, real=True) == m // r      # r x a 5-smooth length
        assert m - n < 2 * os_ * max(r, 1) + n // 4                 # not far above n


def test_oversample_7_renders_and_conserves_flux():
    """An IFU at oversample 7 (a prime above 5) renders, with the flux of the scene."""
    inst = get_instrument("nirspec-ifu-g395m", psf=jwst_psf(), fov_arcsec=1.0, oversample=7)
    sc = blob_scene(inst, point=False, sigma_arcsec=0.12, offset=(0.03, -0.05), v_kms=80.0)
    one = inst.render_native(sc, lines=["OIII5007"]).sum() * inst.dwave_um
    assert one / sc.total_line_flux("OIII5007") == pytest.approx(1.0, rel=1e-6, abs=0)


def test_single_precision_fft_must_be_a_boolean():
    with pytest.raises(MocksimInputError, match="single_precision_fft"):
        get_instrument("nirspec-ifu-g395m", psf="none", single_precision_fft="false")
    assert not get_instrument("nirspec-ifu-g395m", psf="none", single_precision_fft=False).single_precision_fft
