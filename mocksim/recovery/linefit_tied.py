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
from scipy.special import ndtr

from ..errors import MocksimInputError
from ..lines import C_KMS, LINE_GROUPS
from .linefit import LineMaps, fit_spectra, lines_in_coverage, modelled_lines
from .linefit_model import _NSIG, _channel_edges, _check_wave, _grid_key, _group_model, cache_frozen

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
        amplitudes at fixed kinematics and, in quadrature, the amplitudes' response to
        the reference's velocity and dispersion errors (:func:`_kinematic_errors`).
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
    gkey = _grid_key(wave, edges, lsf)
    requested = list(lines) if lines is not None else [ln for g in LINE_GROUPS.values() for ln in g]
    modelled = modelled_lines(wave, redshift, lsf)
    gms = []
    for gname, members in LINE_GROUPS.items():
        names = [ln for ln in members if ln in modelled]
        if gname == reference or not names or not any(ln in requested for ln in members):
            continue
        gm = _group_model(names, wave, edges, lsf, redshift, window_kms, continuum, "integrated", gkey)
        if gm.wave.size < gm.nlin + 2:
            continue
        gm.name = gname
        gms.append(gm)
    out = ref
    if not gms:
        return out
    Ys, Es, scales = [], [], []
    for gm in gms:
        Yg, Eg = Y[:, gm.sl], E[:, gm.sl]
        good = np.isfinite(Yg) & np.isfinite(Eg) & (Eg > 0)
        scale = float(np.median(Eg[good])) if good.any() else 1.0   # O(1) normal equations
        Ys.append(Yg / scale)
        Es.append(Eg / scale)
        scales.append(scale)
    fits = _linear_fits(gms, Ys, Es, v, s)
    kin = _kinematic_errors(gms, Ys, Es, v, s, ref.velocity_err_kms[reference], ref.sigma_err_kms[reference])
    for gm, scale, (amp, amp_err, chi2, ndof), dk in zip(gms, scales, fits, kin):
        gname = gm.name
        amp, amp_err = amp * scale, np.sqrt(amp_err ** 2 + dk ** 2) * scale
        for il, ln in enumerate(gm.lines):
            c, ratio = gm.comp_of[il], gm.ratio[il]
            out.flux[ln] = amp[:, c] * ratio
            out.flux_err[ln] = amp_err[:, c] * ratio
            out.lines.append(ln)
        out.velocity_kms[gname], out.sigma_kms[gname] = v, s
        out.chi2_nu_group[gname] = np.where(ndof > 0, chi2 / np.maximum(ndof, 1), np.nan)
        out.groups.append(gname)
    return out


_STATIC_CACHE: dict = {}
_STATIC_CACHE_MAX = 16


def _static(gms):
    """Padded (v, sigma)-independent arrays of the groups ``gms`` (cached, read-only).

    Group ``g`` has its channel edges in ``x[g, :K_g + 1]`` (then +inf), channel
    widths ``width[g, :K_g]`` (then 1), continuum ``cont[g, :K_g]`` (then 0) and
    components ``real[g]``; line ``l`` (all groups' lines in a row) has observed
    wavelength ``lam[l]``, group ``lg[l]``, flux ratio ``ratio[l]`` and 0/1
    line-to-component map ``M[l]`` (C,).
    """
    key = tuple(gm.key for gm in gms)
    st = _STATIC_CACHE.get(key)
    if st is not None:
        return st
    G = len(gms)
    K = max(gm.wave.size for gm in gms)
    C = max(gm.ncomp for gm in gms)
    nc = gms[0].cont.shape[1]
    x = np.full((G, K + 1), np.inf)
    width = np.ones((G, K))
    cont = np.zeros((G, K, nc))
    lam, lg, ratio, comp = [], [], [], []
    real = np.zeros((G, C), bool)
    for g, gm in enumerate(gms):
        k = gm.wave.size
        x[g, :k + 1] = gm.edges
        width[g, :k] = gm.width
        cont[g, :k] = gm.cont
        real[g, :gm.ncomp] = True
        lam += list(gm.lam)
        lg += [g] * gm.lam.size
        ratio += list(gm.ratio)
        comp += list(gm.comp_of)
    M = np.zeros((len(lam), C))
    M[np.arange(len(lam)), comp] = 1.0
    st = dict(G=G, K=K, C=C, nc=nc, x=x, width=width, cont=cont, lam=np.array(lam), lg=np.array(lg),
              ratio=np.array(ratio), M=M, real=real, nK=np.array([gm.wave.size for gm in gms]),
              nlin=np.array([gm.nlin for gm in gms]), size=np.array([gm.edges.size for gm in gms]))
    return cache_frozen(_STATIC_CACHE, _STATIC_CACHE_MAX, key, st)


