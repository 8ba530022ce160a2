"""Noise models for spectral cubes: none, target integrated S/N, exposure time.

Definition of the integrated [OIII]5007 S/N (``model="snr"``)
-------------------------------------------------------------
Let ``M`` be the noise-free cube of [OIII]5007 alone (all components, PSF- and
LSF-convolved, native spaxels, flux density [erg s^-1 cm^-2 um^-1]) and
``m = sum_k M_k * dlambda`` its line map.

1. Aperture ``A``: the native spaxels whose centres lie within ``R_ap`` of the
   flux-weighted centroid of ``m``. ``R_ap`` is ``NoiseSpec.snr_aperture_arcsec``
   or, by default, the smallest radius enclosing ``snr_enclosed_fraction``
   (default 90 %) of the in-field [OIII]5007 flux.
2. Template: ``p_k = sum_A M_k / F_ap`` with ``F_ap = sum_A m`` the noise-free
   aperture flux [erg s^-1 cm^-2]; ``sum_k p_k dlambda = 1`` [1/um].
3. Estimator (optimal spectral weighting, uniform spatial weighting): with the
   aperture spectrum ``s_k = sum_A D_k``, ``F_hat = sum_k p_k s_k / sum_k p_k^2``;
   ``E[F_hat] = F_ap`` for an isolated line.
4. ``S/N = F_ap / std(F_hat)``. For i.i.d. noise sigma per voxel,
   ``std(F_hat) = sigma * sqrt(N_A / sum_k p_k^2)``.

``model="snr"`` draws uniform Gaussian noise (the same sigma for every native
spaxel and channel) with sigma chosen so that this S/N equals ``snr_oiii``.

``snr_definition = "peak_re"`` instead follows seed 001 (Sect. 6, Table 4): the
S/N is the *average per-spaxel S/N within the effective radius in the brightest
channel* of [OIII]5007, i.e. ``sigma = mean_{A50}(M_kmax) / snr_oiii`` where
``A50`` are the spaxels inside the radius enclosing half the line flux (at least
one spaxel) and ``kmax`` the channel where their summed flux peaks.
:class:`LineSNRAperture` implements the definition and is public so tests and
recovery code can measure it.

Exposure model (``model="exposure"``)
-------------------------------------
Per native voxel, with the IFU sensitivity ``S(lambda)`` [e- s^-1 uJy^-1 um^-1]
(msaexp curves, see ``data/nirspec_ifu_sensitivity.csv``; gain 1 e-/DN, JDox
"NIRSpec Detector Performance": "average gain ... near unity"), detector
dispersion DLDS [um/pixel] and total time ``t`` split into ``n_exposures``
dithered exposures, a cube voxel (one spaxel, one channel of width dlambda)
collects ``E = (f_nu + B_nu) S dlambda t`` electrons from ``n_spec = dlambda/DLDS``
spectral times ``n_spat = (pixscale/0.10435'')^2`` spatial detector pixels, each
read ``n_exposures`` times: ``var = E + n_spec n_spat n_exposures read_noise_e^2``
[e-^2] and ``sigma(f_nu) = sqrt(var) / (S dlambda t)``. ``n_spec`` and ``n_spat``
may be below 1 (PRISM channels of 0.005 um are 1/4-1/2 of a detector pixel; 0.05''
spaxels 1/4 of one): the voxels' noise is drawn independently, so each voxel carries
its share of the detector pixels' variance and sums over wavelength or area (line
fluxes, annuli) have the detector's noise whatever the sampling. Source and background
Poisson noise use the Gaussian approximation (the expected, noise-free source
counts set the variance). Constants:

* ``read_noise_e = 6`` e- per pixel per exposure: JDox "NIRSpec Detector Readout
  Modes and Patterns": IRS2 was designed for the "<6 e- total noise, measured over
  ~1000 s long dark exposures" requirement (Rauscher et al. 2012; in-flight:
  Birkmann et al. 2022, arXiv:2208.12686). Effective noise after ramp fitting.
* ``background_mjysr = 0.2`` MJy/sr: an assumed representative low-to-moderate
  zodiacal level at 1-5 um (order of magnitude only; the real level depends on
  pointing and date -- JDox "JWST Background Model", Rigby et al. 2023, PASP 135,
  048002). Set it per scenario for quantitative work.
* detector pixel 0.10435'' (stpsf/SIAF, anchors section 5.3).

No noise (``model="none"``)
---------------------------
The data are the noise-free cube. The error cube is still positive so chi^2 code
works: it is the ``snr`` sigma if ``snr_oiii`` is given, else the exposure-model
sigma if ``exposure_s`` is given, else a uniform nominal floor
``floor_fraction * max|cube|`` (default 1e-3 of the peak; not physical).
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

from ..errors import MocksimInputError
from ..geometry import norm2
from .lsf import read_csv_table

SENSITIVITY_TABLE = Path(__file__).resolve().parent / "data" / "nirspec_ifu_sensitivity.csv"
NOISE_MODELS = ("none", "snr", "exposure")
#: "integrated": seed 000 (total [OIII]5007 S/N); "peak_re": seed 001 (mean per-spaxel
#: S/N within Re in the brightest [OIII]5007 channel).
SNR_DEFINITIONS = ("integrated", "peak_re")
C_UM_S = 2.99792458e14  #: speed of light [micron / s]
ARCSEC_PER_RAD = 206264.80624709636
NIRSPEC_DETECTOR_PIXSCALE = 0.10435  #: NIRSpec detector pixel [arcsec] (stpsf, SIAF)
NIRSPEC_GAIN_E_PER_DN = 1.0  #: JDox "NIRSpec Detector Performance": gain near unity
_NOISE_CHUNK = 32768  #: voxels per chunk of apply_noise (256 kB: stays in cache)


def noise_generator(seed) -> np.random.Generator:
    """Random generator of the noise deviates of one observation.

    ``numpy.random.SFC64`` (Doty-Humphrey's Small Fast Chaotic generator: expected
    period ~2^255, at least 2^64, passes PractRand and TestU01 BigCrush; numpy keeps a
    fixed seed's stream fixed across versions) seeded from ``seed`` (a
    ``numpy.random.SeedSequence`` or an int) through ``SeedSequence`` as numpy's default
    PCG64 is. Its normal deviates cost ~0.8x PCG64's, which matters where one deviate per
    voxel is the largest single cost of a mock (300,000 per W1 cube).

    Parameters
    ----------
    seed : numpy.random.SeedSequence or int

    Returns
    -------
    numpy.random.Generator
    """
    return np.random.Generator(np.random.SFC64(seed))


def _positive(key, value, *, allow_zero=False):
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise MocksimInputError(f"{key}: {value!r} is not a number") from None
    ok = np.isfinite(v) and (v >= 0 if allow_zero else v > 0)
    if not ok:
        rng = "[0, inf)" if allow_zero else "(0, inf)"
        raise MocksimInputError(f"{key}: {value!r} is outside the allowed range {rng}")
    return v


@dataclass(frozen=True)
class NoiseSpec:
    """How to add noise to an observation.

    Parameters
    ----------
    model : {"none", "snr", "exposure"}
        See the module docstring.
    snr_oiii : float, optional
        Target integrated [OIII]5007 S/N (required and > 0 for ``"snr"``).
    exposure_s : float, optional
        Total on-source exposure time [s] (required and > 0 for ``"exposure"``).
    read_noise_e : float
        Effective read noise per detector pixel per exposure [e-] (default 6).
    n_exposures : int
        Number of dithered exposures sharing ``exposure_s`` (default 4).
    background_mjysr : float
        Sky (zodiacal) surface brightness [MJy/sr] (default 0.2, assumed).
    snr_aperture_arcsec : float, optional
        Aperture radius of the S/N definition [arcsec]; default: the radius
        enclosing ``snr_enclosed_fraction`` of the [OIII]5007 flux.
    snr_enclosed_fraction : float
        Enclosed-flux fraction defining the default aperture (default 0.9).
    floor_fraction : float
        ``"none"`` without other information: error = this fraction of the cube peak.
    """

    model: str = "none"
    snr_oiii: float | None = None
    exposure_s: float | None = None
    read_noise_e: float = 6.0
    n_exposures: int = 4
    background_mjysr: float = 0.2
    snr_aperture_arcsec: float | None = None
    snr_enclosed_fraction: float = 0.9
    floor_fraction: float = 1e-3
    snr_definition: str = "integrated"

    def __post_init__(self):
        model = str(self.model).strip().lower() if self.model is not None else "none"
        if model not in NOISE_MODELS:
            raise MocksimInputError(
                f"noise.model: {self.model!r} is not one of {', '.join(NOISE_MODELS)}")
        object.__setattr__(self, "model", model)
        if model == "snr" and self.snr_oiii is None:
            raise MocksimInputError("noise.snr_oiii: required (> 0) when noise.model is 'snr'")
        if model == "exposure" and self.exposure_s is None:
            raise MocksimInputError("noise.exposure_s: required (> 0 s) when noise.model is 'exposure'")
        if self.snr_oiii is not None:
            object.__setattr__(self, "snr_oiii", _positive("noise.snr_oiii", self.snr_oiii))
        if self.exposure_s is not None:
            object.__setattr__(self, "exposure_s", _positive("noise.exposure_s", self.exposure_s))
        object.__setattr__(self, "read_noise_e",
                           _positive("noise.read_noise_e", self.read_noise_e, allow_zero=True))
        object.__setattr__(self, "background_mjysr",
                           _positive("noise.background_mjysr", self.background_mjysr, allow_zero=True))
        n = self.n_exposures
        if isinstance(n, bool) or not isinstance(n, (int, float, np.integer, np.floating)) \
                or not float(n).is_integer() or int(n) < 1:
            raise MocksimInputError(f"noise.n_exposures: {n!r} must be an integer >= 1")
        object.__setattr__(self, "n_exposures", int(n))
        if self.snr_aperture_arcsec is not None:
            object.__setattr__(self, "snr_aperture_arcsec",
                               _positive("noise.snr_aperture_arcsec", self.snr_aperture_arcsec))
        try:
            f = float(self.snr_enclosed_fraction)
        except (TypeError, ValueError):
            f = float("nan")
        if not (0.0 < f <= 1.0):
            raise MocksimInputError(
                f"noise.snr_enclosed_fraction: {self.snr_enclosed_fraction!r} is outside (0, 1]")
        object.__setattr__(self, "snr_enclosed_fraction", f)
        if self.snr_definition not in SNR_DEFINITIONS:
            raise MocksimInputError(f"noise.snr_definition: {self.snr_definition!r} is not one of "
                                    f"{', '.join(SNR_DEFINITIONS)}")
        object.__setattr__(self, "floor_fraction", _positive("noise.floor_fraction", self.floor_fraction))

    @classmethod
    def from_dict(cls, d: dict | None) -> "NoiseSpec":
        """Build from a scenario mapping; unknown keys raise ``noise.<key>`` errors."""
        d = dict(d or {})
        names = {f.name for f in fields(cls)}
        for k in d:
            if k not in names:
                raise MocksimInputError(
                    f"noise.{k}: unknown key; allowed keys are {', '.join(sorted(names))}")
        return cls(**d)

    def to_dict(self) -> dict:
        """Plain-dict form (for metadata and FITS headers); the fields are plain scalars,
        so a shallow dict equals ``dataclasses.asdict`` (which deep-copies, ~10x slower)."""
        return {name: getattr(self, name) for name in _NOISE_SPEC_FIELDS}


_NOISE_SPEC_FIELDS = tuple(f.name for f in fields(NoiseSpec))  #: in declaration order


# --------------------------------------------------------------------- S/N
@dataclass
class LineSNRAperture:
    """The integrated-line S/N definition (see module docstring).

    Attributes
    ----------
    mask : ndarray of bool
        ``(ny, nx)`` aperture on the native spaxel grid.
    profile_per_um : ndarray
        ``(nwave,)`` template ``p_k`` [1/um], ``sum p dlambda = 1``.
    flux_ap : float
        Noise-free line flux in the aperture [erg s^-1 cm^-2].
    flux_total : float
        Noise-free line flux in the whole field [erg s^-1 cm^-2].
    radius_arcsec : float
        Aperture radius [arcsec].
    centre_pix : tuple of float
        Centroid ``(y, x)`` in native pixel indices.
    """

    mask: np.ndarray
    profile_per_um: np.ndarray
    flux_ap: float
    flux_total: float
    radius_arcsec: float
    centre_pix: tuple[float, float]
    peak_mean_re: float = float("nan")

    @property
    def n_spaxels(self) -> int:
        return int(np.count_nonzero(self.mask))

    def estimate_flux(self, cube: np.ndarray) -> np.ndarray:
        """Optimally weighted aperture flux ``F_hat`` [erg s^-1 cm^-2].

        ``cube`` has shape ``(..., nwave, ny, nx)`` (leading axes = realisations).
        """
        s = np.sum(cube[..., self.mask], axis=-1)  # (..., nwave)
        p = self.profile_per_um
        return s @ p / (p @ p)

    def snr_for_sigma(self, sigma) -> float:
        """S/N of ``F_hat`` for per-voxel sigma ``sigma`` (scalar or cube)."""
        p = self.profile_per_um
        sig = np.asarray(sigma, dtype=float)
        if sig.ndim == 0:
            var = float(sig) ** 2 * self.n_spaxels / (p @ p)
        else:
            var_k = np.sum(np.broadcast_to(sig, (p.size,) + self.mask.shape)[:, self.mask] ** 2, axis=1)
            var = float(np.sum(p ** 2 * var_k)) / (p @ p) ** 2
        return self.flux_ap / np.sqrt(var)

    def sigma_for_snr(self, snr: float, definition: str = "integrated") -> float:
        """Uniform per-voxel sigma [flux density] giving S/N ``snr`` (see module docstring)."""
        if definition == "peak_re":
            return self.peak_mean_re / snr
        p = self.profile_per_um
        return self.flux_ap * np.sqrt(p @ p) / (snr * np.sqrt(self.n_spaxels))


#: Pixels within this relative distance of the S/N aperture radius count as inside it:
#: mirror-image pixel pairs have distances equal to ~1e-7 of a pixel when the centroid
#: sits on a symmetry axis, and single-precision renders move the centroid by that much,
#: which a tighter tolerance would turn into a one-pixel (~0.5 %) change of the noise.
RADIUS_TIE_RTOL = 1e-6


def line_snr_aperture(line_cube: np.ndarray, dwave_um, pixscale_arcsec: float, *,
                      radius_arcsec: float | None = None,
                      enclosed_fraction: float = 0.9, channel_offset: int = 0,
                      nwave: int | None = None, peak_re: bool = True) -> LineSNRAperture:
    """Build the S/N definition from the noise-free cube of one line.

    Parameters
    ----------
    line_cube : ndarray
        ``(nwave, ny, nx)`` noise-free flux density of the line alone
        [erg s^-1 cm^-2 um^-1 per spaxel], or only its channels
        ``channel_offset .. channel_offset + line_cube.shape[0] - 1`` (the others
        being zero) of a ``nwave``-channel cube.
    dwave_um : float or ndarray
        Channel widths [micron] (of all ``nwave`` channels).
    pixscale_arcsec : float
        Spaxel size [arcsec].
    radius_arcsec : float, optional
        Fixed aperture radius [arcsec]; default from ``enclosed_fraction``.
    enclosed_fraction : float
        Fraction of the in-field line flux enclosed by the default aperture.
    channel_offset : int
        Index of the first channel in ``line_cube`` (default 0).
    nwave : int, optional
        Number of channels of the full cube (default ``line_cube.shape[0]``).
    peak_re : bool
        Also measure ``peak_mean_re`` (the ``"peak_re"`` definition; NaN if False).
    """
    k0, n = int(channel_offset), line_cube.shape[0]
    nwave = n if nwave is None else int(nwave)
    dw_all = np.broadcast_to(np.asarray(dwave_um, dtype=float), (nwave,))
    dw = dw_all[k0:k0 + n]
    # line map, flux per spaxel (one channel: the same single product, without tensordot)
    m = dw[0] * line_cube[0] if n == 1 else np.tensordot(dw, line_cube, axes=(0, 0))
    total = float(m.sum())
    if not total > 0:
        raise MocksimInputError("noise.snr_oiii: the [OIII]5007 line has no flux inside the field")
    ny, nx = m.shape
    yy, xx = np.arange(ny)[:, None], np.arange(nx)  # pixel indices, broadcast to (ny, nx)
    yc = float((m * yy).sum() / total)
    xc = float((m * xx).sum() / total)
    r = norm2(yy - yc, xx - xc)
    r *= pixscale_arcsec
    # pixels by radius and their cumulative flux, as far as the enclosed fractions need
    need = max(enclosed_fraction if radius_arcsec is None else 0.0, 0.5 if peak_re else 0.0)
    r_sorted, csum = _radius_order(r.ravel(), m.ravel(), need * total) if need > 0 else (None, None)
    if radius_arcsec is None:
        i = int(np.searchsorted(csum, enclosed_fraction * total * (1 - 1e-12)))
        radius = float(r_sorted[min(i, r_sorted.size - 1)])
    else:
        radius = float(radius_arcsec)
    mask = r <= radius * (1 + RADIUS_TIE_RTOL) + 1e-12
    if not mask.any():
        mask[int(round(yc)), int(round(xc))] = True
    spec = np.zeros(nwave)
    spec[k0:k0 + n] = line_cube[:, mask].sum(axis=1)
    f_ap = float(np.sum(spec * dw_all))
    peak_mean = float("nan")
    if peak_re:  # seed-001 definition: mean over spaxels within the half-light radius, brightest channel
        r50 = float(r_sorted[min(int(np.searchsorted(csum, 0.5 * total)), r_sorted.size - 1)])
        in50 = line_cube[:, r <= r50 * (1 + RADIUS_TIE_RTOL) + 1e-12]  # (n, spaxels within r50)
        peak_mean = float(in50[int(np.argmax(in50.sum(axis=1)))].mean())
    return LineSNRAperture(mask=mask, profile_per_um=spec / f_ap, flux_ap=f_ap, flux_total=total,
                           radius_arcsec=radius, centre_pix=(yc, xc), peak_mean_re=peak_mean)


def _radius_order(r: np.ndarray, m: np.ndarray, target: float, n_hist: int = 64):
    """Radii ``r`` in ascending order (stable: ties by index) and the cumulative ``m`` in
    that order, at least up to where the cumulative sum reaches ``target``.

    The same numbers as the first entries of a stable sort of all pixels: a histogram of
    ``m`` in radius finds a radius the sum reaches ``target`` within, and only the pixels
    inside it (a prefix of the full order) are sorted. All pixels are sorted when the
    prefix falls short of ``target`` (e.g. the sum never reaches it).
    """
    rmax = float(r.max())
    if rmax > 0 and r.size > 4 * n_hist:
        scale = n_hist / rmax
        cells = (r * scale).astype(np.intp)                       # 0 .. n_hist
        cum = np.cumsum(np.bincount(cells, weights=m, minlength=n_hist + 1))
        b = int(np.searchsorted(cum, target))
        if b < n_hist - 1:
            inside = np.flatnonzero(r < (b + 2) / scale)            # one cell of margin
            order = inside[np.argsort(r[inside], kind="stable")]
            csum = np.cumsum(m[order])
            if csum.size and csum[-1] >= target:
                return r[order], csum
    order = np.argsort(r, kind="stable")                           # runs along rows: fast
    return r[order], np.cumsum(m[order])


# ---------------------------------------------------------------- exposure
@functools.lru_cache(maxsize=None)
def load_sensitivity_table() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``{disperser: (wave_um, sens [DN s^-1 uJy^-1 um^-1])}`` from the committed table."""
    raw = read_csv_table(SENSITIVITY_TABLE)
    out = {}
    for d in np.unique(raw["disperser"]):
        m = raw["disperser"] == d
        o = np.argsort(raw["wavelength_um"][m])
        out[str(d)] = (np.asarray(raw["wavelength_um"][m][o], float),
                       np.asarray(raw["sens_dn_s_ujy_um"][m][o], float))
    return out


