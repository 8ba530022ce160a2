"""Tests of mocksim.recovery.binning."""
import numpy as np
import pytest

from mocksim.errors import MocksimInputError
from mocksim.recovery.binning import annular_bins, bin_spectra, measure_geometry, sn_mask, sum_in_bins
from mocksim.recovery.binning import voronoi_bins


def _disk_radius(x, y, x0, y0, q, pa_deg):
    """Independent deprojected radius: PA from +y (North) through East (-x)."""
    pa = np.radians(pa_deg)
    dx, dy = x - x0, y - y0
    u = -dx * np.sin(pa) + dy * np.cos(pa)          # along the major axis
    w = dx * np.cos(pa) + dy * np.sin(pa)           # along the minor axis
    return np.hypot(u, w / q)


def exp_disk(shape, x0, y0, h, q, pa_deg, oversample=5):
    """Pixel-averaged thin exponential disk (scale length h [pixels])."""
    ny, nx = shape
    o = oversample
    y, x = np.mgrid[0:ny * o, 0:nx * o].astype(float)
    x, y = (x + 0.5) / o - 0.5, (y + 0.5) / o - 0.5
    img = np.exp(-_disk_radius(x, y, x0, y0, q, pa_deg) / h)
    return img.reshape(ny, o, nx, o).mean(axis=(1, 3))


def test_circular_annuli_areas():
    pix = 0.1
    b = annular_bins((121, 121), (60.3, 59.6), pix, width_arcsec=0.6, r_max_arcsec=5.4)
    assert b.kind == "annular" and b.n_bins == 9
    np.testing.assert_allclose(b.r_outer - b.r_inner, 0.6)
    area = np.pi * (b.r_outer ** 2 - b.r_inner ** 2) / pix ** 2
    assert np.all(np.abs(b.n_pix / area - 1)[1:] < 0.03)
    assert abs(b.n_pix[0] / area[0] - 1) < 0.1
    np.testing.assert_allclose(b.radius_arcsec, 0.5 * (b.r_inner + b.r_outer))
    assert np.all(b.bin_map[0, :] == -1)            # beyond r_max


def test_elliptical_annuli_deprojected_radius():
    pix, q, pa = 0.05, 0.5, 30.0
    shape, c = (161, 161), (80.0, 80.0)
    b = annular_bins(shape, c, pix, width_arcsec=0.25, n_annuli=12, axis_ratio=q, pa_deg=pa)
    y, x = np.mgrid[0:161, 0:161].astype(float)
    r = _disk_radius(x, y, *c, q, pa) * pix
    inside = r < 12 * 0.25
    np.testing.assert_array_equal(b.bin_map[inside], np.floor(r[inside] / 0.25).astype(int))
    assert np.all(b.bin_map[~inside] == -1)
    # a pixel ~1.06" along the minor axis is at deprojected radius ~2.12" (annulus 8)
    mx, my = np.cos(np.radians(pa)), np.sin(np.radians(pa))
    i, j = int(round(80 + mx * 21.2)), int(round(80 + my * 21.2))
    r_ij = _disk_radius(i, j, *c, q, pa) * pix
    assert abs(r_ij - 2 * 1.06) < 0.08 and b.bin_map[j, i] == 8
    # and ~1.1" along the major axis is at radius ~1.1" (annulus 4)
    i, j = int(round(80 - np.sin(np.radians(pa)) * 22)), int(round(80 + np.cos(np.radians(pa)) * 22))
    assert b.bin_map[j, i] == 4
    area = np.pi * q * (b.r_outer ** 2 - b.r_inner ** 2) / pix ** 2
    assert np.all(np.abs(b.n_pix / area - 1)[2:] < 0.03)


def test_weighted_radius_and_mask():
    img = exp_disk((61, 61), 30, 30, 4.0, 1.0, 0.0)
    mask = np.ones(img.shape, bool)
    mask[:, :30] = False
    b = annular_bins(img.shape, (30, 30), 0.1, width_arcsec=1.0, weights=img, mask=mask)
    assert np.all(b.bin_map[:, :30] == -1)
    assert np.all((b.radius_arcsec > b.r_inner) & (b.radius_arcsec < b.r_outer))
    # flux-weighted radius sits below the mid-point for a declining profile
    assert np.all(b.radius_arcsec < 0.5 * (b.r_inner + b.r_outer))


