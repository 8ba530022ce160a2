"""Generator physics: flux conservation, geometry, metallicity and velocity fields."""
import numpy as np
import pytest

from mocksim.cosmology import kpc_per_arcsec, luminosity_distance_cm
from mocksim.errors import MocksimInputError
from mocksim.galaxy import Clump, Companion, DiskGalaxy, LinearProfile, linear_disk
from mocksim.geometry import deprojected_radius
from mocksim.lines import CASE_B_TO_HBETA, LINES
from mocksim.physics.calibrations import get_calibration
from mocksim.scene import SceneGrid

GRID = SceneGrid(pixscale_arcsec=0.02, shape=(301, 301), oversample=5)


def test_total_flux_conserved_to_0p1_percent():
    gal = linear_disk(6.0, 0.5, 8.2, -0.2, hbeta_flux_cgs=3e-17, inclination_deg=50, pa_deg=30)
    scene = gal.render(GRID, "curti20", lines=["Hbeta"])
    assert scene.total_line_flux("Hbeta") == pytest.approx(3e-17, rel=1e-3, abs=0)


@pytest.mark.parametrize("n", [1.0, 2.5])
def test_half_light_radius_along_major_axis(n):
    re_kpc, incl, pa = 1.0, 60.0, 40.0
    gal = linear_disk(6.0, re_kpc, 8.2, 0.0, sersic_n=n, inclination_deg=incl, pa_deg=pa)
    scene = gal.render(GRID, "curti20", lines=["Hbeta"])
    hb = scene.components[0].line_flux["Hbeta"]
    x, y = GRID.coords_arcsec()
    r = deprojected_radius(x, y, pa, np.cos(np.radians(incl)))
    re_arcsec = re_kpc / kpc_per_arcsec(6.0)
    inside = hb[r < re_arcsec].sum() / hb.sum()
    assert inside == pytest.approx(0.5, abs=0.01)


def test_metallicity_and_line_ratio_maps_follow_profile():
    gal = linear_disk(6.0, 1.5, 8.3, -0.15, inclination_deg=45, pa_deg=-20)
    scene = gal.render(GRID, "curti20", lines=["Hbeta", "OIII5007", "Halpha"])
    truth = scene.truth
    np.testing.assert_allclose(truth["log_oh_map"], 8.3 - 0.15 * truth["r_kpc_map"], atol=1e-12)
    comp = scene.components[0]
    cal = get_calibration("curti20")
    lo, hi = cal.valid_range
    good = (truth["log_oh_map"] >= lo) & (truth["log_oh_map"] <= hi)
    assert good.sum() > 1000
    r3 = np.log10(comp.line_flux["OIII5007"][good] / comp.line_flux["Hbeta"][good])
    np.testing.assert_allclose(r3, cal.log_ratio("R3", truth["log_oh_map"][good]), atol=1e-10)
    ha = comp.line_flux["Halpha"][good] / comp.line_flux["Hbeta"][good]
    np.testing.assert_allclose(ha, CASE_B_TO_HBETA["Halpha"], rtol=1e-12)


def test_dust_reddens_balmer_decrement():
    from mocksim.physics.dust import k_lambda

    gal = linear_disk(6.0, 1.0, 8.0, 0.0, av=1.0, dust_law="calzetti")
    scene = gal.render(GRID, "curti20", lines=["Hbeta", "Halpha"])
    c = scene.components[0]
    ratio = c.line_flux["Halpha"].sum() / c.line_flux["Hbeta"].sum()
    ebv = 1.0 / 4.05
    k_hb = k_lambda("calzetti", LINES["Hbeta"].wave_um)
    k_ha = k_lambda("calzetti", LINES["Halpha"].wave_um)
    assert ratio == pytest.approx(2.86 * 10 ** (-0.4 * ebv * (k_ha - k_hb)), rel=1e-6)


