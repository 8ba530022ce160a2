"""Binned errors of single-grism (NIRCam) line maps vs Monte Carlo: annuli one map pixel wide
and one wide annulus, with and without PSF matching (noise kernel of the drizzled maps,
``grism_extract._map_noise``). Two-grism (NIRISS) maps keep the scalar large-area factor."""
import dataclasses

import numpy as np
import pytest

from mocksim.galaxy import linear_disk
from mocksim.instruments import NoiseSpec, get_instrument
from mocksim.recovery.analysis import Geometry, extract_maps, line_map_noise, make_bins
from mocksim.recovery.binning import sum_in_bins
from mocksim.recovery.grism_extract import extract_line_maps

LINES = ["Hbeta", "OIII5007"]
CFGS = {"thin": {"binning": "annuli", "r_max_arcsec": 0.4, "annulus_radius": "midpoint"},
        "wide": {"binning": "annuli", "r_max_arcsec": 0.3, "annulus_width_arcsec": 0.3, "annulus_radius": "midpoint"}}


def _pulls(psf_match, n_mc=200):
    inst = get_instrument("nircam-wfss-f356w", psf="jwst", fov_arcsec=1.8, oversample=3)
    gal = linear_disk(6.0, 0.8, 7.8, -0.1, hbeta_flux_cgs=2e-18)
    sc = gal.render(inst.scene_grid(), "sanders24", lines=inst.lines_in_coverage(6.0))
    rng = np.random.default_rng(5)
    obs = inst.observe(sc, NoiseSpec("snr", snr_oiii=50), rng)
    clean = inst.render_noiseless(sc)
    fp = extract_line_maps(dataclasses.replace(obs, data=clean)).footprint
    f_all = {c: {k: [] for k in LINES} for c in CFGS}
    e_all = {c: {k: [] for k in LINES} for c in CFGS}
    for _ in range(n_mc):
        o = dataclasses.replace(obs, data=clean + obs.error * rng.standard_normal(clean.shape))
        lm, mo = extract_maps(o, psf_match=psf_match, line_maps=extract_line_maps(o, footprint=fp))
        for c, cfg in CFGS.items():
            bins = make_bins(mo, lm, cfg, Geometry(center_xy=lm.center_xy))
            f, e = sum_in_bins({k: lm.flux[k] for k in LINES}, {k: lm.flux_err[k] for k in LINES}, bins,
                               noise=line_map_noise(lm, mo))
            for k in LINES:
                f_all[c][k].append(f[k])
                e_all[c][k].append(e[k])
    out = {c: {k: np.std(f_all[c][k], axis=0, ddof=1) / np.mean(e_all[c][k], axis=0) for k in LINES} for c in CFGS}
    return out


@pytest.mark.parametrize("psf_match", [False, True])
def test_nircam_binned_errors_thin_and_wide(psf_match):
    # MC scatter / reported error; 200 draws: standard error ~0.05 per bin, ~0.02 for a line's mean
    r = _pulls(psf_match)
    for k in LINES:
        thin = r["thin"][k][np.isfinite(r["thin"][k])]
        # before (one large-area factor): mean ~0.8, bins down to 0.70
        assert 0.92 < thin.mean() < 1.08, (k, thin)
        assert np.all((thin > 0.82) & (thin < 1.18)), (k, thin)
        # one 0.3" annulus: 1.13 for [OIII] before and after (these draws), within ~1.2
        assert 0.88 < r["wide"][k][0] < 1.2, (k, r["wide"][k])
