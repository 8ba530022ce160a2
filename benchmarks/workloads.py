"""The benchmark workloads W1-W4, their naive baselines and the W1 floor.

Every workload runs the real pipeline code (``process_galaxy``, ``stack_population``,
``run_grid``); nothing here is a benchmark-only fast path.
"""
from __future__ import annotations

import contextlib
import os
import tempfile
import time
import warnings

import numpy as np

from .common import Timing, log, peak_rss_mb, timed
from .naive import EMCEE_STEPS, fresh_psf, naive_pipeline

# ---------------------------------------------------------------------------- scenarios
#: W1: the calibration-grid unit of work -- one z = 6 disk through NIRSpec IFU G395M
#: on a compact 1.5'' cutout (15 x 15 spaxels x 1333 channels), JWST PSF, integrated
#: [OIII]5007 S/N = 30, then seed 001's recovery as the calibration scenarios run it:
#: spectra summed in annuli and fitted with tied kinematics (every covered line),
#: grid metallicity (the fast, exact method), linear gradient.
W1_SCENARIO = {
    "name": "bench_w1", "seed": 2026,
    "population": {
        "n": 100000, "redshift": 6.0,
        "re_kpc": {"dist": "uniform", "low": 0.6, "high": 1.5},
        "log_oh_center": 8.6,
        "gradient_dex_per_kpc": {"dist": "uniform", "low": -0.25, "high": 0.0},
        "inclination_deg": {"dist": "uniform", "low": 10.0, "high": 60.0},
        "pa_deg": {"dist": "uniform", "low": 0.0, "high": 180.0},
        "hbeta_flux_cgs": 2e-17, "v_rot_kms": 150.0, "sigma_kms": 60.0,
    },
    # oversample 3 (0.033'' model pixels, as the seed-001 G235M calibration scenario): gradients
    # within 2.2e-4 dex/kpc of oversample 7 (tests/test_oversample.py); the default 5 is
    # measured too, for reference (W1_OS5_SCENARIO)
    "instrument": {"name": "nirspec-ifu-g395m", "psf": "jwst", "fov_arcsec": 1.5, "oversample": 3},
    "noise": {"model": "snr", "snr_oiii": 30.0},
    "recovery": {"calibration": "curti20", "binning": "annuli", "metallicity_method": "grid",
                 "gradient_fit": "linear", "extraction": "spectra", "tie_kinematics": True},
}

#: W1 at the instrument's default oversample 5 (0.02'' model pixels): the W1 of sessions 1-7
W1_OS5_SCENARIO = dict(W1_SCENARIO, name="bench_w1_os5", instrument=dict(W1_SCENARIO["instrument"], oversample=5))

#: W1m: the same galaxies with per-spaxel line fits (5 groups x 225 spaxels, free
#: kinematics per group), line maps summed in the annuli.
W1_MAPS_SCENARIO = dict(W1_SCENARIO, name="bench_w1m",
                        recovery={"calibration": "curti20", "binning": "annuli", "metallicity_method": "grid",
                                  "gradient_fit": "linear"})

#: W2: one z = 6 disk through the NIRCam F356W grism (ASPIRE-like set-up of
#: ``scenarios/aspire_f356w.toml`` at fixed z), R3 metallicity, linear gradient
#: (bins whose posterior touches the lower-branch edge are kept, so single galaxies
#: get a gradient).
W2_SCENARIO = {
    "name": "bench_w2", "seed": 2027,
    "population": {
        "n": 100000, "redshift": 6.0,
        "re_kpc": {"dist": "lognormal", "median": 0.53, "sigma": 0.22, "low": 0.25, "high": 1.5},
        "log_oh_center": {"dist": "uniform", "low": 7.7, "high": 7.85},
        "gradient_dex_per_kpc": {"dist": "uniform", "low": -0.4, "high": 0.0},
        "inclination_deg": {"dist": "uniform", "low": 0.0, "high": 70.0},
        "pa_deg": {"dist": "uniform", "low": 0.0, "high": 180.0},
        "hbeta_flux_cgs": 2e-18, "v_rot_kms": 80.0, "sigma_kms": 60.0,
    },
    # oversample 3: gradients within 3.3e-4 dex/kpc of oversample 7 (tests/test_oversample.py)
    "instrument": {"name": "nircam-wfss-f356w", "psf": "jwst", "fov_arcsec": 2.0, "oversample": 3},
    "noise": {"model": "snr", "snr_oiii": 50.0},
    "recovery": {"calibration": "sanders24", "binning": "annuli", "annulus_width_arcsec": 0.084,
                 "r_max_arcsec": 0.42, "geometry": "truth", "branch": "lower", "keep_edge_bins": True,
                 "metallicity_method": "grid", "gradient_fit": "linear", "lines": ["Hbeta", "OIII5007"]},
}


