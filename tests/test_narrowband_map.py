"""The [OIII]5007 narrow-band image holds the line's flux on the gratings and on the PRISM
(its window is at least 3 LSF sigmas wide), and other lines stay out of its continuum."""
from types import SimpleNamespace

import numpy as np
import pytest
from scipy.special import ndtr

from mocksim.instruments import get_instrument
from mocksim.lines import C_KMS, LINES
from mocksim.recovery.bin_extraction import narrowband_map
from mocksim.recovery.linefit_model import _channel_edges


def _cube(name, z, fluxes, cont=0.0):
    inst = get_instrument(name, psf="none", fov_arcsec=0.6)
    wave = inst.wave_um
    lsf = inst.lsf_sigma_um(wave)
    edges = _channel_edges(wave)
    spec = np.full(wave.size, cont)
    for line, f in fluxes.items():
        mu = LINES[line].observed_um(z)
        s = float(np.interp(mu, wave, lsf))
        spec += f * np.diff(ndtr((edges - mu) / s)) / np.diff(edges)
    data = np.repeat(spec[:, None, None], 4, axis=1).repeat(4, axis=2)
    return SimpleNamespace(wave_um=wave, lsf_sigma_um=lsf, redshift=z, data=data, error=np.full(data.shape, 1e-3))


@pytest.mark.parametrize("name,z", [("nirspec-ifu-prism", 7.0), ("nirspec-ifu-g395m", 6.0)])
def test_narrowband_holds_the_line(name, z):
    """5007 alone: >= 99 % of its flux (the PRISM's fixed 500 km/s window once held ~35 %)."""
    f, _ = narrowband_map(_cube(name, z, {"OIII5007": 1.0}))
    assert f[0, 0] == pytest.approx(1.0, abs=0.01)


def test_neighbouring_line_kept_out_of_the_continuum():
    """PRISM: with [OIII]4959 and a flat continuum, the map is 5007 plus the part of 4959
    inside the window -- the continuum windows skip 4959 (it would be subtracted otherwise)."""
    base = narrowband_map(_cube("nirspec-ifu-prism", 7.0, {"OIII5007": 1.0, "OIII4959": 1 / 2.98}))[0][0, 0]
    with_cont = narrowband_map(_cube("nirspec-ifu-prism", 7.0, {"OIII5007": 1.0, "OIII4959": 1 / 2.98},
                                     cont=0.5))[0][0, 0]
    only_4959 = narrowband_map(_cube("nirspec-ifu-prism", 7.0, {"OIII4959": 1 / 2.98}))[0][0, 0]
    assert 0.0 < only_4959 < 0.5 / 2.98                # its wing inside the window, nothing subtracted
    assert base == pytest.approx(1.0 + only_4959, abs=0.01)
    assert with_cont == pytest.approx(base, abs=1e-3 * base)


def test_narrowband_error_includes_continuum_noise():
    """Pure noise: the error matches the Monte Carlo scatter of the map (omitting the
    subtracted median continuum's noise left it ~20 % too small)."""
    wave = np.arange(3.3, 3.7, 0.0018)
    rng = np.random.default_rng(0)
    data = rng.normal(0.0, 1.0, (wave.size, 1, 4000))
    obs = SimpleNamespace(wave_um=wave, redshift=6.0, lsf_sigma_um=np.full(wave.size, 1.44e-3),
                          data=data, error=np.ones_like(data))
    f, e = narrowband_map(obs, "OIII5007")
    assert np.median(e) == pytest.approx(np.std(f), rel=0.06)
