"""Physics of the forward model: strong-line calibrations, intrinsic line
ratios and dust attenuation.

Modules
-------
calibrations : strong-line metallicity calibrations (forward and inverse)
emission     : intrinsic line fluxes relative to Hbeta for every mocksim line
dust         : attenuation/extinction curves (SMC Bar, Calzetti) and helpers
"""
from .calibrations import CALIBRATION_NAMES, Calibration, Inversion, get_calibration
from .dust import DUST_LAWS, attenuation_mag, k_lambda, transmission
from .emission import FALLBACKS, line_ratios_to_hbeta

__all__ = [
    "CALIBRATION_NAMES",
    "Calibration",
    "Inversion",
    "get_calibration",
    "DUST_LAWS",
    "attenuation_mag",
    "k_lambda",
    "transmission",
    "FALLBACKS",
    "line_ratios_to_hbeta",
]
