"""Channel fractions of the emission lines of :class:`~.nirspec_ifu.NIRSpecIFU`.

For one line, every fine pixel emits a Gaussian of centre ``mu = lambda_0 g``
(``g = 1 + v/c``) and width ``sigma = sqrt((mu s/c)^2 + sigma_LSF(mu)^2)``; its
integral over each cube channel (the channel *fractions*, times the pixel's flux)
forms a ``(channels, pixels)`` array that :func:`low_rank` splits exactly (to
``rtol``) into a few spectral basis vectors times coefficient images. The
instrument PSF-convolves only the images. The coefficients come from

* :func:`exact_coefficients`: error-function differences for every pixel and channel;
* :func:`interp_coefficients` (components of constant dispersion): exact profiles on
  a grid of line centres, split, and the pixels' coefficients interpolated
  (4-point Lagrange) from the grid's.

What depends on a component only -- ``g``, the interpolation grid and weights and
the pixels that bound the channel window -- is computed once per render
(:func:`component_fields`) and shared by the component's lines.
"""
from __future__ import annotations

import numpy as np
from scipy import sparse as _sparse
from scipy.special import ndtr

from ..lines import C_KMS
from . import lsf as _lsf


class LinePart:
    """The pixels of one component that emit a line.

    Attributes
    ----------
    idx : ndarray or None
        Raveled fine-grid indices of the pixels (None: every pixel, in order).
    flux, g, s : ndarray
        Line flux, ``1 + v/c`` and sigma [km/s] of those pixels.
    s0 : float or None
        The common sigma [km/s] if constant, else None.
    shared : dict or None
        The component's :func:`component_fields` entry when ``idx`` is None (its
        interpolation plan and window pixels are shared by all lines).
    """

    __slots__ = ("idx", "flux", "g", "s", "s0", "shared", "_mu_sig")

    def __init__(self, idx, flux, g, s, s0, shared):
        self.idx, self.flux, self.g, self.s, self.s0, self.shared = idx, flux, g, s, s0, shared
        self._mu_sig = None

    def index(self) -> np.ndarray:
        """Raveled fine-grid indices (``arange`` when every pixel emits)."""
        return np.arange(self.flux.size) if self.idx is None else self.idx

    def mu_sig(self, inst, lam0: float):
        """Observed centre and sigma [micron] of every pixel's line (cached)."""
        if self._mu_sig is None:
            self._mu_sig = _mu_sig(inst, lam0 * self.g, self.s)
        return self._mu_sig


class LineJob:
    """One line to render: channel window ``k0:k1`` (edges ``e``), fine-pixel box
    ``box = (r0, r1, c0, c1)``, split tolerance ``rtol`` and method (``interp``).

    :func:`prepare_lines` may precompute the spectral split (``basis`` and the node
    coefficients ``cnT``) of interpolated full-field lines; :meth:`coefficients`
    returns the coefficient images.
    """

    __slots__ = ("name", "lam0", "parts", "k0", "k1", "e", "box", "nx", "rtol", "interp",
                 "basis", "cnT")

    def __init__(self, name, lam0, parts, k0, k1, e, box, nx, rtol, interp):
        self.name, self.lam0, self.parts, self.k0, self.k1, self.e = name, lam0, parts, k0, k1, e
        self.box, self.nx, self.rtol, self.interp = box, nx, rtol, interp
        self.basis = self.cnT = None

    def coefficients(self, inst, work: dict | None = None):
        """``(basis, coeff)``: spectral basis ``(channels, r)`` (None = identity) and the
        ``(r, pixels of the box)`` coefficient images; ``work`` holds a buffer reused
        for the images of prepared lines (valid until the next call)."""
        if self.cnT is None:
            r0, r1, c0, c1 = self.box
            fn = interp_coefficients if self.interp else exact_coefficients
            return fn(inst, self.parts, self.e, self.rtol, self.nx, r0, c0, r1 - r0, c1 - c0, self.lam0)
        p = self.parts[0]
        val = p.shared["plan"][2] @ self.cnT     # (pixels, rank)
        shape = val.shape[::-1]
        work = {} if work is None else work
        buf = work.get("coeff")
        if buf is None or buf.shape[1] != shape[1] or buf.shape[0] < shape[0]:
            buf = work["coeff"] = np.empty((max(shape[0], 16), shape[1]))
        coeff = buf[:shape[0]]
        np.multiply(val.T, p.flux, out=coeff)    # contiguous rows for the FFTs
        return self.basis, coeff


