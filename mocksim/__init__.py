"""mocksim: mock JWST observations of galaxies with imposed metallicity gradients.

Data flow: ``galaxy -> instrument.observe -> Observation -> recovery -> Result``.
"""
from importlib.metadata import PackageNotFoundError, version as _version

try:
    __version__ = _version("mocksim")
except PackageNotFoundError:  # running from a source tree without install
    __version__ = "0.0.0+unknown"

from .errors import MocksimInputError  # noqa: E402

__all__ = ["__version__", "MocksimInputError"]