def _templates(gms, st, v, u):
    """Line templates of all groups (n, G, K, C) at velocities ``v`` and ``u = sigma^2``
    (n,): :meth:`~.linefit_model._GroupModel.profiles` of every group, evaluated at once
    (same windows of +-_NSIG widths, same arithmetic)."""
    gm0 = gms[0]
    lg = st["lg"]
    mu = st["lam"][None, :] * (1.0 + v[:, None] / C_KMS)                 # (n, Lt)
    lsf = np.interp(mu, gm0.lsf_wave, gm0.lsf_um)
    sig = np.sqrt((mu / C_KMS) ** 2 * u[:, None] + lsf ** 2)
    xl = st["x"][lg]                                                      # (Lt, K+1)
    # window [k0, k1) of each line as in profiles(): searchsorted = count of edges below
    k0 = np.maximum(np.sum(xl < np.min(mu - _NSIG * sig, axis=0)[:, None], axis=1) - 1, 0)
    k1 = np.minimum(np.sum(xl < np.max(mu + _NSIG * sig, axis=0)[:, None], axis=1) + 1, st["size"][lg])
    k1 = np.maximum(k1, k0 + 2)
    kk = np.arange(st["K"])
    inwin = (kk >= k0[:, None]) & (kk < k1[:, None] - 1)                  # (Lt, K)
    with np.errstate(invalid="ignore"):
        t = (xl[None] - mu[:, :, None]) / sig[:, :, None]                 # (n, Lt, K+1)
        cdf = ndtr(t)
        d = (cdf[:, :, 1:] - cdf[:, :, :-1]) * (st["ratio"][:, None] / st["width"][lg])
    d = np.where(inwin, d, 0.0)
    # per group: sum of its lines' profiles in each component (at most two per component)
    T = np.zeros((v.size, st["G"], st["K"], st["C"]))
    for g in range(st["G"]):
        sel = lg == g
        T[:, g] = d[:, sel].transpose(0, 2, 1) @ st["M"][sel]
    return T


def _kinematic_errors(gms, Ys, Es, v, s, v_err, s_err):
    """Per group ``(n, ncomp)``: amplitude errors due to the reference's (v, sigma) errors.

    The tied kinematics are measured: a 1-sigma shift of the reference velocity or
    dispersion [km/s] moves the tied amplitudes (central differences of
    :func:`_linear_fits`, sigma kept >= 0); the two shifts add in quadrature (v and
    sigma of a symmetric line profile are nearly uncorrelated). Without this term a
    tied Halpha at S/N ~ 10 had errors ~27 % below its Monte Carlo scatter.
    """
    ev = np.where(np.isfinite(v_err), v_err, 0.0)
    es = np.where(np.isfinite(s_err), s_err, 0.0)
    var = None
    for err, (v1, s1), (v0, s0) in ((ev, (v + ev, s), (v - ev, s)),
                                    (es, (v, s + es), (v, np.maximum(s - es, 0.0)))):
        step = (v1 - v0) + (s1 - s0)                      # one of the two differences is zero
        scale = np.where(step > 0, err / np.where(step > 0, step, 1.0), 0.0)[:, None]
        hi, lo = _linear_fits(gms, Ys, Es, v1, s1), _linear_fits(gms, Ys, Es, v0, s0)
        d2 = [np.nan_to_num((h[0] - l[0]) * scale) ** 2 for h, l in zip(hi, lo)]
        var = d2 if var is None else [a + b for a, b in zip(var, d2)]
    return [np.sqrt(x) for x in var]


def _linear_fits(gms, Ys, Es, v, s):
    """Weighted linear least squares of amplitudes + continuum at fixed (v, sigma), all
    groups at once (padded to the widest window and most components).

    Returns per group ``(amp, amp_err, chi2, ndof)``; rows without reference
    kinematics, or with a component without data in its window, stay NaN.
    """
    st = _static(gms)
    G, K, C, nc = st["G"], st["K"], st["C"], st["nc"]
    n = v.size
    ok_k = np.isfinite(v) & np.isfinite(s)
    vv, ss = np.where(ok_k, v, 0.0), np.where(ok_k, s, 0.0)
    A = np.empty((n, G, K, C + nc))
    A[..., :C] = _templates(gms, st, vv, ss ** 2)
    A[..., C:] = st["cont"]
    Y, E = np.zeros((n, G, K)), np.zeros((n, G, K))
    for g, (Yg, Eg) in enumerate(zip(Ys, Es)):
        Y[:, g, :Yg.shape[1]], E[:, g, :Eg.shape[1]] = Yg, Eg
    good = np.isfinite(Y) & np.isfinite(E) & (E > 0)
    w = np.where(good, 1.0 / np.where(good, E, 1.0) ** 2, 0.0)
    y = np.where(good, Y, 0.0)
    N = np.einsum("ngkp,ngk,ngkq->ngpq", A, w, A)
    b = np.einsum("ngkp,ngk,ngk->ngp", A, w, y)
    ndof = good.sum(axis=2) - st["nlin"]
    # a component without data in its window (or no reference kinematics) stays NaN
    tw = np.where(st["real"], np.einsum("ngkc,ngk->ngc", A[..., :C] ** 2, w), np.inf)
    has = ok_k[:, None] & (tw.min(axis=2) > 0) & (ndof > 0)              # (n, G)
    gi, ci = np.nonzero(~st["real"])                                      # padded components
    N[:, gi, ci, ci] = 1.0
    amp = np.full((n, G, C), np.nan)
    err = np.full((n, G, C), np.nan)
    chi2 = np.full((n, G), np.nan)
    if has.any():
        cov = np.linalg.inv(N[has])
        coef = np.einsum("npq,nq->np", cov, b[has])
        amp[has] = coef[:, :C]
        err[has] = np.sqrt(np.diagonal(cov, axis1=1, axis2=2)[:, :C])
        r = y[has] - np.einsum("nkp,np->nk", A[has], coef)
        chi2[has] = np.sum(w[has] * r * r, axis=1)
    return [(amp[:, g, :gm.ncomp], err[:, g, :gm.ncomp], chi2[:, g], ndof[:, g]) for g, gm in enumerate(gms)]
