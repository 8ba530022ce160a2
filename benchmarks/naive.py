"""The naive baseline: what a straightforward implementation of the pipeline does.

* line fits: :func:`scipy.optimize.curve_fit` spectrum by spectrum (every spaxel,
  or every annulus-summed spectrum with ``recovery.extraction = "spectra"``) and
  line group by line group (same model as :mod:`mocksim.recovery.linefit`:
  channel-integrated Gaussians with a common velocity and dispersion per group,
  fixed doublet ratios, linear continuum; start at v = 0, sigma = 80 km/s and
  amplitudes from the data);
* metallicity: emcee per bin (``metallicity_method = "emcee"``: 32 walkers x 2000
  steps, :func:`mocksim.recovery.metallicity.infer_metallicity`);
* PSF: recomputed for every galaxy (in-memory and disk kernel caches off).

The baseline runs the real pipeline (:func:`mocksim.pipeline.galaxy_run.process_galaxy`)
with these three pieces swapped in. To keep the benchmark short, the curve_fit
fits can be restricted to a random subset of spaxels and emcee to fewer steps;
the per-galaxy time is then extrapolated linearly (both costs are linear in the
number of spaxels / steps), and the report says so.
"""
from __future__ import annotations

import contextlib
import os
import time
import warnings

import numpy as np
from scipy.optimize import OptimizeWarning, curve_fit
from scipy.special import ndtr

from mocksim.lines import C_KMS, LINE_GROUPS, get_line
from mocksim.recovery.linefit import TIED_LINES, LineMaps, lines_in_coverage

EMCEE_STEPS = 2000  #: default of infer_metallicity (steps per walker, incl. 500 burn-in)


def _edges(wave):
    mid = 0.5 * (wave[1:] + wave[:-1])
    return np.concatenate([[2 * wave[0] - mid[0]], mid, [2 * wave[-1] - mid[-1]]])


class _Group:
    """One line group's window and model for curve_fit."""

    def __init__(self, names, wave, lsf, z, window_kms=3000.0):
        self.names = names
        lam = np.array([get_line(n).observed_um(z) for n in names])
        lsf_kms = np.interp(lam, wave, lsf) / lam * C_KMS
        half = max(0.5 * window_kms, 5.0 * float(np.max(lsf_kms)))
        sel = np.flatnonzero((wave >= lam.min() * (1 - half / C_KMS)) & (wave <= lam.max() * (1 + half / C_KMS)))
        self.sl = slice(sel[0], sel[-1] + 1)
        self.wave = wave[self.sl]
        self.edges = _edges(wave)[self.sl.start:self.sl.stop + 1]
        self.width = np.diff(self.edges)
        self.lam = lam
        self.lsf_wave, self.lsf = wave, lsf
        tied = {n: TIED_LINES[n] for n in names if n in TIED_LINES and TIED_LINES[n][0] in names}
        self.comps = [n for n in names if n not in tied]
        self.comp_of = np.array([self.comps.index(tied[n][0] if n in tied else n) for n in names])
        self.ratio = np.array([tied[n][1] if n in tied else 1.0 for n in names])
        self.x = (self.wave - self.wave.mean()) / (np.ptp(self.wave) / 2)

    def model(self, idx, v, sig, *coef):
        C = len(self.comps)
        amp = np.asarray(coef[:C])[self.comp_of] * self.ratio
        mu = self.lam * (1 + v / C_KMS)
        s = np.sqrt((mu * sig / C_KMS) ** 2 + np.interp(mu, self.lsf_wave, self.lsf) ** 2)
        cdf = ndtr((self.edges[:, None] - mu[None, :]) / s[None, :])
        full = (np.diff(cdf, axis=0) / self.width[:, None]) @ amp + coef[C] + coef[C + 1] * self.x
        return full[np.asarray(idx, dtype=int)]

    def fit(self, y, e):
        """(fluxes per line, errors per line) of one spectrum, NaN when the fit fails."""
        y, e = y[self.sl], e[self.sl]
        good = np.isfinite(y) & np.isfinite(e) & (e > 0)
        C = len(self.comps)
        nan = np.full(len(self.names), np.nan)
        if good.sum() < C + 4:
            return nan, nan
        scale = float(np.median(e[good]))          # O(1) parameters for the finite differences
        y, e = y / scale, e / scale
        cont = float(np.median(y[good]))
        s0 = np.interp(self.lam[0], self.lsf_wave, self.lsf) * 2.5
        p0 = [0.0, 80.0]
        wg = self.wave[good]
        for c in self.comps:
            k = int(np.argmin(np.abs(wg - self.lam[self.names.index(c)])))
            p0.append(max(float(y[good][k] - cont), 0.0) * s0 * np.sqrt(2 * np.pi))
        p0 += [cont, 0.0]
        lo = [-600.0, 5.0] + [-np.inf] * (C + 2)
        hi = [600.0, 500.0] + [np.inf] * (C + 2)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", OptimizeWarning)
                warnings.simplefilter("ignore", RuntimeWarning)
                p, cov = curve_fit(self.model, np.flatnonzero(good), y[good], p0=p0, sigma=e[good],
                                   absolute_sigma=True, bounds=(lo, hi), maxfev=2000)
        except (RuntimeError, ValueError):
            return nan, nan
        amp = p[2:2 + C][self.comp_of] * self.ratio * scale
        err = np.sqrt(np.clip(np.diag(cov)[2:2 + C], 0, None))[self.comp_of] * self.ratio * scale
        return amp, err


