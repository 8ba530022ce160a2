"""Abstract instrument interface and the preset registry.

An :class:`Instrument` turns an :class:`mocksim.scene.EmissionScene` rendered on the
fine grid it supplies (:meth:`Instrument.scene_grid`) into an
:class:`mocksim.observation.Observation`.

Fine-grid convention
--------------------
The scene is rendered on ``oversample x oversample`` fine pixels per native
spaxel/detector pixel; the fine grid covers exactly ``n x n`` spaxels. The
oversampling factor is odd so that every spaxel centre coincides with the centre
of a fine pixel (with :mod:`mocksim.scene`'s centred-pixel convention the spaxel
and fine-grid centres coincide for any factor, but only odd factors put a fine
pixel, rather than a fine-pixel corner, on each spaxel centre). Instruments
convolve with the PSF on the fine grid and then block-sum fine pixels into
spaxels, which integrates over the spaxel area and conserves flux exactly.

Preset registry
---------------
Presets are factories registered by name with :func:`register_instrument`, e.g.
``register_instrument("nircam-wfss-f356w", lambda **kw: NIRCamWFSS("f356w", **kw))``.
:data:`INSTRUMENT_PRESETS` is the live registry (a ``dict`` name -> factory);
:func:`mocksim.instruments.get_instrument` looks names up there. A new instrument
family only needs its own module that calls :func:`register_instrument` on import
(and one import line in ``mocksim/instruments/__init__.py``).
"""
from __future__ import annotations

import abc
import inspect
from typing import Callable, Iterable

import numpy as np

from ..errors import MocksimInputError
from ..lines import LINES, Line, get_line
from ..scene import SceneGrid

#: Live registry of instrument presets: name -> factory(**options) -> Instrument.
INSTRUMENT_PRESETS: dict[str, Callable[..., "Instrument"]] = {}


def register_instrument(name: str, factory: Callable[..., "Instrument"], *,
                        replace: bool = False) -> None:
    """Register an instrument preset.

    Parameters
    ----------
    name : str
        Preset name (lower case, e.g. ``"nirspec-ifu-g395m"``).
    factory : callable
        ``factory(**options) -> Instrument``.
    replace : bool
        Allow overwriting an existing preset of the same name.
    """
    key = name.strip().lower()
    if key in INSTRUMENT_PRESETS and not replace:
        raise ValueError(f"instrument preset {key!r} is already registered")
    INSTRUMENT_PRESETS[key] = factory


def _factory_options(factory) -> list[str] | None:
    """Keyword options accepted by a factory, or None if it takes ``**kwargs``."""
    target = factory
    if hasattr(factory, "func"):  # functools.partial
        target = factory.func
    try:
        sig = inspect.signature(target)
    except (TypeError, ValueError):
        return None
    names = []
    for p in sig.parameters.values():
        if p.kind is inspect.Parameter.VAR_KEYWORD:
            return None
        if p.kind in (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD):
            names.append(p.name)
    bound = set(getattr(factory, "keywords", {}) or {}) | set(
        list(sig.parameters)[: len(getattr(factory, "args", ()) or ())])
    return [n for n in names if n not in bound and n != "self"]


def make_instrument(name: str, **options) -> "Instrument":
    """Instantiate a registered preset (see :func:`mocksim.instruments.get_instrument`)."""
    if not isinstance(name, str):
        raise MocksimInputError(f"instrument.name: expected a string, got {name!r}")
    key = name.strip().lower()
    if key not in INSTRUMENT_PRESETS:
        raise MocksimInputError(
            f"instrument.name: unknown instrument {name!r}; known presets are "
            f"{', '.join(sorted(INSTRUMENT_PRESETS))}"
        )
    factory = INSTRUMENT_PRESETS[key]
    allowed = _factory_options(factory)
    if allowed is not None:
        bad = sorted(set(options) - set(allowed))
        if bad:
            raise MocksimInputError(
                f"instrument.{bad[0]}: unknown option for {key}; allowed options are "
                f"{', '.join(allowed)}"
            )
    return factory(**options)


