"""Redshift evolution and mass dependence of metallicity gradients (seed 000).

Double power law (Li Z. et al. 2025, Eq. 3, fitted in Appendix D)
-----------------------------------------------------------------
    grad(z) = g0 (1+z)^g1 / [1 + ((1+z)/g2)^g3] + g4      [dex/kpc]

Published posterior medians (Sect. 4.1): g0 = 0.40 (+0.30/-0.19),
g1 = 0.27 (+0.16/-0.09), g2 = 5.17 (+1.15/-0.59), g3 = 5.23 (+2.42/-2.01),
g4 = -0.50 (+0.20/-0.31).

Sign of g4.  Eq. 3 is printed with "- g4".  With the published g4 = -0.50
that form is positive at every redshift (+0.90 dex/kpc at z = 0, +0.54 at
z = 8), contradicting the seed's own data (Table 1: -0.34 +- 0.18 at z ~ 6,
-0.53 +- 0.21 at z ~ 8) and its Figure 2.  Adding g4 instead gives -0.10 at
z = 0, ~0 at z ~ 2 and -0.40 / -0.44 at the stack redshifts 6.28 / 7.24, in
line with the data and with the text (peak near z ~ 2).  We therefore add g4
by default; ``printed_sign=True`` reproduces the literal Eq. 3.

Mass-metallicity-gradient relation (Eq. 4, Table 2, Sect. 4.3)
--------------------------------------------------------------
    grad = alpha + beta log10(M*/Msun) + N(0, sigma)
"""
from __future__ import annotations

from dataclasses import dataclass, field

import emcee
import numpy as np
from scipy.optimize import minimize

# Seed 000 Sect. 4.1 / Fig. 15: medians and 1-sigma errors of (g0, g1, g2, g3, g4).
PUBLISHED_GAMMA = np.array([0.40, 0.27, 5.17, 5.23, -0.50])
PUBLISHED_GAMMA_ERR_PLUS = np.array([0.30, 0.16, 1.15, 2.42, 0.20])
PUBLISHED_GAMMA_ERR_MINUS = np.array([0.19, 0.09, 0.59, 2.01, 0.31])

# Seed 000 Appendix D: flat priors and sampler settings.
PRIOR_BOUNDS = np.array([(-10.0, 10.0), (-1.0, 1.0), (0.0, 10.0), (-10.0, 10.0), (-10.0, 10.0)])
N_WALKERS = 32
N_STEPS = 5000
N_BURN = 1000

# Seed 000 Table 2 (Eq. 4 fits with LINMIX): beta [dex/kpc/dex], alpha [dex/kpc], sigma [dex/kpc]
# with 1-sigma errors; "1.7<z<3.5" is the NGDEEP individual-galaxy fit of Sect. 4.3 (no sigma given).
MZGR_RELATIONS = {
    "z=0,logM<9": dict(beta=-0.100, beta_err=0.026, alpha=0.811, alpha_err=0.218, sigma=0.063),
    "z=0,logM>=9": dict(beta=0.019, beta_err=0.002, alpha=-0.211, alpha_err=0.019, sigma=0.013),
    "0.1<z<=1.5": dict(beta=-0.009, beta_err=0.004, alpha=0.084, alpha_err=0.037, sigma=0.036),
    "1.5<z<=2.5": dict(beta=-0.002, beta_err=0.003, alpha=0.032, alpha_err=0.029, sigma=0.031),
    "2.5<z<=3.5": dict(beta=-0.010, beta_err=0.022, alpha=0.064, alpha_err=0.196, sigma=0.121),
    "5<=z<=9": dict(beta=0.304, beta_err=0.190, alpha=-2.784, alpha_err=1.539, sigma=0.131),
    "1.7<z<3.5": dict(beta=-0.020, beta_err=0.018, alpha=0.157, alpha_err=0.156, sigma=np.nan),
}


def double_power_law(z, gamma=PUBLISHED_GAMMA, printed_sign=False):
    """Metallicity gradient vs redshift, seed 000 Eq. 3 [dex/kpc].

    Parameters
    ----------
    z : float or array_like
        Redshift.
    gamma : sequence of 5 floats
        (g0, g1, g2, g3, g4); default the published medians.
    printed_sign : bool
        If True subtract g4 as Eq. 3 is printed (see module docstring);
        default False adds it, the form consistent with the published values.

    Returns
    -------
    ndarray
        Gradient in dex/kpc.
    """
    g0, g1, g2, g3, g4 = (np.asarray(g, dtype=float) for g in gamma)
    x = 1.0 + np.asarray(z, dtype=float)
    offset = -g4 if printed_sign else g4
    return g0 * x**g1 / (1.0 + (x / g2) ** g3) + offset


def log_prior(theta):
    """Flat priors of Appendix D; theta has shape (..., 5). Returns 0 or -inf."""
    theta = np.asarray(theta, dtype=float)
    inside = np.all((theta > PRIOR_BOUNDS[:, 0]) & (theta < PRIOR_BOUNDS[:, 1]), axis=-1)
    return np.where(inside, 0.0, -np.inf)


