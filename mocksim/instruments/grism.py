"""JWST slitless spectroscopy (WFSS): NIRCam GRISMR/C and NIRISS GR150R/C.

Presets: ``nircam-wfss-f277w``, ``nircam-wfss-f356w``, ``nircam-wfss-f444w`` (GRISMR
only by default; option ``grisms=("R", "C")``), ``niriss-wfss-f115w``,
``niriss-wfss-f150w``, ``niriss-wfss-f200w`` (GR150R and GR150C by default) and
``niriss-wfss`` (all three NIRISS filters, as in NGDEEP; option ``filters``).
Constants and their sources: :mod:`mocksim.instruments.grism_config`.

Geometry
--------
The scene is a square field of ``n x n`` detector pixels (:meth:`scene_grid`). A
*beam* is one (filter, grism orientation) exposure. Each beam is stored in the
**dispersion frame**: axis 0 is the cross-dispersion coordinate (``y`` for grism R,
``x`` for grism C), axis 1 the dispersed column. Light of wavelength ``lambda`` from
a source at along-dispersion pixel ``a`` (``x`` for R, ``y`` for C; scene pixel
convention, centres at integers) lands at dispersed column

    X = a + (lambda - wave_start) / D + margin,

with ``D`` the linear dispersion [um/pixel], ``wave_start`` the blue edge of the
bluest filter and ``margin`` a fixed pad. ``Observation.wave_um[k]`` is the
wavelength that the field centre ``a = (n - 1)/2`` sends to column ``k``.
:meth:`SlitlessGrism.dispersed_position` evaluates the solution.

Rendering (:meth:`SlitlessGrism.render_noiseless`)
--------------------------------------------------
For every line and component, each fine pixel's flux (times the fraction of its
Gaussian line profile inside the filter's top-hat band) is placed at
``lambda_rest (1 + z)(1 + v/c)`` and spread along the dispersion with a unit box (the
fine pixel) convolved with the Gaussian of the intrinsic dispersion
``lambda sigma_v / c``, integrated over fine dispersed columns (a line's faint outskirts
are skipped: pixels below 1e-8 of its flux when together they hold at most 3e-5 of it,
else those below 1e-10; :func:`~.grism_render.kept_pixels`). The fine dispersed image is
convolved with the 2D PSF at the line's systemic wavelength (dispersion is a shift, so it commutes with the PSF;
the PSF's own width along the dispersion axis *is* the slitless line-spread function,
so no further LSF is applied) and block-summed to detector pixels. Implementation
(:mod:`~mocksim.instruments.grism_disperse`): for lines at least 1.5 fine pixels wide
the spreading is a Lagrange deposit followed by one FFT convolution with the line
profile x PSF (equal to the exact per-pixel integrals to < 1e-5 of the peak); narrower
lines (NIRISS) use the exact integrals, then the same cached-spectrum PSF step
(:mod:`~mocksim.instruments.grism_narrow`). The continuum
(component ``continuum`` maps, flat f_lambda) is convolved with the PSF at the filter
pivot, block-summed, and dispersed as a flat spectrum across the top-hat band with
exact pixel x band overlap weights (:func:`~.grism_config.box_band_weights`).
Values are flux density per pixel [erg s^-1 cm^-2 um^-1] (pixel flux / D), so a line
of flux F sums to ``F / D``. Light leaving the field across the dispersion direction
is lost, as in the IFU.

Direct images (one per filter): band-averaged f_lambda per pixel, i.e. continuum plus
``line flux x band fraction / band width``, PSF-convolved (lines at their own
wavelength) and detector-sampled.

Neighbours (option ``neighbours``): contaminating sources, each a circular Gaussian
with a flat continuum and one emission line at its own redshift (PSF-convolved at its
own observed wavelength); they appear in the direct and dispersed images only, not
among the scene's lines (the kept beams of ``render_components``, the S/N line).

Noise (:class:`~mocksim.instruments.noise.NoiseSpec`)
-----------------------------------------------------
* ``"snr"``: uniform Gaussian sigma in every dispersed pixel, chosen so that the
  integrated [OIII]5007 S/N equals ``snr_oiii``. The definition is the IFU's
  (:func:`~mocksim.instruments.noise.line_snr_aperture`) applied to the noise-free
  dispersed image of [OIII]5007 alone in each beam, treated as a one-channel cube of
  width D: a circular aperture (default: enclosing 90 % of the line) with uniform
  weights, ``S/N_b = F_ap,b / (D sigma sqrt(N_ap,b))``; beams combine in quadrature,
  ``S/N = sqrt(sum_b S/N_b^2)``.
* ``"exposure"``: per dispersed pixel ``var = S t + B t + n_exp RN^2`` [e-] with
  source counts from :func:`~.grism_config.counts_per_flux`, the per-filter
  dispersed background B [e-/s/pix], read noise RN = ``NoiseSpec.read_noise_e`` and
  ``n_exp = NoiseSpec.n_exposures``. Time per beam: the instrument option
  ``exposure_s`` if set, else ``NoiseSpec.exposure_s`` split equally among beams.
  (``NoiseSpec.background_mjysr`` is not used: WFSS backgrounds are tabulated.)
* ``"none"``: noise-free data; errors as in the IFU (snr or exposure sigma if those
  inputs are given, else ``floor_fraction`` x the peak).

Direct images get noise consistent with the dispersed data: for ``"snr"``
``sigma_direct = sigma D / band width`` (same e- noise per pixel, collecting the whole
band); for ``"exposure"`` the imaging count rate of the whole band with the same
background per pixel and time per beam; for a noise-free observation a nominal
``1e-6`` x peak (effectively noise-free).

Observation layout
------------------
``data``/``error``: ``(n_beam, n, n_disp)`` dispersed images in the dispersion frame
[erg s^-1 cm^-2 um^-1 per pixel]; beams ordered filter-major (filters blue to red, R
before C). ``wave_um``: ``(n_disp,)`` (see above). ``pixscale_arcsec``: detector
pixel. ``lsf_sigma_um``: nominal point-source LSF sigma from R(lambda).
``extras``: ``"beams"`` (list of dicts: name, filter, grism, dispersion axis, band),
``"dispersed"`` / ``"dispersed_error"`` (dict beam name -> 2D array in detector
orientation: ``(n, n_disp)`` for R, ``(n_disp, n)`` for C), ``"direct_image"`` /
``"direct_error"`` (detection image: the mean over filters), ``"direct_images"`` /
``"direct_errors"`` (dict filter -> ``(n, n)``), ``"geometry"`` and
``"map_pixscale_arcsec"``. Extraction: :func:`mocksim.recovery.grism_extract.extract_line_maps`.
"""
from __future__ import annotations

