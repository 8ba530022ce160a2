"""Exceptions raised for bad user input."""
import math


class MocksimInputError(ValueError):
    """Invalid user input.

    The message names the offending key (scenario field, file or argument) and the
    allowed range. The CLI turns this into a one-line message and exit code 2.
    """


def require_range(key, value, low=None, high=None, *, low_inclusive=True, high_inclusive=True):
    """Raise :class:`MocksimInputError` unless ``low <= value <= high``.

    Parameters
    ----------
    key : str
        Name of the field shown to the user.
    value : float or array_like
        Value(s) to check; every element must be finite and within range.
    low, high : float, optional
        Bounds; ``None`` means unbounded.
    """
    if isinstance(value, float) or (isinstance(value, int) and not isinstance(value, bool)):
        v = float(value)                  # scalars (incl. numpy floats): no array round trip
        if not math.isfinite(v):
            raise MocksimInputError(f"{key}: must be finite, got {value!r}")
        lo_ok = low is None or (v >= low if low_inclusive else v > low)
        hi_ok = high is None or (v <= high if high_inclusive else v < high)
    else:
        import numpy as np

        try:
            arr = np.asarray(value, dtype=float)
        except (TypeError, ValueError):
            raise MocksimInputError(f"{key}: expected a number, got {value!r}") from None
        if not np.all(np.isfinite(arr)):
            raise MocksimInputError(f"{key}: must be finite, got {value!r}")
        lo_ok = True if low is None else (np.all(arr >= low) if low_inclusive else np.all(arr > low))
        hi_ok = True if high is None else (np.all(arr <= high) if high_inclusive else np.all(arr < high))
    if not (lo_ok and hi_ok):
        lb = "-inf" if low is None else f"{low:g}"
        hb = "inf" if high is None else f"{high:g}"
        lbr = "[" if low_inclusive else "("
        hbr = "]" if high_inclusive else ")"
        raise MocksimInputError(f"{key}: {value!r} is outside the allowed range {lbr}{lb}, {hb}{hbr}")
    return value