def _groups(wave, lsf, z, lines=None):
    covered = set(lines_in_coverage(wave, z))
    requested = list(lines) if lines is not None else [ln for g in LINE_GROUPS.values() for ln in g]
    out = []
    for gname, members in LINE_GROUPS.items():
        names = [ln for ln in members if ln in covered]
        if names and any(ln in requested for ln in members):
            out.append((gname, _Group(names, wave, lsf, z)))
    return out


def naive_bin_line_fluxes(obs, bins, lines, *, stats=None, **_ignored):
    """``bin_line_fluxes`` with curve_fit per annulus spectrum and line group (free
    kinematics per group). Returns ``(flux, err, None)``."""
    from mocksim.recovery.binning import bin_spectra

    wave = np.asarray(obs.wave_um, float)
    lsf = np.broadcast_to(np.asarray(obs.lsf_sigma_um, float), wave.shape)
    spec, serr = bin_spectra(obs.data, obs.error, bins, obs.noise_correlation)
    t0 = time.process_time()
    flux, ferr = {}, {}
    for _, g in _groups(wave, lsf, obs.redshift, lines):
        res = [g.fit(spec[b], serr[b]) for b in range(spec.shape[0])]
        for j, ln in enumerate(g.names):
            flux[ln] = np.array([r[0][j] for r in res])
            ferr[ln] = np.array([r[1][j] for r in res])
    dt = time.process_time() - t0
    if stats is not None:
        stats["fit_s"] = stats.get("fit_s", 0.0) + dt
        stats["fit_extrapolated_s"] = stats.get("fit_extrapolated_s", 0.0) + dt
        stats["spaxels"] = stats.get("spaxels", 0) + spec.shape[0]
        stats["spaxels_fitted"] = stats.get("spaxels_fitted", 0) + spec.shape[0]
    return flux, ferr, None


