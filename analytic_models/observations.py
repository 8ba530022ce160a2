"""Loaders for the observed metallicity gradients shipped in ``analytic_models/data``.

Every file is an ECSV table whose header names its source (seed file, table
number) and describes each column.  Gradients are in dex/kpc.

=================================  ======================================================  ====
file                               source                                                  rows
=================================  ======================================================  ====
li2025_table1_stacks.ecsv          seed 000 (Li Z. et al. 2025) Table 1, median stacks      2
li2025_table4_individual.ecsv      seed 000 Table 4, 6 ASPIRE + 88 NGDEEP galaxies         94
lee2025_cristal_table3.ecsv        seed 001 (Lee et al., ALPINE-CRISTAL) Tables 3 + 1      20
seed002_z7-10_ifu_table2.ecsv      seed 002 (z ~ 7-10 NIRSpec IFU) Table 2                 10
venturi2024_table4.ecsv            seed 003 (Venturi et al. 2024) Table 4 (+ Tables 1, 3)   4
=================================  ======================================================  ====
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from astropy.table import Table, vstack

DATA_DIR = Path(__file__).resolve().parent / "data"

FILES = {
    "li2025_stacks": "li2025_table1_stacks.ecsv",
    "li2025_individual": "li2025_table4_individual.ecsv",
    "lee2025_cristal": "lee2025_cristal_table3.ecsv",
    "seed002_ifu": "seed002_z7-10_ifu_table2.ecsv",
    "venturi2024": "venturi2024_table4.ecsv",
}


def _read(key):
    return Table.read(DATA_DIR / FILES[key], format="ascii.ecsv")


def load_li2025_stacks():
    """Seed 000 Table 1: stacked gradients of ASPIRE (5.3<z<7) and FRESCO (7<z<9).

    Returns
    -------
    astropy.table.Table
        Columns survey, z_min, z_max, z_median, re_median_kpc, grad, grad_err.
    """
    return _read("li2025_stacks")


def load_li2025_individual(field=None):
    """Seed 000 Table 4: individual galaxies (ASPIRE at z > 6, NGDEEP at z ~ 2).

    Parameters
    ----------
    field : {"ASPIRE", "NGDEEP"}, optional
        Return only one survey.

    Returns
    -------
    astropy.table.Table
    """
    t = _read("li2025_individual")
    if field is not None:
        t = t[t["field"] == field]
    return t


def load_lee2025_cristal():
    """Seed 001 Table 3 (Method I and II gradients) joined with Table 1 (z, M*, SFR).

    Returns
    -------
    astropy.table.Table
        20 galaxies at 4.4 < z < 5.7.
    """
    return _read("lee2025_cristal")


def load_seed002_ifu(include_satellites=False):
    """Seed 002 Table 2: NIRSpec IFU galaxies at z = 7.2-9.5.

    Parameters
    ----------
    include_satellites : bool
        Keep the three satellites, which have no gradient (masked).

    Returns
    -------
    astropy.table.Table
        7 main galaxies (10 rows with satellites).
    """
    t = _read("seed002_ifu")
    return t if include_satellites else t[~t["satellite"]]


def load_venturi2024():
    """Seed 003 Table 4: gradients of four sources at z = 6.4-7.9 (NIRSpec IFU prism).

    Returns
    -------
    astropy.table.Table
    """
    return _read("venturi2024")


def _filled(col):
    return np.asarray(col.filled(np.nan) if hasattr(col, "filled") else col, dtype=float)


def load_gradient_compilation(include_ngdeep=True):
    """All shipped gradients in one table.

    Parameters
    ----------
    include_ngdeep : bool
        Include the 88 NGDEEP galaxies at z ~ 2 (seed 000 Table 4).

    Returns
    -------
    astropy.table.Table
        Columns dataset, name, kind ("stack" or "individual"), z, log_mstar
        (NaN if unknown or a stack), grad, grad_err_plus, grad_err_minus
        [dex/kpc].  Seed-001 values are the fiducial Method I gradients.
    """
    parts = []

    def add(dataset, kind, names, z, logm, g, ep, em):
        parts.append(Table({
            "dataset": np.full(len(names), dataset), "name": np.asarray(names, dtype=str),
            "kind": np.full(len(names), kind), "z": _filled(z), "log_mstar": _filled(logm),
            "grad": _filled(g), "grad_err_plus": _filled(ep), "grad_err_minus": _filled(em)}))

    s = load_li2025_stacks()
    add("li2025_stacks", "stack", s["survey"], s["z_median"], np.full(len(s), np.nan),
        s["grad"], s["grad_err"], s["grad_err"])
    ind = load_li2025_individual()
    if not include_ngdeep:
        ind = ind[ind["field"] != "NGDEEP"]
    add("li2025_individual", "individual", [f"{f} {i}" for f, i in zip(ind["field"], ind["id"])], ind["z"],
        ind["log_mstar"], ind["grad"], ind["grad_err"], ind["grad_err"])
    c = load_lee2025_cristal()
    add("lee2025_cristal", "individual", c["id"], c["z"], c["log_mstar"], c["grad"],
        c["grad_err_plus"], c["grad_err_minus"])
    d = load_seed002_ifu()
    add("seed002_ifu", "individual", d["name"], d["z"], d["log_mstar"], d["grad"],
        d["grad_err_plus"], d["grad_err_minus"])
    v = load_venturi2024()
    add("venturi2024", "individual", v["source"], v["z"], v["log_mstar_centre"], v["grad"],
        v["grad_err_plus"], v["grad_err_minus"])
    return vstack(parts)
