"""Build a :class:`~mocksim.psf.PSFModel` from the scenario string ``instrument.psf``."""
from __future__ import annotations

from ..errors import MocksimInputError
from .filters import (
    NIRCAM_BROADENING_SIGMA_ARCSEC,
    NIRISS_BROADENING_SIGMA_ARCSEC,
    NIRSPEC_IFU_BROADENING_SIGMA_ARCSEC,
)
from .models import FITSPSF, JWSTPSF, GaussianPSF, MoffatPSF, NoPSF, PSFModel, StpsfPSF

#: Instrument families: Gaussian broadening sigma [arcsec] and stpsf settings.
FAMILIES: dict[str, dict] = {
    "nirspec-ifu": {"sigma": NIRSPEC_IFU_BROADENING_SIGMA_ARCSEC, "stpsf": ("NIRSpec", "F290LP", "IFU")},
    "nircam": {"sigma": NIRCAM_BROADENING_SIGMA_ARCSEC, "stpsf": ("NIRCam", "F444W", None)},
    "niriss": {"sigma": NIRISS_BROADENING_SIGMA_ARCSEC, "stpsf": ("NIRISS", "F150W", None)},
}

ALLOWED_SPECS = ("jwst", "none", "gaussian", "gaussian:FWHM", "moffat:FWHM", "moffat:FWHM:BETA",
                 "fits:PATH", "stpsf", "stpsf:FILTER")

_KEY = "instrument.psf"


def _bad(spec: str, why: str = "") -> MocksimInputError:
    extra = f" ({why})" if why else ""
    return MocksimInputError(f"{_KEY}: {spec!r} is not a valid PSF{extra}; allowed: {', '.join(ALLOWED_SPECS)} "
                             "with FWHM in arcsec (0, 60) and BETA > 1")


def _number(text: str, spec: str, what: str, low: float, high: float) -> float:
    try:
        value = float(text)
    except ValueError:
        raise _bad(spec, f"{what} {text!r} is not a number") from None
    if not (low < value < high):
        raise _bad(spec, f"{what} {value:g} outside ({low:g}, {high:g})")
    return value


def jwst_model(family: str) -> JWSTPSF:
    """The built-in Fourier-optics JWST model with the family's broadening."""
    fam = _family(family)
    return JWSTPSF(broadening_sigma_arcsec=fam["sigma"], name=f"jwst[{family}]")


def _family(family: str) -> dict:
    if not isinstance(family, str) or family.strip().lower() not in FAMILIES:
        raise MocksimInputError(f"{_KEY}: unknown instrument family {family!r}; allowed: {', '.join(FAMILIES)}")
    return FAMILIES[family.strip().lower()]


def make_psf(spec: str, *, family: str) -> PSFModel:
    """Create a PSF model from a specification string.

    Parameters
    ----------
    spec : str
        One of

        * ``"jwst"`` - Fourier optics of the analytic JWST pupil with the
          family's Gaussian broadening;
        * ``"none"`` - no PSF (delta function);
        * ``"gaussian"`` - Gaussian with the FWHM of the family's ``"jwst"``
          model at each wavelength;
        * ``"gaussian:0.15"`` - Gaussian of FWHM 0.15 arcsec;
        * ``"moffat:0.15"`` / ``"moffat:0.15:2.5"`` - Moffat (FWHM, beta;
          default beta 2.5);
        * ``"fits:PATH"`` - image from a FITS file (pixel scale from PIXELSCL
          or CDELT/CD);
        * ``"stpsf"`` / ``"stpsf:FILTER"`` - the optional stpsf package (needs
          its data installed and STPSF_PATH set).
    family : {"nirspec-ifu", "nircam", "niriss"}
        Instrument family: broadening sigma 0.050" (stpsf NIRSpec IFU), 0.0062"
        (stpsf NIRCam SW charge diffusion) or 0.0202" (stpsf NIRISS).

    Returns
    -------
    PSFModel

    Raises
    ------
    MocksimInputError
        Naming ``instrument.psf`` and the allowed values.
    """
    fam = _family(family)
    if not isinstance(spec, str) or not spec.strip():
        raise _bad(str(spec))
    text = spec.strip()
    head, _, rest = text.partition(":")
    head = head.lower()
    if head == "jwst" and not rest:
        return jwst_model(family)
    if head == "none" and not rest:
        return NoPSF()
    if head == "gaussian":
        if not rest:
            return GaussianPSF(jwst_model(family).fwhm_arcsec, name=f"gaussian[jwst {family}]")
        return GaussianPSF(_number(rest, text, "FWHM", 0.0, 60.0))
    if head == "moffat" and rest:
        parts = rest.split(":")
        if len(parts) > 2:
            raise _bad(text)
        fwhm = _number(parts[0], text, "FWHM", 0.0, 60.0)
        beta = _number(parts[1], text, "BETA", 1.0, 100.0) if len(parts) == 2 else 2.5
        return MoffatPSF(fwhm, beta)
    if head == "fits":
        if not rest:
            raise _bad(text, "missing file path")
        return FITSPSF(rest)
    if head == "stpsf":
        inst, filt, mode = fam["stpsf"]
        return StpsfPSF(inst, rest or filt, mode=mode)
    raise _bad(text)
