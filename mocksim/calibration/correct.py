"""``mocksim correct``: undo beam smearing of one measured gradient with calibration curves.

The correction factor ``f(x; |g_int|)`` (:mod:`mocksim.calibration.curves`) depends on
``x = 2 Re / FWHM`` and on the unknown intrinsic gradient. We solve

    g_meas = f(x; |g|) * g

for ``g`` (same sign as ``g_meas``), with ``f`` interpolated linearly in ``|g|``
between the tabulated curves and held at the nearest curve outside their range
(reported as an extrapolation when more than 2 % outside). Uncertainties, with ``D = d(|g| f)/d|g|``:
``sigma_meas = sigma(g_meas) / D`` and ``sigma_curve = |g| sigma_f / D`` (fit
uncertainty of the curve at ``x``), combined in quadrature.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import MocksimInputError
from .curves import PARAM_NAMES, hill, hill_jacobian


@dataclass
class Curves:
    """Correction curves read back from ``results.h5`` or ``calibration_curves.ecsv``.

    Attributes
    ----------
    abs_gradient : ndarray (k,)
        ``|intrinsic gradient|`` of each curve [dex/kpc], increasing.
    params : ndarray (k, 3)
        ``A, ln_x0, p`` of :func:`mocksim.calibration.curves.hill`.
    cov : ndarray (k, 3, 3)
    x_min, x_max : ndarray (k,)
        ``2Re/FWHM`` range of each curve.
    unconstrained : ndarray of bool (k,)
        Curves the grid did not constrain (see ``CurveFit.unconstrained``).
    meta : dict
        ``instrument``, ``psf``, ``line``, ``cosmology``...
    """

    abs_gradient: np.ndarray
    params: np.ndarray
    cov: np.ndarray
    x_min: np.ndarray
    x_max: np.ndarray
    meta: dict
    unconstrained: np.ndarray | None = None

    @property
    def x_range(self) -> tuple[float, float]:
        """``2Re/FWHM`` range covered by every curve."""
        return float(np.max(self.x_min)), float(np.min(self.x_max))

    def _each(self, x):
        f = np.array([hill(x, *p) for p in self.params]).reshape(-1)
        J = np.array([hill_jacobian(x, *p)[0] for p in self.params])
        e = np.sqrt(np.einsum("ki,kij,kj->k", J, self.cov, J))
        return f, e

    def factor(self, x: float, a) -> tuple[np.ndarray, np.ndarray]:
        """Factor and its 1-sigma error at ``x`` for intrinsic ``|gradient| = a`` (array ok)."""
        f, e = self._each(x)
        a = np.asarray(a, dtype=float)
        if f.size == 1:
            return np.full(a.shape, f[0]), np.full(a.shape, e[0])
        return np.interp(a, self.abs_gradient, f), np.interp(a, self.abs_gradient, e)


def load_curves(path) -> Curves:
    """Read curves from ``results.h5`` (``/calibration/fit``) or a coefficient ECSV table."""
    path = Path(path)
    if not path.is_file():
        raise MocksimInputError(f"--curves: file not found: {path}")
    try:
        if path.suffix.lower() in (".h5", ".hdf5"):
            import h5py

            with h5py.File(path, "r") as f:
                if "calibration/fit" not in f:
                    raise MocksimInputError(f"--curves: {path} has no /calibration/fit (not a finished "
                                            "calibration grid)")
                g = f["calibration/fit"]
                data = {k: g[k][()] for k in ("abs_gradient", "params", "cov", "x_min", "x_max")}
                n = len(data["x_min"])
                data["unconstrained"] = g["unconstrained"][()] if "unconstrained" in g else np.zeros(n, bool)
                meta = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in f["calibration"].attrs.items()}
        else:
            from astropy.table import Table

            t = Table.read(path, format="ascii.ecsv")
            k = len(t)
            cov = np.zeros((k, 3, 3))
            for i in range(3):
                for j in range(i, 3):
                    cov[:, i, j] = cov[:, j, i] = t[f"cov_{PARAM_NAMES[i]}_{PARAM_NAMES[j]}"]
            data = {"abs_gradient": np.asarray(t["abs_gradient"], float),
                    "params": np.stack([np.asarray(t[n], float) for n in PARAM_NAMES], axis=1),
                    "cov": cov, "x_min": np.asarray(t["x_min"], float), "x_max": np.asarray(t["x_max"], float),
                    "unconstrained": (np.asarray(t["unconstrained"], bool) if "unconstrained" in t.colnames
                                 else np.zeros(k, bool))}
            meta = dict(t.meta)
    except MocksimInputError:
        raise
    except Exception as exc:  # unreadable / wrong format
        raise MocksimInputError(f"--curves: cannot read calibration curves from {path}: {exc}") from None
    if len(data["abs_gradient"]) == 0:
        raise MocksimInputError(f"--curves: {path} contains no fitted curve")
    order = np.argsort(data["abs_gradient"])
    return Curves(**{k: np.asarray(v)[order] for k, v in data.items()}, meta=meta)


def psf_fwhm_for(curves: Curves, z: float) -> float:
    """FWHM [arcsec] of the curves' instrument PSF at the observed wavelength of their line."""
    from ..instruments import get_instrument
    from ..lines import LINES

    name, psf = curves.meta.get("instrument"), curves.meta.get("psf", "jwst")
    if not name:
        raise MocksimInputError("--instrument-fwhm-arcsec: the curves file names no instrument; give the FWHM")
    inst = get_instrument(name, psf=psf)
    wave = LINES[curves.meta.get("line", "OIII5007")].observed_um(z)
    if not bool(np.all(inst.covers(wave))):
        raise MocksimInputError(f"--z: {curves.meta.get('line', 'OIII5007')} at z = {z:g} ({wave:.3f} um) is outside "
                                f"the {name} coverage {inst.wave_range_um}; give --instrument-fwhm-arcsec")
    return float(inst.psf_fwhm_arcsec(wave))


