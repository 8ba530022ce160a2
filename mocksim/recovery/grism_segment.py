"""Segmentation of grism direct images (:mod:`mocksim.recovery.grism_extract`, step 1).

Pixels above ``max(nsigma x error, rel x peak)``; the region nearest the field centre,
grown by ``grow`` pixels, is the target footprint, the other regions are neighbours.
:func:`_segment_many` does a stack of images at once, each as alone.
"""
from __future__ import annotations

import functools

import numpy as np
from scipy import ndimage


#: 4-connectivity (ndimage's default structure for labels and dilation)
_CROSS = ndimage.generate_binary_structure(2, 1)


@functools.lru_cache(maxsize=16)
def _centre_distance(n: int) -> np.ndarray:
    """``(n, n)`` distance of each pixel from the field centre [pixels] (cached, read-only)."""
    yy, xx = np.mgrid[0:n, 0:n]
    c = (n - 1) / 2.0
    r = np.hypot(yy - c, xx - c)
    r.flags.writeable = False
    return r


def _dilate(mask, iterations, axes=None):
    """``ndimage.binary_dilation`` with the cross structure (nearest neighbours), ``iterations`` times.

    ``axes``: the axes along which to dilate (default: all; e.g. ``(1, 2)`` for a stack of
    images). Outside the array counts as False, as in ndimage (``border_value=0``).
    """
    for _ in range(iterations):
        out = mask.copy()
        for ax in range(mask.ndim) if axes is None else axes:
            pre = (slice(None),) * ax
            out[pre + (slice(1, None),)] |= mask[pre + (slice(None, -1),)]
            out[pre + (slice(None, -1),)] |= mask[pre + (slice(1, None),)]
        mask = out
    return mask


#: 4-connectivity within each image of a stack (none between the images)
_CROSS_STACK = np.stack([np.zeros_like(_CROSS), _CROSS, np.zeros_like(_CROSS)])


def _segment(det, det_err, nsigma, rel, grow):
    """Target footprint and neighbour pixels of one ``(n, n)`` detection image (step 1)."""
    tgt, neigh = _segment_many(det[None], det_err[None], nsigma, rel, grow)
    return tgt[0], neigh[0]


def _segment_many(det, det_err, nsigma, rel, grow):
    """:func:`_segment` of a stack of ``(G, n, n)`` detection images: ``(tgt, neigh)``, each ``(G, n, n)``.

    Labels, dilations and the other steps act on each image alone (connectivity within
    an image only; a region is kept whatever its label number), so each image's result
    is that of its own call.
    """
    g, n = det.shape[:2]
    fin = np.isfinite(det)
    peak = np.zeros(g)                                   # peak of the finite pixels (0: none)
    ok = fin.reshape(g, -1)
    some = ok.any(axis=1)
    if ok[some].all():
        peak[some] = det[some].reshape(-1, n * n).max(axis=1)
    else:
        for i in some.nonzero()[0]:
            peak[i] = np.nanmax(det[i])
    thr = np.maximum(nsigma * det_err, (rel * np.maximum(peak, 0.0)).reshape(g, 1, 1))
    mask = fin & (det > thr)
    lab = np.empty(mask.shape, np.int32)
    ndimage.label(mask, _CROSS_STACK, output=lab)
    r = _centre_distance(n)
    cand = mask & (r <= max(n / 4.0, 3.0))
    has = cand.reshape(g, -1).any(axis=1)
    pick = np.where(cand, det, -np.inf).reshape(g, -1).argmax(axis=1)
    tgt = lab == lab.reshape(g, -1)[np.arange(g), pick].reshape(g, 1, 1)
    if not has.all():
        tgt[~has] = r <= 2.0
    tgt = _dilate(tgt, int(grow), axes=(1, 2))
    neigh = mask & ~tgt
    return tgt, neigh