import functools

import numpy as np

from ..errors import MocksimInputError
from ..lines import C_KMS, LINES
from ..observation import Observation
from .base import Instrument, KernelMemo, check_flag, register_instrument
from .grism_config import (FAMILIES, FWHM_TO_SIGMA, GRISMS, check_neighbours,
                           check_range, continuum_matrix, grism_noise_sigma, neighbour_components)
from .fftconv import SpectrumCache
from .grism_disperse import disperse_line_many
from .grism_render import render_beams, render_beams_many
from .noise import NoiseSpec

BUNIT = "erg s-1 cm-2 um-1"


def _resolve_psf(psf, family):
    if isinstance(psf, str):
        from ..psf import make_psf

        spec = psf.strip().lower()
        model = make_psf(psf, family=family)
        return (None if spec == "none" else model), psf
    if hasattr(psf, "kernel") and hasattr(psf, "fwhm_arcsec"):
        return psf, getattr(psf, "spec", type(psf).__name__)
    raise MocksimInputError(f"instrument.psf: expected a PSF spec string or PSF model, got {psf!r}")


class SlitlessGrism(Instrument):
    """JWST wide-field slitless spectroscopy (NIRCam LW grisms or NIRISS GR150).

    Parameters
    ----------
    family : {"nircam", "niriss"}
    filters : str or sequence of str, optional
        Blocking filter(s), e.g. ``"f356w"``; default all filters of the family.
    grisms : sequence of {"R", "C"}, optional
        Dispersion orientations: R along +x, C along +y. Default ``("R",)`` for
        NIRCam (ASPIRE, FRESCO) and ``("R", "C")`` for NIRISS (NGDEEP).
    psf : str or PSF model
        :func:`mocksim.psf.make_psf` spec (family ``"nircam"``/``"niriss"``) or an
        object with ``kernel(wave_um, pixscale_arcsec, size)`` and ``fwhm_arcsec``.
    fov_arcsec : float
        Side of the square cutout rendered by :meth:`scene_grid` [arcsec].
    map_pixscale_arcsec : float, optional
        Pixel of the extracted line maps [arcsec]; default 0.06 (NIRCam), 0.03 (NIRISS).
    exposure_s : float, optional
        Exposure time of each beam [s] for the ``"exposure"`` noise model (default:
        ``NoiseSpec.exposure_s`` divided among the beams).
    neighbours : list of dict, optional
        Contaminating sources, keys ``dx_arcsec``, ``dy_arcsec`` (offset from the field
        centre, within the field), ``fwhm_arcsec`` (0.2), ``continuum_flam`` (total
        flat f_lambda [erg s^-1 cm^-2 um^-1], 0), ``line`` ("Halpha"), ``redshift``,
        ``line_flux`` [erg s^-1 cm^-2] (0), ``sigma_kms`` (50).
    oversample : int
        Odd number of fine pixels per detector pixel (default 5).
    kernel_max_arcsec : float
        Cap on the full width of PSF kernels [arcsec] (kernels renormalised to 1).
    v_max_kms : float
        Largest |line-of-sight velocity| kept inside the dispersed cutout [km/s].
    throughput : float or dict, optional
        Override of the assumed total system throughput (per filter if a dict).
    background_e_s : float or dict, optional
        Override of the dispersed background [e- s^-1 pix^-1] (per filter if a dict).
    single_precision_fft : bool
        Run the PSF-convolution FFTs of the dispersed and direct images of observations in
        float32 (default True, as the IFU: about 0.94x the W2 time; round-off ~1e-7 of each
        line's peak, far below any noise). :meth:`render_noiseless`, which renders the
        models of fits, is always double precision.
    """

    kind = "grism"

    def __init__(self, family: str, filters=None, *, grisms=None, psf="jwst",
                 fov_arcsec: float = 3.0, map_pixscale_arcsec: float | None = None,
                 exposure_s: float | None = None, neighbours=(), oversample: int = 5,
                 kernel_max_arcsec: float = 2.0, v_max_kms: float = 1000.0,
                 throughput=None, background_e_s=None, single_precision_fft: bool = True):
        fam_key = str(family).strip().lower()
        if fam_key not in FAMILIES:
            raise MocksimInputError(f"instrument.family: {family!r} is not one of {', '.join(FAMILIES)}")
        self.family = FAMILIES[fam_key]
        fam = self.family
        if filters is None:
            filters = list(fam.filters)
        elif isinstance(filters, str):
            filters = [filters]
        flist = []
        for f in filters:
            key = str(f).strip().upper()
            if key not in fam.filters:
                raise MocksimInputError(f"instrument.filters: {f!r} is not a {fam.name} WFSS filter; "
                                        f"allowed: {', '.join(fam.filters)}")
            if key not in [g.name for g in flist]:
                flist.append(fam.filters[key])
        if not flist:
            raise MocksimInputError("instrument.filters: at least one filter is required")
        self.filters = tuple(sorted(flist, key=lambda g: g.lo_um))
        grisms = fam.default_grisms if grisms is None else grisms
        if isinstance(grisms, str):
            grisms = [grisms]
        glist = []
        for g in grisms:
            key = str(g).strip().upper().replace("GRISM", "").replace("GR150", "")
            if key not in GRISMS:
                raise MocksimInputError(f"instrument.grisms: {g!r} is not one of R, C")
            if key not in glist:
                glist.append(key)
        if not glist:
            raise MocksimInputError("instrument.grisms: at least one of R, C is required")
        self.grisms = tuple(sorted(glist, key=GRISMS.index))
        self.beams = [(f, g) for f in self.filters for g in self.grisms]
        single = len(self.filters) == 1
        self.name = f"{fam.name}-wfss" + (f"-{self.filters[0].name.lower()}" if single else "")
        self.pixscale_arcsec = fam.pixscale_arcsec
        self.dispersion_um = fam.dispersion_um
        self.wave_range_um = (self.filters[0].lo_um, max(f.hi_um for f in self.filters))
        if isinstance(oversample, bool) or not float(oversample).is_integer() \
                or int(oversample) % 2 == 0 or not 1 <= int(oversample) <= 15:
            raise MocksimInputError(f"instrument.oversample: {oversample!r} must be an odd integer in [1, 15]")
        self.oversample = int(oversample)
        self.fov_arcsec = float(check_range("instrument.fov_arcsec", fov_arcsec, fam.pixscale_arcsec, 20.0))
        self.n_spaxels(self.fov_arcsec)
        self.map_pixscale_arcsec = check_range(
            "instrument.map_pixscale_arcsec",
            fam.map_pixscale_arcsec if map_pixscale_arcsec is None else map_pixscale_arcsec, 0.005, 0.5)
        self.exposure_s = (None if exposure_s is None
                           else check_range("instrument.exposure_s", exposure_s, 1.0, 1e8))
        self.neighbours = check_neighbours(neighbours, self.fov_arcsec)
        self.kernel_max_arcsec = check_range("instrument.kernel_max_arcsec", kernel_max_arcsec, 0.1, 20.0)
        self.v_max_kms = check_range("instrument.v_max_kms", v_max_kms, 0.0, 5000.0)
        self.throughput = {f.name: self._per_filter("throughput", throughput, f, f.throughput, 1e-3, 1.0)
                           for f in self.filters}
        self.background_e_s = {f.name: self._per_filter("background_e_s", background_e_s, f,
                                                        f.background_e_s, 0.0, 1e4) for f in self.filters}
        self.psf, self.psf_spec = _resolve_psf(psf, fam.name)
        vpix = self.v_max_kms / C_KMS * self.wave_range_um[1] / self.dispersion_um
        self.margin_px = int(np.ceil(0.5 * self.kernel_max_arcsec / self.pixscale_arcsec)
                             + np.ceil(vpix)) + 3
        self.wave_start_um = self.wave_range_um[0]
        self._kernels = KernelMemo()
        self._obs_records: dict = {}  # n -> _observation_records(n)
        self._spectra = SpectrumCache()
        self.single_precision_fft = check_flag("instrument.single_precision_fft", single_precision_fft)

    @staticmethod
    def _per_filter(key, value, filt, default, lo, hi):
        if value is None:
            return default
        if isinstance(value, dict):
            up = {str(k).upper(): v for k, v in value.items()}
            if filt.name not in up:
                return default
            value = up[filt.name]
        return check_range(f"instrument.{key}", value, lo, hi)

    # ------------------------------------------------------------- geometry
    def beam_names(self) -> list[str]:
        """Beam identifiers ``"<FILTER>-<R|C>"`` in data order."""
        return [f"{f.name}-{g}" for f, g in self.beams]

    def n_dispersed(self, n: int) -> int:
        """Length of the dispersion axis for a field of ``n`` pixels."""
        band_px = int(np.ceil((self.wave_range_um[1] - self.wave_start_um) / self.dispersion_um - 1e-9))
        return int(n) + band_px + 2 * self.margin_px

    def column_offset(self, wave_um) -> np.ndarray:
        """Dispersed column minus along-dispersion pixel for light of ``wave_um`` [pixels]."""
        off = np.multiply(wave_um, 1.0 / self.dispersion_um, dtype=float)
        off += self.margin_px - self.wave_start_um / self.dispersion_um
        return off

    def wave_grid(self, n: int) -> np.ndarray:
        """``(n_disp,)`` wavelength sent to each column by the field centre [micron]."""
        k = np.arange(self.n_dispersed(n))
        return self.wave_start_um + (k - self.margin_px - (n - 1) / 2.0) * self.dispersion_um

    def dispersed_position(self, wave_um, x_pix, y_pix, grism: str = "R"):
        """Where light of ``wave_um`` from detector pixel ``(x_pix, y_pix)`` lands.

        Returns ``(cross, column)`` in the dispersion frame of a ``grism`` beam
        (pixel-centre coordinates; the scene convention puts pixel ``i`` at ``x = i``).
        """
        g = str(grism).upper()
        if g not in GRISMS:
            raise MocksimInputError(f"grism: {grism!r} is not one of R, C")
        along, cross = (x_pix, y_pix) if g == "R" else (y_pix, x_pix)
        return np.asarray(cross, float), np.asarray(along, float) + self.column_offset(wave_um)

    def band_edges_px(self, filt) -> tuple[float, float]:
        """Band edges of ``filt`` as dispersed-column offsets from the source pixel."""
        f = filt if hasattr(filt, "lo_um") else self.family.filters[str(filt).upper()]
        return float(self.column_offset(f.lo_um)), float(self.column_offset(f.hi_um))

    def continuum_matrix(self, n: int, filt) -> np.ndarray:
        """``(n, n_disp)`` flat-spectrum dispersion weights ``W[a, X]`` of one filter."""
        return continuum_matrix(n, self.n_dispersed(n), *self.band_edges_px(filt))

    def geometry(self, n: int) -> dict:
        """Geometry record stored in ``Observation.extras["geometry"]``."""
        return {"field_shape": (int(n), int(n)), "n_dispersed": self.n_dispersed(n),
                "pixscale_arcsec": self.pixscale_arcsec, "dispersion_um_per_pix": self.dispersion_um,
                "wave_start_um": self.wave_start_um, "margin_px": self.margin_px,
                "reference_pixel": ((n - 1) / 2.0, (n - 1) / 2.0),
                "undeviated_um": self.family.undeviated_um,
                "column_rule": "X = along + (lambda - wave_start_um) / dispersion + margin_px",
                "frame": "data[b] is (cross, dispersed column); cross = y for R, x for C"}

    def batch_nbytes(self, scene) -> int:
        """Working memory [bytes] ``scene`` holds while waiting in an :meth:`observe_many`
        batch, roughly: per fine pixel, four 8-byte numbers for each line and beam whose
        band holds the line (its dispersion job) and one for each line (direct image)."""
        ny, nx = scene.grid.shape
        z = float(scene.redshift)
        per_pixel = 0
        for name in scene.line_names():
            lam = LINES[name].observed_um(z) if name in LINES else None
            per_pixel += 8 + 32 * sum(lam is not None and f.lo_um <= lam <= f.hi_um for f, _ in self.beams)
        return per_pixel * ny * nx

    def covers(self, wave_um) -> np.ndarray:
        """True where ``wave_um`` [micron] lies inside one of the filter bands (gaps excluded)."""
        w = np.asarray(wave_um, dtype=float)
        return np.any([(w >= f.lo_um) & (w <= f.hi_um) for f in self.filters], axis=0)

    # ------------------------------------------------------------ resolution
    def resolving_power(self, wave_um) -> np.ndarray:
        """Nominal point-source R = lambda / dlambda [dimensionless]."""
        return np.asarray(wave_um, float) / self.family.resolution_element_um

    def lsf_sigma_um(self, wave_um) -> np.ndarray:
        """Nominal point-source LSF sigma = dlambda / 2.3548 [micron] (not used when rendering)."""
        w = np.asarray(wave_um, float)
        return np.full(w.shape, self.family.resolution_element_um * FWHM_TO_SIGMA)

    def psf_fwhm_arcsec(self, wave_um: float) -> float:
        """PSF FWHM [arcsec] before detector sampling (0 without a PSF)."""
        return 0.0 if self.psf is None else float(self.psf.fwhm_arcsec(float(wave_um)))

    @staticmethod
    def _kernel_key(wave_um: float, pixscale: float) -> tuple:
        return round(float(wave_um), 3), round(float(pixscale), 7)

    def _kernel(self, wave_um: float, pixscale: float) -> np.ndarray | None:
        if self.psf is None:
            return None
        key = self._kernel_key(wave_um, pixscale)
        if key not in self._kernels:
            cap = 2 * int(np.ceil(0.5 * self.kernel_max_arcsec / key[1])) + 1
            size = cap
            default_size = getattr(self.psf, "default_size", None)
            if callable(default_size):
                size = min(int(default_size(key[0], key[1])), cap)
            k = np.array(self.psf.kernel(key[0], key[1], size), dtype=float)
            if k.shape[0] > cap or k.shape[1] > cap:
                cy, cx, h = k.shape[0] // 2, k.shape[1] // 2, cap // 2
                k = k[max(cy - h, 0):cy + h + 1, max(cx - h, 0):cx + h + 1]
            k /= k.sum()
            self._kernels[key] = k if k.size > 1 else None
        return self._kernels[key]

    # ------------------------------------------------------------ rendering
    def _sources(self, scene) -> list:
        """``[(components, redshift, own)]``: the scene's components at its redshift, then
        each neighbour at its own (so that its line takes the PSF of its own wavelength);
        ``own`` is False for neighbours (not among the scene's lines, e.g. the S/N line)."""
        z = float(scene.redshift)
        return [(list(scene.components), z, True)] + [
            ([comp], z if z_nb is None else z_nb, False)
            for comp, z_nb in neighbour_components(scene.grid, self.neighbours)]

    def _direct_term(self, img: np.ndarray, wave_um: float, pixscale: float):
        """``(img, kernel, key)`` term of :func:`~.fftconv.convolve_sum_block` (PSF at ``wave_um``)."""
        return img, self._kernel(wave_um, pixscale), (self._kernel_key(wave_um, pixscale), "direct")

    def _disperse_lines(self, jobs, nfine, n_disp, kern_wave, pixscale, grism, single):
        """Fine-grid dispersion of ``(idx, w, mu_off, sig_px)`` jobs sharing the PSF at
        ``kern_wave`` (:func:`~.grism_disperse.disperse_line_many`; ``single``:
        single-precision FFTs): one list of ``(coarse, col0)`` pieces per job."""
        kern = self._kernel(kern_wave, pixscale)
        key = (self._kernel_key(kern_wave, pixscale), grism)
        return disperse_line_many(jobs, nfine, n_disp, self.oversample, kern, grism, key, self._spectra, single)

    def render_components(self, scene, keep=()):
        """Noise-free beams and direct images.

        Parameters
        ----------
        scene : EmissionScene
            Rendered on :meth:`scene_grid` (square field).
        keep : iterable of str
            Lines whose beams are also returned separately (e.g. ``("OIII5007",)``).

        Returns
        -------
        beams : ndarray
            ``(n_beam, n, n_disp)`` [erg s^-1 cm^-2 um^-1 per pixel].
        direct : dict
            filter name -> ``(n, n)`` band-averaged f_lambda per pixel.
        kept : dict
            line -> ``(n_beam, n, n_disp)`` beams of that line alone.
        """
        return render_beams(self, scene, keep)

    def render_components_many(self, scenes, keep=()) -> list:
        """:meth:`render_components` of several scenes, with the dispersion of each line
        batched across them (:func:`~.grism_render.render_beams_many`; bit-identical per scene)."""
        return render_beams_many(self, scenes, keep)

    def render_noiseless(self, scene) -> np.ndarray:
        """Noise-free ``(n_beam, n, n_disp)`` dispersed images (the layout of ``obs.data``),
        always in double precision: these are the models of fits (the forward fit's
        finite-difference Jacobian), whatever :attr:`single_precision_fft`."""
        return render_beams(self, scene, single=False)[0]

    # --------------------------------------------------------------- noise
    def noise_sigma(self, beams, direct, kept_oiii, spec: NoiseSpec, n: int):
        """1-sigma errors of the dispersed and direct images (module docstring, "Noise").

        Returns ``(error (n_beam, n, n_disp), direct_err {filter: (n, n)}, info)``; see
        :func:`~.grism_config.grism_noise_sigma`.
        """
        return grism_noise_sigma(self, beams, direct, kept_oiii, spec, n)

    # ------------------------------------------------------------- observe
    def observe(self, scene, noise: NoiseSpec | dict | None = None,
                rng: np.random.Generator | None = None) -> Observation:
        """Observe ``scene``: dispersed images, direct images and their errors.

        Parameters
        ----------
        scene : EmissionScene
            Rendered on :meth:`scene_grid`.
        noise : NoiseSpec or dict, optional
            Noise model (default: none).
        rng : numpy.random.Generator
            Source of all random draws (required when noise is drawn).

        Returns
        -------
        Observation
            ``kind="grism"``; layout in the module docstring.
        """
        return self.observe_many([scene], [noise], [rng])[0]

    def observe_many(self, scenes, noises, rngs) -> list:
        """:meth:`observe` of several scenes, the rendering batched across them
        (:meth:`render_components_many`); the noise of each scene is drawn from its own
        ``rng`` as in :meth:`observe`, so each observation is bit-identical to observing
        its scene alone.

        Parameters
        ----------
        scenes : sequence of EmissionScene
        noises : sequence of NoiseSpec or dict or None
            One noise model per scene.
        rngs : sequence of numpy.random.Generator or None
            One random stream per scene.

        Returns
        -------
        list of Observation
        """
        specs = [nz if isinstance(nz, NoiseSpec) else NoiseSpec.from_dict(nz) for nz in noises]
        need = ["OIII5007" in sc.line_names() or sp.snr_oiii is not None for sc, sp in zip(scenes, specs)]
        rendered = [None] * len(scenes)
        for flag in (True, False):                   # scenes that keep [OIII]5007 and those that do not
            ks = [k for k, nd in enumerate(need) if nd == flag]
            if ks:
                for k, r in zip(ks, self.render_components_many([scenes[k] for k in ks],
                                                                keep=("OIII5007",) if flag else ())):
                    rendered[k] = r
        return [self._observation(sc, sp, rng, *r) for sc, sp, rng, r in zip(scenes, specs, rngs, rendered)]

    def _observation(self, scene, spec: NoiseSpec, rng, beams, direct, kept) -> Observation:
        """Noise and the :class:`Observation` of rendered ``beams``, ``direct`` and ``kept``."""
        n = beams.shape[1]
        error, direct_err, info = self.noise_sigma(beams, direct, kept.get("OIII5007"), spec, n)
        if spec.model != "none":
            if not isinstance(rng, np.random.Generator):
                raise TypeError("rng: a numpy.random.Generator is required to draw noise "
                                f"(noise.model={spec.model!r}), got {type(rng).__name__}")
            # beams + error x deviate, built in the deviate's buffer (no temporaries of the
            # dispersed size; the same products and sums, so the same values)
            data = rng.standard_normal(beams.shape)
            data *= info.get("sigma_uniform", error)
            data += beams
            ddata = {f.name: direct[f.name] + direct_err[f.name] * rng.standard_normal((n, n))
                     for f in self.filters}
        else:
            data = beams.copy()
            ddata = {k: v.copy() for k, v in direct.items()}
        names = self.beam_names()
        wave, lsf_sigma, geometry, beam_records = self._observation_records(n)
        # detection image: mean of the filters' images (summed without stacking them)
        nf = len(self.filters)
        det = sum(ddata[f.name] for f in self.filters) / nf
        det_err = np.sqrt(sum(direct_err[f.name] ** 2 for f in self.filters)) / nf
        extras = {
            "beams": [dict(rec) for rec in beam_records],
            "dispersed": {nm: (data[b] if g == "R" else data[b].T) for b, (nm, (_, g)) in
                          enumerate(zip(names, self.beams))},
            "dispersed_error": {nm: (error[b] if g == "R" else error[b].T) for b, (nm, (_, g)) in
                                enumerate(zip(names, self.beams))},
            "direct_image": det, "direct_error": det_err,
            "direct_images": ddata, "direct_errors": direct_err,
            "geometry": dict(geometry), "map_pixscale_arcsec": self.map_pixscale_arcsec,
        }
        meta = {"instrument": self.name, "family": self.family.name,
                "filters": [f.name for f in self.filters], "grisms": list(self.grisms), "beams": names,
                "psf": str(self.psf_spec), "oversample": self.oversample,
                "pixscale_arcsec": self.pixscale_arcsec, "map_pixscale_arcsec": self.map_pixscale_arcsec,
                "dispersion_um_per_pix": self.dispersion_um, "bunit": BUNIT, "noise": spec.to_dict(),
                "n_neighbours": len(self.neighbours)}
        meta.update(info)
        return Observation(kind="grism", data=data, error=error, wave_um=wave,
                           pixscale_arcsec=self.pixscale_arcsec, redshift=float(scene.redshift),
                           instrument=self, lsf_sigma_um=lsf_sigma, noise_correlation=1.0,
                           meta=meta, extras=extras)

    def _observation_records(self, n: int) -> tuple:
        """What every observation of an ``n``-pixel field shares, made once per ``n``:
        ``(wave_grid(n), lsf_sigma_um(wave), geometry(n), beam records)``. The arrays are
        read-only (shared by the observations, as the IFU shares its ``wave_um``); the
        dicts hold only immutable values, to be copied (``dict(...)``) per observation."""
        hit = self._obs_records.get(n)
        if hit is None:
            wave = self.wave_grid(n)
            lsf_sigma = self.lsf_sigma_um(wave)
            wave.flags.writeable = lsf_sigma.flags.writeable = False
            beams = tuple({"name": nm, "filter": f.name, "grism": g, "dispersion_axis": "x" if g == "R" else "y",
                           "band_um": (f.lo_um, f.hi_um)} for nm, (f, g) in zip(self.beam_names(), self.beams))
            hit = self._obs_records[n] = (wave, lsf_sigma, self.geometry(n), beams)
        return hit

    def __repr__(self) -> str:
        return f"<SlitlessGrism {self.name} grisms={''.join(self.grisms)}>"


def _register_presets() -> None:
    for fam in FAMILIES.values():
        for f in fam.filters:
            register_instrument(f"{fam.name}-wfss-{f.lower()}",
                                functools.partial(SlitlessGrism, fam.name, f), replace=True)
    register_instrument("niriss-wfss", functools.partial(SlitlessGrism, "niriss"), replace=True)


_register_presets()