def _mu_sig(inst, mu, s):
    return mu, np.sqrt((mu * s / C_KMS) ** 2 + inst.lsf.sigma_um(mu) ** 2)


def component_fields(scene) -> list[dict]:
    """Per component, the line-independent quantities over all fine pixels (raveled).

    ``g`` = 1 + v/c, ``s`` = sigma [km/s], ``s0`` = the constant sigma (or None);
    ``plan`` (:func:`interp_plan`) and ``ext`` / ``win`` (:func:`window_pixels`) are
    filled by the first line that needs them.
    """
    out = []
    shape = scene.grid.shape
    for comp in scene.components:
        v = np.broadcast_to(np.asarray(comp.velocity_kms, float), shape).ravel()
        s = np.broadcast_to(np.asarray(comp.sigma_kms, float), shape).ravel()
        s0 = float(s[0])
        out.append({"g": 1.0 + v / C_KMS, "s": s, "s0": s0 if np.all(s == s0) else None,
                    "plan": None, "ext": None, "win": {}})
    return out


def line_parts(scene, name: str, fields):
    """The :class:`LinePart` of each component emitting ``name`` and the bounding box
    ``(rmin, rmax, cmin, cmax)`` of their pixels on the fine grid."""
    ny, nx = scene.grid.shape
    parts = []
    rmin, rmax, cmin, cmax = ny, -1, nx, -1
    for comp, fld in zip(scene.components, fields):
        f = comp.line_flux.get(name)
        if f is None:
            continue
        f = np.asarray(f, dtype=float).ravel()
        nnz = int(np.count_nonzero(f))
        if nnz == 0:
            continue
        if nnz == f.size:      # every pixel: no gathers, plan and window pixels shared by lines
            parts.append(LinePart(None, f, fld["g"], fld["s"], fld["s0"], fld))
            rmin, rmax, cmin, cmax = 0, ny - 1, 0, nx - 1
        else:
            idx = np.flatnonzero(f)
            s = fld["s"][idx]
            s0 = float(s[0])
            parts.append(LinePart(idx, f[idx], fld["g"][idx], s, s0 if np.all(s == s0) else None, None))
            rows, cols = np.divmod(idx, nx)
            rmin, rmax = min(rmin, int(rows.min())), max(rmax, int(rows.max()))
            cmin, cmax = min(cmin, int(cols.min())), max(cmax, int(cols.max()))
    return parts, (rmin, rmax, cmin, cmax)


def line_window(inst, parts, lam0: float) -> tuple[float, float]:
    """Wavelength range ``min(mu - n sigma)``, ``max(mu + n sigma)`` over the parts'
    pixels (``n = inst.nsigma_window``).

    ``mu -+ n sigma`` increases with ``g`` when ``n |d sigma / d mu| < 1``. For a
    component covering every pixel with constant sigma where ``n (s/c + max|d
    sigma_LSF / d lambda|) < 0.5``, the extremes are therefore taken over the pixels
    within 1e-9 (relative) of the smallest and largest ``g`` only
    (:func:`window_pixels`): any other pixel's value is larger (smaller) by far more
    than the round-off, so the result is the same as over all pixels.
    """
    n = inst.nsigma_window
    lo = hi = None
    for p in parts:
        ext = None if p.shared is None else window_pixels(inst, p.shared)
        if ext is not None and lam0 in p.shared["win"]:   # from prefetch_windows
            a, b = p.shared["win"][lam0]
        else:
            mu, sig = p.mu_sig(inst, lam0) if ext is None else _mu_sig(inst, lam0 * p.g[ext], p.s[ext])
            a, b = float(np.min(mu - n * sig)), float(np.max(mu + n * sig))
        lo, hi = (a, b) if lo is None else (min(lo, a), max(hi, b))
    return lo, hi


