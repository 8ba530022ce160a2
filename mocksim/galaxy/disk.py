"""Sérsic disk galaxies with an imposed metallicity profile, rendered as line maps.

The intrinsic Hβ surface brightness is a thin Sérsic disk (GalSim, drawn with
pixel integration on the instrument's fine grid, so flux is conserved). Every other
line follows from the local 12+log(O/H) through a strong-line calibration
(:func:`mocksim.physics.emission.line_ratios_to_hbeta`), Case B Balmer ratios and
optional dust. Kinematics: an arctan rotation curve and a constant dispersion.
"""
from __future__ import annotations

import functools
import math
import warnings
from dataclasses import dataclass, field

import galsim
import numpy as np
import scipy.fft as sfft

from ..cosmology import kpc_per_arcsec, luminosity_distance_cm
from ..errors import MocksimInputError, require_range
from ..geometry import axis_ratio_from_inclination, disk_coords, norm2
from ..lines import LINES
from ..physics.calibrations import get_calibration
from ..physics.dust import transmission
from ..physics.emission import _line_names, _line_ratios, line_ratios_to_hbeta
from ..scene import EmissionScene, SceneComponent, SceneGrid
from .components import Clump, Companion
from .profiles import LinearProfile

#: SFR = 13.16e-42 L(Hβ) [Msun/yr, erg/s], Chabrier IMF (seed 000 Eq. C2, Kennicutt 1998).
SFR_PER_LHBETA = 13.16e-42

DUST_LAWS = ("smc", "calzetti", "none")