def check_range(key, value, lo, hi):
    """Return ``float(value)`` or raise MocksimInputError naming ``key`` and ``[lo, hi]``."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise MocksimInputError(f"{key}: {value!r} is not a number") from None
    if not (np.isfinite(v) and lo <= v <= hi):
        raise MocksimInputError(f"{key}: {value!r} is outside the allowed range [{lo:g}, {hi:g}]")
    return v


def check_flag(key, value) -> bool:
    """Return ``bool(value)`` or raise MocksimInputError naming ``key`` (true/false only)."""
    if not isinstance(value, (bool, np.bool_)):
        raise MocksimInputError(f"{key}: expected true or false, got {value!r}")
    return bool(value)


class KernelMemo(dict):
    """PSF kernels (or their spectra) of one instrument by key: at most ``max_entries``
    (inserting beyond drops the oldest). A population with continuous redshifts asks
    for new wavelengths with every galaxy; unbounded, the kernels grew by ~0.8 MB per
    z ~ 6 grism galaxy. A dropped kernel comes back from the PSF's cache."""

    def __init__(self, max_entries: int = 128):
        super().__init__()
        self.max_entries = int(max_entries)

    def __setitem__(self, key, value):
        if key not in self and len(self) >= self.max_entries:
            del self[next(iter(self))]
        super().__setitem__(key, value)

    def __reduce__(self):          # pickle: the bound first, then the items
        return type(self), (self.max_entries,), None, None, iter(self.items())


class NoPSF:
    """Identity PSF (``psf="none"``): kernel ``[[1.0]]``."""

    spec = "none"

    def kernel(self, wave_um, pixscale_arcsec, size=None):
        return np.ones((1, 1))

    def fwhm_arcsec(self, wave_um):
        return 0.0


def resolve_psf(psf, family: str):
    """PSF model and its spec label from a spec string or a PSF-like object.

    ``"none"`` gives :class:`NoPSF`; other strings go to
    :func:`mocksim.psf.make_psf` with ``family``; objects need ``kernel`` and
    ``fwhm_arcsec`` methods.
    """
    if isinstance(psf, str):
        if psf.strip().lower() == "none":
            return NoPSF(), "none"
        try:
            from ..psf import make_psf
        except ImportError as exc:  # pragma: no cover - depends on the psf subpackage
            raise MocksimInputError(
                f"instrument.psf: {psf!r} needs mocksim.psf, which is not available ({exc})") from exc
        return make_psf(psf, family=family), psf
    if hasattr(psf, "kernel") and hasattr(psf, "fwhm_arcsec"):
        return psf, getattr(psf, "spec", type(psf).__name__)
    raise MocksimInputError(f"instrument.psf: expected a PSF spec string or PSF model, got {psf!r}")


def _line_obj(line) -> Line:
    if isinstance(line, Line):
        return line
    return get_line(str(line))


