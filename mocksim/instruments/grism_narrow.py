"""Dispersion of lines narrower than the FFT deposit allows (``s < MIN_FAST_SIGMA``).

Low-resolution grisms (NIRISS, R ~ 150) resolve no velocity structure: their lines are a
fraction of a fine pixel wide, too narrow for the Lagrange deposit of
:mod:`~.grism_disperse` (whose line spectrum must vanish at the fine Nyquist frequency).
Their profiles are integrated exactly instead (:func:`profile_image`, the same model
``H_s = box * box * N(0, s)``); the PSF convolution and the block sum to detector
pixels then run as on the fast path: the PSF spectrum cached per kernel and FFT grid,
the block sum folded into the spectrum and the inverse FFT on the detector grid
(:func:`disperse_narrow`). :func:`~.grism_disperse.disperse_line_exact` (the reference)
convolves the same profile image directly.
"""
from __future__ import annotations

import numpy as np

from .fftconv import SpectrumCache, block_sum, convolve_sum_block_many
from .grism_config import _psi
#: |t| beyond which psi(t) = t Phi(t) + phi(t) is taken as max(t, 0): the difference,
#: ~phi(t) / t^2, is < 1e-19 there (below double precision of the O(1) values used).
PSI_TAIL = 9.0


def profile_image(idx, w, mu_off, sig_px, nfine: int, n_disp: int, os_: int, hk: int, grism: str):
    """Fine dispersed image of one line before the PSF, from exact profile integrals.

    Parameters
    ----------
    idx, w, mu_off, sig_px, nfine, n_disp, os_, grism
        As :func:`~.grism_disperse.disperse_line_exact`.
    hk : int
        Half-width of the PSF kernel along the dispersion [fine pixels]: margin left on
        both sides of the window (0 without a PSF).

    Returns
    -------
    (ndarray, int) or None
        ``(img, lo)``: the ``(nfine, win)`` image [flux per fine pixel] of fine dispersed
        columns ``lo .. lo + win - 1`` (``lo`` and ``win`` multiples of ``os_``); None if
        nothing lands on the cutout.
    """
    rows, cols = np.divmod(idx, nfine)
    cross, along = (rows, cols) if grism == "R" else (cols, rows)
    xf = along + mu_off * os_                      # fine dispersed coordinate
    sf = np.maximum(sig_px * os_, 1e-4)            # Gaussian sigma [fine columns]
    half = int(np.ceil(6.0 * float(sf.max()))) + 2
    lo = max(int(np.floor(xf.min())) - half - hk, 0) // os_ * os_
    hi = min(-(-(int(np.ceil(xf.max())) + half + hk + 1) // os_) * os_, n_disp * os_)
    if hi <= lo:
        return None
    win = hi - lo
    base = np.floor(xf).astype(int)
    # Fraction of each pixel's (box x Gaussian) profile in columns base + k, k = -half..half:
    # differences of the CDF at the column edges, cdf(u) = s (psi((u + 1/2)/s) - psi((u - 1/2)/s))
    # (:func:`~.grism_config.box_gauss_cdf`), psi evaluated once per point base + j - xf,
    # j = -half-1..half+1, and shared by neighbouring edges.
    offs = np.arange(-half - 1, half + 2, dtype=float)
    ks = np.arange(-half, half + 1)
    frac = xf - base
    ws = w * sf
    row0 = cross * win + (base - lo)               # flat index of column base of each pixel
    clip = int(base.min()) - half < lo or int(base.max()) + half >= hi
    step = max(1, (1 << 16) // offs.size)
    bins, wts = [], []
    for a in range(0, base.size, step):            # cache-sized chunks of pixels
        sl = slice(a, a + step)
        t = (offs - frac[sl, None]) / sf[sl, None]
        # psi(t) = t Phi(t) + phi(t); beyond |t| = PSI_TAIL it is max(t, 0) to < 1e-19, so
        # only the points some pixel of the chunk has inside are evaluated (all for s >~ 1)
        reach = PSI_TAIL * float(sf[sl].max())
        j0, j1 = np.searchsorted(offs, (-reach, 1.0 + reach))
        if j1 - j0 < offs.size:
            p = np.maximum(t, 0.0)
            p[:, j0:j1] = _psi(t[:, j0:j1])
        else:
            p = _psi(t)
        d = p[:, 1:] - p[:, :-1]                   # cdf / s at the edges
        wk = (d[:, 1:] - d[:, :-1]) * ws[sl, None]
        ix = row0[sl, None] + ks
        if clip:
            ok = (ix >= cross[sl, None] * win) & (ix < (cross[sl, None] + 1) * win)
            ix, wk = ix[ok], wk[ok]
        bins.append(ix.ravel())
        wts.append(wk.ravel())
    flat = np.bincount(np.concatenate(bins), weights=np.concatenate(wts), minlength=nfine * win)
    return flat.reshape(nfine, win), lo


def disperse_narrow(job, nfine: int, n_disp: int, os_: int, kd, kern_key, cache: SpectrumCache,
                    grism: str, single: bool = False) -> list:
    """One narrow line: exact profiles, then PSF and block sum in Fourier space.

    ``job``: ``(idx, w, mu_off, sig_px)`` as :func:`~.grism_disperse.disperse_line_exact`;
    ``kd``: PSF kernel in the dispersion frame (or None) and ``kern_key`` its name (the
    :class:`~.fftconv.SpectrumCache` key with its shape); ``single``: FFTs and products in single
    precision (float64 results). Returns ``[(coarse, col0)]`` as the reference does,
    equal to it to round-off (``tests/test_grism_narrow.py``).
    """
    prof = profile_image(*job, nfine, n_disp, os_, 0 if kd is None else kd.shape[1] // 2, grism)
    if prof is None:
        return []
    img, lo = prof
    if kd is None:
        return [(block_sum(img, os_), lo // os_)]
    # the profile image carries a kernel half-width of margin: its "same" convolution is complete
    return [(convolve_sum_block_many([[(img, kd, kern_key)]], cache, os_, single)[0], lo // os_)]