def window_pixels(inst, fld):
    """Indices of the pixels of component ``fld`` (:func:`component_fields`) that bound
    the channel windows of its lines (see :func:`line_window`; cached), or None if
    all pixels must be evaluated (varying sigma, steep LSF, non-finite velocities)."""
    if fld["ext"] is None:
        fld["ext"], fld["win"] = False, {}
        g = fld["g"]
        gmin, gmax = float(np.min(g)), float(np.max(g))
        if fld["s0"] is not None and np.isfinite(gmin) and np.isfinite(gmax) \
                and inst.nsigma_window * (fld["s0"] / C_KMS + lsf_slope_max(inst)) < 0.5:
            tol = 1e-9 * max(abs(gmin), abs(gmax))
            fld["ext"] = np.flatnonzero((g <= gmin + tol) | (g >= gmax - tol))
    return None if fld["ext"] is False else fld["ext"]


def prefetch_windows(inst, fields, lam0s) -> None:
    """The :func:`line_window` values of every component with :func:`window_pixels`
    for all line centres ``lam0s`` at once (the same values as line by line)."""
    lam0s = np.asarray(lam0s, dtype=float)
    n = inst.nsigma_window
    for fld in fields:
        ext = window_pixels(inst, fld)
        if ext is None:
            continue
        mu, sig = _mu_sig(inst, lam0s[:, None] * fld["g"][ext], fld["s"][ext])
        lo, hi = np.min(mu - n * sig, axis=1), np.max(mu + n * sig, axis=1)
        fld["win"].update({float(l0): (float(a), float(b)) for l0, a, b in zip(lam0s, lo, hi)})


def prepare_lines(inst, jobs) -> None:
    """Precompute the spectral split of the interpolated lines of each full-field
    component together (the usual case: one disk, all lines).

    The grid profiles of all those lines go through one ``ndtr`` call: element by
    element the same operations as :func:`interp_coefficients` line by line.
    """
    groups: dict = {}
    for job in jobs:
        p = job.parts[0]
        if job.interp and len(job.parts) == 1 and p.shared is not None:
            groups.setdefault((id(p.shared), job.rtol), []).append(job)
    for group in groups.values():
        if len(group) > 1:
            _batch_split(inst, group)


def _batch_split(inst, jobs) -> None:
    p0 = jobs[0].parts[0]
    gn = _shared_plan(inst, p0, jobs[0].rtol)[0]
    lam0 = np.array([job.lam0 for job in jobs])
    mn = lam0[:, None] * gn                                   # (lines, nodes)
    sn = np.sqrt((mn * p0.s0 / C_KMS) ** 2 + inst.lsf.sigma_um(mn) ** 2)
    sizes = [job.e.size for job in jobs]
    rows = np.repeat(np.arange(len(jobs)), sizes)
    cdf = np.concatenate([job.e for job in jobs])[:, None] - mn[rows]
    cdf *= (1.0 / sn)[rows]
    ndtr(cdf, out=cdf)
    frac = cdf[1:] - cdf[:-1]         # rows straddling two lines are not used
    start = 0
    for job, m in zip(jobs, sizes):
        job.basis, cn = low_rank(frac[start:start + m - 1], job.rtol)
        job.cnT = np.ascontiguousarray(cn.T)   # (nodes, rank): one contiguous row per node
        start += m


