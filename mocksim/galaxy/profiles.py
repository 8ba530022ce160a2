"""Radial metallicity profiles 12+log(O/H)(r) in the disk plane."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np


@dataclass(frozen=True)
class LinearProfile:
    """12+log(O/H) = ``log_oh_center`` + ``gradient_dex_per_kpc`` * r.

    Parameters
    ----------
    log_oh_center : float
        Central 12+log(O/H).
    gradient_dex_per_kpc : float
        Radial gradient [dex/kpc], measured in the disk plane.
    """

    log_oh_center: float
    gradient_dex_per_kpc: float

    def __call__(self, r_kpc):
        out = self.gradient_dex_per_kpc * np.asarray(r_kpc, dtype=float)
        if isinstance(out, np.ndarray):  # a fresh array: add in place (the same sums)
            out += self.log_oh_center
            return out
        return self.log_oh_center + out

    @property
    def kind(self) -> str:
        return "linear"


@dataclass(frozen=True)
class FunctionProfile:
    """A profile given by any callable ``r_kpc -> 12+log(O/H)`` (e.g. an analytic model).

    Attributes
    ----------
    func : callable
    kind : str
        Label recorded in outputs (e.g. ``"ffb"``).
    """

    func: Callable
    kind: str = "function"

    def __call__(self, r_kpc):
        return np.asarray(self.func(np.asarray(r_kpc, dtype=float)), dtype=float)
