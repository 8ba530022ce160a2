"""Build the committed NIRSpec tables from the STScI / msaexp reference FITS files.

Run from the repository root::

    python mocksim/instruments/data/make_nirspec_resolution.py [SOURCE_DIR]

``SOURCE_DIR`` defaults to ``/work/shared/data/jwst/nirspec`` and must hold

* ``jwst_nirspec_<disperser>_disp.fits`` -- STScI NIRSpec dispersion products
  (JWST User Documentation, "NIRSpec Dispersers and Filters"): binary table with
  WAVELENGTH [micron], DLDS [micron / pixel] and R (nominal resolving power for a
  source filling the slit);
* ``ifu_sensitivity/msaexp_ifu_sensitivity_*.fits`` -- NIRSpec IFU sensitivity
  curves as redistributed in the msaexp package (PyPI ``msaexp``,
  ``msaexp/data/extended_sensitivity/ifu``): columns wavelength [micron] and
  sensitivity [DN s^-1 uJy^-1 per table bin], derived from CALSPEC standards.

Outputs (next to this script):

``nirspec_resolution.csv``
    ``disperser, wavelength_um, R, dlds_um``: every 5th row of each STScI table
    (plus its last row), i.e. ~200 rows per disperser; the original rows are kept
    unchanged so linear interpolation of the committed table reproduces the FITS
    curves to < 0.1 %.
``nirspec_ifu_sensitivity.csv``
    ``disperser, wavelength_um, sens_dn_s_ujy_um``: the msaexp curve divided by
    its own wavelength step (``sensitivity / gradient(wavelength)``, the quantity
    msaexp plots as "DN uJy^-1 um^-1"), i.e. the detector count rate per micron
    of spectrum produced by a 1 uJy source, median-binned onto 240 uniform bins
    covering the cube range of each preset; negative values are set to 0.

Only numpy and astropy are needed. The runtime code never reads SOURCE_DIR.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
DEFAULT_SOURCE = Path("/work/shared/data/jwst/nirspec")

DISPERSERS = ("prism", "g140m", "g235m", "g395m", "g395h")

#: Sensitivity file per disperser (P330E solar analogue where available; the
#: PRISM curve comes from the SF1615+001A standard) and the cube range to cover.
SENS_FILES = {
    "prism": ("msaexp_ifu_sensitivity_prism_clear_sf1615_001a_001.fits", 0.60, 5.30),
    "g140m": ("msaexp_ifu_sensitivity_g140m_f100lp_p330e_001.fits", 0.97, 1.89),
    "g235m": ("msaexp_ifu_sensitivity_g235m_f170lp_p330e_001.fits", 1.66, 3.17),
    "g395m": ("msaexp_ifu_sensitivity_g395m_f290lp_p330e_001.fits", 2.87, 5.27),
    "g395h": ("msaexp_ifu_sensitivity_g395h_f290lp_p330e_001.fits", 2.87, 5.27),
}
N_SENS_BINS = 240
DECIMATE = 5


def _read_table(path):
    from astropy.table import Table

    return Table.read(path)


def build_resolution(source: Path) -> list[str]:
    rows = []
    for disp in DISPERSERS:
        tab = _read_table(source / f"jwst_nirspec_{disp}_disp.fits")
        wave = np.asarray(tab["WAVELENGTH"], dtype=float)
        res = np.asarray(tab["R"], dtype=float)
        dlds = np.asarray(tab["DLDS"], dtype=float)
        idx = np.arange(0, wave.size, DECIMATE)
        if idx[-1] != wave.size - 1:
            idx = np.append(idx, wave.size - 1)
        for i in idx:
            rows.append(f"{disp},{wave[i]:.6f},{res[i]:.4f},{dlds[i]:.8e}")
    header = [
        "# NIRSpec nominal resolving power and dispersion per disperser.",
        "# Source: STScI jwst_nirspec_<disperser>_disp.fits (JWST User Documentation,",
        "#   'NIRSpec Dispersers and Filters'); columns WAVELENGTH [um], R, DLDS [um/pixel].",
        "# R is the nominal (pre-launch) value for a source filling the slit; in-flight IFU",
        "#   resolution is 1-24 % higher (Shajib et al. 2025, A&A 702, L12).",
        f"# Every {DECIMATE}th row of each table plus its last row, values unchanged.",
        "# Made by mocksim/instruments/data/make_nirspec_resolution.py",
        "disperser,wavelength_um,R,dlds_um",
    ]
    return header + rows


def build_sensitivity(source: Path) -> list[str]:
    rows = []
    for disp in DISPERSERS:
        fname, lo, hi = SENS_FILES[disp]
        tab = _read_table(source / "ifu_sensitivity" / fname)
        wave = np.asarray(tab["wavelength"], dtype=float)
        sens = np.asarray(tab["sensitivity"], dtype=float)
        dens = np.clip(sens / np.gradient(wave), 0.0, None)
        edges = np.linspace(lo - 0.01, hi + 0.01, N_SENS_BINS + 1)
        centres = 0.5 * (edges[1:] + edges[:-1])
        for c, a, b in zip(centres, edges[:-1], edges[1:]):
            m = (wave >= a) & (wave < b)
            val = np.median(dens[m]) if np.any(m) else np.interp(c, wave, dens)
            rows.append(f"{disp},{c:.5f},{val:.5f}")
    header = [
        "# NIRSpec IFU sensitivity: detector count rate per micron of spectrum for a 1 uJy",
        "#   source, sens_dn_s_ujy_um [DN s^-1 uJy^-1 um^-1] (gain ~1 e-/DN).",
        "# Source: msaexp (PyPI) redistribution of NIRSpec IFU sensitivity curves derived from",
        "#   CALSPEC standards (msaexp/data/extended_sensitivity/ifu/msaexp_ifu_sensitivity_*.fits,",
        "#   column 'sensitivity' [uJy^-1 per table bin]) divided by the table wavelength step.",
        "# Files: " + "; ".join(f"{d}: {SENS_FILES[d][0]}" for d in DISPERSERS),
        f"# Median in {N_SENS_BINS} uniform bins over each cube range (+-0.01 um); negatives -> 0.",
        "# Made by mocksim/instruments/data/make_nirspec_resolution.py",
        "disperser,wavelength_um,sens_dn_s_ujy_um",
    ]
    return header + rows


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    source = Path(argv[0]) if argv else DEFAULT_SOURCE
    if not source.is_dir():
        print(f"source directory {source} not found", file=sys.stderr)
        return 1
    (HERE / "nirspec_resolution.csv").write_text("\n".join(build_resolution(source)) + "\n")
    (HERE / "nirspec_ifu_sensitivity.csv").write_text("\n".join(build_sensitivity(source)) + "\n")
    print(f"wrote {HERE / 'nirspec_resolution.csv'} and {HERE / 'nirspec_ifu_sensitivity.csv'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
