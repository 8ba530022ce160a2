"""Crash-safe storage of a calibration grid: one HDF5 file per finished chunk.

Layout of an output folder ``OUT``::

    OUT/.chunks/manifest.json            scenario text, seed, n, chunk size, mocksim version
    OUT/.chunks/chunk_SSSSSSSS_EEEEEEEE.h5   realisations [S, E): groups truth/, recovered/,
                                              profiles/ exactly as results_io.collect returns
                                              them; attrs scenario_sha256, seed, start, stop
    OUT/results.h5                       consolidated (see below)

Every file appears through ``temp + os.replace`` (:func:`mocksim.io_utils.atomic_path`),
so a crash can only lose the chunks in flight and never leaves a half-written file
under a final name. ``results.h5`` has the layout of
:func:`mocksim.pipeline.results_io.write_results` (one row per realisation under
``/truth`` and ``/recovered``, ``/profiles``; attributes ``scenario``, ``seed``,
``mocksim_version``...) plus

* ``/truth/index`` (realisation index) and ``/truth/cell`` (grid cell);
* ``/grid``: attrs ``keys`` (JSON list), ``realisations``, ``n_cells``,
  ``cells_json`` (the values of every cell); one dataset per grid key with the
  value of each cell (numbers as float, anything else as strings);
* file attrs ``complete`` (False while a run is in progress: only finished
  chunks are included), ``n_done`` and ``chunk_size``;
* ``/calibration`` (products of :mod:`mocksim.calibration.curves`, final file only).
"""
from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path

import h5py
import numpy as np

from .. import __version__
from ..errors import MocksimInputError
from ..io_utils import atomic_path
from ..pipeline.chunks import chunk_bounds
from ..pipeline.results_io import write_results

CHUNK_DIR = ".chunks"
MANIFEST = "manifest.json"
GROUPS = ("truth", "recovered", "profiles")
_CHUNK_RE = re.compile(r"^chunk_(\d{8})_(\d{8})\.h5$")


def scenario_digest(scn) -> str:
    """SHA-256 of the scenario text and seed (identifies a run for ``--resume``)."""
    return hashlib.sha256(f"{scn.seed}\n{scn.text}".encode()).hexdigest()


