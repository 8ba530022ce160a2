"""Timing helpers shared by the workloads."""
from __future__ import annotations

import resource
import sys
import time
from dataclasses import dataclass, field


@dataclass
class Timing:
    """Wall and CPU seconds of repeated calls (per call)."""

    wall: list = field(default_factory=list)
    cpu: list = field(default_factory=list)

    def add(self, wall: float, cpu: float) -> None:
        self.wall.append(wall)
        self.cpu.append(cpu)

    @property
    def n(self) -> int:
        return len(self.wall)

    @staticmethod
    def _median(x):
        s = sorted(x)
        k = len(s)
        if k == 0:
            return float("nan")
        return s[k // 2] if k % 2 else 0.5 * (s[k // 2 - 1] + s[k // 2])

    @property
    def wall_median(self) -> float:
        return self._median(self.wall)

    @property
    def cpu_median(self) -> float:
        return self._median(self.cpu)

    @property
    def wall_min(self) -> float:
        return min(self.wall) if self.wall else float("nan")


class timed:
    """``with timed(t): ...`` appends the block's wall and CPU time to ``t``."""

    def __init__(self, timing: Timing):
        self.t = timing

    def __enter__(self):
        self.w0, self.c0 = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc):
        self.t.add(time.perf_counter() - self.w0, time.process_time() - self.c0)
        return False


def peak_rss_mb(children: bool = False) -> float:
    """Peak resident set size of this process (or of its finished children) [MB]."""
    who = resource.RUSAGE_CHILDREN if children else resource.RUSAGE_SELF
    kb = resource.getrusage(who).ru_maxrss
    return kb / 1024.0 if sys.platform != "darwin" else kb / 1024.0 ** 2


def log(msg: str, quiet: bool = False) -> None:
    if not quiet:
        print(msg, file=sys.stderr, flush=True)
