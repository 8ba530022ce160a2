"""Overview figure of a run: line maps, true metallicity maps and radial profiles."""
from __future__ import annotations

import numpy as np

from ..io_utils import atomic_path


def overview_figure(path, outputs, scn) -> None:
    """One row per galaxy: [OIII]5007 map, true 12+log(O/H) map, profile with fits."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = max(len(outputs), 1)
    fig, axes = plt.subplots(n, 3, figsize=(12, 3.6 * n), squeeze=False)
    for row, o in zip(axes, outputs):
        rec = o.recovery
        p = o.params
        if rec.line_maps is not None:
            m = rec.line_maps.flux["OIII5007"]
            im = row[0].imshow(m, origin="lower", cmap="magma")
            fig.colorbar(im, ax=row[0], label="[OIII]5007 flux [erg s$^{-1}$ cm$^{-2}$]")
            row[0].plot(*rec.geometry.center_xy, "c+", ms=10)
        row[0].set_title(f"galaxy {o.index}: recovered [OIII]5007 map")
        if o.scene is not None:
            z = np.ma.masked_where(o.scene.truth["hbeta_intrinsic_map"] <= 0, o.scene.truth["log_oh_map"])
            im = row[1].imshow(z, origin="lower", cmap="viridis")
            fig.colorbar(im, ax=row[1], label="true 12+log(O/H)")
        row[1].set_title(f"z={p['redshift']:.2f}, Re={p['re_kpc']:.2f} kpc")
        ax = row[2]
        r = rec.radius_kpc
        used = rec.used
        yerr = np.vstack([rec.log_oh - rec.log_oh_lo, rec.log_oh_hi - rec.log_oh])
        ax.errorbar(r[used], rec.log_oh[used], yerr=yerr[:, used], fmt="ko", label="recovered bins")
        if (~used).any():
            ax.plot(r[~used], rec.log_oh[~used], "x", color="0.6", label="rejected bins")
        rr = np.linspace(0, max(r.max() if r.size else 1.0, 0.1), 50)
        ax.plot(rr, p["log_oh_center"] + p["gradient_dex_per_kpc"] * rr, "g-",
                label=f"truth {p['gradient_dex_per_kpc']:+.3f} dex/kpc")
        if np.isfinite(rec.gradient):
            ax.plot(rr, rec.log_oh_center + rec.gradient * rr, "r--",
                    label=f"linear {rec.gradient:+.3f}±{rec.gradient_err:.3f}")
        f = rec.forward
        if f is not None and np.isfinite(f.gradient):
            ax.plot(rr, f.log_oh_center + f.gradient * rr, "b:",
                    label=f"forward {f.gradient:+.3f}±{f.gradient_err:.3f}")
        ax.set_xlabel("radius [kpc]")
        ax.set_ylabel("12+log(O/H)")
        ax.legend(fontsize=8)
    fig.suptitle(f"{scn.name} ({scn.instrument['name']}, psf={scn.instrument.get('psf')}, "
                 f"{scn.recovery['calibration']})")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=90, format="png")
    plt.close(fig)
