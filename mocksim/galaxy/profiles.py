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

    Where ``func`` gives no finite value outside a radius where it does (e.g. the FFB
    model beyond R_vir with ``f_out = 1``, or once its exponential ISM underflows: no
    gas, so Z = 0/0), the value at the outermost finite radius inside is held, as
    :func:`mocksim.galaxy.disk._line_maps` holds line ratios at a calibration's edge.
    Those pixels carry no model gas (Hbeta there < 1e-10 of the peak); a value that is
    not finite at the smallest radius asked is returned as it is.

    Attributes
    ----------
    func : callable
    kind : str
        Label recorded in outputs (e.g. ``"ffb"``).
    """

    func: Callable
    kind: str = "function"

    def __call__(self, r_kpc):
        r = np.asarray(r_kpc, dtype=float)
        out = np.asarray(self.func(r), dtype=float)
        bad = ~np.isfinite(out)
        if bad.any() and out.shape == r.shape:
            inside = ~bad & (r < r[bad].min())     # finite values inside the undefined region
            if inside.any():
                out = np.array(out)                # writable copy
                out[bad] = out[inside][np.argmax(r[inside])]
        return out
