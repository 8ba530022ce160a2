"""Radial-profile helpers: exponential (Sersic n = 1) discs, Abel projection,
log-normal size distributions and linear gradient fits.

Lengths are in kpc and masses in Msun throughout.

3D density of an exponential surface-density profile
----------------------------------------------------
Seed 000 (Sect. 4.5) gives stars and ISM "a typical Sersic index n_s = 1" of
the observed R_e and then works with *spherically averaged* densities rho(r)
(its Eq. 9).  The seed does not say how the 2D profile becomes a 3D one.  We
use the unique spherical density whose line-of-sight projection is exactly
the exponential, i.e. the Abel deprojection

    Sigma(R) = Sigma_0 exp(-R/h)   <=>   rho(r) = Sigma_0 / (pi h) K_0(r/h),

with K_0 the modified Bessel function of the second kind and h = R_e / b_1
(b_1 = 1.678).  Total mass 2 pi Sigma_0 h^2 is preserved.  Projecting the
model back (as the seed does for its Figure 7) then recovers the exponential
exactly, so no disc thickness or inclination has to be assumed.
"""
from __future__ import annotations

import numpy as np
from scipy.special import gammaincinv, k0, ndtri

# Sersic b_n for n = 1: half of the light within R_e, i.e. P(2, b) = 1/2 (Ciotti & Bertin 1999).
SERSIC1_B = float(gammaincinv(2.0, 0.5))  # = 1.67835


def exponential_scale_length(re_kpc):
    """Scale length h = R_e / b_1 of an n = 1 Sersic profile [kpc]."""
    return np.asarray(re_kpc, dtype=float) / SERSIC1_B


def exponential_surface_density(R_kpc, mass, re_kpc):
    """Surface density of an exponential disc of total mass ``mass``.

    Parameters
    ----------
    R_kpc : array_like
        Projected radius [kpc].
    mass : float
        Total mass [Msun].
    re_kpc : float
        Effective (half-mass) radius [kpc].

    Returns
    -------
    ndarray
        Sigma(R) in Msun / kpc^2.
    """
    h = exponential_scale_length(re_kpc)
    R = np.abs(np.asarray(R_kpc, dtype=float))
    return mass / (2.0 * np.pi * h**2) * np.exp(-R / h)


def exponential_deprojected_density(r_kpc, mass, re_kpc):
    """Spherical density whose projection is an exponential disc (Abel inversion).

    Parameters
    ----------
    r_kpc : array_like
        3D radius [kpc]; r = 0 diverges logarithmically (integrable).
    mass : float
        Total mass [Msun].
    re_kpc : float
        Effective radius of the projected profile [kpc].

    Returns
    -------
    ndarray
        rho(r) in Msun / kpc^3.
    """
    h = exponential_scale_length(re_kpc)
    r = np.asarray(r_kpc, dtype=float)
    sigma0 = mass / (2.0 * np.pi * h**2)
    with np.errstate(divide="ignore"):
        return sigma0 / (np.pi * h) * k0(r / h)


def project_density(rho, R_kpc, r_max_kpc, breaks=(), n=400):
    """Numerical line-of-sight projection of a spherical density.

    Sigma(R) = 2 int_0^L rho(sqrt(R^2 + l^2)) dl, with L = sqrt(r_max^2 - R^2).

    Parameters
    ----------
    rho : callable
        rho(r) for r in kpc (vectorised).
    R_kpc : array_like
        Projected radii [kpc].
    r_max_kpc : float
        Outer truncation radius of the density [kpc].
    breaks : sequence of float
        3D radii [kpc] where rho is discontinuous or kinked; the integral is
        split there.
    n : int
        Gauss-Legendre nodes per segment.

    Returns
    -------
    ndarray
        Sigma(R) in the units of rho times kpc.
    """
    R_in = np.abs(np.asarray(R_kpc, dtype=float))
    R, inverse = np.unique(R_in.ravel(), return_inverse=True)   # maps repeat radii
    x, w = np.polynomial.legendre.leggauss(n)
    out = np.zeros_like(R)
    for i, Ri in enumerate(R):
        if Ri >= r_max_kpc:
            continue
        L = np.sqrt(r_max_kpc**2 - Ri**2)
        # segment edges in l; a sqrt-stretch (l = a + (b-a) t^2) tames the
        # integrable kink at l = 0 where rho varies as sqrt(R^2 + l^2)
        edges = [0.0] + sorted(np.sqrt(b**2 - Ri**2) for b in breaks if Ri < b < r_max_kpc) + [L]
        total = 0.0
        for a, b in zip(edges[:-1], edges[1:]):
            t = 0.5 * (x + 1.0)
            l = a + (b - a) * t**2
            total += np.sum(0.5 * w * rho(np.sqrt(Ri**2 + l**2)) * 2.0 * (b - a) * t)
        out[i] = 2.0 * total
    out = out[inverse]
    return out.reshape(R_in.shape) if R_in.ndim else float(out[0])


def lognormal_nodes(median, sigma_ln, n=64):
    """Equal-probability sample of a log-normal distribution.

    Node k (k = 1..n) sits at the (k - 1/2)/n quantile, so an unweighted mean
    over the nodes approximates the expectation over the distribution.

    Parameters
    ----------
    median : float
        Median of the distribution (e.g. R_e in kpc).
    sigma_ln : float
        Standard deviation of ln(x).
    n : int
        Number of nodes.

    Returns
    -------
    ndarray
        n values, increasing.
    """
    q = (np.arange(n) + 0.5) / n
    return median * np.exp(sigma_ln * ndtri(q))


def linear_gradient(R_kpc, y, r_range_kpc=None, weights=None):
    """Least-squares straight-line fit y = a + b R.

    Parameters
    ----------
    R_kpc : array_like
        Radii [kpc].
    y : array_like
        Values, e.g. 12 + log(O/H) [dex].
    r_range_kpc : (float, float), optional
        Only points with r_min <= R <= r_max enter the fit.
    weights : array_like, optional
        Weights 1/sigma^2 per point.

    Returns
    -------
    slope, intercept : float
        Slope in [y units]/kpc and intercept at R = 0.
    """
    R = np.asarray(R_kpc, dtype=float)
    y = np.asarray(y, dtype=float)
    m = np.isfinite(y)
    if r_range_kpc is not None:
        m &= (R >= r_range_kpc[0]) & (R <= r_range_kpc[1])
    if m.sum() < 2:
        raise ValueError("need at least two finite points inside the fit range")
    w = None if weights is None else np.sqrt(np.asarray(weights, dtype=float)[m])
    slope, intercept = np.polyfit(R[m], y[m], 1, w=w)
    return float(slope), float(intercept)
