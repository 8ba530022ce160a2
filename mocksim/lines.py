"""Emission lines: rest-frame vacuum wavelengths and fixed intrinsic ratios.

Sources (see ../shared/reference/calibrations_and_relations.md, sections B1-B2):
vacuum wavelengths agree between grizli and jwspecfit (V2+); Case B ratios at
T = 1e4 K, n_e = 100 cm^-3 from PyNeb (Storey & Hummer 1995 recombination data).
"""
from __future__ import annotations

from dataclasses import dataclass

C_KMS = 299792.458  #: speed of light [km/s]


@dataclass(frozen=True)
class Line:
    """One emission line.

    Attributes
    ----------
    name : str
        Identifier used everywhere in mocksim (e.g. ``"OIII5007"``).
    wave_vac_A : float
        Rest-frame vacuum wavelength [Angstrom].
    label : str
        Human-readable label for plots and tables.
    """

    name: str
    wave_vac_A: float
    label: str

    @property
    def wave_um(self) -> float:
        """Rest-frame vacuum wavelength [micron]."""
        return self.wave_vac_A * 1e-4

    def observed_um(self, z: float) -> float:
        """Observed-frame wavelength [micron] at redshift ``z``."""
        return self.wave_vac_A * 1e-4 * (1.0 + z)


LINES: dict[str, Line] = {
    ln.name: ln
    for ln in (
        Line("OII3727", 3727.092, "[OII]3727"),
        Line("OII3729", 3729.875, "[OII]3729"),
        Line("NeIII3869", 3869.86, "[NeIII]3869"),
        Line("Hdelta", 4102.89, "Hδ"),
        Line("Hgamma", 4341.69, "Hγ"),
        Line("OIII4363", 4364.44, "[OIII]4363"),
        Line("Hbeta", 4862.69, "Hβ"),
        Line("OIII4959", 4960.295, "[OIII]4959"),
        Line("OIII5007", 5008.240, "[OIII]5007"),
        Line("NII6548", 6549.86, "[NII]6548"),
        Line("Halpha", 6564.61, "Hα"),
        Line("NII6584", 6585.27, "[NII]6584"),
        Line("SII6716", 6718.29, "[SII]6716"),
        Line("SII6731", 6732.67, "[SII]6731"),
    )
}

#: Case B Balmer ratios relative to Hβ (T = 1e4 K, n_e = 100 cm^-3; PyNeb, V2+).
CASE_B_TO_HBETA = {"Halpha": 2.86, "Hbeta": 1.0, "Hgamma": 0.468, "Hdelta": 0.259}

#: [OIII]5007/4959 (PyNeb SZ00/TFF01 = 2.984; seeds 001, 004 use 2.98).
OIII_5007_4959 = 2.98
#: [NII]6584/6548 (Storey & Zeippen 2000 = 3.071, quoted in seed 001).
NII_6584_6548 = 3.071
#: [OII]3729/3727 in the low-density limit is ~1.5; at n_e ~ 300 cm^-3, typical of
#: z > 2 HII regions, it is ~1.2. We adopt 1.2 (documented assumption; the sum is
#: what every calibration uses, so metallicity recovery does not depend on it).
OII_3729_3727 = 1.2
#: [SII]6716/6731 at n_e ~ 300 cm^-3 (~1.1; the sum enters S2).
SII_6716_6731 = 1.1

#: Lines that are usually fitted together and share redshift and width.
LINE_GROUPS = {
    "OII": ("OII3727", "OII3729"),
    "NeIII": ("NeIII3869",),
    "Hdelta": ("Hdelta",),
    "Hgamma": ("Hgamma", "OIII4363"),
    "Hbeta_OIII": ("Hbeta", "OIII4959", "OIII5007"),
    "Halpha_NII": ("NII6548", "Halpha", "NII6584"),
    "SII": ("SII6716", "SII6731"),
}


def get_line(name: str) -> Line:
    """Return the :class:`Line` called ``name`` or raise a clear error."""
    from .errors import MocksimInputError

    try:
        return LINES[name]
    except KeyError:
        raise MocksimInputError(
            f"line: unknown line {name!r}; known lines are {', '.join(LINES)}"
        ) from None
