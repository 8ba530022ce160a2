"""Neighbours (contaminating sources at their own redshift) in slitless renders: their line
takes the PSF of its own observed wavelength, and they do not enter the scene's S/N line."""
import numpy as np
import pytest

from mocksim.errors import MocksimInputError
from mocksim.galaxy import linear_disk
from mocksim.instruments import NoiseSpec, get_instrument
from mocksim.instruments.grism_config import neighbour_components
from mocksim.scene import EmissionScene

HALPHA_NB = {"dx_arcsec": 0.0, "dy_arcsec": 0.0, "fwhm_arcsec": 0.05, "redshift": 1.25, "line": "Halpha",
             "line_flux": 1e-17, "sigma_kms": 50.0}


def test_neighbour_line_does_not_depend_on_target_redshift():
    """A neighbour's Halpha at z = 1.25 (1.48 um, NIRISS F150W) is the same image whatever the
    target's redshift (its PSF was once taken at Halpha x (1 + z_target)), and equals the same
    source rendered as a scene of its own at z = 1.25."""
    inst = get_instrument("niriss-wfss-f150w", psf="jwst", fov_arcsec=2.0, grisms=("R",), neighbours=[HALPHA_NB])
    grid = inst.scene_grid()
    own = get_instrument("niriss-wfss-f150w", psf="jwst", fov_arcsec=2.0, grisms=("R",))
    comp, z_nb = neighbour_components(grid, inst.neighbours)[0]   # the validated table
    ref_beams, ref_direct, _ = own.render_components(EmissionScene(z_nb, grid, [comp]))
    assert ref_beams.max() > 0
    for z_target in (0.5, 2.0, 3.0):
        beams, direct, _ = inst.render_components(EmissionScene(z_target, grid, []))
        np.testing.assert_allclose(beams, ref_beams, rtol=0, atol=1e-12 * ref_beams.max())
        np.testing.assert_allclose(direct["F150W"], ref_direct["F150W"], rtol=0,
                                   atol=1e-12 * ref_direct["F150W"].max())


def _disk_scene(inst, z=6.0):
    gal = linear_disk(z, 0.5, 7.8, -0.2, inclination_deg=40.0, pa_deg=20.0, v_rot_kms=80.0,
                      sigma_kms=60.0, hbeta_flux_cgs=2e-18)
    return gal.render(inst.scene_grid(), "sanders24", lines=["Hbeta", "OIII4959", "OIII5007"])


def test_neighbour_oiii_is_not_the_scene_snr_line():
    """The 'snr' noise is set by the scene's own [OIII]5007: a bright [OIII]5007 neighbour
    (another redshift, its own trace) changes neither the kept S/N line nor sigma, and a
    scene without [OIII]5007 is still refused."""
    nb = [{"dx_arcsec": 0.6, "dy_arcsec": 0.5, "redshift": 6.3, "line": "OIII5007", "line_flux": 3e-17}]
    spec = NoiseSpec.from_dict({"model": "snr", "snr_oiii": 10.0})
    clean = get_instrument("nircam-wfss-f356w", psf="jwst", fov_arcsec=2.0, oversample=3)
    dirty = get_instrument("nircam-wfss-f356w", psf="jwst", fov_arcsec=2.0, oversample=3, neighbours=nb)
    scene = _disk_scene(clean)
    b0, _, k0 = clean.render_components(scene, keep=("OIII5007",))
    b1, _, k1 = dirty.render_components(scene, keep=("OIII5007",))
    assert np.array_equal(k1["OIII5007"], k0["OIII5007"])
    assert b1.sum() > b0.sum() * 1.5                            # the neighbour is in the beams
    s0 = clean.observe(scene, spec, np.random.default_rng(0)).meta["sigma_uniform"]
    s1 = dirty.observe(scene, spec, np.random.default_rng(0)).meta["sigma_uniform"]
    assert s1 == s0
    for c in scene.components:
        c.line_flux.pop("OIII5007")
    with pytest.raises(MocksimInputError, match="snr_oiii"):
        dirty.observe(scene, spec, np.random.default_rng(0))