def _shared_plan(inst, p, rtol):
    """The interpolation plan ``(G, W)`` of a full-field part, built once per render."""
    h_rel = (0.24 * rtol) ** 0.25
    if p.shared["plan"] is None or p.shared["plan"][0] != h_rel:
        p.shared["plan"] = (h_rel,) + interp_plan(inst, p.g, p.s0, h_rel)
    return p.shared["plan"][1:]


def lsf_slope_max(inst) -> float:
    """Largest ``|d sigma_LSF / d lambda|`` of ``inst`` at any wavelength (cached).

    Sampled densely over the resolution table (plus its nodes); beyond the table the
    resolving power is held constant, so the slope there is ``sigma / lambda`` at
    the table's ends.
    """
    val = getattr(inst, "_lsf_slope", None)
    if val is None:
        tab = _lsf.load_resolution_table()[inst.disperser]["wave_um"]
        w = np.unique(np.concatenate([np.linspace(tab[0], tab[-1], 20001), tab]))
        sl = inst.lsf.sigma_um(w)
        val = float(max(np.max(np.abs(np.diff(sl) / np.diff(w))), sl[0] / w[0], sl[-1] / w[-1]))
        inst._lsf_slope = val
    return val


def exact_coefficients(inst, parts, e, rtol, nx, r0, c0, by, bx, lam0):
    """Channel fractions of every fine pixel (erf differences), split to ``rtol``."""
    sub = None
    for p in parts:
        mu, sig = p.mu_sig(inst, lam0)
        cdf = np.subtract.outer(e, mu)
        cdf *= 1.0 / sig
        ndtr(cdf, out=cdf)
        frac = cdf[1:]
        frac -= cdf[:-1]
        frac *= p.flux
        rr, cc = np.divmod(p.index(), nx)
        local = (rr - r0) * bx + (cc - c0)
        if len(parts) == 1 and local.size == by * bx:   # all pixels, in order
            sub = frac
        else:
            if sub is None:
                sub = np.zeros((e.size - 1, by * bx))
            sub[:, local] += frac  # indices are unique within one component
    return low_rank(sub, rtol)


def interp_coefficients(inst, parts, e, rtol, nx, r0, c0, by, bx, lam0):
    """As :func:`exact_coefficients`, for components of constant dispersion.

    The channel fractions of a pixel then depend on its line centre ``mu`` only.
    They are computed exactly on a grid of line centres ``mu_n = lam0 G_n`` (a grid
    ``G_n`` of ``1 + v/c``, see :func:`interp_plan`, with ``mu`` steps <= the observed
    sigma x ``(0.24 rtol)^(1/4)``: 4-point Lagrange interpolation errors <~ ``rtol``
    of the peak), split into a spectral basis (to ``rtol``) and the per-pixel
    coefficients interpolated from the grid's: the pixels' profiles are linear
    combinations of the grid's, so they lie in the same basis. The grid and the
    pixels' interpolation weights depend on the component only, so components
    covering every pixel share them between lines.
    """
    h_rel = (0.24 * rtol) ** 0.25
    nodes, plans = [], []
    for p in parts:
        plan = interp_plan(inst, p.g, p.s0, h_rel) if p.shared is None else _shared_plan(inst, p, rtol)
        gn = plan[0]
        mn = lam0 * gn
        sn = np.sqrt((mn * p.s0 / C_KMS) ** 2 + inst.lsf.sigma_um(mn) ** 2)
        cdf = np.subtract.outer(e, mn)
        cdf *= 1.0 / sn
        ndtr(cdf, out=cdf)
        nodes.append(cdf[1:] - cdf[:-1])
        plans.append(plan)
    basis, cn = low_rank(nodes[0] if len(nodes) == 1 else np.concatenate(nodes, axis=1), rtol)
    cnT = np.ascontiguousarray(cn.T)  # (nodes, rank): one contiguous row per node
    coeff = None
    off = 0
    for p, (gn, wmat) in zip(parts, plans):
        J = gn.size
        val = wmat @ cnT[off:off + J]   # (pixels, rank)
        if len(parts) == 1 and p.flux.size == by * bx:   # every pixel, in order
            coeff = np.empty((cn.shape[0], by * bx))
            np.multiply(val.T, p.flux, out=coeff)        # contiguous rows for the FFTs
        else:
            val *= p.flux[:, None]
            if coeff is None:
                coeff = np.zeros((cn.shape[0], by * bx))
            rr, cc = np.divmod(p.index(), nx)
            coeff[:, (rr - r0) * bx + (cc - c0)] += val.T   # indices are unique within one component
        off += J
    return basis, coeff