def test_sum_in_bins_conserves_flux_and_errors():
    rng = np.random.default_rng(0)
    f = rng.normal(1.0, 2.0, (40, 50))
    e = rng.uniform(0.5, 1.5, (40, 50))
    b = annular_bins(f.shape, (24.5, 19.5), 0.1, width_arcsec=0.3)
    sums, errs = sum_in_bins({"a": f, "b": 2 * f}, {"a": e}, b, noise_correlation=1.5)
    assert np.sum(sums["a"]) == pytest.approx(np.sum(f[b.bin_map >= 0]), rel=1e-12)
    np.testing.assert_allclose(sums["b"], 2 * sums["a"], rtol=1e-12)
    assert "b" not in errs
    k = 3
    sel = b.bin_map == k
    assert errs["a"][k] == pytest.approx(1.5 * np.sqrt(np.sum(e[sel] ** 2)), rel=1e-12)
    # binned spectra agree with summed maps
    cube = np.stack([f, 3 * f])
    ecube = np.stack([e, e])
    spec, serr = bin_spectra(cube, ecube, b, noise_correlation=1.5)
    np.testing.assert_allclose(spec[:, 0], sums["a"], rtol=1e-12)
    np.testing.assert_allclose(spec[:, 1], 3 * sums["a"], rtol=1e-12)
    np.testing.assert_allclose(serr[:, 0], errs["a"], rtol=1e-12)


@pytest.mark.parametrize("method", ["vorbin", "accretion"])
def test_voronoi_bins_reach_target(method):
    if method == "vorbin":
        pytest.importorskip("vorbin")
    img = 15.0 * exp_disk((51, 51), 25.3, 24.8, 5.0, 0.6, 40.0)
    noise = np.ones_like(img)
    rng = np.random.default_rng(2)
    sig = img + rng.normal(size=img.shape)
    mask = sn_mask(img, noise, 0.5)                 # pixels with some signal
    target = 12.0
    kw = dict(mask=mask, pixscale_arcsec=0.1, center_xy=(25.3, 24.8), axis_ratio=0.6,
              pa_deg=40.0, method=method)
    b = voronoi_bins(sig, noise, target, **kw)
    assert b.kind == "voronoi" and b.n_bins > 15
    assert np.all(b.bin_map[~mask] == -1) and np.all(b.bin_map[mask] >= 0)
    sums, errs = sum_in_bins({"s": sig}, {"s": noise}, b)
    sn = sums["s"] / errs["s"]
    np.testing.assert_allclose(sn, b.sn, rtol=1e-10)
    assert np.all(sn >= 0.8 * target)
    assert 0.9 < np.median(sn) / target < 1.3       # not over-merged
    assert np.all(np.diff(b.radius_arcsec) >= 0)
    b2 = voronoi_bins(sig, noise, target, **kw)     # deterministic
    np.testing.assert_array_equal(b.bin_map, b2.bin_map)


def test_voronoi_edge_cases():
    s = np.full((5, 5), 1.0)
    n = np.ones((5, 5))
    one = voronoi_bins(s, n, 100.0, pixscale_arcsec=0.1, center_xy=(2, 2))
    assert one.n_bins == 1 and np.all(one.bin_map == 0)
    each = voronoi_bins(10 * s, n, 5.0, pixscale_arcsec=0.1, center_xy=(2, 2))
    assert each.n_bins == 25
    with pytest.raises(MocksimInputError):
        voronoi_bins(s, n, -1.0, pixscale_arcsec=0.1, center_xy=(2, 2))
    # noisy pixel S/N (uniform 0-3, target 8 -> ~14 bins of ~28 pixels): the in-house
    # accretion keeps growing bins through low pixels instead of failing them
    rng = np.random.default_rng(0)
    b = voronoi_bins(rng.uniform(0, 3, (20, 20)), np.ones((20, 20)), 8.0, pixscale_arcsec=0.1,
                     center_xy=(10, 10), method="accretion")
    assert b.n_bins >= 10 and np.all(b.sn >= 0.8 * 8.0)


@pytest.mark.parametrize("q,pa", [(0.45, 35.0), (0.7, 120.0), (0.3, 170.0)])
def test_measure_geometry_exponential_disk(q, pa):
    x0, y0 = 32.4, 29.7
    img = exp_disk((64, 64), x0, y0, 4.0, q, pa)
    rng = np.random.default_rng(2)
    img = img + rng.normal(0, 0.002, img.shape)
    (cx, cy), q_m, pa_m = measure_geometry(img, 0.1)
    assert abs(cx - x0) < 0.1 and abs(cy - y0) < 0.1
    assert abs(q_m - q) < 0.05
    assert abs((pa_m - pa + 90) % 180 - 90) < 3.0
    assert 0 <= pa_m < 180