def exposure_sigma(cube: np.ndarray, wave_um: np.ndarray, dwave_um, pixscale_arcsec: float,
                   sens_e_s_ujy_um: np.ndarray, dlds_um: np.ndarray, spec: NoiseSpec) -> np.ndarray:
    """1-sigma error of each voxel for an exposure of ``spec.exposure_s``.

    Parameters
    ----------
    cube : ndarray
        ``(nwave, ny, nx)`` expected (noise-free) flux density
        [erg s^-1 cm^-2 um^-1 per spaxel].
    wave_um, dwave_um : ndarray
        Channel centres and widths [micron].
    pixscale_arcsec : float
        Spaxel size [arcsec].
    sens_e_s_ujy_um : ndarray
        ``(nwave,)`` count rate per micron for 1 uJy [e- s^-1 uJy^-1 um^-1].
    dlds_um : ndarray
        ``(nwave,)`` detector dispersion [micron / pixel].
    spec : NoiseSpec
        Uses ``exposure_s``, ``read_noise_e``, ``n_exposures``, ``background_mjysr``.

    Returns
    -------
    ndarray
        ``(nwave, ny, nx)`` sigma [erg s^-1 cm^-2 um^-1 per spaxel].
    """
    t = float(spec.exposure_s)
    w = np.asarray(wave_um, dtype=float)
    if w.size == 0:
        raise MocksimInputError("noise.model = 'exposure': the cube has no channels (check instrument.wave_range_um)")
    dw = np.broadcast_to(np.asarray(dwave_um, dtype=float), w.shape)
    to_ujy = 1e29 * w ** 2 / C_UM_S  # f_lambda [per um] -> f_nu [uJy]
    sens = np.asarray(sens_e_s_ujy_um, dtype=float)
    sens = np.maximum(sens, 1e-3 * max(float(sens.max()), 1e-30))
    dlds = np.asarray(dlds_um, dtype=float)
    omega = (pixscale_arcsec / ARCSEC_PER_RAD) ** 2
    bg_ujy = spec.background_mjysr * 1e12 * omega
    f_ujy = np.clip(cube, 0.0, None) * to_ujy[:, None, None]
    # detector pixels along the dispersion per voxel; fractional when the channel is
    # narrower than a pixel (i.i.d. voxels: the sum over a pixel's channels has its variance)
    n_spec = dw / dlds
    n_spat = (pixscale_arcsec / NIRSPEC_DETECTOR_PIXSCALE) ** 2  # fractional below 0.10435''
    gain = (sens * dw * t)[:, None, None]  # e- per uJy collected by the voxel
    var_e = (f_ujy + bg_ujy) * gain + (n_spec * n_spat * spec.n_exposures
                                       * spec.read_noise_e ** 2)[:, None, None]
    return np.sqrt(var_e) / gain / to_ujy[:, None, None]