def _log_prob(theta, z, grad, sigma):
    """Vectorised log posterior for walkers theta of shape (n_walkers, 5)."""
    theta = np.atleast_2d(theta)
    lp = log_prior(theta)
    ok = np.isfinite(lp)
    out = np.full(theta.shape[0], -np.inf)
    if ok.any():
        th = theta[ok].T[:, :, None]  # (5, n_ok, 1)
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            model = double_power_law(z[None, :], th)
        chi2 = np.sum(((grad[None, :] - model) / sigma[None, :]) ** 2, axis=1)
        out[ok] = np.where(np.isfinite(chi2), -0.5 * chi2, -np.inf)
    return out


@dataclass
class DoublePowerLawFit:
    """Result of :func:`fit_double_power_law`.

    Attributes
    ----------
    median, p16, p84 : ndarray
        Posterior median and 16th/84th percentiles of (g0..g4).
    samples : ndarray
        Post-burn-in flattened chain, shape (n_samples, 5).
    acceptance_fraction : float
        Mean emcee acceptance fraction.
    """

    median: np.ndarray
    p16: np.ndarray
    p84: np.ndarray
    samples: np.ndarray = field(repr=False)
    acceptance_fraction: float

    @property
    def err_minus(self):
        """median - p16 for each parameter."""
        return self.median - self.p16

    @property
    def err_plus(self):
        """p84 - median for each parameter."""
        return self.p84 - self.median

    def predict(self, z, percentiles=(16.0, 50.0, 84.0), max_samples=4000):
        """Percentiles of the model gradient at z over posterior samples [dex/kpc]."""
        z = np.atleast_1d(np.asarray(z, dtype=float))
        step = max(1, len(self.samples) // max_samples)
        th = self.samples[::step].T[:, :, None]
        with np.errstate(over="ignore", invalid="ignore"):
            models = double_power_law(z[None, :], th)
        return np.nanpercentile(models, percentiles, axis=0)


def fit_double_power_law(z, grad, sigma, n_walkers=N_WALKERS, n_steps=N_STEPS, n_burn=N_BURN,
                         seed=2025, p0=None, init_scale=1e-2, optimize_start=True):
    """Fit Eq. 3 with emcee as in seed 000 Appendix D.

    Gaussian likelihood with the given errors, flat priors of Appendix D,
    32 walkers, 5000 steps and a 1000-step burn-in by default.

    Parameters
    ----------
    z, grad, sigma : array_like
        Redshifts, gradients [dex/kpc] and their 1-sigma errors [dex/kpc].
    n_walkers, n_steps, n_burn : int
        Sampler settings.
    seed : int
        Seed of the walker initialisation and of emcee's generator.
    p0 : sequence of 5 floats, optional
        Starting point (default: published gamma).
    init_scale : float
        Walkers start in a Gaussian ball of this relative size around the start.
    optimize_start : bool
        Move the start to the maximum-likelihood point first (Nelder-Mead).

    Returns
    -------
    DoublePowerLawFit
    """
    z = np.asarray(z, dtype=float)
    grad = np.asarray(grad, dtype=float)
    sigma = np.broadcast_to(np.asarray(sigma, dtype=float), grad.shape).copy()
    if n_burn >= n_steps:
        raise ValueError("n_burn must be smaller than n_steps")
    start = np.array(PUBLISHED_GAMMA if p0 is None else p0, dtype=float)
    if optimize_start:
        res = minimize(lambda t: -_log_prob(t, z, grad, sigma)[0], start, method="Nelder-Mead",
                       options=dict(maxiter=4000, xatol=1e-6, fatol=1e-8))
        if np.isfinite(res.fun):
            start = res.x
    rng = np.random.default_rng(seed)
    walkers = start + init_scale * np.maximum(np.abs(start), 0.1) * rng.standard_normal((n_walkers, 5))
    lo, hi = PRIOR_BOUNDS[:, 0], PRIOR_BOUNDS[:, 1]
    walkers = np.clip(walkers, lo + 1e-6 * (hi - lo), hi - 1e-6 * (hi - lo))
    sampler = emcee.EnsembleSampler(n_walkers, 5, _log_prob, args=(z, grad, sigma), vectorize=True)
    sampler.random_state = np.random.RandomState(seed).get_state()
    sampler.run_mcmc(walkers, n_steps, progress=False)
    samples = sampler.get_chain(discard=n_burn, flat=True)
    p16, p50, p84 = np.percentile(samples, [16, 50, 84], axis=0)
    return DoublePowerLawFit(median=p50, p16=p16, p84=p84, samples=samples,
                             acceptance_fraction=float(np.mean(sampler.acceptance_fraction)))


def mass_gradient_relation(log_mstar, relation="5<=z<=9"):
    """Linear mass-metallicity-gradient relation, seed 000 Eq. 4 [dex/kpc].

    Parameters
    ----------
    log_mstar : float or array_like
        log10(M*/Msun).
    relation : str
        Key of ``MZGR_RELATIONS``: "5<=z<=9" (stacks; 0.304 log M* - 2.784),
        "1.7<z<3.5" (NGDEEP; -0.020 log M* + 0.157) or a Table 2 bin.

    Returns
    -------
    ndarray
        Gradient in dex/kpc.
    """
    p = MZGR_RELATIONS[relation]
    return p["alpha"] + p["beta"] * np.asarray(log_mstar, dtype=float)
