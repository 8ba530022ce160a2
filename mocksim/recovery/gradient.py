"""Linear radial metallicity-gradient fits.

``12 + log(O/H) (r) = intercept + slope * r`` fitted by weighted least squares
to binned measurements, with ``r`` in kpc (slope in dex/kpc).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from mocksim.errors import MocksimInputError

__all__ = ["GradientFit", "fit_linear_gradient", "fit_linear_gradients", "symmetrise_errors"]

#: status codes of :class:`GradientFit`
STATUS_OK, STATUS_TOO_FEW, STATUS_DEGENERATE = 0, 1, 2


@dataclass
class GradientFit:
    """Result of :func:`fit_linear_gradient`.

    Attributes
    ----------
    slope, slope_err : float
        Gradient and its 1-sigma error [dex/kpc].
    intercept, intercept_err : float
        ``12 + log(O/H)`` at ``r = 0`` and its 1-sigma error [dex].
    chi2 : float
        Weighted sum of squared residuals.
    n_points : int
        Number of points used.
    status : int
        0 = ok; 1 = fewer than 2 usable points; 2 = all usable points at the same
        radius. When ``status != 0`` the numbers are NaN.
    cov : ndarray
        ``(2, 2)`` covariance of ``(intercept, slope)``.
    chi2_nu : float
        ``chi2 / (n_points - 2)`` (NaN for 2 points).
    message : str
        Human-readable status.
    """

    slope: float
    slope_err: float
    intercept: float
    intercept_err: float
    chi2: float
    n_points: int
    status: int
    cov: np.ndarray = field(default_factory=lambda: np.full((2, 2), np.nan))
    chi2_nu: float = float("nan")
    message: str = ""

    @property
    def ok(self) -> bool:
        """True when the fit succeeded (``status == 0``)."""
        return self.status == STATUS_OK


def symmetrise_errors(err, n: int) -> np.ndarray:
    """Symmetric 1-sigma errors from symmetric or ``(lower, upper)`` input.

    Parameters
    ----------
    err : array_like
        ``(n,)`` symmetric errors, or ``(2, n)`` / a pair ``(lower, upper)`` of
        asymmetric errors (both positive), replaced by their mean.
    n : int
        Number of data points.

    Returns
    -------
    ndarray
        ``(n,)`` errors [dex].
    """
    e = np.asarray(err, dtype=float)
    if e.ndim == 0:
        return np.full(n, float(e))
    if e.ndim == 1 and e.size == n:
        return e
    if e.ndim == 2 and e.shape == (2, n):
        return 0.5 * (np.abs(e[0]) + np.abs(e[1]))
    raise MocksimInputError(f"log_oh_err: need shape ({n},) or (2, {n}), got {e.shape}")


def fit_linear_gradient(r_kpc, log_oh, log_oh_err, mask=None, *,
                        scale_errors: bool = False) -> GradientFit:
    """Weighted least-squares straight line ``log_oh = intercept + slope * r``.

    Parameters
    ----------
    r_kpc : array_like
        ``(n,)`` (deprojected) galactocentric radii [kpc].
    log_oh : array_like
        ``(n,)`` ``12 + log(O/H)`` values [dex].
    log_oh_err : array_like
        ``(n,)`` 1-sigma errors [dex], or ``(2, n)`` (lower, upper) asymmetric
        errors, which are symmetrised to their mean.
    mask : array_like of bool, optional
        ``(n,)``, True = use the point. Points with non-finite values or
        errors <= 0 are always dropped.
    scale_errors : bool
        If True, inflate the parameter errors by ``sqrt(chi2_nu)`` when
        ``chi2_nu > 1`` (needs at least 3 points).

    Returns
    -------
    GradientFit
        ``status != 0`` (with NaN numbers) instead of an exception when fewer than
        two usable points, or only one distinct radius, remain.
    """
    r = np.atleast_1d(np.asarray(r_kpc, dtype=float))
    y = np.atleast_1d(np.asarray(log_oh, dtype=float))
    if r.ndim != 1 or y.shape != r.shape:
        raise MocksimInputError(f"r_kpc/log_oh: need matching 1D arrays, got {r.shape} and {y.shape}")
    return fit_linear_gradients(r, y, log_oh_err, [r.size], mask, scale_errors=scale_errors)[0]


def fit_linear_gradients(r_kpc, log_oh, log_oh_err, counts, mask=None, *,
                         scale_errors: bool = False) -> list:
    """:func:`fit_linear_gradient` of several profiles at once.

    Parameters
    ----------
    r_kpc, log_oh : ndarray
        ``(N,)`` the profiles' points concatenated [kpc, dex].
    log_oh_err, mask, scale_errors
        As for :func:`fit_linear_gradient`, for the ``N`` points.
    counts : sequence of int
        Points of each profile (summing to ``N``).

    Returns
    -------
    list of GradientFit
        One per profile; the sums run over each profile's points in order.
    """
    r, y = np.asarray(r_kpc, dtype=float), np.asarray(log_oh, dtype=float)
    e = symmetrise_errors(log_oh_err, r.size)
    use = np.isfinite(r) & np.isfinite(y) & np.isfinite(e) & (e > 0)
    if mask is not None:
        m = np.asarray(mask, dtype=bool)
        if m.shape != r.shape:
            raise MocksimInputError(f"mask: need shape {r.shape}, got {m.shape}")
        use &= m
    counts = np.asarray(counts, dtype=np.int64)
    nfit = counts.size
    seg = np.repeat(np.arange(nfit), counts)
    n = np.bincount(seg, weights=use, minlength=nfit).astype(np.int64)
    # unused points: weight 0 and values 0 (they add exact zeros to every sum)
    w = np.zeros(r.size)
    np.divide(1.0, e * e, out=w, where=use)
    r0, y0 = np.where(use, r, 0.0), np.where(use, y, 0.0)

    def total(v):
        return np.bincount(seg, weights=v, minlength=nfit)

    rmax, rmin = np.full(nfit, -np.inf), np.full(nfit, np.inf)
    np.maximum.at(rmax, seg[use], r[use])
    np.minimum.at(rmin, seg[use], r[use])
    with np.errstate(divide="ignore", invalid="ignore"):
        sw = total(w)
        rbar, ybar = total(w * r0) / sw, total(w * y0) / sw
        dr = r0 - rbar[seg]
        sxx = total(w * dr * dr)
        slope = total(w * dr * (y0 - ybar[seg])) / sxx
        intercept = ybar - slope * rbar
        var_s = 1.0 / sxx
        chi2 = total(w * (y0 - intercept[seg] - slope[seg] * r0) ** 2)
    nan = float("nan")
    out = []
    for k in range(nfit):
        nk = int(n[k])
        if nk < 2:
            out.append(GradientFit(nan, nan, nan, nan, nan, nk, STATUS_TOO_FEW,
                                   message=f"need >= 2 usable points, got {nk}"))
            continue
        if not sxx[k] > 1e-300 or rmax[k] == rmin[k]:      # (finite r: max - min == 0 iff max == min)
            out.append(GradientFit(nan, nan, nan, nan, nan, nk, STATUS_DEGENERATE,
                                   message="all usable points are at the same radius"))
            continue
        rb, vs = float(rbar[k]), float(var_s[k])
        cov = np.array([[1.0 / float(sw[k]) + rb ** 2 * vs, -rb * vs], [-rb * vs, vs]])
        chi2_nu = float(chi2[k]) / (nk - 2) if nk > 2 else nan
        if scale_errors and nk > 2 and chi2_nu > 1:
            cov = cov * chi2_nu
        out.append(GradientFit(float(slope[k]), float(np.sqrt(cov[1, 1])), float(intercept[k]),
                               float(np.sqrt(cov[0, 0])), float(chi2[k]), nk, STATUS_OK, cov, chi2_nu, "ok"))
    return out
