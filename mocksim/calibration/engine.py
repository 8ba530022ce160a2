"""Run every realisation of a (grid) scenario in chunks, locally or on Dask, resumably.

One code path for all executors: chunks of consecutive indices are submitted to an
executor (local worker processes, a Dask ``LocalCluster`` or an existing Dask
scheduler), each finished chunk is written as its own file
(:class:`~mocksim.calibration.store.ChunkStore`) and ``results.h5`` is consolidated
from the chunk files in index order. Every realisation depends only on the
scenario and its index (:meth:`Scenario.draw_galaxy`, per-index SeedSequence
streams), and worker processes run single-threaded BLAS/FFT, so the results are
bit-identical for any executor, worker count, chunk completion order and after
``--resume``.
"""
from __future__ import annotations

import contextlib
import os
import re
import time
import warnings
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import MocksimInputError
from ..pipeline.results_io import collect, read_results, summary, write_summary
from ..pipeline.run import check_out_dir, preflight
from ..pipeline.chunks import chunk_bounds, default_chunk_size
from ..pipeline.malloc import tune_malloc
from .store import ChunkStore, write_grid_results

_NUMBER = re.compile(r"[-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")

#: how long to try to reach a ``tcp://`` Dask scheduler
CONNECT_TIMEOUT = "10s"
#: environment of worker processes: one thread per process (speed and bit-identity)
SINGLE_THREAD_ENV = {k: "1" for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                                      "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")}


@dataclass
class GridResult:
    """What :func:`run_grid` produced (duck-compatible with ``pipeline.run.RunResult``).

    Attributes
    ----------
    out_dir : Path
    results_path : Path
    arrays : dict
        ``truth`` / ``recovered`` / ``profiles`` arrays of all realisations.
    summary : dict
    n_run, n_resumed : int
        Realisations simulated now / taken from an interrupted run.
    elapsed_s : float
        Wall time of the simulation stage [s].
    cpu_s : float
        Worker CPU time of the simulation stage [s].
    products : object or None
        :class:`mocksim.calibration.curves.CalibrationProducts` (grid scenarios).
    """

    out_dir: Path
    results_path: Path
    arrays: dict
    summary: dict
    n_run: int
    n_resumed: int
    elapsed_s: float
    products: object = None
    cpu_s: float = 0.0
    outputs: list = field(default_factory=list)
    stack: object = None  # RunResult compatibility (grids are not stacked)

    @property
    def cpu_s_per_realisation(self) -> float:
        """Worker CPU time per simulated realisation [s] (independent of machine load)."""
        return self.cpu_s / self.n_run if self.n_run else float("nan")

    def report(self) -> str:
        """Text for the command line: throughput, output files and fitted curves."""
        lines = [f"{self.n_run} realisations simulated ({self.n_resumed} taken from an interrupted run) in "
                 f"{self.elapsed_s:.1f} s: {self.throughput:.2f} /s, {self.cpu_s_per_realisation:.3f} CPU s each"]
        if self.products is not None:
            lines.append("correction curves f(x) = A / (1 + (x0/x)^p), x = 2Re/FWHM:")
            lines.append(f"{'|grad|':>8} {'A':>6} {'x0':>6} {'p':>6} {'x range':>13} {'f(1.2)':>7} {'f(2.5)':>7} "
                         f"{'f(5)':>6}")
            for f in self.products.fits:
                A, lx0, p = f.params
                vals = " ".join(f"{float(f(x)):>{w}.3f}" if f.x_min <= x <= f.x_max else " " * (w - 1) + "-"
                                for x, w in ((1.2, 7), (2.5, 7), (5.0, 6)))
                lines.append(f"{f.abs_gradient:>8.3g} {A:>6.3f} {np.exp(lx0):>6.3f} {p:>6.2f} "
                             f"{f.x_min:>6.2f}-{f.x_max:<6.2f} {vals}"
                             + ("  UNCONSTRAINED (more realisations needed)" if f.unconstrained else ""))
            lines.append(f"tables: {self.out_dir / 'calibration_curves.ecsv'}, "
                         f"{self.out_dir / 'calibration_cells.ecsv'}; figure: {self.out_dir / 'correction_curves.png'}")
        return "\n".join(lines)

    @property
    def throughput(self) -> float:
        """Realisations per second simulated by this call."""
        return self.n_run / self.elapsed_s if self.elapsed_s > 0 else float("nan")


