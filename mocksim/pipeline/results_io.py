"""results.h5 and summary.json: layout, atomic writing and reading."""
from __future__ import annotations

import json

import h5py
import numpy as np

from .. import __version__
from ..io_utils import atomic_path
from .galaxy_run import primary_gradient


def collect(outputs, scn) -> dict:
    """Arrays for results.h5 from a list of :class:`GalaxyOutput` (ordered by index)."""
    n = len(outputs)
    truth = {k: np.array([np.nan if o.params[k] is None else o.params[k] for o in outputs])
             for k in outputs[0].params}
    for k in outputs[0].derived:
        truth[k] = np.array([o.derived[k] for o in outputs], dtype=float)
    mode = scn.recovery["gradient_fit"]
    prim = np.array([primary_gradient(o.recovery, mode) for o in outputs], dtype=float).reshape(n, 5)
    rec = {
        "gradient": prim[:, 0], "gradient_err": prim[:, 1],
        "log_oh_center": prim[:, 2], "log_oh_center_err": prim[:, 3],
        "status": prim[:, 4].astype(np.int32),
        "linear_gradient": np.array([o.recovery.gradient for o in outputs]),
        "linear_gradient_err": np.array([o.recovery.gradient_err for o in outputs]),
        "linear_status": np.array([o.recovery.status for o in outputs], dtype=np.int32),
        "n_bins_used": np.array([int(np.sum(o.recovery.used)) for o in outputs], dtype=np.int32),
    }
    if mode in ("forward", "both"):
        f = [o.recovery.forward for o in outputs]
        rec["forward_gradient"] = np.array([x.gradient for x in f])
        rec["forward_gradient_err"] = np.array([x.gradient_err for x in f])
        rec["forward_log_oh_center"] = np.array([x.log_oh_center for x in f])
        rec["forward_status"] = np.array([x.status for x in f], dtype=np.int32)
    nb = max(len(o.recovery.radius_kpc) for o in outputs)
    prof = {}
    for key in ("radius_kpc", "log_oh", "log_oh_lo", "log_oh_hi"):
        arr = np.full((n, nb), np.nan)
        for i, o in enumerate(outputs):
            v = np.asarray(getattr(o.recovery, key), dtype=float)
            arr[i, : len(v)] = v
        prof[key] = arr
    used = np.zeros((n, nb), dtype=bool)
    for i, o in enumerate(outputs):
        used[i, : len(o.recovery.used)] = o.recovery.used
    prof["used"] = used
    return {"truth": truth, "recovered": rec, "profiles": prof}


def write_results(path, arrays: dict, scn) -> None:
    """Write results.h5 atomically with the scenario, seed and version as attributes."""
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as f:
            f.attrs["scenario"] = scn.text
            f.attrs["scenario_name"] = scn.name
            f.attrs["seed"] = scn.seed
            f.attrs["mocksim_version"] = __version__
            f.attrs["n_galaxies"] = scn.n
            f.attrs["instrument"] = scn.instrument["name"]
            f.attrs["calibration"] = scn.recovery["calibration"]
            f.attrs["gradient_fit"] = scn.recovery["gradient_fit"]
            f.attrs["profile"] = scn.profile
            for group, data in arrays.items():
                g = f.create_group(group)
                for k, v in data.items():
                    g.create_dataset(k, data=v)
            f["profiles"].attrs["note"] = "rows are galaxies; NaN where a galaxy has fewer bins"
            f["recovered/gradient"].attrs["units"] = "dex/kpc"
            f["recovered/status"].attrs["meaning"] = "0 ok, 1 fewer than two usable bins, 2 fit failed"


def summary(arrays: dict, scn) -> dict:
    """Scenario-level numbers for summary.json."""
    t, r = arrays["truth"], arrays["recovered"]
    ok = r["status"] == 0
    diff = r["gradient"][ok] - t["gradient_dex_per_kpc"][ok]
    out = {
        "name": scn.name, "seed": scn.seed, "mocksim_version": __version__, "n_galaxies": scn.n,
        "n_ok": int(ok.sum()), "instrument": scn.instrument["name"], "psf": scn.instrument.get("psf"),
        "calibration": scn.recovery["calibration"], "gradient_fit": scn.recovery["gradient_fit"],
        "median_true_gradient": float(np.median(t["gradient_dex_per_kpc"])),
        "median_recovered_gradient": float(np.median(r["gradient"][ok])) if ok.any() else None,
        "median_bias": float(np.median(diff)) if ok.any() else None,
        "scatter": float(np.std(diff)) if ok.sum() > 1 else None,
        # 1.4826 x median absolute deviation: insensitive to the few catastrophic fits
        "scatter_robust": float(1.4826 * np.median(np.abs(diff - np.median(diff)))) if ok.sum() > 1 else None,
    }
    return out


def write_summary(path, data: dict) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, allow_nan=True) + "\n")


def read_results(path) -> dict:
    """Read results.h5 into nested dicts of numpy arrays plus ``attrs``."""
    out = {}
    with h5py.File(path, "r") as f:
        out["attrs"] = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in f.attrs.items()}
        for group in f:
            out[group] = _read_group(f[group])
    return out


def _read_group(g):
    out = {}
    for k, v in g.items():
        out[k] = _read_group(v) if isinstance(v, h5py.Group) else v[()]
    return out
