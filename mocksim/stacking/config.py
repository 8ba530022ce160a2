"""The ``[stack]`` table of a scenario: :class:`StackConfig` and its validation."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

import numpy as np

from ..errors import MocksimInputError

__all__ = ["StackConfig", "stack_config_from_dict", "STACK_CHOICES"]

#: Allowed values of the string-valued keys.
STACK_CHOICES = {
    "method": ("median", "mean"),
    "weight": ("oiii", "none"),
    "centroid": ("daofind", "peak", "truth"),
    "bin_by": (None, "log_mstar", "redshift"),
    "metallicity_method": ("grid", "emcee"),
    "branch": (None, "auto", "lower", "upper", "mzr"),
}


@dataclass
class StackConfig:
    """How to stack a population (defaults follow seed 000 §3.1 and §3.4).

    Attributes
    ----------
    method : {"median", "mean"}
        Per-pixel combination of the aligned maps.
    weight : {"oiii", "none"}
        ``"oiii"``: divide each galaxy's maps by its integrated [OIII]5007 flux
        (seed 000: "weight each map by [OIII] flux ... to avoid excessive
        weighting toward bright sources"); ``"none"``: stack the fluxes as observed.
    rescale : bool
        Resample every galaxy to pixels of ``rescale_pix_re`` R_e (flux-conserving
        pixel-overlap rebinning; seed 000 App. A "in scale of R_e"); the
        profile is then measured to ``r_max_re`` R_e. Default False (seed).
    rotate, deproject : bool
        Rotate the major axis onto +y / stretch the minor axis by 1/(b/a)
        (bilinear, flux-conserving to the interpolation accuracy). Default False (seed).
    n_annuli : int
        Number of equal-width annuli (seed: 5).
    r_max_arcsec : float
        Outer radius of the annuli [arcsec] (seed: 0.42); also the radius of the
        aperture that measures the integrated [OIII] flux for ``weight = "oiii"``.
    bootstrap : int
        Bootstrap replicas over galaxies (seed: yes; 200 here). 0 = analytic error
        of the mean over galaxies instead (their scatter / sqrt(N), x sqrt(pi/2)
        for the median).
    centroid : {"daofind", "peak", "truth"}
        Centre of each galaxy: photutils DAOStarFinder on the [OIII] map (seed),
        the Gaussian-smoothed peak, or the true centre passed by the caller.
    bin_by : {None, "log_mstar", "redshift"}
        Also stack in bins of this quantity (seed 000 App. A: mass bins).
    bin_edges : list of float or None
        Increasing bin edges; None = two bins split at the median.
    pixscale_arcsec : float or None
        Pixel of the stacked maps [arcsec]; None = the maps' (median) pixel.
    calibration : str
        Strong-line calibration for 12+log(O/H) of the stacked fluxes.
    calibration_scatter_dex : float, optional
        Override of the calibration's intrinsic scatter [dex] (e.g. 0.05 for
        Sanders+24 R3, the value of seed 000's team's ASPIRE code).
    extrapolate_dex : float, optional
        Explicitly extrapolate the calibration polynomials this far beyond their
        validity range [dex, (0, 2]] in the inference of the stacked profile
        (search domain and default prior; see
        :func:`mocksim.physics.calibrations.get_calibration`). None (default) =
        validity +/- 0.1 dex prior. Seed 000 inverts Sanders+24 R3 on the lower
        branch with no range limit; pair with ``recovery.extrapolate_dex`` so the
        generated line ratios are extrapolated likewise.
    metallicity_method : {"grid", "emcee"}
    branch : {None, "auto", "lower", "upper", "mzr"}
        R3 branch: None = "lower" (seed 000 §3.3 for z > 5), "auto" = no prior,
        "mzr" = side of the Sarkar+25 MZR at the median mass and redshift.
    r_max_re : float
        Outer radius of the annuli of rescaled stacks [R_e] (mocksim choice: 2).
    rescale_pix_re : float
        Pixel of rescaled stacks [R_e] (seed 000 App. A: 0.25).
    centroid_fwhm_pix : float
        FWHM of the Gaussian kernel of the centroid finders [input pixels]
        (NIRCam PSF ~0.12'' on 0.06'' pixels -> 2).
    centroid_search_arcsec : float or None
        Centroids are searched within this radius of the map centre [arcsec]
        (the stamps are centred on the detected targets); None = whole map.
    lines : list of str
        Lines whose stacked annulus fluxes enter 12+log(O/H) and the S/N cut
        (seed 000 at z > 5: [OIII]5007 and Hβ only). All lines present for
        every galaxy are stacked regardless.
    min_snr : float
        Minimum bootstrap S/N of [OIII] and Hβ for an annulus to enter the fit.
    """

    method: str = "median"
    weight: str = "oiii"
    rescale: bool = False
    rotate: bool = False
    deproject: bool = False
    n_annuli: int = 5
    r_max_arcsec: float = 0.42
    bootstrap: int = 200
    centroid: str = "daofind"
    bin_by: str | None = None
    bin_edges: list | None = None
    pixscale_arcsec: float | None = None
    calibration: str = "curti20"
    calibration_scatter_dex: float | None = None
    extrapolate_dex: float | None = None
    metallicity_method: str = "grid"
    branch: str | None = None
    r_max_re: float = 2.0
    rescale_pix_re: float = 0.25
    centroid_fwhm_pix: float = 2.0
    centroid_search_arcsec: float | None = 0.3
    lines: list = field(default_factory=lambda: ["Hbeta", "OIII5007"])
    min_snr: float = 3.0

    def __post_init__(self):
        validate_stack_config(self)

    def as_dict(self) -> dict:
        """Plain mapping (None values kept) for JSON/HDF5 attributes."""
        return asdict(self)


def _num(key, v, lo, hi, *, integer=False, open_lo=False):
    ok_type = isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)
    if integer:
        ok_type = ok_type and float(v).is_integer()
    if not ok_type or not np.isfinite(v) or (v <= lo if open_lo else v < lo) or v > hi:
        lb = "(" if open_lo else "["
        kind = "an integer" if integer else "a number"
        raise MocksimInputError(f"stack.{key}: must be {kind} in {lb}{lo:g}, {hi:g}], got {v!r}")


def validate_stack_config(c: StackConfig) -> StackConfig:
    """Raise :class:`MocksimInputError` naming ``stack.<key>`` for any bad value."""
    for key, allowed in STACK_CHOICES.items():
        v = getattr(c, key)
        if v not in allowed or isinstance(v, bool):
            raise MocksimInputError(f"stack.{key}: {v!r}; allowed: {', '.join(map(repr, allowed))}")
    for key in ("rescale", "rotate", "deproject"):
        if not isinstance(getattr(c, key), bool):
            raise MocksimInputError(f"stack.{key}: must be true or false, got {getattr(c, key)!r}")
    _num("n_annuli", c.n_annuli, 1, 100, integer=True)
    _num("bootstrap", c.bootstrap, 0, 100000, integer=True)
    if c.bootstrap == 1:
        raise MocksimInputError("stack.bootstrap: must be 0 (no bootstrap) or >= 2, got 1")
    _num("r_max_arcsec", c.r_max_arcsec, 0, 10, open_lo=True)
    _num("r_max_re", c.r_max_re, 0, 20, open_lo=True)
    _num("rescale_pix_re", c.rescale_pix_re, 0, 5, open_lo=True)
    _num("centroid_fwhm_pix", c.centroid_fwhm_pix, 0, 100, open_lo=True)
    _num("min_snr", c.min_snr, 0, 1e6)
    if c.pixscale_arcsec is not None:
        _num("pixscale_arcsec", c.pixscale_arcsec, 0, 1, open_lo=True)
    if c.centroid_search_arcsec is not None:
        _num("centroid_search_arcsec", c.centroid_search_arcsec, 0, 10, open_lo=True)
    from ..lines import LINES

    if not isinstance(c.lines, (list, tuple)) or not {"Hbeta", "OIII5007"} <= set(c.lines) \
            or any(ln not in LINES for ln in c.lines):
        raise MocksimInputError(f"stack.lines: need a list of line names including 'Hbeta' and 'OIII5007' "
                                f"(known: {', '.join(LINES)}), got {c.lines!r}")
    c.lines = list(c.lines)
    if c.bin_edges is not None:
        e = c.bin_edges
        if not isinstance(e, (list, tuple)) or len(e) < 2 or not all(
                isinstance(v, (int, float)) and not isinstance(v, bool) and np.isfinite(v) for v in e) \
                or not np.all(np.diff(np.asarray(e, float)) > 0):
            raise MocksimInputError(f"stack.bin_edges: need >= 2 strictly increasing numbers, got {e!r}")
        if c.bin_by is None:
            raise MocksimInputError("stack.bin_edges: given without stack.bin_by (allowed: 'log_mstar', 'redshift')")
        c.bin_edges = [float(v) for v in e]
    from ..physics.calibrations import get_calibration

    sc = c.calibration_scatter_dex
    if sc is not None and (isinstance(sc, bool) or not isinstance(sc, (int, float)) or not 0 < sc <= 1):
        raise MocksimInputError(f"stack.calibration_scatter_dex: must be in (0, 1] dex, got {sc!r}")
    try:
        get_calibration(c.calibration)
    except MocksimInputError as exc:
        raise MocksimInputError(f"stack.calibration: {exc}") from None
    try:
        if c.extrapolate_dex is not None:
            get_calibration(c.calibration, extrapolate_dex=c.extrapolate_dex)
    except MocksimInputError as exc:
        raise MocksimInputError(f"stack.{exc}") from None
    return c


def stack_config_from_dict(d: dict | None) -> StackConfig:
    """Validate a scenario's ``[stack]`` table.

    Parameters
    ----------
    d : dict or None
        Keys as the attributes of :class:`StackConfig` (missing keys take the
        defaults; ``bin_by``, ``branch``, ``pixscale_arcsec``, ``bin_edges``,
        ``centroid_search_arcsec`` and ``extrapolate_dex`` may be the string ``"none"`` for None, since
        TOML has no null).

    Returns
    -------
    StackConfig

    Raises
    ------
    MocksimInputError
        Naming ``stack.<key>`` and the allowed values.
    """
    d = dict(d or {})
    names = [f.name for f in fields(StackConfig)]
    unknown = sorted(set(d) - set(names))
    if unknown:
        raise MocksimInputError(f"stack: unknown key(s) {unknown}; allowed: {', '.join(names)}")
    for key in ("bin_by", "branch", "pixscale_arcsec", "bin_edges", "centroid_search_arcsec",
                "extrapolate_dex"):
        if isinstance(d.get(key), str) and d[key].lower() == "none":
            d[key] = None
    return StackConfig(**d)
