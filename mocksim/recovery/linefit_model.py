"""Line-fit model: the per-group description and the padded multi-group batch.

Part of :mod:`mocksim.recovery.linefit` (see its module docstring for the model and
the algorithm). :class:`_GroupModel` holds the (v, sigma)-independent description of
one line group's fit (window, tied doublet ratios, continuum basis, templates);
:class:`_Batch` stacks several groups' spectra into padded arrays and evaluates the
Gram matrices of the whitened model columns and of their (v, sigma^2) derivatives,
from line templates evaluated within +-``_NSIG`` widths of each line. Group models
and the batches' data-independent arrays are kept in small caches (the fits of many
galaxies share redshift, wavelength grid and LSF).
"""
from __future__ import annotations

import copy

import numpy as np
from scipy.special import ndtr

from mocksim.errors import MocksimInputError
from mocksim.lines import C_KMS, NII_6584_6548, OII_3729_3727, OIII_5007_4959, SII_6716_6731, get_line

#: child line -> (parent line, flux ratio child/parent), applied when both are fitted.
TIED_LINES = {
    "OIII4959": ("OIII5007", 1.0 / OIII_5007_4959),
    "NII6548": ("NII6584", 1.0 / NII_6584_6548),
    "OII3729": ("OII3727", OII_3729_3727),
    "SII6716": ("SII6731", SII_6716_6731),
}

_SQRT2PI = np.sqrt(2.0 * np.pi)
_NSIG = 7.0  #: profiles are evaluated within +-_NSIG Gaussian widths of each line (tail < 3e-12)


def _channel_edges(wave_um: np.ndarray) -> np.ndarray:
    """Channel edges [micron]: mid-points between centres, end channels mirrored."""
    mid = 0.5 * (wave_um[1:] + wave_um[:-1])
    return np.concatenate([[2 * wave_um[0] - mid[0]], mid, [2 * wave_um[-1] - mid[-1]]])


def _windows(a, m):
    """All length-``m`` windows along the last axis of C-contiguous ``a`` (a view):
    ``out[..., k, j] = a[..., k + j]``. As ``sliding_window_view``, at a fraction of
    its per-call cost."""
    s = a.strides[-1]
    return np.ndarray(a.shape[:-1] + (a.shape[-1] - m + 1, m), a.dtype, a, 0, a.strides[:-1] + (s, s))


def _check_wave(wave_um) -> np.ndarray:
    wave = np.asarray(wave_um, dtype=float)
    if wave.ndim != 1 or wave.size < 2 or not np.all(np.isfinite(wave)):
        raise MocksimInputError("wave_um: must be a finite 1D array with at least 2 channels")
    if np.any(np.diff(wave) <= 0):
        raise MocksimInputError("wave_um: channel wavelengths must be strictly increasing")
    return wave


_GM_CACHE: dict = {}
_GM_CACHE_MAX = 64


def cache_frozen(cache: dict, maxsize: int, key, value, arrays=None):
    """Store ``value`` in a first-in-first-out cache of at most ``maxsize`` entries
    and return it. ``arrays`` (default: the values of a dict ``value``, or the items
    of a tuple) are made read-only."""
    if arrays is None:
        arrays = value.values() if isinstance(value, dict) else value
    for v in arrays:
        if isinstance(v, np.ndarray):
            v.flags.writeable = False
    if len(cache) >= maxsize:
        cache.pop(next(iter(cache)))
    cache[key] = value
    return value


def _grid_key(wave, edges, lsf_um):
    """Hashable key of a wavelength grid and its LSF (for :func:`_group_model`)."""
    return (wave.tobytes(), edges.tobytes(), np.ascontiguousarray(lsf_um).tobytes())


