"""``mocksim run``: a scenario end to end, with all checks before any output."""
from __future__ import annotations

import os
import shutil
import tempfile
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from ..errors import MocksimInputError
from ..lines import LINES
from .build import build_galaxy, build_instrument, build_noise
from .galaxy_run import process_galaxy
from .results_io import collect, summary, write_results, write_summary


@dataclass
class RunResult:
    """What a run produced."""

    out_dir: Path
    arrays: dict
    summary: dict
    outputs: list


def preflight(scn) -> list[dict]:
    """Validate everything that can be checked before simulating; return the draws."""
    draws = scn.draw_all()
    for i, p in enumerate(draws):
        inst = build_instrument(scn, i)
        noise = build_noise(scn, i)
        needed = list(scn.recovery["lines"])
        if noise.model == "snr" and "OIII5007" not in needed:
            needed.append("OIII5007")
        build_galaxy(scn, p)
        try:
            inst.check_lines(needed, p["redshift"])
        except MocksimInputError as exc:
            raise MocksimInputError(f"recovery.lines (galaxy {i}): {exc}") from None
    return draws


def _work(args):
    scn, index, keep = args
    return process_galaxy(scn, index, keep_products=keep)


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
        Worker processes; results are identical for any value.
    progress : bool
        Show a progress bar.
    n_plot : int
        Galaxies shown in the overview figure.
    """
    if workers < 1:
        raise MocksimInputError(f"--workers: must be >= 1, got {workers}")
    preflight(scn)
    out_dir = Path(out_dir) if out_dir is not None else Path("outputs") / scn.name
    keep_n = scn.n if save_cubes else min(n_plot, scn.n)
    tasks = [(scn, i, i < keep_n) for i in range(scn.n)]
    bar = _bar(scn.n, progress, scn.name)
    outputs = []
    if workers == 1:
        for t in tasks:
            outputs.append(_work(t))
            bar.update(1)
    else:
        with ProcessPoolExecutor(max_workers=workers) as ex:
            for out in ex.map(_work, tasks, chunksize=max(1, scn.n // (8 * workers))):
                outputs.append(out)
                bar.update(1)
    bar.close()
    arrays = collect(outputs, scn)
    summ = summary(arrays, scn)
    _write_outputs(out_dir, scn, arrays, summ, outputs, save_cubes, n_plot)
    return RunResult(out_dir=out_dir, arrays=arrays, summary=summ, outputs=outputs)


def _bar(n, progress, name):
    from tqdm import tqdm

    return tqdm(total=n, desc=name, unit="gal", disable=not progress or n < 2)


def _write_outputs(out_dir, scn, arrays, summ, outputs, save_cubes, n_plot):
    """Write into a staging folder, then move every file into ``out_dir``."""
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.staging-", dir=out_dir.parent))
    try:
        write_results(staging / "results.h5", arrays, scn)
        write_summary(staging / "summary.json", summ)
        from .plots import overview_figure

        overview_figure(staging / "overview.png", outputs[:n_plot], scn)
        if save_cubes:
            from ..instruments import write_cube_fits

            for o in outputs:
                write_cube_fits(o.obs, staging / f"cube_{o.index:05d}.fits",
                                header_extra={"SCENARIO": scn.name, "SEED": scn.seed, "GALAXY": o.index,
                                              "TRUEGRAD": o.params["gradient_dex_per_kpc"]})
        out_dir.mkdir(parents=True, exist_ok=True)
        for f in sorted(staging.iterdir()):
            os.replace(f, out_dir / f.name)
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
    if s["median_recovered_gradient"] is not None:
        lines.append(f"median true gradient {s['median_true_gradient']:+.3f} dex/kpc; median recovered "
                     f"{s['median_recovered_gradient']:+.3f}; median bias {s['median_bias']:+.3f}")
    return "\n".join(lines)


__all__ = ["run_scenario", "preflight", "format_table", "RunResult", "LINES"]