@dataclass
class DiskGalaxy:
    """A model galaxy: a thin Sérsic disk with a radial metallicity profile.

    Parameters
    ----------
    redshift : float
        Systemic redshift.
    re_kpc : float
        Effective (half-light) radius along the major axis [kpc].
    profile : callable
        12+log(O/H) as a function of disk-plane radius [kpc], e.g.
        :class:`~mocksim.galaxy.profiles.LinearProfile`.
    inclination_deg : float
        Inclination [deg]; axis ratio ``cos i`` (thin disk). 0 = face-on.
    pa_deg : float
        Major-axis position angle [deg], North through East.
    sersic_n : float
        Sérsic index (1 = exponential).
    center_offset_arcsec : tuple of float
        Offset of the centre from the field centre ``(dx, dy)`` [arcsec].
    hbeta_flux_cgs : float, optional
        Total intrinsic (dust-free) Hβ flux of the disk [erg s^-1 cm^-2].
    sfr_msun_yr : float, optional
        Alternative normalisation: SFR [Msun/yr] converted with seed 000 Eq. C2.
    v_rot_kms : float
        Asymptotic rotation velocity [km/s].
    r_turn_kpc : float, optional
        Turnover radius of the arctan rotation curve [kpc]; default ``0.4 re_kpc``.
    sigma_kms : float
        Intrinsic velocity dispersion [km/s].
    av : float
        V-band attenuation at the centre [mag].
    av_scale_kpc : float, optional
        If given, A_V(r) = av * exp(-r / av_scale_kpc); otherwise uniform.
    dust_law : str
        ``"smc"``, ``"calzetti"`` or ``"none"``.
    clumps, companions : tuple
        Sub-structure (:mod:`mocksim.galaxy.components`).
    cosmology : str
        Astropy cosmology name.
    """

    redshift: float
    re_kpc: float
    profile: object
    inclination_deg: float = 0.0
    pa_deg: float = 0.0
    sersic_n: float = 1.0
    center_offset_arcsec: tuple[float, float] = (0.0, 0.0)
    hbeta_flux_cgs: float | None = 1e-17
    sfr_msun_yr: float | None = None
    v_rot_kms: float = 0.0
    r_turn_kpc: float | None = None
    sigma_kms: float = 50.0
    av: float = 0.0
    av_scale_kpc: float | None = None
    dust_law: str = "smc"
    clumps: tuple[Clump, ...] = ()
    companions: tuple[Companion, ...] = ()
    cosmology: str = "Planck18"
    _cache: dict = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self):
        require_range("population.redshift", self.redshift, 0.0, 20.0, low_inclusive=False)
        require_range("population.re_kpc", self.re_kpc, 0.0, 50.0, low_inclusive=False)
        require_range("population.inclination_deg", self.inclination_deg, 0.0, 85.0)
        require_range("population.pa_deg", self.pa_deg, -360.0, 360.0)
        require_range("population.sersic_n", self.sersic_n, 0.3, 6.2)
        require_range("population.v_rot_kms", self.v_rot_kms, 0.0, 1000.0)
        require_range("population.sigma_kms", self.sigma_kms, 0.0, 1000.0)
        require_range("population.av", self.av, 0.0, 10.0)
        if self.dust_law not in DUST_LAWS:
            raise MocksimInputError(f"population.dust_law: {self.dust_law!r}; allowed: {', '.join(DUST_LAWS)}")
        if self.sfr_msun_yr is not None:
            require_range("population.sfr_msun_yr", self.sfr_msun_yr, 0.0, 1e5, low_inclusive=False)
        elif self.hbeta_flux_cgs is None:
            raise MocksimInputError("population.hbeta_flux_cgs: give hbeta_flux_cgs or sfr_msun_yr")
        else:
            require_range("population.hbeta_flux_cgs", self.hbeta_flux_cgs, 0.0, 1e-10, low_inclusive=False)
        if self.r_turn_kpc is not None:
            require_range("population.r_turn_kpc", self.r_turn_kpc, 0.0, 50.0, low_inclusive=False)
        if self.av_scale_kpc is not None:
            require_range("population.av_scale_kpc", self.av_scale_kpc, 0.0, 100.0, low_inclusive=False)

    # ------------------------------------------------------------------ basics
    @property
    def axis_ratio(self) -> float:
        return axis_ratio_from_inclination(self.inclination_deg)

    @property
    def kpc_per_arcsec(self) -> float:
        return kpc_per_arcsec(float(self.redshift), self.cosmology)

    @property
    def total_hbeta_flux(self) -> float:
        """Intrinsic (dust-free) Hβ flux of the disk [erg s^-1 cm^-2]."""
        if self.sfr_msun_yr is not None:
            lum = self.sfr_msun_yr / SFR_PER_LHBETA
            dl = luminosity_distance_cm(float(self.redshift), self.cosmology)
            return lum / (4.0 * np.pi * dl**2)
        return float(self.hbeta_flux_cgs)

    # ------------------------------------------------------------------ render
    def render(self, grid: SceneGrid, calibration, lines=None) -> EmissionScene:
        """Render line-flux, velocity and dispersion maps on ``grid``.

        Parameters
        ----------
        grid : SceneGrid
            Fine sky grid from ``instrument.scene_grid()``.
        calibration : str or Calibration
            Strong-line calibration that maps 12+log(O/H) to line ratios.
        lines : iterable of str, optional
            Lines to render (default: all of :data:`mocksim.lines.LINES`).

        Returns
        -------
        EmissionScene
        """
        lines = list(LINES) if lines is None else list(lines)
        scale = self.kpc_per_arcsec
        x, y = _grid_axes(grid)
        dx0, dy0 = self.center_offset_arcsec
        comps = []

        # main disk
        q = self.axis_ratio
        hb = _draw_sersic(self.sersic_n, self.re_kpc / scale, q, self.pa_deg, self.total_hbeta_flux, grid, (dx0, dy0),
                          _DISK_FIELDS)
        u, v = disk_coords(x, y, self.pa_deg, q, dx0, dy0)  # (ny, nx)
        r_kpc = norm2(u, v)
        r_kpc *= scale
        log_oh = np.asarray(self.profile(r_kpc), dtype=float)
        vlos = self._vlos(u, v, scale, self.v_rot_kms, self.r_turn_kpc or 0.4 * self.re_kpc,
                          self.inclination_deg, r_kpc)
        av_map = self._av_map(r_kpc)
        comps.append(SceneComponent("disk", _line_maps(hb, log_oh, av_map, calibration, self.dust_law, lines),
                                    vlos, np.full(grid.shape, float(self.sigma_kms))))

        for k, clump in enumerate(self.clumps):
            comps.append(self._render_clump(k, clump, grid, scale, calibration, lines))
        for k, comp in enumerate(self.companions):
            comps.append(self._render_companion(k, comp, grid, scale, calibration, lines))

        truth = {
            "log_oh_map": log_oh,
            "r_kpc_map": r_kpc,
            "hbeta_intrinsic_map": hb,
            "kpc_per_arcsec": scale,
            "center_arcsec": (dx0, dy0),
        }
        return EmissionScene(redshift=float(self.redshift), grid=grid, components=comps, truth=truth)

    def check_drawable(self, grid: SceneGrid) -> None:
        """Raise :class:`~mocksim.errors.MocksimInputError` if a profile of this galaxy is
        too compact or too inclined to be drawn on ``grid`` within GalSim's
        ``maximum_fft_size`` (what :meth:`render` would raise, found without drawing)."""
        scale = self.kpc_per_arcsec
        profs = [(_sersic_profile(self.sersic_n, self.re_kpc / scale, self.axis_ratio, self.pa_deg, 1.0),
                  _DISK_FIELDS)]
        profs += [(galsim.Gaussian(fwhm=c.fwhm_kpc / scale, gsparams=GSPARAMS), f"clumps[{k}].fwhm_kpc")
                  for k, c in enumerate(self.clumps)]
        profs += [(_sersic_profile(c.sersic_n, c.re_kpc / scale, axis_ratio_from_inclination(c.inclination_deg),
                                   c.pa_deg, 1.0), f"companions[{k}]: sersic_n, re_kpc, inclination_deg")
                  for k, c in enumerate(self.companions)]
        img = _centred_image(grid.shape[1], grid.shape[0])
        for prof, what in profs:
            _kimage_size(_pixel_scale(grid.pixscale_arcsec).profileToImage(prof), img, what)

    def _vlos(self, u, v, scale, v_rot, r_turn_kpc, incl_deg, r=None):
        """Line-of-sight velocity [km/s] at disk coordinates ``(u, v)`` [arcsec]; ``r`` is
        ``norm2(u, v) * scale`` [kpc] if already computed."""
        if r is None:
            r = norm2(u, v) * scale
        if v_rot == 0:
            return np.zeros_like(r)
        if r.min() > 0:  # no pixel at the centre (nor NaN): a plain division
            cosphi = u * scale
            cosphi /= r
        else:
            cosphi = np.divide(u * scale, r, out=np.zeros_like(r), where=r > 0)
        vlos = r / r_turn_kpc
        np.arctan(vlos, out=vlos)                     # in place from here on
        vlos *= v_rot * (2.0 / np.pi)                 # circular velocity
        vlos *= np.sin(np.radians(incl_deg))
        vlos *= cosphi
        return vlos

    def _av_map(self, r_kpc):
        if self.av == 0 or self.dust_law == "none":
            return None
        if self.av_scale_kpc is None:
            return np.full(r_kpc.shape, float(self.av))
        return self.av * np.exp(-r_kpc / self.av_scale_kpc)

    def _render_clump(self, k, clump, grid, scale, calibration, lines):
        phi = np.radians(clump.phi_deg)
        u_c, v_c = clump.r_kpc * np.cos(phi) / scale, clump.r_kpc * np.sin(phi) / scale  # arcsec, disk plane
        pa = np.radians(self.pa_deg)
        q = self.axis_ratio
        # sky offsets: major-axis unit (-sin PA, cos PA); minor-axis unit (-cos PA, -sin PA)
        cx = self.center_offset_arcsec[0] - u_c * np.sin(pa) - v_c * q * np.cos(pa)
        cy = self.center_offset_arcsec[1] + u_c * np.cos(pa) - v_c * q * np.sin(pa)
        flux = clump.hbeta_fraction * self.total_hbeta_flux
        prof = galsim.Gaussian(fwhm=clump.fwhm_kpc / scale, flux=flux, gsparams=GSPARAMS)
        hb = _draw(prof, grid, (cx, cy), f"clumps[{k}].fwhm_kpc")
        local = float(self.profile(clump.r_kpc))
        z_clump = clump.log_oh if clump.log_oh is not None else local + clump.delta_log_oh
        log_oh = np.full(grid.shape, z_clump)
        u, v = disk_coords(*_grid_axes(grid), self.pa_deg, q, *self.center_offset_arcsec)
        vdisk = self._vlos(np.array([u_c]), np.array([v_c]), scale, self.v_rot_kms,
                           self.r_turn_kpc or 0.4 * self.re_kpc, self.inclination_deg)[0]
        av_map = self._av_map(norm2(u, v) * scale)
        return SceneComponent(f"clump{k}", _line_maps(hb, log_oh, av_map, calibration, self.dust_law, lines),
                              np.full(grid.shape, vdisk), np.full(grid.shape, float(self.sigma_kms)))

    def _render_companion(self, k, comp, grid, scale, calibration, lines):
        off = (self.center_offset_arcsec[0] + comp.dx_arcsec, self.center_offset_arcsec[1] + comp.dy_arcsec)
        q = axis_ratio_from_inclination(comp.inclination_deg)
        flux = comp.hbeta_fraction * self.total_hbeta_flux
        hb = _draw_sersic(comp.sersic_n, comp.re_kpc / scale, q, comp.pa_deg, flux, grid, off,
                          f"companions[{k}]: sersic_n, re_kpc, inclination_deg")
        u, v = disk_coords(*_grid_axes(grid), comp.pa_deg, q, *off)
        r_kpc = norm2(u, v) * scale
        log_oh = comp.log_oh_center + comp.gradient_dex_per_kpc * r_kpc
        vlos = comp.dv_kms + self._vlos(u, v, scale, comp.v_rot_kms, 0.4 * comp.re_kpc, comp.inclination_deg)
        return SceneComponent(f"companion{k}", _line_maps(hb, log_oh, None, calibration, "none", lines),
                              vlos, np.full(grid.shape, float(comp.sigma_kms)))


