"""Radial profiles of stacked maps: annuli, 12+log(O/H) per annulus, linear gradient.

Seed 000 §3.4: "We evenly divide the maps into five concentric annuli with radii
from r = 0 to r = 0''.42", average the flux in each annulus, infer 12+log(O/H)
from the stacked [OIII]/Hβ with the Bayesian Eq. 1 (statistical + calibration
error) and fit ``12+log(O/H) = theta_0 + theta_1 r`` by linear least squares
with r in kpc at the stack's median redshift.
"""
from __future__ import annotations

import numpy as np

from ..errors import MocksimInputError
from ..recovery.binning import Bins, annular_bins
from ..recovery.gradient import GradientFit, fit_linear_gradient
from ..recovery.metallicity import MetallicityResult, infer_metallicity

__all__ = ["make_annuli", "annulus_sums", "branch_prior", "profile_metallicity", "point_logoh_r3",
           "usable_annuli", "fit_profile_gradient", "BRANCHES"]

#: ``stack.branch`` values: None = "lower" (seed 000 §3.3 assumes the R3 lower branch
#: at z > 5), "auto" = no branch prior, "mzr" = the side containing the Sarkar+25
#: MZR prediction at the stack's median log M* and redshift.
BRANCHES = (None, "auto", "lower", "upper", "mzr")


def make_annuli(shape, pixscale: float, n_annuli: int, r_max: float, weights=None) -> Bins:
    """Circular annuli around the centre pixel of a stacked map.

    Parameters
    ----------
    shape : (int, int)
        Stacked map shape ``(2 h + 1, 2 h + 1)``; the centre is pixel ``(h, h)``.
    pixscale : float
        Pixel size of the stacked map [arcsec, or R_e for rescaled stacks].
    n_annuli : int
        Number of annuli of equal width ``r_max / n_annuli``.
    r_max : float
        Outer radius [same unit as ``pixscale``].
    weights : ndarray, optional
        Map (e.g. stacked [OIII]) giving each annulus its flux-weighted radius
        (negative values count as 0); default: annulus mid-points.

    Returns
    -------
    Bins
        ``radius_arcsec`` holds the radii in the unit of ``pixscale``.
    """
    ny, nx = shape
    center = ((nx - 1) / 2.0, (ny - 1) / 2.0)
    return annular_bins(shape, center, pixscale, n_annuli=int(n_annuli), r_max_arcsec=float(r_max),
                        weights=weights)


def annulus_sums(maps, bins: Bins) -> np.ndarray:
    """Sum maps over annuli.

    Parameters
    ----------
    maps : ndarray
        ``(..., ny, nx)`` maps (flux per pixel); NaN counts as 0, as in
        :func:`mocksim.recovery.binning.sum_in_bins`.
    bins : Bins

    Returns
    -------
    ndarray
        ``(..., n_bins)`` sums.
    """
    m = np.asarray(maps, float)
    bm = np.asarray(bins.bin_map).ravel()
    sel = bm >= 0
    onehot = np.zeros((sel.sum(), bins.n_bins))
    onehot[np.arange(sel.sum()), bm[sel]] = 1.0
    flat = m.reshape(m.shape[:-2] + (-1,))[..., sel]
    return np.nan_to_num(flat, nan=0.0) @ onehot


def branch_prior(branch, log_mstar=None, redshift=None):
    """``branch_prior`` argument of :func:`infer_metallicity` for a ``stack.branch`` value."""
    if branch not in BRANCHES:
        raise MocksimInputError(f"stack.branch: {branch!r}; allowed: {', '.join(map(repr, BRANCHES))}")
    if branch is None:
        return "lower"
    if branch == "auto":
        return None
    if branch == "mzr":
        from ..population import sarkar25_mzr

        if log_mstar is None or redshift is None:
            raise MocksimInputError("stack.branch: 'mzr' needs log_mstar for every galaxy")
        return float(sarkar25_mzr(np.nanmedian(log_mstar), np.nanmedian(redshift)))
    return branch


