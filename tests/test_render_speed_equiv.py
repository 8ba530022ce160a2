"""The disk-render, annulus-radius and S/N-aperture shortcuts equal the direct computations.

Broadcast pixel axes instead of full coordinate grids, cached radius maps, line ratios
for the rendered lines only and in-place arithmetic are pure speed-ups: each result is
compared for bit-for-bit equality with the plain expression it replaces.
"""
from __future__ import annotations

import numpy as np
import pytest

from mocksim.galaxy import Clump, Companion, linear_disk
from mocksim.geometry import deprojected_radius, disk_coords
from mocksim.instruments import line_snr_aperture
from mocksim.instruments.noise import RADIUS_TIE_RTOL
from mocksim.physics import emission
from mocksim.physics.calibrations import CALIBRATION_NAMES, get_calibration
from mocksim.recovery.binning import (_weighted_radius, annular_bins, elliptical_radius_map,
                                      pixel_mean_radius)
from mocksim.scene import SceneGrid

GEOMS = [((34, 34), (16.5, 16.5), 0.06, 1.0, 0.0), ((15, 21), (7.2, 9.9), 0.1, 0.43, 37.0),
         ((9, 40), (-2.0, 30.5), 1.0, 0.9, -120.0), ((1, 7), (0.0, 3.0), 0.03, 0.2, 90.0)]


@pytest.mark.parametrize("shape, center, pix, q, pa", GEOMS)
def test_radius_maps_equal_full_grid_loops(shape, center, pix, q, pa):
    y, x = np.mgrid[0:shape[0], 0:shape[1]].astype(float)
    cx, cy = center
    ref = deprojected_radius((x - cx) * pix, (y - cy) * pix, pa, q)
    assert np.array_equal(elliptical_radius_map(shape, center, pix, q, pa), ref)
    for nsub in (1, 5):
        off = (np.arange(nsub) + 0.5) / nsub - 0.5
        acc = np.zeros(shape)
        for dy in off:
            for dx in off:
                acc += deprojected_radius((x + dx - cx) * pix, (y + dy - cy) * pix, pa, q)
        got = pixel_mean_radius(shape, center, pix, q, pa, nsub)
        assert np.array_equal(got, acc / nsub**2)
        got[:] = -1.0                        # a writable copy: the cached map is untouched
        assert np.array_equal(pixel_mean_radius(shape, center, pix, q, pa, nsub), acc / nsub**2)


def test_annulus_radii_use_the_pixel_mean_radius():
    shape, center, pix, q, pa = GEOMS[1]
    w = np.random.default_rng(3).normal(1.0, 1.0, shape)
    b = annular_bins(shape, center, pix, width_arcsec=0.15, axis_ratio=q, pa_deg=pa, weights=w)
    ref = _weighted_radius(pixel_mean_radius(shape, center, pix, q, pa), b.bin_map, b.n_bins, w)
    assert np.array_equal(b.radius_arcsec, ref)


@pytest.mark.parametrize("n, window", [(1, {}), (6, {}), (4, {"channel_offset": 3, "nwave": 12})])
def test_snr_aperture_equals_full_grid_computation(n, window):
    rng = np.random.default_rng(n)
    cube = np.abs(rng.normal(0.0, 1.0, (n, 13, 17))) * (rng.random((13, 17)) < 0.8)
    dw = rng.uniform(1e-3, 2e-3, window.get("nwave", n))
    ap = line_snr_aperture(cube, dw, 0.1, **window)
    k0 = window.get("channel_offset", 0)
    m = np.tensordot(dw[k0:k0 + n], cube, axes=(0, 0))
    yy, xx = np.mgrid[0:13, 0:17]
    yc, xc = (m * yy).sum() / m.sum(), (m * xx).sum() / m.sum()
    r = np.sqrt((yy - yc) ** 2 + (xx - xc) ** 2) * 0.1     # geometry.norm2
    order = np.argsort(r, axis=None, kind="stable")
    csum = np.cumsum(m.ravel()[order])
    assert ap.centre_pix == (yc, xc)
    assert ap.radius_arcsec == r.ravel()[order][np.searchsorted(csum, 0.9 * m.sum() * (1 - 1e-12))]
    assert np.array_equal(ap.mask, r <= ap.radius_arcsec * (1 + RADIUS_TIE_RTOL) + 1e-12)
    m50 = r <= r.ravel()[order][np.searchsorted(csum, 0.5 * m.sum())] * (1 + RADIUS_TIE_RTOL) + 1e-12
    assert ap.peak_mean_re == cube[np.argmax(cube[:, m50].sum(axis=1))][m50].mean()
    no_peak = line_snr_aperture(cube, dw, 0.1, peak_re=False, **window)  # the rest unchanged
    assert np.isnan(no_peak.peak_mean_re)
    assert np.array_equal(no_peak.mask, ap.mask) and np.array_equal(no_peak.profile_per_um, ap.profile_per_um)
    assert (no_peak.flux_ap, no_peak.flux_total, no_peak.radius_arcsec, no_peak.centre_pix) == \
        (ap.flux_ap, ap.flux_total, ap.radius_arcsec, ap.centre_pix)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_snr_radius_order_equals_the_full_sort(seed):
    """The S/N radii sort only the pixels a histogram says the enclosed fraction needs: the
    radius, mask and half-light mean equal those of sorting every pixel (a compact source
    on a large map, with a faint halo and a few negative pixels, as PSF wings leave)."""
    rng = np.random.default_rng(seed)
    ny, nx = 32, 90
    yy, xx = np.mgrid[0:ny, 0:nx]
    cy, cx = rng.uniform(12, 20), rng.uniform(30, 60)
    img = np.exp(-np.hypot(yy - cy, xx - cx) / rng.uniform(1.0, 3.0)) + 1e-4 * rng.normal(size=(ny, nx))
    cube = img[None]
    ap = line_snr_aperture(cube, 1e-3, 0.063)
    m = 1e-3 * img
    total = m.sum()
    yc, xc = (m * yy).sum() / total, (m * xx).sum() / total
    r = np.sqrt((yy - yc) ** 2 + (xx - xc) ** 2) * 0.063
    order = np.argsort(r, axis=None, kind="stable")
    csum = np.cumsum(m.ravel()[order])
    assert ap.radius_arcsec == r.ravel()[order][np.searchsorted(csum, 0.9 * total * (1 - 1e-12))]
    assert np.array_equal(ap.mask, r <= ap.radius_arcsec * (1 + RADIUS_TIE_RTOL) + 1e-12)
    assert ap.mask.sum() < 0.5 * ap.mask.size                      # the partial sort was used
    m50 = r <= r.ravel()[order][np.searchsorted(csum, 0.5 * total)] * (1 + RADIUS_TIE_RTOL) + 1e-12
    assert ap.peak_mean_re == cube[0][m50].mean()
    for frac in (0.999999, 1.0 + 1e-9):                            # reached late / never: all sorted
        full = line_snr_aperture(cube, 1e-3, 0.063, enclosed_fraction=frac)
        i = min(int(np.searchsorted(csum, frac * total * (1 - 1e-12))), order.size - 1)
        assert full.radius_arcsec == r.ravel()[order][i]


