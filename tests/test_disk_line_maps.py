"""The disk's line maps and velocity field equal the plain, checked computation bit for bit:
``hb * line_ratios_to_hbeta(np.clip(log_oh, lo, hi))`` (times the dust transmission),
``u * scale / r`` with 0 where ``r = 0``."""
import warnings

import numpy as np
import pytest

from mocksim.errors import MocksimInputError
from mocksim.galaxy import Clump, Companion, linear_disk
from mocksim.galaxy.disk import _held_at_domain, _line_maps
from mocksim.geometry import disk_coords
from mocksim.lines import LINES
from mocksim.physics.calibrations import get_calibration
from mocksim.physics.dust import transmission
from mocksim.physics.emission import line_ratios_to_hbeta
from mocksim.scene import SceneGrid


def _plain_line_maps(hb, log_oh, av_map, cal, dust_law, lines):
    lo, hi = cal.search_domain
    ratios = line_ratios_to_hbeta(np.clip(log_oh, lo, hi), cal, range_policy="extrapolate", lines=lines)
    out = {}
    for name in lines:
        fl = hb * ratios[name]
        if av_map is not None:
            fl = fl * transmission(dust_law, LINES[name].wave_um, av_map)
        out[name] = fl
    return out


@pytest.mark.parametrize("shift", [0.0, -3.0, 3.0, "both"])
@pytest.mark.parametrize("dust", [False, True])
def test_line_maps_equal_the_clipped_ratios(shift, dust):
    rng = np.random.default_rng(3)
    cal = get_calibration("sanders24")
    lo, hi = cal.search_domain
    hb = rng.random((40, 30))
    log_oh = rng.uniform(lo + 0.01, hi - 0.01, hb.shape)
    if shift == "both":
        log_oh[0, :5] = lo - 1.0
        log_oh[-1, :5] = hi + 1.0
    else:
        log_oh[:10] += shift
    av_map = rng.uniform(0.0, 1.0, hb.shape) if dust else None
    lines = list(LINES)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        got = _line_maps(hb, log_oh, av_map, "sanders24", "smc", lines)
    want = _plain_line_maps(hb, log_oh, av_map, cal, "smc", lines)
    assert got.keys() == want.keys()
    for name in lines:
        assert np.array_equal(got[name], want[name]), name
        assert not np.shares_memory(got[name], hb)
    for a in lines:  # every map its own buffer
        for b in lines:
            assert a == b or not np.shares_memory(got[a], got[b])


def test_held_at_domain_is_clip_and_mask():
    y = np.linspace(6.0, 10.0, 101)
    for lo, hi in ((5.0, 11.0), (7.0, 11.0), (5.0, 9.0), (7.0, 9.0)):
        outside, held = _held_at_domain(y, y.min(), y.max(), lo, hi)
        mask = (y < lo) | (y > hi)
        assert np.array_equal(held, np.clip(y, lo, hi))
        assert (outside is None and not mask.any()) or np.array_equal(outside, mask)


def test_line_maps_warn_clip_inf_and_refuse_nan():
    hb = np.ones((4, 4))
    log_oh = np.full((4, 4), 8.0)
    log_oh[0, 0] = np.inf
    with pytest.warns(UserWarning, match="outside the sanders24 domain"):
        got = _line_maps(hb, log_oh, None, "sanders24", "none", ["OIII5007"])
    assert np.isfinite(got["OIII5007"]).all()
    log_oh[0, 0] = np.nan
    with pytest.raises(MocksimInputError, match="finite"):
        _line_maps(hb, log_oh, None, "sanders24", "none", ["OIII5007"])
    with pytest.raises(MocksimInputError, match="unknown line"):
        _line_maps(hb, np.full((4, 4), 8.0), None, "sanders24", "none", ["OIII9999"])


@pytest.mark.parametrize("shape", [(31, 31), (30, 30)])  # odd: a pixel at the centre (r = 0)
def test_velocity_field_is_the_masked_division(shape):
    grid = SceneGrid(pixscale_arcsec=0.03, shape=shape, oversample=1)
    gal = linear_disk(6.0, 0.5, 8.0, -0.1, inclination_deg=40.0, pa_deg=20.0, v_rot_kms=100.0,
                      clumps=(Clump(r_kpc=0.5, phi_deg=30.0, fwhm_kpc=0.2, hbeta_fraction=0.1),),
                      companions=(Companion(dx_arcsec=0.2, dy_arcsec=0.1, re_kpc=0.3, hbeta_fraction=0.2,
                                            v_rot_kms=50.0),))
    scene = gal.render(grid, "sanders24", lines=["Hbeta", "OIII5007"])
    scale = gal.kpc_per_arcsec
    x, y = grid.coords_arcsec()
    u, v = disk_coords(x, y, gal.pa_deg, gal.axis_ratio)
    r = np.sqrt(u * u + v * v) * scale          # as geometry.norm2 (np.hypot differs by ~1 ulp)
    cosphi = np.divide(u * scale, r, out=np.zeros_like(r), where=r > 0)
    vlos = np.arctan(r / (0.4 * gal.re_kpc)) * (100.0 * (2.0 / np.pi))
    vlos *= np.sin(np.radians(gal.inclination_deg))
    vlos *= cosphi
    assert (r == 0).any() == (shape[0] % 2 == 1)
    assert np.array_equal(scene.components[0].velocity_kms, vlos)
    assert np.array_equal(scene.truth["r_kpc_map"], r)
    assert [c.name for c in scene.components] == ["disk", "clump0", "companion0"]


def test_disk_coords_scalar_and_array_agree():
    x = np.linspace(-1.0, 1.0, 7)[None, :]
    y = np.linspace(-1.0, 1.0, 5)[:, None]
    u, v = disk_coords(x, y, 35.0, 0.6, 0.1, -0.2)
    for i in range(5):
        for j in range(7):
            us, vs = disk_coords(float(x[0, j]), float(y[i, 0]), 35.0, 0.6, 0.1, -0.2)
            assert (us, vs) == (u[i, j], v[i, j])


def test_norm2_is_hypot_to_round_off():
    """``geometry.norm2`` (used for the radius maps) agrees with ``np.hypot``, broadcast
    and for scalars, and keeps exact zeros (the centre pixel)."""
    from mocksim.geometry import norm2

    rng = np.random.default_rng(5)
    u, v = rng.normal(size=(40, 1)) * 3.0, rng.normal(size=(1, 30)) * 0.1
    r = norm2(u, v)
    assert r.shape == (40, 30)
    np.testing.assert_allclose(r, np.hypot(u, v), rtol=5e-16, atol=0)   # ~1 ulp
    assert norm2(3.0, 4.0) == 5.0 and isinstance(norm2(3.0, 4.0), float)
    assert norm2(np.zeros(3), np.zeros(3)).tolist() == [0.0, 0.0, 0.0]
