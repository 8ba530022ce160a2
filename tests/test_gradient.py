"""Tests of mocksim.recovery.gradient."""
import numpy as np
import pytest

from mocksim.errors import MocksimInputError
from mocksim.recovery.gradient import fit_linear_gradient


def test_noiseless_line_is_recovered_exactly():
    r = np.linspace(0.3, 6.0, 9)
    y = 8.45 - 0.072 * r
    err = np.linspace(0.02, 0.2, 9)
    fit = fit_linear_gradient(r, y, err)
    assert fit.status == 0 and fit.ok and fit.n_points == 9
    assert fit.slope == pytest.approx(-0.072, abs=1e-12)
    assert fit.intercept == pytest.approx(8.45, abs=1e-12)
    assert fit.chi2 == pytest.approx(0.0, abs=1e-20)
    # analytic errors for equal weights: var(slope) = sigma^2 / sum (r - rbar)^2
    fit_eq = fit_linear_gradient(r, y, 0.1)
    assert fit_eq.slope_err == pytest.approx(0.1 / np.sqrt(np.sum((r - r.mean()) ** 2)), rel=1e-12)
    assert fit_eq.intercept_err == pytest.approx(
        0.1 * np.sqrt(1 / r.size + r.mean() ** 2 / np.sum((r - r.mean()) ** 2)), rel=1e-12)


def test_pull_distribution_with_noise():
    rng = np.random.default_rng(7)
    r = np.linspace(0.5, 5.0, 8)
    err = rng.uniform(0.03, 0.15, r.size)
    ntrial = 3000
    ps, pi, chi2 = np.empty(ntrial), np.empty(ntrial), np.empty(ntrial)
    for k in range(ntrial):
        y = 8.6 - 0.05 * r + rng.normal(size=r.size) * err
        f = fit_linear_gradient(r, y, err)
        ps[k] = (f.slope + 0.05) / f.slope_err
        pi[k] = (f.intercept - 8.6) / f.intercept_err
        chi2[k] = f.chi2
    for p in (ps, pi):
        assert abs(p.mean()) < 0.1 and abs(p.std() - 1) < 0.1
    assert abs(chi2.mean() / (r.size - 2) - 1) < 0.1


def test_asymmetric_errors_mask_and_bad_points():
    r = np.array([0.5, 1.0, 2.0, 3.0, 4.0, np.nan])
    y = np.array([8.5, 8.4, 8.35, 8.2, 8.15, 8.0])
    lo = np.array([0.05, 0.1, 0.05, 0.1, 0.2, 0.1])
    up = np.array([0.15, 0.1, 0.05, 0.3, 0.2, 0.1])
    f_asym = fit_linear_gradient(r, y, (lo, up))
    f_sym = fit_linear_gradient(r, y, 0.5 * (lo + up))
    assert f_asym.n_points == 5                     # NaN radius dropped
    assert f_asym.slope == pytest.approx(f_sym.slope, rel=1e-12)
    assert f_asym.slope_err == pytest.approx(f_sym.slope_err, rel=1e-12)
    f_m = fit_linear_gradient(r, y, 0.1, mask=[True, False, True, True, True, True])
    assert f_m.n_points == 4
    # scale_errors inflates errors only when chi2_nu > 1
    f_s = fit_linear_gradient(r, y, 0.001, scale_errors=True)
    f_n = fit_linear_gradient(r, y, 0.001)
    assert f_s.chi2_nu > 1
    assert f_s.slope_err == pytest.approx(f_n.slope_err * np.sqrt(f_n.chi2_nu), rel=1e-12)


def test_too_few_or_degenerate_points_give_status_not_exception():
    f1 = fit_linear_gradient([1.0], [8.5], [0.1])
    assert f1.status == 1 and not f1.ok and np.isnan(f1.slope) and f1.n_points == 1
    f0 = fit_linear_gradient([1.0, 2.0], [8.5, np.nan], [0.1, 0.1])
    assert f0.status == 1
    fd = fit_linear_gradient([2.0, 2.0, 2.0], [8.5, 8.4, 8.3], [0.1, 0.1, 0.1])
    assert fd.status == 2 and np.isnan(fd.slope)
    f2 = fit_linear_gradient([1.0, 3.0], [8.5, 8.3], [0.1, 0.1])
    assert f2.status == 0 and f2.slope == pytest.approx(-0.1) and np.isnan(f2.chi2_nu)
    with pytest.raises(MocksimInputError):
        fit_linear_gradient([1.0, 2.0], [8.5, 8.4], [0.1, 0.1, 0.1])


def test_many_profiles_at_once_match_one_by_one():
    """:func:`~mocksim.recovery.gradient.fit_linear_gradients` against one fit per profile:
    ordinary, masked, too few (also empty) and degenerate profiles."""
    from mocksim.recovery.gradient import fit_linear_gradients

    rng = np.random.default_rng(3)
    profiles = []
    for n in (6, 0, 1, 4, 9, 3):
        r = np.sort(rng.uniform(0.2, 5.0, n))
        profiles.append((r, 8.5 - 0.06 * r + rng.normal(0, 0.05, n), rng.uniform(0.02, 0.1, n), rng.random(n) > 0.2))
    profiles[4][0][:] = 2.0                                     # one radius: degenerate
    profiles[5][1][1] = np.nan
    cat = [np.concatenate(v) for v in zip(*profiles)]
    many = fit_linear_gradients(*cat[:3], [p[0].size for p in profiles], cat[3], scale_errors=True)
    for (r, y, e, m), got in zip(profiles, many):
        want = fit_linear_gradient(r, y, e, mask=m, scale_errors=True) if r.size else None
        if want is None:
            assert got.status == 1 and got.n_points == 0
            continue
        assert (got.status, got.n_points, got.message) == (want.status, want.n_points, want.message)
        for f in ("slope", "slope_err", "intercept", "intercept_err", "chi2", "chi2_nu"):
            np.testing.assert_allclose(getattr(got, f), getattr(want, f), rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(got.cov, want.cov, rtol=1e-12, atol=1e-15)
    assert [f.status for f in many] == [0, 1, 1, 0, 2, 1]
