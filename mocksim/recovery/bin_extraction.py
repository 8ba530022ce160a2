"""Line fluxes of spatial bins from summed spectra (seed 001's annulus extraction).

Seed 001 (Sect. 2-3) sums the spectra of *all* spaxels in an elliptical annulus and
fits the lines of the summed spectrum; the outermost annulus is set by the S/N of
the integrated [OIII]5007 (or Halpha) emission and each line is used where it is
detected. :func:`bin_line_fluxes` does that for any :class:`~.binning.Bins`;
:func:`truncate_at_snr` cuts annuli at the first one below an S/N threshold; and
:func:`narrowband_map` gives a continuum-subtracted line image (for the geometry and
flux-weighted radii) without fitting every spaxel.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from ..errors import MocksimInputError
from ..lines import LINES, get_line
from .binning import Bins, bin_spectra
from .linefit import LineMaps, fit_spectra
from .linefit_model import _channel_edges
from .linefit_tied import fit_spectra_tied

C_KMS = 299792.458


def bin_line_fluxes(obs, bins: Bins, lines, *, tie_kinematics: bool = False) -> tuple[dict, dict, LineMaps]:
    """Fit the summed spectrum of every bin.

    Parameters
    ----------
    obs : Observation
        An IFU cube (``obs.kind == "ifu"``).
    bins : Bins
    lines : list of str
        Lines to fit (groups are fitted with all their covered members).
    tie_kinematics : bool
        Give every group the velocity and width of the Hbeta+[OIII] group (seed 001:
        one redshift and one width per annulus; :mod:`.linefit_tied`).

    Returns
    -------
    flux, err : dict of str -> ndarray
        ``(n_bins,)`` line fluxes and 1-sigma errors [erg s^-1 cm^-2] (NaN where
        a line could not be fitted).
    fit : LineMaps
        The full fit (velocities, widths, chi^2 per bin).
    """
    spec, serr = summed_spectra(obs, bins)
    fit = fit_summed_spectra(obs, spec, serr, lines, tie_kinematics=tie_kinematics)
    return dict(fit.flux), dict(fit.flux_err), fit


def summed_spectra(obs, bins: Bins):
    """``(spectra, errors)`` ``(n_bins, nwave)`` summed over the bins of an IFU cube."""
    if obs.kind != "ifu":
        raise MocksimInputError(f"recovery.extraction = 'spectra' needs an IFU cube, got a {obs.kind!r} observation")
    from .noise_cov import map_noise

    return bin_spectra(obs.data, obs.error, bins, noise=map_noise(obs))


def fit_summed_spectra(obs, spec, serr, lines, *, tie_kinematics: bool = False) -> LineMaps:
    """Line fits of summed spectra on ``obs``'s wavelength grid, redshift and LSF
    (kinematics tied to Hbeta+[OIII] with ``tie_kinematics``)."""
    fitter = fit_spectra_tied if tie_kinematics else fit_spectra
    return fitter(obs.wave_um, spec, serr, obs.redshift, obs.lsf_sigma_um, lines)


def truncate_at_snr(bins: Bins, snr: np.ndarray, min_snr: float) -> Bins:
    """Keep the annuli inside the first one whose S/N is below ``min_snr``.

    Parameters
    ----------
    bins : Bins
        Annuli ordered by radius.
    snr : ndarray
        ``(n_bins,)`` S/N of the integrated line in each annulus (NaN counts as 0).
    min_snr : float

    Returns
    -------
    Bins
        The first ``k`` annuli (``k >= 0``), pixels of the others set to ``-1``.
    """
    snr = np.nan_to_num(np.asarray(snr, float), nan=0.0)
    low = np.flatnonzero(snr < min_snr)
    k = int(low[0]) if low.size else bins.n_bins
    return select_bins(bins, np.arange(k))


def select_bins(bins: Bins, keep) -> Bins:
    """A copy of ``bins`` with only the bins ``keep`` (indices, increasing), renumbered."""
    keep = np.asarray(keep, int)
    lut = np.full(bins.n_bins, -1)
    lut[keep] = np.arange(keep.size)
    bm = np.where(bins.bin_map >= 0, lut[np.clip(bins.bin_map, 0, None)], -1)

    def sub(a):
        return None if a is None else np.asarray(a)[keep]

    return replace(bins, bin_map=bm, n_bins=int(keep.size), radius_arcsec=sub(bins.radius_arcsec),
                   r_inner=sub(bins.r_inner), r_outer=sub(bins.r_outer), n_pix=sub(bins.n_pix), sn=sub(bins.sn))


#: Default half width of the narrow-band window [km/s], at least ``NB_LSF_SIGMAS`` LSF sigmas.
NB_HALF_WIDTH_KMS = 500.0
NB_LSF_SIGMAS = 3.0


def narrowband_map(obs, line: str = "OIII5007", *, half_width_kms: float | None = None):
    """Continuum-subtracted narrow-band image of one line and its error.

    Sums the cube over channels within ``+-half_width_kms`` of the line at the
    systemic redshift (channel widths included, so the map is a line flux) and
    subtracts the per-spaxel median continuum of the channels between 1 and 3
    half-widths on either side, less those within a half-width of another line of
    :data:`mocksim.lines.LINES` (e.g. [OIII]4959 next to 5007 on the PRISM).

    Parameters
    ----------
    obs : Observation
        IFU cube.
    line : str
    half_width_kms : float, optional
        Half width of the line window [km/s]; must exceed the line's velocity
        extent plus a few LSF sigmas. Default: ``NB_HALF_WIDTH_KMS`` or
        ``NB_LSF_SIGMAS`` LSF sigmas at the line, whichever is larger (500 km/s
        on the gratings; ~2100 km/s for [OIII] at 4 um on the PRISM, where 500
        km/s held ~35 % of the line).

    Returns
    -------
    flux, err : ndarray
        ``(ny, nx)`` [erg s^-1 cm^-2]; ``err`` includes the noise of the subtracted
        median continuum.
    """
    this = get_line(line)
    lam0 = this.observed_um(obs.redshift)
    wave = np.asarray(obs.wave_um, float)
    if half_width_kms is None:
        lsf = np.broadcast_to(np.asarray(obs.lsf_sigma_um, float), wave.shape)
        half_width_kms = max(NB_HALF_WIDTH_KMS, NB_LSF_SIGMAS * float(np.interp(lam0, wave, lsf)) / lam0 * C_KMS)
    if not half_width_kms > 0:
        raise MocksimInputError(f"narrowband_map: half_width_kms must be > 0, got {half_width_kms!r}")
    dv = (wave / lam0 - 1.0) * C_KMS
    dlam = np.diff(_channel_edges(wave))
    win = np.abs(dv) <= half_width_kms
    side = (np.abs(dv) > half_width_kms) & (np.abs(dv) <= 3 * half_width_kms)
    for other in LINES.values():                         # keep other lines out of the continuum
        lam1 = other.observed_um(obs.redshift)
        if other.name != this.name and abs(lam1 / lam0 - 1.0) * C_KMS <= 4 * half_width_kms:
            side &= np.abs((wave / lam1 - 1.0) * C_KMS) > half_width_kms
    if not win.any():
        raise MocksimInputError(f"narrowband_map: {line} at z = {obs.redshift} is outside the cube's coverage")
    cube, ecube = np.asarray(obs.data, float), np.asarray(obs.error, float)
    cont = np.median(np.nan_to_num(cube[side]), axis=0) if side.any() else np.zeros(cube.shape[1:])
    k = np.flatnonzero(win)
    w = slice(k[0], k[-1] + 1) if k[-1] - k[0] + 1 == k.size else win   # |dv| <= hw: one run
    dl = dlam[w][:, None, None]
    flux = np.sum((np.nan_to_num(cube[w]) - cont) * dl, axis=0)
    var = np.sum((np.nan_to_num(ecube[w]) * dl) ** 2, axis=0)
    if side.any():  # the subtracted continuum's own noise: a median of n channels has variance
        n = int(side.sum())  # ~ (pi / 2) sigma^2 / n (Gaussian noise), times the window width squared
        var += np.sum(dl, axis=0) ** 2 * (0.5 * np.pi) * np.mean(np.nan_to_num(ecube[side]) ** 2, axis=0) / n
    return flux, np.sqrt(var)


def psf_hwhm_arcsec(obs, line: str = "OIII5007") -> float:
    """Half width at half maximum of the observation's PSF at ``line`` [arcsec]."""
    fwhm = float(obs.instrument.psf_fwhm_arcsec(get_line(line).observed_um(obs.redshift)))
    if not (np.isfinite(fwhm) and fwhm > 0):
        raise MocksimInputError("recovery.annulus_width_hwhm: the instrument has no PSF with a finite FWHM "
                                f"(psf FWHM = {fwhm!r}); give annulus_width_arcsec instead")
    return 0.5 * fwhm
