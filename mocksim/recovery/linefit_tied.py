"""Line fits with kinematics tied to one reference group (seed 001's annulus fits).

Seed 001 (Sect. 3) fits every line of an annulus spectrum with one redshift and one
width. :func:`fit_spectra_tied` does that in two steps: the reference group (default
Hbeta + [OIII], the brightest lines) is fitted with free velocity and dispersion by
:func:`mocksim.recovery.linefit.fit_spectra`; every other group is then a *linear*
fit (line amplitudes + continuum) with the reference's velocity and intrinsic
dispersion, so faint lines are not fitted with their own free (v, sigma), which
biases their fluxes upwards at low S/N.
"""
from __future__ import annotations

import numpy as np

from ..errors import MocksimInputError
from ..lines import LINE_GROUPS
from .linefit import LineMaps, fit_spectra, lines_in_coverage
from .linefit_model import _channel_edges, _check_wave, _GroupModel

__all__ = ["fit_spectra_tied"]


def fit_spectra_tied(wave_um, spectra, errors, redshift: float, lsf_sigma_um, lines=None, *,
                     reference: str = "Hbeta_OIII", continuum: str = "linear",
                     window_kms: float = 3000.0, **free_kw) -> LineMaps:
    """Fit many spectra with every group's (v, sigma) tied to ``reference``.

    Parameters
    ----------
    wave_um, spectra, errors, redshift, lsf_sigma_um, lines
        As :func:`mocksim.recovery.linefit.fit_spectra` (``spectra`` and ``errors``
        ``(nspec, nwave)`` [erg s^-1 cm^-2 um^-1]).
    reference : str
        Group of :data:`mocksim.lines.LINE_GROUPS` whose free fit sets the kinematics;
        must be in coverage.
    continuum : {"linear", "constant", "none"}
    window_kms : float
    **free_kw
        Passed to the reference group's free fit (velocity and sigma ranges...).

    Returns
    -------
    LineMaps
        ``(nspec,)`` arrays; ``velocity_kms`` / ``sigma_kms`` hold the reference
        values under every group name. Tied groups' errors are those of the linear
        amplitudes at fixed kinematics.
    """
    if reference not in LINE_GROUPS:
        raise MocksimInputError(f"reference: {reference!r} is not a line group ({', '.join(LINE_GROUPS)})")
    wave = _check_wave(wave_um)
    covered = set(lines_in_coverage(wave, redshift))
    if not covered & set(LINE_GROUPS[reference]):
        raise MocksimInputError(f"reference: no line of group {reference!r} is in coverage at z = {redshift}")
    ref = fit_spectra(wave, spectra, errors, redshift, lsf_sigma_um, list(LINE_GROUPS[reference]),
                      continuum=continuum, window_kms=window_kms, **free_kw)
    v, s = ref.velocity_kms[reference], ref.sigma_kms[reference]
    Y = np.atleast_2d(np.asarray(spectra, float))
    E = np.atleast_2d(np.asarray(errors, float))
    lsf = np.broadcast_to(np.asarray(lsf_sigma_um, dtype=float), wave.shape)
    edges = _channel_edges(wave)
    requested = list(lines) if lines is not None else [ln for g in LINE_GROUPS.values() for ln in g]
    out = ref
    for gname, members in LINE_GROUPS.items():
        names = [ln for ln in members if ln in covered]
        if gname == reference or not names or not any(ln in requested for ln in members):
            continue
        gm = _GroupModel(names, wave, edges, lsf, redshift, window_kms, continuum, "integrated")
        if gm.wave.size < gm.nlin + 2:
            continue
        Yg, Eg = Y[:, gm.sl], E[:, gm.sl]
        good = np.isfinite(Yg) & np.isfinite(Eg) & (Eg > 0)
        scale = float(np.median(Eg[good])) if good.any() else 1.0   # O(1) normal equations
        amp, amp_err, chi2, ndof = _linear_fit(gm, Yg / scale, Eg / scale, v, s)
        amp, amp_err = amp * scale, amp_err * scale
        for il, ln in enumerate(gm.lines):
            c, ratio = gm.comp_of[il], gm.ratio[il]
            out.flux[ln] = amp[:, c] * ratio
            out.flux_err[ln] = amp_err[:, c] * ratio
            out.lines.append(ln)
        out.velocity_kms[gname], out.sigma_kms[gname] = v, s
        out.chi2_nu_group[gname] = np.where(ndof > 0, chi2 / np.maximum(ndof, 1), np.nan)
        out.groups.append(gname)
    return out


def _linear_fit(gm, Y, E, v, s):
    """Weighted linear least squares of amplitudes + continuum at fixed (v, sigma)."""
    ok_k = np.isfinite(v) & np.isfinite(s)
    vv, ss = np.where(ok_k, v, 0.0), np.where(ok_k, s, 0.0)
    A = gm.design(gm.profiles(vv, ss**2))                               # (n, K, P)
    good = np.isfinite(Y) & np.isfinite(E) & (E > 0)
    w = np.where(good, 1.0 / np.where(good, E, 1.0) ** 2, 0.0)
    y = np.where(good, Y, 0.0)
    N = np.einsum("nkp,nk,nkq->npq", A, w, A)
    b = np.einsum("nkp,nk,nk->np", A, w, y)
    n, P = b.shape
    amp = np.full((n, gm.ncomp), np.nan)
    err = np.full((n, gm.ncomp), np.nan)
    chi2 = np.full(n, np.nan)
    ndof = good.sum(axis=1) - P
    # a component without data in its window (or no reference kinematics) stays NaN
    has = ok_k & (np.einsum("nkp,nk->np", A[..., :gm.ncomp] ** 2, w).min(axis=1) > 0) & (ndof > 0)
    if has.any():
        Nh = N[has]
        cov = np.linalg.inv(Nh)
        coef = np.einsum("npq,nq->np", cov, b[has])
        amp[has] = coef[:, :gm.ncomp]
        err[has] = np.sqrt(np.diagonal(cov, axis1=1, axis2=2)[:, :gm.ncomp])
        r = y[has] - np.einsum("nkp,np->nk", A[has], coef)
        chi2[has] = np.sum(w[has] * r * r, axis=1)
    return amp, err, chi2, ndof
