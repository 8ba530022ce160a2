"""``mocksim run``: a scenario end to end, with all checks before any output."""
from __future__ import annotations

import os
import re
import shutil
import tempfile
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from .. import __version__
from ..errors import MocksimInputError
from ..lines import LINES
from .build import build_galaxy, build_instrument, build_noise
from .chunks import chunk_bounds, run_chunk_size
from .galaxy_run import process_galaxies
from .malloc import tune_malloc
from .results_io import collect, summary, write_results, write_summary


@dataclass
class RunResult:
    """What a run produced."""

    out_dir: Path
    arrays: dict
    summary: dict
    outputs: list
    stack: object | None = None


#: Most distinct Sérsic indices for which preflight checks every disk's drawing size: GalSim
#: builds ~30 ms of tables per index, so a continuous ``sersic_n`` distribution leaves the
#: check to the draw (the same MocksimInputError, raised when that galaxy is rendered).
PREFLIGHT_MAX_SERSIC_INDICES = 16


def preflight(scn) -> list[dict]:
    """Validate everything that can be checked before simulating; return the draws."""
    draws = scn.draw_all()
    check_draw = len({float(p["sersic_n"]) for p in draws}) <= PREFLIGHT_MAX_SERSIC_INDICES
    for i, p in enumerate(draws):
        inst = build_instrument(scn, i)
        noise = build_noise(scn, i, p)
        needed = list(scn.recovery["lines"])
        if noise.model == "snr" and "OIII5007" not in needed:
            needed.append("OIII5007")
        galaxy = build_galaxy(scn, p)
        try:
            if check_draw:
                galaxy.check_drawable(inst.scene_grid())
        except MocksimInputError as exc:
            raise MocksimInputError(f"galaxy {i}: {exc}") from None
        try:
            inst.check_lines(needed, p["redshift"])
        except MocksimInputError as exc:
            raise MocksimInputError(f"recovery.lines (galaxy {i}): {exc}") from None
    return draws


def check_out_dir(out_dir: Path) -> None:
    """Raise MocksimInputError if ``out_dir`` or one of its parents is an existing file
    (checked before simulating: writing the outputs would fail only at the end)."""
    for p in (out_dir, *out_dir.parents):
        if p.exists():
            if not p.is_dir():
                raise MocksimInputError(f"--out: {p} exists and is not a folder")
            return


def _work(args):
    """Galaxies ``[start, stop)``, the products kept for those below ``keep_n``."""
    scn, start, stop, keep_n = args
    tune_malloc()                          # a batch's memory reused by the next
    return process_galaxies(scn, range(start, stop), keep_products=[i < keep_n for i in range(start, stop)])


def run_scenario(scn, out_dir=None, *, save_cubes: bool = False, workers: int = 1,
                 progress: bool = True, n_plot: int = 3) -> RunResult:
    """Simulate and analyse every galaxy of ``scn`` and write the outputs.

    Parameters
    ----------
    scn : Scenario
    out_dir : path, optional
        Default ``outputs/<name>``.
    save_cubes : bool
        Also write each cube as FITS (SCI + ERR, 3D WCS).
    workers : int
        Worker processes; results are identical for any value (galaxies run in
        fixed chunks, :func:`~mocksim.pipeline.chunks.run_chunk_size`, each batched
        through :func:`~mocksim.pipeline.galaxy_run.process_galaxies`).
    progress : bool
        Show a progress bar.
    n_plot : int
        Galaxies shown in the overview figure.
    """
    if workers < 1:
        raise MocksimInputError(f"--workers: must be >= 1, got {workers}")
    preflight(scn)
    out_dir = Path(out_dir) if out_dir is not None else Path("outputs") / scn.name
    check_out_dir(out_dir)
    keep_n = scn.n if save_cubes else min(n_plot, scn.n)
    # fixed chunks (set by n alone), each run as one batch: same numbers for any worker count
    tasks = [(scn, a, b, keep_n) for a, b in chunk_bounds(scn.n, run_chunk_size(scn.n))]
    bar = _bar(scn.n, progress, scn.name)
    outputs = []
    if workers == 1:
        for t in tasks:
            outputs += _work(t)
            bar.update(t[2] - t[1])
    else:
        with ProcessPoolExecutor(max_workers=workers) as ex:
            for t, outs in zip(tasks, ex.map(_work, tasks)):
                outputs += outs
                bar.update(t[2] - t[1])
    bar.close()
    arrays = collect(outputs, scn)
    summ = summary(arrays, scn)
    stack = None
    if scn.stack is not None:
        stack = stack_outputs(scn, outputs)
        summ.update({"stack_gradient": stack.gradient, "stack_gradient_err": stack.gradient_err,
                     "stack_median_true_gradient": stack.median_true_gradient, "stack_bias": stack.bias,
                     "stack_n_galaxies": stack.n_galaxies})
    _write_outputs(out_dir, scn, arrays, summ, outputs, save_cubes, n_plot, stack)
    return RunResult(out_dir=out_dir, arrays=arrays, summary=summ, outputs=outputs, stack=stack)


#: spawn key reserved for the stacking bootstrap (galaxy streams use (index,))
STACK_STREAM_KEY = 2**31 - 1