#: The parameters that set the disk's drawing size (named in "too compact to draw" errors).
_DISK_FIELDS = "population: sersic_n, re_kpc, inclination_deg"


def linear_disk(redshift, re_kpc, log_oh_center, gradient_dex_per_kpc, **kw) -> DiskGalaxy:
    """Convenience constructor for a disk with a linear metallicity gradient."""
    require_range("population.log_oh_center", log_oh_center, 6.0, 10.0)
    require_range("population.gradient_dex_per_kpc", gradient_dex_per_kpc, -5.0, 5.0)
    return DiskGalaxy(redshift=redshift, re_kpc=re_kpc,
                      profile=LinearProfile(log_oh_center, gradient_dex_per_kpc), **kw)


# ---------------------------------------------------------------------- helpers
@functools.lru_cache(maxsize=16)
def _grid_axes(grid: SceneGrid) -> tuple[np.ndarray, np.ndarray]:
    """Fine-pixel centre offsets of ``grid`` [arcsec] as read-only ``(1, nx)`` and
    ``(ny, 1)`` arrays: the values of ``grid.coords_arcsec()``, which broadcast to the
    full grid in element-wise expressions (e.g. :func:`mocksim.geometry.disk_coords`)."""
    x, y = grid.coords_arcsec()
    x, y = x[:1].copy(), y[:, :1].copy()
    x.flags.writeable = y.flags.writeable = False
    return x, y


