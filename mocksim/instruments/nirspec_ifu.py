"""JWST NIRSpec IFU: scene -> (nwave, ny, nx) spectral cube.

Cube sampling per preset (stpsf ``_IFU_bands_cubepars`` = CRDS cubepar defaults,
``reference/anchors_and_jwst_numbers.md`` section 5.3): 0.1'' spaxels, 3''x3''
field; channels of constant width

======== ============ ==================
preset   step [um]    range [um]
======== ============ ==================
prism    0.0050       0.60-5.30
g140m    0.0006       0.97-1.89 (F100LP)
g235m    0.0011       1.66-3.17
g395m    0.0018       2.87-5.27
g395h    0.0007       2.87-5.27
======== ============ ==================

Channel ``k`` spans ``[lo + k step, lo + (k+1) step]`` and is centred in between.

Rendering (:meth:`NIRSpecIFU.render_noiseless`): for each line and component the
observed wavelength of each fine pixel is ``lambda_rest (1+z)(1+v/c)`` and its
Gaussian width ``sqrt((lambda sigma_v / c)^2 + sigma_LSF(lambda)^2)``; the Gaussian
is integrated over every channel (erf differences) only for channels within
``nsigma_window`` (6) sigma of the line; the sub-cube is convolved (batched FFT)
with the PSF kernel at the line's observed wavelength on the fine grid (kernels
cached per 1 nm and pixel scale, capped at ``kernel_max_arcsec`` = 2'' full width
and renormalised: at 3.5 um about 4 % of the JWST PSF light lies beyond +-1''),
block-summed into spaxels and divided by the channel width. Units:
erg s^-1 cm^-2 um^-1 per spaxel. To save FFTs, the per-line sub-cube is first
split exactly (to ``svd_rtol``) into a few spectral basis vectors times images,
and only the images are convolved (channel fractions and splits:
:mod:`.ifu_render`). A continuum map (flat f_lambda) is convolved with the PSF at
the band centre and added to every channel.

Optional resampling (``resample_pixscale_arcsec``, e.g. 0.05''): the native noisy
cube is resampled with a separable, flux-conserving linear-interpolation
operator (each native pixel's flux is distributed by bilinear weights over the
output pixels; cf. drizzled 0.05'' cubes), the error cube is propagated exactly
per pixel, and ``Observation.noise_correlation`` is the ratio of the true to the
naive standard deviation of a large-area sum (3.2 for 0.1'' -> 0.05''), and
``Observation.noise_kernel`` the pixel-to-pixel correlation it comes from (used
for the errors of sums over small bins).
"""
from __future__ import annotations

import functools

import numpy as np
from scipy import fft as sfft

from ..errors import MocksimInputError
from ..lines import LINES
from ..observation import Observation
from . import ifu_fft as _fft
from . import ifu_render as _render
from . import lsf as _lsf
from .base import Instrument, KernelMemo, check_flag, check_range as _check_range, register_instrument, resolve_psf
from .noise import (NIRSPEC_GAIN_E_PER_DN, NoiseSpec, apply_noise, axis_correlation, line_snr_aperture,
                    load_sensitivity_table, resampling_matrix)

#: grating -> (disperser, filter, channel step [um], min [um], max [um]).
CUBEPARS = {
    "prism": ("prism", "clear", 0.0050, 0.60, 5.30),
    "g140m": ("g140m", "f100lp", 0.0006, 0.97, 1.89),
    "g235m": ("g235m", "f170lp", 0.0011, 1.66, 3.17),
    "g395m": ("g395m", "f290lp", 0.0018, 2.87, 5.27),
    "g395h": ("g395h", "f290lp", 0.0007, 2.87, 5.27),
}
BUNIT = "erg s-1 cm-2 um-1"