# ------------------------------------------------------------------ executors
def parse_scheduler(spec):
    """``None`` | ``("local", N)`` | ``("tcp", "tcp://HOST:PORT")`` from ``--scheduler``."""
    if spec is None or spec == "":
        return None
    s = str(spec).strip()
    if s.startswith("local:"):
        n = s[6:]
        if not n.isdigit() or not 1 <= int(n) <= 1024:
            raise MocksimInputError(f"--scheduler: {spec!r}; 'local:N' needs an integer N in [1, 1024]")
        return ("local", int(n))
    if s.startswith("tcp://"):
        host, _, port = s[6:].rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise MocksimInputError(f"--scheduler: {spec!r}; expected tcp://HOST:PORT")
        return ("tcp", s)
    raise MocksimInputError(f"--scheduler: {spec!r}; allowed: local:N (Dask LocalCluster with N worker "
                            "processes) or tcp://HOST:PORT (an existing Dask scheduler)")


class _ProcessExecutor:
    """Local worker processes (spawned, single-threaded numerics)."""

    def __init__(self, workers: int):
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor

        self.ex = ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn"),
                                      initializer=_exit_with_parent, initargs=(os.getpid(),))

    def submit(self, fn, *args):
        return self.ex.submit(fn, *args)

    def as_completed(self, futures):
        from concurrent.futures import as_completed

        return as_completed(futures)

    def close(self, cancel=False):
        self.ex.shutdown(wait=not cancel, cancel_futures=cancel)


class _DaskExecutor:
    """A Dask ``LocalCluster`` (``local:N``) or a client of ``tcp://HOST:PORT``."""

    def __init__(self, kind, arg):
        try:
            from distributed import Client, LocalCluster
        except ImportError:  # pragma: no cover
            raise MocksimInputError("--scheduler: needs dask[distributed] (pip install 'mocksim[dask]')") from None
        self.cluster = None
        if kind == "local":
            self.cluster = LocalCluster(n_workers=arg, processes=True, threads_per_worker=1,
                                        dashboard_address=None)
            self.client = Client(self.cluster)
        else:
            try:
                self.client = Client(arg, timeout=CONNECT_TIMEOUT)
            except (OSError, TimeoutError) as exc:
                raise MocksimInputError(f"--scheduler: cannot connect to {arg}: {exc}") from None

    def submit(self, fn, *args):
        return self.client.submit(fn, *args, pure=False)

    def as_completed(self, futures):
        from distributed import as_completed

        return as_completed(futures)

    def close(self, cancel=False):
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()


def _exit_with_parent(parent_pid: int, poll_s: float = 1.0) -> None:
    """Worker initializer: exit when the parent dies (e.g. SIGKILL) instead of idling forever."""
    import threading

    def watch():
        while True:
            if os.getppid() != parent_pid:
                os._exit(1)
            time.sleep(poll_s)

    threading.Thread(target=watch, daemon=True, name="mocksim-parent-watch").start()


@contextlib.contextmanager
def _single_thread_env():
    """Spawned workers inherit one-thread BLAS/FFT settings (restored afterwards)."""
    old = {k: os.environ.get(k) for k in SINGLE_THREAD_ENV}
    os.environ.update(SINGLE_THREAD_ENV)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def run_chunk(scn, start: int, stop: int) -> dict:
    """Simulate realisations ``[start, stop)``.

    Returns ``{"arrays": results_io.collect(...), "cpu_s": worker CPU time [s]}``.

    The unit of work sent to executors (module-level so it pickles).
    """
    from ..pipeline.galaxy_run import process_galaxies

    tune_malloc()          # a batch's memory reused by the next (mocksim.pipeline.malloc)
    t0 = time.process_time()
    with warnings.catch_warnings(record=True) as caught:   # tallied, reported once by run_grid
        warnings.simplefilter("always")
        outputs = process_galaxies(scn, range(start, stop))    # recovery batched across the chunk
    return {"arrays": collect(outputs, scn), "cpu_s": time.process_time() - t0,
            "warnings": tally_warnings(caught)}