def _group_model(line_names, wave, edges, lsf_um, redshift, window_kms, continuum, profile, grid_key=None):
    """A :class:`_GroupModel`, from a small cache: the fits of many galaxies repeat the
    redshift, grid and LSF. Returns a shallow copy (callers set per-fit attributes);
    the cached model owns read-only copies of its arrays. ``grid_key`` is
    :func:`_grid_key` of ``(wave, edges, lsf_um)`` if the caller has it."""
    if grid_key is None:
        grid_key = _grid_key(wave, edges, lsf_um)
    key = (tuple(line_names), float(redshift), float(window_kms), continuum, profile, grid_key)
    gm = _GM_CACHE.get(key)
    if gm is None:
        wave, edges, lsf_um = (np.array(a, dtype=float) for a in (wave, edges, lsf_um))
        for a in (wave, edges, lsf_um):
            a.flags.writeable = False
        gm = _GroupModel(line_names, wave, edges, lsf_um, redshift, window_kms, continuum, profile)
        cache_frozen(_GM_CACHE, _GM_CACHE_MAX, key, gm, (gm.lam, gm.lsf_slope, gm.cont, gm.M, gm.width))
    return copy.copy(gm)


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


_BATCH_CACHE: dict = {}
_BATCH_CACHE_MAX = 16


