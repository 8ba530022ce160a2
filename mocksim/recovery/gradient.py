"""Linear radial metallicity-gradient fits.

``12 + log(O/H) (r) = intercept + slope * r`` fitted by weighted least squares
to binned measurements, with ``r`` in kpc (slope in dex/kpc).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from mocksim.errors import MocksimInputError

__all__ = ["GradientFit", "fit_linear_gradient", "symmetrise_errors"]

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
    e = symmetrise_errors(log_oh_err, r.size)
    use = np.isfinite(r) & np.isfinite(y) & np.isfinite(e) & (e > 0)
    if mask is not None:
        m = np.asarray(mask, dtype=bool)
        if m.shape != r.shape:
            raise MocksimInputError(f"mask: need shape {r.shape}, got {m.shape}")
        use &= m
    n = int(use.sum())
    nan = float("nan")
    if n < 2:
        return GradientFit(nan, nan, nan, nan, nan, n, STATUS_TOO_FEW,
                           message=f"need >= 2 usable points, got {n}")
    r, y, w = r[use], y[use], 1.0 / e[use] ** 2
    # (array methods: the sums of np.sum without its dispatch overhead)
    sw = w.sum()
    rbar = (w * r).sum() / sw
    ybar = (w * y).sum() / sw
    sxx = (w * (r - rbar) ** 2).sum()
    if not sxx > 1e-300 or r.max() == r.min():          # (finite r: max - min == 0 iff max == min)
        return GradientFit(nan, nan, nan, nan, nan, n, STATUS_DEGENERATE,
                           message="all usable points are at the same radius")
    slope = (w * (r - rbar) * (y - ybar)).sum() / sxx
    intercept = ybar - slope * rbar
    var_s = 1.0 / sxx
    cov = np.array([[1.0 / sw + rbar ** 2 * var_s, -rbar * var_s],
                    [-rbar * var_s, var_s]])
    chi2 = float((w * (y - intercept - slope * r) ** 2).sum())
    chi2_nu = chi2 / (n - 2) if n > 2 else nan
    if scale_errors and n > 2 and chi2_nu > 1:
        cov = cov * chi2_nu
    return GradientFit(float(slope), float(np.sqrt(cov[1, 1])), float(intercept),
                       float(np.sqrt(cov[0, 0])), chi2, n, STATUS_OK, cov, chi2_nu, "ok")