def naive_fit_cube(obs, lines=None, *, max_spaxels=None, rng=None, stats=None, **_ignored):
    """Per-spaxel curve_fit of every line group (``fit_cube`` signature).

    ``max_spaxels``: fit only this many randomly chosen spaxels (others NaN) and
    record in ``stats`` the time per spaxel and the number of spaxels.
    """
    wave = np.asarray(obs.wave_um, float)
    lsf = np.broadcast_to(np.asarray(obs.lsf_sigma_um, float), wave.shape)
    nw, ny, nx = obs.data.shape
    groups = _groups(wave, lsf, obs.redshift, lines)
    data = np.asarray(obs.data, float).reshape(nw, -1)
    err = np.asarray(obs.error, float).reshape(nw, -1)
    nspax = ny * nx
    todo = np.arange(nspax)
    if max_spaxels is not None and max_spaxels < nspax:
        todo = np.sort(np.random.default_rng(rng).choice(nspax, max_spaxels, replace=False))
    flux = {ln: np.full(nspax, np.nan) for _, g in groups for ln in g.names}
    ferr = {ln: np.full(nspax, np.nan) for ln in flux}
    t0 = time.process_time()
    for i in todo:
        for _, g in groups:
            a, e = g.fit(data[:, i], err[:, i])
            for j, ln in enumerate(g.names):
                flux[ln][i], ferr[ln][i] = a[j], e[j]
    dt = time.process_time() - t0
    if stats is not None:
        stats.setdefault("fit_s", 0.0)
        stats["fit_s"] += dt
        stats["fit_extrapolated_s"] = stats.get("fit_extrapolated_s", 0.0) + dt * nspax / max(todo.size, 1)
        stats["spaxels"] = stats.get("spaxels", 0) + nspax
        stats["spaxels_fitted"] = stats.get("spaxels_fitted", 0) + int(todo.size)
    names = [ln for _, g in groups for ln in g.names]
    return LineMaps(flux={k: v.reshape(ny, nx) for k, v in flux.items()},
                    flux_err={k: v.reshape(ny, nx) for k, v in ferr.items()},
                    velocity_kms={}, sigma_kms={}, chi2_nu=np.full((ny, nx), np.nan), lines=names,
                    groups=[gname for gname, _ in groups])


@contextlib.contextmanager
def fresh_psf(inst):
    """PSF kernels recomputed (no in-memory or disk cache) inside the block."""
    from mocksim.psf import cache as psf_cache

    old = os.environ.get("MOCKSIM_CACHE_DIR")
    os.environ["MOCKSIM_CACHE_DIR"] = "off"
    try:
        psf_cache.clear_memory_cache()
        for name in ("_kernels", "_kernel_ffts", "_kernel_cache", "_kfft_cache"):
            c = getattr(inst, name, None)
            if isinstance(c, dict):
                c.clear()
        yield
    finally:
        if old is None:
            os.environ.pop("MOCKSIM_CACHE_DIR", None)
        else:
            os.environ["MOCKSIM_CACHE_DIR"] = old


@contextlib.contextmanager
def naive_pipeline(*, ifu_fits: bool, max_spaxels=None, emcee_steps=EMCEE_STEPS, stats=None, seed=0):
    """Swap the naive pieces into the pipeline modules for the duration of the block.

    ``stats`` collects the CPU seconds ``fit_s``/``fit_extrapolated_s`` (line fits)
    and ``emcee_s``/``emcee_extrapolated_s`` (metallicity).
    """
    from mocksim.recovery import analysis, metallicity

    stats = {} if stats is None else stats
    orig_fit, orig_infer, orig_bins = analysis.fit_cube, analysis.infer_metallicity, analysis.bin_line_fluxes

    def fit(obs, lines=None, **kw):
        return naive_fit_cube(obs, lines, max_spaxels=max_spaxels, rng=seed, stats=stats)

    def fit_bins(obs, bins, lines, **kw):
        return naive_bin_line_fluxes(obs, bins, lines, stats=stats)

    def infer(*args, **kw):
        kw = dict(kw, method="emcee")
        if emcee_steps != EMCEE_STEPS:
            kw.update(nsteps=emcee_steps, nburn=max(emcee_steps // 4, 1))
        t0 = time.process_time()
        out = metallicity.infer_metallicity(*args, **kw)
        dt = time.process_time() - t0
        stats["emcee_s"] = stats.get("emcee_s", 0.0) + dt
        stats["emcee_extrapolated_s"] = stats.get("emcee_extrapolated_s", 0.0) + dt * EMCEE_STEPS / emcee_steps
        return out

    if ifu_fits:
        analysis.fit_cube = fit
        analysis.bin_line_fluxes = fit_bins
    analysis.infer_metallicity = infer
    try:
        yield stats
    finally:
        analysis.fit_cube, analysis.infer_metallicity, analysis.bin_line_fluxes = orig_fit, orig_infer, orig_bins


