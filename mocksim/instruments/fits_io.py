"""FITS output of spectral cubes (PRIMARY + SCI + ERR) with a 3D WCS.

Layout
------
* PRIMARY: no data; provenance (instrument, redshift, pixel scale, noise
  correlation, ``header_extra`` items) and the full ``Observation.meta`` as JSON in
  ``MOCKMETA``.
* SCI, ERR: ``(nwave, ny, nx)`` images (FITS axes ``NAXIS1 = nx``, ``NAXIS2 = ny``,
  ``NAXIS3 = nwave``) with ``BUNIT = 'erg s-1 cm-2 um-1'`` (per spaxel) and the
  WCS ``RA---TAN`` / ``DEC--TAN`` / ``WAVE`` [um]. Pixel ``(j, i)`` of the
  :mod:`mocksim.scene` convention is at ``+x`` = West, so RA decreases with the
  column index (``CDELT1 < 0``). The cubes here have uniform channel steps, so
  ``WAVE`` is linear (``CRVAL3`` = centre of channel 1, ``CDELT3`` = step);
  non-uniform wavelength grids are also stored in a ``WAVELENGTH`` table, which
  :func:`read_cube_fits` prefers when present.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np
from astropy.io import fits

from ..io_utils import atomic_path

BUNIT = "erg s-1 cm-2 um-1"


def _wcs_cards(hdr: fits.Header, shape, pixscale_arcsec: float, wave_um: np.ndarray,
               ra_deg: float, dec_deg: float) -> None:
    nwave, ny, nx = shape
    hdr["WCSAXES"] = 3
    hdr["CTYPE1"], hdr["CTYPE2"], hdr["CTYPE3"] = "RA---TAN", "DEC--TAN", "WAVE"
    hdr["CUNIT1"], hdr["CUNIT2"], hdr["CUNIT3"] = "deg", "deg", "um"
    hdr["CRPIX1"] = ((nx + 1) / 2.0, "field centre (1-based)")
    hdr["CRPIX2"] = ((ny + 1) / 2.0, "field centre (1-based)")
    hdr["CRPIX3"] = 1.0
    hdr["CRVAL1"], hdr["CRVAL2"] = float(ra_deg), float(dec_deg)
    hdr["CRVAL3"] = (float(wave_um[0]), "[um] centre of the first channel")
    hdr["CDELT1"] = (-pixscale_arcsec / 3600.0, "[deg] +x (column) is West")
    hdr["CDELT2"] = (pixscale_arcsec / 3600.0, "[deg]")
    step = float(np.mean(np.diff(wave_um))) if wave_um.size > 1 else 1.0
    hdr["CDELT3"] = (step, "[um] channel width")
    hdr["SPECSYS"] = "BARYCENT"
    hdr["RADESYS"] = "ICRS"


def write_cube_fits(obs, path, *, header_extra: dict | None = None, ra_deg: float = 0.0,
                    dec_deg: float = 0.0, overwrite: bool = True):
    """Write an IFU :class:`~mocksim.observation.Observation` to FITS atomically.

    Parameters
    ----------
    obs : Observation
        ``data`` and ``error`` ``(nwave, ny, nx)`` [erg s^-1 cm^-2 um^-1 per spaxel],
        ``wave_um`` [micron], ``pixscale_arcsec`` [arcsec].
    path : str or Path
        Output file; written via :func:`mocksim.io_utils.atomic_path`.
    header_extra : dict, optional
        Extra PRIMARY keywords (keys up to 8 characters are written as plain cards,
        longer ones as HIERARCH; values must be FITS scalars or strings).
    ra_deg, dec_deg : float
        Sky position of the field centre [deg] (default 0, 0: mock data).
    overwrite : bool
        Replace an existing file.

    Returns
    -------
    pathlib.Path
    """
    from pathlib import Path

    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(path)
    data = np.asarray(obs.data, dtype=np.float32)
    err = np.asarray(obs.error, dtype=np.float32)
    wave = np.asarray(obs.wave_um, dtype=float)
    if data.ndim != 3 or data.shape != err.shape or data.shape[0] != wave.size:
        raise ValueError(f"write_cube_fits: inconsistent shapes data {data.shape}, "
                         f"error {err.shape}, wave {wave.shape}")
    uniform = wave.size < 2 or np.allclose(np.diff(wave), np.diff(wave).mean(), rtol=1e-6, atol=0)

    prim = fits.PrimaryHDU()
    ph = prim.header
    ph["ORIGIN"] = "mocksim"
    ph["TELESCOP"] = "JWST"
    ph["INSTRUME"] = str(getattr(obs.instrument, "name", obs.meta.get("instrument", "unknown")))
    ph["OBSKIND"] = (obs.kind, "ifu or grism")
    ph["REDSHIFT"] = (float(obs.redshift), "systemic redshift")
    ph["PIXSCALE"] = (float(obs.pixscale_arcsec), "[arcsec] spaxel size")
    ph["NOISECOR"] = (float(obs.noise_correlation), "true/naive std of large-area sums")
    ph["BUNIT"] = BUNIT
    ph["MOCKMETA"] = json.dumps(obs.meta, default=str, sort_keys=True)
    for k, v in (header_extra or {}).items():
        key = str(k).upper()
        if len(key) > 8:
            key = f"HIERARCH {key}"
        ph[key] = v

    hdus = [prim]
    for name, arr, comment in (("SCI", data, "flux density per spaxel"),
                               ("ERR", err, "1-sigma uncertainty of SCI")):
        h = fits.ImageHDU(arr, name=name)
        h.header["BUNIT"] = (BUNIT, comment)
        _wcs_cards(h.header, data.shape, float(obs.pixscale_arcsec), wave,
                   ra_deg, dec_deg)
        hdus.append(h)
    if getattr(obs, "noise_kernel", None) is not None:
        h = fits.ImageHDU(np.asarray(obs.noise_kernel, float), name="NOISEKER")
        h.header["COMMENT"] = "noise correlation coefficient of two spaxels vs offset (centre = 0)"
        hdus.append(h)
    if not uniform:
        col = fits.Column(name="WAVELENGTH", format="D", unit="um", array=wave)
        hdus.append(fits.BinTableHDU.from_columns([col], name="WAVELENGTH"))
    with atomic_path(path) as tmp:
        fits.HDUList(hdus).writeto(tmp, overwrite=True)
    return path


@dataclass
class FitsCube:
    """Contents of a cube written by :func:`write_cube_fits`.

    Attributes
    ----------
    data, error : ndarray
        ``(nwave, ny, nx)`` [erg s^-1 cm^-2 um^-1 per spaxel].
    wave_um : ndarray
        Channel centres [micron] (from the WCS, or the WAVELENGTH table).
    pixscale_arcsec, redshift, noise_correlation : float
    noise_kernel : ndarray or None
        Spaxel noise correlation vs offset (the NOISEKER extension), if written.
    instrument : str
    meta : dict
    header : astropy.io.fits.Header
        PRIMARY header.
    """

    data: np.ndarray
    error: np.ndarray
    wave_um: np.ndarray
    pixscale_arcsec: float
    redshift: float
    noise_correlation: float
    instrument: str
    meta: dict = field(default_factory=dict)
    header: fits.Header | None = None
    noise_kernel: np.ndarray | None = None


def read_cube_fits(path) -> FitsCube:
    """Read a cube written by :func:`write_cube_fits` (wavelengths from the WCS)."""
    from astropy.wcs import WCS

    with fits.open(path) as hdul:
        ph = hdul[0].header.copy()
        sci = hdul["SCI"]
        data = np.asarray(sci.data, dtype=float)
        err = np.asarray(hdul["ERR"].data, dtype=float)
        if "WAVELENGTH" in hdul:
            wave = np.asarray(hdul["WAVELENGTH"].data["WAVELENGTH"], dtype=float)
        else:
            w = WCS(sci.header)
            k = np.arange(data.shape[0])
            wave = w.sub([3]).pixel_to_world_values(k)
            wave = np.asarray(wave, dtype=float) * 1e6  # WCS returns SI metres
        kernel = np.asarray(hdul["NOISEKER"].data, dtype=float) if "NOISEKER" in hdul else None
        try:
            meta = json.loads(ph.get("MOCKMETA", "{}"))
        except json.JSONDecodeError:
            meta = {}
    return FitsCube(data=data, error=err, wave_um=wave, pixscale_arcsec=float(ph["PIXSCALE"]),
                    redshift=float(ph["REDSHIFT"]), noise_correlation=float(ph.get("NOISECOR", 1.0)),
                    instrument=str(ph.get("INSTRUME", "")), meta=meta, header=ph, noise_kernel=kernel)