def interp_plan(inst, g, s_kms, h_rel):
    """Line-independent interpolation grid of a constant-dispersion component.

    ``g`` = 1 + v/c of the pixels, ``s_kms`` their intrinsic sigma [km/s]. Every
    line's observed sigma in units of its centre is >= ``rho = sqrt((s/c)^2 +
    min(sigma_LSF / lambda)^2)`` (the LSF term at the band's highest resolving
    power), so the grid ``G_n = g0 + n hg`` with ``hg = h_rel min(g) rho`` has
    ``mu`` steps ``lam0 hg`` <= ``h_rel`` x the observed sigma of every pixel, for
    every line. Returns ``(G, W)``: the ``J`` grid values and the sparse
    ``(pixels, J)`` matrix of the pixels' 4-point Lagrange weights on nodes
    ``j-1 .. j+2``.
    """
    if getattr(inst, "_lsf_rel_min", None) is None:
        waves = np.concatenate([_lsf.load_resolution_table()[inst.disperser]["wave_um"], inst.wave_um])
        inst._lsf_rel_min = float(np.min(inst.lsf.sigma_um(waves) / waves))
    rho = np.hypot(s_kms / C_KMS, inst._lsf_rel_min)
    gmin, gmax = float(np.min(g)), float(np.max(g))
    hg = h_rel * gmin * rho
    g0 = gmin - hg
    J = int(np.ceil((gmax - g0) / hg)) + 3
    x = (g - g0) / hg
    j = np.clip(np.floor(x).astype(np.int32), 1, J - 3)
    t = x - j
    tm, tp, t2 = t - 1.0, t + 1.0, t - 2.0
    w = np.empty((g.size, 4))
    w[:, 0] = -t * tm * t2 / 6.0
    w[:, 1] = tp * tm * t2 / 2.0
    w[:, 2] = -(tp * t * t2 / 2.0)
    w[:, 3] = tp * t * tm / 6.0
    cols = (j - 1)[:, None] + np.arange(4, dtype=np.int32)
    indptr = np.arange(0, 4 * g.size + 1, 4, dtype=np.int32)   # int32: no index conversion
    wmat = _sparse.csr_matrix((w.ravel(), cols.ravel(), indptr), shape=(g.size, J))
    return g0 + hg * np.arange(J), wmat


def low_rank(sub: np.ndarray, rtol: float):
    """Exact-to-``rtol`` low-rank split ``sub = basis @ coeff`` of a ``(nch, npix)`` array.

    PSF convolution and block-summing are linear, so they can be applied to the
    ``r <= nch`` rows of ``coeff`` instead of all channels. The basis is the set of
    left singular vectors with singular value > ``rtol`` x the largest (from the
    eigen-decomposition of the small Gram matrix). Returns ``(None, sub)`` when no
    saving is possible.
    """
    nch = sub.shape[0]
    if nch < 4 or rtol <= 0:
        return None, sub
    w, u = np.linalg.eigh(sub @ sub.T)
    w, u = w[::-1], u[:, ::-1]
    if not w[0] > 0:
        return None, sub
    r = int(np.count_nonzero(w > (rtol ** 2) * w[0]))
    if r >= nch - 1:
        return None, sub
    basis = u[:, :r]
    return basis, basis.T @ sub
