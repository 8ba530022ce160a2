"""The disk draws (``mocksim.galaxy.disk._draw``) equal GalSim's ``drawImage`` to round-off (the
same GalSim steps; only the final inverse FFT is numpy's instead of GalSim's)."""
import warnings

import galsim
import numpy as np
import pytest

from mocksim.errors import MocksimInputError

from mocksim.galaxy import disk
from mocksim.scene import SceneGrid


def _draw_image(prof, grid, off):
    ny, nx = grid.shape
    img = galsim.ImageD(nx, ny, scale=grid.pixscale_arcsec)
    prof.drawImage(image=img, offset=(off[0] / grid.pixscale_arcsec, off[1] / grid.pixscale_arcsec),
                   method="auto")
    return img.array


def _profiles(rng, gsparams):
    re, q, pa = rng.uniform(0.1, 0.5), rng.uniform(0.3, 1.0), rng.uniform(-180, 180)
    for prof in (galsim.Exponential(half_light_radius=re, flux=2e-18, gsparams=gsparams),
                 galsim.Sersic(n=1.5, half_light_radius=re, flux=2e-18, gsparams=gsparams),
                 galsim.Gaussian(fwhm=0.5 * re, flux=3e-19, gsparams=gsparams)):
        yield prof.shear(q=q, beta=(90 + pa) * galsim.degrees).dilate(np.sqrt(q)) if q < 0.95 else prof


@pytest.mark.parametrize("gsparams", [disk.GSPARAMS, galsim.GSParams()])
@pytest.mark.parametrize("n", [45, 96, 50])
def test_draw_equals_draw_image(gsparams, n):
    rng = np.random.default_rng(n)
    for _ in range(6):
        grid = SceneGrid(float(rng.uniform(0.015, 0.04)), (n, n), 3)
        off = tuple(rng.uniform(-0.3, 0.3, 2))
        for prof in _profiles(rng, gsparams):
            ref = _draw_image(prof, grid, off)
            got = disk._draw(prof, grid, off)
            assert got.shape == ref.shape
            # inverse FFTs of two libraries: the same sums in other orders
            assert np.max(np.abs(got - ref)) <= 1e-13 * np.max(np.abs(ref))
            assert abs(got.sum() - ref.sum()) <= 1e-13 * abs(ref.sum())