def profile_metallicity(flux: dict, flux_err: dict, calibration: str, *, method: str = "grid",
                        prior=None, rng=None) -> MetallicityResult:
    """12+log(O/H) per annulus from stacked fluxes (seed 000 Eq. 1).

    Parameters
    ----------
    flux, flux_err : dict of str -> ndarray
        ``(n_annuli,)`` annulus fluxes of every stacked line and their 1-sigma
        (bootstrap) errors [stacked-map units]. Non-finite values or errors
        <= 0 mark a missing value.
    calibration : str
    method : {"grid", "emcee"}
    prior : None, "lower", "upper" or float
        Branch prior (see :func:`branch_prior`).
    rng : numpy.random.Generator, optional
        For ``method="emcee"``.
    """
    f, e = {}, {}
    for ln, v in flux.items():
        v = np.asarray(v, float)
        s = np.asarray(flux_err[ln], float)
        bad = ~np.isfinite(v) | ~np.isfinite(s) | (s <= 0)
        f[ln] = np.where(bad, np.nan, v)
        e[ln] = np.where(bad, np.nan, s)
    return infer_metallicity(f, e, calibration, method=method, branch_prior=prior, rng=rng)


def point_logoh_r3(f_oiii, f_hbeta, calibration: str, prior=None) -> np.ndarray:
    """12+log(O/H) from the R3 = [OIII]5007/Hβ ratio alone (no errors; for bootstrap replicas).

    Parameters
    ----------
    f_oiii, f_hbeta : array_like
        Fluxes of the same shape; ratios <= 0 or non-finite give NaN.
    calibration : str
    prior : None, "lower", "upper" or float
        Branch choice (None: lower-branch root when two exist).

    Returns
    -------
    ndarray
        12+log(O/H) [dex]; where no root exists, the closest point of the search domain.
    """
    from ..physics.calibrations import get_calibration

    cal = get_calibration(calibration)
    a, b = np.asarray(f_oiii, float), np.asarray(f_hbeta, float)
    with np.errstate(divide="ignore", invalid="ignore"):
        lr = np.log10(a / b)
    ok = np.isfinite(lr) & (a > 0) & (b > 0)
    out = np.full(lr.shape, np.nan)
    if ok.any():
        if isinstance(prior, str):
            inv = cal.invert("R3", lr[ok], branch=prior)
        else:
            inv = cal.invert("R3", lr[ok], branch="auto", prior_branch=prior)
        out[ok] = inv.logoh
    return out


def usable_annuli(flux, flux_err, met: MetallicityResult, min_snr: float = 3.0,
                  lines=("OIII5007", "Hbeta")) -> np.ndarray:
    """Annuli used in the gradient fit.

    An annulus is used when its 12+log(O/H) is finite, its status is 0 (ok) or 1
    (posterior touching the prior edge: kept, its wide error bar down-weights
    it; statuses 2 = too faint and 3 = bimodal are dropped) and each of
    ``lines`` has S/N >= ``min_snr`` with the bootstrap errors.
    """
    ok = np.isfinite(met.log_oh) & np.isin(met.status, (0, 1))
    for ln in lines:
        if ln in flux:
            with np.errstate(divide="ignore", invalid="ignore"):
                ok &= np.asarray(flux[ln]) / np.asarray(flux_err[ln]) >= min_snr
    return ok


def fit_profile_gradient(radius_kpc, met: MetallicityResult, used) -> GradientFit:
    """Weighted linear fit of 12+log(O/H) vs radius [kpc] with asymmetric errors
    symmetrised (``(lo, hi)`` -> mean), see :func:`mocksim.recovery.gradient.fit_linear_gradient`."""
    err = np.vstack([met.log_oh - met.log_oh_lo, met.log_oh_hi - met.log_oh])
    return fit_linear_gradient(np.asarray(radius_kpc, float), met.log_oh, err, mask=used)