@pytest.mark.parametrize("cal", ["curti20", "sanders24"])
def test_disk_maps_equal_full_grid_computation(cal):
    grid = SceneGrid(0.03, (61, 57), 3)
    gal = linear_disk(6.0, 0.8, 8.4, -0.3, inclination_deg=55.0, pa_deg=123.0, v_rot_kms=150.0,
                      center_offset_arcsec=(0.05, -0.11),
                      clumps=(Clump(r_kpc=0.5, phi_deg=30.0, delta_log_oh=-0.1),),
                      companions=(Companion(dx_arcsec=0.3, dy_arcsec=-0.2, v_rot_kms=50.0),))
    lines = ["Hbeta", "OIII4959", "OIII5007", "OIII4363", "NII6584"]
    scene = gal.render(grid, cal, lines=lines)
    x, y = grid.coords_arcsec()
    u, v = disk_coords(x, y, gal.pa_deg, gal.axis_ratio, *gal.center_offset_arcsec)
    scale = gal.kpc_per_arcsec
    r = np.sqrt(u * u + v * v) * scale                      # geometry.norm2
    assert np.array_equal(scene.truth["r_kpc_map"], r)
    with np.errstate(invalid="ignore", divide="ignore"):
        cosphi = np.where(r > 0, u * scale / np.where(r > 0, r, 1.0), 0.0)
    vcirc = 150.0 * (2.0 / np.pi) * np.arctan(r / (0.4 * 0.8))
    disk = scene.components[0]
    assert np.array_equal(disk.velocity_kms, vcirc * np.sin(np.radians(55.0)) * cosphi)
    c = get_calibration(cal)
    every = emission.line_ratios_to_hbeta(np.clip(scene.truth["log_oh_map"], *c.search_domain), c,
                                          range_policy="extrapolate")   # all lines
    for name in lines:
        assert np.array_equal(disk.line_flux[name], scene.truth["hbeta_intrinsic_map"] * every[name])
    assert [comp.name for comp in scene.components] == ["disk", "clump0", "companion0"]


@pytest.mark.parametrize("cal", CALIBRATION_NAMES)
def test_line_subsets_and_te_helpers_equal_plain_expressions(cal):
    c = get_calibration(cal)
    y = np.random.default_rng(5).uniform(*c.valid_range, (23, 19))
    every = emission.line_ratios_to_hbeta(y, c)
    for name, val in every.items():
        assert np.array_equal(emission.line_ratios_to_hbeta(y, c, lines=[name])[name], val)
    ty, tk = emission._te_table(c)
    u = (y - ty[0]) * (1.0 / (ty[1] - ty[0]))
    i = np.clip(u.astype(np.intp), 0, len(tk) - 2)
    te = tk[i] + (u - i) * (tk[i + 1] - tk[i])
    assert np.array_equal(emission.electron_temperature(y, c), te)
    ref = (1.0 + 1.0 / 2.98) / (7.90 * np.exp(3.29e4 / te) / (1.0 + 4.5e-4 * 300.0 / np.sqrt(te)))
    assert np.array_equal(emission.oiii_4363_5007(te), ref)
    assert emission.oiii_4363_5007(te[0, 0]) == ref[0, 0]
