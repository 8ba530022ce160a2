"""The recovery of many observations at once (a calibration-grid chunk).

:func:`analyse_many` gives, galaxy by galaxy, what :func:`mocksim.recovery.analysis.analyse`
gives, but infers the metallicities of all galaxies' bins in one call and, with
annulus-spectrum extraction, fits the annulus spectra of all galaxies that share a
wavelength grid, redshift and LSF in one call: both are independent per bin / per
spectrum, and one call on many rows costs little more than one call on the rows of
a single galaxy (numpy's per-call overhead dominates a galaxy's ~10 bins). Results
equal the one-by-one ones to floating-point round-off (summation order).

Batched (:func:`batchable`): the grid metallicity method with a linear gradient, for
either extraction (line maps summed in bins, e.g. slitless grism, or annulus
spectra); anything else goes through ``analyse``. Spectra are batched only when every
row's weights are proportional to one spectrum (as with a uniform per-voxel noise):
then the line fitter takes the same path for the batch as for each galaxy alone.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from ..errors import MocksimInputError
from ..lines import LINES
from .analysis import (bin_radii_kpc, binned_metallicity, finish_recovery, gradient_errors, line_map_noise,
                       prepare_bins, truncate_bins, usable_bins)
from .bin_extraction import fit_summed_spectra, summed_spectra
from .binning import sum_in_bins
from .gradient import fit_linear_gradients
from .linefit import lines_in_coverage


def batchable(config: dict) -> bool:
    """True when :func:`analyse_many` batches this recovery configuration."""
    return (config.get("extraction", "maps") in ("maps", "spectra")
            and config.get("metallicity_method", "grid") == "grid"
            and config.get("gradient_fit", "linear") == "linear")


def _proportional(E: np.ndarray) -> bool:
    """All rows of the weights ``1 / E^2`` are multiples of one row (finite, > 0)."""
    if not (np.all(np.isfinite(E)) and np.all(E > 0)):
        return False
    W = 1.0 / (E * E)
    j = int(np.argmax(W[0]))
    c = W[:, j] / W[0, j]
    return bool(np.allclose(W, c[:, None] * W[0][None, :], rtol=1e-12, atol=0.0))


def _fit_group(members, tie: bool):
    """Fit the annulus spectra of galaxies sharing grid, redshift and LSF; ``[(flux, err)]``."""
    obs0 = members[0].obs
    lines = lines_in_coverage(obs0.wave_um, obs0.redshift, list(LINES))
    E = np.concatenate([m.serr for m in members])
    if len(members) == 1 or not _proportional(E):     # galaxy by galaxy (as bin_line_fluxes)
        fits = [fit_summed_spectra(m.obs, m.spec, m.serr, lines, tie_kinematics=tie) for m in members]
        return [(dict(f.flux), dict(f.flux_err)) for f in fits]
    fit = fit_summed_spectra(obs0, np.concatenate([m.spec for m in members]), E, lines, tie_kinematics=tie)
    out, k = [], 0
    for m in members:
        n = m.spec.shape[0]
        out.append(({ln: v[k:k + n] for ln, v in fit.flux.items()}, {ln: v[k:k + n] for ln, v in fit.flux_err.items()}))
        k += n
    return out


def _split(prof, counts):
    """Per-galaxy views of a :class:`MetallicityResult` of concatenated bins."""
    out, k = [], 0
    for n in counts:
        sl = slice(k, k + n)
        kw = {f: getattr(prof, f)[sl] for f in ("log_oh", "log_oh_lo", "log_oh_hi", "av", "av_lo", "av_hi", "status")}
        if prof.av_fitted is not None:
            kw["av_fitted"] = prof.av_fitted[sl]
        if prof.samples is not None:
            kw["samples"] = prof.samples[sl]
        out.append(replace(prof, **kw))
        k += n
    return out


@dataclass
class Staged:
    """One observation after its per-galaxy stage: bins and either the annulus
    spectra (``spec``, ``serr``) or the binned line fluxes (``flux``, ``err``)."""

    obs: object
    bins: object
    spec: np.ndarray | None
    serr: np.ndarray | None
    line_maps: object
    geometry: object
    flux: dict | None = None
    err: dict | None = None

    def strip(self):
        """Drop the data arrays (the rest of the recovery needs only the spectra or fluxes)."""
        self.obs = replace(self.obs, data=None, error=None, extras={})
        return self


def stage(obs, geometry, config: dict, line_maps=None) -> Staged:
    """The per-galaxy part of :func:`analyse_many`: geometry, bins, and the annulus
    spectra or the line maps summed in the bins (``line_maps``: a grism observation's
    maps, if already extracted)."""
    lm, obs, geometry, bins = prepare_bins(obs, config, geometry, line_maps)
    if config.get("extraction", "maps") == "spectra":
        return Staged(obs, bins, *summed_spectra(obs, bins), lm, geometry)
    flux, err = sum_in_bins(lm.flux, lm.flux_err, bins, noise=line_map_noise(lm, obs))
    return Staged(obs, bins, None, None, lm, geometry, flux, err)


def stage_many(items, config: dict) -> list:
    """:func:`stage` of several ``(obs, geometry)``; the line maps of the grism
    observations are extracted in one call
    (:func:`~mocksim.recovery.grism_extract.extract_line_maps_many`, bit-identical to
    one call per observation)."""
    items = list(items)
    maps = [None] * len(items)
    grism = [i for i, (obs, _) in enumerate(items) if obs.kind == "grism"]
    if config.get("extraction", "maps") == "maps" and len(grism) > 1:
        from .grism_extract import extract_line_maps_many

        for i, lm in zip(grism, extract_line_maps_many([items[i][0] for i in grism])):
            maps[i] = lm
    return [stage(obs, geometry, config, lm) for (obs, geometry), lm in zip(items, maps)]


def complete(staged: list, config: dict, *, cosmology: str = "Planck18") -> list:
    """The batched part of :func:`analyse_many`: line fits, S/N cut, metallicities, gradients."""
    tie = bool(config.get("tie_kinematics"))
    groups: dict = {}
    for i, st in enumerate(staged):
        if st.flux is not None:       # line maps already summed in the bins
            continue
        o = st.obs
        key = (o.wave_um.tobytes(), float(o.redshift), np.asarray(o.lsf_sigma_um, float).tobytes())
        groups.setdefault(key, []).append(i)
    fluxes = [None if st.flux is None else (st.flux, st.err) for st in staged]
    for idx in groups.values():
        for i, fe in zip(idx, _fit_group([staged[i] for i in idx], tie)):
            fluxes[i] = fe
    cut = [truncate_bins(st.bins, *fe, config) for st, fe in zip(staged, fluxes)]
    # one metallicity inference per set of lines (bins of galaxies with the same lines)
    by_lines: dict = {}
    for i, (_, flux, _) in enumerate(cut):
        by_lines.setdefault(tuple(flux), []).append(i)
    # ... and one set of linear gradient fits
    profs, grads = [None] * len(staged), [None] * len(staged)
    for keys, idx in by_lines.items():
        F = {k: np.concatenate([cut[i][1][k] for i in idx]) for k in keys}
        E = {k: np.concatenate([cut[i][2][k] for i in idx]) for k in keys}
        prof = binned_metallicity(F, E, config)
        counts = [cut[i][0].n_bins for i in idx]
        radii = [bin_radii_kpc(staged[i].obs, cut[i][0], cosmology) for i in idx]
        used = usable_bins(F, E, prof, config)
        fits = fit_linear_gradients(np.concatenate(radii), prof.log_oh, gradient_errors(prof), counts, used)
        bounds = np.cumsum(counts)
        for i, p, r, u, f in zip(idx, _split(prof, counts), radii, np.split(used, bounds[:-1]), fits):
            profs[i], grads[i] = p, (r, u, f)
    return [finish_recovery(st.obs, config, st.geometry, c[0], st.line_maps, c[1], c[2], p, cosmology, g)
            for st, c, p, g in zip(staged, cut, profs, grads)]


def analyse_many(items, config: dict, *, cosmology: str = "Planck18") -> list:
    """:func:`~mocksim.recovery.analysis.analyse` of many observations, batched.

    Parameters
    ----------
    items : sequence of (Observation, geometry)
        ``geometry`` as for ``analyse`` (a Geometry, a callable of the map
        observation, or None).
    config : dict
        The scenario's ``[recovery]`` table; must be :func:`batchable`.
    cosmology : str

    Returns
    -------
    list of GalaxyRecovery
        In the order of ``items``.
    """
    if not batchable(config):
        raise MocksimInputError("analyse_many: needs recovery.extraction = 'maps' or 'spectra', "
                                "metallicity_method = 'grid' and gradient_fit = 'linear'")
    return complete(stage_many(items, config), config, cosmology=cosmology)
