"""The grism simulation shortcuts give the same numbers as the direct expressions.

* :func:`mocksim.instruments.grism_render._prepare`: the Doppler factor ``1 + v/c``
  computed once per component and the kept pixels gathered through one index array
  give the dispersion jobs and (through :func:`~mocksim.instruments.grism_render._direct_images`)
  the direct images of the per-line expressions with boolean masks (reference below).
* :meth:`mocksim.instruments.grism.SlitlessGrism._observation`: the noise built in the
  deviate's buffer equals ``beams.copy(); data += error * deviate``.

The jobs' arrays are compared to 1e-14 (the column offsets and line widths are fused
products), everything else for equality (``==``).
"""
from __future__ import annotations

import numpy as np
import pytest

from mocksim.errors import MocksimInputError
from mocksim.galaxy import Clump, Companion, linear_disk
from mocksim.instruments import NoiseSpec, get_instrument
from mocksim.instruments import grism_render
from mocksim.instruments.grism_config import band_fraction
from mocksim.lines import C_KMS, LINES
from mocksim.scene import SceneComponent


def _instrument(**kw):
    return get_instrument("nircam-wfss-f356w", psf="jwst", fov_arcsec=1.0, oversample=3, **kw)


def _scene(inst, partial=True):
    """A W2-like disk with a clump and a companion, plus (``partial``) a component that
    emits from part of the field only (zeros elsewhere) and overlaps the disk."""
    gal = linear_disk(6.0, 0.5, 7.8, -0.2, inclination_deg=50.0, pa_deg=30.0, v_rot_kms=80.0,
                      sigma_kms=60.0, hbeta_flux_cgs=2e-18,
                      clumps=(Clump(r_kpc=0.6, phi_deg=40.0, fwhm_kpc=0.3, hbeta_fraction=0.2),),
                      companions=(Companion(dx_arcsec=0.25, dy_arcsec=-0.1, dv_kms=150.0),))
    lines = [ln for ln in LINES if inst.wave_range_um[0] <= LINES[ln].observed_um(6.0) <= inst.wave_range_um[1]]
    scene = gal.render(inst.scene_grid(), "sanders24", lines=lines)
    if partial:
        x, y = scene.grid.coords_arcsec()
        patch = np.where(np.hypot(x - 0.1, y) < 0.15, 1e-19, 0.0)
        scene.components.append(SceneComponent("patch", {"OIII5007": patch, "Hbeta": 0.3 * patch},
                                               velocity_kms=40.0 * x / 0.1, sigma_kms=np.full(x.shape, 30.0)))
    return scene


def _reference_jobs(inst, scene):
    """``[(line, beam, kernel wavelength, idx, w, mu_off, sig_px)]`` from the per-line
    expressions (line None for a neighbour's, whose kernel is at its own wavelength)."""
    out = []
    for comps, z, own in inst._sources(scene):
        out += _reference_source_jobs(inst, scene, comps, z, own)
    return out


def _reference_source_jobs(inst, scene, comps, z, own):
    names = []
    for c in comps:
        names += [k for k in c.line_flux if k not in names]
    out = []
    for name in names:
        parts = []
        for c in comps:
            if name not in c.line_flux:
                continue
            f = np.asarray(c.line_flux[name], float).ravel()
            v, s = (np.broadcast_to(np.asarray(a, float), scene.grid.shape).ravel()
                    for a in (c.velocity_kms, c.sigma_kms))
            nz = f != 0
            parts.append((np.flatnonzero(nz), f[nz], v[nz], s[nz]))
        idx, flux, v, s = (np.concatenate(a) for a in zip(*parts))
        lam = LINES[name].observed_um(z) * (1.0 + v / C_KMS)
        sig_um = lam * s / C_KMS
        for filt in inst.filters:
            w = flux * band_fraction(lam, sig_um, filt.lo_um, filt.hi_um)
            aw = np.abs(w)
            total = max(float(aw.sum()), 1e-300)
            keep = aw > 1e-8 * total                 # faint pixels dropped within a 3e-5 flux budget
            if aw[~keep].sum() > 3e-5 * total:
                keep = aw > 1e-10 * total
            for bi, (bf, _) in enumerate(inst.beams):
                if bf is filt and keep.any():
                    out.append((name if own else None, bi, LINES[name].observed_um(z), idx[keep], w[keep],
                                inst.column_offset(lam[keep]), sig_um[keep] / inst.dispersion_um))
    return out


@pytest.mark.parametrize("partial", [False, True])
@pytest.mark.parametrize("neighbours", [(), ({"dx_arcsec": 0.3, "dy_arcsec": 0.2, "line": "Halpha",
                                               "redshift": 4.5, "line_flux": 1e-18, "continuum_flam": 1e-19},)])
