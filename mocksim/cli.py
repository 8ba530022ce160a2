"""The ``mocksim`` command line.

Bad input (a scenario key out of range, an unknown instrument, a line outside the
coverage...) prints one line naming the key and exits with code 2, leaving no output.
"""
from __future__ import annotations

import argparse
import sys

from . import __version__
from .errors import MocksimInputError


def _cmd_run(args) -> int:
    from .pipeline.run import format_table, run_scenario
    from .pipeline.scenario import load_scenario

    scn = load_scenario(args.scenario, seed=args.seed)
    if scn.grid_cells or args.scheduler or args.resume:
        if args.save_cubes:
            raise MocksimInputError("--save-cubes: not available with a [grid], --scheduler or --resume")
        if scn.stack is not None:
            raise MocksimInputError("stack: a [stack] table is not available with a [grid], --scheduler or --resume")
        from .calibration import run_grid

        res = run_grid(scn, args.out, workers=args.workers, scheduler=args.scheduler, resume=args.resume,
                       progress=not args.no_progress, chunk_size=args.chunk_size)
        print(format_table(res))
        print(res.report())
    else:
        if args.chunk_size is not None:
            raise MocksimInputError("--chunk-size: only for grid runs (a [grid] table, --scheduler or --resume); "
                                    "plain runs use fixed chunks set by n")
        res = run_scenario(scn, args.out, save_cubes=args.save_cubes, workers=args.workers,
                           progress=not args.no_progress)
        print(format_table(res))
    print(f"results written to {res.out_dir / 'results.h5'}")
    return 0


def _cmd_psf(args) -> int:
    from .psf_command import psf_command

    return psf_command(args)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="mocksim",
        description="Mock JWST observations of galaxies with imposed metallicity gradients, "
                    "and the recovery pipeline observers run on them.")
    p.add_argument("--version", action="version", version=f"mocksim {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    r = sub.add_parser("run", help="simulate and analyse a scenario (TOML)",
                       description="Render, observe and analyse every galaxy of a scenario; write "
                                   "results.h5, summary.json and overview.png to the output folder.")
    r.add_argument("scenario", help="scenario TOML file, e.g. scenarios/quickstart.toml")
    r.add_argument("--out", default=None, help="output folder (default outputs/<name>); an earlier run's "
                   "results there are replaced, including cube/grism FITS files this run does not rewrite")
    r.add_argument("--seed", type=int, default=None, help="override the scenario's seed")
    r.add_argument("--save-cubes", action="store_true", help="also write each cube as FITS (SCI, ERR, WCS)")
    r.add_argument("--workers", type=int, default=1, help="worker processes (results do not depend on it)")
    r.add_argument("--scheduler", default=None,
                   help="Dask: local:N (LocalCluster with N worker processes) or tcp://HOST:PORT "
                        "(existing cluster); results do not depend on it")
    r.add_argument("--resume", action="store_true",
                   help="continue an interrupted grid run in --out (also after SIGKILL)")
    r.add_argument("--chunk-size", type=int, default=None,
                   help="realisations per stored chunk (grid runs; default ~n/100, at most 64)")
    r.add_argument("--no-progress", action="store_true", help="no progress bar")
    r.set_defaults(func=_cmd_run)

    s = sub.add_parser("psf", help="compute a JWST PSF and print its FWHM",
                       description="Compute the PSF of an instrument preset (e.g. nirspec-ifu-g395m) or a "
                                   "NIRCam/NIRISS filter (e.g. F356W, niriss-F150W); print the FWHM in "
                                   "arcsec on the last line and optionally write it to FITS.")
    s.add_argument("target", help="instrument preset or filter name")
    s.add_argument("--wavelength-um", type=float, default=None,
                   help="wavelength [micron] (default: filter pivot or band centre)")
    s.add_argument("--psf", default="jwst", help="PSF model: jwst, gaussian[:FWHM], moffat:FWHM[:BETA], fits:PATH, stpsf")
    s.add_argument("--pixscale", type=float, default=None, help="output pixel scale [arcsec] (default: detector)")
    s.add_argument("--oversample", type=int, default=4, help="output oversampling of the detector pixel")
    s.add_argument("--out", default=None, help="write the PSF to this FITS file")
    s.set_defaults(func=_cmd_psf)

    from .models_command import add_models_parser

    add_models_parser(sub)
    from .calibration.correct import add_correct_parser

    add_correct_parser(sub)
    return p


def _single_threaded_blas() -> None:
    """Pin BLAS/OpenMP to one thread unless the user chose otherwise.

    mocksim parallelises over galaxies (worker processes); threaded BLAS inside the
    small per-galaxy solves only adds overhead (2.5x CPU in the line fits). Must run
    before numpy is imported.
    """
    import os

    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")


def main(argv=None) -> int:
    _single_threaded_blas()
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 0
    try:
        return int(args.func(args) or 0)
    except MocksimInputError as exc:
        print(f"mocksim: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
