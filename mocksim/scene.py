"""The sky-plane emission model handed from a generator to an instrument.

A generator (``mocksim.galaxy``) renders an :class:`EmissionScene` on a fine,
oversampled :class:`SceneGrid` supplied by the instrument. Each component carries
line-flux maps (flux per fine pixel, already pixel-integrated), a line-of-sight
velocity map and a velocity-dispersion map. Instruments turn scenes into
:class:`mocksim.observation.Observation` objects.

Grid convention: pixel ``(j, i)`` (row, column) has its centre at
``x = (i - (nx - 1) / 2) * pixscale`` and ``y = (j - (ny - 1) / 2) * pixscale``
arcsec from the field centre; +x runs along increasing column (towards West
on the sky, i.e. decreasing RA), +y along increasing row (North).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class SceneGrid:
    """A square-pixel sky grid.

    Attributes
    ----------
    pixscale_arcsec : float
        Fine-pixel size [arcsec].
    shape : tuple of int
        ``(ny, nx)``.
    oversample : int
        Fine pixels per detector pixel/spaxel along each axis.
    """

    pixscale_arcsec: float
    shape: tuple[int, int]
    oversample: int = 1

    def coords_arcsec(self) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(x, y)`` 2D arrays of fine-pixel centres [arcsec]."""
        ny, nx = self.shape
        x = (np.arange(nx) - (nx - 1) / 2.0) * self.pixscale_arcsec
        y = (np.arange(ny) - (ny - 1) / 2.0) * self.pixscale_arcsec
        return np.meshgrid(x, y)


@dataclass
class SceneComponent:
    """One kinematically coherent emitter (disk, clump, companion).

    Attributes
    ----------
    name : str
    line_flux : dict of str -> ndarray
        Observed-frame (dust-attenuated) line flux per fine pixel
        [erg s^-1 cm^-2], shape ``grid.shape``, keyed by ``mocksim.lines`` names.
    velocity_kms : ndarray
        Line-of-sight velocity relative to the systemic redshift [km/s].
    sigma_kms : ndarray
        Intrinsic line-of-sight velocity dispersion [km/s].
    continuum : ndarray or None
        Observed continuum flux density per fine pixel [erg s^-1 cm^-2 um^-1],
        flat in f_lambda across the band (optional).
    """

    name: str
    line_flux: dict[str, np.ndarray]
    velocity_kms: np.ndarray
    sigma_kms: np.ndarray
    continuum: np.ndarray | None = None


@dataclass
class EmissionScene:
    """Everything an instrument needs to observe a galaxy.

    Attributes
    ----------
    redshift : float
        Systemic redshift.
    grid : SceneGrid
    components : list of SceneComponent
    truth : dict
        Maps and numbers the generator wants to expose for plots and tests, e.g.
        ``"log_oh_map"`` (12+log(O/H) per fine pixel of the main disk).
    """

    redshift: float
    grid: SceneGrid
    components: list[SceneComponent]
    truth: dict = field(default_factory=dict)

    def line_names(self) -> list[str]:
        names: list[str] = []
        for comp in self.components:
            for k in comp.line_flux:
                if k not in names:
                    names.append(k)
        return names

    def total_line_flux(self, line: str) -> float:
        """Total flux of ``line`` over all components [erg s^-1 cm^-2]."""
        return float(sum(np.sum(c.line_flux[line]) for c in self.components if line in c.line_flux))