#: workload key -> scenario dict (``galaxy_workload``'s ``which`` and ``alternate``)
SCENARIOS = {"w1": W1_SCENARIO, "w1o5": W1_OS5_SCENARIO, "w1m": W1_MAPS_SCENARIO, "w2": W2_SCENARIO}


def _scenario(d, n=None, name=None):
    from mocksim.pipeline.scenario import scenario_from_dict

    d = dict(d, population=dict(d["population"]))
    if n is not None:
        d["population"]["n"] = int(n)
    if name is not None:
        d["name"] = name
    return scenario_from_dict(d)


@contextlib.contextmanager
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def _per_galaxy(scn, indices, timing: Timing):
    from mocksim.pipeline.galaxy_run import process_galaxy

    out = []
    for i in indices:
        with timed(timing):
            out.append(process_galaxy(scn, int(i)))
    return out


# ---------------------------------------------------------------------------- W1 / W2
def galaxy_workload(which: str, n_gal: int, n_naive: int, naive_spaxels, naive_steps: int,
                    quiet: bool = False, batch: int = 1, alternate: str | None = None) -> dict:
    """Per-galaxy time of W1 (IFU) or W2 (grism) and of its naive baseline.

    ``batch > 1``: galaxies run in batches through ``process_galaxies`` (as the
    calibration engine runs a chunk) and the per-galaxy time is the batch time over
    the batch size (medians over batches). ``alternate`` (with ``batch > 1``): a
    reference variant (e.g. ``"w1o5"``) whose same batches are timed right after each
    batch and its floor, so both see the same machine load; its time and the median of
    the per-batch ratios go under ``res["alternate"]``."""
    from mocksim.pipeline.build import build_instrument
    from mocksim.pipeline.galaxy_run import process_galaxy

    d = SCENARIOS[which]
    ifu = d["instrument"]["name"].startswith("nirspec-ifu")
    scn = _scenario(d)
    res = {"scenario": d}
    with _quiet():
        t_first = Timing()
        with timed(t_first):
            # imports, PSF kernels, kernel FFTs, basis caches; W1 also records the floor's shapes
            floor = _FloorProbe(scn) if ifu else _GrismFloorProbe(scn)
        res["first_galaxy_s"] = t_first.wall[0]
        t, tf = Timing(), Timing()
        outs = []
        if batch > 1:
            # as the grid engine runs it: the recovery batched over the galaxies of a chunk;
            # per-galaxy time = batch time / batch size, the floor timed right after each batch
            from mocksim.pipeline.galaxy_run import process_galaxies

            tu = Timing()
            _per_galaxy(scn, range(1, min(n_gal, 10) + 1), tu)      # for reference: one by one
            res["unbatched_per_galaxy_s"] = tu.cpu_median
            alt, ta = None, Timing()
            if alternate is not None:
                alt_d = SCENARIOS[alternate]
                alt = _scenario(alt_d)
                process_galaxies(alt, [0, 1])                      # warm its caches (kernels at its grid)
            for b0 in range(1, n_gal + 1, batch):
                chunk = list(range(b0, min(b0 + batch, n_gal + 1)))
                w0, c0 = time.perf_counter(), time.process_time()
                outs += process_galaxies(scn, chunk)
                t.add((time.perf_counter() - w0) / len(chunk), (time.process_time() - c0) / len(chunk))
                if floor is not None:
                    w0, c0 = time.perf_counter(), time.process_time()
                    for _ in chunk:
                        floor.run()
                    tf.add((time.perf_counter() - w0) / len(chunk), (time.process_time() - c0) / len(chunk))
                if alt is not None:
                    w0, c0 = time.perf_counter(), time.process_time()
                    process_galaxies(alt, chunk)
                    ta.add((time.perf_counter() - w0) / len(chunk), (time.process_time() - c0) / len(chunk))
            res["batch"] = batch
            res["per_batch_cpu_s"] = [float(c) for c in t.cpu]    # per galaxy, batch by batch (machine spread)
            if alt is not None:
                ratio = float(np.median(np.array(t.cpu) / np.array(ta.cpu)))
                res["alternate"] = {"which": alternate, "scenario": alt_d, "per_galaxy_s": ta.cpu_median,
                                    "galaxies_per_s": 1.0 / ta.cpu_median, "n_timed": ta.n,
                                    "ratio_to_alternate": ratio}
                log(f"  {which} / {alternate}, same batches alternated: {ratio:.2f} per galaxy "
                    f"({alternate}: {ta.cpu_median * 1e3:.1f} ms CPU per galaxy)", quiet)
        else:
            for i in range(1, n_gal + 1):       # floor timed right after each galaxy: same load
                outs += _per_galaxy(scn, [i], t)
                if floor is not None:
                    with timed(tf):
                        floor.run()
        res.update(per_galaxy_s=t.cpu_median, per_galaxy_wall_s=t.wall_median, n=n_gal, n_timed=t.n,
                   galaxies_per_s=1.0 / t.cpu_median, galaxies_per_wall_s=1.0 / t.wall_median,
                   status_ok=int(sum(o.recovery.status == 0 for o in outs)))
        unit = f"batches of {batch}, per galaxy" if batch > 1 else "galaxies, per galaxy"
        log(f"  {which}: {n_gal} galaxies ({t.n} {unit}): median {t.wall_median * 1e3:.1f} ms wall / "
            f"{t.cpu_median * 1e3:.1f} ms CPU per galaxy", quiet)
        if batch > 1:
            log(f"  {which}: one by one {res['unbatched_per_galaxy_s'] * 1e3:.1f} ms CPU per galaxy", quiet)
        if floor is not None:
            res["floor"] = dict(floor.info, per_galaxy_s=tf.cpu_median, per_galaxy_wall_s=tf.wall_median)
            res["over_floor"] = t.cpu_median / tf.cpu_median
            log(f"  {which} floor: {tf.cpu_median * 1e3:.1f} ms CPU per galaxy; {which} / floor = {res['over_floor']:.2f}",
                quiet)
        if n_naive > 0:
            inst = build_instrument(scn, 0)
            tn, stats_all = Timing(), []
            for j in range(n_naive):
                stats = {}
                with naive_pipeline(ifu_fits=ifu, max_spaxels=naive_spaxels,
                                    emcee_steps=naive_steps, stats=stats):
                    with fresh_psf(inst), timed(tn):
                        process_galaxy(scn, 1 + j)
                stats_all.append(stats)
            # extrapolate the subsampled parts (spaxels, emcee steps) to the full naive cost
            ext = [c - s.get("fit_s", 0.0) - s.get("emcee_s", 0.0) + s.get("fit_extrapolated_s", 0.0)
                   + s.get("emcee_extrapolated_s", 0.0) for c, s in zip(tn.cpu, stats_all)]
            naive_s = float(np.median(ext))
            res["naive"] = {
                "per_galaxy_s": naive_s, "measured_s": tn.cpu_median, "measured_wall_s": tn.wall_median, "n": tn.n,
                "line_fit_s": float(np.median([s.get("fit_extrapolated_s", 0.0) for s in stats_all])),
                "emcee_s": float(np.median([s.get("emcee_extrapolated_s", 0.0) for s in stats_all])),
                "spaxels_fitted": stats_all[0].get("spaxels_fitted"), "spaxels": stats_all[0].get("spaxels"),
                "emcee_steps_run": naive_steps, "emcee_steps": EMCEE_STEPS,
                "extrapolated": bool(naive_steps != EMCEE_STEPS or (stats_all[0].get("spaxels_fitted", 0)
                                                                   != stats_all[0].get("spaxels", 0))),
            }
            res["speedup_vs_naive"] = naive_s / t.cpu_median
            log(f"  {which} naive: {naive_s:.2f} CPU s per galaxy (extrapolated from {tn.cpu_median:.2f} s "
                f"measured); speed-up {res['speedup_vs_naive']:.0f}x", quiet)
    return res


