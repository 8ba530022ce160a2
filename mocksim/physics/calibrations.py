"""Strong-line metallicity calibrations: forward polynomials and safe inversion.

Every calibration is stored in the forward form ``log R = sum_i c_i x**i`` with
``x = 12 + log(O/H) - x0``. Coefficients, validity ranges and scatters are taken
from ``shared/reference/calibrations_and_relations.md`` section A (cited per row
below); the typos listed in section G1 of that sheet are *not* reproduced.

Ratio definitions (identical for every calibration; sheet "Conventions")
------------------------------------------------------------------------
R3    = [OIII]5007 / Hbeta                    (5007 alone, never the doublet)
R2    = ([OII]3727 + [OII]3729) / Hbeta
R23   = ([OII]3727,29 + [OIII]4959 + [OIII]5007) / Hbeta
O32   = [OIII]5007 / ([OII]3727 + [OII]3729)
Ne3O2 = [NeIII]3869 / ([OII]3727 + [OII]3729)
N2    = [NII]6584 / Halpha
O3N2  = R3 - N2 (log)
S2    = ([SII]6716 + [SII]6731) / Halpha
RS32  = log(10**R3 + 10**S2),  O3S2 = R3 - S2     (Curti+20 only)

Bian+18 publish [OIII]/Hbeta for the 4959+5007 *sum* (sheet A2, G2); we convert
it to 5007 alone by adding ``log10(2.98 / 3.98)`` (= -0.1257, using the adopted
[OIII]5007/4959 = 2.98 of :mod:`mocksim.lines`, so that forward model and
inversion are mutually consistent; the sheet's rounded -0.125 differs by
0.0007 dex).

Branches and inversion
----------------------
Polynomials are only trusted inside the published validity range. Inversion
searches for roots in the *search domain* ``valid_range +/- SEARCH_PAD_DEX``
(0.3 dex), which contains at most one stationary point (always a maximum, the
*turnover*) for every diagnostic implemented here (checked by the unit tests).
Diagnostics with a turnover have a "lower" branch (logoh < turnover) and an
"upper" branch; monotonic ones have a single branch ("single").

Explicit extrapolation
----------------------
``get_calibration(name, extrapolate_dex=d)`` (scenario keys
``recovery.extrapolate_dex`` / ``stack.extrapolate_dex``) returns a copy whose
search domain is ``valid_range +/- max(d, SEARCH_PAD_DEX)``: the polynomials are
then trusted (extrapolated) that far. The generator
(:func:`mocksim.physics.emission.line_ratios_to_hbeta` with
``range_policy="extrapolate"``, hence ``mocksim.galaxy.disk._line_maps``) and the
default prior of :func:`mocksim.recovery.metallicity.infer_metallicity`
(``valid_range +/- d``) both follow it. This mimics papers that simply invert a
polynomial branch without range limits (e.g. seed 000 with Sanders+24 R3 on the
lower branch at 12+log(O/H) < 7.4). Refused when the wider domain would contain
more than one stationary point of a diagnostic (ambiguous branches).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

import numpy as np

from ..errors import MocksimInputError
from ..lines import OIII_5007_4959

__all__ = [
    "CALIBRATION_NAMES",
    "EXTRA_CALIBRATION_NAMES",
    "DIAGNOSTICS",
    "DEFAULT_SIGMA_DEX",
    "SEARCH_PAD_DEX",
    "Calibration",
    "Inversion",
    "get_calibration",
]

#: Calibrations required by the project (``sanders25`` = sheet A1b).
CALIBRATION_NAMES = ("sanders24", "curti20", "bian18", "maiolino08", "nakajima22", "sanders25")
#: Also accepted by :func:`get_calibration`: the Nakajima+22 EW(Hbeta) R3 variants
#: (sheet A5; EW cuts >= 200 A / < 100 A are UNVERIFIED recollection).
EXTRA_CALIBRATION_NAMES = ("nakajima22_large_ew", "nakajima22_small_ew")

#: All diagnostic names understood anywhere in mocksim.
DIAGNOSTICS = ("R3", "R2", "R23", "O32", "Ne3O2", "N2", "O3N2", "S2", "RS32", "O3S2")

#: Intrinsic scatter [dex of log R] adopted when the paper's value was not
#: retrieved (sheet marks them UNVERIFIED: Sanders+24, Bian+18, Maiolino+08,
#: Nakajima+22). 0.10 dex is close to the median (0.11) of the published
#: Curti+20 RMS column (0.06-0.21 dex); ASPIRE's code uses 0.05 as a
#: placeholder for Sanders+24. Override with ``get_calibration(..., scatter_dex=)``.
DEFAULT_SIGMA_DEX = 0.10

#: Roots are searched up to this far outside the validity range [dex].
SEARCH_PAD_DEX = 0.3

#: Bian+18 doublet -> 5007-only conversion, log10(5007 / (4959 + 5007)).
LOG_5007_OVER_DOUBLET = float(np.log10(OIII_5007_4959 / (1.0 + OIII_5007_4959)))

# Status codes of Inversion.status
OK, NO_SOLUTION, OUT_OF_RANGE = 0, 1, 2


@dataclass
class Inversion:
    """Result of :meth:`Calibration.invert` (all arrays have the input's shape).

    Attributes
    ----------
    logoh : ndarray
        12+log(O/H). With ``branch="auto"``, two roots and no ``prior_branch``
        this is the LOWER-branch root (the upper one is in ``logoh_upper``);
        with a ``prior_branch`` it is the selected root. Where no root exists
        (status 1) it is the point of the search domain where the curve comes
        closest to the ratio: the turnover when the ratio exceeds the curve's
        maximum, otherwise the end of the search domain.
    status : ndarray of int
        0 ok; 1 no solution in the search domain (ratio above the maximum, or
        beyond the searchable end of a branch); 2 root found but outside the
        calibration validity range (value kept, not clipped).
    branch : ndarray of str
        "lower", "upper", "single" (monotonic diagnostic), "both" (auto mode,
        two roots, no prior) or "none" (status 1).
    n_solutions : ndarray of int
        Number of roots in the search domain (0, 1 or 2), whatever branch was
        selected.
    logoh_upper : ndarray
        Upper-branch root where ``n_solutions == 2`` and no ``prior_branch`` was
        given; elsewhere equal to ``logoh``.
    status_upper : ndarray of int
        Status (0/2) of ``logoh_upper``; equal to ``status`` where only one value.
    """

    logoh: np.ndarray
    status: np.ndarray
    branch: np.ndarray
    n_solutions: np.ndarray
    logoh_upper: np.ndarray
    status_upper: np.ndarray


def _horner(coeffs, x):
    """Evaluate sum_i c_i x**i (vectorised, float64)."""
    out = np.full(np.shape(x), coeffs[-1], dtype=float)
    for c in coeffs[-2::-1]:
        out *= x
        out += c
    return out


@dataclass
class _Segment:
    lo: float  # 12+log(O/H) bounds of a monotonic piece of the curve
    hi: float
    label: str
    increasing: bool
    grid_y: np.ndarray = field(repr=False)  # sorted logoh nodes
    grid_r: np.ndarray = field(repr=False)  # log R at the nodes


class Calibration:
    """One strong-line calibration.

    Parameters
    ----------
    name, reference : str
        Identifier and bibliographic reference.
    x0 : float
        Offset: x = 12+log(O/H) - x0 (8.0 Sanders; 8.69 Curti/Maiolino/Nakajima;
        0 Bian, whose fits use the raw abundance).
    valid_range : tuple of float
        Published validity range in 12+log(O/H).
    coeffs : mapping
        diagnostic -> polynomial coefficients (c0, c1, ...), log R in dex.
    sigmas : mapping
        diagnostic -> intrinsic scatter of log R [dex].
    sigma_published : mapping
        diagnostic -> True if the scatter is the published value.
    extrapolate_dex : float, optional
        Explicit extrapolation beyond ``valid_range`` [dex] (module docstring);
        None (default) = no explicit extrapolation (search pad SEARCH_PAD_DEX).
    """

    def __init__(self, name, reference, x0, valid_range, coeffs, sigmas, sigma_published,
                 extrapolate_dex=None):
        self.name = name
        self.reference = reference
        self.x0 = float(x0)
        self.valid_range = (float(valid_range[0]), float(valid_range[1]))
        self.coeffs = {k: tuple(float(c) for c in v) for k, v in coeffs.items()}
        self.diagnostics = tuple(k for k in DIAGNOSTICS if k in self.coeffs)
        self.sigmas = dict(sigmas)
        self.sigma_published = dict(sigma_published)
        self.extrapolate_dex = None if extrapolate_dex is None else float(extrapolate_dex)
        pad = SEARCH_PAD_DEX if extrapolate_dex is None else max(SEARCH_PAD_DEX, self.extrapolate_dex)
        self.search_pad_dex = pad
        self.search_domain = (self.valid_range[0] - pad, self.valid_range[1] + pad)
        self._segments: dict[str, list[_Segment]] = {}
        self._stationary: dict[str, tuple] = {}

    def __repr__(self):
        ext = "" if self.extrapolate_dex is None else f", extrapolate_dex={self.extrapolate_dex:g}"
        return f"Calibration({self.name!r}, valid={self.valid_range}, diagnostics={self.diagnostics}{ext})"

    # ------------------------------------------------------------------ forward
    def _check_diag(self, diag):
        if diag not in self.coeffs:
            raise MocksimInputError(
                f"diagnostic: {diag!r} is not provided by calibration {self.name!r}; "
                f"allowed: {', '.join(self.diagnostics)}"
            )

    def log_ratio(self, diag: str, logoh, *, extrapolate: bool = False) -> np.ndarray:
        """Forward relation log10(ratio) at 12+log(O/H) = ``logoh``.

        Parameters
        ----------
        diag : str
            Diagnostic name (see module docstring for definitions).
        logoh : float or array_like
            12+log(O/H) [dex]; any shape.
        extrapolate : bool
            If False (default) every value must lie in ``valid_range``; if True
            the polynomial is evaluated wherever asked (caller's responsibility).

        Returns
        -------
        ndarray
            log10 of the line ratio [dex], same shape as ``logoh``.
        """
        self._check_diag(diag)
        y = np.asarray(logoh, dtype=float)
        if not np.all(np.isfinite(y)):
            raise MocksimInputError("logoh: must be finite")
        if not extrapolate:
            lo, hi = self.valid_range
            if y.size and (y.min() < lo or y.max() > hi):
                raise MocksimInputError(
                    f"logoh: values [{y.min():.3f}, {y.max():.3f}] outside the {self.name} validity "
                    f"range [{lo:g}, {hi:g}] (pass extrapolate=True to evaluate anyway)"
                )
        return _horner(self.coeffs[diag], y - self.x0)

    def dlog_ratio(self, diag: str, logoh) -> np.ndarray:
        """Slope d log R / d(12+log(O/H)) [dex/dex] (no range check)."""
        self._check_diag(diag)
        c = self.coeffs[diag]
        d = [i * c[i] for i in range(1, len(c))] or [0.0]
        return _horner(d, np.asarray(logoh, dtype=float) - self.x0)

    def sigma_dex(self, diag: str) -> float:
        """Intrinsic scatter of log R [dex].

        Published value where the sheet has one (Curti+20 RMS column; Sanders+25
        sigma_fit and sigma_int added in quadrature, as jwspecfit does); otherwise
        :data:`DEFAULT_SIGMA_DEX` (see ``sigma_published``).
        """
        self._check_diag(diag)
        return float(self.sigmas[diag])

    # ------------------------------------------------------------------ branches
    def _stationary_points(self, diag):
        """``((12+log(O/H), "max" | "min"), ...)`` of the curve inside the search domain
        (computed once per diagnostic)."""
        hit = self._stationary.get(diag)
        if hit is None:
            hit = self._stationary[diag] = tuple(self._find_stationary_points(diag))
        return hit

    def _find_stationary_points(self, diag):
        c = np.array(self.coeffs[diag])
        if len(c) <= 2:
            return []
        d = np.polynomial.polynomial.polyder(c)
        roots = np.polynomial.polynomial.polyroots(d)
        lo, hi = self.search_domain
        pts = []
        for r in np.atleast_1d(roots):
            if abs(r.imag) < 1e-9:
                y = float(r.real) + self.x0
                if lo < y < hi:
                    curv = np.polynomial.polynomial.polyval(r.real, np.polynomial.polynomial.polyder(c, 2))
                    pts.append((y, "max" if curv < 0 else "min"))
        return sorted(pts)

    def turnover(self, diag: str) -> float | None:
        """12+log(O/H) of the curve's maximum in the search domain, or None."""
        self._check_diag(diag)
        maxima = [y for y, kind in self._stationary_points(diag) if kind == "max"]
        return maxima[0] if maxima else None

    def segments(self, diag: str) -> list[_Segment]:
        """Monotonic pieces of the curve inside the search domain."""
        self._check_diag(diag)
        if diag in self._segments:
            return self._segments[diag]
        pts = self._stationary_points(diag)
        if any(kind == "min" for _, kind in pts) or len(pts) > 1:
            # Never happens for the tabulated calibrations (tested); refuse rather
            # than mislabel branches.
            raise RuntimeError(f"{self.name} {diag}: unsupported curve shape {pts}")
        lo, hi = self.search_domain
        edges = [lo] + [y for y, _ in pts] + [hi]
        labels = ["single"] if not pts else ["lower", "upper"]
        segs = []
        for (a, b), lab in zip(zip(edges[:-1], edges[1:]), labels):
            gy = np.linspace(a, b, 2001)
            gr = self.log_ratio(diag, gy, extrapolate=True)
            segs.append(_Segment(a, b, lab, bool(gr[-1] > gr[0]), gy, gr))
        self._segments[diag] = segs
        return segs

    # ------------------------------------------------------------------ inverse
    def _solve_segment(self, diag, seg, r):
        """Root of log R(y) = r on a monotonic segment (NaN where none)."""
        gr, gy = (seg.grid_r, seg.grid_y) if seg.increasing else (seg.grid_r[::-1], seg.grid_y[::-1])
        inside = (r >= gr[0]) & (r <= gr[-1])
        idx = np.clip(np.searchsorted(gr, r), 1, len(gr) - 1)
        a, b = gy[idx - 1], gy[idx]  # bracket (a, b) such that R(a) <= r <= R(b)
        c = self.coeffs[diag]
        for _ in range(40):  # bisection to ~1e-15 dex from a 7e-4 dex bracket
            m = 0.5 * (a + b)
            up = _horner(c, m - self.x0) < r
            a = np.where(up, m, a)
            b = np.where(up, b, m)
        return np.where(inside, 0.5 * (a + b), np.nan)

    def invert(self, diag: str, log_ratio, branch: str = "auto", *, prior_branch=None) -> Inversion:
        """Solve log R(12+log(O/H)) = ``log_ratio``.

        Parameters
        ----------
        diag : str
            Diagnostic name.
        log_ratio : float or array_like
            Observed log10 ratio [dex], any shape; must be finite.
        branch : {"auto", "lower", "upper"}
            "auto": consider every root. "lower"/"upper": only that branch
            (ignored for monotonic diagnostics).
        prior_branch : None, "lower", "upper", float or array_like
            Only used with ``branch="auto"`` where two roots exist: None returns
            both (lower in ``logoh``, upper in ``logoh_upper``, branch "both");
            "lower"/"upper" selects one; a number (e.g. an MZR prediction of
            12+log(O/H)) selects the root nearest to it.

        Returns
        -------
        Inversion
        """
        if branch not in ("auto", "lower", "upper"):
            raise MocksimInputError(f"branch: {branch!r} not in ('auto', 'lower', 'upper')")
        r = np.asarray(log_ratio, dtype=float)
        if not np.all(np.isfinite(r)):
            raise MocksimInputError("log_ratio: must be finite")
        segs = self.segments(diag)
        shape = r.shape
        roots = {s.label: self._solve_segment(diag, s, r) for s in segs}
        n_sol = sum((~np.isnan(v)).astype(int) for v in roots.values())
        lab = np.empty(shape, dtype=object)
        if len(segs) == 1:  # monotonic diagnostic
            s = segs[0]
            y = roots["single"]
            lab[...] = "single"
            # closest approach of the curve where there is no root
            closest = np.where(r > s.grid_r.max(), s.grid_y[np.argmax(s.grid_r)], s.grid_y[np.argmin(s.grid_r)])
            y_up = y
        else:
            lo_s, up_s = segs
            t = lo_s.hi  # turnover
            yl, yu = roots["lower"], roots["upper"]
            above = r > lo_s.grid_r[-1]
            if branch == "lower":
                y, lab[...] = yl, "lower"
                closest = np.where(above, t, lo_s.lo)
            elif branch == "upper":
                y, lab[...] = yu, "upper"
                closest = np.where(above, t, up_s.hi)
            else:
                glob_min = lo_s.lo if lo_s.grid_r[0] < up_s.grid_r[-1] else up_s.hi
                closest = np.where(above, t, glob_min)
                both = ~np.isnan(yl) & ~np.isnan(yu)
                y = np.where(np.isnan(yl), yu, yl)
                lab[...] = np.where(np.isnan(yl), "upper", "lower")
                lab[both] = "both"
                y_up = np.where(both, yu, y)
                if prior_branch is not None:
                    if isinstance(prior_branch, str):
                        if prior_branch not in ("lower", "upper"):
                            raise MocksimInputError(
                                f"prior_branch: {prior_branch!r} not in ('lower', 'upper') "
                                "or a 12+log(O/H) value"
                            )
                        pick_up = np.full(shape, prior_branch == "upper")
                    else:
                        p = np.broadcast_to(np.asarray(prior_branch, dtype=float), shape)
                        pick_up = np.abs(yu - p) < np.abs(yl - p)
                    y = np.where(both & pick_up, yu, y)
                    lab[both] = np.where(pick_up[both], "upper", "lower")
                    y_up = np.where(both, y, y_up)
            if branch != "auto":
                y_up = y
        none = np.isnan(y)
        y = np.where(none, closest, y)
        y_up = np.where(np.isnan(y_up), y, y_up)
        lo_v, hi_v = self.valid_range

        def status_of(v):
            return np.where((v < lo_v - 1e-12) | (v > hi_v + 1e-12), OUT_OF_RANGE, OK)

        status = np.where(none, NO_SOLUTION, status_of(y))
        status_up = np.where(none, NO_SOLUTION, status_of(y_up))
        lab[none] = "none"
        return Inversion(
            logoh=np.asarray(y, dtype=float).reshape(shape),
            status=np.asarray(status, dtype=int).reshape(shape),
            branch=lab.astype(str).reshape(shape),
            n_solutions=np.asarray(n_sol, dtype=int).reshape(shape),
            logoh_upper=np.asarray(y_up, dtype=float).reshape(shape),
            status_upper=np.asarray(status_up, dtype=int).reshape(shape),
        )


# ---------------------------------------------------------------------- table
def _table():
    """Build the registry of calibrations (sheet section A)."""
    D = DEFAULT_SIGMA_DEX
    cals = {}

    def add(name, ref, x0, vr, coeffs, sig=None):
        sig = sig or {}
        cals[name] = (ref, x0, vr, coeffs, {k: sig.get(k, D) for k in coeffs}, {k: k in sig for k in coeffs})

    # A1 Sanders+24 (ApJ 962, 24), x = y - 8.0, valid 7.4-8.3. R23 c0 = 1.017
    # (zcal's 1.1017 is a typo, sheet G1). Scatters UNVERIFIED -> default.
    add("sanders24", "Sanders et al. 2024, ApJ 962, 24", 8.0, (7.4, 8.3), {
        "R3": (0.834, -0.072, -0.453),
        "R2": (0.067, 1.069),
        "R23": (1.017, 0.026, -0.331),
        "O32": (0.723, -1.153),
        "Ne3O2": (-0.386, -0.998),
    })
    # A1b Sanders+25 (AURORA, arXiv:2508.10099 Table 3, via jwspecfit 1.1.9).
    # Valid 7.3-8.6 (seed001 Table 2 for R3, O2, O32; adopted for R23).
    # Scatter = sqrt(sigma_fit^2 + sigma_int^2) [dex], as jwspecfit does.
    q = lambda a, b: float(np.hypot(a, b))  # noqa: E731
    add("sanders25", "Sanders et al. 2025, arXiv:2508.10099 (AURORA)", 8.0, (7.3, 8.6), {
        "R3": (0.852, -0.162, -1.149, -0.553),
        "R2": (0.172, 0.954, -0.832),
        "R23": (0.998, 0.053, -0.141, -0.493, -0.774),
        "O32": (0.697, -1.245, -0.869),
    }, {"R3": q(0.04, 0.13), "R2": q(0.03, 0.25), "R23": q(0.03, 0.07), "O32": q(0.09, 0.29)})
    # A3 Curti+20 (MNRAS 491, 944, Table 2), x = y - 8.69, valid 7.6-8.9. The
    # 6-term R2 (not the Curti+17 fit, sheet G1). Scatter = RMS of log R.
    add("curti20", "Curti et al. 2020, MNRAS 491, 944 (Table 2)", 8.69, (7.6, 8.9), {
        "R2": (0.435, -1.362, -5.655, -4.851, -0.478, 0.736),
        "R3": (-0.277, -3.549, -3.593, -0.981),
        "O32": (-0.691, -2.944, -1.308),
        "R23": (0.527, -1.569, -1.652, -0.421),
        "N2": (-0.489, 1.513, -2.554, -5.293, -2.867),
        "O3N2": (0.281, -4.765, -2.268),
        "S2": (-0.442, -0.360, -6.271, -8.339, -3.559),
        "RS32": (-0.054, -2.546, -1.970, 0.082, 0.222),
        "O3S2": (0.191, -4.292, -2.538, 0.053, 0.332),
    }, {"R2": 0.11, "R3": 0.09, "O32": 0.15, "R23": 0.06, "N2": 0.16, "O3N2": 0.21,
        "S2": 0.11, "RS32": 0.07, "O3S2": 0.17})
    # A2 Bian+18 (ApJ 859, 175), raw y, valid 7.8-8.4. R3 published for the
    # 4959+5007 sum -> converted to 5007 alone. R23 linear term is -54.8284 (zcal's
    # + sign is a typo, sheet G1). Linear relations y = a + b log R rewritten as
    # log R = (y - a)/b. No R2 calibration exists. Scatters UNVERIFIED -> default.
    add("bian18", "Bian, Kewley & Dopita 2018, ApJ 859, 175", 0.0, (7.8, 8.4), {
        "R3": (43.9836 + LOG_5007_OVER_DOUBLET, -21.6211, 3.4277, -0.1747),
        "R23": (138.0430, -54.8284, 7.2954, -0.32293),
        "O32": (8.54 / 0.59, -1.0 / 0.59),
        "Ne3O2": (7.80 / 0.63, -1.0 / 0.63),
        "N2": (-8.82 / 0.49, 1.0 / 0.49),
        "O3N2": (8.97 / 0.39, -1.0 / 0.39),
    })
    # A4 Maiolino+08 (A&A 488, 463, Table 4), x = y - 8.69, valid 7.0-9.2. O32
    # c0 = -0.2839 (astropalmerio's -0.2893 is a typo). Scatter tabulated vs Z
    # in the paper (UNVERIFIED) -> default.
    add("maiolino08", "Maiolino et al. 2008, A&A 488, 463 (Table 4)", 8.69, (7.0, 9.2), {
        "R23": (0.7462, -0.7149, -0.9401, -0.6154, -0.2524),
        "N2": (-0.7732, 1.2357, -0.2811, -0.7201, -0.3330),
        "R3": (0.1549, -1.5031, -0.9790, -0.0297),
        "O32": (-0.2839, -1.3881, -0.3172),
        "R2": (0.5603, 0.0450, -1.8017, -1.8434, -0.6549),
        "O3N2": (0.4520, -2.6096, -0.7170, 0.1347),
        "Ne3O2": (-1.2608, -1.0861, -0.1470),
    })
    # A5 Nakajima+22 (ApJS 262, 3), x = y - 8.69, valid 6.9-8.9; R3 only (other
    # ratios UNVERIFIED). "all" sample plus the EW(Hbeta) variants. Scatter -> default.
    ref = "Nakajima et al. 2022, ApJS 262, 3 (EMPRESS V)"
    add("nakajima22", ref + ", all", 8.69, (6.9, 8.9), {"R3": (-0.277, -3.182, -2.832, -0.637)})
    add("nakajima22_large_ew", ref + ", large EW(Hb)", 8.69, (6.9, 8.9), {"R3": (0.628, -0.660, -0.522)})
    add("nakajima22_small_ew", ref + ", small EW(Hb)", 8.69, (6.9, 8.9), {"R3": (0.780, -0.072, -0.316)})
    return cals


_TABLE = _table()
_CACHE: dict[str, Calibration] = {}
#: Derived calibrations of the registry ones, by (name, scatter, extrapolation) with
#: the arguments' types (so an invalid ``True`` never matches a valid ``1``).
_DERIVED: dict[tuple, Calibration] = {}


def _derived_key(name, scatter_dex, extrapolate_dex):
    """Memo key of ``get_calibration(name, ...)``, or None (not memoised)."""
    if not isinstance(name, str):
        return None
    if isinstance(scatter_dex, Mapping):
        scat = tuple(sorted((str(k), type(v).__name__, v) for k, v in scatter_dex.items()))
    else:
        scat = (type(scatter_dex).__name__, scatter_dex)
    key = (name.lower(), scat, type(extrapolate_dex).__name__, extrapolate_dex)
    try:
        hash(key)
    except TypeError:
        return None
    return key


def get_calibration(name, *, scatter_dex: float | Mapping[str, float] | None = None,
                    extrapolate_dex: float | None = None) -> Calibration:
    """Return the calibration called ``name`` (a :class:`Calibration` passes through).

    Parameters
    ----------
    name : str or Calibration
        One of :data:`CALIBRATION_NAMES` or :data:`EXTRA_CALIBRATION_NAMES`.
    scatter_dex : float or mapping, optional
        Override the intrinsic scatter [dex]: one value for every diagnostic or a
        ``{diag: sigma}`` mapping.
    extrapolate_dex : float, optional
        Explicitly extrapolate the polynomials this far [dex, 0 < d <= 2] beyond
        the validity range (module docstring "Explicit extrapolation"); the search
        domain becomes ``valid_range +/- max(d, SEARCH_PAD_DEX)`` and the default
        inference prior ``valid_range +/- d``.

    Returns
    -------
    Calibration
        For a name, one object per distinct set of arguments (built once: its curve
        segments, stationary points and the inference's grids are computed once per
        process, not once per galaxy); treat it as read-only.

    Raises
    ------
    MocksimInputError
        Unknown name (message names ``recovery.calibration`` and the allowed names);
        ``extrapolate_dex`` out of range or making a diagnostic's branches ambiguous.
    """
    dkey = None if scatter_dex is None and extrapolate_dex is None else \
        _derived_key(name, scatter_dex, extrapolate_dex)
    cal = _DERIVED.get(dkey) if dkey is not None else None
    if cal is None:
        cal = _make_calibration(name, scatter_dex, extrapolate_dex)
        if dkey is not None:
            _DERIVED[dkey] = cal
    return cal


def _make_calibration(name, scatter_dex, extrapolate_dex) -> Calibration:
    """:func:`get_calibration` without the memo of derived calibrations."""
    if isinstance(name, Calibration):
        cal = name
    else:
        key = str(name).lower()
        if key not in _TABLE:
            raise MocksimInputError(
                f"recovery.calibration: unknown calibration {name!r}; allowed: "
                f"{', '.join(CALIBRATION_NAMES + EXTRA_CALIBRATION_NAMES)}"
            )
        if key not in _CACHE:
            _CACHE[key] = Calibration(key, *_TABLE[key])
        cal = _CACHE[key]
    if extrapolate_dex is not None:
        ext = extrapolate_dex
        if isinstance(ext, bool) or not isinstance(ext, (int, float, np.floating)) or not (0 < ext <= 2):
            raise MocksimInputError(f"extrapolate_dex: must be a number in (0, 2] dex, got {ext!r}")
        if cal.extrapolate_dex != float(ext):
            cal = Calibration(cal.name, cal.reference, cal.x0, cal.valid_range, cal.coeffs, cal.sigmas,
                              cal.sigma_published, extrapolate_dex=float(ext))
            for diag in cal.diagnostics:
                try:
                    cal.segments(diag)
                except RuntimeError as exc:
                    raise MocksimInputError(
                        f"extrapolate_dex: {ext!r} is too large for {cal.name} {diag} ({exc})") from None
    if scatter_dex is None:
        return cal
    sig = dict(cal.sigmas)
    pub = dict(cal.sigma_published)
    if isinstance(scatter_dex, Mapping):
        for k, v in scatter_dex.items():
            cal._check_diag(k)
            sig[k], pub[k] = float(v), False
    else:
        sig = {k: float(scatter_dex) for k in sig}
        pub = {k: False for k in sig}
    for k, v in sig.items():
        if not (np.isfinite(v) and v >= 0):
            raise MocksimInputError(f"scatter_dex: {k} = {v!r} must be finite and >= 0")
    return Calibration(cal.name, cal.reference, cal.x0, cal.valid_range, cal.coeffs, sig, pub,
                       extrapolate_dex=cal.extrapolate_dex)
