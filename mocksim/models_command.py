"""``mocksim models``: the analytic models of :mod:`analytic_models` from the command line."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .errors import MocksimInputError
from .io_utils import atomic_path


def add_models_parser(sub) -> None:
    """Register ``mocksim models {ffb,erb08,evolution,compare}``."""
    m = sub.add_parser("models", help="analytic metallicity models (FFB, Erb08, gradient evolution)",
                       description="Evaluate the analytic models of seed 000 (FFB, Erb 2008 gas regulator, "
                                   "double-power-law gradient evolution) and compare them with observations.")
    msub = m.add_subparsers(dest="model", metavar="MODEL")

    f = msub.add_parser("ffb", help="feedback-free starburst Z_ism, eta, profiles and gradient")
    f.add_argument("--z", type=float, required=True, help="redshift")
    f.add_argument("--eps", type=float, nargs="+", default=[0.05, 0.1, 0.2], help="star-formation efficiencies")
    f.add_argument("--re-kpc", type=float, default=None, help="effective radius [kpc] (default: seed-000 median)")
    f.add_argument("--z-in", type=float, default=0.01, help="inflow metallicity [Z_sun]")
    f.add_argument("--z-sn", type=float, default=3.0, help="SN ejecta metallicity [Z_sun]")
    f.add_argument("--f-sn", type=float, default=0.2, help="SN ejecta mass fraction")
    f.add_argument("--f-out", type=float, default=0.95, help="outflow fraction eta/eta_max")
    f.add_argument("--json", action="store_true", help="print one JSON object")
    f.add_argument("--plot", default=None, help="figure path (default outputs/models/ffb_z<Z>.png)")
    f.set_defaults(func=cmd_ffb)

    e = msub.add_parser("erb08", help="Erb (2008) gas regulator: Z vs gas fraction")
    e.add_argument("--f-i", type=float, nargs="+", default=[0.0, 1.0, 2.0], help="inflow rates [SFR]")
    e.add_argument("--f-o", type=float, nargs="+", default=[0.0, 1.0, 2.0], help="outflow rates [SFR]")
    e.add_argument("--y", type=float, default=0.019, help="yield (UNVERIFIED Erb 2008 value 0.019)")
    e.add_argument("--json", action="store_true", help="print one JSON object")
    e.add_argument("--plot", default=None, help="figure path (default outputs/models/erb08.png)")
    e.set_defaults(func=cmd_erb08)

    v = msub.add_parser("evolution", help="double-power-law gradient(z) (seed 000 Eq. 3) and its emcee fit")
    v.add_argument("--fit", default=None, metavar="DATA",
                   help="CSV/ECSV with columns z, grad, grad_err (or 'shipped' for the shipped compilation)")
    v.add_argument("--steps", type=int, default=5000, help="emcee steps (seed: 5000)")
    v.add_argument("--burn", type=int, default=1000, help="burn-in steps (seed: 1000)")
    v.add_argument("--walkers", type=int, default=32, help="walkers (seed: 32)")
    v.add_argument("--seed", type=int, default=2025, help="random seed")
    v.add_argument("--json", action="store_true", help="print one JSON object")
    v.set_defaults(func=cmd_evolution)

    c = msub.add_parser("compare", help="seed-000-Figure-7-style comparison with the shipped observations")
    c.add_argument("--out", default="outputs/models/compare.png", help="figure path")
    c.add_argument("--json", action="store_true", help="print the chi2 table as JSON")
    c.set_defaults(func=cmd_compare)
    from .models_observe import add_observe_parser

    add_observe_parser(msub)
    m.set_defaults(func=lambda a: (m.print_help(), 0)[1])


def _check(name, value, lo, hi):
    if not (np.isfinite(value) and lo <= value <= hi):
        raise MocksimInputError(f"{name}: {value!r} is outside the allowed range [{lo:g}, {hi:g}]")


def cmd_ffb(args) -> int:
    from analytic_models import FFBModel, median_re_kpc

    _check("--z", args.z, 0.5, 20.0)
    for eps in args.eps:
        _check("--eps", eps, 1e-3, 0.999)
    _check("--f-out", args.f_out, 0.0, 1.0)
    _check("--f-sn", args.f_sn, 0.0, 1.0)
    re = args.re_kpc if args.re_kpc is not None else float(median_re_kpc(args.z))
    _check("--re-kpc", re, 1e-3, 50.0)
    radii = np.linspace(0.0, 3.0 * re, 31)
    rows = []
    for eps in args.eps:
        mod = FFBModel(z=args.z, eps=eps, re_kpc=re, z_in=args.z_in, z_sn=args.z_sn, f_sn=args.f_sn,
                       f_out=args.f_out)
        rows.append({"eps": eps, "z_ism_zsun": float(mod.z_ism), "eta": float(mod.eta),
                     "eta_max": float(mod.eta_max), "sfr_msun_yr": float(mod.sfr),
                     "log_mh": float(mod.halo_log_mass), "gradient_dex_per_kpc": float(mod.gradient(averaged=False)),
                     "gradient_averaged_dex_per_kpc": float(mod.gradient(averaged=True)),
                     "profile_12logoh": [float(v) for v in mod.profile(radii)],
                     "gas_fraction": [float(v) for v in mod.gas_fraction(radii)]})
    plot = Path(args.plot or f"outputs/models/ffb_z{args.z:g}.png")
    _plot_profiles(plot, radii, rows, f"FFB model, z = {args.z:g}, Re = {re:.2f} kpc")
    out = {"model": "ffb", "z": args.z, "re_kpc": re, "radius_kpc": [float(r) for r in radii],
           "eps": [r["eps"] for r in rows], "z_ism_zsun": [r["z_ism_zsun"] for r in rows],
           "eta": [r["eta"] for r in rows], "models": rows, "figure": str(plot)}
    if args.json:
        print(json.dumps(out))
        return 0
    print(f"FFB steady state at z = {args.z:g} (Re = {re:.2f} kpc; Z_in = {args.z_in} Z_sun, "
          f"Z_sn = {args.z_sn} Z_sun, f_sn = {args.f_sn}, f_out = {args.f_out})")
    print(f"{'eps':>6} {'Z_ism/Z_sun':>12} {'eta':>7} {'eta_max':>8} {'log Mh':>7} {'grad':>8} {'grad<Re>':>9}")
    for r in rows:
        print(f"{r['eps']:6.3f} {r['z_ism_zsun']:12.3f} {r['eta']:7.2f} {r['eta_max']:8.2f} {r['log_mh']:7.2f} "
              f"{r['gradient_dex_per_kpc']:+8.3f} {r['gradient_averaged_dex_per_kpc']:+9.3f}")
    print(f"gradients in dex/kpc (intrinsic, projected); figure: {plot}")
    return 0


def _plot_profiles(path, radii, rows, title):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
    for r in rows:
        a.plot(radii, r["profile_12logoh"], label=f"ε = {r['eps']:g}")
        b.plot(radii, r["gas_fraction"], label=f"ε = {r['eps']:g}")
    a.set_xlabel("projected radius [kpc]")
    a.set_ylabel("12+log(O/H)")
    b.set_xlabel("projected radius [kpc]")
    b.set_ylabel("gas fraction")
    a.legend()
    fig.suptitle(title)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=90)
    plt.close(fig)


def cmd_erb08(args) -> int:
    from analytic_models import closed_box_metallicity, erb08_metallicity

    _check("--y", args.y, 1e-4, 0.2)
    mu = np.linspace(0.05, 0.95, 19)
    curves = {"closed_box": closed_box_metallicity(mu, y=args.y)}
    for fi in args.f_i:
        _check("--f-i", fi, 0.0, 100.0)
        if fi > 0:
            curves[f"inflow_fi{fi:g}"] = erb08_metallicity(mu, f_i=fi, y=args.y)
    for fo in args.f_o:
        _check("--f-o", fo, 0.0, 100.0)
        if fo > 0:
            curves[f"outflow_fo{fo:g}"] = erb08_metallicity(mu, f_o=fo, y=args.y)
    plot = Path(args.plot or "outputs/models/erb08.png")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 4))
    for k, v in curves.items():
        ax.plot(mu, np.asarray(v) / args.y, label=k)
    ax.set_xlabel("gas fraction μ")
    ax.set_ylabel("Z / y")
    ax.legend(fontsize=8)
    with atomic_path(plot) as tmp:
        fig.savefig(tmp, format="png", dpi=90)
    plt.close(fig)
    out = {"model": "erb08", "y": args.y, "mu": mu.tolist(),
           "z": {k: [None if not np.isfinite(x) else float(x) for x in v] for k, v in curves.items()},
           "figure": str(plot)}
    if args.json:
        print(json.dumps(out))
        return 0
    names = list(curves)
    print("Erb (2008) gas regulator, metal mass fraction Z vs gas fraction (NaN: below equilibrium μ)")
    print(f"{'mu':>5} " + " ".join(f"{n:>14}" for n in names))
    for i, m in enumerate(mu):
        print(f"{m:5.2f} " + " ".join(f"{curves[n][i]:14.5f}" for n in names))
    print(f"figure: {plot}")
    return 0


def _read_gradient_table(spec):
    if spec == "shipped":
        from analytic_models import load_gradient_compilation

        t = load_gradient_compilation()
        return (np.asarray(t["z"], float), np.asarray(t["grad"], float),
                0.5 * (np.asarray(t["grad_err_plus"], float) + np.asarray(t["grad_err_minus"], float)))
    from astropy.table import Table

    path = Path(spec)
    if not path.is_file():
        raise MocksimInputError(f"--fit: file not found: {path}")
    try:
        t = Table.read(path, format="ascii.ecsv" if path.suffix == ".ecsv" else "ascii.csv")
    except Exception as exc:  # noqa: BLE001 - astropy raises many kinds
        raise MocksimInputError(f"--fit: cannot read {path}: {exc}") from None
    for col in ("z", "grad", "grad_err"):
        if col not in t.colnames:
            raise MocksimInputError(f"--fit: {path} lacks column {col!r} (needs z, grad, grad_err)")
    z, g, e = (np.asarray(t[c], float) for c in ("z", "grad", "grad_err"))
    ok = np.isfinite(z) & np.isfinite(g) & np.isfinite(e)
    if (e[ok] <= 0).any():
        raise MocksimInputError(f"--fit: {path}: grad_err must be > 0")
    return z[ok], g[ok], e[ok]


def cmd_evolution(args) -> int:
    from analytic_models import (PUBLISHED_GAMMA, PUBLISHED_GAMMA_ERR_MINUS, PUBLISHED_GAMMA_ERR_PLUS,
                                 double_power_law, fit_double_power_law)

    zz = np.array([0.0, 1.0, 2.0, 3.0, 5.0, 6.0, 7.0, 8.0, 9.0])
    out = {"model": "double_power_law", "published_gamma": list(PUBLISHED_GAMMA),
           "published_err_plus": list(PUBLISHED_GAMMA_ERR_PLUS),
           "published_err_minus": list(PUBLISHED_GAMMA_ERR_MINUS),
           "z": zz.tolist(), "published_gradient": [float(v) for v in double_power_law(zz)]}
    if args.fit:
        if not (args.walkers >= 12 and 0 <= args.burn < args.steps):
            raise MocksimInputError("--walkers must be >= 12 and 0 <= --burn < --steps")
        z, g, e = _read_gradient_table(args.fit)
        fit = fit_double_power_law(z, g, e, n_walkers=args.walkers, n_steps=args.steps, n_burn=args.burn,
                                   seed=args.seed)
        out.update({"n_points": int(len(z)), "gamma": fit.median.tolist(), "gamma_p16": fit.p16.tolist(),
                    "gamma_p84": fit.p84.tolist(), "fit_gradient": [float(v) for v in fit.predict(zz)[1]]})
    if args.json:
        print(json.dumps(out))
        return 0
    print("seed 000 Eq. 3: grad(z) = g0 (1+z)^g1 / [1 + ((1+z)/g2)^g3] + g4 (sign of g4 as in Table 1)")
    names = ["g0", "g1", "g2", "g3", "g4"]
    for i, n in enumerate(names):
        line = f"{n}: published {PUBLISHED_GAMMA[i]:+.2f} (+{PUBLISHED_GAMMA_ERR_PLUS[i]:.2f}/-{PUBLISHED_GAMMA_ERR_MINUS[i]:.2f})"
        if args.fit:
            line += (f"   fit {out['gamma'][i]:+.2f} (+{out['gamma_p84'][i] - out['gamma'][i]:.2f}"
                     f"/-{out['gamma'][i] - out['gamma_p16'][i]:.2f})")
        print(line)
    print("z:        " + " ".join(f"{v:6.1f}" for v in zz))
    print("grad pub: " + " ".join(f"{v:+6.2f}" for v in out["published_gradient"]))
    if args.fit:
        print("grad fit: " + " ".join(f"{v:+6.2f}" for v in out["fit_gradient"]))
    return 0


def cmd_compare(args) -> int:
    from analytic_models import plot_figure7

    table = plot_figure7(args.out)
    if args.json:
        print(json.dumps({"figure": args.out, "chi2": table}, default=float))
        return 0
    print(f"{'model':<28} {'dataset':<24} {'n':>4} {'chi2':>9} {'chi2/pt':>8} {'p':>9}")
    for row in table:
        print(f"{row['model']:<28} {row['dataset']:<24} {row['n']:>4d} {row['chi2']:9.2f} "
              f"{row['chi2_per_point']:8.2f} {row['p_value']:9.2e}")
    print(f"figure: {args.out}")
    return 0
