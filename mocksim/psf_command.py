"""``mocksim psf``: compute a PSF for an instrument preset or a filter."""
from __future__ import annotations

from .errors import MocksimInputError

#: detector pixel scales [arcsec] (JDox; ../shared/reference section F)
NIRCAM_SW_PIX = 0.031
NIRCAM_LW_PIX = 0.063
NIRISS_PIX = 0.0656


def resolve_target(target: str):
    """Return ``(family, default wavelength [um], detector pixel scale [arcsec], label)``."""
    from .psf import NIRCAM_PIVOT_UM, NIRISS_PIVOT_UM

    t = target.strip()
    low = t.lower()
    if low.startswith("nirspec-ifu"):
        from .instruments import get_instrument

        inst = get_instrument(low, psf="none")
        lo, hi = inst.wave_range_um
        return "nirspec-ifu", 0.5 * (lo + hi), inst.pixscale_arcsec, low
    if low.startswith("niriss"):
        filt = t.split("-")[-1].upper()
        if filt not in NIRISS_PIVOT_UM:
            raise MocksimInputError(f"target: unknown NIRISS filter {filt!r}; known: {', '.join(NIRISS_PIVOT_UM)}")
        return "niriss", NIRISS_PIVOT_UM[filt], NIRISS_PIX, f"NIRISS {filt}"
    filt = t.split("-")[-1].upper()
    if filt in NIRCAM_PIVOT_UM:
        pivot = NIRCAM_PIVOT_UM[filt]
        pix = NIRCAM_SW_PIX if pivot < 2.4 else NIRCAM_LW_PIX
        return "nircam", pivot, pix, f"NIRCam {filt}"
    raise MocksimInputError(
        f"target: {target!r} is not an instrument preset (nirspec-ifu-*) or a known filter "
        f"(NIRCam: {', '.join(NIRCAM_PIVOT_UM)}; NIRISS: niriss-<filter>)")


def psf_command(args) -> int:
    from .psf import make_psf, write_psf_fits

    family, wave, pix, label = resolve_target(args.target)
    if args.wavelength_um is not None:
        if not 0.5 <= args.wavelength_um <= 30.0:
            raise MocksimInputError(f"--wavelength-um: {args.wavelength_um} outside [0.5, 30]")
        wave = args.wavelength_um
    if args.pixscale is not None:
        if not 0.001 <= args.pixscale <= 1.0:
            raise MocksimInputError(f"--pixscale: {args.pixscale} outside [0.001, 1] arcsec")
        pix = args.pixscale
    if not 1 <= args.oversample <= 16:
        raise MocksimInputError(f"--oversample: {args.oversample} outside [1, 16]")
    psf = make_psf(args.psf, family=family)
    fwhm = psf.fwhm_arcsec(wave)
    out_pix = pix / args.oversample
    image = psf.pixel_integrated(wave, pix, oversample=args.oversample)
    print(f"{label}: PSF model {args.psf!r} ({family}) at {wave:.4f} um")
    print(f"detector pixel {pix:.4f} arcsec; image sampled at {out_pix:.5f} arcsec, shape {image.shape}")
    if args.out:
        write_psf_fits(image, out_pix, wave, args.out,
                       {"TARGET": label, "PSFMODEL": args.psf, "FAMILY": family, "DETPIX": pix})
        print(f"written to {args.out}")
    print(f"FWHM [arcsec]: {fwhm:.4f}")
    return 0
