"""Correction-curve fits: weights of cells without an error estimate (one realisation)."""
import numpy as np

from mocksim.calibration.curves import fit_curve, hill


def test_single_realisation_cell_does_not_dominate_the_fit():
    """A cell with one successful realisation has no standard error (NaN). It was given the
    error floor (0.1 x the median error: 100x the weight of a cell of 20 realisations), so a
    1-sigma draw of it was fitted exactly and bent the curve (p 1.8 -> 1.3, f(1) +0.05).
    Now it gets the other cells' per-realisation scatter: the fit with its true error."""
    x = np.array([1.0, 1.5, 2.0, 3.0, 4.0, 6.0])
    true = (0.95, np.log(1.5), 2.5)
    rng = np.random.default_rng(1)
    f = hill(x, *true) + 0.03 * rng.standard_normal(x.size)
    e = np.full(x.size, 0.03)                 # 20 realisations per cell: scatter 0.03 sqrt(20)
    n = np.full(x.size, 20)
    f[0], n[0] = hill(1.0, *true) + 0.03 * np.sqrt(20), 1
    ref = fit_curve(x, f, np.r_[0.03 * np.sqrt(20), e[1:]])
    e[0] = np.nan
    fit = fit_curve(x, f, e, n=n)
    np.testing.assert_allclose(fit.params, ref.params, rtol=1e-6)
    np.testing.assert_allclose(fit.cov, ref.cov, rtol=1e-5)