#: GalSim settings of every draw here: GalSim's defaults except ``minimum_fft_size``
#: (default 128), a floor on the FFT size that is not one of GalSim's accuracy criteria.
#: Those stay at their defaults: the FFT still covers the stamp and the profile's own
#: size for ``folding_threshold`` (5e-3), and the k image still reaches ``maxk``
#: (``maxk_threshold`` 1e-3). A W2 stamp (96 fine pixels) is then drawn with a 96-point
#: FFT instead of 128 (a W1 stamp, 45, with 64 to 96), ~1.8x fewer k-space points
#: (W2 draws alone 0.80x; ~0.1 ms per galaxy in the pipeline, ~1 % of W2). Images move
#: by < 3e-4 (W2) / 1.1e-3 (W1) of the peak, below GalSim's own error at the default
#: accuracy (~4e-3 / ~1.3e-2 of the peak against a draw at ``maxk_threshold = 1e-5``,
#: ``folding_threshold = 1e-4``); noise-free W1 and W2 gradients move by < 2e-5 dex/kpc
#: (``tests/test_galsim_fft_size.py``).
GSPARAMS = galsim.GSParams(minimum_fft_size=64)


@functools.lru_cache(maxsize=8)
def _pixel_scale(pixscale_arcsec: float) -> galsim.PixelScale:
    """The WCS of a grid of ``pixscale_arcsec`` pixels (one per grid)."""
    return galsim.PixelScale(pixscale_arcsec)


