"""Scenario values that are a number or a distribution.

A scenario value is either a number (fixed for every galaxy) or a TOML table:
``{dist = "uniform", low, high}``, ``{dist = "normal", mean, sigma[, low, high]}``
(optionally truncated by resampling within [low, high]),
``{dist = "lognormal", median, sigma}`` (``sigma`` is the standard deviation of
log10(x) in dex), ``{dist = "loguniform", low, high}`` or
``{dist = "choice", values = [...]}``.
"""
from __future__ import annotations

import numpy as np

from ..errors import MocksimInputError

DISTRIBUTIONS = {
    "uniform": ("low", "high"),
    "normal": ("mean", "sigma"),
    "lognormal": ("median", "sigma"),
    "loguniform": ("low", "high"),
    "choice": ("values",),
}
_OPTIONAL = {"normal": ("low", "high"), "lognormal": ("low", "high")}


def validate_spec(key: str, spec):
    """Check a number-or-distribution value; return it unchanged."""
    if isinstance(spec, bool):
        raise MocksimInputError(f"{key}: expected a number or a distribution table, got {spec!r}")
    if isinstance(spec, (int, float)):
        if not np.isfinite(spec):
            raise MocksimInputError(f"{key}: must be finite, got {spec!r}")
        return spec
    if not isinstance(spec, dict):
        raise MocksimInputError(f"{key}: expected a number or a table like "
                                f'{{dist = "uniform", low = ..., high = ...}}, got {spec!r}')
    dist = spec.get("dist")
    if dist not in DISTRIBUTIONS:
        raise MocksimInputError(f"{key}.dist: {dist!r}; allowed: {', '.join(DISTRIBUTIONS)}")
    need = DISTRIBUTIONS[dist]
    missing = [k for k in need if k not in spec]
    if missing:
        raise MocksimInputError(f"{key}: distribution {dist!r} needs {', '.join(need)} (missing {', '.join(missing)})")
    allowed = set(need) | set(_OPTIONAL.get(dist, ())) | {"dist"}
    extra = set(spec) - allowed
    if extra:
        raise MocksimInputError(f"{key}: unknown field(s) {sorted(extra)} for dist {dist!r}; allowed: {sorted(allowed)}")
    for k in (*need, *_OPTIONAL.get(dist, ())):
        if k in spec and k != "values":
            _check_number(f"{key}.{k}", spec[k])
    if dist == "choice" and isinstance(spec["values"], list):
        for v in spec["values"]:
            _check_number(f"{key}.values", v)
    if ("low" in spec and "high" in spec) and not spec["low"] < spec["high"]:
        raise MocksimInputError(f"{key}: need low < high, got low={spec['low']}, high={spec['high']}")
    if dist == "loguniform" and spec["low"] <= 0:
        raise MocksimInputError(f"{key}: loguniform needs low > 0")
    if dist in ("normal", "lognormal") and not spec["sigma"] >= 0:
        raise MocksimInputError(f"{key}.sigma: must be >= 0, got {spec['sigma']}")
    if dist == "lognormal" and not spec["median"] > 0:
        raise MocksimInputError(f"{key}.median: must be > 0, got {spec['median']}")
    if dist == "choice" and (not isinstance(spec["values"], list) or not spec["values"]):
        raise MocksimInputError(f"{key}.values: must be a non-empty list")
    return spec


def _check_number(key: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value):
        raise MocksimInputError(f"{key}: expected a finite number, got {value!r}")


def is_distribution(spec) -> bool:
    return isinstance(spec, dict)


def draw(spec, rng: np.random.Generator) -> float:
    """Draw one value from a number-or-distribution ``spec``."""
    if not isinstance(spec, dict):
        return spec
    dist = spec["dist"]
    if dist == "uniform":
        return float(rng.uniform(spec["low"], spec["high"]))
    if dist == "loguniform":
        return float(np.exp(rng.uniform(np.log(spec["low"]), np.log(spec["high"]))))
    if dist == "choice":
        vals = spec["values"]
        return vals[int(rng.integers(len(vals)))]
    lo, hi = spec.get("low", -np.inf), spec.get("high", np.inf)
    for _ in range(10000):
        if dist == "normal":
            val = float(rng.normal(spec["mean"], spec["sigma"]))
        else:
            val = float(spec["median"] * 10.0 ** rng.normal(0.0, spec["sigma"]))
        if lo <= val <= hi:
            return val
    raise MocksimInputError(f"distribution {spec!r}: could not draw a value within [{lo}, {hi}]")
