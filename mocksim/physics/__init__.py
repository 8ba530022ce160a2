"""Physics of the forward model: strong-line calibrations, intrinsic line
ratios and dust attenuation.

Modules
-------
calibrations : strong-line metallicity calibrations (forward and inverse)
emission     : intrinsic line fluxes relative to Hbeta for every mocksim line
dust         : attenuation/extinction curves (SMC Bar, Calzetti) and helpers
"""
from .calibrations import CALIBRATION_NAMES, Calibration, Inversion, get_calibration

__all__ = ["CALIBRATION_NAMES", "Calibration", "Inversion", "get_calibration"]
