"""Two-level cache for PSF kernels: in-memory LRU plus ``.npy`` files on disk.

Keys are SHA-256 hashes of a JSON description of *all* parameters that
determine an array (model type and parameters, wavelength rounded to
1e-4 um by the caller, pixel scale, size, algorithm version).

Disk location: ``$MOCKSIM_CACHE_DIR/psf`` (default ``~/.cache/mocksim/psf``).
Set ``MOCKSIM_CACHE_DIR`` to ``off`` / ``none`` / ``0`` to disable the disk
level. Files are written to a temporary name in the same directory and moved
into place with :func:`os.replace`, so concurrent processes never see a
partial file. Unreadable or corrupt files are ignored and recomputed; a
read-only cache directory only disables writing.

Arrays handed out are read-only (``flags.writeable == False``) because the
same object is returned to every caller; copy before modifying.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Callable

import numpy as np

#: Bump when the numerical algorithm changes so old disk files are not reused.
ALGORITHM_VERSION = "psf-1"
#: Memory budget of the in-process LRU [bytes] (env MOCKSIM_PSF_MEMORY_MB).
DEFAULT_MEMORY_BYTES = 512 * 1024**2
#: Disk budget of the cache directory [bytes] (env MOCKSIM_PSF_DISK_MB); the
#: least recently used files are deleted beyond it (checked every few writes).
DEFAULT_DISK_BYTES = 2048 * 1024**2
_PRUNE_EVERY = 25

_DISABLED = {"off", "none", "0", "false", "no"}


def cache_dir() -> Path | None:
    """Directory of the on-disk PSF cache, or ``None`` when disabled."""
    env = os.environ.get("MOCKSIM_CACHE_DIR")
    if env is not None and env.strip().lower() in _DISABLED:
        return None
    base = Path(env).expanduser() if env else Path.home() / ".cache" / "mocksim"
    return base / "psf"


def make_key(params: dict) -> str:
    """Stable hash of a JSON-serialisable parameter dictionary."""
    payload = json.dumps({"v": ALGORITHM_VERSION, **params}, sort_keys=True, default=repr)
    return hashlib.sha256(payload.encode()).hexdigest()[:40]


def prune_disk_cache(max_bytes: int | None = None) -> int:
    """Delete least recently used ``.npy`` files until the cache fits ``max_bytes``.

    Parameters
    ----------
    max_bytes : int, optional
        Budget [bytes]; default from env ``MOCKSIM_PSF_DISK_MB`` or 2 GiB.

    Returns
    -------
    int
        Number of files removed.
    """
    d = cache_dir()
    if d is None or not d.is_dir():
        return 0
    if max_bytes is None:
        env = os.environ.get("MOCKSIM_PSF_DISK_MB")
        max_bytes = int(float(env) * 1024**2) if env else DEFAULT_DISK_BYTES
    entries = []
    for f in d.glob("*.npy"):
        with contextlib.suppress(OSError):
            st = f.stat()
            entries.append((max(st.st_atime, st.st_mtime), st.st_size, f))
    total = sum(e[1] for e in entries)
    removed = 0
    for _, size, f in sorted(entries):
        if total <= max_bytes:
            break
        with contextlib.suppress(OSError):
            f.unlink()
            total -= size
            removed += 1
    return removed


class KernelCache:
    """Thread-safe LRU of read-only arrays, backed by an optional disk store.

    Parameters
    ----------
    max_bytes : int
        Memory budget; least recently used arrays are evicted beyond it.
    """

    _writes = 0

    def __init__(self, max_bytes: int | None = None):
        if max_bytes is None:
            env = os.environ.get("MOCKSIM_PSF_MEMORY_MB")
            max_bytes = int(float(env) * 1024**2) if env else DEFAULT_MEMORY_BYTES
        self.max_bytes = int(max_bytes)
        self._store: OrderedDict[str, np.ndarray] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.generation = 0  # incremented by clear_memory(); lets callers drop their own fast paths
        self.hits = 0
        self.disk_hits = 0
        self.misses = 0

    # ---------------------------------------------------------------- memory
    def clear_memory(self) -> None:
        """Drop every in-memory entry (the disk store is untouched)."""
        with self._lock:
            self._store.clear()
            self._bytes = 0
            self.generation += 1

    def _remember(self, key: str, arr: np.ndarray) -> None:
        with self._lock:
            if key in self._store:
                return
            self._store[key] = arr
            self._bytes += arr.nbytes
            while self._bytes > self.max_bytes and len(self._store) > 1:
                _, old = self._store.popitem(last=False)
                self._bytes -= old.nbytes

    def _lookup(self, key: str) -> np.ndarray | None:
        with self._lock:
            arr = self._store.get(key)
            if arr is not None:
                self._store.move_to_end(key)
            return arr

    # ------------------------------------------------------------------ disk
    @staticmethod
    def _disk_load(key: str) -> np.ndarray | None:
        d = cache_dir()
        if d is None:
            return None
        path = d / f"{key}.npy"
        try:
            return np.load(path, allow_pickle=False)
        except (OSError, ValueError, EOFError):
            return None

    @staticmethod
    def _disk_save(key: str, arr: np.ndarray) -> None:
        d = cache_dir()
        if d is None:
            return
        try:
            d.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{key}.", suffix=".tmp", dir=d)
        except OSError:
            return  # unwritable cache directory: keep going without it
        try:
            with os.fdopen(fd, "wb") as fh:
                np.save(fh, arr, allow_pickle=False)
            os.replace(tmp, d / f"{key}.npy")
        except OSError:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            return
        KernelCache._writes += 1
        if KernelCache._writes % _PRUNE_EVERY == 1:
            prune_disk_cache()

    # ------------------------------------------------------------------- api
    def get_or_compute(self, params: dict, compute: Callable[[], np.ndarray], *, disk: bool = True) -> np.ndarray:
        """Return the cached array for ``params``, computing and storing it if needed.

        Parameters
        ----------
        params : dict
            JSON-serialisable description of everything the array depends on.
        compute : callable
            Zero-argument function returning the array on a miss.
        disk : bool
            Also use the on-disk level.

        Returns
        -------
        ndarray
            Read-only array.
        """
        key = make_key(params)
        arr = self._lookup(key)
        if arr is not None:
            self.hits += 1
            return arr
        arr = self._disk_load(key) if disk else None
        if arr is not None:
            self.disk_hits += 1
        else:
            self.misses += 1
            arr = np.array(compute())
            if disk:
                self._disk_save(key, arr)
        arr.flags.writeable = False
        self._remember(key, arr)
        return arr


#: The process-wide kernel cache used by :mod:`mocksim.psf.models`.
KERNEL_CACHE = KernelCache()


def clear_memory_cache() -> None:
    """Clear the process-wide in-memory kernel cache."""
    KERNEL_CACHE.clear_memory()