@pytest.mark.parametrize("big_max", [disk._PIXEL_K_MAX, 300])
def test_pixel_kimage_slices_equal_direct_drawings(monkeypatch, big_max):
    """Sub-grids of the cached unit-pixel k image hold the numbers GalSim draws on each
    k grid itself (growing cache, and grids above the cache limit drawn afresh)."""
    monkeypatch.setattr(disk, "_PIXEL_K_MAX", big_max)
    disk._unit_pixel.cache_clear()                  # start from an empty cache
    gsp = disk.GSPARAMS
    pixel = galsim.Pixel(scale=1.0, gsparams=gsp)
    try:
        for n_fft in (64, 96):
            dk = 2 * np.pi / n_fft
            for nk in list(range(n_fft, 500, 14)) + [260, 120]:
                kim = galsim.ImageCD(galsim.BoundsI(0, nk // 2, -(nk // 2), nk // 2), scale=dk)
                pixel.drawKImage(image=kim, recenter=False)
                assert np.array_equal(disk._unit_pixel_kimage(gsp, dk, nk), kim.array)
    finally:
        disk._unit_pixel.cache_clear()              # no images cached under the patched limit


@pytest.mark.parametrize("nx, ny", [(96, 96), (45, 45), (50, 31)])
def test_centred_image_is_that_of_set_center(nx, ny):
    img = galsim.ImageD(nx, ny, scale=1.0)
    img.setCenter(0, 0)
    assert disk._centred_image(nx, ny).bounds == img.bounds
    assert disk._centred_image(nx, ny).array.shape == (ny, nx)


@pytest.mark.parametrize("n_fft, nx, ny", [(96, 96, 96), (64, 45, 45), (128, 50, 31)])
def test_wrapped_inverse_equals_draw_fft_finish(n_fft, nx, ny):
    """The numpy inverse FFT gives GalSim's ``drawFFT_finish`` image, for a random k
    image twice the FFT size (so that wrapping folds every frequency in)."""
    rng = np.random.default_rng(n_fft + nx)
    nk = 2 * n_fft
    spec = np.fft.fftshift(np.fft.rfft2(rng.normal(size=(nk, nk))), axes=0)   # rows ky = -nk/2 ..
    kim = galsim.ImageCD(galsim.BoundsI(0, nk // 2, -(nk // 2), nk // 2), scale=2 * np.pi / n_fft)
    kim.array[:-1] = spec
    kim.array[-1] = spec[0]                          # ky = +nk/2 is ky = -nk/2
    bounds = disk._centred_image(nx, ny).bounds
    ref = galsim.ImageD(bounds, scale=1.0)
    galsim.Gaussian(sigma=1.0).drawFFT_finish(ref, kim.copy(), n_fft, False)
    got = disk._wrapped_inverse(kim.copy(), n_fft, bounds)
    assert got.shape == (ny, nx)
    assert np.max(np.abs(got - ref.array)) <= 1e-13 * np.max(np.abs(ref.array))


@pytest.mark.parametrize("n,b", [(96, (-48, 47, -48, 47)), (128, (-48, 47, -48, 47)), (96, (-47, 48, -48, 47)),
                                 (64, (0, 63, -10, 30)), (50, (-60, -11, 5, 20))])
def test_centred_blocks_equal_the_wrapped_gather(n, b):
    from mocksim.galaxy.disk import _centred_blocks

    bounds = galsim.BoundsI(*b)
    real = np.random.default_rng(n).standard_normal((n, n))
    rows = np.arange(bounds.ymin, bounds.ymax + 1) % n
    cols = np.arange(bounds.xmin, bounds.xmax + 1) % n
    shape, blocks = _centred_blocks(bounds, n)
    out = np.full(shape, np.nan)
    for dst, src in blocks:
        out[dst] = real[src]
    assert len(blocks) <= 4
    np.testing.assert_array_equal(out, real[rows[:, None], cols[None, :]])


@pytest.mark.parametrize("gsparams", [disk.GSPARAMS, galsim.GSParams()])
def test_make_kimage_sizes_as_galsim(gsparams):
    """The k image and wrap size equal ``Convolve(profile, pixel).drawFFT_makeKImage``'s,
    from round to very compact, strongly inclined profiles (k images up to ~10x the stamp)."""
    rng = np.random.default_rng(7)
    for n in (45, 50, 96):
        img = disk._centred_image(n, n)
        for _ in range(12):
            pix = float(rng.uniform(0.01, 0.05))
            re = float(rng.uniform(0.01, 0.6))
            q = float(rng.uniform(0.1, 1.0))
            for prof in (galsim.Exponential(half_light_radius=re, flux=1.0, gsparams=gsparams),
                         galsim.Sersic(n=2.5, half_light_radius=re, flux=1.0, gsparams=gsparams)):
                prof = prof.shear(q=q, beta=rng.uniform(0, 180) * galsim.degrees).dilate(np.sqrt(q))
                in_pixels = galsim.PixelScale(pix).profileToImage(prof, offset=galsim.PositionD(0.3, -0.2))
                conv = galsim.Convolve(in_pixels, disk._unit_pixel(gsparams)[0], gsparams=gsparams)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", galsim.GalSimFFTSizeWarning)
                    ref, ref_wrap = conv.drawFFT_makeKImage(img)
                if ref.array.shape[0] - 1 > gsparams.maximum_fft_size:     # refused, not allocated
                    with pytest.raises(MocksimInputError, match="maximum_fft_size"):
                        disk._make_kimage(in_pixels, img)
                    continue
                got, wrap = disk._make_kimage(in_pixels, img)
                assert wrap == ref_wrap
                assert got.bounds == ref.bounds and got.scale == ref.scale
                assert got.array.shape == ref.array.shape and got.array.dtype == ref.array.dtype


def test_draw_writes_every_k_value(monkeypatch):
    """The k image starts uninitialised: a buffer full of NaN gives the same image, so
    the draw writes every value it is read for."""
    rng = np.random.default_rng(3)
    grid = SceneGrid(0.021, (96, 96), 3)
    profs = list(_profiles(rng, disk.GSPARAMS))
    ref = [disk._draw(p, grid, (0.05, -0.1)) for p in profs]
    monkeypatch.setattr(disk, "_kimage_buffer",
                        lambda nk: np.full((nk + 1, nk // 2 + 1), np.nan, np.complex128))
    for p, r in zip(profs, ref):
        got = disk._draw(p, grid, (0.05, -0.1))
        assert np.all(np.isfinite(got)) and np.array_equal(got, r)


def test_too_large_k_image_is_refused_before_allocation(monkeypatch):
    """Above ``maximum_fft_size`` the draw raises a MocksimInputError naming the fields
    (GalSim itself would warn and allocate: ~22 GB for the disk below), without allocating."""
    def no_buffer(nk):
        raise AssertionError(f"k image of {nk} allocated")
    monkeypatch.setattr(disk, "_kimage_buffer", no_buffer)
    gsp = galsim.GSParams(minimum_fft_size=64, maximum_fft_size=256)
    prof = galsim.Exponential(half_light_radius=0.02, flux=1.0, gsparams=gsp)
    with pytest.raises(MocksimInputError, match="maximum_fft_size = 256"):
        disk._draw(prof, SceneGrid(0.03, (45, 45), 3), (0.0, 0.0), "clumps[0].fwhm_kpc")
    grid = SceneGrid(0.02, (150, 150), 5)                          # NIRSpec G395M fine grid
    gal = disk.linear_disk(6.0, 0.3, 8.0, 0.0, sersic_n=4.0, inclination_deg=85.0)
    for call in (lambda: gal.check_drawable(grid), lambda: gal.render(grid, "curti20", lines=["Hbeta"])):
        with pytest.raises(MocksimInputError, match="population: sersic_n, re_kpc, inclination_deg"):
            call()


def test_check_drawable_passes_drawable_galaxies():
    from mocksim.galaxy import Clump, Companion
    grid = SceneGrid(0.021, (96, 96), 3)
    gal = disk.linear_disk(6.0, 0.25, 7.8, -0.2, inclination_deg=70.0, sersic_n=2.0,
                           clumps=(Clump(r_kpc=0.5, phi_deg=20.0, fwhm_kpc=0.2, hbeta_fraction=0.1),),
                           companions=(Companion(dx_arcsec=0.3, dy_arcsec=0.1),))
    gal.check_drawable(grid)
    assert np.isfinite(gal.render(grid, "curti20", lines=["Hbeta"]).total_line_flux("Hbeta"))