#: smallest correction factor inverted (below it the measured gradient carries no information)
MIN_FACTOR = 1e-3


def invert(curves: Curves, g_meas: float, g_err: float, x: float) -> dict:
    """Intrinsic gradient from a measured one at ``x = 2Re/FWHM`` (see module docstring).

    Returns
    -------
    dict
        ``gradient, gradient_err, gradient_err_measurement, gradient_err_curve, factor,
        factor_err, extrapolated, per_curve`` (gradients in dex/kpc).
    """
    m = abs(float(g_meas))
    s = 1.0 if g_meas >= 0 else -1.0
    per_curve = {f"{a:g}": s * m / float(curves.factor(x, a)[0]) for a in curves.abs_gradient}
    if m == 0:
        a = 0.0
    else:
        from scipy.optimize import brentq

        f_min = float(np.min(curves._each(x)[0]))   # f(x; |g|) >= f_min: |g| f >= m by 1.5 m / f_min
        if not f_min > 0:
            raise MocksimInputError(f"--re-kpc: at 2Re/FWHM = {x:.3f} a correction curve gives a factor "
                                    f"{f_min:.2e} <= 0; no correction possible")
        grid = np.linspace(0.0, 1.5 * m / f_min + 1e-12, 4001)
        h = grid * curves.factor(x, grid)[0] - m
        k = int(np.argmax(h >= 0))
        a = float(brentq(lambda q: q * curves.factor(x, q)[0] - m, grid[max(k - 1, 0)], grid[k]))
    f, fe = (float(v) for v in curves.factor(x, a))
    if f < MIN_FACTOR:
        raise MocksimInputError(f"--re-kpc: at 2Re/FWHM = {x:.3f} the correction factor is {f:.2e} (< {MIN_FACTOR:g}):"
                                " beam smearing erases the gradient; no correction possible")
    da = max(1e-6, 1e-4 * max(a, 1e-3))
    D = ((a + da) * curves.factor(x, a + da)[0] - max(a - da, 0) * curves.factor(x, max(a - da, 0))[0]) \
        / (a + da - max(a - da, 0))
    D = float(D) if D > 0 else f
    e_meas = abs(float(g_err)) / D
    e_curve = a * fe / D
    lo, hi = curves.abs_gradient[0], curves.abs_gradient[-1]
    return {"gradient": s * a, "gradient_err": float(np.hypot(e_meas, e_curve)),
            "gradient_err_measurement": e_meas, "gradient_err_curve": e_curve, "factor": f, "factor_err": fe,
            "extrapolated": bool(len(curves.abs_gradient) > 1 and not 0.98 * lo <= a <= 1.02 * hi),
            "per_curve": per_curve}


