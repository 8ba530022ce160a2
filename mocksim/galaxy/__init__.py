"""Model galaxies with imposed metallicity profiles (generators)."""
from .components import Clump, Companion
from .disk import DiskGalaxy, linear_disk
from .profiles import FunctionProfile, LinearProfile

__all__ = ["DiskGalaxy", "linear_disk", "LinearProfile", "FunctionProfile", "Clump", "Companion"]