class ChunkStore:
    """The chunk files of one run in ``out_dir/.chunks``.

    Parameters
    ----------
    out_dir : path
        Output folder (``results.h5`` goes here).
    scn : Scenario
    chunk_size : int
        Realisations per chunk.
    """

    def __init__(self, out_dir, scn, chunk_size: int):
        self.out_dir = Path(out_dir)
        self.dir = self.out_dir / CHUNK_DIR
        self.scn = scn
        self.chunk_size = int(chunk_size)
        self.digest = scenario_digest(scn)

    # ------------------------------------------------------------ manifest
    def manifest(self) -> dict:
        return {"scenario_name": self.scn.name, "seed": self.scn.seed, "scenario_sha256": self.digest,
                "n": self.scn.n, "chunk_size": self.chunk_size, "mocksim_version": __version__,
                "scenario": self.scn.text}

    def read_manifest(self) -> dict | None:
        p = self.dir / MANIFEST
        if not p.is_file():
            return None
        try:
            return json.loads(p.read_text())
        except (OSError, ValueError):
            return None

    def existing_chunk_files(self) -> list[Path]:
        if not self.dir.is_dir():
            return []
        return sorted(p for p in self.dir.iterdir() if _CHUNK_RE.match(p.name))

    def check_resumable(self) -> None:
        """Refuse (``--resume`` error) if the stored chunks belong to another run."""
        man = self.read_manifest()
        if man is None:
            return
        if man.get("scenario_sha256") != self.digest:
            what = "seed" if man.get("scenario") == self.scn.text else "scenario text"
            raise MocksimInputError(
                f"--resume: {self.dir} holds chunks of a different run ({what} differs: stored "
                f"{man.get('scenario_name')!r} seed {man.get('seed')}, this is {self.scn.name!r} seed "
                f"{self.scn.seed}); use another --out or delete that folder")
        if man.get("mocksim_version") != __version__:
            raise MocksimInputError(
                f"--resume: {self.dir} was written by mocksim {man.get('mocksim_version')}, this is "
                f"{__version__}; results would not be bit-identical, start a fresh run")
        if man.get("n") != self.scn.n:
            raise MocksimInputError(f"--resume: stored run has {man.get('n')} realisations, scenario has "
                                    f"{self.scn.n}")
        self.chunk_size = int(man["chunk_size"])  # chunk boundaries of the interrupted run

    def check(self, resume: bool) -> None:
        """Before any output: the stored chunks are resumable (``resume``) or there are none."""
        if resume:
            self.check_resumable()
        elif self.existing_chunk_files():
            raise MocksimInputError(
                f"--resume: {self.dir} holds {len(self.existing_chunk_files())} chunk(s) of an interrupted "
                "run; pass --resume to continue it, or delete that folder to start again")

    def start(self, resume: bool) -> None:
        """:meth:`check`, then create ``.chunks`` with the manifest and remove stale temp files."""
        self.check(resume)
        self.dir.mkdir(parents=True, exist_ok=True)
        for folder in (self.dir, self.out_dir):  # temp files of a killed writer (atomic_path names)
            for p in folder.iterdir():
                if p.name.startswith((".chunk_", ".manifest.json.", ".results.h5.", ".summary.json.",
                                      ".calibration_", ".correction_curves.png.")) and p.name.endswith(".tmp"):
                    p.unlink(missing_ok=True)
        with atomic_path(self.dir / MANIFEST) as tmp:
            tmp.write_text(json.dumps(self.manifest(), indent=1) + "\n")

    # --------------------------------------------------------------- chunks
    def path_for(self, start: int, stop: int) -> Path:
        return self.dir / f"chunk_{start:08d}_{stop:08d}.h5"

    def write_chunk(self, start: int, stop: int, arrays: dict) -> Path:
        """Write the arrays of realisations ``[start, stop)`` atomically."""
        path = self.path_for(start, stop)
        with atomic_path(path) as tmp:
            with h5py.File(tmp, "w") as f:
                f.attrs.update({"scenario_sha256": self.digest, "seed": self.scn.seed, "start": start,
                                "stop": stop, "n": self.scn.n, "mocksim_version": __version__})
                for group in GROUPS:
                    g = f.create_group(group)
                    for k, v in arrays[group].items():
                        g.create_dataset(k, data=v)
        return path

    def read_chunk(self, path) -> dict:
        """Arrays of one chunk file; raises ``ValueError`` if it does not belong to this run."""
        with h5py.File(path, "r") as f:
            a = f.attrs
            if a.get("scenario_sha256") != self.digest or int(a["seed"]) != self.scn.seed:
                raise ValueError("scenario differs")
            start, stop = int(a["start"]), int(a["stop"])
            out = {"start": start, "stop": stop}
            for group in GROUPS:
                out[group] = {k: f[group][k][()] for k in f[group]}
        for group in GROUPS:
            for k, v in out[group].items():
                if v.shape[:1] != (stop - start,):
                    raise ValueError(f"{group}/{k} has {v.shape[:1]} rows, expected {stop - start}")
        return out

    def completed(self) -> dict[tuple[int, int], Path]:
        """Verified chunk files of this run, keyed by ``(start, stop)``.

        A file that cannot be read is removed (it will be recomputed); a readable
        file of another scenario is a ``--resume`` error.
        """
        valid = set(chunk_bounds(self.scn.n, self.chunk_size))
        done = {}
        for p in self.existing_chunk_files():
            m = _CHUNK_RE.match(p.name)
            key = (int(m.group(1)), int(m.group(2)))
            if key not in valid:
                raise MocksimInputError(f"--resume: {p} does not match the chunk layout of this run "
                                        f"(chunk size {self.chunk_size})")
            try:
                self.read_chunk(p)
            except ValueError as exc:
                raise MocksimInputError(f"--resume: {p} belongs to a different run ({exc}); use another "
                                        "--out or delete that folder") from None
            except (OSError, KeyError):
                p.unlink(missing_ok=True)  # unreadable: recompute it
                continue
            done[key] = p
        return done

    def load_all(self) -> tuple[dict, np.ndarray]:
        """Concatenate every finished chunk (in index order).

        Returns
        -------
        arrays : dict
            ``{"truth", "recovered", "profiles"}`` as :func:`results_io.collect` gives for
            the finished realisations; ``truth/index`` added.
        index : ndarray of int
            Realisation indices of the rows.
        """
        parts = [self.read_chunk(p) for p in self.existing_chunk_files()]
        parts.sort(key=lambda c: c["start"])
        return concat_chunks(parts)

    def cleanup(self) -> None:
        """Remove ``.chunks`` (after the final ``results.h5`` is in place)."""
        for p in self.dir.iterdir():
            p.unlink(missing_ok=True)
        os.rmdir(self.dir)


