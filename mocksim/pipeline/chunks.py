"""Fixed chunks of a scenario's galaxies: the units of batched work.

Chunk boundaries depend on the number of galaxies only, never on the worker count,
so a batched run gives the same numbers whatever executes it.
"""
from __future__ import annotations


def chunk_bounds(n: int, chunk_size: int) -> list[tuple[int, int]]:
    """``[(start, stop), ...]`` covering ``range(n)`` in consecutive chunks."""
    return [(s, min(s + chunk_size, n)) for s in range(0, n, chunk_size)]


def default_chunk_size(n: int) -> int:
    """Realisations per calibration-grid chunk: about 100 chunks, 1 to 64 each (fine
    enough for ``--resume`` and for load balance on many workers)."""
    return int(min(64, max(1, -(-n // 100))))


def run_chunk_size(n: int) -> int:
    """Galaxies per chunk of ``mocksim run``: about 8 chunks, 1 to 32 each.

    Batches of 8 or more already take most of the gain of batching (about 1.5x per
    galaxy for grism and IFU scenarios, ``benchmarks/README.md``), and 8 chunks keep
    up to 8 workers busy.
    """
    return int(min(32, max(1, -(-n // 8))))
