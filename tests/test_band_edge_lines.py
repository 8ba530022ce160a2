"""Lines centred just beyond a spectrum's band edge: rendered (their wing is in band) and
modelled by the fits (so their wing is not taken for an in-band neighbour's flux)."""
import numpy as np
import pytest
from scipy.special import ndtr

from mocksim.galaxy import linear_disk
from mocksim.instruments import get_instrument
from mocksim.lines import C_KMS, LINES
from mocksim.pipeline.galaxy_run import rendered_lines
from mocksim.recovery.linefit import EDGE_REACH_SIGMA, fit_spectra, modelled_lines
from mocksim.recovery.linefit_model import _channel_edges


def _spectrum(wave, edges, lsf, z, v, sigma, fluxes, cont=0.1):
    out = np.full(wave.size, cont)
    for name, f in fluxes.items():
        mu = LINES[name].observed_um(z) * (1 + v / C_KMS)
        s = np.hypot(mu * sigma / C_KMS, np.interp(mu, wave, lsf))
        out += f * np.diff(ndtr((edges - mu) / s)) / np.diff(edges)
    return out


@pytest.mark.parametrize("beyond_sigma", [0.5, 2.0])
def test_neighbour_wing_beyond_edge_does_not_bias_in_band_line(beyond_sigma):
    """Halpha centred beyond the red edge of G395M, [NII]6548 inside: [NII]6548 keeps its
    flux (it once absorbed Halpha's wing: 0.46 or 0.05 for a true 0.1, with errors ~1e-5);
    Halpha itself is NaN (under half of it is covered)."""
    inst = get_instrument("nirspec-ifu-g395m", psf="none", fov_arcsec=0.6)
    wave = inst.wave_um
    lsf = inst.lsf_sigma_um(wave)
    edges = _channel_edges(wave)
    z = (edges[-1] + beyond_sigma * lsf[-1]) / LINES["Halpha"].wave_um - 1
    assert "Halpha" not in inst.lines_in_coverage(z) and "Halpha" in modelled_lines(wave, z, lsf)
    y = _spectrum(wave, edges, lsf, z, 20.0, 80.0, {"Halpha": 1.0, "NII6584": 0.3, "NII6548": 0.1})
    e = np.full(wave.size, 0.01)
    fit = fit_spectra(wave, y[None], e[None], z, lsf, lines=["Halpha", "NII6584"])
    assert fit.flux["NII6548"][0] == pytest.approx(0.1, abs=5 * fit.flux_err["NII6548"][0] + 1e-3)
    assert np.isnan(fit.flux["Halpha"][0])


def test_lines_just_beyond_the_band_are_rendered_with_their_wing():
    inst = get_instrument("nirspec-ifu-g395m", psf="none", fov_arcsec=0.6)
    hi = inst.wave_range_um[1]
    s = float(inst.lsf_sigma_um(np.array([hi]))[0])
    z = (hi + 2.0 * s) / LINES["Halpha"].wave_um - 1
    assert "Halpha" in rendered_lines(inst, z)
    z_far = (hi + (EDGE_REACH_SIGMA + 1) * s) / LINES["Halpha"].wave_um - 1
    assert "Halpha" not in rendered_lines(inst, z_far)
    gal = linear_disk(z, 1.0, 8.5, 0.0, sigma_kms=1.0, hbeta_flux_cgs=1e-17)
    scene = gal.render(inst.scene_grid(), "curti20", lines=["Halpha"])
    cube = inst.render_noiseless(scene)
    got = float(np.sum(cube.sum(axis=(1, 2)) * np.diff(_channel_edges(inst.wave_um))))
    want = scene.total_line_flux("Halpha") * ndtr(-2.0)          # the wing inside the band
    assert got == pytest.approx(want, rel=0.02)
