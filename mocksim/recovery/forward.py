"""Forward-model gradient fit: beam smearing modelled, not ignored.

A model galaxy with trial (12+log(O/H)_0, gradient) is observed noise-free through
the same instrument (PSF, LSF, sampling; ``instrument.render_noiseless``), its lines
are fitted and binned exactly like the data, and the binned line ratios are compared
with the observed ones. Because the model goes through the same smearing as the
data, the fitted gradient is the intrinsic one (cf. Carton et al. 2017; seed 001
Sect. 6 corrects with mock-derived factors instead).

What the model galaxy knows (built by :mod:`mocksim.pipeline.galaxy_run`): its centre,
R_e, axis ratio and PA are the measured geometry; its Sersic index, dust (A_V, its
radial scale and law) and kinematics are the input galaxy's, i.e. taken as known from a
morphological and kinematic fit. Ratios across wavelength (R2, Ne3O2) therefore see the
true attenuation: with dusty populations this fit is an upper bound on what an observer
who must estimate A_V can reach.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Callable

import numpy as np
from scipy.optimize import least_squares

from ..lines import LINE_GROUPS
from .bin_extraction import bin_line_fluxes
from .binning import sum_in_bins
from .linefit import fit_cube
from .metallicity import summed_error

#: diagnostic ratios (numerator lines, denominator lines) compared in the fit
RATIOS = {
    "R3": (("OIII5007",), ("Hbeta",)),
    "R2": (("OII3727", "OII3729"), ("Hbeta",)),
    "Ne3O2": (("NeIII3869",), ("OII3727", "OII3729")),
    "N2": (("NII6584",), ("Halpha",)),
    "S2": (("SII6716", "SII6731"), ("Halpha",)),
}


@dataclass
class ForwardFit:
    """Result of :func:`forward_fit` (gradient in dex/kpc)."""

    gradient: float
    gradient_err: float
    log_oh_center: float
    log_oh_center_err: float
    chi2: float
    n_data: int
    nfev: int
    status: int
    ratios: tuple


def _log_ratios(flux, err, names, used):
    vals, sig = [], []
    for name in names:
        num, den = RATIOS[name]
        f1 = sum(flux[k] for k in num)[used]
        f2 = sum(flux[k] for k in den)[used]
        e1 = summed_error(flux, err, num)[used]   # tied doublets: errors add linearly
        e2 = summed_error(flux, err, den)[used]
        with np.errstate(divide="ignore", invalid="ignore"):
            vals.append(np.log10(f1 / f2))
            sig.append(np.log10(np.e) * np.hypot(e1 / f1, e2 / f2))
    return np.concatenate(vals), np.concatenate(sig)


def usable_ratios(flux, err, used, min_snr=3.0):
    """Diagnostics whose lines are all measured at S/N >= ``min_snr`` in every used bin."""
    out = []
    for name, (num, den) in RATIOS.items():
        if not all(k in flux for k in num + den):
            continue
        ok = True
        for group in (num, den):
            f = sum(flux[k] for k in group)[used]
            e = summed_error(flux, err, group)[used]
            ok &= bool(np.all(f / e >= min_snr))
        if ok:
            out.append(name)
    return tuple(out)


def forward_fit(obs, recovery, make_scene: Callable[..., object], *,
                x0=None, min_snr: float = 3.0, extract=None) -> ForwardFit:
    """Fit (12+log(O/H)_0, gradient) by forward-modelling the observation.

    Parameters
    ----------
    obs : Observation
        The data; ``obs.instrument.render_noiseless`` renders model scenes.
    recovery : GalaxyRecovery
        The direct analysis of ``obs`` (bins, binned fluxes, line list, starting point).
    make_scene : callable
        ``make_scene(log_oh_center, gradient_dex_per_kpc, lines) -> EmissionScene`` for
        the model galaxy (geometry and kinematics fixed by the caller), rendering only
        ``lines`` (``None``: every line the instrument covers).
    x0 : tuple, optional
        Starting point; default: the linear fit's values.
    min_snr : float
        Ratios are used only where both lines reach this S/N in every used bin.
    extract : callable, optional
        ``extract(obs, lines) -> LineMaps``; default :func:`~mocksim.recovery.linefit.fit_cube`
        (the grism mode passes its own line-map extraction).

    Returns
    -------
    ForwardFit
    """
    used = np.asarray(recovery.used, dtype=bool)
    names = usable_ratios(recovery.binned_flux, recovery.binned_err, used, min_snr)
    if used.sum() < 2 or not names:
        return ForwardFit(np.nan, np.nan, np.nan, np.nan, np.nan, 0, 0, 1, names)
    data, sigma = _log_ratios(recovery.binned_flux, recovery.binned_err, names, used)
    if obs.kind == "grism":
        lines = None  # slitless: every line disperses onto the others; model and extract them all
    else:
        wanted = {ln for name in names for ln in RATIOS[name][0] + RATIOS[name][1]}
        # whole line groups: tied doublets must be present in the model as in the data
        lines = sorted({ln for grp in LINE_GROUPS.values() if wanted & set(grp) for ln in grp}
                       & set(recovery.binned_flux) | wanted)

    corr = recovery.map_obs.noise_correlation if recovery.map_obs is not None else obs.noise_correlation

    def model(theta):
        scene = make_scene(float(theta[0]), float(theta[1]), lines)
        cube = obs.instrument.render_noiseless(scene)
        mobs = dataclasses.replace(obs, data=cube)
        if getattr(recovery, "extraction", "maps") == "spectra":  # same annulus-spectrum fits as the data
            flux, err, _ = bin_line_fluxes(mobs, recovery.bins, lines, tie_kinematics=recovery.tie_kinematics)
        else:
            lm = (extract or fit_cube)(mobs, lines)
            flux, err = sum_in_bins(lm.flux, lm.flux_err, recovery.bins, corr)
        return _log_ratios(flux, err, names, used)[0]

    def resid(theta):
        return (data - model(theta)) / sigma

    if x0 is None:
        g0 = recovery.gradient if np.isfinite(recovery.gradient) else 0.0
        z0 = recovery.log_oh_center if np.isfinite(recovery.log_oh_center) else 8.0
        x0 = (z0, g0)
    res = least_squares(resid, np.asarray(x0, dtype=float), diff_step=1e-3, x_scale=(0.1, 0.1),
                        bounds=([6.0, -5.0], [10.0, 5.0]), xtol=1e-6, ftol=1e-8)
    chi2 = float(np.sum(res.fun**2))
    dof = max(len(data) - 2, 1)
    try:
        cov = np.linalg.inv(res.jac.T @ res.jac) * max(chi2 / dof, 1.0)
        errs = np.sqrt(np.diag(cov))
    except np.linalg.LinAlgError:
        errs = np.array([np.nan, np.nan])
    status = 0 if res.success and np.all(np.isfinite(errs)) else 2
    return ForwardFit(gradient=float(res.x[1]), gradient_err=float(errs[1]), log_oh_center=float(res.x[0]),
                      log_oh_center_err=float(errs[0]), chi2=chi2, n_data=len(data), nfev=int(res.nfev),
                      status=status, ratios=names)