class _FloorProbe:
    """The work W1 cannot avoid, replayed on the shapes of a real W1 galaxy.

    * the PSF convolutions: every FFT convolution the renderer performs on the probe
      galaxy (same array shapes and wavelengths, kernel FFTs cached);
    * the cube passes of the noise model: allocate the cube, draw one Gaussian
      deviate per voxel (the pipeline's generator), form data = model + sigma * deviate
      and the error cube.

    Constructing the probe runs galaxy 0 through the pipeline and records the calls.
    """

    def __init__(self, scn):
        from mocksim.instruments.noise import noise_generator
        from mocksim.pipeline.build import build_instrument
        from mocksim.pipeline.galaxy_run import process_galaxy

        inst = build_instrument(scn, 0)
        name = "_convolve_blocks" if hasattr(inst, "_convolve_blocks") else "_convolve"
        orig = getattr(inst, name)
        calls = []

        def record(sub, *args):
            calls.append((sub.shape, args))
            return orig(sub, *args)

        setattr(inst, name, record)
        try:
            out = process_galaxy(scn, 0, keep_products=True)
        finally:
            delattr(inst, name)
        self.fn = orig
        self.calls = calls
        self.shape = out.obs.data.shape
        rng = np.random.default_rng(0)
        self.subs = [rng.standard_normal(c[0]) for c in calls]
        self.rng = noise_generator(0)             # the deviates' generator of the pipeline
        self.info = {"fft_convolutions": len(calls), "images_convolved": int(sum(c[0][0] for c in calls)),
                     "cube_shape": list(self.shape), "convolve_method": name}

    def run(self):
        for sub, (_, args) in zip(self.subs, self.calls):
            self.fn(sub, *args)
        cube = np.zeros(self.shape)
        err = np.full(self.shape, 1.0)
        data = cube + err * self.rng.standard_normal(self.shape)
        return data