_PIXEL_K_MAX = 1024  #: largest k grid whose pixel k image is cached (~8 MB)


@functools.lru_cache(maxsize=8)
def _unit_pixel(gsparams: galsim.GSParams):
    """``(Pixel(scale=1), {dk: k image})`` of ``gsparams`` (the pixel ``drawImage`` convolves
    with, built once; the dict holds the read-only k image of the largest size drawn)."""
    return galsim.Pixel(scale=1.0, gsparams=gsparams), {}


def _unit_pixel_kimage(gsparams: galsim.GSParams, dk: float, nk: int) -> np.ndarray:
    """k image of the unit pixel on GalSim's ``drawFFT`` k grid of size ``nk`` (even) and
    step ``dk``: rows ``ky = -nk/2 .. nk/2``, columns ``kx = 0 .. nk/2`` (times ``dk``).

    A view into one cached larger image: the pixel's k values depend on the grid point
    alone, so the centred sub-grid of a larger drawing holds the same numbers
    (``tests/test_galsim_draw.py`` checks it bit for bit).
    """
    pixel, kimages = _unit_pixel(gsparams)
    arr = kimages.get(dk)
    if arr is None or arr.shape[0] < nk + 1:
        big = max(nk, 256, 0 if arr is None else arr.shape[0] - 1)
        if big > _PIXEL_K_MAX:
            big = nk                                  # a rare large grid: drawn, not kept
        kim = galsim.ImageCD(galsim.BoundsI(0, big // 2, -(big // 2), big // 2), scale=dk)
        pixel.drawKImage(image=kim, recenter=False)
        if big > _PIXEL_K_MAX:
            return kim.array
        arr = kimages[dk] = kim.array
        arr.flags.writeable = False
    c, h = arr.shape[0] // 2, nk // 2
    return arr[c - h:c + h + 1, :h + 1]


@functools.lru_cache(maxsize=16)
def _centred_image(nx: int, ny: int) -> galsim.ImageD:
    """An ``nx`` x ``ny`` unit-scale image centred on pixel (0, 0) (``ImageD(nx, ny)``
    after ``setCenter(0, 0)``), made once per shape: :func:`_draw` only reads its
    bounds (to size the k image), never its pixels."""
    img = galsim.ImageD(nx, ny, scale=1.0)
    img.setCenter(0, 0)
    return img


def _wrap_runs(lo: int, length: int, n: int) -> list:
    """``[(dst, src)]`` slices copying indices ``lo .. lo + length - 1`` taken modulo ``n``
    (``length <= n``: at most two contiguous runs)."""
    runs, d = [], 0
    while d < length:
        s = (lo + d) % n
        m = min(length - d, n - s)
        runs.append((slice(d, d + m), slice(s, s + m)))
        d += m
    return runs


@functools.lru_cache(maxsize=16)
def _centred_blocks(bounds: galsim.BoundsI, n: int) -> tuple:
    """Blocks ``(dst, src)`` of an unshifted ``n`` x ``n`` inverse FFT that hold the pixels
    of ``bounds`` (pixel (0, 0) at index (0, 0); negative pixels wrap to the end): at
    most four block copies instead of a fancy-index gather (same values, ~4x faster)."""
    rows = _wrap_runs(bounds.ymin, bounds.ymax - bounds.ymin + 1, n)
    cols = _wrap_runs(bounds.xmin, bounds.xmax - bounds.xmin + 1, n)
    shape = (bounds.ymax - bounds.ymin + 1, bounds.xmax - bounds.xmin + 1)
    return shape, tuple(((rd, cd), (rs, cs)) for rd, rs in rows for cd, cs in cols)


def _wrapped_inverse(kimage: galsim.ImageCD, n: int, bounds: galsim.BoundsI) -> np.ndarray:
    """The image ``drawFFT_finish`` makes of a drawn ``kimage``: the k image wrapped
    onto ``n`` x ``n`` frequencies (GalSim's ``wrap``, Hermitian in x), then its inverse
    real FFT (scipy's; numpy's takes up to twice as long on these sizes and GalSim's own ~4x,
    all equal to ~1e-16 of the peak), cut to ``bounds``."""
    h = n // 2
    wrapped = kimage.wrap(galsim.BoundsI(0, h, -h, h - 1), hermitian="x").array
    real = sfft.irfft2(np.concatenate((wrapped[h:], wrapped[:h])), s=(n, n))   # ifftshift: rows ky = 0.., -n/2..
    shape, blocks = _centred_blocks(bounds, n)
    out = np.empty(shape)
    for dst, src in blocks:
        out[dst] = real[src]
    return out


def _kimage_buffer(nk: int) -> np.ndarray:
    """Uninitialised ``(nk + 1, nk // 2 + 1)`` complex array for a k image (every value is
    then drawn: the zeros ``ImageCD`` would write first are not needed)."""
    return np.empty((nk + 1, nk // 2 + 1), np.complex128)


def _make_kimage(in_pixels, img: galsim.ImageD, what: str = "galaxy profile"):
    """``(k image, wrap size)`` of ``Convolve(in_pixels, unit pixel).drawFFT_makeKImage(img)``
    (GalSim 2.5-2.8) without building the convolution (:func:`_kimage_size`), the k image
    on :func:`_kimage_buffer`. ``tests/test_galsim_draw.py`` compares both, bounds and
    scale, and the draws bit for bit. A k image above the GSParams' ``maximum_fft_size``
    raises :class:`~mocksim.errors.MocksimInputError` (GalSim would warn and allocate it:
    tens of GB for a compact, highly inclined n = 4 disk on a 0.02" grid).
    """
    nk, n, dk = _kimage_size(in_pixels, img, what)
    kimage = galsim._Image(_kimage_buffer(nk), galsim._BoundsI(0, nk // 2, -nk // 2, nk // 2),
                           galsim.PixelScale(dk))
    return kimage, n


def _kimage_size(in_pixels, img: galsim.ImageD, what: str = "galaxy profile") -> tuple:
    """``(nk, wrap size, dk)`` that ``drawFFT_makeKImage`` of the convolution with the unit
    pixel gives ``img`` (unit scale): its ``stepk`` and ``maxk`` from the two profiles'
    (``Convolution._stepk`` / ``_maxk``), then the same rounding. Raises
    :class:`~mocksim.errors.MocksimInputError` about ``what`` above ``maximum_fft_size``."""
    gsp = in_pixels.gsparams
    pixel = _unit_pixel(gsp)[0]
    stepk = (in_pixels.stepk ** -2 + pixel.stepk ** -2) ** -0.5
    maxk = min(in_pixels.maxk, pixel.maxk)
    n = int(math.ceil(2. * math.pi / (1.0 * stepk) * (1. - 1.e-12)))   # getGoodImageSize(1.0)
    n = 2 * ((n + 1) // 2)
    b = img.bounds
    n = max(n, max(abs(b.xmin), abs(b.xmax), abs(b.ymin), abs(b.ymax)) * 2, b.xmax - b.xmin + 1,
            b.ymax - b.ymin + 1)
    n = max(galsim.Image.good_fft_size(n), gsp.minimum_fft_size)
    dk = 2. * np.pi / (n * 1.0)
    nk = n if n * dk / 2 > maxk else int(np.ceil(maxk / dk)) * 2
    if nk > gsp.maximum_fft_size:
        raise MocksimInputError(
            f"{what}: too compact or too inclined for the {img.array.shape[1]} x {img.array.shape[0]} fine grid: "
            f"drawing it needs a {nk} x {nk} FFT ({16e-9 * (nk + 1) * (nk // 2 + 1):.1f} GB), above "
            f"maximum_fft_size = {gsp.maximum_fft_size}; use a lower Sérsic index or inclination or a "
            f"larger radius")
    return nk, n, dk


def _draw(prof, grid: SceneGrid, offset_arcsec, what: str = "galaxy profile") -> np.ndarray:
    """Pixel-integrated image of ``prof`` on ``grid``, centred at ``offset_arcsec`` [arcsec]:
    ``prof.drawImage(image=ImageD(nx, ny, scale=pix), offset=off / pix, method="auto")``.

    Done as ``drawImage`` does it for that call, with the same public GalSim steps (so the
    same image to ~1e-16 of its peak, ``tests/test_galsim_draw.py``), less its per-call
    checks: the profile in pixel units (``PixelScale.profileToImage``; the offset less
    0.5 pixel along even axes, ``use_true_center``) convolved with the unit pixel, i.e.
    its k image (sized as ``drawFFT_makeKImage`` sizes it, :func:`_make_kimage`) times
    the pixel's (cached, :func:`_unit_pixel_kimage`, instead of drawn and copied for
    every galaxy), wrapped and transformed as ``drawFFT_finish`` does
    (:func:`_wrapped_inverse`) onto an image centred on pixel (0, 0). ``prof`` must be
    analytic only in k space (true of the profiles here), so that ``drawImage`` takes the
    FFT path.
    """
    ny, nx = grid.shape
    pix = grid.pixscale_arcsec
    gsp = prof.gsparams
    dx = offset_arcsec[0] / pix - (0.5 if nx % 2 == 0 else 0.0)
    dy = offset_arcsec[1] / pix - (0.5 if ny % 2 == 0 else 0.0)
    img = _centred_image(nx, ny)
    in_pixels = _pixel_scale(pix).profileToImage(prof, offset=galsim.PositionD(dx, dy))
    kimage, wrap_size = _make_kimage(in_pixels, img, what)
    in_pixels.drawKImage(image=kimage, recenter=False)
    kimage.array[:, :] *= _unit_pixel_kimage(gsp, kimage.scale, kimage.array.shape[0] - 1)
    return _wrapped_inverse(kimage, wrap_size, img.bounds)


def _draw_sersic(n, re_arcsec, q, pa_deg, flux, grid, offset_arcsec, what=_DISK_FIELDS) -> np.ndarray:
    """Pixel-integrated thin Sérsic disk (:func:`_sersic_profile`) on ``grid``."""
    return _draw(_sersic_profile(n, re_arcsec, q, pa_deg, flux), grid, offset_arcsec, what)


def _sersic_profile(n, re_arcsec, q, pa_deg, flux):
    """GalSim profile of a thin Sérsic disk; major-axis half-light radius ``re_arcsec``.

    ``n = 1`` is drawn as ``galsim.Exponential``: the same profile, with an analytic
    Fourier transform, so about twice as fast as ``Sersic(n=1)``; the two agree to
    < 5e-4 of the peak, within GalSim's default accuracy (both differ from a brute-force
    pixel integration by ~1e-3 of the peak).
    """
    if float(n) == 1.0:
        prof = galsim.Exponential(half_light_radius=float(re_arcsec), flux=float(flux), gsparams=GSPARAMS)
    else:
        prof = galsim.Sersic(n=float(n), half_light_radius=float(re_arcsec), flux=float(flux), gsparams=GSPARAMS)
    if q < 1.0:
        # shear() preserves area; dilating by sqrt(q) keeps the major axis at re
        prof = prof.shear(q=float(q), beta=(90.0 + pa_deg) * galsim.degrees).dilate(np.sqrt(q))
    return prof


def _line_maps(hb, log_oh, av_map, calibration, dust_law, lines) -> dict[str, np.ndarray]:
    """Line-flux maps from the Hβ map, the metallicity map and the dust map.

    Polynomial calibrations cannot be evaluated far outside their fitted range, but
    a linear gradient reaches any value far enough out. Beyond the calibration's
    search domain (validity +/- 0.3 dex, or +/- ``extrapolate_dex`` for a calibration
    from ``get_calibration(name, extrapolate_dex=d)``, which explicitly extrapolates
    the polynomials) the line ratios are held at the domain-edge values (the metallicity
    truth map is untouched); the Hβ-flux fraction affected is warned about when above 1 %.
    """
    cal = get_calibration(calibration) if isinstance(calibration, str) else calibration
    lo, hi = cal.search_domain
    ymin, ymax = float(log_oh.min()), float(log_oh.max())
    finite = np.isfinite(ymin) and np.isfinite(ymax)
    if finite:
        outside, y = _held_at_domain(log_oh, ymin, ymax, lo, hi)
    else:  # inf is clipped like any value; NaN makes line_ratios_to_hbeta raise below
        outside = (log_oh < lo) | (log_oh > hi)
        y = np.clip(log_oh, lo, hi) if outside.any() else log_oh
    if outside is not None and outside.any():
        hb_sum = hb.sum()
        frac = float(hb[outside].sum() / hb_sum) if hb_sum > 0 else 0.0
        if frac > 0.01:
            warnings.warn(f"{frac:.1%} of the Hβ flux lies where 12+log(O/H) is outside the {cal.name} domain "
                          f"[{lo:g}, {hi:g}]; line ratios there are held at the domain edge", stacklevel=3)
    if finite:  # y is finite and within the search domain: no checks needed
        ratios = _line_ratios(cal, np.asarray(y, dtype=float), _line_names(lines))
    else:
        ratios = line_ratios_to_hbeta(y, cal, range_policy="extrapolate", lines=lines)
    out = {}
    for name in lines:
        ratio = ratios[name]
        if ratio.flags.writeable and ratio.shape == hb.shape:  # a fresh array of its own
            ratio *= hb                                          # = hb * ratio
            fl = ratio
        else:                                                    # Balmer: read-only constant view
            fl = hb * ratio
        if av_map is not None:
            fl *= transmission(dust_law, LINES[name].wave_um, av_map)
        out[name] = fl
    return out


def _held_at_domain(log_oh, ymin, ymax, lo, hi):
    """``(outside, y)``: the mask of ``log_oh`` values outside ``[lo, hi]`` (None if
    there are none) and ``np.clip(log_oh, lo, hi)`` (``log_oh`` itself if nothing is
    clipped), given the extremes ``ymin``, ``ymax`` of ``log_oh``. Clipping at one
    side only when the other is not reached, with one comparison for the mask."""
    if ymin < lo and ymax > hi:
        return (log_oh < lo) | (log_oh > hi), np.clip(log_oh, lo, hi)
    if ymin < lo:
        return log_oh < lo, np.maximum(log_oh, lo)
    if ymax > hi:
        return log_oh > hi, np.minimum(log_oh, hi)
    return None, log_oh