class Instrument(abc.ABC):
    """Base class of all mocksim instruments.

    Attributes
    ----------
    name : str
        Preset name, e.g. ``"nirspec-ifu-g395m"``.
    kind : str
        ``"ifu"`` or ``"grism"``.
    pixscale_arcsec : float
        Native spaxel / detector-pixel size on which the scene is integrated [arcsec].
    wave_range_um : tuple of float
        ``(min, max)`` observed-frame wavelength coverage [micron].
    oversample : int
        Odd number of fine pixels per native pixel along each axis.
    fov_arcsec : float
        Default side of the square field rendered by :meth:`scene_grid` [arcsec].
    """

    name: str = "instrument"
    kind: str = "ifu"
    pixscale_arcsec: float = 0.1
    wave_range_um: tuple[float, float] = (0.0, np.inf)
    oversample: int = 5
    fov_arcsec: float = 3.0

    # ------------------------------------------------------------------ grid
    def n_spaxels(self, fov_arcsec: float | None = None) -> int:
        """Number of native pixels along each side of a field of ``fov_arcsec``."""
        fov = self.fov_arcsec if fov_arcsec is None else fov_arcsec
        try:
            fov = float(fov)
        except (TypeError, ValueError):
            raise MocksimInputError(f"instrument.fov_arcsec: {fov!r} is not a number") from None
        if not np.isfinite(fov) or fov > 20.0 or round(fov / self.pixscale_arcsec) < 1:
            raise MocksimInputError(
                f"instrument.fov_arcsec: {fov!r} is outside the allowed range "
                f"[{self.pixscale_arcsec:g}, 20] arcsec"
            )
        return int(round(fov / self.pixscale_arcsec))

    def scene_grid(self, fov_arcsec: float | None = None) -> SceneGrid:
        """Fine grid on which generators render scenes for this instrument.

        Parameters
        ----------
        fov_arcsec : float, optional
            Side of the square field [arcsec]; rounded to a whole number of native
            pixels. Default: the instrument's ``fov_arcsec`` (3.0'' for NIRSpec IFU).
            Smaller cutouts are faster; a larger field keeps PSF wings inside.

        Returns
        -------
        SceneGrid
            Pixel size ``pixscale_arcsec / oversample`` [arcsec], shape
            ``(n * oversample, n * oversample)``, ``oversample`` set.
        """
        n = self.n_spaxels(fov_arcsec)
        os_ = int(self.oversample)
        return SceneGrid(self.pixscale_arcsec / os_, (n * os_, n * os_), oversample=os_)

    def check_scene_grid(self, grid: SceneGrid) -> tuple[int, int]:
        """Check a scene grid matches this instrument; return native ``(ny, nx)``."""
        os_ = int(self.oversample)
        ok = (int(grid.oversample) == os_
              and abs(grid.pixscale_arcsec * os_ - self.pixscale_arcsec) < 1e-9 * self.pixscale_arcsec + 1e-12
              and grid.shape[0] % os_ == 0 and grid.shape[1] % os_ == 0)
        if not ok:
            raise MocksimInputError(
                f"scene.grid: pixscale {grid.pixscale_arcsec:g}'' x oversample {grid.oversample} with "
                f"shape {grid.shape} does not match {self.name} (needs oversample {os_}, fine pixel "
                f"{self.pixscale_arcsec / os_:g}'', shape a multiple of {os_}); use instrument.scene_grid()"
            )
        return grid.shape[0] // os_, grid.shape[1] // os_

    # ------------------------------------------------------------- coverage
    def covers(self, wave_um) -> np.ndarray:
        """True where ``wave_um`` [micron] lies inside :attr:`wave_range_um`."""
        lo, hi = self.wave_range_um
        w = np.asarray(wave_um, dtype=float)
        return (w >= lo) & (w <= hi)

    def check_lines(self, lines: Iterable, redshift: float, *, needed_by: str | None = None) -> None:
        """Raise :class:`MocksimInputError` if any line falls outside the coverage.

        Parameters
        ----------
        lines : iterable of str or Line
            Line names from :data:`mocksim.lines.LINES`.
        redshift : float
            Systemic redshift.
        needed_by : str, optional
            Who needs the line (shown in the message, e.g. ``"recovery"``).

        Raises
        ------
        MocksimInputError
            e.g. ``line OII3727 (needed by recovery) falls at 2.609 µm at z=6.000,
            outside nirspec-ifu-g395m coverage 2.87–5.27 µm``.
        """
        if isinstance(lines, (str, Line)):
            lines = [lines]
        lo, hi = self.wave_range_um
        for ln in lines:
            line = _line_obj(ln)
            w = line.observed_um(redshift)
            if not bool(self.covers(w)):
                who = f" (needed by {needed_by})" if needed_by else ""
                raise MocksimInputError(
                    f"line {line.name}{who} falls at {w:.3f} µm at z={redshift:.3f}, outside "
                    f"{self.name} coverage {lo:.2f}–{hi:.2f} µm"
                )

    def lines_in_coverage(self, redshift: float, lines: Iterable | None = None) -> list[str]:
        """Names of ``lines`` (default: all known lines) inside the coverage at ``redshift``."""
        names = list(LINES) if lines is None else [_line_obj(ln).name for ln in lines]
        return [n for n in names if bool(self.covers(LINES[n].observed_um(redshift)))]

    # ------------------------------------------------------------ abstract
    @abc.abstractmethod
    def lsf_sigma_um(self, wave_um) -> np.ndarray:
        """Instrumental Gaussian line-spread sigma [micron] at ``wave_um`` [micron]."""

    @abc.abstractmethod
    def psf_fwhm_arcsec(self, wave_um: float) -> float:
        """PSF FWHM [arcsec] at ``wave_um`` [micron] (before spaxel integration)."""

    @abc.abstractmethod
    def render_noiseless(self, scene) -> np.ndarray:
        """Noise-free data array of ``scene`` on the output grid (used by forward fits)."""

    @abc.abstractmethod
    def observe(self, scene, noise=None, rng: np.random.Generator | None = None):
        """Observe ``scene`` with noise model ``noise`` drawing from ``rng``.

        Returns
        -------
        mocksim.observation.Observation
        """

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"