class _GrismFloorProbe:
    """The FFT and noise work of W2, replayed on the shapes of a real W2 galaxy (for reference).

    * every FFT the grism renderer performs on the probe galaxy (dispersed lines and
      direct images; same shapes, same ``s`` padding; the inverse ones on the detector
      grid), kernel spectra excluded (cached);
    * the noise pass over the dispersed image: one Gaussian deviate per pixel,
      data = model + sigma x deviate.

    Constructing the probe runs galaxy 0 through the pipeline twice (the first fills the
    kernel-spectrum cache) and records the calls of the second.
    """

    def __init__(self, scn):
        from mocksim.instruments import fftconv, grism_disperse
        from mocksim.instruments.noise import noise_generator
        from mocksim.pipeline.galaxy_run import process_galaxy

        process_galaxy(scn, 0)
        real = grism_disperse.sfft
        mods = (grism_disperse, fftconv)        # dispersed lines; direct images
        calls = []

        class _Recorder:
            def __getattr__(self, name):
                fn = getattr(real, name)
                if name not in ("rfft2", "irfft2", "rfft", "fft"):
                    return fn

                def rec(a, *args, **kw):
                    calls.append((name, a.shape, a.dtype, args, kw))
                    return fn(a, *args, **kw)
                return rec

        for m in mods:
            m.sfft = _Recorder()
        try:
            out = process_galaxy(scn, 0, keep_products=True)
        finally:
            for m in mods:
                m.sfft = real
        rng = np.random.default_rng(0)
        self.jobs = []
        for name, shape, dtype, args, kw in calls:
            a = rng.standard_normal(shape)
            if np.issubdtype(dtype, np.complexfloating):
                a = a + 1j * rng.standard_normal(shape)
            self.jobs.append((getattr(real, name), a, args, kw))
        self.shape = out.obs.data.shape
        self.rng = noise_generator(0)             # the deviates' generator of the pipeline
        self.info = {"fft_calls": len(calls), "fft_points": int(sum(np.prod(c[1]) for c in calls)),
                     "dispersed_shape": list(self.shape)}

    def run(self):
        for fn, a, args, kw in self.jobs:
            fn(a, *args, **kw)
        model = np.zeros(self.shape)
        err = np.full(self.shape, 1.0)
        return model + err * self.rng.standard_normal(self.shape)