def test_prepare_jobs_equal_per_line_expressions(partial, neighbours):
    inst = _instrument(neighbours=list(neighbours))
    scene = _scene(inst, partial)
    jobs = []
    prepared = grism_render._prepare(inst, scene, jobs, 0)
    direct = grism_render._direct_images(inst, [scene], [prepared])[0]
    ref = _reference_jobs(inst, scene)
    assert len(jobs) == len(ref) >= 3
    for (g, name, bi, lam, arrays), (rname, rbi, rlam, *rarrays) in zip(jobs, ref):
        assert (g, name, bi, lam) == (0, rname, rbi, rlam)
        for a, b in zip(arrays, rarrays):                # the same values to round-off
            assert a.dtype == b.dtype and a.shape == b.shape, name
            np.testing.assert_allclose(a, b, rtol=1e-14, atol=0, err_msg=name)
    # direct images: the same fine images (bincount of the kept pixels) through the same convolution
    nf = scene.grid.shape[1]
    terms = {f.name: [] for f in inst.filters}
    for name, bi, lam, idx, w, *_ in ref:
        filt = inst.beams[bi][0]
        fine = np.bincount(idx, w / filt.width_um, nf * nf).reshape(nf, nf)
        terms[filt.name].append(inst._direct_term(fine, lam, scene.grid.pixscale_arcsec))
    for f in inst.filters:
        want = grism_render.convolve_sum_block(terms[f.name], inst._spectra, inst.oversample)
        assert np.array_equal(direct[f.name], np.zeros_like(want) + want)


@pytest.mark.parametrize("noise", [{"model": "snr", "snr_oiii": 20.0},
                                   {"model": "exposure", "exposure_s": 3000.0},
                                   {"model": "none"}])
def test_observation_noise_equals_direct_expression(noise):
    inst = _instrument()
    scene = _scene(inst)
    spec = NoiseSpec.from_dict(noise)
    beams, direct, kept = inst.render_components(scene, keep=("OIII5007",))
    obs = inst._observation(scene, spec, np.random.default_rng(7), beams, direct, kept)
    error, derr, _ = inst.noise_sigma(beams, direct, kept["OIII5007"], spec, beams.shape[1])
    rng = np.random.default_rng(7)
    data = beams.copy()
    ddata = {k: v.copy() for k, v in direct.items()}
    if spec.model != "none":
        data += error * rng.standard_normal(data.shape)
        for f in inst.filters:
            ddata[f.name] = direct[f.name] + derr[f.name] * rng.standard_normal(direct[f.name].shape)
    assert np.array_equal(obs.data, data) and np.array_equal(obs.error, error)
    assert obs.data is not beams
    for f in inst.filters:
        assert np.array_equal(obs.extras["direct_images"][f.name], ddata[f.name])
        assert obs.extras["direct_images"][f.name] is not direct[f.name]
    det = np.mean([ddata[f.name] for f in inst.filters], axis=0)
    det_err = np.sqrt(np.sum([derr[f.name] ** 2 for f in inst.filters], axis=0)) / len(inst.filters)
    assert np.array_equal(obs.extras["direct_image"], det) and np.array_equal(obs.extras["direct_error"], det_err)
    assert obs.extras["direct_image"] is not obs.extras["direct_images"][inst.filters[0].name]


def test_single_precision_render_agrees_with_double():
    """The float32 FFTs of observations (``single_precision_fft``, default True) give the
    double-precision beams and direct images to ~1e-7 of their peaks, with total fluxes
    to 1e-6; ``render_noiseless`` (models of fits) is double precision either way."""
    nb = [{"dx_arcsec": 0.3, "dy_arcsec": 0.2, "line": "Halpha", "redshift": 4.5, "line_flux": 1e-18,
           "continuum_flam": 1e-19}]
    inst = _instrument(neighbours=nb)
    assert inst.single_precision_fft
    scene = _scene(inst)
    (b32, d32, k32), = grism_render.render_beams_many(inst, [scene], keep=("OIII5007",))
    (b64, d64, k64), = grism_render.render_beams_many(inst, [scene], keep=("OIII5007",), single=False)
    for a, b in [(b32, b64), (k32["OIII5007"], k64["OIII5007"])] + [(d32[f], d64[f]) for f in d64]:
        assert a.dtype == b.dtype == np.float64
        peak = np.abs(b).max()
        err = np.abs(a - b).max() / peak
        assert 0 < err < 1e-6, err                       # float32 round-off, not double
        assert abs(a.sum() - b.sum()) < 1e-6 * np.abs(b).sum()
    assert np.array_equal(inst.render_noiseless(scene), b64)
    dp = _instrument(neighbours=nb, single_precision_fft=False)
    assert np.array_equal(grism_render.render_beams_many(dp, [_scene(dp)])[0][0],
                          grism_render.render_beams_many(inst, [_scene(inst)], single=False)[0][0])
    with pytest.raises(MocksimInputError, match="single_precision_fft"):
        _instrument(single_precision_fft="false")