def tally_warnings(caught) -> dict:
    """``{(category name, message with numbers as '#'): [count, first message]}`` of
    recorded warnings: a grid's realisations repeat the same notes with other numbers."""
    out: dict = {}
    for w in caught:
        msg = str(w.message)
        key = (w.category.__name__, _NUMBER.sub("#", msg))
        if key in out:
            out[key][0] += 1
        else:
            out[key] = [1, msg]
    return out


def _report_warnings(tally: dict, n: int) -> None:
    """One warning per kind of note the realisations raised, with how many raised it."""
    categories = {"UserWarning": UserWarning, "RuntimeWarning": RuntimeWarning}
    for (cat, _), (count, example) in tally.items():
        warnings.warn(f"{count} of {n} realisations: {example}" + (" (numbers vary)" if count > 1 else ""),
                      categories.get(cat, UserWarning), stacklevel=3)


# ------------------------------------------------------------------ main entry
def run_grid(scn, out_dir=None, *, workers: int = 1, scheduler=None, resume: bool = False,
             progress: bool = True, chunk_size: int | None = None, consolidate_every_s: float = 60.0,
             products: bool = True) -> GridResult:
    """Simulate and analyse all ``scn.n`` realisations; write ``results.h5`` (+ products).

    Parameters
    ----------
    scn : Scenario
        Usually with a ``[grid]`` table; any scenario works.
    out_dir : path, optional
        Output folder (default ``outputs/<name>``).
    workers : int
        Local worker processes (``--workers``; ignored with ``scheduler``).
    scheduler : str, optional
        ``"local:N"`` (Dask LocalCluster, N single-threaded worker processes) or
        ``"tcp://HOST:PORT"`` (existing Dask scheduler) (``--scheduler``).
    resume : bool
        Continue an interrupted run in ``out_dir`` (``--resume``); refused if the
        stored chunks were made from another scenario text, seed or mocksim version.
    progress : bool
        tqdm progress bar with ETA.
    chunk_size : int, optional
        Realisations per chunk (default :func:`~mocksim.pipeline.chunks.default_chunk_size`); on
        resume the interrupted run's value is used.
    consolidate_every_s : float
        Rewrite ``results.h5`` from the finished chunks at most this often [s].
    products : bool
        Compute correction curves, tables and figure at the end (grid scenarios).

    Returns
    -------
    GridResult
    """
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise MocksimInputError(f"--workers: must be an integer >= 1, got {workers!r}")
    sched = parse_scheduler(scheduler)
    if sched is not None and workers != 1:
        raise MocksimInputError("--workers: give either --workers N or --scheduler, not both")
    if chunk_size is not None and (isinstance(chunk_size, bool) or not isinstance(chunk_size, int)
                                   or chunk_size < 1):
        raise MocksimInputError(f"--chunk-size: must be an integer >= 1, got {chunk_size!r}")
    from .curves import calibration_options

    options = calibration_options(scn)  # validates [calibration]
    preflight(scn)
    out_dir = Path(out_dir) if out_dir is not None else Path("outputs") / scn.name
    check_out_dir(out_dir)
    results_path = out_dir / "results.h5"
    store = ChunkStore(out_dir, scn, chunk_size or default_chunk_size(scn.n))
    if resume and not store.existing_chunk_files() and results_path.is_file():
        done = _finished_run(results_path, scn)
        if done is not None:
            return done
    store.check(resume)
    finished = store.completed() if resume else {}
    todo = [b for b in chunk_bounds(scn.n, store.chunk_size) if b not in finished]
    n_resumed = sum(b - a for a, b in finished)
    executor = None
    if todo:  # connect / start workers before writing anything (a bad --scheduler leaves no output)
        with _single_thread_env():
            executor = _DaskExecutor(*sched) if sched else _ProcessExecutor(workers)
    try:
        store.start(resume)
    except BaseException:
        if executor is not None:
            executor.close(cancel=True)
        raise

    from tqdm import tqdm

    bar = tqdm(total=scn.n, initial=n_resumed, desc=scn.name, unit="gal", smoothing=0.1,
               disable=not progress or scn.n < 2)
    t0 = time.perf_counter()
    last = t0
    cpu_s = 0.0
    noted: dict = {}
    ok = False
    try:
        if todo:
            with _single_thread_env():  # ProcessPoolExecutor spawns its workers on submit
                futures = {executor.submit(run_chunk, scn, a, b): (a, b) for a, b in todo}
            for fut in executor.as_completed(list(futures)):
                a, b = futures[fut]
                try:
                    out = fut.result()
                except BrokenProcessPool as exc:
                    raise RuntimeError(
                        "a worker process died. Worker processes are spawned and import the main module: "
                        "call run_grid under `if __name__ == \"__main__\":` in scripts (not from stdin); a "
                        "crash or out-of-memory kill also ends here. Continue with resume=True / --resume."
                    ) from exc
                cpu_s += out["cpu_s"]
                for key, (count, example) in out.get("warnings", {}).items():
                    noted.setdefault(key, [0, example])[0] += count
                store.write_chunk(a, b, out["arrays"])
                bar.update(b - a)
                if time.perf_counter() - last > consolidate_every_s:
                    _consolidate(store, results_path, scn, complete=False)
                    last = time.perf_counter()
        ok = True
    finally:
        bar.close()
        if executor is not None:
            executor.close(cancel=not ok)
        if not ok and store.existing_chunk_files():
            with contextlib.suppress(Exception):  # keep what finished readable for --resume
                _consolidate(store, results_path, scn, complete=False)
    elapsed = time.perf_counter() - t0
    _report_warnings(noted, scn.n - n_resumed)

    arrays, index = store.load_all()
    if not np.array_equal(index, np.arange(scn.n)):  # pragma: no cover - defensive
        raise RuntimeError(f"calibration store: {index.size} of {scn.n} realisations found after the run")
    prods = None
    if products and scn.grid_cells:
        from .curves import compute_products

        prods = compute_products(arrays, scn, **options)
    write_grid_results(results_path, arrays, scn, complete=True, chunk_size=store.chunk_size,
                       products=prods.write_h5 if prods is not None else None)
    summ = summary(arrays, scn)
    write_summary(out_dir / "summary.json", summ)
    if prods is not None:
        prods.write_files(out_dir)
    store.cleanup()
    return GridResult(out_dir=out_dir, results_path=results_path, arrays=arrays, summary=summ,
                      n_run=scn.n - n_resumed, n_resumed=n_resumed, elapsed_s=elapsed, products=prods,
                      cpu_s=cpu_s)


def _consolidate(store, results_path, scn, *, complete):
    arrays, _ = store.load_all()
    write_grid_results(results_path, arrays, scn, complete=complete, chunk_size=store.chunk_size)


def _finished_run(path, scn):
    """A completed ``results.h5`` of this scenario (resume with nothing to do), else None."""
    res = read_results(path)
    a = res["attrs"]
    if a.get("scenario") != scn.text or int(a.get("seed", -1)) != scn.seed:
        raise MocksimInputError(f"--resume: {path} was written by a different scenario or seed; use another "
                                "--out or delete it")
    if not a.get("complete", False):
        return None
    arrays = {g: res[g] for g in ("truth", "recovered", "profiles")}
    return GridResult(out_dir=Path(path).parent, results_path=Path(path), arrays=arrays,
                      summary=summary(arrays, scn), n_run=0, n_resumed=scn.n, elapsed_s=0.0)