def _batch_static(gms, K):
    """The data-independent attributes of a :class:`_Batch` of groups ``gms`` padded
    to ``K`` channels (cached, read-only arrays)."""
    key = (tuple(gm.key for gm in gms), K)
    hit = _BATCH_CACHE.get(key)
    if hit is not None:
        return hit
    G = len(gms)
    integ = gms[0].profile == "integrated"
    C = max(gm.ncomp for gm in gms)
    nc = gms[0].cont.shape[1]
    P = C + nc
    Q = P + 2 * C + 1
    L = max(gm.lam.size for gm in gms)
    lam = np.zeros((G, L))
    comp = np.zeros((G, L), int)
    ratio = np.zeros((G, L))
    cont = np.zeros((G, nc, K))
    width = np.ones((G, K))
    nx = K + 1 if integ else K
    x = np.empty((G, nx))
    msum = np.full((G, C), np.inf)
    for g, gm in enumerate(gms):
        nl, k = gm.lam.size, gm.width.size
        lam[g, :nl], lam[g, nl:] = gm.lam, gm.lam[0]
        comp[g, :nl] = gm.comp_of
        ratio[g, :nl] = gm.ratio
        cont[g, :, :k] = gm.cont.T
        width[g, :k] = gm.width
        width[g, k:] = gm.width[-1]
        xg = gm.edges if integ else gm.wave
        x[g, :xg.size] = xg
        x[g, xg.size:] = xg[-1] + (xg[-1] - xg[-2]) * np.arange(1, nx - xg.size + 1)
        msum[g, :gm.ncomp] = np.sum(gm.M, axis=0)
    # x of all groups on one increasing axis (group g shifted by g * _xoff)
    xoff = 2.0 * (np.max(x) - np.min(x)) + 1.0
    # line (slot) pieces -> components: R[g, 3 l + kind, kind * C + c]
    R = np.zeros((G, 3 * L, 3 * C))
    for g in range(G):
        for il in range(L):
            if ratio[g, il] != 0:
                for kind in range(3):
                    R[g, 3 * il + kind, kind * C + comp[g, il]] = 1.0
    out = dict(integ=integ, C=C, nc=nc, P=P, Q=Q, L=L, K=K, lam=lam, cont=cont, x=x, msum=msum,
               nlin=np.array([gm.nlin for gm in gms]), ratio=ratio, real=ratio != 0, width=width,
               _xoff=xoff, _xcat=(x + xoff * np.arange(G)[:, None]).ravel(),
               rw=ratio[:, :, None] / width[:, None, :] if integ else None,      # (G, L, K)
               lsf_wave=gms[0].lsf_wave, lsf_um=gms[0].lsf_um, lsf_slope=gms[0].lsf_slope,
               lsf_kms_mean=np.array([gm.lsf_kms_mean for gm in gms]), R=R,
               tpos=np.r_[0:C, P:P + 2 * C], cpos=np.r_[C:P, Q - 1], pairs=np.triu_indices(L, 1),
               rhs=np.r_[Q - 1, P:P + 2 * C])                                   # [y, dT/dv, dT/du] columns
    return cache_frozen(_BATCH_CACHE, _BATCH_CACHE_MAX, key, out)


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
        self.n = n
        self.__dict__.update(_batch_static(gms, Y.shape[1]))
        G, K, nc = len(gms), self.K, self.nc
        self.grp = grp = np.repeat(np.arange(G), n)
        # per row and channel: sqrt(w) and y sqrt(w); per group: the continuum basis
        sw = np.sqrt(W)
        D = np.empty((G * n, nc + 2, K))
        D[:, 0] = sw
        np.multiply(self.cont[grp], sw[:, None, :], out=D[:, 1:nc + 1])
        np.multiply(Y, sw, out=D[:, -1])
        self.D = D
        self.static = D[:, 1:] @ D[:, 1:].transpose(0, 2, 1)             # (N, nc+1, nc+1)

    def _lines(self, rows, v, u):
        """Line centres, widths and the factors turning d/d(mu, s) into d/d(v, u)."""
        gr = self.grp[rows]
        v = v[:, None]
        u = u[:, None]
        lamr = self.lam[gr]
        mu = lamr * (1.0 + v / C_KMS)                                   # (N, L)
        lsf = np.interp(mu, self.lsf_wave, self.lsf_um)
        mc2 = (mu / C_KMS) ** 2
        s2 = mc2 * u + lsf ** 2
        inv_s = 1.0 / np.sqrt(s2)
        s = s2 * inv_s
        fs = np.empty((3,) + mu.shape)
        fs[0] = lamr * (inv_s / C_KMS)
        fs[2] = 0.5 * mc2 * inv_s
        fs[1] = fs[0] * (mu * u / C_KMS ** 2 + lsf * np.interp(mu, self.lsf_wave, self.lsf_slope))
        fs[1:] *= inv_s
        nx = self.x.shape[1]
        # window [k0, k1) of each line: +-_NSIG widths, on the concatenated x of all groups
        off = (self._xoff * gr)[:, None]
        ns = _NSIG * s
        k = np.searchsorted(self._xcat, np.stack([mu - ns + off, mu + ns + off]))
        k -= (nx * gr)[:, None]
        k[0] -= 1
        k[1] += 1
        np.maximum(k, 0, out=k)
        np.minimum(k, nx, out=k)
        return gr, mu, inv_s, fs, k[0], np.max(k[1] - k[0], axis=1)

    def _classes(self, need):
        """Row subsets evaluated together (windows padded to the longest in a subset):
        up to three buckets of window lengths, when that saves work."""
        if need.size < 64:
            return [slice(None)]
        top = int(np.max(need))
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
        t = _windows(self.x, m)[gr, k0]                                  # (n, m) edges/centres
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
            rw = _windows(self.rw, mc)[gr, sl, k0]                       # ratio / width
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
        data = _windows(self.D, mc)[brow, :, k0]                        # (n, nc+2, mc)
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
            wid = _windows(self.width, mc)[gr[pr], kc]
            wid *= data[:, 0] > 0
            Fl[pr, ll] = np.einsum("nj,nj->n", pc[:, 0], wid)
            pc *= data[:, :1]                                           # whitened pieces
            Gs[pr, ll, :, ll, :] = pc @ pc.swapaxes(-1, -2)
            Gc[pr, ll] = pc @ data[:, 1:].swapaxes(-1, -2)
            if L > 1:                                                   # overlapping windows
                pos = np.full((sel.size, L), -1)
                pos[rr, ll] = np.arange(rr.size)
                il, jl = self.pairs                                     # all line pairs il < jl
                a, b = pos[:, il], pos[:, jl]
                d = kc[b] - kc[a]
                ov = (a >= 0) & (b >= 0) & (np.abs(d) < mc)
                if ov.any():
                    r_, p_ = np.nonzero(ov)
                    a, b, d, il, jl = a[r_, p_], b[r_, p_], d[r_, p_], il[p_], jl[p_]
                    # line jl's pieces on line il's channels: shift by d (zeros outside)
                    pad = np.zeros((a.size, 3, 3 * mc))
                    pad[:, :, mc:2 * mc] = pc[b]
                    sh = _windows(pad, mc)[np.arange(a.size), :, mc - d]
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