# -------------------------------------------------------------- resampling
def resampling_matrix(n_in: int, p_in: float, p_out: float) -> np.ndarray:
    """Flux-conserving 1D linear-interpolation operator, shape ``(n_out, n_in)``.

    Output pixels of size ``p_out`` tile the same field as ``n_in`` input pixels of
    size ``p_in``. Each output pixel takes the linearly interpolated input value at
    its centre (clamped at the field edges); every column is then normalised to
    1 so that each input pixel's flux is conserved exactly.
    """
    n_out = int(round(n_in * p_in / p_out))
    x = (np.arange(n_out) + 0.5) * p_out / p_in - 0.5  # output centres in input pixel coords
    x = np.clip(x, 0.0, n_in - 1.0)
    i0 = np.minimum(np.floor(x).astype(int), n_in - 1)
    i1 = np.minimum(i0 + 1, n_in - 1)
    f = x - i0
    m = np.zeros((n_out, n_in))
    np.add.at(m, (np.arange(n_out), i0), 1.0 - f)
    np.add.at(m, (np.arange(n_out), i1), f)
    m /= m.sum(axis=0, keepdims=True)
    return m


def axis_correlation(m: np.ndarray) -> np.ndarray:
    """1-D correlation kernel of output pixels for ``out = m @ in`` with i.i.d. input.

    Parameters
    ----------
    m : ndarray
        ``(n_out, n_in)`` linear operator along one axis (e.g. a resampling matrix).

    Returns
    -------
    ndarray
        Symmetric, odd length, centre 1: the covariance at each lag averaged over the
        central half of the output pixels (all phases of a periodic resampling),
        divided by the mean variance there.
    """
    c = m @ m.T
    n = c.shape[0]
    core = np.arange(n // 4, n - n // 4)
    diag = c[core, core].mean()
    lags = []
    for lag in range(n // 4):
        v = c[core, core + lag].mean() / diag
        if lag > 0 and abs(v) < 1e-9:
            break
        lags.append(v)
    half = np.array(lags)
    return np.concatenate([half[:0:-1], half])


# ------------------------------------------------------------------- apply
def apply_noise(cube: np.ndarray, spec: NoiseSpec | None, rng, *, snr_aperture=None,
                exposure_inputs: dict | None = None) -> tuple[np.ndarray, np.ndarray, dict]:
    """Add noise to a noise-free cube.

    Parameters
    ----------
    cube : ndarray
        ``(nwave, ny, nx)`` noise-free flux density.
    spec : NoiseSpec or None
        ``None`` means ``NoiseSpec()`` (model "none").
    rng : numpy.random.Generator
        The only source of randomness (required unless ``spec.model == "none"``).
    snr_aperture : LineSNRAperture, optional
        Needed for ``"snr"`` (and used to report the achieved S/N).
    exposure_inputs : dict, optional
        Keyword arguments of :func:`exposure_sigma` except ``cube`` and ``spec``.

    Returns
    -------
    data, error : ndarray
        Noisy cube and 1-sigma error cube (strictly positive).
    info : dict
        ``{"noise_model", "sigma_uniform" (snr), "snr_oiii_expected"}`` where known.
    """
    spec = NoiseSpec() if spec is None else spec
    info: dict = {"noise_model": spec.model}
    use_snr = spec.model == "snr" or (spec.model == "none" and spec.snr_oiii is not None)
    use_exp = spec.model == "exposure" or (spec.model == "none" and not use_snr
                                             and spec.exposure_s is not None and exposure_inputs)
    if use_snr:
        if snr_aperture is None:
            raise MocksimInputError("noise.snr_oiii: this instrument cannot define the [OIII]5007 S/N")
        sigma = snr_aperture.sigma_for_snr(spec.snr_oiii, spec.snr_definition)
        error = np.full(cube.shape, sigma)
        info["sigma_uniform"] = float(sigma)
    elif use_exp:
        if not exposure_inputs:
            raise MocksimInputError("noise.exposure_s: this instrument has no exposure-time model")
        error = exposure_sigma(cube, spec=spec, **exposure_inputs)
    else:
        peak = float(np.max(np.abs(cube))) if cube.size else 0.0
        floor = spec.floor_fraction * peak if peak > 0 else 1e-30
        error = np.full(cube.shape, floor)
        info["sigma_uniform"] = floor
    if snr_aperture is not None:
        sig = info.get("sigma_uniform", error)
        info["snr_oiii_expected"] = float(snr_aperture.snr_for_sigma(sig))
        info["snr_aperture_radius_arcsec"] = snr_aperture.radius_arcsec
    if spec.model == "none":
        return cube.copy(), error, info
    if not isinstance(rng, np.random.Generator):
        raise TypeError("rng: a numpy.random.Generator is required to draw noise "
                        f"(noise.model={spec.model!r}), got {type(rng).__name__}")
    # data = cube + error * deviate, formed in the deviates' buffer in cache-sized chunks
    # (the same deviates as one standard_normal(cube.shape) call and the same IEEE
    # operations, so the same values as the expression)
    data = np.empty(cube.shape)
    flat, src = data.reshape(-1), np.ravel(cube)
    err = None if "sigma_uniform" in info else np.ravel(error)
    scale = (error.flat[0] if error.size else 0.0) if err is None else None
    for i in range(0, flat.size, _NOISE_CHUNK):
        d = flat[i:i + _NOISE_CHUNK]
        rng.standard_normal(out=d)
        d *= scale if err is None else err[i:i + _NOISE_CHUNK]
        d += src[i:i + _NOISE_CHUNK]
    return data, error, info
