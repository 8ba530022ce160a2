"""Lines at a filter edge keep only their in-band flux, also when every line of a
component comes from its own pixel mask (fresh Doppler arrays per line)."""
import numpy as np

from mocksim.instruments import get_instrument
from mocksim.instruments.grism_config import band_fraction
from mocksim.lines import C_KMS, LINES
from mocksim.scene import EmissionScene, SceneComponent


def _scene(inst):
    grid = inst.scene_grid()
    x, y = grid.coords_arcsec()
    vel = 400.0 * np.tanh(x / 0.1)                       # +-400 km/s across the field
    sig = np.full(x.shape, 30.0)
    z = 3.98 / LINES["Halpha"].wave_um - 1.0              # Halpha's systemic wavelength on F356W's red edge
    names = ["Hgamma", "NII6548", "OIII4959", "OII3727", "NII6584", "NeIII3869", "Hbeta", "Hdelta",
             "SII6731", "SII6716", "OIII4363"]
    lines = {nm: np.where(np.hypot(x + 0.3 + 0.01 * (i % 5), y - 0.02 * (i % 3)) < 0.03 + 0.005 * (i % 4),
                          1e-19, 0.0) for i, nm in enumerate(names)}   # small patches, approaching side
    lines["Halpha"] = np.where(np.hypot(x, y) < 0.4, 1e-19, 0.0)      # a disc: both sides of the edge
    return EmissionScene(z, grid, [SceneComponent("c", lines, vel, sig)]), vel, sig, z


def test_band_edge_line_flux_with_masked_lines():
    inst = get_instrument("nircam-wfss-f356w", psf="none", fov_arcsec=1.0, oversample=3)
    scene, vel, sig, z = _scene(inst)
    filt = inst.filters[0]
    expected = 0.0
    for name, flux in scene.components[0].line_flux.items():
        lam = LINES[name].observed_um(z) * (1.0 + vel / C_KMS)
        expected += float((flux * band_fraction(lam, lam * sig / C_KMS, filt.lo_um, filt.hi_um)).sum())
    halpha = float(scene.components[0].line_flux["Halpha"].sum())
    assert expected < 0.6 * halpha                              # about half of Halpha is cut
    for _ in range(3):                                            # whatever the allocation history
        beams, direct, _ = inst.render_components(scene)
        assert abs(beams.sum() * inst.dispersion_um / expected - 1.0) < 1e-5
        assert abs(direct[filt.name].sum() * filt.width_um / expected - 1.0) < 1e-5
