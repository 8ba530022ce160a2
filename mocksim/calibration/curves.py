"""Beam-smearing correction curves from a finished calibration grid.

Correction factor (seed 001, Sect. 6)
-------------------------------------
For every grid cell, ``f = <measured gradient> / intrinsic gradient`` where the
measured gradient is ``/recovered/linear_gradient`` (the direct annulus fit observers
do; option ``gradient = "forward"`` or ``"primary"``), ``<.>`` the mean (standard
error) or median (bootstrap error) over the cell's realisations with status 0.
``x = 2 R_e / FWHM`` is the cell mean of ``/truth/two_re_over_fwhm`` (PSF FWHM at
the observed [OIII]5007 wavelength).

Fitted form (per ``|intrinsic gradient|``, pooled over sign and other grid keys)::

    f(x) = A / (1 + (x0 / x)^p),    A in [0.3, 1.5], x0 in [0.05, 50], p in [0.3, 12]

a Hill (logistic in ln x) curve: monotonic in ``x`` for ``A, p > 0``, bounded in
``[0, A]``, ``f -> 0`` for a point source and ``f -> A`` (~1) for a resolved disk.
With fewer than four distinct ``x`` values ``A = 1`` is fixed. The parameter
covariance (in ``A, ln x0, p``) is scaled by ``max(1, chi2_red)``.

Cells whose intrinsic 12+log(O/H) out to the outermost bin (median over the cell's
realisations, ``r_out_kpc``) leaves the scenario's
``[calibration] logoh_window`` are kept in the cell table but not fitted (e.g.
where a strong-line calibration is double-valued or outside its validity range).

Scenario options (``[calibration]`` table, all optional)::

    gradient = "linear"        # linear | forward | primary
    estimator = "mean"         # mean | median
    logoh_window = [8.25, 9.15]
    n_boot = 200               # bootstrap resamples of medians
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import MocksimInputError

PARAM_NAMES = ("A", "ln_x0", "p")
FORMULA = "f(x) = A / (1 + (x0/x)**p), x = 2 Re / FWHM, x0 = exp(ln_x0)"
_BOUNDS = ([0.3, np.log(0.05), 0.3], [1.5, np.log(50.0), 12.0])
CAL_DEFAULTS = {"gradient": "linear", "estimator": "mean", "logoh_window": None, "n_boot": 200}


def calibration_options(scn) -> dict:
    """Validated ``[calibration]`` options of a scenario (see module docstring)."""
    opts = dict(CAL_DEFAULTS)
    user = dict(scn.extra.get("calibration", {}) or {})
    unknown = set(user) - set(CAL_DEFAULTS)
    if unknown:
        raise MocksimInputError(f"calibration: unknown key(s) {sorted(unknown)}; allowed: {', '.join(CAL_DEFAULTS)}")
    opts.update(user)
    if opts["gradient"] not in ("linear", "forward", "primary"):
        raise MocksimInputError(f"calibration.gradient: {opts['gradient']!r}; allowed: linear, forward, primary")
    if opts["gradient"] == "forward" and scn.recovery["gradient_fit"] == "linear":
        raise MocksimInputError("calibration.gradient: 'forward' needs recovery.gradient_fit = forward or both")
    if opts["estimator"] not in ("mean", "median"):
        raise MocksimInputError(f"calibration.estimator: {opts['estimator']!r}; allowed: mean, median")
    w = opts["logoh_window"]
    if w is not None and (not isinstance(w, list) or len(w) != 2 or not w[0] < w[1]):
        raise MocksimInputError(f"calibration.logoh_window: {w!r}; expected [low, high] in 12+log(O/H)")
    if isinstance(opts["n_boot"], bool) or not isinstance(opts["n_boot"], int) or not 10 <= opts["n_boot"] <= 100000:
        raise MocksimInputError(f"calibration.n_boot: {opts['n_boot']!r}; an integer in [10, 100000]")
    return opts


def hill(x, A, ln_x0, p):
    """Correction factor ``A / (1 + (x0/x)^p)`` at ``x = 2Re/FWHM`` (dimensionless)."""
    x = np.asarray(x, dtype=float)
    return A / (1.0 + np.exp(p * (ln_x0 - np.log(x))))


def hill_jacobian(x, A, ln_x0, p):
    """``d f / d(A, ln_x0, p)``, shape ``(len(x), 3)``."""
    x = np.atleast_1d(np.asarray(x, dtype=float))
    u = np.exp(p * (ln_x0 - np.log(x)))
    d = 1.0 + u
    return np.stack([1.0 / d, -A * p * u / d ** 2, -A * u * (ln_x0 - np.log(x)) / d ** 2], axis=-1)


@dataclass
class CurveFit:
    """One fitted correction curve.

    Attributes
    ----------
    abs_gradient : float
        ``|intrinsic gradient|`` [dex/kpc].
    params : ndarray (3,)
        ``A, ln_x0, p``.
    cov : ndarray (3, 3)
    x_min, x_max : float
        Range of ``2Re/FWHM`` covered by the fitted cells.
    n_cells : int
    chi2_red : float
    unconstrained : bool
        A parameter ended on a bound of the fit or is poorly determined (1-sigma
        error > 0.3 in A, > 1 in ln x0 or > half of p), or the midpoint ``x0`` lies
        outside ``[x_min / 2, 2 x_max]``: the cells do not constrain the curve (too few
        or too noisy realisations); do not use it for corrections.
    """

    abs_gradient: float
    params: np.ndarray
    cov: np.ndarray
    x_min: float
    x_max: float
    n_cells: int
    chi2_red: float
    unconstrained: bool = False

    def __call__(self, x):
        return hill(x, *self.params)

    def err(self, x):
        """1-sigma uncertainty of the fitted curve at ``x``."""
        J = hill_jacobian(x, *self.params)
        return np.sqrt(np.einsum("ni,ij,nj->n", J, self.cov, J))


def _gradient_key(gradient: str):
    return {"linear": ("linear_gradient", "linear_status"), "forward": ("forward_gradient", "forward_status"),
            "primary": ("gradient", "status")}[gradient]


def cell_table(arrays: dict, scn, *, gradient="linear", logoh_window=None, n_boot=200, estimator="mean") -> dict:
    """Per-cell correction factors (one row per grid cell).

    Returns
    -------
    dict of ndarray
        ``cell, n, n_ok, x, psf_fwhm_arcsec, true_gradient, abs_gradient, sign,
        measured_mean, measured_sem, measured_median, measured_median_err, factor,
        factor_err, factor_mean, factor_mean_err, factor_median, factor_median_err,
        f_p16, f_p84, r_out_kpc, logoh_min, logoh_max, in_window`` and
        ``grid:<key>`` for the numeric grid keys. ``factor`` is the chosen estimator.
    """
    t, r, prof = arrays["truth"], arrays["recovered"], arrays["profiles"]
    gk, sk = _gradient_key(gradient)
    meas, ok = r[gk], (r[sk] == 0) & np.isfinite(r[gk])
    cells = t["cell"].astype(int)
    n_cells = len(scn.grid_cells) if scn.grid_cells else 1
    rad = prof["radius_kpc"]  # all bins, used or not (a failing bin must not widen the window)
    with np.errstate(all="ignore"):
        r_out = np.max(np.where(np.isfinite(rad), rad, -np.inf), axis=1)
    r_out[~np.isfinite(r_out)] = np.nan
    cols = {k: np.full(n_cells, np.nan) for k in (
        "x", "psf_fwhm_arcsec", "true_gradient", "measured_mean", "measured_sem", "measured_median",
        "measured_median_err", "f_p16", "f_p84", "r_out_kpc", "logoh_min", "logoh_max")}
    cols["n"] = np.zeros(n_cells, dtype=np.int64)
    cols["n_ok"] = np.zeros(n_cells, dtype=np.int64)
    for c in range(n_cells):
        sel = cells == c
        if not sel.any():
            continue
        good = sel & ok
        cols["n"][c], cols["n_ok"][c] = sel.sum(), good.sum()
        g = float(np.mean(t["gradient_dex_per_kpc"][sel]))
        cols["true_gradient"][c] = g
        cols["x"][c] = float(np.mean(t["two_re_over_fwhm"][sel]))
        cols["psf_fwhm_arcsec"][c] = float(np.mean(t["psf_fwhm_arcsec"][sel]))
        ro = np.nanmedian(r_out[sel]) if np.isfinite(r_out[sel]).any() else np.nan
        z0 = float(np.mean(t["log_oh_center"][sel]))
        cols["r_out_kpc"][c] = ro
        cols["logoh_min"][c], cols["logoh_max"][c] = sorted((z0, z0 + g * ro)) if np.isfinite(ro) else (z0, z0)
        m = meas[good]
        if m.size:
            cols["measured_mean"][c] = m.mean()
            cols["measured_median"][c] = np.median(m)
            if m.size > 1:
                cols["measured_sem"][c] = m.std(ddof=1) / np.sqrt(m.size)
                boot = np.random.default_rng(c).integers(0, m.size, (n_boot, m.size))
                cols["measured_median_err"][c] = np.median(m[boot], axis=1).std(ddof=1)
            if g != 0:
                cols["f_p16"][c], cols["f_p84"][c] = np.percentile(m / g, [16, 84])
    g = cols["true_gradient"]
    with np.errstate(all="ignore"):
        cols["factor_mean"] = cols["measured_mean"] / g
        cols["factor_mean_err"] = cols["measured_sem"] / np.abs(g)
        cols["factor_median"] = cols["measured_median"] / g
        cols["factor_median_err"] = cols["measured_median_err"] / np.abs(g)
    cols["factor"] = cols[f"factor_{estimator}"].copy()
    cols["factor_err"] = cols[f"factor_{estimator}_err"].copy()
    cols["abs_gradient"] = np.round(np.abs(g), 9)
    cols["sign"] = np.sign(g)
    cols["cell"] = np.arange(n_cells)
    if logoh_window is None:
        cols["in_window"] = np.ones(n_cells, dtype=bool)
    else:
        lo, hi = logoh_window
        cols["in_window"] = (np.isfinite(cols["r_out_kpc"]) & (cols["logoh_min"] >= lo - 1e-9)
                             & (cols["logoh_max"] <= hi + 1e-9))
    for key in scn.grid_keys:
        vals = [cell["values"][key] for cell in scn.grid_cells]
        if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in vals):
            cols[f"grid:{key}"] = np.asarray(vals, dtype=float)
    return cols


def fit_curve(x, f, f_err, abs_gradient: float = np.nan, n=None) -> CurveFit | None:
    """Fit :func:`hill` to factors ``f`` at ``x`` (weights ``1/f_err^2``); None if < 2 x values.

    ``n``: realisations behind each factor. A factor without an error (one realisation)
    gets the other cells' median per-realisation scatter ``f_err sqrt(n)``, over ``sqrt(n)``
    (without ``n``: their largest error), not the error floor.
    """
    from scipy.optimize import curve_fit

    x, f, e = (np.asarray(a, dtype=float) for a in (x, f, f_err))
    nn = np.ones(x.size) if n is None else np.asarray(n, dtype=float)
    good = np.isfinite(x) & np.isfinite(f) & (x > 0)
    x, f, e, nn = x[good], f[good], e[good], nn[good]
    if np.unique(np.round(x, 9)).size < 2:
        return None
    known = np.isfinite(e)
    if known.any() and not known.all():
        fill = np.median(e[known] * np.sqrt(nn[known])) / np.sqrt(nn) if n is not None else np.max(e[known])
        e = np.where(known, e, fill)
    pos = e[np.isfinite(e) & (e > 0)]
    floor = max(np.median(pos) if pos.size else 0.05, 1e-3) * 0.1
    e = np.where(np.isfinite(e) & (e > floor), e, floor)
    order = np.argsort(x)
    x0_guess = float(np.interp(0.5, np.maximum.accumulate(f[order]), x[order])) if f.max() > 0.5 else x.max()
    p0 = [min(max(f.max(), 0.4), 1.4), np.log(np.clip(x0_guess, 0.06, 40)), 2.0]
    free_A = np.unique(np.round(x, 9)).size >= 4
    if free_A:
        popt, pcov = curve_fit(hill, x, f, p0=p0, sigma=e, absolute_sigma=True, bounds=_BOUNDS, maxfev=20000)
    else:
        popt2, pcov2 = curve_fit(lambda xx, a, b: hill(xx, 1.0, a, b), x, f, p0=p0[1:], sigma=e,
                                 absolute_sigma=True, bounds=(_BOUNDS[0][1:], _BOUNDS[1][1:]), maxfev=20000)
        popt, pcov = np.r_[1.0, popt2], np.zeros((3, 3))
        pcov[1:, 1:] = pcov2
    k = 3 if free_A else 2
    chi2 = float(np.sum(((f - hill(x, *popt)) / e) ** 2))
    chi2_red = chi2 / (x.size - k) if x.size > k else np.nan
    if np.isfinite(chi2_red) and chi2_red > 1:
        pcov = pcov * chi2_red
    lo, hi = np.array(_BOUNDS[0]), np.array(_BOUNDS[1])
    span = 1e-3 * (hi - lo)
    free = np.array([free_A, True, True])
    perr = np.sqrt(np.clip(np.diag(pcov), 0, None))
    loose = perr > np.array([0.3, 1.0, 0.5 * popt[2]])
    x0 = np.exp(popt[1])
    unconstrained = bool(np.any(free & ((popt <= lo + span) | (popt >= hi - span) | loose))
                         or not 0.5 * x.min() <= x0 <= 2.0 * x.max())
    return CurveFit(abs_gradient=float(abs_gradient), params=np.asarray(popt, float), cov=np.asarray(pcov, float),
                    x_min=float(x.min()), x_max=float(x.max()), n_cells=int(x.size), chi2_red=chi2_red,
                    unconstrained=unconstrained)


def fit_correction_curves(cells: dict, *, split=("abs_gradient",)) -> list[CurveFit]:
    """One :func:`fit_curve` per group of ``cells`` columns ``split`` (in-window cells only)."""
    use = cells["in_window"] & np.isfinite(cells["factor"]) & (cells["n_ok"] > 0)
    keys = sorted({tuple(cells[s][i] for s in split) for i in np.flatnonzero(use)})
    fits = []
    for key in keys:
        sel = use.copy()
        for s, v in zip(split, key):
            sel &= cells[s] == v
        fit = fit_curve(cells["x"][sel], cells["factor"][sel], cells["factor_err"][sel],
                        abs_gradient=float(np.mean(cells["abs_gradient"][sel])), n=cells["n_ok"][sel])
        if fit is not None:
            fits.append(fit)
    return fits


@dataclass
class CalibrationProducts:
    """Cell table, fitted curves and per-realisation factors of a grid (see module docstring)."""

    cells: dict
    fits: list
    points: dict
    meta: dict = field(default_factory=dict)

    def write_h5(self, f) -> None:
        """Add ``/calibration`` to an open ``results.h5`` (h5py File)."""
        g = f.create_group("calibration")
        for k, v in self.meta.items():
            g.attrs[k] = v
        c = g.create_group("cells")
        for k, v in self.cells.items():
            c.create_dataset(k.replace("grid:", "grid_").replace("/", "_"), data=v)
        c["factor"].attrs["meaning"] = f"<measured>/intrinsic gradient per cell ({self.meta['estimator']})"
        fg = g.create_group("fit")
        fg.attrs["formula"], fg.attrs["param_names"] = FORMULA, list(PARAM_NAMES)
        fits = self.fits
        ag = fg.create_dataset("abs_gradient", data=np.array([q.abs_gradient for q in fits], float))
        ag.attrs["units"] = "dex/kpc"
        fg.create_dataset("params", data=np.array([q.params for q in fits], float).reshape(-1, 3))
        fg.create_dataset("cov", data=np.array([q.cov for q in fits], float).reshape(-1, 3, 3))
        for key in ("x_min", "x_max", "n_cells", "chi2_red"):
            fg.create_dataset(key, data=np.array([getattr(q, key) for q in fits], float))
        fg.create_dataset("unconstrained", data=np.array([q.unconstrained for q in fits], bool))

    def table(self):
        """Coefficient table (astropy Table, one row per ``|gradient|``, metadata in ``meta``)."""
        from astropy.table import Table

        rows = {"abs_gradient": [q.abs_gradient for q in self.fits]}
        for i, name in enumerate(PARAM_NAMES):
            rows[name] = [q.params[i] for q in self.fits]
        for i in range(3):
            for j in range(i, 3):
                rows[f"cov_{PARAM_NAMES[i]}_{PARAM_NAMES[j]}"] = [q.cov[i, j] for q in self.fits]
        for key in ("x_min", "x_max", "n_cells", "chi2_red", "unconstrained"):
            rows[key] = [getattr(q, key) for q in self.fits]
        t = Table(rows)
        t.meta.update(self.meta)
        t.meta["formula"] = FORMULA
        return t

    def write_files(self, out_dir) -> list:
        """``calibration_curves.ecsv``, ``calibration_cells.ecsv`` and ``correction_curves.png``."""
        from astropy.table import Table

        from ..io_utils import atomic_path
        from .figures import correction_figure

        written = []
        out = []
        if self.fits:
            out.append(("calibration_curves.ecsv", self.table()))
        out.append(("calibration_cells.ecsv", Table({k.replace(":", "_"): v for k, v in self.cells.items()},
                                                    meta=dict(self.meta))))
        for name, tab in out:
            with atomic_path(f"{out_dir}/{name}") as tmp:
                tab.write(tmp, format="ascii.ecsv", overwrite=True)
            written.append(name)
        if self.points["x"].size:
            with atomic_path(f"{out_dir}/correction_curves.png") as tmp:
                correction_figure(tmp, self)
            written.append("correction_curves.png")
        return written


def compute_products(arrays: dict, scn, *, gradient="linear", estimator="mean", logoh_window=None,
                     n_boot=200) -> CalibrationProducts:
    """Cell table + correction curves + per-realisation factors from a grid's arrays."""
    cells = cell_table(arrays, scn, gradient=gradient, logoh_window=logoh_window, n_boot=n_boot,
                       estimator=estimator)
    fits = fit_correction_curves(cells)
    t, r = arrays["truth"], arrays["recovered"]
    gk, sk = _gradient_key(gradient)
    c = t["cell"].astype(int)
    good = (r[sk] == 0) & np.isfinite(r[gk]) & (t["gradient_dex_per_kpc"] != 0) & cells["in_window"][c]
    with np.errstate(all="ignore"):
        f = r[gk] / t["gradient_dex_per_kpc"]
    points = {"x": t["two_re_over_fwhm"][good], "f": f[good],
              "abs_gradient": np.round(np.abs(t["gradient_dex_per_kpc"][good]), 9)}
    meta = {"scenario_name": scn.name, "seed": scn.seed, "instrument": scn.instrument["name"],
            "psf": str(scn.instrument.get("psf", "jwst")), "line": "OIII5007", "cosmology": scn.cosmology,
            "gradient_source": gradient, "estimator": estimator, "x": "2 Re / FWHM (FWHM at observed [OIII]5007)",
            "logoh_window": "none" if logoh_window is None else f"{logoh_window[0]} {logoh_window[1]}",
            "grid_psf_varied": "instrument.psf" in scn.grid_keys}
    return CalibrationProducts(cells=cells, fits=fits, points=points, meta=meta)
