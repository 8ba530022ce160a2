"""NIRSpec resolving power and Gaussian line-spread function.

The committed table ``data/nirspec_resolution.csv`` is derived (by
``data/make_nirspec_resolution.py``) from the STScI dispersion products
``jwst_nirspec_<disperser>_disp.fits`` (JWST User Documentation, "NIRSpec
Dispersers and Filters"), which give the *nominal* resolving power R(lambda) for a
source filling the slit, and the dispersion DLDS [micron / detector pixel].

In-flight NIRSpec IFU resolution is 1-24 % higher than these nominal curves
(Shajib et al. 2025, A&A 702, L12, Gaussian-LSF fits to SMP LMC 58; see
``reference/anchors_and_jwst_numbers.md`` section 5.3). mocksim keeps the nominal
curve by default (``inflight_factor = 1``, a conservative, slightly broad LSF) and
exposes the factor so users can adopt e.g. 1.1.

The LSF is a Gaussian with ``FWHM = lambda / (R(lambda) * inflight_factor)``.
"""
from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

from ..errors import MocksimInputError

DATA_DIR = Path(__file__).resolve().parent / "data"
RESOLUTION_TABLE = DATA_DIR / "nirspec_resolution.csv"

#: FWHM / sigma of a Gaussian, 2 sqrt(2 ln 2).
FWHM_TO_SIGMA = 1.0 / (2.0 * np.sqrt(2.0 * np.log(2.0)))

#: Allowed range of the in-flight resolution factor (documented improvement 1.01-1.24).
INFLIGHT_FACTOR_RANGE = (0.5, 2.0)


def read_csv_table(path) -> dict[str, np.ndarray]:
    """Read a committed CSV table: ``#`` comment lines, one header row, then rows.

    Returns a dict column -> array (float where possible, else str).
    """
    rows = [ln.strip() for ln in Path(path).read_text(encoding="utf-8").splitlines()]
    rows = [ln for ln in rows if ln and not ln.startswith("#")]
    header = rows[0].split(",")
    cols = list(zip(*(r.split(",") for r in rows[1:])))
    out = {}
    for name, col in zip(header, cols):
        try:
            out[name] = np.asarray(col, dtype=float)
        except ValueError:
            out[name] = np.asarray(col, dtype=str)
    return out


@functools.lru_cache(maxsize=None)
def load_resolution_table() -> dict[str, dict[str, np.ndarray]]:
    """Read the committed resolution table.

    Returns
    -------
    dict
        ``{disperser: {"wave_um": ..., "R": ..., "dlds_um": ...}}`` with the
        wavelength [micron], nominal resolving power [dimensionless] and
        dispersion [micron / pixel], sorted by wavelength.
    """
    raw = read_csv_table(RESOLUTION_TABLE)
    out: dict[str, dict[str, np.ndarray]] = {}
    for disp in np.unique(raw["disperser"]):
        m = raw["disperser"] == disp
        order = np.argsort(raw["wavelength_um"][m])
        out[str(disp)] = {
            "wave_um": np.asarray(raw["wavelength_um"][m][order], dtype=float),
            "R": np.asarray(raw["R"][m][order], dtype=float),
            "dlds_um": np.asarray(raw["dlds_um"][m][order], dtype=float),
        }
    return out


def _table(disperser: str) -> dict[str, np.ndarray]:
    tab = load_resolution_table()
    key = disperser.lower()
    if key not in tab:
        raise MocksimInputError(
            f"instrument.grating: unknown NIRSpec disperser {disperser!r}; "
            f"known: {', '.join(sorted(tab))}"
        )
    return tab[key]


def check_inflight_factor(factor: float) -> float:
    """Validate the in-flight resolution factor (allowed 0.5-2.0; typical 1.00-1.24)."""
    lo, hi = INFLIGHT_FACTOR_RANGE
    try:
        f = float(factor)
    except (TypeError, ValueError):
        raise MocksimInputError(
            f"instrument.inflight_resolution_factor: {factor!r} is not a number; "
            f"allowed range [{lo:g}, {hi:g}]"
        ) from None
    if not (np.isfinite(f) and lo <= f <= hi):
        raise MocksimInputError(
            f"instrument.inflight_resolution_factor: {factor!r} is outside the allowed range "
            f"[{lo:g}, {hi:g}] (in-flight IFU resolution is 1-24 % above nominal, i.e. 1.01-1.24)"
        )
    return f


def resolving_power(disperser: str, wave_um, inflight_factor: float = 1.0) -> np.ndarray:
    """Resolving power R(lambda) of ``disperser`` times ``inflight_factor``.

    Parameters
    ----------
    disperser : str
        ``"prism"``, ``"g140m"``, ``"g235m"``, ``"g395m"`` or ``"g395h"``.
    wave_um : float or array_like
        Observed wavelength [micron]; linearly interpolated in the table and
        clamped to its end values outside it.
    inflight_factor : float
        Multiplier applied to the nominal R (default 1).

    Returns
    -------
    ndarray
        Resolving power lambda / FWHM [dimensionless].
    """
    tab = _table(disperser)
    return np.interp(np.asarray(wave_um, dtype=float), tab["wave_um"], tab["R"]) * inflight_factor


def dispersion_um_per_pix(disperser: str, wave_um) -> np.ndarray:
    """Detector dispersion DLDS [micron / pixel] of ``disperser`` at ``wave_um`` [micron]."""
    tab = _table(disperser)
    return np.interp(np.asarray(wave_um, dtype=float), tab["wave_um"], tab["dlds_um"])


def lsf_fwhm_um(disperser: str, wave_um, inflight_factor: float = 1.0) -> np.ndarray:
    """Gaussian LSF FWHM = lambda / (R * inflight_factor) [micron]."""
    w = np.asarray(wave_um, dtype=float)
    return w / resolving_power(disperser, w, inflight_factor)


def lsf_sigma_um(disperser: str, wave_um, inflight_factor: float = 1.0) -> np.ndarray:
    """Gaussian LSF sigma = FWHM / 2.3548 [micron] at ``wave_um`` [micron]."""
    return lsf_fwhm_um(disperser, wave_um, inflight_factor) * FWHM_TO_SIGMA


class GaussianLSF:
    """Gaussian line-spread function of one NIRSpec disperser.

    Parameters
    ----------
    disperser : str
        Disperser name (see :func:`resolving_power`).
    inflight_factor : float
        Multiplier of the nominal resolving power (default 1; in flight 1.01-1.24).
    """

    def __init__(self, disperser: str, inflight_factor: float = 1.0):
        _table(disperser)
        self.disperser = disperser.lower()
        self.inflight_factor = check_inflight_factor(inflight_factor)

    def resolving_power(self, wave_um) -> np.ndarray:
        """R(lambda) including the in-flight factor [dimensionless]."""
        return resolving_power(self.disperser, wave_um, self.inflight_factor)

    def fwhm_um(self, wave_um) -> np.ndarray:
        """LSF FWHM [micron]."""
        return lsf_fwhm_um(self.disperser, wave_um, self.inflight_factor)

    def sigma_um(self, wave_um) -> np.ndarray:
        """LSF Gaussian sigma [micron]."""
        return lsf_sigma_um(self.disperser, wave_um, self.inflight_factor)

    def __repr__(self) -> str:
        return f"GaussianLSF({self.disperser!r}, inflight_factor={self.inflight_factor:g})"
