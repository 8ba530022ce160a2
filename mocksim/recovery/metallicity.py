"""Bayesian strong-line metallicity (and A_V) per bin: seed 000 Eq. 1.

Likelihood (seed 000 Eq. 1, Li et al. 2025, after Wang+17 and Li+22)::

    L ∝ prod_i N_i^-1/2 exp(-1/2 (f_i - R_i f_Hb)^2 / (sigma_i^2 + f_Hb^2 sigma_Ri^2))

f_i, sigma_i: flux and error of line (group) i dereddened with the chosen law
(SMC by default) and the free A_V; R_i: intrinsic ratio to Hbeta (Case B for
Balmer lines, the calibration for metal lines:
:func:`mocksim.physics.emission.line_ratios_to_hbeta`); sigma_Ri = R_i ln(10)
sigma_dex with sigma_dex the calibration's intrinsic scatter
(:func:`mocksim.physics.emission.line_scatter_dex`); f_Hb: dereddened Hbeta
flux. Dividing by the transmission T_i shows that the exponent equals the
observed-space one, (F_i - R_i f_Hb T_i)^2 / (sigma_obs,i^2 + (R_i f_Hb T_i
sigma')^2). Eq. 1 is written "∝"; because the variance depends on f_Hb and A_V
we keep the observed-space Gaussian normalisation N_i = 2 pi (sigma_obs,i^2 +
(R_i f_Hb T_i sigma')^2) (``normalize_likelihood=True``; False = literal Eq. 1).

Priors: flat in 12+log(O/H) over ``logoh_range`` (default: validity range
padded by :data:`LOGOH_PAD_DEX` = 0.1 dex each side, i.e. at most 0.1 dex of
polynomial extrapolation; padded by ``calibration.extrapolate_dex`` instead when
the calibration was built with an explicit extrapolation,
``get_calibration(name, extrapolate_dex=d)``), flat in A_V over ``av_range``,
flat in f_Hb > 0.
A_V is free only where >= 2 Balmer lines have S/N > ``snr_balmer_min`` (3);
elsewhere it is fixed at ``av_fixed`` (0).

Lines: Balmer lines individually; [OIII]5007 (4959 only if 5007 is absent);
[OII]3727+3729 summed, likewise [SII] (errors in quadrature, or added linearly
where the two members come from one tied amplitude: :func:`summed_error`); [NII]6584 (6548
only if 6584 is absent); [NeIII]3869. [OIII]4363 is never used. Metal lines the
calibration does not provide (:data:`mocksim.physics.emission.FALLBACKS`) are
skipped unless ``use_fallback_lines``. Scatters of different lines are treated as
independent (diagonal likelihood, as Eq. 1).

Methods
-------
"grid" (deterministic): posterior on a (12+log(O/H), A_V) grid; f_Hb is
    marginalised with 8-node adaptive Gauss-Hermite quadrature centred on its
    conditional mode (Balmer terms, quadratic in f_Hb, are summed in closed
    form). A coarse pass (0.03 dex x 0.15 mag, Laplace approximation in f_Hb)
    finds the region where log posterior > max - 13; a fine pass evaluates the
    quadrature on 41 x 21 nodes spanning it. Quantiles invert the CDF of the
    piecewise-linear marginal. Agrees with brute-force integration to < 0.001 dex.
"emcee": affine-invariant MCMC in (12+log(O/H), A_V, f_Hb) per bin; walkers
    start from the coarse-pass posterior; seeded from ``rng``.

The grid machinery (likelihood kernels, coarse and fine passes, CDF quantiles and
the status-flag shape tests) lives in :mod:`mocksim.recovery.metallicity_grid`; this
module holds the public API, the observables' forward model and the emcee pass.

Status codes
------------
0 ok. 1 the marginal density at an edge of the prior range is >= 10 % of its
peak (posterior truncated) or the median lies outside the validity range.
2 insufficient lines/SNR: no Balmer line, no metal line with S/N >= ``snr_min``
or fewer than two lines with S/N >= ``snr_min``; values are still computed if
one Balmer and one metal line exist, else NaN. 3 bimodal: a single metal line
whose ratio is double valued, with >= 10 % of the posterior on each side of the
turnover (R3 alone without ``branch_prior``), or two peaks separated by a dip
below half the smaller one, each side holding >= 10 %. Precedence 2 > 3 > 1.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import MocksimInputError
from ..lines import CASE_B_TO_HBETA, LINES
from ..physics import dust as _dust
from ..physics.calibrations import get_calibration
from ..physics.emission import group_observables, line_ratios_to_hbeta, line_scatter_dex
from .linefit_model import TIED_LINES
from .metallicity_grid import (_COARSE_DA, _cdf_quantiles, _coarse_pass, _fine_passes,
                               _grid_shape_flags, _metal_ll, _shape_flags)

__all__ = ["MetallicityResult", "infer_metallicity", "summed_error", "LOGOH_PAD_DEX", "METHODS"]

METHODS = ("grid", "emcee")
LOGOH_PAD_DEX = 0.1  #: default prior extends this far beyond the validity range [dex]
_LN10 = np.log(10.0)


@dataclass
class MetallicityResult:
    """Per-bin posterior summaries; arrays have shape (nbin,).

    log_oh, log_oh_lo, log_oh_hi: median, 16th and 84th percentiles of
    12+log(O/H) [dex]. av, av_lo, av_hi: same for A_V [mag] (the fixed value
    where A_V was not fitted, see ``av_fitted``). status: 0 ok, 1 edge or
    extrapolated, 2 insufficient lines/SNR, 3 bimodal (module docstring).
    diagnostics: ratios in the likelihood ("R3", "R2", "Hgamma/Hbeta", ...).
    method: "grid" or "emcee". samples (``keep_samples``): per bin
    ``{"logoh": x, "pdf": p}`` (grid) or 12+log(O/H) samples (emcee).
    lines_used / lines_ignored: observables used ("OII3727+OII3729") and lines
    skipped with the reason. logoh_range: prior range. extra: dust law,
    likelihood normalisation, intrinsic scatters used [dex].
    """

    log_oh: np.ndarray
    log_oh_lo: np.ndarray
    log_oh_hi: np.ndarray
    av: np.ndarray
    av_lo: np.ndarray
    av_hi: np.ndarray
    status: np.ndarray
    diagnostics: tuple
    method: str
    samples: list | None = None
    av_fitted: np.ndarray | None = None
    lines_used: tuple = ()
    lines_ignored: tuple = ()
    calibration: str = ""
    logoh_range: tuple = ()
    extra: dict = field(default_factory=dict)


# ---------------------------------------------------------------------------
_CACHE: dict = {}
_CACHE_MAX = 256


def _cached(key, cal, make):
    """Per-calibration memo: ``make()`` once for ``(id(cal),) + key``.

    The entry keeps a reference to ``cal`` (so its id cannot be reused while cached) and
    is checked for identity, like the calibration plans of :mod:`mocksim.physics.emission`.
    Only quantities that depend on the calibration and the grid, never on the data, are
    cached.
    """
    full = (id(cal),) + key
    hit = _CACHE.get(full)
    if hit is None or hit[0] is not cal:
        if len(_CACHE) >= _CACHE_MAX:
            _CACHE.clear()
        hit = (cal, make())
        _CACHE[full] = hit
    return hit[1]


#: fixed-ratio pairs as (parent, child): child = ratio x parent in the line fits, which fit
#: both with ONE amplitude (summed here: the [OII] and [SII] doublets)
_TIED_DOUBLETS = {(parent, child): ratio for child, (parent, ratio) in TIED_LINES.items()}


def summed_error(fluxes, errors, members):
    """1-sigma error of the sum of the fluxes of ``members`` (e.g. [OII]3727+3729).

    Independent measurements add in quadrature. The line fits
    (:mod:`mocksim.recovery.linefit`) fit a fixed-ratio doublet ([OII], [SII]) with one
    amplitude and report both members' fluxes and errors in the fixed ratio: the two are
    100 % correlated and their errors add linearly (quadrature would underestimate the
    doublet's error by 29 %). Such members are recognised per bin by flux AND error both
    in the fixed ratio (to 1e-9).

    Parameters
    ----------
    fluxes, errors : dict of str -> ndarray
        Fluxes and 1-sigma errors per line (any common unit).
    members : sequence of str
        Lines summed.

    Returns
    -------
    ndarray
        Error of the sum (NaN where a member's error is NaN).
    """
    e = np.sqrt(sum(np.asarray(errors[m], float) ** 2 for m in members))
    for (parent, child), ratio in _TIED_DOUBLETS.items():
        if set(members) >= {parent, child}:
            fp, fc = np.asarray(fluxes[parent], float), np.asarray(fluxes[child], float)
            ep, ec = np.asarray(errors[parent], float), np.asarray(errors[child], float)
            with np.errstate(invalid="ignore"):
                tied = (np.isclose(fc, ratio * fp, rtol=1e-9, atol=0.0)
                        & np.isclose(ec, ratio * ep, rtol=1e-9, atol=0.0))
            others = [m for m in members if m not in (parent, child)]
            lin = np.sqrt((ep + ec) ** 2 + sum(np.asarray(errors[m], float) ** 2 for m in others))
            e = np.where(tied, lin, e)
    return e


def _readonly(x):
    x.flags.writeable = False
    return x


class _Model:
    """Observables (line or doublet sums) and their forward model."""

    def __init__(self, fluxes, errors, cal, dust_law, use_fallback_lines):
        self.cal = cal
        self.law = dust_law
        unknown = [k for k in fluxes if k not in LINES]
        if unknown:
            raise MocksimInputError(f"fluxes: unknown line(s) {unknown}; known: {', '.join(LINES)}")
        missing = [k for k in fluxes if k not in errors]
        if missing:
            raise MocksimInputError(f"errors: no uncertainty given for line(s) {missing}")
        arrs = {}
        nbin = None
        for k in fluxes:
            f = np.atleast_1d(np.asarray(fluxes[k], dtype=float))
            e = np.atleast_1d(np.asarray(errors[k], dtype=float))
            if f.ndim != 1 or f.shape != e.shape:
                raise MocksimInputError(f"fluxes/errors: {k} must be 1-D arrays of equal shape (nbin,)")
            nbin = f.size if nbin is None else nbin
            if f.size != nbin:
                raise MocksimInputError(f"fluxes: {k} has {f.size} bins, expected {nbin}")
            ok = np.isfinite(f) & np.isfinite(e)
            if np.any(e[ok] <= 0):
                raise MocksimInputError(f"errors: {k} uncertainties must be > 0 (NaN marks a missing value)")
            arrs[k] = (f, e, ok)
        if nbin is None:
            raise MocksimInputError("fluxes: no lines given")
        self.nbin = nbin
        groups, ignored = _cached(  # depends on the names of the lines only
            ("groups", frozenset(arrs), bool(use_fallback_lines)), cal,
            lambda: tuple(map(tuple, group_observables(arrs, cal, use_fallback_lines))))
        scat = _cached(("scatter",), cal, lambda: line_scatter_dex(cal))
        self.obs = []
        for mem, label in groups:
            f = sum(arrs[m][0] for m in mem)
            e = summed_error({m: arrs[m][0] for m in mem}, {m: arrs[m][1] for m in mem}, mem)
            ok = np.logical_and.reduce([arrs[m][2] for m in mem])
            self.obs.append(dict(members=mem, balmer=mem[0] in CASE_B_TO_HBETA, flux=f, err=e, ok=ok,
                                 label=label, sfrac=_LN10 * scat[mem[0]]))
        if not self.obs:
            raise MocksimInputError("fluxes: none of the given lines can be used with calibration " + cal.name)
        self.ignored = tuple(ignored)
        self.J = len(self.obs)
        self.a = np.stack([np.where(o["ok"], o["flux"], 0.0) for o in self.obs], axis=1)  # (nb, J)
        self.s2 = np.stack([np.where(o["ok"], o["err"], 1.0) ** 2 for o in self.obs], axis=1)
        self.m = np.stack([o["ok"] for o in self.obs], axis=1).astype(float)
        self.sfrac2 = np.array([o["sfrac"] ** 2 for o in self.obs])
        self.is_balmer = np.array([o["balmer"] for o in self.obs])
        self.snr = np.where(self.m > 0, self.a / np.sqrt(self.s2), 0.0)
        self.members = sorted({m for o in self.obs for m in o["members"]})
        self.key = tuple(o["members"] for o in self.obs)  # identifies the observables
        self.kfac = _cached(("kfac", self.key, dust_law), cal, lambda: self._dust_factors(dust_law))

    def _dust_factors(self, dust_law):
        """Per observable: intrinsic flux fraction of each member within the group and
        its attenuation exponent ``-0.4 ln(10) k(lambda) / R_V`` (T = sum fr exp(c A_V))."""
        ref = line_ratios_to_hbeta(np.array([self.cal.valid_range[0]]), self.cal, lines=self.members)
        rv = _dust.R_V[dust_law]
        kfac = []
        for o in self.obs:
            tot = sum(ref[m][0] for m in o["members"])
            fr = np.array([ref[m][0] / tot for m in o["members"]])
            k = _dust.k_lambda(dust_law, [LINES[m].wave_um for m in o["members"]])
            kfac.append((fr, -0.4 * _LN10 * k / rv if rv else 0.0 * k))
        return kfac

    def ratios_row(self, z):
        """:meth:`ratios` of a 1-D grid ``z`` as ``(J, z.size)``, cached per calibration,
        observables and grid (the coarse grid is the same for every bin and galaxy)."""
        z = np.ascontiguousarray(z, dtype=float)
        return _cached(("R", self.key, z.tobytes()), self.cal, lambda: _readonly(self.ratios(z, axis=0)))

    def trans_row(self, av, dust_law):
        """:meth:`trans` of a 1-D grid ``av`` as ``(J, av.size)``, cached like :meth:`ratios_row`."""
        av = np.ascontiguousarray(av, dtype=float)
        return _cached(("T", self.key, dust_law, av.tobytes()), self.cal,
                       lambda: _readonly(self.trans(av, axis=0)))

    def ratios(self, z, axis=-1):
        """R_j(z): intrinsic ratio of each observable to Hbeta, shape z.shape + (J,)
        (``axis=0``: (J,) + z.shape)."""
        r = line_ratios_to_hbeta(z, self.cal, range_policy="extrapolate", lines=self.members)
        return np.stack([sum(r[m] for m in o["members"]) for o in self.obs], axis=axis)

    def trans(self, av, axis=-1):
        """Transmission of each observable at A_V, shape av.shape + (J,)
        (``axis=0``: (J,) + av.shape)."""
        av = np.asarray(av, dtype=float)
        out = []
        for fr, kf in self.kfac:
            out.append(sum(w * np.exp(c * av) for w, c in zip(fr, kf)))
        return np.stack(out, axis=axis)


def _turnover(model, j, lo, hi):
    """Interior maximum of observable j's model ratio over [lo, hi], or None (cached per
    calibration, observables, ``j`` and range: it depends on no data)."""
    def find():
        z = np.linspace(lo, hi, 2001)
        i = int(np.argmax(model.ratios(z)[:, j]))
        return float(z[i]) if 0 < i < len(z) - 1 else None
    return _cached(("turnover", model.key, int(j), float(lo), float(hi)), model.cal, find)


# ---------------------------------------------------------------------------
def infer_metallicity(fluxes, errors, calibration, *, method="grid", fit_av=None, dust_law="smc",
                      logoh_range=None, av_range=(0.0, 3.0), rng=None, nwalkers=32, nsteps=2000,
                      nburn=500, branch_prior=None, av_fixed=0.0, snr_min=2.0, snr_balmer_min=3.0,
                      use_fallback_lines=False, normalize_likelihood=True, keep_samples=False,
                      chunk_elements=500_000) -> MetallicityResult:
    """Infer 12+log(O/H) and A_V per bin from observed line fluxes (seed 000 Eq. 1).

    Parameters
    ----------
    fluxes, errors : dict of str -> array_like (nbin,)
        Observed (attenuated) fluxes and 1-sigma errors, any common unit; keys
        are mocksim line names; NaN marks a missing value; errors must be > 0.
    calibration : str or Calibration
    method : {"grid", "emcee"}
    fit_av : None or bool
        None: A_V free where >= 2 Balmer lines have S/N > ``snr_balmer_min``;
        True: always free; False: fixed at ``av_fixed`` [mag].
    dust_law : {"smc", "calzetti", "none"}
    logoh_range : (float, float), optional
        Flat prior in 12+log(O/H); default validity +/- 0.1 dex (+/- the
        calibration's ``extrapolate_dex`` if set); must lie in the calibration
        search domain (validity +/- 0.3 dex, or +/- ``extrapolate_dex``).
    av_range : (float, float)
        Flat prior on A_V [mag].
    rng : None, int or numpy.random.Generator
        Seeds emcee.
    nwalkers, nsteps, nburn : int
        emcee settings; nwalkers * (nsteps - nburn) samples are kept per bin.
    branch_prior : None, "lower", "upper", float or array (nbin,)
        Restrict the prior to one side of the calibration's R3 turnover; a
        number (e.g. an MZR prediction of 12+log(O/H)) picks the side holding it.
    snr_min, snr_balmer_min : float
        S/N thresholds for status 2 and for freeing A_V.
    use_fallback_lines : bool
        Also use metal lines the calibration lacks (modelled with the fallback).
    normalize_likelihood : bool
        Keep the Gaussian normalisation (default) or use the literal Eq. 1.
    keep_samples : bool
        Store per-bin marginal pdfs (grid) or 12+log(O/H) samples (emcee).
    chunk_elements : int
        Grid method memory knob (elements per temporary array; results do not depend
        on it: bins are independent). The default keeps the temporaries within a
        core's L2 cache for typical numbers of lines.

    Returns
    -------
    MetallicityResult
    """
    cal = get_calibration(calibration)
    if method not in METHODS:
        raise MocksimInputError(f"recovery.method: {method!r} not in {METHODS}")
    law = str(dust_law).lower()
    if law not in _dust.DUST_LAWS:
        raise MocksimInputError(f"recovery.dust_law: {dust_law!r} not in {_dust.DUST_LAWS}")
    dom = cal.search_domain
    if logoh_range is None:  # an explicit calibration extrapolation widens the default prior
        pad = LOGOH_PAD_DEX if cal.extrapolate_dex is None else max(LOGOH_PAD_DEX, cal.extrapolate_dex)
        logoh_range = (cal.valid_range[0] - pad, cal.valid_range[1] + pad)
    lo, hi = (float(v) for v in logoh_range)
    if not (np.isfinite(lo) and np.isfinite(hi) and dom[0] - 1e-9 <= lo < hi <= dom[1] + 1e-9):
        raise MocksimInputError(
            f"recovery.logoh_range: {logoh_range!r} must satisfy {dom[0]:g} <= lo < hi <= {dom[1]:g} "
            f"(calibration {cal.name} validity {cal.valid_range} +/- {cal.search_pad_dex:g} dex)"
        )
    a_lo, a_hi = (float(v) for v in av_range)
    if not (np.isfinite(a_lo) and np.isfinite(a_hi) and 0 <= a_lo < a_hi):
        raise MocksimInputError(f"recovery.av_range: {av_range!r} must satisfy 0 <= lo < hi (mag)")
    if not (np.isfinite(av_fixed) and av_fixed >= 0):
        raise MocksimInputError(f"recovery.av_fixed: {av_fixed!r} must be >= 0 mag")
    if method == "emcee" and not (nwalkers >= 8 and nsteps > nburn >= 0):
        raise MocksimInputError("recovery.emcee: need nwalkers >= 8 and nsteps > nburn >= 0")
    model = _Model(fluxes, errors, cal, law, use_fallback_lines)
    nb = model.nbin

    # per-bin prior range in 12+log(O/H) (branch prior)
    zlo, zhi = np.full(nb, lo), np.full(nb, hi)
    if branch_prior is not None:
        t = cal.turnover("R3")
        if t is None or not lo < t < hi:
            raise MocksimInputError(f"recovery.branch_prior: {cal.name} R3 has no turnover inside {logoh_range}")
        if isinstance(branch_prior, str):
            if branch_prior not in ("lower", "upper"):
                raise MocksimInputError(f"recovery.branch_prior: {branch_prior!r} not 'lower', 'upper' or a number")
            up = np.full(nb, branch_prior == "upper")
        else:
            bp = np.broadcast_to(np.asarray(branch_prior, dtype=float), (nb,))
            if not np.all(np.isfinite(bp)):
                raise MocksimInputError("recovery.branch_prior: must be finite")
            up = bp >= t
        zlo = np.where(up, t, zlo)
        zhi = np.where(up, zhi, t)

    # A_V free or fixed, per bin
    balmer_good = ((model.snr > snr_balmer_min) & model.is_balmer[None, :]).sum(axis=1)
    if law == "none":
        if fit_av:
            raise MocksimInputError("recovery.fit_av: cannot fit A_V with dust_law 'none'")
        free = np.zeros(nb, bool)
    elif fit_av is None:
        free = balmer_good >= 2
    else:
        free = np.full(nb, bool(fit_av))

    # status 2 / computable
    good = model.snr >= snr_min
    has_balmer = (model.m[:, model.is_balmer] > 0).any(axis=1)
    has_metal = (model.m[:, ~model.is_balmer] > 0).any(axis=1)
    computable = has_balmer & has_metal
    insufficient = ~computable | ~(good[:, ~model.is_balmer].any(axis=1)) | (good.sum(axis=1) < 2)

    res = {k: np.full(nb, np.nan) for k in ("z", "zlo", "zhi", "a", "alo", "ahi")}
    status = np.zeros(nb, int)
    samples = [None] * nb if keep_samples else None
    coarse = _coarse_pass(model, zlo, zhi, free, (a_lo, a_hi), av_fixed, normalize_likelihood,
                          computable, chunk_elements)
    gen = None if method == "grid" else np.random.default_rng(rng)   # a Generator is returned as it is
    metal_idx = np.flatnonzero(~model.is_balmer)
    fine = _fine_passes(model, coarse["groups"], normalize_likelihood, chunk_elements) if method == "grid" else None
    for n_grp, i_grp in enumerate(coarse["groups"]):
        idx = i_grp["idx"]
        if method == "grid":
            out = fine[n_grp]
        else:
            out = _emcee_pass(model, i_grp, normalize_likelihood, gen, nwalkers, nsteps, nburn)
        for k in res:
            res[k][idx] = out[k]
        pres = model.m[np.ix_(idx, metal_idx)] > 0  # metal lines present per bin
        n_pres, first = pres.sum(axis=1), metal_idx[np.argmax(pres, axis=1)]
        # a single metal line may be double valued: its turnover in the bin's range (memoised)
        turns = [_turnover(model, int(first[n]), zlo[ib], zhi[ib]) if n_pres[n] == 1 else None
                 for n, ib in enumerate(idx)]
        if method == "grid":
            edge, bim = _grid_shape_flags(out["x"], out["p"], out["cdf"], zlo[idx], zhi[idx], turns)
        else:
            edge, bim = np.array([_shape_flags(out["x"][n], out["p"][n], out["cdf"][n], zlo[ib], zhi[ib], turns[n])
                                  for n, ib in enumerate(idx)], bool).reshape(-1, 2).T
        z = np.asarray(out["z"])
        outside = ~((cal.valid_range[0] <= z) & (z <= cal.valid_range[1]))
        status[idx] = np.where(bim, 3, np.where(edge | outside, 1, 0))
        if keep_samples:
            for n, ib in enumerate(idx):
                samples[ib] = out["samples"][n] if method == "emcee" else {"logoh": out["x"][n], "pdf": out["p"][n]}
    status[insufficient] = 2
    return MetallicityResult(
        log_oh=res["z"], log_oh_lo=res["zlo"], log_oh_hi=res["zhi"], av=res["a"], av_lo=res["alo"],
        av_hi=res["ahi"], status=status, diagnostics=tuple(o["label"] for o in model.obs), method=method,
        samples=samples, av_fitted=free & computable,
        lines_used=tuple("+".join(o["members"]) for o in model.obs), lines_ignored=model.ignored,
        calibration=cal.name, logoh_range=(lo, hi),
        extra={"dust_law": law, "normalize_likelihood": normalize_likelihood,
               "sigma_dex": {o["label"]: o["sfrac"] / _LN10 for o in model.obs if not o["balmer"]}},
    )


# --------------------------------------------------------------------------- emcee
def _emcee_pass(model, g, normalize, gen, nwalkers, nsteps, nburn):
    import emcee

    free = g["free"]
    av_lo, av_hi = g["av_range"]
    keys = ("z", "zlo", "zhi", "a", "alo", "ahi")
    out = {k: np.empty(g["idx"].size) for k in keys}
    out.update(x=[], p=[], cdf=[], samples=[])
    cM = model.sfrac2
    for n, ib in enumerate(g["idx"]):
        zl, zh = g["zlo"][n], g["zhi"][n]
        a_obs, s2, m = model.a[ib], model.s2[ib], model.m[ib]

        def log_prob(th):
            z, f = th[:, 0], th[:, -1]
            av = th[:, 1] if free else np.full(len(th), g["av_fixed"])
            ok = (z >= zl) & (z <= zh) & (f > 0)
            if free:
                ok &= (av >= av_lo) & (av <= av_hi)
            lp = np.full(len(th), -np.inf)
            if ok.any():
                b = model.ratios(z[ok]) * model.trans(av[ok])
                lp[ok] = _metal_ll(a_obs, s2, m, b, cM, f[ok], normalize)
            return lp

        # initial walkers: cells drawn from the coarse posterior, f_Hb near its conditional mode
        w = np.exp(g["logp"][n] - g["logp"][n].max()).ravel()
        iz, ia = np.unravel_index(gen.choice(w.size, size=nwalkers, p=w / w.sum()), g["logp"][n].shape)
        dz = g["Z"][n, 1] - g["Z"][n, 0]
        z0 = np.clip(g["Z"][n, iz] + gen.uniform(-0.5, 0.5, nwalkers) * dz, zl + 1e-6, zh - 1e-6)
        a0 = g["A"][n, ia]
        if free:
            a0 = np.clip(a0 + gen.uniform(-0.5, 0.5, nwalkers) * _COARSE_DA, av_lo + 1e-6, av_hi - 1e-6)
        b = model.ratios(z0) * model.trans(a0)
        wls = m / s2 * b
        f0 = (wls * a_obs).sum(1) / (wls * b).sum(1)
        f0 = np.abs(f0) * (1 + 0.01 * gen.standard_normal(nwalkers))
        p0 = np.column_stack([z0, a0, f0] if free else [z0, f0])
        sampler = emcee.EnsembleSampler(nwalkers, p0.shape[1], log_prob, vectorize=True)
        sampler.random_state = np.random.RandomState(int(gen.integers(2**32 - 1))).get_state()
        sampler.run_mcmc(p0, nsteps)
        ch = sampler.get_chain(discard=nburn, flat=True)
        out["zlo"][n], out["z"][n], out["zhi"][n] = np.percentile(ch[:, 0], [16, 50, 84])
        if free:
            out["alo"][n], out["a"][n], out["ahi"][n] = np.percentile(ch[:, 1], [16, 50, 84])
        else:
            out["alo"][n] = out["a"][n] = out["ahi"][n] = g["av_fixed"]
        # smoothed histogram of 12+log(O/H) for the status flags
        nbins = int(min(200, max(20, np.ceil((zh - zl) / 0.01))))
        h, edges = np.histogram(ch[:, 0], bins=nbins, range=(zl, zh), density=True)
        h = np.convolve(np.pad(h, 2, mode="edge"), np.array([1, 4, 6, 4, 1]) / 16.0, mode="valid")
        x = np.concatenate([[zl], 0.5 * (edges[1:] + edges[:-1]), [zh]])
        p = np.concatenate([[h[0]], h, [h[-1]]])
        _, cdf = _cdf_quantiles(x[None], p[None], ())
        out["x"].append(x)
        out["p"].append(p)
        out["cdf"].append(cdf[0])
        out["samples"].append(ch[:, 0].copy())
    return out