def concat_chunks(parts: list[dict]) -> tuple[dict, np.ndarray]:
    """Concatenate chunk arrays; pad ``/profiles`` to the widest chunk (NaN / False)."""
    if not parts:
        return {g: {} for g in GROUPS}, np.zeros(0, dtype=np.int64)
    index = np.concatenate([np.arange(c["start"], c["stop"]) for c in parts]).astype(np.int64)
    out = {}
    for group in ("truth", "recovered"):
        out[group] = {k: np.concatenate([c[group][k] for c in parts]) for k in parts[0][group]}
    nb = max(c["profiles"]["radius_kpc"].shape[1] for c in parts)
    prof = {}
    for k in parts[0]["profiles"]:
        rows = []
        for c in parts:
            v = c["profiles"][k]
            if v.shape[1] < nb:
                fill = False if v.dtype == bool else np.nan
                pad = np.full((v.shape[0], nb - v.shape[1]), fill, dtype=v.dtype)
                v = np.concatenate([v, pad], axis=1)
            rows.append(v)
        prof[k] = np.concatenate(rows)
    out["profiles"] = prof
    out["truth"]["index"] = index
    return out, index


def _grid_datasets(scn) -> dict:
    """Per-key arrays of cell values (float when numeric, else str)."""
    cells = scn.grid_cells or []
    out = {}
    for key in scn.grid_keys:
        vals = [c["values"][key] for c in cells]
        if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in vals):
            out[key] = np.asarray(vals, dtype=float)
        else:
            out[key] = np.asarray([json.dumps(v) if isinstance(v, dict) else str(v) for v in vals],
                                  dtype=h5py.string_dtype())
    return out


def write_grid_results(path, arrays: dict, scn, *, complete: bool, chunk_size: int, products=None) -> None:
    """Write ``results.h5`` atomically (layout in the module docstring).

    Parameters
    ----------
    path : path
        Destination (replaced atomically).
    arrays : dict
        Concatenated ``truth`` / ``recovered`` / ``profiles`` arrays.
    scn : Scenario
    complete : bool
        All realisations included.
    chunk_size : int
    products : callable, optional
        ``products(h5file)`` adds the ``/calibration`` group before the rename.
    """
    n_done = len(arrays["truth"].get("index", ()))
    with atomic_path(path) as tmp:
        if n_done:
            write_results(tmp, arrays, scn)  # the standard layout (own atomic rename onto tmp)
            mode = "a"
        else:
            mode = "w"
        with h5py.File(tmp, mode) as f:
            if not n_done:
                f.attrs.update({"scenario": scn.text, "scenario_name": scn.name, "seed": scn.seed,
                                "mocksim_version": __version__, "n_galaxies": scn.n})
            f.attrs["complete"] = bool(complete)
            f.attrs["n_done"] = int(n_done)
            f.attrs["chunk_size"] = int(chunk_size)
            g = f.create_group("grid")
            g.attrs["keys"] = json.dumps(list(scn.grid_keys))
            g.attrs["realisations"] = int(scn.realisations)
            g.attrs["n_cells"] = len(scn.grid_cells) if scn.grid_cells else 1
            g.attrs["cells_json"] = json.dumps([c["values"] for c in scn.grid_cells], default=str)
            for key, v in _grid_datasets(scn).items():
                g.create_dataset(key, data=v)
            if products is not None and n_done:
                products(f)
