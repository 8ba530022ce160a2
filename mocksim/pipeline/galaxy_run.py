"""Simulate and recover one galaxy of a scenario (the unit of parallel work)."""
from __future__ import annotations

import warnings
from dataclasses import dataclass, replace

import numpy as np

from ..galaxy import LinearProfile
from ..geometry import axis_ratio_from_inclination
from ..instruments.noise import noise_generator
from ..lines import LINES
from ..recovery.analysis import Geometry, analyse, line_extractor
from ..recovery.forward import forward_fit
from ..recovery.linefit import EDGE_REACH_SIGMA
from .build import build_galaxy, build_instrument, build_noise, build_profile


@dataclass
class GalaxyOutput:
    """Truth, recovery and (optionally) the products of one galaxy."""

    index: int
    params: dict
    derived: dict
    recovery: object
    obs: object | None = None
    scene: object | None = None


def _streams(scn, index):
    """Noise and fit generators of galaxy ``index``: from the two children of
    ``SeedSequence(scn.seed, spawn_key=(index,))``, made directly (``spawn(2)`` gives the
    sequences of spawn keys ``(index, 0)`` and ``(index, 1)``, same entropy and pool)."""
    noise_ss, fit_ss = (np.random.SeedSequence(scn.seed, spawn_key=(index, k)) for k in (0, 1))
    return noise_generator(noise_ss), np.random.default_rng(fit_ss)


def truth_geometry(obs, galaxy) -> Geometry:
    """Geometry an observer would take from imaging (centre, b/a, PA, Re)."""
    ny, nx = obs.shape
    dx, dy = galaxy.center_offset_arcsec
    pix = obs.pixscale_arcsec
    center = ((nx - 1) / 2.0 + dx / pix, (ny - 1) / 2.0 + dy / pix)
    return Geometry(center_xy=center, axis_ratio=galaxy.axis_ratio, pa_deg=galaxy.pa_deg,
                    re_arcsec=galaxy.re_kpc / galaxy.kpc_per_arcsec, source="truth")


@dataclass
class _Simulated:
    """A galaxy drawn, rendered and observed (input of the analysis)."""

    index: int
    params: dict
    inst: object
    galaxy: object
    calib: object
    lines: list
    grid: object
    scene: object
    obs: object
    fit_rng: object
    hbeta_total: float | None = None   # set when the scene is dropped early

    def geometry(self):
        return lambda map_obs: truth_geometry(map_obs, self.galaxy)


def _simulate(scn, index: int) -> _Simulated:
    sim, noise, noise_rng = _scene(scn, index)
    sim.obs = sim.inst.observe(sim.scene, noise, noise_rng)
    return sim


#: Working memory [bytes] of the scenes waiting in one ``observe_many`` call
#: (``batch_nbytes``): a chunk of 64 z = 6 NIRCam F356W galaxies (~1.1 MB each) is
#: one call, NIRISS galaxies (six beams, 14 lines: ~30 MB each) go three at a time.
OBSERVE_BATCH_BYTES = 128 * 2**20


def _simulate_groups(scn, indices):
    """:func:`_simulate` of several galaxies, yielded in order as lists. A run of
    galaxies whose instrument has ``observe_many`` (slitless grisms: small observations)
    is observed in one call, up to :data:`OBSERVE_BATCH_BYTES` of working memory, and
    yielded as one list (bit-identical); other instruments (IFU cubes) come one galaxy
    per list, so the caller can reduce and free each cube before the next is made."""
    run, held = [], 0
    for i in indices:
        sim, noise, rng = _scene(scn, i)
        many = hasattr(sim.inst, "observe_many")
        size = sim.inst.batch_nbytes(sim.scene) if many else 0
        if run and (not many or run[0][0].inst is not sim.inst or held + size > OBSERVE_BATCH_BYTES):
            yield _observe_run(run)
            run, held = [], 0
        if many:
            run.append((sim, noise, rng))
            held += size
        else:
            sim.obs = sim.inst.observe(sim.scene, noise, rng)
            yield [sim]
    if run:
        yield _observe_run(run)


def _observe_run(run):
    """``[(sim, noise, rng)]`` of one instrument observed in one ``observe_many`` call."""
    obs = run[0][0].inst.observe_many(*zip(*[(sim.scene, noise, rng) for sim, noise, rng in run]))
    for (sim, _, _), o in zip(run, obs):
        sim.obs = o
    return [sim for sim, _, _ in run]


def rendered_lines(inst, redshift: float) -> list:
    """Lines rendered for ``inst`` at ``redshift``: those inside its wavelength range and
    those within ``EDGE_REACH_SIGMA`` LSF sigmas beyond it, whose wings reach into it
    (the lines the fits model, :func:`mocksim.recovery.linefit.modelled_lines`)."""
    lo, hi = inst.wave_range_um
    r_lo, r_hi = (EDGE_REACH_SIGMA * float(s) for s in inst.lsf_sigma_um(np.array([lo, hi])))
    return [ln for ln in LINES if lo - r_lo <= LINES[ln].observed_um(redshift) <= hi + r_hi]


def _scene(scn, index: int):
    """Galaxy ``index`` drawn and rendered: ``(_Simulated without obs, NoiseSpec, noise rng)``."""
    params = scn.draw_galaxy(index)
    inst = build_instrument(scn, index)
    noise = build_noise(scn, index, params)
    profile, z0, grad = build_profile(scn, params)
    if scn.profile != "linear":  # record the model's intrinsic values as the truth
        params = dict(params, log_oh_center=z0, gradient_dex_per_kpc=grad)
    galaxy = build_galaxy(scn, params, profile)
    calib = scn.recovery["calibration"]
    if scn.recovery.get("extrapolate_dex") is not None:  # explicit extrapolation of the generator ratios
        from ..physics.calibrations import get_calibration

        calib = get_calibration(calib, extrapolate_dex=scn.recovery["extrapolate_dex"])
    lines = rendered_lines(inst, galaxy.redshift)
    grid = inst.scene_grid()
    scene = galaxy.render(grid, calib, lines=lines)
    noise_rng, fit_rng = _streams(scn, index)
    return _Simulated(index, params, inst, galaxy, calib, lines, grid, scene, None, fit_rng), noise, noise_rng


