"""Stacking bias vs population properties: fits and points from ``/stack*`` groups.

The stacking bias is the stacked minus the population-median true gradient
[dex/kpc] (``/stack/bias`` written by :mod:`mocksim.stacking.io`). With stacks in
bins of a property (``/stack/bins/<label>``, attrs ``low``/``high``) or many
stacks of different populations, :func:`fit_property_bias` fits a low-order
polynomial ``bias(property)`` with bootstrap uncertainties and a running median;
:func:`mocksim.calibration.figures.stacking_bias_figure` plots it.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import MocksimInputError

@dataclass
class PropertyBiasFit:
    """Polynomial fit of a bias vs a population property, with bootstrap band.

    Attributes
    ----------
    coeffs : ndarray
        Highest power first (``numpy.polyval`` order); bias units (e.g. dex/kpc).
    cov : ndarray
    boot : ndarray
        ``(n_boot, degree + 1)`` bootstrap coefficients.
    bins : dict
        Running median: ``center, median, p16, p84, n`` per property bin.
    """

    coeffs: np.ndarray
    cov: np.ndarray
    boot: np.ndarray
    bins: dict
    degree: int

    def __call__(self, prop):
        return np.polyval(self.coeffs, prop)

    def band(self, prop, q=(16, 84)):
        """Bootstrap percentiles of the fitted relation at ``prop``."""
        vals = np.array([np.polyval(c, prop) for c in self.boot])
        return np.percentile(vals, q, axis=0)


def fit_property_bias(prop, bias, bias_err=None, *, degree: int = 1, n_boot: int = 500, n_bins: int = 6,
                      seed: int = 0) -> PropertyBiasFit:
    """Fit ``bias = poly(prop)`` (e.g. stacked minus population-median gradient vs a property).

    Parameters
    ----------
    prop, bias : array_like
        Property values (e.g. log M*, Re [kpc], redshift) and biases [dex/kpc].
    bias_err : array_like, optional
        1-sigma errors (weights ``1/err^2``); unweighted if None.
    degree : int
        Polynomial degree (0-3).
    n_boot : int
        Bootstrap resamples of the points.
    n_bins : int
        Bins (equal counts) of the running median.
    seed : int
        Bootstrap random seed.
    """
    x, y = np.asarray(prop, float), np.asarray(bias, float)
    e = np.ones_like(y) if bias_err is None else np.asarray(bias_err, float)
    good = np.isfinite(x) & np.isfinite(y) & np.isfinite(e) & (e > 0)
    x, y, e = x[good], y[good], e[good]
    if not 0 <= degree <= 3 or x.size <= degree:
        raise MocksimInputError(f"degree: need 0 <= degree <= 3 and more than degree points, got {degree}, {x.size}")
    coeffs, cov = np.polyfit(x, y, degree, w=1 / e, cov="unscaled" if bias_err is not None else True) \
        if x.size > degree + 2 else (np.polyfit(x, y, degree, w=1 / e), np.full((degree + 1,) * 2, np.nan))
    rng = np.random.default_rng(seed)
    boot = []
    for _ in range(n_boot):
        i = rng.integers(0, x.size, x.size)
        if np.unique(x[i]).size > degree:
            boot.append(np.polyfit(x[i], y[i], degree, w=1 / e[i]))
    edges = np.unique(np.quantile(x, np.linspace(0, 1, n_bins + 1)))
    idx = np.clip(np.searchsorted(edges, x, side="right") - 1, 0, len(edges) - 2)
    bins = {k: [] for k in ("center", "median", "p16", "p84", "n")}
    for b in range(len(edges) - 1):
        s = idx == b
        if s.any():
            bins["center"].append(np.median(x[s]))
            bins["median"].append(np.median(y[s]))
            p16, p84 = np.percentile(y[s], [16, 84])
            bins["p16"].append(p16)
            bins["p84"].append(p84)
            bins["n"].append(int(s.sum()))
    return PropertyBiasFit(coeffs=np.asarray(coeffs), cov=np.asarray(cov), boot=np.asarray(boot),
                           bins={k: np.asarray(v) for k, v in bins.items()}, degree=degree)


def stacking_bias_points(path) -> dict:
    """(property, bias, error) of every binned stack in a ``results.h5`` with ``/stack*`` groups.

    Each ``/stack*/bins/<label>`` contributes one point with its ``bias`` and
    ``gradient_err`` [dex/kpc], placed at the median property of its stacked
    galaxies (``truth/<bin_by>``, e.g. log M* [dex] or redshift); the bin's
    mid-property ``(low + high) / 2`` only when that is not stored. ``group`` is
    the HDF5 path of the bin.
    """
    import h5py

    out = {"prop": [], "bias": [], "err": [], "bin_by": None, "group": []}
    with h5py.File(path, "r") as f:
        for name in f:
            if not name.startswith("stack") or "bins" not in f[name]:
                continue
            b = f[name]["bins"]
            out["bin_by"] = b.attrs.get("bin_by", out["bin_by"])
            for label in b:
                sg = b[label]
                if "bias" not in sg:
                    continue
                key = f"truth/{out['bin_by']}"
                vals = np.asarray(sg[key][()], float) if out["bin_by"] and key in sg else np.zeros(0)
                vals = vals[np.isfinite(vals)]
                out["prop"].append(float(np.median(vals)) if vals.size
                                   else 0.5 * (float(sg.attrs["low"]) + float(sg.attrs["high"])))
                out["bias"].append(float(sg["bias"][()]))
                out["err"].append(float(sg["gradient_err"][()]))
                out["group"].append(f"{name}/bins/{label}")
    for k in ("prop", "bias", "err"):
        out[k] = np.asarray(out[k], float)
    return out