def test_rotation_field_sign_and_amplitude():
    incl, pa, vrot = 60.0, 0.0, 200.0
    gal = linear_disk(6.0, 1.0, 8.0, 0.0, inclination_deg=incl, pa_deg=pa, v_rot_kms=vrot, r_turn_kpc=0.05)
    scene = gal.render(GRID, "curti20", lines=["Hbeta"])
    v = scene.components[0].velocity_kms
    ny, nx = GRID.shape
    # PA = 0: major axis along +y (North); far out along +y the disk recedes at ~v sin i
    far = v[ny - 5, nx // 2]
    assert far == pytest.approx(vrot * np.sin(np.radians(incl)), rel=0.03)
    assert v[4, nx // 2] == pytest.approx(-far, rel=1e-9)
    assert abs(v[ny // 2, 5]) < 1e-6  # minor axis has no rotation signal


def test_sfr_normalisation_uses_seed000_eq_c2():
    gal = linear_disk(6.0, 1.0, 8.0, 0.0, sfr_msun_yr=10.0)
    lum = gal.total_hbeta_flux * 4 * np.pi * luminosity_distance_cm(6.0) ** 2
    assert 13.16e-42 * lum == pytest.approx(10.0, rel=1e-10)


def test_clump_and_companion_add_flux_with_own_metallicity():
    gal = DiskGalaxy(redshift=6.0, re_kpc=1.0, profile=LinearProfile(8.0, -0.1), hbeta_flux_cgs=1e-17,
                     clumps=(Clump(r_kpc=1.0, phi_deg=90, fwhm_kpc=0.3, hbeta_fraction=0.2, log_oh=7.6),),
                     companions=(Companion(dx_arcsec=1.0, dy_arcsec=0.5, dv_kms=300, re_kpc=0.4,
                                           hbeta_fraction=0.5, log_oh_center=7.5),))
    scene = gal.render(GRID, "curti20", lines=["Hbeta", "OIII5007"])
    assert [c.name for c in scene.components] == ["disk", "clump0", "companion0"]
    assert scene.total_line_flux("Hbeta") == pytest.approx(1.7e-17, rel=2e-3, abs=0)
    comp = scene.components[2]
    x, y = GRID.coords_arcsec()
    w = comp.line_flux["Hbeta"]
    assert (w * x).sum() / w.sum() == pytest.approx(1.0, abs=0.01)
    assert (w * y).sum() / w.sum() == pytest.approx(0.5, abs=0.01)
    assert np.all(comp.velocity_kms == 300)
    clump = scene.components[1]
    cal = get_calibration("curti20")
    r3 = clump.line_flux["OIII5007"].sum() / clump.line_flux["Hbeta"].sum()
    assert np.log10(r3) == pytest.approx(float(cal.log_ratio("R3", 7.6)), abs=1e-10)


@pytest.mark.parametrize("kw, key", [
    (dict(re_kpc=-1.0), "re_kpc"),
    (dict(inclination_deg=95.0), "inclination_deg"),
    (dict(sersic_n=9.0), "sersic_n"),
    (dict(dust_law="mw"), "dust_law"),
])
def test_bad_parameters_name_the_key(kw, key):
    base = dict(redshift=6.0, re_kpc=1.0, profile=LinearProfile(8.0, 0.0))
    base.update(kw)
    with pytest.raises(MocksimInputError, match=key):
        DiskGalaxy(**base)


def test_function_profile_holds_outer_value_where_the_model_is_undefined():
    from mocksim.galaxy import FunctionProfile

    prof = FunctionProfile(lambda r: np.where(r < 2.0, 8.0 - 0.1 * r, np.nan))
    r = np.array([[0.0, 1.0, 1.9], [2.0, 5.0, 1.5]])
    np.testing.assert_allclose(prof(r), [[8.0, 7.9, 7.81], [7.81, 7.81, 7.85]])
    assert np.isnan(FunctionProfile(lambda r: np.full_like(r, np.nan))(r)).all()  # nothing to hold


def test_ffb_profile_galaxy_renders_beyond_the_virial_radius():
    """FFB with f_out = 1 has no gas beyond R_vir (Z = 0/0); an inclined disk on the
    default 3" IFU grid reaches there and used to raise "12+log(O/H) must be finite"."""
    from analytic_models import FFBModel
    from mocksim.galaxy import FunctionProfile

    model = FFBModel(z=8.0, eps=0.1, re_kpc=0.36, f_out=1.0)
    gal = DiskGalaxy(redshift=8.0, re_kpc=0.36, profile=FunctionProfile(model.profile, "ffb"),
                     inclination_deg=75.0, pa_deg=20.0)
    grid = SceneGrid(pixscale_arcsec=0.02, shape=(150, 150), oversample=5)
    scene = gal.render(grid, get_calibration("sanders24", extrapolate_dex=1.0), lines=["Hbeta", "OIII5007"])
    z, r = scene.truth["log_oh_map"], scene.truth["r_kpc_map"]
    assert r.max() > model.r_vir and np.isfinite(z).all()
    inside = r < 0.9 * model.r_vir
    np.testing.assert_allclose(z[inside], model.profile(r[inside]))
    assert scene.total_line_flux("Hbeta") == pytest.approx(1e-17, rel=1e-3)


def test_ffb_eps_of_one_accepted_by_the_scenario_is_an_input_error():
    """``population.ffb_eps`` is validated in (0, 1] but FFBModel needs eps < 1: its
    ValueError escaped the pipeline as a traceback instead of an input error."""
    from mocksim.pipeline.build import build_profile
    from mocksim.pipeline.scenario import scenario_from_dict

    scn = scenario_from_dict({"name": "t", "population": {"profile": "ffb", "ffb_eps": 1.0, "redshift": 8.0},
                              "instrument": {"name": "nirspec-ifu-g395m", "psf": "none"}})
    with pytest.raises(MocksimInputError, match="ffb"):
        build_profile(scn, scn.draw_galaxy(0))


@pytest.mark.parametrize("cls, kw, key", [
    (Companion, dict(dx_arcsec=float("nan"), dy_arcsec=0.3), "dx_arcsec"),
    (Companion, dict(dx_arcsec=0.5, dy_arcsec=0.3, dv_kms=float("nan")), "dv_kms"),
    (Companion, dict(dx_arcsec=0.5, dy_arcsec=0.3, v_rot_kms=float("inf")), "v_rot_kms"),
    (Companion, dict(dx_arcsec=0.5, dy_arcsec=0.3, sigma_kms=-50.0), "sigma_kms"),
    (Companion, dict(dx_arcsec=0.5, dy_arcsec=0.3, pa_deg=float("nan")), "pa_deg"),
    (Companion, dict(dx_arcsec=0.5, dy_arcsec=0.3, gradient_dex_per_kpc=float("nan")), "gradient_dex_per_kpc"),
    (Clump, dict(r_kpc=0.5, phi_deg=float("nan")), "phi_deg"),
    (Clump, dict(r_kpc=0.5, phi_deg=0.0, delta_log_oh=float("nan")), "delta_log_oh"),
])
def test_substructure_parameters_are_validated(cls, kw, key):
    """TOML accepts nan/inf: a NaN companion dv_kms gave NaN velocities and NaN cube voxels
    silently, a NaN offset or azimuth a bare ValueError from the drawing."""
    with pytest.raises(MocksimInputError, match=key):
        cls(**kw)