def correct_gradient(curves, gradient: float, gradient_err: float, re_kpc: float, z: float,
                     fwhm_arcsec: float | None = None) -> dict:
    """Validate inputs, compute ``x = 2Re/FWHM`` and :func:`invert` (CLI flags in errors).

    Parameters
    ----------
    curves : Curves or path
    gradient, gradient_err : float
        Measured gradient and 1-sigma error [dex/kpc].
    re_kpc : float
        Effective radius [kpc].
    z : float
        Redshift.
    fwhm_arcsec : float, optional
        PSF FWHM [arcsec]; default from the curves' instrument at the line's wavelength.
    """
    if not isinstance(curves, Curves):
        curves = load_curves(curves)
    for flag, v in (("--gradient", gradient), ("--gradient-err", gradient_err), ("--re-kpc", re_kpc), ("--z", z)):
        if v is None or not np.isfinite(v):
            raise MocksimInputError(f"{flag}: must be a finite number, got {v!r}")
    if gradient_err < 0:
        raise MocksimInputError(f"--gradient-err: must be >= 0, got {gradient_err!r}")
    if re_kpc <= 0:
        raise MocksimInputError(f"--re-kpc: must be > 0 kpc, got {re_kpc!r}")
    if not 0 < z <= 20:
        raise MocksimInputError(f"--z: must be in (0, 20], got {z!r}")
    if fwhm_arcsec is not None and not (np.isfinite(fwhm_arcsec) and fwhm_arcsec > 0):
        raise MocksimInputError(f"--instrument-fwhm-arcsec: must be > 0 arcsec, got {fwhm_arcsec!r}")
    from ..cosmology import kpc_per_arcsec

    scale = kpc_per_arcsec(float(z), curves.meta.get("cosmology", "Planck18"))
    fwhm = float(fwhm_arcsec) if fwhm_arcsec is not None else psf_fwhm_for(curves, float(z))
    x = 2.0 * re_kpc / scale / fwhm
    lo, hi = curves.x_range
    if not lo * (1 - 1e-6) <= x <= hi * (1 + 1e-6):
        raise MocksimInputError(f"--re-kpc: 2Re/FWHM = {x:.3f} (Re = {re_kpc:g} kpc = {re_kpc / scale:.3f}\", "
                                f"FWHM = {fwhm:.3f}\" at z = {z:g}) is outside the calibrated range "
                                f"[{lo:.3f}, {hi:.3f}]")
    out = invert(curves, gradient, gradient_err, x)
    out.update({"two_re_over_fwhm": x, "fwhm_arcsec": fwhm, "kpc_per_arcsec": scale,
                "measured_gradient": float(gradient), "measured_gradient_err": float(gradient_err)})
    return out


def add_correct_parser(subparsers) -> None:
    """Register ``mocksim correct`` on an ``argparse`` subparsers object."""
    c = subparsers.add_parser(
        "correct", help="correct a measured gradient for beam smearing with calibration curves",
        description="Invert the beam-smearing correction curves of a calibration grid for one galaxy: "
                    "solve measured = f(2Re/FWHM; |g|) * g for the intrinsic gradient g. The last line is "
                    "the corrected gradient and its uncertainty (JSON with --json).")
    c.add_argument("--curves", required=True, help="results.h5 of a calibration grid or calibration_curves.ecsv")
    c.add_argument("--gradient", type=float, required=True, help="measured gradient [dex/kpc]")
    c.add_argument("--gradient-err", type=float, required=True, help="1-sigma error of the measured gradient [dex/kpc]")
    c.add_argument("--re-kpc", type=float, required=True, help="effective radius [kpc]")
    c.add_argument("--z", type=float, required=True, help="redshift")
    c.add_argument("--instrument-fwhm-arcsec", type=float, default=None,
                   help="PSF FWHM [arcsec] (default: the curves' instrument PSF at the line's observed wavelength)")
    c.add_argument("--json", action="store_true", help="last line as one JSON object")
    c.set_defaults(func=cmd_correct)


def cmd_correct(args) -> int:
    """Run ``mocksim correct`` (errors are :class:`MocksimInputError`)."""
    curves = load_curves(args.curves)
    r = correct_gradient(curves, args.gradient, args.gradient_err, args.re_kpc, args.z,
                         fwhm_arcsec=args.instrument_fwhm_arcsec)
    m = curves.meta
    print(f"curves: {args.curves} ({m.get('scenario_name', '?')}, {m.get('instrument', '?')}, "
          f"{len(curves.abs_gradient)} curve(s) for |gradient| = "
          f"{', '.join(f'{a:g}' for a in curves.abs_gradient)} dex/kpc)")
    print(f"2Re/FWHM = {r['two_re_over_fwhm']:.3f} (FWHM {r['fwhm_arcsec']:.3f}\", "
          f"{r['kpc_per_arcsec']:.3f} kpc/\" at z = {args.z:g})")
    print(f"correction factor f = {r['factor']:.3f} +/- {r['factor_err']:.3f}")
    for a, g in r["per_curve"].items():
        print(f"  assuming |gradient| = {a} dex/kpc: corrected {g:+.4f}")
    if curves.unconstrained is not None and np.any(curves.unconstrained):
        bad = ", ".join(f"{a:g}" for a in curves.abs_gradient[np.asarray(curves.unconstrained, bool)])
        print(f"WARNING: the curve(s) for |gradient| = {bad} dex/kpc are unconstrained by their grid "
              "(fit at a bound or poorly determined); run the grid with more realisations")
    if r["extrapolated"]:
        print("note: the intrinsic |gradient| lies outside the tabulated curves; the nearest curve was used")
    print(f"error budget: measurement {r['gradient_err_measurement']:.4f}, curve {r['gradient_err_curve']:.4f} dex/kpc")
    if args.json:
        print(json.dumps({k: v for k, v in r.items()}, sort_keys=True))
    else:
        print(f"corrected gradient [dex/kpc]: {r['gradient']:+.5f} +/- {r['gradient_err']:.5f}")
    return 0