def _annuli_reference(shape, center, pix, width, r_max, q, pa, weights):
    """annular_bins as written before its geometry was cached (weights as ``np.clip(np.nan_to_num(w), 0, None)``)."""
    from mocksim.recovery.binning import pixel_mean_radius, elliptical_radius_map
    r = elliptical_radius_map(shape, center, pix, q, pa)
    n = max(int(np.floor(r_max / width + 1e-9)), 1)
    edges = width * np.arange(n + 1)
    idx = np.floor(r / width).astype(int)
    idx[(idx >= n) | (r >= edges[-1])] = -1
    counts = np.bincount(idx[idx >= 0], minlength=n)
    keep = np.flatnonzero(counts > 0)
    lut = np.full(n, -1)
    lut[keep] = np.arange(keep.size)
    bin_map = np.where(idx >= 0, lut[np.clip(idx, 0, None)], -1)
    rm = pixel_mean_radius(shape, center, pix, q, pa)
    sel = bin_map >= 0
    i = bin_map[sel]
    w = np.clip(np.nan_to_num(np.asarray(weights, float)[sel]), 0, None)
    sw, swr = np.bincount(i, w, keep.size), np.bincount(i, w * rm[sel], keep.size)
    mean_r = np.bincount(i, rm[sel], keep.size) / np.maximum(np.bincount(i, None, keep.size), 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        radius = np.where(sw > 0, swr / np.where(sw > 0, sw, 1), mean_r)
    return bin_map, edges[:-1][keep], edges[1:][keep], counts[keep], radius


@pytest.mark.parametrize("shape, center, pix, width, r_max, q, pa", [
    ((34, 34), (16.5, 16.5), 0.06, 0.084, 0.42, 1.0, 0.0), ((15, 21), (7.2, 9.9), 0.1, 0.15, 0.9, 0.43, 37.0)])
def test_cached_annuli_equal_the_direct_computation(shape, center, pix, width, r_max, q, pa):
    """The cached geometry of annular_bins (no mask) and the masked path (all pixels) give
    the bins of the direct computation, also with non-finite and negative weights."""
    rng = np.random.default_rng(4)
    w = rng.normal(1.0, 1.0, shape)
    w[0, :3] = [np.nan, np.inf, -np.inf]
    w[shape[0] // 2, shape[1] // 2] = np.inf
    ref = _annuli_reference(shape, center, pix, width, r_max, q, pa, w)
    for mask in (None, np.ones(shape, bool)):
        for rep in range(2):                           # the second call: from the cache
            b = annular_bins(shape, center, pix, width_arcsec=width, r_max_arcsec=r_max, axis_ratio=q,
                             pa_deg=pa, weights=w, mask=mask)
            for got, want in zip((b.bin_map, b.r_inner, b.r_outer, b.n_pix, b.radius_arcsec), ref):
                assert np.array_equal(got, want)
    b = annular_bins(shape, center, pix, width_arcsec=width, r_max_arcsec=r_max, axis_ratio=q, pa_deg=pa)
    assert np.array_equal(b.radius_arcsec, 0.5 * (ref[1] + ref[2]))
    assert not b.bin_map.flags.writeable                  # shared by the galaxies of a run: read-only


def test_sum_in_bins_of_many_maps_equals_each_map_alone():
    """The maps summed in one bincount (bins offset per map) against the per-map sums
    written out, with NaN pixels, maps without errors and per-map noise (two excesses,
    one correlation kernel)."""
    from mocksim.recovery.noise_cov import MapNoise, bin_sum_errors
    rng = np.random.default_rng(8)
    b = annular_bins((17, 17), (8.0, 8.0), 0.1, width_arcsec=0.2)
    maps = {k: rng.normal(size=(17, 17)) for k in "abcd"}
    maps["b"][3:5, 6:9] = np.nan
    errs = {k: rng.uniform(0.5, 1.0, (17, 17)) for k in "abd"}
    errs["d"][8, 8] = np.inf
    kern = np.array([[0.0, 0.2, 0.0], [0.2, 1.0, 0.2], [0.0, 0.2, 0.0]])
    noise = {"a": MapNoise(None, 1.3), "b": MapNoise(None, 1.1), "d": MapNoise(kern, 1.2)}
    sums, es = sum_in_bins(maps, errs, b, noise=noise)
    assert list(sums) == list(maps) and list(es) == list(errs)
    bm = b.bin_map
    sel = bm >= 0
    for k, v in maps.items():
        assert np.array_equal(sums[k], np.bincount(bm[sel], np.where(np.isfinite(v[sel]), v[sel], 0.0), b.n_bins))
        if k in errs:
            e = np.where(np.isfinite(v), errs[k], np.nan)
            assert np.array_equal(es[k], bin_sum_errors(e, bm, b.n_bins, noise[k]))
            if noise[k].kernel is None:
                e2 = np.where(np.isfinite(e[sel]), e[sel] ** 2, 0.0)
                fac = np.where(np.bincount(bm[sel], minlength=b.n_bins) > 1, noise[k].excess, 1.0)
                assert np.array_equal(es[k], np.sqrt(np.bincount(bm[sel], e2, b.n_bins)) * fac)
