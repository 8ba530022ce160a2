"""Figures of the calibration products (matplotlib, Agg backend)."""
from __future__ import annotations

import numpy as np

#: observed 2Re/beam range of the seed-001 sample (Lee et al., Sect. 6)
SEED001_X_RANGE = (1.2, 4.5)


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def running_percentiles(x, y, n_bins=12, q=(16, 50, 84)):
    """Percentiles of ``y`` in bins of ``log x`` (bins with >= 3 points)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    good = np.isfinite(x) & np.isfinite(y) & (x > 0)
    x, y = x[good], y[good]
    if x.size < 3:
        return np.zeros(0), np.zeros((len(q), 0))
    edges = np.geomspace(x.min(), x.max() * (1 + 1e-9), n_bins + 1)
    idx = np.clip(np.searchsorted(edges, x, side="right") - 1, 0, n_bins - 1)
    cen, vals = [], []
    for b in range(n_bins):
        s = idx == b
        if s.sum() >= 3:
            cen.append(np.exp(np.mean(np.log(x[s]))))
            vals.append(np.percentile(y[s], q))
    return np.asarray(cen), np.asarray(vals).T.reshape(len(q), -1)


def correction_figure(path, prods, *, title=None):
    """Seed-001 Fig. 8-like figure: ``f = measured/intrinsic`` vs ``2Re/FWHM``.

    Points per realisation (coloured by ``|gradient|``), running median (black) and
    16-84 % band of all realisations (grey), fitted curves per ``|gradient|`` with
    their 1-sigma band, and the seed-001 sample's observed range (shaded).

    Parameters
    ----------
    path : path
        PNG file to write.
    prods : CalibrationProducts
    """
    plt = _plt()
    pts = prods.points
    fig, ax = plt.subplots(figsize=(6.4, 4.6))
    cen, (p16, p50, p84) = running_percentiles(pts["x"], pts["f"])
    if cen.size:
        ax.fill_between(cen, p16, p84, color="0.85", zorder=0, label="16-84% of realisations")
        ax.plot(cen, p50, color="k", lw=1.5, zorder=3, label="running median")
    grads = np.unique(pts["abs_gradient"])
    cmap = plt.get_cmap("viridis")
    colours = {g: cmap(i / max(len(grads) - 1, 1)) for i, g in enumerate(grads)}
    rng = np.random.default_rng(0)
    for g in grads:
        s = pts["abs_gradient"] == g
        jitter = np.exp(rng.normal(0, 0.02, s.sum()))
        ax.scatter(pts["x"][s] * jitter, pts["f"][s], s=4, alpha=0.25, color=colours[g], lw=0, zorder=1)
    for fit in prods.fits:
        xx = np.geomspace(fit.x_min, fit.x_max, 200)
        col = colours.get(np.round(fit.abs_gradient, 9), "C3")
        y, e = fit(xx), fit.err(xx)
        ax.plot(xx, y, color=col, lw=2, zorder=4, label=rf"fit $|\nabla|$ = {fit.abs_gradient:g} dex/kpc")
        ax.fill_between(xx, y - e, y + e, color=col, alpha=0.25, zorder=2, lw=0)
    ax.axvspan(*SEED001_X_RANGE, color="C1", alpha=0.07, lw=0, zorder=0, label="seed 001 sample range")
    ax.axhline(1.0, color="0.4", ls="--", lw=1)
    ax.set_xscale("log")
    from matplotlib.ticker import FixedLocator, NullFormatter, ScalarFormatter

    ax.xaxis.set_major_locator(FixedLocator([0.3, 0.5, 0.7, 1, 1.5, 2, 3, 5, 7, 10, 15, 20]))
    ax.xaxis.set_major_formatter(ScalarFormatter())
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel(r"$2R_e$ / beam FWHM")
    ax.set_ylabel(r"$\nabla_{\rm meas} / \nabla_{\rm intr}$")
    lo = np.nanpercentile(pts["f"], 1) if pts["f"].size else 0
    hi = np.nanpercentile(pts["f"], 99) if pts["f"].size else 1.2
    ax.set_ylim(min(-0.1, lo - 0.05), max(1.3, hi + 0.05))
    ax.set_title(title or f"{prods.meta.get('scenario_name', '')}: beam-smearing correction")
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=130, format="png")
    plt.close(fig)


def stacking_bias_figure(path, prop, bias, fit, *, bias_err=None, xlabel="property", title=None):
    """Stacking bias (stacked minus population-median gradient) vs a population property.

    Parameters
    ----------
    path : path
        PNG file.
    prop, bias : array_like
        Property values and biases [dex/kpc].
    fit : PropertyBiasFit
        From :func:`mocksim.calibration.curves.fit_property_bias`.
    """
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.0, 4.2))
    prop, bias = np.asarray(prop, float), np.asarray(bias, float)
    if bias_err is None:
        ax.scatter(prop, bias, s=6, alpha=0.4, color="C0", lw=0, label="stacks")
    else:
        ax.errorbar(prop, bias, yerr=bias_err, fmt="o", ms=3, alpha=0.6, color="C0", label="stacks")
    b = fit.bins
    if b["center"].size:
        ax.fill_between(b["center"], b["p16"], b["p84"], color="0.85", zorder=0)
        ax.plot(b["center"], b["median"], color="k", lw=1.5, label="running median")
    xx = np.linspace(np.nanmin(prop), np.nanmax(prop), 200)
    ax.plot(xx, fit(xx), color="C3", lw=2, label=f"polynomial fit (degree {fit.degree})")
    if len(fit.boot):
        lo, hi = fit.band(xx)
        ax.fill_between(xx, lo, hi, color="C3", alpha=0.2, lw=0)
    ax.axhline(0, color="0.4", ls="--", lw=1)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(r"stacked $-$ median gradient [dex/kpc]")
    ax.set_title(title or "stacking bias")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=130, format="png")
    plt.close(fig)
