"""Figure of a stacked gradient in the style of seed 000 Figure 18.

Grey lines: the true profiles of the individual galaxies, each 2 R_e long;
black points: 12+log(O/H) of the stacked annuli with 1-sigma error bars (open
symbols: annuli not used in the fit); red dashed line: the linear fit, red band:
its 1-sigma confidence interval. A first panel shows the stacked [OIII] map with
the annuli. Bins (``result.bins``) get one gradient panel each.
"""
from __future__ import annotations

import numpy as np

from ..io_utils import atomic_path

__all__ = ["stack_figure"]


def _gradient_panel(ax, res, title, max_lines=400):
    t = res.truth
    if "gradient" in t and "re_kpc" in t:
        g, re = np.asarray(t["gradient"]), np.asarray(t["re_kpc"])
        z0 = np.asarray(t["log_oh_center"]) if "log_oh_center" in t else np.full(g.size, res.intercept)
        for k in range(min(g.size, max_lines)):
            r = np.array([0.0, 2.0 * re[k]])
            ax.plot(r, z0[k] + g[k] * r, color="0.6", lw=0.6, alpha=0.5, zorder=1)
    if res.radius_kpc.size:
        err = np.vstack([res.log_oh - res.log_oh_lo, res.log_oh_hi - res.log_oh])
        u = res.used
        ax.errorbar(res.radius_kpc[u], res.log_oh[u], yerr=err[:, u], fmt="o", color="k", zorder=3,
                    label="stack")
        if (~u).any():
            ax.errorbar(res.radius_kpc[~u], res.log_oh[~u], yerr=err[:, ~u], fmt="o", mfc="none",
                        color="k", zorder=3, label="not fitted")
    if np.isfinite(res.gradient):
        rmax = float(np.nanmax(res.radius_kpc)) * 1.1 if res.radius_kpc.size else 1.0
        r = np.linspace(0.0, rmax, 100)
        c = np.asarray(res.cov)
        sig = np.sqrt(np.clip(c[0, 0] + 2 * r * c[0, 1] + r * r * c[1, 1], 0, None))
        y = res.intercept + res.gradient * r
        ax.plot(r, y, "r--", zorder=4,
                label=f"fit {res.gradient:+.2f} ± {res.gradient_err:.2f} dex/kpc")
        ax.fill_between(r, y - sig, y + sig, color="r", alpha=0.25, lw=0, zorder=2)
    sub = f"N = {res.n_galaxies}"
    if np.isfinite(res.median_true_gradient):
        sub += f", median true {res.median_true_gradient:+.2f} dex/kpc"
    ax.set_title(f"{title}\n{sub}", fontsize=9)
    ax.set_xlabel("radius [kpc]")
    ax.set_ylabel("12 + log(O/H)")
    ax.legend(fontsize=7, loc="best")


def stack_figure(path, result, *, title: str | None = None, line: str = "OIII5007") -> None:
    """Write a PNG with the stacked map and the stacked gradient(s).

    Parameters
    ----------
    path : str or Path
        Output file; written atomically (complete or not at all).
    result : StackResult
    title : str, optional
    line : str
        Stacked map shown in the first panel.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    bins = [(k, v) for k, v in (result.bins or {}).items() if v is not None]
    npan = 2 + len(bins)
    fig, axes = plt.subplots(1, npan, figsize=(4.2 * npan, 4.0), squeeze=False)
    axes = axes[0]
    ax = axes[0]
    img = result.maps.get(line)
    if img is not None:
        h = (img.shape[0] - 1) / 2.0
        ext = np.array([-h - 0.5, h + 0.5]) * result.pixscale
        im = ax.imshow(img, origin="lower", extent=[*ext, *ext], cmap="magma")
        fig.colorbar(im, ax=ax, fraction=0.046)
        for r in result.r_edges[1:]:
            ax.add_patch(plt.Circle((0, 0), r, fill=False, ls="--", color="w", lw=0.8))
        unit = "R_e" if result.units == "re" else "arcsec"
        ax.set_xlabel(f"x [{unit}]")
        ax.set_ylabel(f"y [{unit}]")
        ax.set_title(f"{result.config.method if result.config else ''} stack: {line}", fontsize=9)
    _gradient_panel(axes[1], result, title or "all galaxies")
    for ax, (label, res) in zip(axes[2:], bins):
        _gradient_panel(ax, res, label)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