def stack_outputs(scn, outputs):
    """Stack the line maps of all galaxies as the scenario's ``[stack]`` table says."""
    import numpy as np

    from ..stacking import stack_population

    ok = [o for o in outputs if o.recovery.line_maps is not None]
    fl = [o.recovery.line_maps.flux for o in ok]
    er = [o.recovery.line_maps.flux_err for o in ok]
    p = {k: np.array([np.nan if o.params.get(k) is None else o.params[k] for o in ok], dtype=float)
         for k in ("redshift", "gradient_dex_per_kpc", "re_kpc", "pa_deg", "log_oh_center", "log_mstar")}
    rng = np.random.default_rng(np.random.SeedSequence(scn.seed, spawn_key=(STACK_STREAM_KEY,)))
    return stack_population(
        fl, er, p["redshift"], np.array([o.derived["map_pixscale_arcsec"] for o in ok]), scn.stack,
        true_gradients=p["gradient_dex_per_kpc"], re_kpc=p["re_kpc"],
        centers=np.array([o.recovery.geometry.center_xy for o in ok]),
        axis_ratios=np.array([o.derived["axis_ratio"] for o in ok]), pa_degs=p["pa_deg"],
        log_mstar=None if np.isnan(p["log_mstar"]).all() else p["log_mstar"],
        true_log_oh_center=p["log_oh_center"], rng=rng, cosmology=scn.cosmology)


def _bar(n, progress, name):
    from tqdm import tqdm

    return tqdm(total=n, desc=name, unit="gal", disable=not progress or n < 2)


#: files a run writes besides results.h5 / summary.json / overview.png; those of an earlier
#: run into the same folder that this run did not rewrite are removed
_RUN_PRODUCT = re.compile(r"(cube|grism)_\d{5}\.fits|stack\.png")


def _write_outputs(out_dir, scn, arrays, summ, outputs, save_cubes, n_plot, stack=None):
    """Write into a staging folder, then move every file into ``out_dir`` (removing an earlier
    run's cubes and stack figure there that this run did not write: :data:`_RUN_PRODUCT`)."""
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.staging-", dir=out_dir.parent))
    try:
        write_results(staging / "results.h5", arrays, scn)
        write_summary(staging / "summary.json", summ)
        from .plots import overview_figure

        overview_figure(staging / "overview.png", outputs[:n_plot], scn)
        if stack is not None:
            from ..stacking import stack_figure, write_stack

            write_stack(staging / "results.h5", stack)
            stack_figure(staging / "stack.png", stack, title=f"{scn.name}: stacked [OIII]5007 and gradient")
        if save_cubes:
            from ..instruments import write_cube_fits

            from .grism_fits import write_grism_fits

            for o in outputs:
                extra = {"SCENARIO": scn.name, "SEED": scn.seed, "MOCKVERS": __version__, "GALAXY": o.index,
                         "TRUEGRAD": o.params["gradient_dex_per_kpc"]}
                if o.obs.kind == "grism":
                    write_grism_fits(o.obs, o.recovery.line_maps, staging / f"grism_{o.index:05d}.fits",
                                     header_extra=extra)
                else:
                    write_cube_fits(o.obs, staging / f"cube_{o.index:05d}.fits", header_extra=extra)
        out_dir.mkdir(parents=True, exist_ok=True)
        written = {f.name for f in staging.iterdir()}
        for name in sorted(written):
            os.replace(staging / name, out_dir / name)
        for f in out_dir.iterdir():  # an earlier run's cubes / stack beside this run's results.h5
            if f.name not in written and _RUN_PRODUCT.fullmatch(f.name):
                f.unlink()
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def format_table(res: RunResult, max_rows: int = 20) -> str:
    """True vs recovered gradients as a text table."""
    t, r = res.arrays["truth"], res.arrays["recovered"]
    has_fwd = "forward_gradient" in r
    head = f"{'gal':>4} {'z':>6} {'Re/kpc':>7} {'true':>8} {'linear':>16}"
    head += f" {'forward':>16}" if has_fwd else ""
    head += f" {'status':>6}"
    lines = [head, "-" * len(head)]
    n = len(t["redshift"])
    for i in range(min(n, max_rows)):
        row = (f"{i:>4d} {t['redshift'][i]:6.2f} {t['re_kpc'][i]:7.2f} {t['gradient_dex_per_kpc'][i]:+8.3f} "
               f"{r['linear_gradient'][i]:+8.3f}±{r['linear_gradient_err'][i]:.3f}".ljust(46))
        if has_fwd:
            row += f" {r['forward_gradient'][i]:+8.3f}±{r['forward_gradient_err'][i]:.3f}"
        row += f" {r['status'][i]:>6d}"
        lines.append(row)
    if n > max_rows:
        lines.append(f"... {n - max_rows} more galaxies in results.h5")
    s = res.summary
    if res.stack is not None:
        st = res.stack
        lines.append(f"stack ({st.n_galaxies} galaxies): gradient {st.gradient:+.3f} ± {st.gradient_err:.3f} dex/kpc; "
                     f"population median true gradient {st.median_true_gradient:+.3f}; "
                     f"stacking bias {st.bias:+.3f}")
    if s["median_recovered_gradient"] is not None:
        lines.append(f"median true gradient {s['median_true_gradient']:+.3f} dex/kpc; median recovered "
                     f"{s['median_recovered_gradient']:+.3f}; median bias {s['median_bias']:+.3f}")
        if s.get("scatter") is not None:
            lines.append(f"scatter of recovered - true over {s['n_ok']} galaxies: std {s['scatter']:.3f}, "
                         f"robust (1.4826 MAD) {s['scatter_robust']:.3f} dex/kpc")
    return "\n".join(lines)


__all__ = ["run_scenario", "preflight", "check_out_dir", "format_table", "RunResult", "LINES"]
