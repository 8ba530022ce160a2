"""``require_range``: scalars and arrays are checked alike, with the field named."""
import numpy as np
import pytest

from mocksim.errors import MocksimInputError, require_range


@pytest.mark.parametrize("value", [0.5, 1, np.float64(0.5), np.int64(1), np.array(0.5), np.array([0.2, 0.9])])
def test_values_inside_the_range_are_returned_unchanged(value):
    assert require_range("k", value, 0.0, 1.0) is value


@pytest.mark.parametrize("value", [0.0, np.float64(0.0), np.array([0.0, 0.5])])
def test_exclusive_low_bound_rejects_the_bound_for_scalars_and_arrays(value):
    with pytest.raises(MocksimInputError, match=r"population\.re_kpc: .* outside the allowed range \(0, 50\]"):
        require_range("population.re_kpc", value, 0.0, 50.0, low_inclusive=False)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), np.float64("nan"), np.array([1.0, np.nan])])
def test_non_finite_values_are_rejected(value):
    with pytest.raises(MocksimInputError, match="k: must be finite"):
        require_range("k", value, 0.0, 10.0)


def test_open_bounds_and_exclusive_high():
    assert require_range("k", -1e300, None, 0.0) == -1e300
    with pytest.raises(MocksimInputError, match=r"\[-inf, 1\)"):
        require_range("k", 1.0, None, 1.0, high_inclusive=False)
    with pytest.raises(MocksimInputError, match=r"\[2, inf\]"):
        require_range("k", 1, 2.0)


@pytest.mark.parametrize("value", ["x", [1.0, "x"], {"a": 1}])
def test_non_numbers_are_input_errors_naming_the_key(value):
    with pytest.raises(MocksimInputError, match=r"clumps\.r_kpc: expected a number"):
        require_range("clumps.r_kpc", value, 0.0, 100.0)