def _channel_range(wave_range_um, lo: float, step: float, n: int, grating: str) -> tuple[int, int]:
    """First and last channel edge index ``(k0, k1)`` of the channels within
    ``wave_range_um`` (all ``n`` channels when it is None)."""
    if wave_range_um is None:
        return 0, n
    try:
        a, b = (float(v) for v in wave_range_um)
    except (TypeError, ValueError):
        raise MocksimInputError(f"instrument.wave_range_um: need [lo, hi] in micron, got {wave_range_um!r}") from None
    hi = lo + n * step
    if not (np.isfinite(a) and np.isfinite(b) and lo <= a < b <= hi):
        raise MocksimInputError(f"instrument.wave_range_um: [{a}, {b}] must satisfy {lo:.4f} <= lo < hi <= {hi:.4f} "
                                f"(the {grating} range)")
    k0 = int(np.ceil((a - lo) / step - 1e-9))
    k1 = int(np.floor((b - lo) / step + 1e-9))
    if k1 - k0 < 8:
        raise MocksimInputError(f"instrument.wave_range_um: [{a}, {b}] keeps {max(k1 - k0, 0)} channels; need >= 8")
    return k0, k1

class NIRSpecIFU(Instrument):
    """JWST NIRSpec IFU spectral cubes.

    Parameters
    ----------
    grating : str
        ``"prism"``, ``"g140m"`` (F100LP), ``"g235m"``, ``"g395m"`` or ``"g395h"``.
    psf : str or PSF model
        Spec for :func:`mocksim.psf.make_psf` (``"jwst"``, ``"none"``,
        ``"gaussian:0.15"``...) or an object with ``kernel(wave_um, pixscale_arcsec,
        size=None)`` and ``fwhm_arcsec(wave_um)``.
    inflight_resolution_factor : float
        Multiplier of the nominal STScI resolving power (default 1; in-flight IFU
        resolution is 1-24 % higher, Shajib et al. 2025).
    pixscale_arcsec : float
        Native spaxel size [arcsec] (default 0.1).
    resample_pixscale_arcsec : float, optional
        Output spaxel size [arcsec] of a resampled cube (e.g. 0.05); None = native.
    fov_arcsec : float
        Default field side for :meth:`scene_grid` [arcsec] (default 3.0).
    oversample : int
        Odd fine pixels per spaxel (default 5, i.e. 0.02'' fine pixels).
    nsigma_window : float
        Half-width of the channel window rendered per line [Gaussian sigma].
    kernel_max_arcsec : float
        Cap on the full width of PSF kernels [arcsec] (default 2.0''; the JWST
        PSF's far wings beyond +-1'' are folded back by renormalising the kernel
        to 1, which keeps flux conservation and the speed of the FFTs).
    svd_rtol : float, optional
        Relative singular-value cut of the low-rank channel decomposition used to
        convolve fewer images than channels (0 disables it). Default 1e-7 with
        single-precision FFTs, 1e-10 with double precision.
    single_precision_fft : bool
        Use float32 PSF-convolution FFTs (default True: about 2x faster; round-off
        ~1e-7 of each line's peak, far below any noise and harmless for fits with
        finite-difference steps >~1e-5). Set False for double-precision models
        (e.g. finite-difference Jacobians with ~1e-8 steps).
    profile_interp : bool
        For components of constant velocity dispersion, compute the channel
        fractions on a fine grid of line centres and interpolate the spectral-basis
        coefficients of each pixel (errors <~ ``svd_rtol`` of the line's peak),
        instead of error functions for every pixel and channel (default True;
        False = always the direct evaluation). The grid is uniform in ``1 + v/c``
        and shared by all lines of a component, so the pixels' interpolation
        weights are computed once per component and render.
    wave_range_um : (float, float), optional
        Keep only the channels lying entirely within ``[lo, hi]`` [micron] of the
        grating's range (a cut-down cube: lines outside are not rendered, noise is
        only drawn where there are channels). Default: the full range.
    """

    kind = "ifu"

    def __init__(self, grating: str, *, psf="jwst", inflight_resolution_factor: float = 1.0,
                 pixscale_arcsec: float = 0.1, resample_pixscale_arcsec: float | None = None,
                 fov_arcsec: float = 3.0, oversample: int = 5, nsigma_window: float = 6.0,
                 kernel_max_arcsec: float = 2.0, svd_rtol: float | None = None,
                 single_precision_fft: bool = True, profile_interp: bool = True,
                 wave_range_um=None):
        g = str(grating).strip().lower()
        if g not in CUBEPARS:
            raise MocksimInputError(
                f"instrument.grating: {grating!r} is not one of {', '.join(CUBEPARS)}")
        self.grating = g
        self.disperser, self.filter, step, lo, hi = CUBEPARS[g]
        self.name = f"nirspec-ifu-{g}"
        self.lsf = _lsf.GaussianLSF(self.disperser, inflight_resolution_factor)
        self.inflight_resolution_factor = self.lsf.inflight_factor
        self.pixscale_arcsec = _check_range("instrument.pixscale_arcsec", pixscale_arcsec, 0.01, 1.0)
        if isinstance(oversample, bool) or not float(oversample).is_integer() \
                or int(oversample) % 2 == 0 or not 1 <= int(oversample) <= 15:
            raise MocksimInputError(
                f"instrument.oversample: {oversample!r} must be an odd integer in [1, 15]")
        self.oversample = int(oversample)
        self.fov_arcsec = float(fov_arcsec)
        self.n_spaxels(fov_arcsec)  # validates
        self.resample_pixscale_arcsec = None
        if resample_pixscale_arcsec is not None:
            self.resample_pixscale_arcsec = _check_range(
                "instrument.resample_pixscale_arcsec", resample_pixscale_arcsec, 0.01,
                self.pixscale_arcsec)
        self.nsigma_window = _check_range("instrument.nsigma_window", nsigma_window, 3.0, 20.0)
        self.kernel_max_arcsec = _check_range("instrument.kernel_max_arcsec", kernel_max_arcsec,
                                              0.1, 20.0)
        self.single_precision_fft = check_flag("instrument.single_precision_fft", single_precision_fft)
        if svd_rtol is None:
            svd_rtol = 1e-7 if self.single_precision_fft else 1e-10
        self.svd_rtol = _check_range("instrument.svd_rtol", svd_rtol, 0.0, 1e-3)
        self._fft_dtype = np.float32 if self.single_precision_fft else np.float64
        self.profile_interp = bool(profile_interp)
        self.psf, self.psf_spec = resolve_psf(psf, family="nirspec-ifu")
        n = int(np.floor((hi - lo) / step + 1e-6))
        k0, k1 = _channel_range(wave_range_um, lo, step, n, g)
        self.wave_edges_um = lo + step * np.arange(k0, k1 + 1)
        self.wave_um = 0.5 * (self.wave_edges_um[1:] + self.wave_edges_um[:-1])
        self.dwave_um = float(step)
        self.wave_range_um = (float(self.wave_edges_um[0]), float(self.wave_edges_um[-1]))
        self._kernels = KernelMemo()
        self._kernel_ffts = KernelMemo(64)
        self._resamplers: dict = {}
        self._lsf_rel_min = None  # min sigma_LSF / lambda over the band (ifu_render.interp_plan)
        self._lsf_slope = None    # max |d sigma_LSF / d lambda| (ifu_render.lsf_slope_max)

    def __getstate__(self):  # pickle without the (large, rebuildable) caches
        state = self.__dict__.copy()
        state["_kernels"], state["_kernel_ffts"], state["_resamplers"] = KernelMemo(), KernelMemo(64), {}
        return state

    # ------------------------------------------------------------ properties
    @property
    def output_pixscale_arcsec(self) -> float:
        """Spaxel size of the delivered cube [arcsec]."""
        return self.resample_pixscale_arcsec or self.pixscale_arcsec

    def lsf_sigma_um(self, wave_um) -> np.ndarray:
        """Gaussian LSF sigma [micron] at ``wave_um`` [micron]."""
        return self.lsf.sigma_um(wave_um)

    def resolving_power(self, wave_um) -> np.ndarray:
        """R = lambda / FWHM_LSF including the in-flight factor."""
        return self.lsf.resolving_power(wave_um)

    def psf_fwhm_arcsec(self, wave_um: float) -> float:
        """PSF FWHM [arcsec] at ``wave_um`` before spaxel integration."""
        return float(self.psf.fwhm_arcsec(float(wave_um)))

    # ------------------------------------------------------------- kernels
    def _kernel(self, wave_um: float, pixscale: float) -> np.ndarray:
        key = (round(float(wave_um), 3), round(float(pixscale), 7))
        k = self._kernels.get(key)
        if k is None:
            cap = 2 * int(np.ceil(0.5 * self.kernel_max_arcsec / key[1] - 1e-6)) + 1  # odd
            size = None
            default_size = getattr(self.psf, "default_size", None)
            if callable(default_size):
                size = min(int(default_size(key[0], key[1])), cap)
            k = np.asarray(self.psf.kernel(key[0], key[1], size), dtype=float)
            if k.shape[0] > cap or k.shape[1] > cap:  # crop to the cap, keep centred
                cy, cx = k.shape[0] // 2, k.shape[1] // 2
                h = cap // 2
                k = k[max(cy - h, 0):cy + h + 1, max(cx - h, 0):cx + h + 1]
            k = k / k.sum()
            self._kernels[key] = k
        return k

    def _convolve(self, sub: np.ndarray, wave_um: float, pixscale: float) -> np.ndarray:
        """'same'-size convolution of ``(nch, ny, nx)`` images with the PSF (batched FFT)."""
        kern = self._kernel(wave_um, pixscale)
        if kern.size == 1:
            return sub
        return self._convolve_blocks(sub, wave_um, pixscale, 1)

    def _kernel_fft(self, wave_um: float, pixscale: float, fy: int, fx: int, os_: int):
        """Cached FFT of the PSF kernel, wrapped around (0, 0) on an ``(fy, fx)`` grid,
        times the FFT of an ``os_``-row box along axis 0 (block sums, see
        :meth:`_convolve_blocks`)."""
        key = (round(float(wave_um), 3), round(float(pixscale), 7), fy, fx, os_)
        kf = self._kernel_ffts.get(key)
        if kf is None:
            kern = self._kernel(wave_um, pixscale)
            ky, kx = kern.shape
            wrapped = np.zeros((fy, fx))
            np.add.at(wrapped, (((np.arange(ky) - ky // 2) % fy)[:, None],
                                ((np.arange(kx) - kx // 2) % fx)[None, :]), kern)
            kf = sfft.rfft2(wrapped.astype(self._fft_dtype))
            if os_ > 1:
                box = np.zeros(fy, dtype=self._fft_dtype)
                box[(-np.arange(os_)) % fy] = 1.0
                kf *= sfft.fft(box)[:, None]
            self._kernel_ffts[key] = kf
        return kf

    def _convolve_blocks(self, sub: np.ndarray, wave_um: float, pixscale: float, os_: int) -> np.ndarray:
        """PSF convolution of ``(nch, by, bx)`` fine images, block-summed ``os_ x os_``.

        ``by`` and ``bx`` are multiples of ``os_``. The FFT grid only needs
        ``by + ky // 2`` rows (and ``bx + kx // 2`` columns): the kernel is wrapped
        around the origin, so circular wrap-around never reaches the kept
        ``(by, bx)`` region. The block sum along axis 0 is applied in Fourier space
        (a box filter, then decimation = folding of the spectrum), so the inverse
        FFT along that axis has ``os_`` times fewer points; the sum along axis 1
        follows in real space.
        """
        kern = self._kernel(wave_um, pixscale)
        nch, by, bx = sub.shape
        if kern.size == 1:
            return sub.reshape(nch, by // os_, os_, bx // os_, os_).sum(axis=(2, 4))
        ky, kx = kern.shape
        fy = _fft_len(by + ky // 2, os_)
        fx = _fft_len(bx + kx // 2, 1)
        kf = self._kernel_fft(wave_um, pixscale, fy, fx, os_)
        # single precision (option) is ~2x faster; round-off ~1e-7 of the peak
        scale = max(float(np.max(sub)), -float(np.min(sub))) or 1.0     # max |sub|
        x, spec = _fft.buffers(nch, by, bx, fy, fx, self._fft_dtype)
        np.divide(sub, scale, out=x[:, :, :bx])     # (sub / scale) in double, rounded once
        # 2D FFT zero-padded to (fy, fx) (x is zero beyond column bx); rows block-summed
        out = _fft.fold_convolve(x, spec, kf, by, bx, fy, fx, os_)
        if os_ > 1:
            out = _fft.sum_last(out.reshape(nch, by // os_, bx // os_, os_))
        return np.multiply(out, scale, dtype=float)

    # ------------------------------------------------------------ rendering
    def _line_job(self, scene, name: str, fields):
        """Channel window, fine-pixel box and method of line ``name`` of ``scene`` as an
        :class:`.ifu_render.LineJob` (None if nothing to render). ``fields``:
        :func:`.ifu_render.component_fields` of the scene."""
        grid = scene.grid
        os_ = grid.oversample
        ny, nx = grid.shape
        lam0 = LINES[name].wave_um * (1.0 + scene.redshift)
        parts, (rmin, rmax, cmin, cmax) = _render.line_parts(scene, name, fields)
        if not parts:
            return None
        lo, hi = _render.line_window(self, parts, lam0)
        edges = self.wave_edges_um
        k0 = max(int(np.searchsorted(edges, lo, side="right")) - 1, 0)
        k1 = min(int(np.searchsorted(edges, hi, side="left")), edges.size - 1)
        if k1 <= k0:
            return None  # line entirely outside the coverage
        kern = self._kernel(lam0, grid.pixscale_arcsec)
        hy, hx = kern.shape[0] // 2, kern.shape[1] // 2
        r0 = max(rmin - hy, 0) // os_ * os_
        r1 = min(-(-(rmax + 1 + hy) // os_) * os_, ny)
        c0 = max(cmin - hx, 0) // os_ * os_
        c1 = min(-(-(cmax + 1 + hx) // os_) * os_, nx)
        rtol = self.svd_rtol if kern.size > 1 else 0.0
        interp = self.profile_interp and rtol > 0 and all(p.s0 is not None for p in parts)
        return _render.LineJob(name, lam0, parts, k0, k1, edges[k0:k1 + 1], (r0, r1, c0, c1), nx,
                               rtol, interp)

    def _add_line(self, job, cube: np.ndarray, scene, work=None):
        """PSF-convolve and block-sum the coefficient images of ``job`` and add the line
        to ``cube`` (``work``: see :meth:`.ifu_render.LineJob.coefficients`). Returns
        ``(k0, k1, rows, cols, blocks)``: ``cube[k0:k1, rows, cols]`` was increased by
        ``blocks``, the line's own values."""
        os_ = scene.grid.oversample
        r0, r1, c0, c1 = job.box
        by, bx = r1 - r0, c1 - c0
        basis, coeff = job.coefficients(self, work)
        blocks = self._convolve_blocks(coeff.reshape(-1, by, bx), job.lam0, scene.grid.pixscale_arcsec, os_)
        nb = blocks.shape[0]
        if basis is not None:
            blocks = (basis @ blocks.reshape(nb, -1)).reshape(job.k1 - job.k0, by // os_, bx // os_)
        blocks *= 1.0 / self.dwave_um
        rows, cols = slice(r0 // os_, r1 // os_), slice(c0 // os_, c1 // os_)
        cube[job.k0:job.k1, rows, cols] += blocks
        return job.k0, job.k1, rows, cols, blocks

    def _render_native(self, scene, lines=None, keep=()):
        """:meth:`render_native` keeping the lines ``keep`` compact: returns the cube
        and ``{line: (k0, k1, rows, cols, blocks) or None}`` (see :meth:`_add_line`)."""
        ny, nx = self.check_scene_grid(scene.grid)
        cube = np.zeros((self.wave_um.size, ny, nx))
        names = scene.line_names() if lines is None else list(lines)
        for name in names:
            if name not in LINES:
                raise MocksimInputError(f"scene.line_flux: unknown line {name!r}")
        fields = _render.component_fields(scene)
        _render.prefetch_windows(self, fields, [LINES[n].wave_um * (1.0 + scene.redshift) for n in names])
        jobs = [self._line_job(scene, name, fields) for name in names]
        _render.prepare_lines(self, [job for job in jobs if job is not None])
        kept, work = dict.fromkeys(keep), {}
        for name, job in zip(names, jobs):
            written = None if job is None else self._add_line(job, cube, scene, work)
            if name in kept:
                kept[name] = written
        if lines is None:
            cont = [np.asarray(c.continuum, float) for c in scene.components if c.continuum is not None]
            if cont:
                os_ = scene.grid.oversample
                fine = np.sum(cont, axis=0)[None]
                cube += self._convolve_blocks(fine, float(np.mean(self.wave_range_um)),
                                              scene.grid.pixscale_arcsec, os_)[0][None]
        return cube, kept

    def render_native(self, scene, lines=None, *, parts: dict | None = None) -> np.ndarray:
        """Noise-free cube on the native spaxel grid.

        Parameters
        ----------
        scene : EmissionScene
            Rendered on :meth:`scene_grid` (any field size).
        lines : iterable of str, optional
            Restrict to these lines (and skip the continuum); default all lines
            plus continuum.
        parts : dict, optional
            ``{line: None}``; on return each value is that line's own native cube
            (it is also included in the total).

        Returns
        -------
        ndarray
            ``(nwave, ny, nx)`` flux density [erg s^-1 cm^-2 um^-1 per spaxel].
        """
        cube, kept = self._render_native(scene, lines, keep=tuple(parts or ()))
        for name in parts or ():
            parts[name] = np.zeros_like(cube)
            if kept[name] is not None:
                k0, k1, rows, cols, blocks = kept[name]
                parts[name][k0:k1, rows, cols] = blocks
        return cube

    # ------------------------------------------------------------ resampling
    def _resampler(self, shape):
        key = tuple(shape)
        if key not in self._resamplers:
            p_in, p_out = self.pixscale_arcsec, self.resample_pixscale_arcsec
            my = resampling_matrix(shape[0], p_in, p_out)
            mx = resampling_matrix(shape[1], p_in, p_out)
            # true / naive std of a large-area sum for uniform i.i.d. input noise
            cy = np.median(np.sum(my ** 2, axis=0))
            cx = np.median(np.sum(mx ** 2, axis=0))
            self._resamplers[key] = (my, mx, float(1.0 / np.sqrt(cy * cx)))
        return self._resamplers[key]

    def resample(self, cube: np.ndarray) -> np.ndarray:
        """Resample a native ``(nwave, ny, nx)`` cube onto the output grid (flux conserving)."""
        if self.resample_pixscale_arcsec is None:
            return cube
        my, mx, _ = self._resampler(cube.shape[1:])
        return np.matmul(np.matmul(my, cube), mx.T)

    def resample_error(self, error: np.ndarray) -> np.ndarray:
        """Propagate independent native errors through :meth:`resample` (per pixel)."""
        if self.resample_pixscale_arcsec is None:
            return error
        my, mx, _ = self._resampler(error.shape[1:])
        var = np.matmul(np.matmul(my ** 2, error ** 2), (mx ** 2).T)
        return np.sqrt(var)

    def noise_correlation(self, native_shape) -> float:
        """True / naive noise of large-area sums in the output cube (1 if native)."""
        if self.resample_pixscale_arcsec is None:
            return 1.0
        return self._resampler(tuple(native_shape))[2]

    def noise_kernel(self, native_shape) -> np.ndarray | None:
        """Correlation coefficient of output-pixel noise vs lag (odd shape, centre 1), or
        None for native cubes: the resampling's covariance for i.i.d. native noise,
        averaged over the output pixels' phases. Its sum is ``noise_correlation**2``."""
        if self.resample_pixscale_arcsec is None:
            return None
        key = ("kernel", tuple(native_shape))
        if key not in self._resamplers:
            my, mx, _ = self._resampler(tuple(native_shape))
            k = np.outer(axis_correlation(my), axis_correlation(mx))
            k.flags.writeable = False
            self._resamplers[key] = k
        return self._resamplers[key]

    def render_noiseless(self, scene) -> np.ndarray:
        """Noise-free cube on the output grid (resampled if configured)."""
        return self.resample(self.render_native(scene))

    # --------------------------------------------------------------- observe
    def snr_aperture(self, scene, spec: NoiseSpec | None = None, line_cube=None):
        """The [OIII]5007 S/N definition object for ``scene`` (see :mod:`.noise`).

        ``line_cube`` is the native noise-free [OIII]5007 cube if already rendered, or
        its compact form ``(k0, k1, rows, cols, blocks)`` (:meth:`_add_line`).
        """
        spec = spec or NoiseSpec()
        if "OIII5007" not in scene.line_names():
            raise MocksimInputError("noise.snr_oiii: the scene has no OIII5007 line, so the "
                                    "integrated [OIII]5007 S/N cannot be defined")
        try:
            self.check_lines(["OIII5007"], scene.redshift, needed_by="noise.snr_oiii")
        except MocksimInputError as exc:
            raise MocksimInputError(f"noise.snr_oiii: {exc}") from None
        window = {}
        if isinstance(line_cube, tuple):   # only the line's channels (zero elsewhere)
            k0, k1, rows, cols, blocks = line_cube
            line_cube = np.zeros((k1 - k0,) + self.check_scene_grid(scene.grid))
            line_cube[:, rows, cols] = blocks
            window = {"channel_offset": k0, "nwave": self.wave_um.size}
        elif line_cube is None:
            line_cube = self.render_native(scene, lines=["OIII5007"])
        return line_snr_aperture(line_cube, self.dwave_um, self.pixscale_arcsec,
                                 radius_arcsec=spec.snr_aperture_arcsec,
                                 enclosed_fraction=spec.snr_enclosed_fraction, **window)

    def exposure_inputs(self) -> dict:
        """Arguments of :func:`mocksim.instruments.noise.exposure_sigma` for this cube."""
        w, s = load_sensitivity_table()[self.disperser]
        return {
            "wave_um": self.wave_um, "dwave_um": self.dwave_um,
            "pixscale_arcsec": self.pixscale_arcsec,
            "sens_e_s_ujy_um": np.interp(self.wave_um, w, s) * NIRSPEC_GAIN_E_PER_DN,
            "dlds_um": _lsf.dispersion_um_per_pix(self.disperser, self.wave_um),
        }

    def add_noise(self, native: np.ndarray, scene, noise: NoiseSpec | dict | None, rng,
                  snr_aperture=None, oiii_cube=None):
        """Noise step of :meth:`observe` on a native noise-free cube.

        Returns ``(data, error, info)`` on the *output* grid; ``info`` also holds
        ``noise_correlation``. Pass ``snr_aperture`` (or the native [OIII]5007 cube
        ``oiii_cube``, full or compact, see :meth:`snr_aperture`) to avoid re-rendering
        [OIII]5007.
        """
        spec = noise if isinstance(noise, NoiseSpec) else NoiseSpec.from_dict(noise)
        if snr_aperture is None and (spec.snr_oiii is not None or spec.model == "snr"):
            snr_aperture = self.snr_aperture(scene, spec, oiii_cube)
        elif snr_aperture is None and self._oiii_usable(scene):
            try:  # only to report the expected S/N in the metadata
                snr_aperture = self.snr_aperture(scene, spec, oiii_cube)
            except MocksimInputError:
                snr_aperture = None
        exp = self.exposure_inputs() if spec.model == "exposure" or spec.exposure_s is not None else None
        data, error, info = apply_noise(native, spec, rng, snr_aperture=snr_aperture, exposure_inputs=exp)
        info["noise_correlation"] = self.noise_correlation(native.shape[1:])
        info["noise_kernel"] = self.noise_kernel(native.shape[1:])
        return self.resample(data), self.resample_error(error), info

    def _oiii_usable(self, scene) -> bool:
        return "OIII5007" in scene.line_names() and bool(
            self.covers(LINES["OIII5007"].observed_um(scene.redshift)))

    def observe(self, scene, noise: NoiseSpec | dict | None = None,
                rng: np.random.Generator | None = None) -> Observation:
        """Observe ``scene``.

        Parameters
        ----------
        scene : EmissionScene
            Rendered on :meth:`scene_grid`.
        noise : NoiseSpec or dict, optional
            Noise model (default: none, with a nominal positive error cube).
        rng : numpy.random.Generator
            Source of all random draws (required when noise is drawn).

        Returns
        -------
        Observation
            ``data``/``error`` ``(nwave, ny, nx)`` [erg s^-1 cm^-2 um^-1 per spaxel].
        """
        spec = noise if isinstance(noise, NoiseSpec) else NoiseSpec.from_dict(noise)
        keep = ("OIII5007",) if self._oiii_usable(scene) else ()
        native, kept = self._render_native(scene, keep=keep)   # [OIII]5007 kept for the S/N
        data, error, info = self.add_noise(native, scene, spec, rng, oiii_cube=kept.get("OIII5007"))
        meta = {
            "instrument": self.name, "grating": self.grating, "filter": self.filter,
            "psf": str(self.psf_spec), "inflight_resolution_factor": self.inflight_resolution_factor,
            "oversample": self.oversample, "native_pixscale_arcsec": self.pixscale_arcsec,
            "resample_pixscale_arcsec": self.resample_pixscale_arcsec, "bunit": BUNIT,
            "noise": spec.to_dict(),
        }
        meta.update({k: v for k, v in info.items() if k not in ("noise_correlation", "noise_kernel")})
        return Observation(
            kind="ifu", data=data, error=error, wave_um=self.wave_um.copy(),
            pixscale_arcsec=self.output_pixscale_arcsec, redshift=float(scene.redshift),
            instrument=self, lsf_sigma_um=self.lsf_sigma_um(self.wave_um),
            noise_correlation=float(info["noise_correlation"]), noise_kernel=info["noise_kernel"], meta=meta,
        )


def _fft_len(n: int, multiple: int) -> int:
    """Smallest FFT-friendly length >= ``n`` divisible by ``multiple``: ``r`` times a
    5-smooth number (scipy's ``next_fast_len``), where ``r`` is the part of ``multiple``
    with prime factors above 5 (1 for oversample 1, 3, 5, 9, 15; 7, 11 or 13 otherwise,
    which no 5-smooth length is divisible by)."""
    r = int(multiple)
    for p in (2, 3, 5):
        while r % p == 0:
            r //= p
    if r > 1:
        return r * _fft_len(-(-int(n) // r), int(multiple) // r)
    m = -(-int(n) // multiple) * multiple
    while sfft.next_fast_len(m, real=True) != m:
        m += multiple
    return m


def _register_presets() -> None:
    for g in CUBEPARS:
        register_instrument(f"nirspec-ifu-{g}", functools.partial(NIRSpecIFU, g), replace=True)


_register_presets()