def process_galaxy(scn, index: int, keep_products: bool = False) -> GalaxyOutput:
    """Draw, render, observe and analyse galaxy ``index`` of scenario ``scn``."""
    sim = _simulate(scn, index)
    rec = analyse(sim.obs, scn.recovery, sim.geometry(), rng=sim.fit_rng, cosmology=scn.cosmology)
    return _finish(scn, sim, rec, keep_products)


def process_galaxies(scn, indices, keep_products: bool | list = False) -> list:
    """:func:`process_galaxy` of several galaxies, with the recovery batched across them
    when the configuration allows (:func:`mocksim.recovery.batch.batchable`: grid
    metallicity and linear gradient, from line maps or annulus spectra; the grism line
    maps of a chunk are extracted together, bit-identically). Results equal the
    one-by-one ones to round-off; the random streams are per galaxy either way.

    ``keep_products``: one flag for all galaxies, or one per galaxy of ``indices``."""
    from ..recovery.batch import batchable, complete, stage_many

    indices = [int(i) for i in indices]
    keep = ([bool(keep_products)] * len(indices) if np.ndim(keep_products) == 0
            else [bool(k) for k in keep_products])
    if len(keep) != len(indices):
        raise ValueError(f"keep_products: {len(keep)} flags for {len(indices)} galaxies")
    if len(indices) < 2 or not batchable(scn.recovery):
        return [process_galaxy(scn, i, k) for i, k in zip(indices, keep)]
    sims, staged = [], []
    for group in _simulate_groups(scn, indices):   # grism runs staged together (line maps extracted at once)
        for sim, st in zip(group, stage_many([(s.obs, s.geometry()) for s in group], scn.recovery)):
            if not keep[len(sims)]:    # only the spectra / binned fluxes go on: free the data and scene now
                st.strip()
                sim.obs = st.obs
                sim.hbeta_total = sim.scene.total_line_flux("Hbeta")
                sim.scene = None
            sims.append(sim)
            staged.append(st)
    recs = complete(staged, scn.recovery, cosmology=scn.cosmology)
    return [_finish(scn, s, r, k) for s, r, k in zip(sims, recs, keep)]


def _finish(scn, sim: _Simulated, rec, keep_products: bool) -> GalaxyOutput:
    """Forward fit (if asked), derived quantities and the output record."""
    galaxy, obs, grid, calib, lines, inst = sim.galaxy, sim.obs, sim.grid, sim.calib, sim.lines, sim.inst
    params, index, scene = sim.params, sim.index, sim.scene

    if scn.recovery["gradient_fit"] in ("forward", "both"):
        g, mobs = rec.geometry, rec.map_obs
        re_kpc = (g.re_arcsec * galaxy.kpc_per_arcsec) if g.re_arcsec else galaxy.re_kpc
        base = replace(galaxy, re_kpc=re_kpc, pa_deg=g.pa_deg, clumps=(), companions=(),
                       inclination_deg=float(np.degrees(np.arccos(min(g.axis_ratio, 1.0)))),
                       center_offset_arcsec=((g.center_xy[0] - (mobs.shape[1] - 1) / 2) * mobs.pixscale_arcsec,
                                             (g.center_xy[1] - (mobs.shape[0] - 1) / 2) * mobs.pixscale_arcsec))

        def make_scene(z0, grad, model_lines):
            with warnings.catch_warnings():  # domain-edge notes were already given for the data
                warnings.simplefilter("ignore", UserWarning)
                return replace(base, profile=LinearProfile(z0, grad)).render(grid, calib, lines=lines if model_lines is None else model_lines)

        rec.forward = forward_fit(obs, rec, make_scene, min_snr=scn.recovery["min_snr"],
                                  extract=line_extractor(obs))

    fwhm = inst.psf_fwhm_arcsec(LINES["OIII5007"].observed_um(galaxy.redshift))
    derived = {
        "axis_ratio": axis_ratio_from_inclination(galaxy.inclination_deg),
        "kpc_per_arcsec": galaxy.kpc_per_arcsec,
        "psf_fwhm_arcsec": fwhm,
        "two_re_over_fwhm": 2 * galaxy.re_kpc / galaxy.kpc_per_arcsec / fwhm if fwhm > 0 else np.inf,
        "hbeta_flux_total": scene.total_line_flux("Hbeta") if scene is not None else sim.hbeta_total,
        "cell": scn.cell_of(index),
        "map_pixscale_arcsec": rec.map_obs.pixscale_arcsec,
    }
    out = GalaxyOutput(index=index, params=params, derived=derived, recovery=rec)
    if keep_products:
        out.obs, out.scene = obs, scene
    elif scn.stack is None:
        rec.line_maps = None  # keep worker results small (stacking needs the maps)
    if not keep_products:
        rec.map_obs = None
    return out


def primary_gradient(rec, mode: str):
    """(gradient, error, 12+log(O/H)_0, error, status) reported as ``/recovered/*``."""
    if mode == "forward" and rec.forward is not None:
        f = rec.forward
        return f.gradient, f.gradient_err, f.log_oh_center, f.log_oh_center_err, f.status
    return rec.gradient, rec.gradient_err, rec.log_oh_center, rec.log_oh_center_err, rec.status