# ---------------------------------------------------------------------------- W3
def synthetic_stack_inputs(n: int, seed: int = 3, size: int = 25, pix: float = 0.06):
    """Line maps of ``n`` compact z ~ 6 galaxies (exponential disks + noise)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size] - (size - 1) / 2
    maps, errs, z, grads, re = [], [], [], [], []
    for _ in range(n):
        r_e = rng.uniform(1.5, 4.0)                          # pixels
        dx, dy = rng.normal(0, 0.7, 2)
        r = np.hypot(x - dx, y - dy)
        prof = np.exp(-1.68 * r / r_e)
        prof /= prof.sum()
        f_o3 = 10 ** rng.uniform(-17.7, -17.0)
        grad = rng.uniform(-0.4, 0.0)
        r3 = 10 ** (0.75 + 0.15 * grad * r / r_e)             # mild radial change of R3
        noise = 0.02 * f_o3 * prof.max()
        o3 = f_o3 * prof + rng.normal(0, noise, prof.shape)
        hb = f_o3 * prof / r3 + rng.normal(0, noise, prof.shape)
        maps.append({"OIII5007": o3, "Hbeta": hb})
        errs.append({"OIII5007": np.full(prof.shape, noise), "Hbeta": np.full(prof.shape, noise)})
        z.append(rng.uniform(5.5, 6.5))
        grads.append(grad)
        re.append(r_e * pix * 5.8)
    return maps, errs, np.array(z), pix, np.array(grads), np.array(re)


def stack_workload(n_gal: int, naive: bool, naive_steps: int, quiet: bool = False) -> dict:
    """W3: median stack of ``n_gal`` galaxies with 200 bootstrap replicas."""
    from mocksim.stacking import StackConfig, stack_population

    maps, errs, z, pix, grads, re = synthetic_stack_inputs(n_gal)
    cfg = StackConfig(calibration="sanders24", branch="lower", bootstrap=200)
    res = {"n_galaxies": n_gal, "bootstrap": cfg.bootstrap}
    with _quiet():
        stack_population(maps[:10], errs[:10], z[:10], pix, cfg, rng=0)      # warm-up (imports)
        t = Timing()
        for _ in range(2):
            with timed(t):
                out = stack_population(maps, errs, z, pix, cfg, true_gradients=grads, re_kpc=re, rng=1)
        res.update(seconds=min(t.cpu), wall_seconds=t.wall_min, gradient=float(out.gradient))
        log(f"  w3: {n_gal}-galaxy median stack + bootstrap in {min(t.cpu):.2f} CPU s", quiet)
        if naive:
            from mocksim.stacking import profile as sprof

            orig = sprof.infer_metallicity
            spent = {"s": 0.0}

            def infer(*a, **kw):
                kw = dict(kw, method="emcee")
                if naive_steps != EMCEE_STEPS:
                    kw.update(nsteps=naive_steps, nburn=max(naive_steps // 4, 1))
                t0 = time.process_time()
                r = orig(*a, **kw)
                spent["s"] += time.process_time() - t0
                return r

            sprof.infer_metallicity = infer
            try:
                tn = Timing()
                with timed(tn):
                    stack_population(maps, errs, z, pix, cfg, true_gradients=grads, re_kpc=re, rng=1)
            finally:
                sprof.infer_metallicity = orig
            naive_s = tn.cpu[0] - spent["s"] + spent["s"] * EMCEE_STEPS / naive_steps
            res["naive"] = {"seconds": naive_s, "measured_s": tn.cpu[0],
                            "extrapolated": naive_steps != EMCEE_STEPS}
            log(f"  w3 naive (emcee per annulus): {naive_s:.2f} s", quiet)
    return res


# ---------------------------------------------------------------------------- W4
def grid_workload(n_gal: int, workers=(1, 2), quiet: bool = False) -> dict:
    """W4: calibration-grid throughput with 1 and 2 worker processes (W1 galaxies).

    The grid runs four times, in the order 1, 2, 2, 1 workers (ABBA: a machine whose
    speed drifts during the measurement affects both worker counts alike); the
    throughput of a worker count is its ``2 n_gal`` galaxies over its summed wall time.
    """
    res = {"n_galaxies": n_gal}
    try:
        from mocksim.calibration.engine import run_grid
        runner = "mocksim.calibration.engine.run_grid"
    except ImportError:  # pragma: no cover - older trees
        run_grid = None
        runner = "mocksim.pipeline.run.run_scenario"
    res["runner"] = runner
    res["load_average_before"] = list(os.getloadavg())
    lo, hi = min(workers), max(workers)
    runs = []
    for k, w in enumerate((lo, hi, hi, lo)):
        scn = _scenario(W1_SCENARIO, n=n_gal, name=f"bench_w4_{w}")
        with tempfile.TemporaryDirectory(prefix="mocksim-bench-") as tmp, _quiet():
            t0 = time.perf_counter()
            if run_grid is not None:
                g = run_grid(scn, f"{tmp}/out", workers=w, progress=False, products=False)
                elapsed = g.elapsed_s
                cpu = g.cpu_s_per_realisation
            else:
                from mocksim.pipeline.run import run_scenario

                run_scenario(scn, f"{tmp}/out", workers=w, progress=False, n_plot=0)
                elapsed, cpu = time.perf_counter() - t0, float("nan")
        runs.append({"workers": w, "seconds": elapsed, "galaxies_per_s": n_gal / elapsed, "cpu_s_per_galaxy": cpu,
                     "total_s": time.perf_counter() - t0, "load_average_after": list(os.getloadavg())})
        log(f"  w4 run {k + 1}/4: {w} worker(s): {n_gal} galaxies in {elapsed:.1f} s "
            f"({n_gal / elapsed:.1f} galaxies/s)", quiet)
    res["runs"] = runs
    thr, cpu_per = {}, {}
    for w in (lo, hi):
        mine = [r for r in runs if r["workers"] == w]
        seconds = sum(r["seconds"] for r in mine)
        thr[w] = n_gal * len(mine) / seconds
        cpu_per[w] = float(np.mean([r["cpu_s_per_galaxy"] for r in mine]))
        res[f"workers_{w}"] = {"seconds": seconds, "galaxies": n_gal * len(mine), "galaxies_per_s": thr[w],
                               "cpu_s_per_galaxy": cpu_per[w], "cores_used": thr[w] * cpu_per[w]}
    res["scaling_efficiency"] = (thr[hi] / thr[lo]) / (hi / lo)
    # load-independent part: growth of the per-galaxy worker CPU time with more workers
    res["cpu_scaling_efficiency"] = cpu_per[lo] / cpu_per[hi]
    res["peak_rss_workers_mb"] = peak_rss_mb(children=True)
    return res
