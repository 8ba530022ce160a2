"""FITS products of slitless-grism galaxies: 2D dispersed spectra, direct image, line maps."""
from __future__ import annotations

import json

import numpy as np
from astropy.io import fits

from ..io_utils import atomic_path

FLAM_UNIT = "erg s-1 cm-2 um-1"


def _celestial_header(shape, pixscale_arcsec, ra_deg=0.0, dec_deg=0.0) -> fits.Header:
    """RA---TAN/DEC--TAN header centred on the field; +x is West (CDELT1 < 0)."""
    ny, nx = shape
    h = fits.Header()
    h["CTYPE1"], h["CTYPE2"] = "RA---TAN", "DEC--TAN"
    h["CUNIT1"], h["CUNIT2"] = "deg", "deg"
    h["CRPIX1"], h["CRPIX2"] = (nx + 1) / 2.0, (ny + 1) / 2.0
    h["CRVAL1"], h["CRVAL2"] = ra_deg, dec_deg
    h["CDELT1"], h["CDELT2"] = -pixscale_arcsec / 3600.0, pixscale_arcsec / 3600.0
    return h


def _dispersed_header(geom, dispersion_axis: str = "x") -> fits.Header:
    """Linear wavelength along the dispersed axis at the field centre; offset across it.

    ``dispersion_axis`` is the beam's ``"dispersion_axis"`` record: ``"x"`` (grism R,
    image ``(n, n_disp)``: wavelength on FITS axis 1) or ``"y"`` (grism C, image
    ``(n_disp, n)`` in detector orientation: wavelength on FITS axis 2).
    """
    h = fits.Header()
    disp = float(geom["dispersion_um_per_pix"])
    ref_along = float(geom["reference_pixel"][1])
    w, c = ("1", "2") if dispersion_axis == "x" else ("2", "1")  # FITS axis of wave / cross
    # column X = along + (lambda - wave_start)/disp + margin  ->  lambda at the field centre
    h["CTYPE" + w], h["CUNIT" + w] = "WAVE", "um"
    h["CRPIX" + w] = 1.0
    h["CRVAL" + w] = float(geom["wave_start_um"]) - (ref_along + float(geom["margin_px"])) * disp
    h["CDELT" + w] = disp
    h["CTYPE" + c], h["CUNIT" + c] = "LINEAR", "arcsec"
    h["CRPIX" + c], h["CRVAL" + c] = float(geom["reference_pixel"][0]) + 1.0, 0.0
    h["CDELT" + c] = float(geom["pixscale_arcsec"])
    h["COMMENT"] = "wavelength of the field centre's light in each column; " + str(geom.get("frame", ""))
    return h


def write_grism_fits(obs, line_maps, path, *, header_extra: dict | None = None) -> None:
    """Write one slitless galaxy: dispersed spectra per beam, direct image, line maps.

    Extensions: ``SCI_<beam>``/``ERR_<beam>`` (2D dispersed images [erg s^-1 cm^-2 um^-1
    per pixel], wavelength WCS along the dispersion), ``DIRECT``/``DIRECT_ERR`` (direct
    image [band-mean erg s^-1 cm^-2 um^-1 per pixel], celestial WCS), and ``LINE_<name>``/``LINEERR_<name>`` (extracted line maps
    [erg s^-1 cm^-2 per map pixel], celestial WCS at the map pixel scale).
    """
    ex = obs.extras
    geom = ex["geometry"]
    prim = fits.PrimaryHDU()
    prim.header["INSTRUME"] = str(getattr(obs.instrument, "name", "grism"))
    prim.header["REDSHIFT"] = float(obs.redshift)
    prim.header["MAPPIX"] = (float(line_maps.pixscale_arcsec), "line-map pixel [arcsec]")
    for k, v in (header_extra or {}).items():
        prim.header[k] = v
    prim.header["MOCKMETA"] = json.dumps(obs.meta, default=str)[:60000]
    hdus = [prim]
    axes = {b["name"]: b.get("dispersion_axis", "x") for b in ex.get("beams", ())}
    for beam, img in ex["dispersed"].items():
        h = _dispersed_header(geom, axes.get(beam, "x"))
        h["BUNIT"] = FLAM_UNIT
        hdus.append(fits.ImageHDU(np.asarray(img, np.float32), h, name=f"SCI_{beam}"))
        hdus.append(fits.ImageHDU(np.asarray(ex["dispersed_error"][beam], np.float32), h, name=f"ERR_{beam}"))
    hc = _celestial_header(ex["direct_image"].shape, float(geom["pixscale_arcsec"]))
    hc["BUNIT"] = (FLAM_UNIT, "band-mean f_lambda per pixel")
    hdus.append(fits.ImageHDU(np.asarray(ex["direct_image"], np.float32), hc, name="DIRECT"))
    hdus.append(fits.ImageHDU(np.asarray(ex["direct_error"], np.float32), hc, name="DIRECT_ERR"))
    for ln in line_maps.lines:
        hm = _celestial_header(line_maps.flux[ln].shape, float(line_maps.pixscale_arcsec))
        hm["BUNIT"] = "erg s-1 cm-2"
        hdus.append(fits.ImageHDU(np.asarray(line_maps.flux[ln], np.float32), hm, name=f"LINE_{ln}"))
        hdus.append(fits.ImageHDU(np.asarray(line_maps.flux_err[ln], np.float32), hm, name=f"LINEERR_{ln}"))
    with atomic_path(path) as tmp:
        fits.HDUList(hdus).writeto(tmp, overwrite=True)
