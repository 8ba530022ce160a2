"""The ``/stack`` group of ``results.h5``.

Layout (units in each dataset's ``units`` attribute)::

    /stack                        attrs: config (JSON), units ("arcsec"|"re"), pixscale,
                                         median_redshift, kpc_per_arcsec, n_galaxies, status,
                                         calibration, method, note
      gradient, gradient_err      dex/kpc (scalars)
      gradient_boot_err           dex/kpc, spread of the bootstrap replicas' gradients
      gradient_per_re, gradient_per_re_err   dex/R_e
      intercept, intercept_err    12+log(O/H) at r = 0
      cov                         (2, 2) covariance of (intercept, gradient)
      median_true_gradient, bias  dex/kpc; median_true_gradient_per_re, bias_per_re dex/R_e
      radius_kpc, radius          (n_annuli,) kpc and stack units; r_edges (n_annuli + 1,)
      log_oh, log_oh_err, log_oh_lo, log_oh_hi, met_status, used   (n_annuli,)
      flux/<line>, flux_err/<line>            annulus sums of the stacked maps (n_annuli,)
      maps/<line>, err_maps/<line>            stacked maps (2h+1, 2h+1)
      galaxy_index, centers, weights          stacked galaxies, centroids (x, y) [pix], [OIII] flux
      truth/<key>                             per stacked galaxy (redshift, gradient, re_kpc, ...)
      bins/<label>/...                        the same for each bin (attrs low, high, bin_by)
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import h5py
import numpy as np

from ..errors import MocksimInputError
from ..io_utils import atomic_path

__all__ = ["write_stack", "read_stack"]

_SCALARS = {"gradient": "dex/kpc", "gradient_err": "dex/kpc", "gradient_boot_err": "dex/kpc",
            "gradient_per_re": "dex/R_e", "gradient_per_re_err": "dex/R_e", "intercept": "dex",
            "intercept_err": "dex", "median_true_gradient": "dex/kpc", "bias": "dex/kpc",
            "median_true_gradient_per_re": "dex/R_e", "bias_per_re": "dex/R_e"}
_ARRAYS = {"radius_kpc": "kpc", "log_oh": "dex", "log_oh_err": "dex", "log_oh_lo": "dex",
           "log_oh_hi": "dex", "met_status": "", "used": "", "cov": "", "galaxy_index": "",
           "centers": "pixel (x, y)", "weights": "input flux units"}


def _write_result(g, res):
    g.attrs["config"] = json.dumps(res.config.as_dict() if res.config is not None else {})
    g.attrs["units"] = res.units
    g.attrs["note"] = ("stacked maps: per-pixel " + (res.config.method if res.config else "")
                       + " of the aligned maps (divided by each galaxy's integrated [OIII] flux when "
                       "weight = 'oiii'); errors: bootstrap over galaxies")
    for key in ("pixscale", "median_redshift", "kpc_per_arcsec", "n_galaxies", "status"):
        g.attrs[key] = getattr(res, key)
    if res.config is not None:
        g.attrs["calibration"] = res.config.calibration
        g.attrs["method"] = res.config.method
    for key, unit in _SCALARS.items():
        g.create_dataset(key, data=float(getattr(res, key))).attrs["units"] = unit
    for key, unit in _ARRAYS.items():
        g.create_dataset(key, data=np.asarray(getattr(res, key))).attrs["units"] = unit
    g.create_dataset("radius", data=np.asarray(res.radius)).attrs["units"] = res.units
    g.create_dataset("r_edges", data=np.asarray(res.r_edges)).attrs["units"] = res.units
    for name in ("flux", "flux_err", "maps", "err_maps"):
        sub = g.create_group(name)
        for ln, v in getattr(res, name).items():
            sub.create_dataset(ln, data=np.asarray(v, float))
    t = g.create_group("truth")
    for k, v in res.truth.items():
        t.create_dataset(k, data=np.asarray(v, float))
    if res.bins:
        b = g.create_group("bins")
        b.attrs["bin_by"] = res.config.bin_by
        for label, sub in res.bins.items():
            lo, hi = res.bin_ranges[label]
            sg = b.create_group(label)
            sg.attrs["low"], sg.attrs["high"] = lo, hi
            if sub is None:
                sg.attrs["n_galaxies"] = 0
                continue
            _write_result(sg, sub)


def write_stack(path, result, *, group: str = "stack") -> None:
    """Add (or replace) the ``/stack`` group of an existing ``results.h5``.

    The file is copied, modified and moved back in place atomically, so an
    error leaves the original untouched.

    Parameters
    ----------
    path : str or Path
        An existing HDF5 file (e.g. ``results.h5`` in a run's staging folder).
    result : StackResult
    group : str
        Group name (default ``"stack"``).
    """
    path = Path(path)
    if not path.is_file():
        raise MocksimInputError(f"results file not found: {path}")
    with atomic_path(path) as tmp:
        shutil.copyfile(path, tmp)
        with h5py.File(tmp, "a") as f:
            if group in f:
                del f[group]
            _write_result(f.create_group(group), result)


def _read(g):
    out = {"attrs": {k: (v.decode() if isinstance(v, bytes) else v) for k, v in g.attrs.items()}}
    for k, v in g.items():
        out[k] = _read(v) if isinstance(v, h5py.Group) else v[()]
    return out


def read_stack(path, group: str = "stack") -> dict:
    """Read the ``/stack`` group into nested dicts (datasets as numpy values, ``attrs``)."""
    with h5py.File(path, "r") as f:
        if group not in f:
            raise MocksimInputError(f"{path}: no /{group} group")
        return _read(f[group])
