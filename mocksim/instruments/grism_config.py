"""Numbers describing the JWST slitless (WFSS) grisms, and small geometry helpers.

Every constant below states its source; see also
``reference/anchors_and_jwst_numbers.md`` sections 5.1-5.2 and
``reference/calibrations_and_relations.md`` section F.

NIRCam GRISMR / GRISMC (long-wavelength channel)
-------------------------------------------------
* Detector pixel 0.063'' (JDox "NIRCam Detector Overview"; grizli's header value
  0.0648'' is pre-flight and not used).
* Dispersion: linear, 1/1021 um/pixel = 0.979 nm/pixel, the measured first-order
  coefficient ``b01 = 1021 px/um`` at 3.95 um (module A, grism R; Sun et al.,
  commissioning PID 1076, as tabulated in the Geko grism configuration). JDox
  "NIRCam Grisms": "Dispersion 1 nm/pixel". Higher-order terms (a few pixels over a
  band) are neglected: the simulation and the extraction use the same solution.
* Undeviated wavelength 3.95 um (JDox, measured 3.92-3.98 um), recorded for reference.
* Resolving power R = 1600 at 4 um (JDox "R ~ 1,600 at 4 um"). We model a
  constant resolution element ``dlambda = 4.0 / 1600 = 2.5 nm`` (2.55 pixels),
  i.e. ``R = lambda / 0.0025 um``; this nominal value is what
  ``lsf_sigma_um`` reports. It is *not* applied when rendering: for slitless
  spectra the spectral profile of a point source is the PSF projected on the
  dispersion axis plus pixel sampling, which the renderer models directly.

NIRISS GR150R / GR150C
----------------------
* Detector pixel 0.0656'' (mean of 0.0654'' x 0.0658'', "NIRISS at a Glance").
* Dispersion: linear, 4.78 nm/pixel (JDox "NIRISS GR150 Grisms": "linear dispersion
  of 0.00478 um/pixel").
* Resolving power R = lambda / 0.0095 um (JDox: "the wavelength increment over two
  pixels, which is 0.0095 um"), i.e. R ~ 121 / 158 / 210 at 1.15 / 1.50 / 2.0 um.

Orientation naming: grism "R" disperses along +x (detector rows; increasing
column), grism "C" along +y (detector columns; increasing row), as in grizli's
simulated headers (``fake_image.niriss_header``: "GR150R: Spectral trace along X";
``nircam_header``: "DFSR: Spectral trace along X"). The real NIRISS and NIRCam
detectors are rotated with respect to the sky by the position angle; mocksim works
in the sky frame of :mod:`mocksim.scene`.

Filters (top-hat throughput between half-power wavelengths)
------------------------------------------------------------
Approximate half-power (50 %) ranges from the JDox "NIRCam Filters" and
"NIRISS Filters" tables (rounded to 0.01 um; not re-checked against the live
pages): NIRCam F277W 2.42-3.13, F356W 3.14-3.98, F444W 3.88-4.99 um; NIRISS F115W
1.01-1.28, F150W 1.33-1.67, F200W 1.75-2.23 um. The gaps between the NIRISS filters
are real: lines falling there are lost.

Noise constants
---------------
* Dispersed zodiacal background [e- s^-1 pixel^-1]: grizli ``fake_image`` tables,
  which cite the STScI NIRISS WFSS cookbook: NIRISS F115W 0.47, F150W 0.48, F200W 0.44;
  NIRCam F277W 0.30, F356W 0.90, F444W 3.00. Real levels vary with pointing/date.
* Telescope collecting area 25.4 m^2 (published JWST value; anchors section 6).
* Total system throughput (OTE x instrument optics x grism first order x filter x
  detector QE) at the filter centre: **assumed** 0.30 for NIRCam F277W, 0.35 for
  F356W, 0.40 for F444W, and 0.30 for the NIRISS filters. These are order-of-magnitude
  placeholders (UNVERIFIED; JDox/pandeia throughput curves were not available
  offline) and can be overridden with the instrument option ``throughput``.
* Read noise comes from :class:`mocksim.instruments.noise.NoiseSpec`
  (``read_noise_e``, default 6 e- per pixel per exposure; grizli's "rough, per pixel
  per 1 ks exposure" values are 6 e- for NIRISS and 9 e- for NIRCam).

Line-map pixel scale (seed 000, Sect. 2.1): maps drizzled with ``pixfrac = 1`` to
0.06'' (NIRCam; ASPIRE, FRESCO) and 0.03'' (NIRISS; NGDEEP).
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
from scipy.special import erf, ndtr

from ..errors import MocksimInputError
from ..lines import C_KMS, LINES
from .base import check_range
from .noise import line_snr_aperture

H_C_ERG_UM = 6.62607015e-27 * 2.99792458e14  #: Planck constant x c [erg um]
JWST_AREA_CM2 = 25.4e4  #: JWST collecting area [cm^2]
GRISMS = ("R", "C")


@dataclass(frozen=True)
class GrismFilter:
    """One blocking filter used with a grism.

    Attributes
    ----------
    name : str
        Upper-case filter name, e.g. ``"F356W"``.
    lo_um, hi_um : float
        Half-power band edges [micron] (top-hat throughput model).
    pivot_um : float
        Pivot wavelength [micron] (PSF wavelength for the continuum).
    background_e_s : float
        Dispersed background per detector pixel [e- s^-1].
    throughput : float
        Assumed total system throughput (dimensionless).
    """

    name: str
    lo_um: float
    hi_um: float
    pivot_um: float
    background_e_s: float
    throughput: float

    @property
    def width_um(self) -> float:
        """Band width [micron]."""
        return self.hi_um - self.lo_um


@dataclass(frozen=True)
class GrismFamily:
    """Constants of one WFSS instrument (NIRCam LW grisms or NIRISS GR150).

    Attributes
    ----------
    name : str
        ``"nircam"`` or ``"niriss"`` (also the PSF family of :func:`mocksim.psf.make_psf`).
    pixscale_arcsec : float
        Detector pixel [arcsec].
    dispersion_um : float
        Linear first-order dispersion [micron / pixel].
    resolution_element_um : float
        Nominal point-source resolution element dlambda = lambda / R [micron].
    undeviated_um : float or None
        Undeviated wavelength [micron] (informational).
    map_pixscale_arcsec : float
        Default pixel of the drizzled line maps [arcsec].
    default_grisms : tuple of str
        Orientations observed by default.
    filters : dict of str -> GrismFilter
    """

    name: str
    pixscale_arcsec: float
    dispersion_um: float
    resolution_element_um: float
    undeviated_um: float | None
    map_pixscale_arcsec: float
    default_grisms: tuple
    filters: dict


NIRCAM = GrismFamily(
    name="nircam", pixscale_arcsec=0.063, dispersion_um=1.0 / 1021.0,
    resolution_element_um=4.0 / 1600.0, undeviated_um=3.95, map_pixscale_arcsec=0.06,
    default_grisms=("R",),
    filters={
        # pivots: JDox post-commissioning values (mocksim.psf.filters.NIRCAM_PIVOT_UM)
        "F277W": GrismFilter("F277W", 2.42, 3.13, 2.762, 0.30, 0.30),
        "F356W": GrismFilter("F356W", 3.14, 3.98, 3.568, 0.90, 0.35),
        "F444W": GrismFilter("F444W", 3.88, 4.99, 4.408, 3.00, 0.40),
    },
)

NIRISS = GrismFamily(
    name="niriss", pixscale_arcsec=0.0656, dispersion_um=0.00478,
    resolution_element_um=0.0095, undeviated_um=None, map_pixscale_arcsec=0.03,
    default_grisms=("R", "C"),
    filters={
        # pivots: mocksim.psf.filters.NIRISS_PIVOT_UM
        "F115W": GrismFilter("F115W", 1.01, 1.28, 1.150, 0.47, 0.30),
        "F150W": GrismFilter("F150W", 1.33, 1.67, 1.493, 0.48, 0.30),
        "F200W": GrismFilter("F200W", 1.75, 2.23, 1.993, 0.44, 0.30),
    },
)

FAMILIES = {"nircam": NIRCAM, "niriss": NIRISS}

#: FWHM -> Gaussian sigma.
FWHM_TO_SIGMA = 1.0 / (2.0 * np.sqrt(2.0 * np.log(2.0)))


# ------------------------------------------------------------------ helpers
def _ramp_integral(a):
    """``g(a) = integral_{-inf}^{a} clip(t, 0, 1) dt`` (piecewise quadratic)."""
    a = np.asarray(a, dtype=float)
    return np.where(a <= 0.0, 0.0, np.where(a >= 1.0, a - 0.5, 0.5 * a * a))


def box_band_weights(dcol, e_lo: float, e_hi: float) -> np.ndarray:
    """Fraction of a dispersed flat spectrum falling in a detector column.

    A source pixel (unit box ``[-1/2, 1/2]`` along the dispersion axis) whose
    spectrum is flat inside the band spreads its light uniformly over dispersed
    positions ``[e_lo, e_hi]`` (band edges in pixels from the source position).
    Returns, for columns at offset ``dcol`` (integer or float; column ``dcol``
    covers ``[dcol - 1/2, dcol + 1/2]``), the integral of the box-convolved band
    profile, whose plateau is 1 per column. ``sum(weights) = e_hi - e_lo``.
    """
    d = np.asarray(dcol, dtype=float)

    def cdf(t):  # integral of (box * band) up to t
        return _ramp_integral(t + 0.5 - e_lo) - _ramp_integral(t + 0.5 - e_hi)

    return cdf(d + 0.5) - cdf(d - 0.5)


def _psi(t):
    """``t Phi(t) + phi(t)``: antiderivative of the normal CDF."""
    return t * ndtr(t) + np.exp(-0.5 * t * t) / np.sqrt(2.0 * np.pi)


def box_gauss_cdf(u, sigma):
    """CDF at ``u`` of a unit box ``[-1/2, 1/2]`` convolved with N(0, sigma).

    ``sigma`` may be an array broadcasting with ``u``; values below 1e-4 are
    floored (a pure box).
    """
    s = np.maximum(np.asarray(sigma, dtype=float), 1e-4)
    u = np.asarray(u, dtype=float)
    return s * (_psi((u + 0.5) / s) - _psi((u - 0.5) / s))


#: Distance from a band edge [line sigmas] beyond which ``band_fraction`` is exactly
#: 1 in double precision (``Phi(-10) = 7.6e-24`` is below half an ulp of 1).
_BAND_FAR_SIGMA = 10.0


def _far_inside(w_min: float, w_max: float, s_max: float, lo_um: float, hi_um: float) -> bool:
    """True if lines of centres in ``[w_min, w_max]`` and (floored) widths up to ``s_max``
    [micron] all lie more than ``_BAND_FAR_SIGMA`` sigmas inside ``[lo_um, hi_um]``."""
    return hi_um - w_max >= _BAND_FAR_SIGMA * s_max and w_min - lo_um >= _BAND_FAR_SIGMA * s_max


def band_fraction_is_one(lam_sys_um: float, dop_min: float, dop_max: float, sigma_max_kms: float,
                         lo_um: float, hi_um: float) -> bool:
    """Whether ``band_fraction(lam, lam * sigma / C_KMS, lo_um, hi_um)`` with
    ``lam = lam_sys_um * dop`` is all ones, from bounds only (no per-pixel arithmetic).

    ``dop`` [1 + v/c] lies in ``[dop_min, dop_max]`` (> 0) and ``sigma`` [km/s] is at
    most ``sigma_max_kms``. Rounding is monotonic, so the bounds' ``lam`` and ``lam sigma
    / C_KMS`` bound every pixel's computed values; True therefore implies the per-pixel
    test of :func:`band_fraction` passes (False may be conservative: then evaluate it).
    """
    if not dop_min > 0:
        return False
    lam_lo, lam_hi = lam_sys_um * dop_min, lam_sys_um * dop_max
    s_max = max(lam_hi * sigma_max_kms / C_KMS, 1e-7)
    return _far_inside(lam_lo, lam_hi, s_max, lo_um, hi_um)


def band_fraction(wave_um, sigma_um, lo_um: float, hi_um: float) -> np.ndarray:
    """Fraction of a Gaussian line (centre ``wave_um``, width ``sigma_um``) inside the band.

    Lines more than ``_BAND_FAR_SIGMA`` sigmas inside both edges get exactly 1.0, the
    value the normal CDFs give there; the CDFs are evaluated for the others only.
    """
    s = np.maximum(np.asarray(sigma_um, dtype=float), 1e-7)
    w = np.asarray(wave_um, dtype=float)
    s, w = np.broadcast_arrays(s, w)
    if w.size:                               # every line far inside: no per-line arithmetic
        if _far_inside(float(w.min()), float(w.max()), float(s.max()), lo_um, hi_um):
            return np.ones(w.shape)
    a = (hi_um - w) / s
    b = (lo_um - w) / s
    out = np.ones(a.shape)
    edge = (a < _BAND_FAR_SIGMA) | (b > -_BAND_FAR_SIGMA)
    if edge.all():
        return ndtr(a) - ndtr(b)
    out[edge] = ndtr(a[edge]) - ndtr(b[edge])
    return out


def overlap_matrix(n_in: int, p_in: float, offset_in: float, n_out: int, p_out: float) -> np.ndarray:
    """Flux-conserving 1D pixel-overlap ("drizzle, pixfrac = 1") operator.

    Input pixel ``i`` of size ``p_in`` is centred at ``(i - (n_in - 1)/2 + offset_in) p_in``,
    output pixel ``o`` at ``(o - (n_out - 1)/2) p_out`` (both in arcsec from the
    field centre). ``W[o, i]`` is the fraction of input pixel ``i`` overlapping
    output pixel ``o``; columns sum to 1 for inputs inside the output field.

    Returns
    -------
    ndarray
        ``(n_out, n_in)``.
    """
    ci = (np.arange(n_in) - (n_in - 1) / 2.0 + offset_in) * p_in
    co = (np.arange(n_out) - (n_out - 1) / 2.0) * p_out
    lo = np.maximum(ci[None, :] - 0.5 * p_in, co[:, None] - 0.5 * p_out)
    hi = np.minimum(ci[None, :] + 0.5 * p_in, co[:, None] + 0.5 * p_out)
    return np.clip(hi - lo, 0.0, None) / p_in


def counts_per_flux(wave_um, dispersion_um: float, throughput: float) -> np.ndarray:
    """Detected e- s^-1 per unit dispersed flux density per pixel.

    A dispersed pixel holding ``f`` [erg s^-1 cm^-2 um^-1] (flux ``f * dispersion``)
    yields ``f * dispersion * area * throughput * lambda / (h c)`` e- s^-1.
    """
    w = np.asarray(wave_um, dtype=float)
    return dispersion_um * JWST_AREA_CM2 * throughput * w / H_C_ERG_UM


# --------------------------------------------------------------- neighbours
#: neighbour option keys -> default (None = required)
NEIGHBOUR_KEYS = {"dx_arcsec": None, "dy_arcsec": None, "fwhm_arcsec": 0.2, "continuum_flam": 0.0,
                  "line": "Halpha", "redshift": None, "line_flux": 0.0, "sigma_kms": 50.0}




def check_neighbours(neighbours, fov) -> list[dict]:
    if neighbours is None:
        return []
    if isinstance(neighbours, dict) or not hasattr(neighbours, "__iter__"):
        raise MocksimInputError("instrument.neighbours: expected a list of tables")
    out = []
    for k, nb in enumerate(neighbours):
        key = f"instrument.neighbours[{k}]"
        if not isinstance(nb, dict):
            raise MocksimInputError(f"{key}: expected a table, got {nb!r}")
        bad = sorted(set(nb) - set(NEIGHBOUR_KEYS))
        if bad:
            raise MocksimInputError(f"{key}.{bad[0]}: unknown key; allowed: {', '.join(NEIGHBOUR_KEYS)}")
        d = {**NEIGHBOUR_KEYS, **nb}
        for req in ("dx_arcsec", "dy_arcsec"):
            if d[req] is None:
                raise MocksimInputError(f"{key}.{req}: required")
        half = 0.5 * fov
        d["dx_arcsec"] = check_range(f"{key}.dx_arcsec", d["dx_arcsec"], -half, half)
        d["dy_arcsec"] = check_range(f"{key}.dy_arcsec", d["dy_arcsec"], -half, half)
        d["fwhm_arcsec"] = check_range(f"{key}.fwhm_arcsec", d["fwhm_arcsec"], 1e-3, 5.0)
        d["continuum_flam"] = check_range(f"{key}.continuum_flam", d["continuum_flam"], 0.0, 1e-10)
        d["line_flux"] = check_range(f"{key}.line_flux", d["line_flux"], 0.0, 1e-10)
        d["sigma_kms"] = check_range(f"{key}.sigma_kms", d["sigma_kms"], 0.0, 1000.0)
        if d["line"] not in LINES:
            raise MocksimInputError(f"{key}.line: unknown line {d['line']!r}; known: {', '.join(LINES)}")
        if d["line_flux"] > 0:
            if d["redshift"] is None:
                raise MocksimInputError(f"{key}.redshift: required when line_flux > 0")
            d["redshift"] = check_range(f"{key}.redshift", d["redshift"], 0.0, 20.0)
        out.append(d)
    return out


def neighbour_components(grid, neighbours) -> list:
    """``[(component, redshift)]`` of validated neighbours on ``grid`` (fine sky grid).

    Each is a circular Gaussian (pixel-integrated), flat continuum
    ``continuum_flam x profile`` and one line at rest at the neighbour's ``redshift``
    (None for a neighbour without a line).
    """
    from ..scene import SceneComponent

    out = []
    if not neighbours:
        return out
    x, y = grid.coords_arcsec()
    h = 0.5 * grid.pixscale_arcsec
    for k, nb in enumerate(neighbours):
        s = nb["fwhm_arcsec"] * FWHM_TO_SIGMA * np.sqrt(2.0)
        px = 0.5 * (erf((x - nb["dx_arcsec"] + h) / s) - erf((x - nb["dx_arcsec"] - h) / s))
        py = 0.5 * (erf((y - nb["dy_arcsec"] + h) / s) - erf((y - nb["dy_arcsec"] - h) / s))
        prof = px * py
        lines = {nb["line"]: nb["line_flux"] * prof} if nb["line_flux"] > 0 else {}
        cont = nb["continuum_flam"] * prof if nb["continuum_flam"] > 0 else None
        out.append((SceneComponent(f"neighbour{k}", lines, np.zeros(prof.shape),
                                   np.full(prof.shape, nb["sigma_kms"]), cont),
                    nb["redshift"] if lines else None))
    return out


# -------------------------------------------------------------------- noise
def exposure_sigma(expected, rate, background_e_s: float, t_s: float, ron2: float) -> np.ndarray:
    """1-sigma error [input units] of pixels with noise-free values ``expected``.

    ``rate`` converts a value to detected e- s^-1; the variance in electrons is
    ``max(expected, 0) rate t + B t + ron2`` (Gaussian approximation of the
    Poisson source and background terms, ``ron2 = n_exposures x read_noise^2``).
    """
    var = np.clip(expected, 0.0, None) * rate * t_s + background_e_s * t_s + ron2
    return np.sqrt(var) / (rate * t_s)


@functools.lru_cache(maxsize=32)
def continuum_matrix(n: int, n_disp: int, e_lo: float, e_hi: float) -> np.ndarray:
    """``(n, n_disp)`` weights of a flat spectrum dispersed from along-pixel ``a`` to column ``X``."""
    d = np.arange(n_disp)[None, :] - np.arange(n)[:, None]
    m = box_band_weights(d, e_lo, e_hi)
    m.flags.writeable = False
    return m


def _beam_time(inst, spec) -> float:
    if inst.exposure_s is not None:
        return inst.exposure_s
    if spec.exposure_s is None:
        raise MocksimInputError("noise.exposure_s: required (> 0 s) for the exposure model "
                                "(or set instrument.exposure_s per beam)")
    return spec.exposure_s / len(inst.beams)


def _true_span(flags: np.ndarray) -> tuple[int, int]:
    """Indices of the first and the last True of the 1-D bool array ``flags`` (the whole
    range if it holds none)."""
    return int(flags.argmax()), flags.size - 1 - int(flags[::-1].argmax())


def _aperture_window(img: np.ndarray, radius_px: float | None) -> tuple[slice, slice] | None:
    """Sub-image of ``img`` holding every disc the S/N aperture can use (None if the
    flux of ``img`` is not positive, e.g. all zero).

    The aperture and the half-light disc are centred on the flux centroid, with a
    radius that is either ``radius_px`` or the distance of a pixel with flux; the
    window is the box around the centroid of the larger of ``radius_px`` and the
    distance to the farthest corner of the non-zero region (+ 2 px).
    """
    c0, c1 = _true_span(img.any(axis=0))                 # any(): non-zero, without a mask array
    r0, r1 = _true_span(img[:, c0:c1 + 1].any(axis=1))   # rows: within those columns
    m = img[r0:r1 + 1, c0:c1 + 1]
    tot = float(m.sum())
    if not tot > 0:
        return None
    yc = r0 + float(m.sum(axis=1) @ np.arange(m.shape[0])) / tot
    xc = c0 + float(m.sum(axis=0) @ np.arange(m.shape[1])) / tot
    reach = max(abs(r0 - yc), abs(r1 - yc)) ** 2 + max(abs(c0 - xc), abs(c1 - xc)) ** 2
    r = max(np.sqrt(reach), radius_px or 0.0) + 2.0
    ny, nx = img.shape
    return (slice(max(int(np.floor(yc - r)), 0), min(int(np.ceil(yc + r)) + 1, ny)),
            slice(max(int(np.floor(xc - r)), 0), min(int(np.ceil(xc + r)) + 1, nx)))


def _snr_apertures(inst, kept_oiii, spec):
    """S/N apertures of [OIII]5007 in each beam (None where the beam has none of it).

    Built on the sub-image that can hold the aperture (:func:`_aperture_window`), so the
    pixel sorts run over the line's footprint rather than the whole dispersed cutout;
    the mask is then placed back on the full beam. The grism S/N is the integrated one,
    so the ``"peak_re"`` measure is not made (``peak_mean_re`` is NaN).
    """
    aps = []
    rad_px = None if spec.snr_aperture_arcsec is None else spec.snr_aperture_arcsec / inst.pixscale_arcsec
    for b in range(len(inst.beams)):
        window = None if kept_oiii is None else _aperture_window(kept_oiii[b], rad_px)
        if window is None:                                 # no positive [OIII] flux in this beam
            aps.append(None)
            continue
        sy, sx = window
        ap = line_snr_aperture(kept_oiii[b][None, sy, sx], inst.dispersion_um, inst.pixscale_arcsec,
                               radius_arcsec=spec.snr_aperture_arcsec,
                               enclosed_fraction=spec.snr_enclosed_fraction, peak_re=False)
        mask = np.zeros(kept_oiii[b].shape, bool)
        mask[sy, sx] = ap.mask
        yc, xc = ap.centre_pix
        ap.mask, ap.centre_pix = mask, (yc + sy.start, xc + sx.start)  # a fresh object: set in place
        aps.append(ap)
    if all(a is None for a in aps):
        raise MocksimInputError("noise.snr_oiii: [OIII]5007 has no flux in any beam, so the "
                                "integrated [OIII]5007 S/N cannot be defined")
    return aps


def grism_noise_sigma(inst, beams, direct, kept_oiii, spec, n: int):
    """1-sigma errors of a :class:`~mocksim.instruments.grism.SlitlessGrism` observation.

    Parameters
    ----------
    inst : SlitlessGrism
    beams : ndarray
        ``(n_beam, n, n_disp)`` noise-free dispersed images [erg s^-1 cm^-2 um^-1 per pixel].
    direct : dict
        filter -> ``(n, n)`` noise-free direct images (band-mean f_lambda per pixel).
    kept_oiii : ndarray or None
        ``(n_beam, n, n_disp)`` beams of [OIII]5007 alone (S/N definition).
    spec : NoiseSpec
    n : int
        Field size [pixels].

    Returns
    -------
    error : ndarray
        ``(n_beam, n, n_disp)``, same units as ``beams``.
    direct_err : dict
        filter -> ``(n, n)``.
    info : dict
        ``noise_model`` and, where defined, ``sigma_uniform``, ``exposure_per_beam_s``
        and ``snr_oiii_expected`` (the integrated [OIII]5007 S/N of these errors).
    """
    info: dict = {"noise_model": spec.model}
    use_snr = spec.model == "snr" or (spec.model == "none" and spec.snr_oiii is not None)
    use_exp = spec.model == "exposure" or (spec.model == "none" and not use_snr and
                                           (spec.exposure_s is not None or inst.exposure_s is not None))
    aps = None
    if use_snr or (kept_oiii is not None and np.sum(kept_oiii) > 0):
        try:
            aps = _snr_apertures(inst, kept_oiii, spec)
        except MocksimInputError:
            if use_snr:
                raise
    direct_err = {}
    if use_snr:
        sig = np.sqrt(sum(a.sigma_for_snr(1.0) ** 2 for a in aps if a is not None)) / spec.snr_oiii
        error = np.full(beams.shape, sig)
        info["sigma_uniform"] = float(sig)
        for f in inst.filters:
            direct_err[f.name] = np.full((n, n), sig * inst.dispersion_um / f.width_um)
    elif use_exp:
        t = _beam_time(inst, spec)
        ron2 = spec.n_exposures * spec.read_noise_e ** 2
        error = np.empty_like(beams)
        for bi, (f, _) in enumerate(inst.beams):
            rate = counts_per_flux(inst.wave_grid(n), inst.dispersion_um, inst.throughput[f.name])[None, :]
            error[bi] = exposure_sigma(beams[bi], rate, inst.background_e_s[f.name], t, ron2)
        for f in inst.filters:
            rate = f.width_um * JWST_AREA_CM2 * inst.throughput[f.name] * f.pivot_um / H_C_ERG_UM
            direct_err[f.name] = exposure_sigma(direct[f.name], rate, inst.background_e_s[f.name], t, ron2)
        info["exposure_per_beam_s"] = float(t)
    else:
        peak = float(np.max(np.abs(beams))) if beams.size else 0.0
        floor = spec.floor_fraction * peak if peak > 0 else 1e-30
        error = np.full(beams.shape, floor)
        info["sigma_uniform"] = floor
        for f in inst.filters:
            p = float(np.max(np.abs(direct[f.name])))
            direct_err[f.name] = np.full((n, n), 1e-6 * p if p > 0 else 1e-30)
    if aps is not None:
        uniform = info.get("sigma_uniform")          # scalar: the same S/N without gathering the mask
        snr2 = sum(a.snr_for_sigma(error[b][None] if uniform is None else uniform) ** 2
                   for b, a in enumerate(aps) if a is not None)
        info["snr_oiii_expected"] = float(np.sqrt(snr2))
    return error, direct_err, info
