"""Vectorised emission-line fitting of spectral cubes and (binned) spectra.

Model, per line group of :data:`mocksim.lines.LINE_GROUPS` (one fit per group):

* one Gaussian per line, all lines of the group sharing a line-of-sight velocity
  ``v`` [km/s] (relative to the systemic redshift, ``lambda = lambda_rest (1 + z)
  (1 + v / c)``) and an intrinsic dispersion ``sigma`` [km/s]. The observed
  Gaussian width of line ``l`` is ``sqrt((lambda_l sigma / c)^2 + LSF_l^2)`` with
  ``LSF_l`` the instrumental sigma interpolated at the line's observed wavelength;
* fixed doublet ratios: [OIII]4959 = 5007 / 2.98, [NII]6548 = 6584 / 3.071,
  [OII]3729 = 1.2 x 3727, [SII]6716 = 1.1 x 6731 (module constants of
  :mod:`mocksim.lines`), applied when both members are in coverage;
* a linear (or constant, or no) continuum over the group's wavelength window.

Channels hold the mean flux density over the channel [erg s^-1 cm^-2 um^-1];
with the default ``profile="integrated"`` each Gaussian is integrated
analytically (error functions) over the channel, whose edges are the mid-points
between channel centres (non-uniform grids allowed), so the fitted amplitude is
the line flux ``F = integral f_lambda d lambda`` [erg s^-1 cm^-2]. With
``profile="sampled"`` the Gaussian density is evaluated at channel centres.

Algorithm (all spectra and all groups at once, numpy only): for fixed ``(v,
sigma)`` the model is linear in the line fluxes and continuum coefficients, so a
coarse grid in ``(v, sigma)`` is searched by solving the weighted normal
equations of every spectrum at every grid node (for a common weight vector, e.g.
a uniform error cube, as one matrix product with cached, whitened node bases);
the best node is refined by a parabola through its neighbours and then by
variable-projection Levenberg-Marquardt in ``(v, sigma^2)`` (the linear
parameters are re-solved exactly at every trial point; width as ``sigma^2``,
smooth down to unresolved lines; bounds handled by an active set). All groups'
spectra are stacked into one padded batch so every iteration is one sequence
of array operations, line templates are evaluated only within +-_NSIG widths of
each line, and the normal equations are accumulated from those windows. A
spectrum is converged when the Gauss-Newton model predicts a chi^2 gain below
``_TOL_CHI2`` (parameters within ~0.03 standard errors of the optimum); at most
``_MAX_ITER`` iterations. Spectra are processed in chunks of ``_CHUNK``. Fluxes
are not constrained to be positive. Flux errors come from the Gauss-Newton
covariance at the optimum, marginalised over ``v`` and ``sigma`` (a nonlinear
parameter that sits on its bound is treated as fixed); ``v`` and ``sigma``
errors come from the same matrix.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from scipy.special import ndtr

from mocksim.errors import MocksimInputError
from mocksim.lines import (C_KMS, LINE_GROUPS, NII_6584_6548, OII_3729_3727, OIII_5007_4959,
                     SII_6716_6731, get_line)

__all__ = ["LineMaps", "fit_cube", "fit_spectra", "lines_in_coverage", "TIED_LINES"]

#: child line -> (parent line, flux ratio child/parent), applied when both are fitted.
TIED_LINES = {
    "OIII4959": ("OIII5007", 1.0 / OIII_5007_4959),
    "NII6548": ("NII6584", 1.0 / NII_6584_6548),
    "OII3729": ("OII3727", OII_3729_3727),
    "SII6716": ("SII6731", SII_6716_6731),
}

_SQRT2PI = np.sqrt(2.0 * np.pi)
_CHUNK = 2048  #: spectra fitted together (bounds memory to ~K * 60 doubles per spectrum and group)
_NSIG = 7.0  #: profiles are evaluated within +-_NSIG Gaussian widths of each line (tail < 3e-12)
_TOL_CHI2 = 1e-3  #: converged when the LM model predicts a chi^2 gain < _TOL_CHI2 (~0.03 sigma)
_MAX_ITER = 20  #: Levenberg-Marquardt iterations at most


@dataclass
class LineMaps:
    """Result of a line fit; arrays are ``(ny, nx)`` maps or ``(nspec,)`` vectors.

    Attributes
    ----------
    flux, flux_err : dict of str -> ndarray
        Line flux and 1-sigma error [erg s^-1 cm^-2] of every fitted line,
        including tied doublet members (whose errors are the tied fraction of the
        parent's). NaN where the line has no valid data.
    velocity_kms, sigma_kms : dict of str -> ndarray
        Per line group (key = group name in ``LINE_GROUPS``): velocity relative to
        the systemic redshift [km/s] and intrinsic (LSF-deconvolved) dispersion
        [km/s].
    chi2_nu : ndarray
        Reduced chi^2 summed over all fitted groups.
    lines : list of str
        Lines that were fitted (in coverage).
    groups : list of str
        Groups that were fitted.
    velocity_err_kms, sigma_err_kms : dict of str -> ndarray
        1-sigma errors of ``velocity_kms`` and ``sigma_kms`` [km/s]. The width is
        fitted as ``sigma^2``; ``sigma_err = min(err(sigma^2) / (2 sigma),
        sqrt(err(sigma^2)))``, i.e. a resolution scale for unresolved lines.
    chi2_nu_group : dict of str -> ndarray
        Reduced chi^2 of each group's window.
    """

    flux: dict
    flux_err: dict
    velocity_kms: dict
    sigma_kms: dict
    chi2_nu: np.ndarray
    lines: list
    groups: list
    velocity_err_kms: dict = field(default_factory=dict)
    sigma_err_kms: dict = field(default_factory=dict)
    chi2_nu_group: dict = field(default_factory=dict)


def _channel_edges(wave_um: np.ndarray) -> np.ndarray:
    """Channel edges [micron]: mid-points between centres, end channels mirrored."""
    mid = 0.5 * (wave_um[1:] + wave_um[:-1])
    return np.concatenate([[2 * wave_um[0] - mid[0]], mid, [2 * wave_um[-1] - mid[-1]]])


def _check_wave(wave_um) -> np.ndarray:
    wave = np.asarray(wave_um, dtype=float)
    if wave.ndim != 1 or wave.size < 2 or not np.all(np.isfinite(wave)):
        raise MocksimInputError("wave_um: must be a finite 1D array with at least 2 channels")
    if np.any(np.diff(wave) <= 0):
        raise MocksimInputError("wave_um: channel wavelengths must be strictly increasing")
    return wave


def lines_in_coverage(wave_um, redshift: float, lines=None, *, margin_kms: float = 0.0) -> list:
    """Lines whose observed (systemic) centre falls inside the channel range.

    Parameters
    ----------
    wave_um : array_like
        ``(nwave,)`` increasing channel-centre wavelengths [micron].
    redshift : float
        Systemic redshift.
    lines : sequence of str, optional
        Candidate line names (default: all lines of ``LINE_GROUPS``).
    margin_kms : float
        Required distance of the line centre from the outer channel edges [km/s].

    Returns
    -------
    list of str
        The covered subset of ``lines``, in input order.
    """
    wave = _check_wave(wave_um)
    edges = _channel_edges(wave)
    if lines is None:
        lines = [ln for grp in LINE_GROUPS.values() for ln in grp]
    out = []
    f = margin_kms / C_KMS
    for name in lines:
        lam = get_line(name).observed_um(redshift)
        if edges[0] * (1 + f) <= lam <= edges[-1] * (1 - f):
            out.append(name)
    return out


class _GroupModel:
    """Fixed (v, sigma)-independent description of one group's fit."""

    def __init__(self, line_names, wave, edges, lsf_um, redshift, window_kms, continuum, profile):
        self.profile = profile
        lam = np.array([get_line(n).observed_um(redshift) for n in line_names])
        lsf = np.interp(lam, wave, lsf_um)
        lsf_kms = lsf / lam * C_KMS
        half = max(0.5 * window_kms, 5.0 * float(np.max(lsf_kms)))
        lo_w = lam.min() * (1 - half / C_KMS)
        hi_w = lam.max() * (1 + half / C_KMS)
        sel = np.flatnonzero((wave >= lo_w) & (wave <= hi_w))
        self.sl = slice(sel[0], sel[-1] + 1) if sel.size else slice(0, 0)
        self.wave = wave[self.sl]
        self.edges = edges[self.sl.start:self.sl.stop + 1] if sel.size else edges[:0]
        self.width = np.diff(self.edges)
        # free amplitudes ("components"); M[l, c] = flux of line l per unit of coefficient c
        tied = {n: TIED_LINES[n] for n in line_names
                if n in TIED_LINES and TIED_LINES[n][0] in line_names}
        self.comps = [n for n in line_names if n not in tied]
        self.comp_of = [self.comps.index(tied[n][0] if n in tied else n) for n in line_names]
        self.ratio = [tied[n][1] if n in tied else 1.0 for n in line_names]
        self.M = np.zeros((len(line_names), len(self.comps)))
        self.M[np.arange(len(line_names)), self.comp_of] = self.ratio
        self.lines = list(line_names)
        self.lam = lam
        self.lsf_wave, self.lsf_um = wave, lsf_um
        self.lsf_slope = np.gradient(lsf_um, wave)
        self.lsf_kms_mean = float(np.mean(lsf_kms))
        k = self.wave.size
        if continuum == "linear" and k:
            x = (self.wave - self.wave.mean()) / max(np.ptp(self.wave) / 2, 1e-30)
            self.cont = np.stack([np.ones(k), x], axis=1)
        else:
            self.cont = np.ones((k, 1)) if continuum == "constant" else np.zeros((k, 0))
        self.nlin = len(self.comps) + self.cont.shape[1]
        self.ncomp = len(self.comps)
        self.key = (tuple(line_names), float(redshift), float(window_kms), continuum, profile,
                    self.wave.tobytes(), self.edges.tobytes(), lsf_um.tobytes())

    def profiles(self, v, u):
        """Component templates ``T`` (n, K, C) [per unit flux, um^-1] for velocities
        ``v`` and ``u = sigma^2`` (n,), evaluated within +-_NSIG widths of each line."""
        v = np.asarray(v, float)[:, None]
        u = np.asarray(u, float)[:, None]
        mu = self.lam[None, :] * (1.0 + v / C_KMS)                     # (n, L)
        lsf = np.interp(mu, self.lsf_wave, self.lsf_um)
        s = np.sqrt((mu / C_KMS) ** 2 * u + lsf ** 2)
        n, K, C = v.shape[0], self.width.size, self.M.shape[1]
        integ = self.profile == "integrated"
        x = self.edges if integ else self.wave
        T = np.zeros((n, K, C))
        for il in range(self.lam.size):
            c, r = self.comp_of[il], self.ratio[il]
            m, si = mu[:, il], s[:, il]
            k0 = max(int(np.searchsorted(x, np.min(m - _NSIG * si))) - 1, 0)
            k1 = min(int(np.searchsorted(x, np.max(m + _NSIG * si))) + 1, x.size)
            if integ:
                k1 = max(k1, k0 + 2)
            if k1 <= k0:
                continue
            t = (x[None, k0:k1] - m[:, None]) / si[:, None]
            if integ:
                T[:, k0:k1 - 1, c] += np.diff(ndtr(t), axis=1) * (r / self.width[k0:k1 - 1])
            else:
                T[:, k0:k1, c] += np.exp(-0.5 * t * t) * (r / _SQRT2PI / si[:, None])
        return T

    def design(self, T):
        """Append the continuum basis to templates ``T`` (n, K, C) -> (n, K, P)."""
        n = T.shape[0]
        cont = np.broadcast_to(self.cont[None], (n,) + self.cont.shape)
        return np.concatenate([T, cont], axis=2)


class _Batch:
    """The fits of several groups stacked into one set of padded arrays.

    Row ``g * n + i`` is spectrum ``i`` in group ``g``. Every group is padded to
    the largest window (``K`` channels, zero weight), component count ``C`` (zero
    templates) and line count ``L`` (lines of zero flux ratio), so that one
    sequence of array operations evaluates all groups' models: the per-call cost
    of numpy, not arithmetic, dominates for the small per-group arrays.

    Line templates are only evaluated in a window of +-_NSIG widths around each
    line (per spectrum and line); the Gram matrix of the whitened model columns
    is accumulated in those windows, with the continuum/data part precomputed.
    """

    def __init__(self, gms, n, Y, W):
        self.gms = gms
        G = len(gms)
        self.n = n
        self.integ = gms[0].profile == "integrated"
        self.C = C = max(gm.ncomp for gm in gms)
        self.nc = nc = gms[0].cont.shape[1]
        self.P = P = C + nc
        self.Q = Q = P + 2 * C + 1
        self.L = L = max(gm.lam.size for gm in gms)
        self.K = K = Y.shape[1]
        self.lam = np.zeros((G, L))
        comp = np.zeros((G, L), int)
        ratio = np.zeros((G, L))
        cont = np.zeros((G, nc, K))
        width = np.ones((G, K))
        nx = K + 1 if self.integ else K
        self.x = np.empty((G, nx))
        self.msum = np.full((G, C), np.inf)
        self.nlin = np.array([gm.nlin for gm in gms])
        for g, gm in enumerate(gms):
            nl, k = gm.lam.size, gm.width.size
            self.lam[g, :nl], self.lam[g, nl:] = gm.lam, gm.lam[0]
            comp[g, :nl] = gm.comp_of
            ratio[g, :nl] = gm.ratio
            cont[g, :, :k] = gm.cont.T
            width[g, :k] = gm.width
            width[g, k:] = gm.width[-1]
            xg = gm.edges if self.integ else gm.wave
            self.x[g, :xg.size] = xg
            self.x[g, xg.size:] = xg[-1] + (xg[-1] - xg[-2]) * np.arange(1, nx - xg.size + 1)
            self.msum[g, :gm.ncomp] = np.sum(gm.M, axis=0)
        self.ratio = ratio
        self.real = ratio != 0
        self.width = width
        # x of all groups on one increasing axis (group g shifted by g * _xoff)
        self._xoff = 2.0 * (np.max(self.x) - np.min(self.x)) + 1.0
        self._xcat = (self.x + self._xoff * np.arange(G)[:, None]).ravel()
        self.rw = ratio[:, :, None] / width[:, None, :] if self.integ else None    # (G, L, K)
        self.lsf_wave, self.lsf_um, self.lsf_slope = gms[0].lsf_wave, gms[0].lsf_um, gms[0].lsf_slope
        self.lsf_kms_mean = np.array([gm.lsf_kms_mean for gm in gms])
        self.grp = grp = np.repeat(np.arange(G), n)
        # per row and channel: sqrt(w) and y sqrt(w); per group: the continuum basis
        sw = np.sqrt(W)
        D = np.empty((G * n, nc + 2, K))
        D[:, 0] = sw
        np.multiply(cont[grp], sw[:, None, :], out=D[:, 1:nc + 1])
        np.multiply(Y, sw, out=D[:, -1])
        self.D = D
        self.static = D[:, 1:] @ D[:, 1:].transpose(0, 2, 1)             # (N, nc+1, nc+1)
        # line (slot) pieces -> components: R[g, 3 l + kind, kind * C + c]
        R = np.zeros((G, 3 * L, 3 * C))
        for g in range(G):
            for il in range(L):
                if ratio[g, il] != 0:
                    for kind in range(3):
                        R[g, 3 * il + kind, kind * C + comp[g, il]] = 1.0
        self.R = R
        self.tpos = np.r_[0:C, P:P + 2 * C]
        self.cpos = np.r_[C:P, Q - 1]

    def _lines(self, rows, v, u):
        """Line centres, widths and the factors turning d/d(mu, s) into d/d(v, u)."""
        gr = self.grp[rows]
        v = v[:, None]
        u = u[:, None]
        lamr = self.lam[gr]
        mu = lamr * (1.0 + v / C_KMS)                                   # (N, L)
        lsf = np.interp(mu, self.lsf_wave, self.lsf_um)
        s2 = (mu / C_KMS) ** 2 * u + lsf ** 2
        inv_s = 1.0 / np.sqrt(s2)
        s = s2 * inv_s
        fs = np.empty((3,) + mu.shape)
        fs[0] = lamr * (inv_s / C_KMS)
        fs[2] = 0.5 * (mu / C_KMS) ** 2 * inv_s
        fs[1] = fs[0] * (mu * u / C_KMS ** 2 + lsf * np.interp(mu, self.lsf_wave, self.lsf_slope))
        fs[1:] *= inv_s
        nx = self.x.shape[1]
        off = (self._xoff * gr)[:, None]
        base = (nx * gr)[:, None]
        k0 = np.searchsorted(self._xcat, mu - _NSIG * s + off) - 1 - base
        k1 = np.searchsorted(self._xcat, mu + _NSIG * s + off) + 1 - base
        np.clip(k0, 0, nx, out=k0)
        np.clip(k1, 0, nx, out=k1)
        return gr, mu, inv_s, fs, k0, np.max(k1 - k0, axis=1)

    def _classes(self, need):
        """Row subsets evaluated together (windows padded to the longest in a subset):
        up to three buckets of window lengths, when that saves work."""
        top = int(np.max(need))
        if need.size < 64:
            return [slice(None)]
        med = max(int(np.median(need)), 4)
        edges = [e for e in (med + med // 2, 3 * med) if e < top]
        if not edges:
            return [slice(None)]
        b = np.searchsorted(np.array(edges), need, side="left")
        return [np.flatnonzero(b == i) for i in range(len(edges) + 1)]

    def _pieces(self, brow, gr, sl, mu, inv_s, fs, k0, m):
        """Templates, d/dv and d/du of single lines in their windows.

        Inputs are per (row, line) pair: batch row ``brow``, group ``gr``, line slot
        ``sl``, centre ``mu``, ``1 / sigma``, derivative factors ``fs`` (3, n) and
        window start ``k0`` (window of ``m`` edges, or centres for sampled profiles).
        Returns the pieces (n, 3, mc), the window starts and the gathered
        ``[sqrt(w), continuum * sqrt(w), y * sqrt(w)]`` (n, nc+2, mc).
        """
        nx = self.x.shape[1]
        k0 = np.minimum(k0, nx - m)
        t = sliding_window_view(self.x, m, axis=1)[gr, k0]              # (n, m) edges/centres
        t -= mu[:, None]
        t *= inv_s[:, None]
        mc = m - 1 if self.integ else m
        out = np.empty((t.shape[0], 3, mc))
        pdf = t * t
        pdf *= -0.5
        np.exp(pdf, out=pdf)
        pdf *= 1.0 / _SQRT2PI
        tpdf = t * pdf
        if self.integ:
            rw = sliding_window_view(self.rw, mc, axis=2)[gr, sl, k0]    # ratio / width
            cdf = ndtr(t)
            np.subtract(cdf[:, 1:], cdf[:, :-1], out=out[:, 0])
            out[:, 0] *= rw
            rw *= -1.0
            np.subtract(pdf[:, 1:], pdf[:, :-1], out=out[:, 1])
            out[:, 1] *= rw                                               # dT/dmu * s
            np.subtract(tpdf[:, 1:], tpdf[:, :-1], out=out[:, 2])
            out[:, 2] *= rw                                               # dT/ds * s
        else:
            rs = (self.ratio[gr, sl] * inv_s)[:, None]
            np.multiply(pdf, rs, out=out[:, 0])
            np.multiply(tpdf, rs, out=out[:, 1])
            np.multiply(tpdf * t - pdf, rs, out=out[:, 2])
        out[:, 1] *= fs[0][:, None]
        out[:, 1] += out[:, 2] * fs[1][:, None]
        out[:, 2] *= fs[2][:, None]
        data = sliding_window_view(self.D, mc, axis=2)[brow, :, k0]     # (n, nc+2, mc)
        return out, k0, data

    def gram(self, rows, v, u):
        """Gram matrices (N, Q, Q) of the whitened columns ``[T (C), continuum,
        dT/dv (C), dT/du (C), y]`` at ``(v, u)`` for the batch rows ``rows``, and
        the fraction of each component's template flux in valid channels (N, C)."""
        gr, mu, inv_s, fs, k0, need = self._lines(rows, v, u)
        N, C, L, nc = rows.size, self.C, self.L, self.nc
        Gs = np.zeros((N, L, 3, L, 3))
        Gc = np.zeros((N, L, 3, nc + 1))
        Fl = np.zeros((N, L))
        real = self.real[gr]
        nx = self.x.shape[1]
        for sel in self._classes(need):
            if isinstance(sel, slice):
                sel = np.arange(N)
            if sel.size == 0:
                continue
            rr, ll = np.nonzero(real[sel])                              # (row, line) pairs
            pr = sel[rr]
            m = int(min(max(int(np.max(need[sel])), 2 if self.integ else 1), nx))
            pc, kc, data = self._pieces(rows[pr], gr[pr], ll, mu[pr, ll], inv_s[pr, ll], fs[:, pr, ll],
                                        k0[pr, ll], m)
            mc = pc.shape[-1]
            wid = sliding_window_view(self.width, mc, axis=1)[gr[pr], kc]
            wid *= data[:, 0] > 0
            Fl[pr, ll] = np.einsum("nj,nj->n", pc[:, 0], wid)
            pc *= data[:, :1]                                           # whitened pieces
            Gs[pr, ll, :, ll, :] = pc @ pc.swapaxes(-1, -2)
            Gc[pr, ll] = pc @ data[:, 1:].swapaxes(-1, -2)
            if L > 1:                                                   # overlapping windows
                pos = np.full((sel.size, L), -1)
                pos[rr, ll] = np.arange(rr.size)
                for il in range(L):
                    for jl in range(il + 1, L):
                        a, b = pos[:, il], pos[:, jl]
                        ok = (a >= 0) & (b >= 0)
                        a, b = a[ok], b[ok]
                        d = kc[b] - kc[a]
                        ov = np.abs(d) < mc
                        if not ov.any():
                            continue
                        a, b, d = a[ov], b[ov], d[ov]
                        # line jl's pieces on line il's channels: shift by d (zeros outside)
                        pad = np.zeros((a.size, 3, 3 * mc))
                        pad[:, :, mc:2 * mc] = pc[b]
                        sh = sliding_window_view(pad, mc, axis=2)[np.arange(a.size), :, mc - d]
                        x = pc[a] @ sh.swapaxes(-1, -2)
                        Gs[pr[a], il, :, jl, :] = x
                        Gs[pr[a], jl, :, il, :] = x.swapaxes(-1, -2)
        R = self.R[gr]
        RT = R.swapaxes(-1, -2)
        G = np.empty((N, self.Q, self.Q))
        tp, cp = self.tpos, self.cpos
        G[:, tp[:, None], tp] = RT @ Gs.reshape(N, 3 * L, 3 * L) @ R
        tc = RT @ Gc.reshape(N, 3 * L, nc + 1)
        G[:, tp[:, None], cp] = tc
        G[:, cp[:, None], tp] = tc.swapaxes(-1, -2)
        G[:, cp[:, None], cp] = self.static[rows]
        return G, np.einsum("nl,nlc->nc", Fl, R[:, 0::3, :C])


def _chol_solve(N, b, solve=True):
    """Solve many small SPD systems ``N x = b``; also return ``q = b^T N^-1 b``.

    ``N`` is (..., P, P) or a function ``N(i, j)`` (``i >= j``) returning element
    arrays; ``b`` is (..., P). Works on contiguous per-element arrays (much faster
    than numpy's batched LAPACK for P <= 6). Pivots are floored at 1e-12 of the
    diagonal, so all-zero templates get a zero coefficient.
    """
    P = b.shape[-1]
    get = N if callable(N) else (lambda i, j: N[..., i, j])
    L = [[None] * P for _ in range(P)]
    for j in range(P):
        njj = np.ascontiguousarray(get(j, j))
        d = njj - sum(L[j][k] * L[j][k] for k in range(j))
        L[j][j] = np.sqrt(np.maximum(d, 1e-12 * np.abs(njj) + 1e-280))
        for i in range(j + 1, P):
            L[i][j] = (get(i, j) - sum(L[i][k] * L[j][k] for k in range(j))) / L[j][j]
    z = []
    for i in range(P):
        z.append((b[..., i] - sum(L[i][k] * z[k] for k in range(i))) / L[i][i])
    q = sum(zi * zi for zi in z)
    if not solve:
        return None, q
    x = [None] * P
    for i in range(P - 1, -1, -1):
        x[i] = (z[i] - sum(L[k][i] * x[k] for k in range(i + 1, P))) / L[i][i]
    return np.stack(x, axis=-1), q


def _chol_solve_multi(N, B):
    """Solve many small SPD systems ``N X = B`` with several right-hand sides.

    ``N`` (n, P, P), ``B`` (n, P, m) -> ``X`` (n, P, m); same pivot floors as
    :func:`_chol_solve`.
    """
    P = N.shape[-1]
    L = [[None] * P for _ in range(P)]
    for j in range(P):
        njj = N[:, j, j]
        d = njj.copy()
        for k in range(j):
            d -= L[j][k] * L[j][k]
        L[j][j] = np.sqrt(np.maximum(d, 1e-12 * np.abs(njj) + 1e-280))
        for i in range(j + 1, P):
            e = N[:, i, j].copy()
            for k in range(j):
                e -= L[i][k] * L[j][k]
            L[i][j] = e / L[j][j]
    inv = [1.0 / L[i][i][:, None] for i in range(P)]
    Lc = [[None if x is None else x[:, None] for x in row] for row in L]
    z = []
    for i in range(P):
        zi = B[:, i].copy()
        for k in range(i):
            zi -= Lc[i][k] * z[k]
        zi *= inv[i]
        z.append(zi)
    X = np.empty_like(B)
    for i in range(P - 1, -1, -1):
        xi = z[i]
        for k in range(i + 1, P):
            xi -= Lc[k][i] * X[:, k]
        X[:, i] = xi * inv[i]
    return X


def _chol_inverse(H, rcond=1e-10):
    """Inverses of SPD ``H`` (n, P, P) with unit diagonal via Cholesky, and a flag per
    matrix: False where a pivot fell below ``rcond`` (ill-conditioned)."""
    n, P = H.shape[:2]
    ok = np.ones(n, bool)
    Lm = np.zeros((n, P, P))
    for j in range(P):
        d = H[:, j, j] - np.einsum("nk,nk->n", Lm[:, j, :j], Lm[:, j, :j])
        ok &= d > rcond
        Lm[:, j, j] = np.sqrt(np.where(d > rcond, d, 1.0))
        if j + 1 < P:
            Lm[:, j + 1:, j] = (H[:, j + 1:, j] - np.einsum("nik,nk->ni", Lm[:, j + 1:, :j], Lm[:, j, :j])) \
                / Lm[:, j, j][:, None]
    Linv = np.linalg.solve(Lm, np.broadcast_to(np.eye(P), (n, P, P)))
    return Linv.transpose(0, 2, 1) @ Linv, ok


def _grid(gm, vrange, srange):
    """Coarse grid: v step 0.7 x the narrowest observed width, sigma_obs ratio 1.35."""
    lsf = gm.lsf_kms_mean
    so_min, so_max = np.hypot(srange[0], lsf), np.hypot(srange[1], lsf)
    nv = int(np.clip(np.ceil((vrange[1] - vrange[0]) / (0.7 * so_min)) + 1, 3, 81))
    ns = int(np.clip(np.ceil(np.log(so_max / so_min) / np.log(1.35)) + 1, 2, 25))
    sg = np.clip(np.sqrt(np.clip(np.geomspace(so_min, so_max, ns) ** 2 - lsf ** 2, 0, None)),
                 *srange)
    sg[0], sg[-1] = srange
    return np.linspace(vrange[0], vrange[1], nv), sg


_BASIS_CACHE: dict = {}
_BASIS_CACHE_MAX = 32


def _node_bases(gm, vg, sg, w0):
    """Whitened, Cholesky-orthonormalised bases ``(K, nodes * P)`` of all grid nodes
    for the common weights ``w0``: rows of ``L^-1 A^T W`` (cached: calibration grids
    repeat the same redshift, instrument and uniform weights)."""
    key = (gm.key, vg.tobytes(), sg.tobytes(), w0.tobytes())
    out = _BASIS_CACHE.get(key)
    if out is None:
        V, S = np.meshgrid(vg, sg, indexing="ij")
        A = gm.design(gm.profiles(V.ravel(), S.ravel() ** 2))       # (g, K, P)
        P = A.shape[2]
        AW = A * w0[None, :, None]
        N = np.einsum("gkp,gkq->gpq", AW, A)
        N += (1e-12 * np.diagonal(N, axis1=1, axis2=2) + 1e-280)[:, :, None] * np.eye(P)
        Gm = np.linalg.solve(np.linalg.cholesky(N), AW.transpose(0, 2, 1))   # (g, P, K)
        out = np.ascontiguousarray(Gm.reshape(-1, A.shape[1]).T)
        if len(_BASIS_CACHE) >= _BASIS_CACHE_MAX:
            _BASIS_CACHE.pop(next(iter(_BASIS_CACHE)))
        _BASIS_CACHE[key] = out
    return out


def _grid_search(gm, Y, W, vg, sg, w_shared=None):
    """chi^2 of every spectrum at every (v, sigma) node, profiled over the linear
    parameters: (n, nv, ns).

    ``w_shared`` (K,): all rows of ``W`` are ``c_n * w_shared`` (e.g. a uniform
    error cube); then the normal matrices of a node are common to all spectra and
    the profiled chi^2 of every spectrum at every node is one matrix product with
    the nodes' whitened, orthonormalised bases.
    """
    n, K = Y.shape
    P = gm.nlin
    if w_shared is not None:
        j = int(np.argmax(w_shared))
        c = W[:, j] / w_shared[j]
        Z = Y @ _node_bases(gm, vg, sg, w_shared)                   # (n, g * P)
        Z *= Z
        q = np.add.reduceat(Z, np.arange(0, Z.shape[1], P), axis=1) if P > 1 else Z
        yWy = (Y * Y) @ w_shared
        return (c[:, None] * (yWy[:, None] - q)).reshape(n, vg.size, sg.size)
    V, S = np.meshgrid(vg, sg, indexing="ij")
    A = gm.design(gm.profiles(V.ravel(), S.ravel() ** 2))           # (g, K, P)
    il = np.tril_indices(P)
    pair = np.zeros((P, P), int)
    pair[il] = np.arange(il[0].size)
    WY = W * Y
    yWy = np.sum(WY * Y, axis=1)
    g = A.shape[0]
    B = (WY @ A.transpose(1, 0, 2).reshape(K, g * P)).reshape(n, g, P)
    AA = (A[:, :, il[0]] * A[:, :, il[1]]).transpose(1, 2, 0).reshape(K, -1)
    Nu = (W @ AA).reshape(n, il[0].size, g)
    chi2 = yWy[:, None] - _chol_solve(lambda i, j: Nu[:, pair[i, j]], B, False)[1]
    return chi2.reshape(n, vg.size, sg.size)


def _start_point(chi2, vg, sg):
    """Best grid node per spectrum, refined by a parabola along each axis."""
    n, nv, ns = chi2.shape
    iv, js = np.unravel_index(np.argmin(chi2.reshape(n, -1), axis=1), (nv, ns))
    r = np.arange(n)
    out = []
    for idx, grid, cut in ((iv, vg, lambda k: chi2[r, k, js]), (js, sg, lambda k: chi2[r, iv, k])):
        kc = np.clip(idx, 1, grid.size - 2) if grid.size > 2 else idx
        cm, c0, cp = cut(np.clip(kc - 1, 0, None)), cut(kc), cut(np.clip(kc + 1, None, grid.size - 1))
        den = cm - 2 * c0 + cp
        with np.errstate(divide="ignore", invalid="ignore"):
            off = np.clip(np.where(den > 0, 0.5 * (cm - cp) / den, 0.0), -0.5, 0.5)
        inner = (idx > 0) & (idx < grid.size - 1)
        out.append(np.where(inner, np.interp(kc + off, np.arange(grid.size), grid), grid[idx]))
    return out[0].astype(float), out[1].astype(float)


class _State:
    """Variable-projection state of batch rows at given ``(v, u)``.

    The Gram matrix ``G`` of the whitened columns ``[T, continuum, dT/dv, dT/du,
    y]`` (see :meth:`_Batch.gram`) gives the optimal linear parameters ``a``,
    chi^2, the gradient ``g`` of -chi^2 / 2 in ``(v, u)`` and the Schur
    complement ``S`` of the Gauss-Newton normal matrix (Jacobian ``[A, dT/dv a,
    dT/du a]``) on ``(v, u)``: the variable-projection (Kaufman) normal matrix.
    """

    __slots__ = ("a", "chi2", "G", "S", "g", "frac")

    def __init__(self, bt, rows, v, u):
        C, P = bt.C, bt.P
        G, self.frac = bt.gram(rows, v, u)                           # (N, Q, Q), (N, C)
        Z = _chol_solve_multi(G[:, :P, :P], G[:, :P, np.r_[P + 2 * C, P:P + 2 * C]])
        a = Z[:, :, 0]
        aT = a[:, :C]
        self.chi2 = np.maximum(G[:, -1, -1] - np.einsum("np,np->n", a, G[:, :P, -1]), 0.0)
        gD = G[:, P:P + 2 * C, -1] - np.einsum("nqp,np->nq", G[:, P:P + 2 * C, :P], a)   # dT^T W r
        self.g = np.einsum("njc,nc->nj", gD.reshape(-1, 2, C), aT)
        X = np.einsum("npjc,nc->njp", Z[:, :, 1:].reshape(-1, P, 2, C), aT)      # N^-1 A^T W D
        B = np.einsum("npjc,nc->njp", G[:, :P, P:P + 2 * C].reshape(-1, P, 2, C), aT)  # A^T W D
        DD = G[:, P:P + 2 * C, P:P + 2 * C].reshape(-1, 2, C, 2, C)
        self.S = np.einsum("nc,nicjd,nd->nij", aT, DD, aT) - np.einsum("nip,njp->nij", B, X)
        self.a, self.G = a, G

    def update(self, other, sel, rows):
        """Copy ``other``'s entries ``rows`` into this state's entries ``sel``."""
        for k in self.__slots__:
            getattr(self, k)[sel] = getattr(other, k)[rows]

    def hessian(self, C, P):
        """Full Gauss-Newton normal matrix (n, P+2, P+2) in [linear, v, u]."""
        n = self.a.shape[0]
        R = np.zeros((n, P + 2 * C, P + 2))
        R[:, np.arange(P), np.arange(P)] = 1.0
        R[:, P:P + C, P] = self.a[:, :C]
        R[:, P + C:P + 2 * C, P + 1] = self.a[:, :C]
        return R.transpose(0, 2, 1) @ (self.G[:, :-1, :-1] @ R)


def _lm_step(S, g, lam, frozen):
    """Damped (Levenberg-Marquardt) 2x2 step in (v, u); frozen parameters do not move."""
    a = S[:, 0, 0] * (1.0 + lam + 1e-12) + 1e-280
    d = S[:, 1, 1] * (1.0 + lam + 1e-12) + 1e-280
    b = S[:, 0, 1]
    gv, gu = g[:, 0], g[:, 1]
    if frozen is not None:
        fv, fu = frozen[:, 0], frozen[:, 1]
        b = np.where(fv | fu, 0.0, b)
        gv = np.where(fv, 0.0, gv)
        gu = np.where(fu, 0.0, gu)
    det = a * d - b * b
    det = np.where(det > 0, det, np.inf)
    return np.stack([(d * gv - b * gu) / det, (a * gu - b * gv) / det], axis=1)


def _refine(bt, v, u, vrange, urange, max_iter=_MAX_ITER, tol=_TOL_CHI2):
    """Variable-projection Levenberg-Marquardt on (v, u = sigma^2) for all batch rows.

    ``v``, ``u`` are start values (updated in place). The linear parameters are
    optimal at every trial point. Nonlinear parameters on a bound and pushed
    outwards are frozen for the step (active set); steps are shrunk (direction
    kept) so that ``v`` moves < 0.5 LSF widths and the observed width by <~ 30 %.
    A row is converged when the Gauss-Newton model predicts a chi^2 gain below
    ``tol`` (parameters within ~ sqrt(tol) standard errors of the optimum), or an
    accepted step gained less.
    """
    n = v.size
    rows = np.arange(n)
    st = _State(bt, rows, v, u)
    lam = np.full(n, 1e-3)
    lsf2 = bt.lsf_kms_mean[bt.grp] ** 2
    vmax = 0.5 * np.sqrt(urange[0] + lsf2)
    act = rows
    for _ in range(max_iter):
        if act.size == 0:
            break
        S, g = st.S[act], st.g[act]
        va, ua, la = v[act], u[act], lam[act]
        step = _lm_step(S, g, la, None)
        frz = np.stack([((va <= vrange[0]) & (step[:, 0] < 0)) | ((va >= vrange[1]) & (step[:, 0] > 0)),
                        ((ua <= urange[0]) & (step[:, 1] < 0)) | ((ua >= urange[1]) & (step[:, 1] > 0))],
                       axis=1)
        if frz.any():
            step = _lm_step(S, g, la, frz)
        umax = 0.6 * (ua + lsf2[act])
        step *= np.minimum(1.0, np.minimum(vmax[act] / np.maximum(np.abs(step[:, 0]), 1e-300),
                                           umax / np.maximum(np.abs(step[:, 1]), 1e-300)))[:, None]
        pred = 2.0 * np.einsum("np,np->n", step, g) - np.einsum("np,npq,nq->n", step, S, step)
        conv = pred < tol
        try_ = np.flatnonzero(~conv)
        if try_.size == 0:
            break
        v_n = np.clip(va[try_] + step[try_, 0], *vrange)
        u_n = np.clip(ua[try_] + step[try_, 1], *urange)
        at = act[try_]
        trial = _State(bt, at, v_n, u_n)
        ok = np.isfinite(trial.chi2) & (trial.chi2 <= st.chi2[at])
        acc = at[ok]
        gain = st.chi2[acc] - trial.chi2[ok]
        st.update(trial, acc, ok)
        v[acc], u[acc] = v_n[ok], u_n[ok]
        lam[acc] = np.maximum(lam[acc] * 0.2, 1e-7)
        lam[at[~ok]] *= 10.0
        done = conv
        done[try_[ok]] |= gain < tol
        done |= lam[act] > 1e8
        act = act[~done]
    return st


def _covariances(H, P, v, u, vrange, urange):
    """Covariance of the linear parameters marginalised over free (v, u); errors of v, u.

    ``H`` (n, P+2, P+2) is the Gauss-Newton normal matrix. A nonlinear parameter
    on its bound (or with a zero column, e.g. no line signal) is held fixed; its
    reported error is then the conditional one.
    """
    d = np.diagonal(H, axis1=1, axis2=2).copy()
    fixed = ~(d > 0)
    for jn, (val, (lo, hi)) in enumerate(((v, vrange), (u, urange))):
        tol = 1e-6 * (hi - lo)
        fixed[:, P + jn] |= (val <= lo + tol) | (val >= hi - tol)
    dd = np.where(d > 0, d, 1.0)
    norm = np.sqrt(dd[:, :, None] * dd[:, None, :])
    Hs = H / norm * (~fixed[:, :, None] & ~fixed[:, None, :])    # unit diagonal: scale-free
    Hs[:, np.arange(P + 2), np.arange(P + 2)] = 1.0
    with np.errstate(all="ignore"):
        # inverse by Cholesky where Hs is well conditioned (equal to the pseudo-inverse
        # there); the pseudo-inverse for the (near-)singular rest
        inv, ok = _chol_inverse(Hs)
        bad = np.flatnonzero(~ok)
        if bad.size:
            inv[bad] = np.linalg.pinv(Hs[bad], hermitian=True)
        cov = inv / norm
    var_nl = np.where(fixed[:, P:], 1.0 / dd[:, P:], np.diagonal(cov, axis1=1, axis2=2)[:, P:])
    err = np.where(d[:, P:] > 0, np.sqrt(np.clip(var_nl, 0, None)), np.nan)
    return cov[:, :P, :P], err[:, 0], err[:, 1]


def _shared_weights(W):
    """``w0`` (K,) if every row of ``W`` is a multiple of it, else None."""
    if W.shape[0] < 2:
        return None
    w0 = W[0]
    j = int(np.argmax(w0))
    if not w0[j] > 0:
        return None
    if np.array_equal(W, np.broadcast_to(w0, W.shape)):
        return w0
    c = W[:, j] / w0[j]
    if np.allclose(W, c[:, None] * w0[None, :], rtol=1e-12, atol=0.0):
        return w0
    return None


def _fit_groups(gms, Y, W, vr, sr):
    """Grid search (per group) + one variable-projection Levenberg-Marquardt run and
    covariances for all groups' fits of one chunk of spectra.

    ``Y``, ``W`` (n, nsel) hold the channels ``gm.cols`` of every group. Returns one
    result dict per group.
    """
    n = Y.shape[0]
    G = len(gms)
    K = max(gm.cols.size for gm in gms)
    Yb = np.zeros((G * n, K))
    Wb = np.zeros((G * n, K))
    v = np.empty(G * n)
    s = np.empty(G * n)
    for g, gm in enumerate(gms):
        rs = slice(g * n, (g + 1) * n)
        Yg, Wg = Y[:, gm.cols], W[:, gm.cols]
        Yb[rs, :gm.cols.size], Wb[rs, :gm.cols.size] = Yg, Wg
        vg, sg = _grid(gm, vr, sr)
        v[rs], s[rs] = _start_point(_grid_search(gm, Yg, Wg, vg, sg, _shared_weights(Wg)), vg, sg)
    bt = _Batch(gms, n, Yb, Wb)
    C, P = bt.C, bt.P
    ur = (sr[0] ** 2, sr[1] ** 2)
    u = s ** 2
    st = _refine(bt, v, u, vr, ur)
    cov, v_err, u_err = _covariances(st.hessian(C, P), P, v, u, vr, ur)
    s = np.sqrt(u)
    # a component is measured if >50 % of its template flux falls in valid channels
    ok = st.frac / bt.msum[bt.grp] > 0.5
    amp_err = np.sqrt(np.clip(np.diagonal(cov, axis1=1, axis2=2)[:, :C], 0, None))
    s_err = np.minimum(u_err / (2 * s), np.sqrt(u_err))
    ndof = np.sum(Wb > 0, axis=1) - (bt.nlin[bt.grp] + 2)
    out = []
    for g, gm in enumerate(gms):
        rs = slice(g * n, (g + 1) * n)
        c = gm.ncomp
        out.append(dict(amp=st.a[rs, :c], amp_err=amp_err[rs, :c], ok=ok[rs, :c], v=v[rs], s=s[rs],
                        v_err=v_err[rs], s_err=s_err[rs], chi2=st.chi2[rs], ndof=ndof[rs]))
    return out


def _check_ranges(velocity_range_kms, sigma_range_kms, continuum, window_kms, profile):
    vr = tuple(float(x) for x in velocity_range_kms)
    sr = tuple(float(x) for x in sigma_range_kms)
    checks = [(len(vr) == 2 and vr[0] < vr[1], "velocity_range_kms", "(low, high), low < high"),
              (len(sr) == 2 and 0 < sr[0] < sr[1], "sigma_range_kms", "(low, high), 0 < low < high"),
              (continuum in ("linear", "constant", "none", None), "continuum",
               "'linear', 'constant' or 'none'"),
              (np.isfinite(window_kms) and window_kms > 0, "window_kms", "> 0"),
              (profile in ("integrated", "sampled"), "profile", "'integrated' or 'sampled'")]
    for ok, key, allowed in checks:
        if not ok:
            value = dict(velocity_range_kms=velocity_range_kms, sigma_range_kms=sigma_range_kms,
                         continuum=continuum, window_kms=window_kms, profile=profile)[key]
            raise MocksimInputError(f"{key}: must be {allowed}, got {value!r}")
    return vr, sr


def fit_spectra(wave_um, spectra, errors, redshift: float, lsf_sigma_um, lines=None, *,
                velocity_range_kms=(-600.0, 600.0), sigma_range_kms=(5.0, 500.0),
                continuum: str = "linear", window_kms: float = 3000.0,
                profile: str = "integrated") -> LineMaps:
    """Fit emission lines in many spectra at once.

    Parameters
    ----------
    wave_um : array_like
        ``(nwave,)`` increasing channel-centre wavelengths [micron]; may be non-uniform.
    spectra, errors : array_like
        ``(nspec, nwave)`` mean flux density per channel and its 1-sigma error
        [erg s^-1 cm^-2 um^-1]. Channels with non-finite data/error or error <= 0
        get zero weight.
    redshift : float
        Systemic redshift (velocities are relative to it).
    lsf_sigma_um : float or array_like
        Instrumental Gaussian sigma [micron], scalar or ``(nwave,)``.
    lines : sequence of str, optional
        Lines to fit (default: every line of ``LINE_GROUPS``). Each group with at
        least one requested line is fitted with *all* of its lines in coverage
        (they are in the data whether requested or not).
    velocity_range_kms : (float, float)
        Allowed velocity range [km/s].
    sigma_range_kms : (float, float)
        Allowed intrinsic dispersion range [km/s].
    continuum : {"linear", "constant", "none"}
        Continuum model in each group's window.
    window_kms : float
        The window extends ``window_kms / 2`` [km/s] (at least 5 LSF sigmas)
        beyond the group's bluest and reddest lines.
    profile : {"integrated", "sampled"}
        Channel-integrated or centre-sampled Gaussian (see module docstring).

    Returns
    -------
    LineMaps
        With ``(nspec,)`` arrays.
    """
    vr, sr = _check_ranges(velocity_range_kms, sigma_range_kms, continuum, window_kms, profile)
    wave = _check_wave(wave_um)
    Y = np.asarray(spectra)
    E = np.asarray(errors)
    if Y.ndim == 1:
        Y = Y[None]
    if E.ndim == 1:
        E = E[None]
    if Y.ndim != 2 or Y.shape[1] != wave.size or E.shape != Y.shape:
        raise MocksimInputError(
            f"spectra/errors: need shape (nspec, {wave.size}), got {Y.shape} and {E.shape}")
    lsf = np.broadcast_to(np.asarray(lsf_sigma_um, dtype=float), wave.shape)
    if not np.all(np.isfinite(lsf)) or np.any(lsf < 0):
        raise MocksimInputError("lsf_sigma_um: must be finite and >= 0")
    edges = _channel_edges(wave)

    requested = list(lines) if lines is not None else [ln for g in LINE_GROUPS.values() for ln in g]
    for name in requested:
        get_line(name)
    covered = set(lines_in_coverage(wave, redshift))
    gms = []
    for gname, members in LINE_GROUPS.items():
        names = [ln for ln in members if ln in covered]
        if not names or not any(ln in requested for ln in members):
            continue
        gm = _GroupModel(names, wave, edges, lsf, redshift, window_kms,
                         "none" if continuum is None else continuum, profile)
        if gm.wave.size < gm.nlin + 2:                 # line at the very edge: skip
            continue
        gm.name = gname
        gms.append(gm)
    nspec = Y.shape[0]
    out = LineMaps({}, {}, {}, {}, np.full(nspec, np.nan), [], [])
    if not gms:
        return out
    # only the channels of the groups' windows are read
    sel = np.unique(np.concatenate([np.arange(gm.sl.start, gm.sl.stop) for gm in gms]))
    for gm in gms:
        gm.cols = np.searchsorted(sel, np.arange(gm.sl.start, gm.sl.stop))
    Ys = np.asarray(Y[:, sel], dtype=float)
    Es = np.asarray(E[:, sel], dtype=float)
    good = np.isfinite(Ys) & np.isfinite(Es) & (Es > 0)
    scale = float(np.median(Es[good])) if np.any(good) else 1.0
    W = np.where(good, 1.0 / np.where(good, Es / scale, 1.0) ** 2, 0.0)
    Ys = np.where(good, Ys / scale, 0.0)

    res = [{} for _ in gms]
    for i0 in range(0, nspec, _CHUNK):
        parts = _fit_groups(gms, Ys[i0:i0 + _CHUNK], W[i0:i0 + _CHUNK], vr, sr)
        for r, part in zip(res, parts):
            for k, val in part.items():
                r.setdefault(k, []).append(val)
    chi2_tot, dof_tot = np.zeros(nspec), np.zeros(nspec)
    for gm, r in zip(gms, res):
        r = {k: np.concatenate(val) for k, val in r.items()}
        for il, ln in enumerate(gm.lines):
            c, ratio = gm.comp_of[il], gm.ratio[il] * scale
            out.flux[ln] = np.where(r["ok"][:, c], r["amp"][:, c] * ratio, np.nan)
            out.flux_err[ln] = np.where(r["ok"][:, c], r["amp_err"][:, c] * ratio, np.nan)
            out.lines.append(ln)
        any_ok = np.any(r["ok"], axis=1)
        for dst, key in ((out.velocity_kms, "v"), (out.sigma_kms, "s"),
                         (out.velocity_err_kms, "v_err"), (out.sigma_err_kms, "s_err")):
            dst[gm.name] = np.where(any_ok, r[key], np.nan)
        use = any_ok & (r["ndof"] > 0)
        out.chi2_nu_group[gm.name] = np.where(use, r["chi2"] / np.maximum(r["ndof"], 1), np.nan)
        chi2_tot += np.where(use, r["chi2"], 0.0)
        dof_tot += np.where(use, r["ndof"], 0)
        out.groups.append(gm.name)
    out.chi2_nu = np.where(dof_tot > 0, chi2_tot / np.maximum(dof_tot, 1), np.nan)
    return out


def fit_cube(obs, lines=None, *, velocity_range_kms=(-600.0, 600.0), sigma_range_kms=(5.0, 500.0),
             continuum: str = "linear", window_kms: float = 3000.0,
             profile: str | None = None) -> LineMaps:
    """Fit emission lines in every spaxel of an IFU :class:`~mocksim.observation.Observation`.

    Parameters
    ----------
    obs : Observation
        Cube with ``data``/``error`` ``(nwave, ny, nx)`` [erg s^-1 cm^-2 um^-1],
        ``wave_um``, ``lsf_sigma_um`` [micron] and ``redshift``.
    lines, velocity_range_kms, sigma_range_kms, continuum, window_kms
        See :func:`fit_spectra`.
    profile : {"integrated", "sampled"} or None
        See :func:`fit_spectra`; ``None`` uses ``obs.meta["spectral_sampling"]``
        if the instrument recorded how it sampled the spectrum, else
        ``"integrated"``.

    Returns
    -------
    LineMaps
        With ``(ny, nx)`` maps; fluxes in [erg s^-1 cm^-2] per spaxel.
    """
    data = np.asarray(obs.data, dtype=float)
    err = np.asarray(obs.error, dtype=float)
    if data.ndim != 3 or err.shape != data.shape:
        raise MocksimInputError(f"obs.data/obs.error: need matching (nwave, ny, nx) cubes, got "
                                f"{data.shape} and {err.shape}")
    nw, ny, nx = data.shape
    if profile is None:
        profile = (getattr(obs, "meta", None) or {}).get("spectral_sampling", "integrated")
    res = fit_spectra(obs.wave_um, data.reshape(nw, -1).T, err.reshape(nw, -1).T, obs.redshift,
                      obs.lsf_sigma_um, lines, velocity_range_kms=velocity_range_kms,
                      sigma_range_kms=sigma_range_kms, continuum=continuum,
                      window_kms=window_kms, profile=profile)
    for d in (res.flux, res.flux_err, res.velocity_kms, res.sigma_kms, res.velocity_err_kms,
              res.sigma_err_kms, res.chi2_nu_group):
        for k in d:
            d[k] = d[k].reshape(ny, nx)
    res.chi2_nu = res.chi2_nu.reshape(ny, nx)
    return res
