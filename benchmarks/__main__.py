"""``python -m benchmarks [--quick] [--json FILE] [--only w1,w1m,w2,w3,w4]``.

Measures, in this one process and run, every workload and its naive baseline and
prints a table (stdout) and, with ``--json``, the numbers as JSON. Progress goes
to stderr. See ``benchmarks/README.md`` for the definitions.
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import time


#: (quick, full) settings; a batch of None: the grid engine's chunk size for the workload's
#: scenario (:func:`mocksim.pipeline.chunks.default_chunk_size`, 64 for their 100,000 galaxies)
SETTINGS = {
    "w1_galaxies": (4, 256), "w1_batch": (2, None), "w1_naive_galaxies": (1, 2),
    "w1m_galaxies": (3, 30), "w1m_naive_galaxies": (1, 2), "w1m_naive_spaxels": (6, None),
    "w2_galaxies": (4, 512), "w2_batch": (2, None), "w2_naive_galaxies": (1, 2),
    "naive_emcee_steps": (40, 2000),
    "w3_galaxies": (40, 300),
    "w4_galaxies": (4, 2000),
}

TARGETS = {
    "w1_galaxies_per_s": (">=", 50.0), "w1_speedup_vs_naive": (">=", 100.0), "w1_over_floor": ("<=", 3.0),
    "w1_maps_galaxies_per_s": (">=", 50.0), "w1_maps_speedup_vs_naive": (">=", 100.0),
    "w1_maps_over_floor": ("<=", 3.0),
    "w2_galaxies_per_s": (">=", 200.0), "w3_seconds": ("<", 2.0), "w4_scaling_efficiency": (">=", 0.8),
    "peak_rss_mb": ("<", 1024.0),
}


def _fmt(v, spec=".3g"):
    if v is None:
        return "n/a"
    if isinstance(v, float) and v != v:
        return "nan"
    return format(v, spec)


def _met(key, v):
    if v is None or key not in TARGETS:
        return ""
    op, t = TARGETS[key]
    ok = {">=": v >= t, "<=": v <= t, "<": v < t}[op]
    return "yes" if ok else "NO"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="few galaxies, subsampled baselines (seconds)")
    ap.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    ap.add_argument("--only", default="w1,w1m,w2,w3,w4", help="comma-separated subset of w1,w1m,w2,w3,w4")
    ap.add_argument("--quiet", action="store_true", help="no progress on stderr")
    args = ap.parse_args(argv)
    q = 0 if args.quick else 1
    S = {k: v[q] for k, v in SETTINGS.items()}
    only = {w.strip().lower() for w in args.only.split(",") if w.strip()}
    bad = only - {"w1", "w1m", "w2", "w3", "w4"}
    if bad:
        ap.error(f"--only: unknown workload(s) {sorted(bad)}")

    from mocksim.pipeline.chunks import default_chunk_size
    from mocksim.pipeline.malloc import tune_malloc

    from . import workloads as W
    from .common import log, peak_rss_mb

    # the heap settings of mocksim run's and the calibration engine's chunk workers
    malloc_tuned = tune_malloc()
    for w, scn in (("w1", W.W1_SCENARIO), ("w2", W.W2_SCENARIO)):    # batches as the engine chunks them
        if S[f"{w}_batch"] is None:
            S[f"{w}_batch"] = default_chunk_size(scn["population"]["n"])

    t_start = time.perf_counter()
    details = {"mode": "quick" if args.quick else "full", "settings": S,
               "python": sys.version.split()[0], "malloc_tuned": malloc_tuned, "machine": platform.machine(),
               "platform": platform.platform()}
    out = {k: None for k in ("w1_galaxies_per_s", "w1_speedup_vs_naive", "w1_over_floor", "w2_galaxies_per_s",
                             "w3_seconds", "w4_scaling_efficiency", "peak_rss_mb", "w1_maps_galaxies_per_s",
                             "w1_maps_speedup_vs_naive", "w1_maps_over_floor", "w1_oversample5_galaxies_per_s",
                             "w1_oversample3_over_5")}
    if "w1" in only:
        log("W1 NIRSpec IFU galaxy end to end (z = 6, G395M)", args.quiet)
        log("  (annulus-summed spectra, tied kinematics, recovery batched per chunk: as the calibration grids run)",
            args.quiet)
        log("  (oversample 3; the default oversample 5 timed on the same batches, alternately, for reference)",
            args.quiet)
        r = W.galaxy_workload("w1", S["w1_galaxies"], S["w1_naive_galaxies"], None,
                              S["naive_emcee_steps"], quiet=args.quiet, batch=S["w1_batch"], alternate="w1o5")
        details["w1"] = r
        a = r.get("alternate", {})
        out.update(w1_galaxies_per_s=r["galaxies_per_s"], w1_speedup_vs_naive=r.get("speedup_vs_naive"),
                   w1_over_floor=r.get("over_floor"), w1_oversample5_galaxies_per_s=a.get("galaxies_per_s"),
                   w1_oversample3_over_5=a.get("ratio_to_alternate"))
    if "w1m" in only:
        log("W1m the same galaxies with per-spaxel line fits and line maps", args.quiet)
        r = W.galaxy_workload("w1m", S["w1m_galaxies"], S["w1m_naive_galaxies"], S["w1m_naive_spaxels"],
                              S["naive_emcee_steps"], quiet=args.quiet)
        details["w1m"] = r
        out.update(w1_maps_galaxies_per_s=r["galaxies_per_s"], w1_maps_speedup_vs_naive=r.get("speedup_vs_naive"),
                   w1_maps_over_floor=r.get("over_floor"))
    if "w2" in only:
        log("W2 NIRCam grism galaxy end to end (z = 6, F356W)", args.quiet)
        try:
            from mocksim.instruments import INSTRUMENT_PRESETS

            available = "nircam-wfss-f356w" in INSTRUMENT_PRESETS
        except ImportError:  # pragma: no cover
            available = False
        if available:
            r = W.galaxy_workload("w2", S["w2_galaxies"], S["w2_naive_galaxies"], None, S["naive_emcee_steps"],
                                  quiet=args.quiet, batch=S["w2_batch"])
            details["w2"] = r
            out["w2_galaxies_per_s"] = r["galaxies_per_s"]
        else:
            details["w2"] = {"unavailable": "preset nircam-wfss-f356w not registered"}
            log("  w2: unavailable (no nircam-wfss-f356w preset)", args.quiet)
    if "w3" in only:
        log("W3 median stack with bootstrap errors", args.quiet)
        r = W.stack_workload(S["w3_galaxies"], True, S["naive_emcee_steps"], quiet=args.quiet)
        details["w3"] = r
        out["w3_seconds"] = r["seconds"]
    if "w4" in only:
        log("W4 calibration-grid throughput, 1 and 2 workers", args.quiet)
        r = W.grid_workload(S["w4_galaxies"], quiet=args.quiet)
        details["w4"] = r
        out["w4_scaling_efficiency"] = r["scaling_efficiency"]
    out["peak_rss_mb"] = max(peak_rss_mb(), peak_rss_mb(children=True))
    details["peak_rss_main_mb"] = peak_rss_mb()
    details["peak_rss_children_mb"] = peak_rss_mb(children=True)
    details["total_seconds"] = time.perf_counter() - t_start
    out["details"] = details

    print(table(out))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1, default=_json_default)
    return 0


def _json_default(o):
    try:
        import numpy as np

        if isinstance(o, np.generic):
            return o.item()
        if isinstance(o, np.ndarray):
            return o.tolist()
    except ImportError:  # pragma: no cover
        pass
    return str(o)


def table(out: dict) -> str:
    d = out["details"]
    rows = [("workload", "measure", "value", "naive baseline", "target", "met")]

    def add(key, work, measure, value, naive="", spec=".3g"):
        op, t = TARGETS.get(key, ("", None))
        rows.append((work, measure, _fmt(value, spec), naive, f"{op} {t:g}" if t is not None else "",
                     _met(key, value)))

    w1 = d.get("w1", {})
    nv = w1.get("naive", {})
    add("w1_galaxies_per_s", "W1 IFU z=6 G395M annuli", "galaxies / CPU-s (1 core)", out["w1_galaxies_per_s"],
        f"{1 / nv['per_galaxy_s']:.3g} galaxies/s" if nv else "")
    add("w1_speedup_vs_naive", "", "speed-up vs naive", out["w1_speedup_vs_naive"])
    add("w1_over_floor", "", "time / floor", out["w1_over_floor"])
    add("w1_oversample5_galaxies_per_s", "W1 at oversample 5", "galaxies / CPU-s (reference, no target)",
        out.get("w1_oversample5_galaxies_per_s"))
    add("w1_oversample3_over_5", "", "time oversample 3 / 5 (same batches)", out.get("w1_oversample3_over_5"))
    w1m = d.get("w1m", {})
    nvm = w1m.get("naive", {})
    add("w1_maps_galaxies_per_s", "W1m same, spaxel fits", "galaxies / CPU-s (1 core)",
        out["w1_maps_galaxies_per_s"], f"{1 / nvm['per_galaxy_s']:.3g} galaxies/s" if nvm else "")
    add("w1_maps_speedup_vs_naive", "", "speed-up vs naive", out["w1_maps_speedup_vs_naive"])
    add("w1_maps_over_floor", "", "time / floor", out["w1_maps_over_floor"])
    w2 = d.get("w2", {})
    nv2 = w2.get("naive", {})
    add("w2_galaxies_per_s", "W2 grism z=6 F356W", "galaxies / CPU-s (1 core)", out["w2_galaxies_per_s"],
        f"{1 / nv2['per_galaxy_s']:.3g} galaxies/s" if nv2 else ("unavailable" if "unavailable" in w2 else ""))
    add("w2_over_floor", "", "time / FFT+noise floor (no target)", w2.get("over_floor"))
    w3 = d.get("w3", {})
    add("w3_seconds", f"W3 stack of {w3.get('n_galaxies', 300)}", "CPU seconds", out["w3_seconds"],
        f"{w3['naive']['seconds']:.3g} s" if "naive" in w3 else "")
    add("w4_scaling_efficiency", "W4 calibration grid", "scaling 1 -> 2 workers", out["w4_scaling_efficiency"])
    add("peak_rss_mb", "all", "peak RSS per process [MB]", out["peak_rss_mb"], spec=".0f")
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    lines = []
    for k, r in enumerate(rows):
        lines.append("  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip())
        if k == 0:
            lines.append("  ".join("-" * w for w in widths))
    lines.append(f"({d['mode']} run, {d['total_seconds']:.0f} s wall; times are CPU seconds of one "
                 f"single-threaded process (medians per galaxy), W4 is wall time; see benchmarks/README.md)")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
