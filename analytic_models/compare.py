"""Model-versus-observation comparison: chi^2 tables and a Figure-7-style plot.

A *gradient model* is a :class:`GradientModel`: a name, a callable
``func(z, log_mstar) -> gradient [dex/kpc]`` and the redshift range where it
applies.  Observations are rows of
:func:`analytic_models.observations.load_gradient_compilation`.

chi^2 uses asymmetric errors the usual way: the upper error when the model
lies above the measurement, the lower error otherwise.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Callable, Tuple

import numpy as np
from scipy.stats import chi2 as chi2_dist

from .erb08 import closed_box_metallicity, equilibrium_gas_fraction, erb08_metallicity, Z_SUN_MASS
from .evolution import MZGR_RELATIONS, PUBLISHED_GAMMA, double_power_law, mass_gradient_relation
from .ffb import EPS_RANGE, OH_SUN, FFBModel, stack_fit_range_kpc
from .observations import load_gradient_compilation, load_li2025_stacks


@dataclass(frozen=True)
class GradientModel:
    """A metallicity-gradient prediction.

    Attributes
    ----------
    name : str
        Label used in tables and plots.
    func : callable
        ``func(z, log_mstar)`` returning the gradient [dex/kpc] (scalars).
    z_range : (float, float)
        Redshifts where the model is compared with data.
    needs_mass : bool
        Rows without a stellar mass are skipped if True.
    """

    name: str
    func: Callable[[float, float], float] = field(compare=False)
    z_range: Tuple[float, float] = (0.0, 20.0)
    needs_mass: bool = False


def ffb_gradient_model(eps, z_range=(5.0, 10.0), **ffb_kwargs):
    """FFB model gradient (log-normal-R_e averaged, stack fit range) at each z."""

    @lru_cache(maxsize=512)
    def _grad(z_rounded):
        return FFBModel(z=z_rounded, eps=eps, **ffb_kwargs).gradient()

    return GradientModel(f"FFB eps={eps:g}", lambda z, logm: _grad(round(float(z), 2)), z_range)


def double_power_law_model(gamma=PUBLISHED_GAMMA, z_range=(0.0, 10.0)):
    """Seed 000 Eq. 3 with the published parameters (offset added, see evolution)."""
    return GradientModel("double power law", lambda z, logm: float(double_power_law(z, gamma)), z_range)


def mzgr_model(relation="5<=z<=9", z_range=(5.0, 9.0)):
    """Seed 000 Eq. 4 mass-gradient relation."""
    if relation not in MZGR_RELATIONS:
        raise KeyError(relation)
    return GradientModel(f"MZGR {relation}", lambda z, logm: float(mass_gradient_relation(logm, relation)),
                         z_range, needs_mass=True)


def default_models():
    """FFB at eps = 0.05 and 0.2, the published double power law and the z > 5 MZGR."""
    return [ffb_gradient_model(EPS_RANGE[0]), ffb_gradient_model(EPS_RANGE[1]),
            double_power_law_model(), mzgr_model()]


def chi2_gradient(model_grad, obs_grad, err_plus, err_minus=None):
    """chi^2 of model gradients against measurements with (asymmetric) errors.

    Parameters
    ----------
    model_grad, obs_grad : array_like
        Model and observed gradients [dex/kpc].
    err_plus : array_like
        Upper 1-sigma errors (used where model > observation).
    err_minus : array_like, optional
        Lower 1-sigma errors; default ``err_plus``.

    Returns
    -------
    float
        Sum of squared normalised residuals.
    """
    m = np.asarray(model_grad, dtype=float)
    o = np.asarray(obs_grad, dtype=float)
    ep = np.asarray(err_plus, dtype=float)
    em = ep if err_minus is None else np.asarray(err_minus, dtype=float)
    sig = np.where(m > o, ep, em)
    return float(np.sum(((m - o) / sig) ** 2))


def chi2_table(models=None, observations=None):
    """chi^2 of every model against every dataset.

    Parameters
    ----------
    models : list of GradientModel, optional
        Default :func:`default_models`.
    observations : astropy.table.Table, optional
        Default :func:`load_gradient_compilation`.

    Returns
    -------
    list of dict
        One dict per (model, dataset) pair with at least one usable row:
        ``model``, ``dataset``, ``n``, ``chi2``, ``chi2_per_point`` and
        ``p_value`` (chi^2 survival function with n degrees of freedom, as no
        parameter is fitted).
    """
    models = default_models() if models is None else models
    obs = load_gradient_compilation() if observations is None else observations
    rows = []
    for model in models:
        for ds in dict.fromkeys(obs["dataset"]):
            t = obs[obs["dataset"] == ds]
            use = (np.asarray(t["z"]) >= model.z_range[0]) & (np.asarray(t["z"]) <= model.z_range[1])
            use &= np.isfinite(np.asarray(t["grad"], dtype=float))
            if model.needs_mass:
                use &= np.isfinite(np.asarray(t["log_mstar"], dtype=float))
            if not use.any():
                continue
            t = t[use]
            pred = np.array([model.func(z, m) for z, m in zip(t["z"], t["log_mstar"])])
            c2 = chi2_gradient(pred, t["grad"], t["grad_err_plus"], t["grad_err_minus"])
            n = len(t)
            rows.append(dict(model=model.name, dataset=str(ds), n=n, chi2=c2, chi2_per_point=c2 / n,
                             p_value=float(chi2_dist.sf(c2, n))))
    return rows


def plot_figure7(path, z_models=(6.0, 8.0), eps_range=EPS_RANGE, f_i_values=(1.0, 2.0, 4.0),
                 f_o_values=(1.0, 2.0, 4.0), models=None, observations=None, z_grid=None):
    """Figure-7-style comparison of the analytic models with the shipped data.

    Panels: (a) Z/Z_sun against gas fraction for Erb08 (pure inflow, pure
    outflow, closed box) and the projected FFB profiles at z = 8 (band over
    eps); (b) FFB projected 12+log(O/H) profiles at z = 6 and 8 relative to
    R = 0, with the seed-000 stack slopes (Table 1, +-1 sigma) drawn from the
    origin; (c) gradient against redshift: FFB bands, the published double
    power law and all shipped measurements.

    Parameters
    ----------
    path : str or Path
        Output PNG file.
    z_models : (float, float)
        Redshifts of the FFB profiles (seed: 6 and 8).
    eps_range : (float, float)
        Star-formation efficiencies bounding the FFB bands.
    f_i_values, f_o_values : sequence of float
        Erb08 inflow / outflow rates (units of SFR) to draw.
    models, observations
        Passed to :func:`chi2_table`.
    z_grid : array_like, optional
        Redshifts for the FFB gradient band in panel (c).

    Returns
    -------
    list of dict
        The chi^2 table of :func:`chi2_table`.
    """
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    obs = load_gradient_compilation() if observations is None else observations
    fig, axes = plt.subplots(1, 3, figsize=(16, 5))

    # (a) metallicity vs gas fraction
    ax = axes[0]
    mu = np.linspace(0.02, 0.999, 300)
    ax.plot(mu, closed_box_metallicity(mu) / Z_SUN_MASS, "k-", label="closed box")
    for f_i in f_i_values:
        mm = mu[mu > equilibrium_gas_fraction(f_i)]
        ax.plot(mm, erb08_metallicity(mm, f_i=f_i) / Z_SUN_MASS, "--", label=f"Erb08 $f_i$={f_i:g}")
    for f_o in f_o_values:
        ax.plot(mu, erb08_metallicity(mu, f_o=f_o) / Z_SUN_MASS, ":", label=f"Erb08 $f_o$={f_o:g}")
    R = np.linspace(0.0, 3.0, 40)
    z_a = max(z_models)
    for eps in eps_range:
        m = FFBModel(z=z_a, eps=eps)
        fg = m.averaged_profile(R, quantity="fgas")
        zz = 10 ** (m.averaged_profile(R) - OH_SUN)
        ax.plot(fg, zz, "r-", lw=2, alpha=0.7, label=f"FFB z={z_a:g} eps={eps:g}")
    ax.set_yscale("log")
    ax.set_xlabel("gas fraction")
    ax.set_ylabel(r"$Z/Z_\odot$")
    ax.set_title("(a) Erb08 and FFB")
    ax.legend(fontsize=7)

    # (b) FFB projected profiles vs stack slopes
    ax = axes[1]
    stacks = load_li2025_stacks()
    colors = ("tab:blue", "tab:red")
    for z, col, row in zip(z_models, colors, stacks):
        R = np.linspace(*stack_fit_range_kpc(z), 40)
        prof = [FFBModel(z=z, eps=e).averaged_profile(R) for e in eps_range]
        prof = [p - p[0] for p in prof]
        ax.fill_between(R, np.minimum(*prof), np.maximum(*prof), color=col, alpha=0.3, label=f"FFB z={z:g}")
        g, e = row["grad"], row["grad_err"]
        ax.plot(R, g * R, color=col, ls="--", label=f"{row['survey']} stack {g:+.2f}")
        ax.fill_between(R, (g - e) * R, (g + e) * R, color=col, alpha=0.1)
    ax.set_xlabel("R [kpc]")
    ax.set_ylabel(r"$\Delta\,\log({\rm O/H})$ relative to R = 0 [dex]")
    ax.set_title("(b) FFB profiles vs stacks")
    ax.legend(fontsize=7)

    # (c) gradient vs redshift
    ax = axes[2]
    zg = np.linspace(5.0, 9.5, 10) if z_grid is None else np.asarray(z_grid)
    band = np.array([[FFBModel(z=z, eps=e).gradient() for z in zg] for e in eps_range])
    ax.fill_between(zg, band.min(0), band.max(0), color="tab:purple", alpha=0.3, label="FFB eps=0.05-0.2")
    zz = np.linspace(0, 10, 200)
    ax.plot(zz, double_power_law(zz), "darkred", label="double power law (seed 000)")
    for ds, mk in zip(dict.fromkeys(obs["dataset"]), "s^ovD"):
        t = obs[obs["dataset"] == ds]
        ax.errorbar(t["z"], t["grad"], yerr=[t["grad_err_minus"], t["grad_err_plus"]], fmt=mk, ms=4,
                    alpha=0.7, label=ds)
    ax.axhline(0, color="0.5", lw=0.5)
    ax.set_xlabel("z")
    ax.set_ylabel("gradient [dex/kpc]")
    ax.set_title("(c) gradient vs redshift")
    ax.legend(fontsize=7)

    table = chi2_table(models, obs)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return table
