"""Scaling relations for mock populations and helpers to sample from them.

Seed 000 (Appendix G) builds its 300 stacking mocks from a log-normal stellar-mass
distribution, a mass–size relation (R_e, sigma(log R_e) = 0.25 dex) and the
Sarkar et al. (2025) mass–metallicity–redshift relation (sigma = 0.16 dex), with
normally distributed axis ratios and a log-normal [OIII] S/N. This module gives
those relations and :func:`resolve_relations`, which turns one galaxy's drawn
parameters (with ``re_kpc = "mass-size"`` / ``log_oh_center = "mzr"`` specs) into
concrete numbers.

Sources and status (see ``../shared/reference/calibrations_and_relations.md``, D):

* Sarkar+2025 MZ–z relation: 12+log(O/H) = 6.29 + 0.237 log M* − 0.06 (1+z),
  quoted in seed 000 §2.3 (V1). Scatter 0.16 dex as adopted by seed 000 App. G.
* Mass–size relation: the Langeroodi & Hjorth (2023) coefficients are
  **UNVERIFIED** (not retrieved), so mocksim uses its own power law anchored on
  seed 000's empirical numbers (§4.2: log-normal R_e with median 0.53 kpc at
  z = 5–7 and 0.36 kpc at z = 7–9 for a sample of median log M* = 8.16, §3.2):

      R_e = 0.53 kpc * (M* / 10^8.16)^0.20 * ((1 + z) / 7)^-1.54

  The redshift exponent interpolates the two anchors (z = 6 -> 0.53 kpc,
  z = 8 -> 0.36 kpc); the mass slope 0.20 is a typical value for high-z
  star-forming galaxies and is **UNVERIFIED** (an assumption, not a fit).
  Scatter 0.25 dex in log R_e (seed 000 App. G, quoting Langeroodi & Hjorth).
"""
from __future__ import annotations

import numpy as np

from .errors import MocksimInputError

__all__ = ["sarkar25_mzr", "mass_size_re_kpc", "RELATION_SCATTER", "RELATIONS",
           "POPULATION_RELATION_KEYS", "resolve_relations", "is_relation_spec",
           "validate_relation_spec", "MASS_SIZE_PARAMS", "MASS_SIZE_STATUS"]

#: Sarkar+2025 MZ–z coefficients (seed 000 §2.3): 12+log(O/H) = a + b log M* + c (1+z).
SARKAR25 = (6.29, 0.237, -0.06)

#: Mass–size power law: (R_e at pivot [kpc], pivot log M*, mass slope, pivot z, (1+z) exponent).
MASS_SIZE_PARAMS = {"re_pivot_kpc": 0.53, "log_mstar_pivot": 8.16, "alpha": 0.20,
                    "z_pivot": 6.0, "beta": float(np.log(0.36 / 0.53) / np.log(9.0 / 7.0))}
MASS_SIZE_STATUS = ("UNVERIFIED: normalisation and z-scaling from seed 000's empirical R_e medians "
                    "(0.53 kpc at z=5-7, 0.36 kpc at z=7-9, median log M* = 8.16); mass slope "
                    "alpha = 0.20 assumed; Langeroodi & Hjorth 2023 coefficients not retrieved")

#: Intrinsic scatter of each relation: "mass-size" in dex of log10(R_e/kpc), "mzr" in dex.
RELATION_SCATTER = {"mass-size": 0.25, "mzr": 0.16}

#: Which population key each relation fills.
RELATIONS = {"re_kpc": "mass-size", "log_oh_center": "mzr"}

#: New per-galaxy population keys (numbers or distributions): stellar mass
#: log10(M*/Msun), projected axis ratio b/a (-> inclination) and integrated
#: [OIII]5007 S/N (overrides ``[noise] snr_oiii`` per galaxy).
POPULATION_RELATION_KEYS = ("log_mstar", "axis_ratio", "snr_oiii")

#: Allowed ranges of the new keys (inclusive). b/a >= 0.09 keeps the inclination
#: within the generator's 85 deg limit (cos 85 deg = 0.087).
RELATION_KEY_RANGES = {"log_mstar": (4.0, 13.0), "axis_ratio": (0.09, 1.0), "snr_oiii": (0.1, 1e6)}


def sarkar25_mzr(log_mstar, z) -> np.ndarray:
    """Sarkar et al. (2025) mass–metallicity–redshift relation (seed 000 §2.3).

    Parameters
    ----------
    log_mstar : float or array_like
        log10(M*/Msun).
    z : float or array_like
        Redshift (broadcast against ``log_mstar``).

    Returns
    -------
    ndarray
        12+log(O/H) [dex]: ``6.29 + 0.237 log M* − 0.06 (1 + z)``.
    """
    a, b, c = SARKAR25
    return a + b * np.asarray(log_mstar, dtype=float) + c * (1.0 + np.asarray(z, dtype=float))


def mass_size_re_kpc(log_mstar, z) -> np.ndarray:
    """Median effective radius of star-forming galaxies at z > 5 [kpc].

    ``R_e = 0.53 kpc (M*/10^8.16)^0.20 ((1+z)/7)^beta`` with ``beta = ln(0.36/0.53) /
    ln(9/7) = -1.54`` (see the module docstring; status: :data:`MASS_SIZE_STATUS`).

    Parameters
    ----------
    log_mstar : float or array_like
        log10(M*/Msun).
    z : float or array_like
        Redshift (> -1).

    Returns
    -------
    ndarray
        Median R_e [kpc] (scatter :data:`RELATION_SCATTER` ``["mass-size"]`` dex).
    """
    p = MASS_SIZE_PARAMS
    lm = np.asarray(log_mstar, dtype=float)
    zz = np.asarray(z, dtype=float)
    if np.any(zz <= -1):
        raise MocksimInputError(f"redshift: must be > -1, got {z!r}")
    return (p["re_pivot_kpc"] * 10.0 ** (p["alpha"] * (lm - p["log_mstar_pivot"]))
            * ((1.0 + zz) / (1.0 + p["z_pivot"])) ** p["beta"])


def is_relation_spec(spec) -> bool:
    """True if ``spec`` asks for a scaling relation (``"mass-size"``, ``"mzr"`` or a table
    ``{relation = "...", scatter = ...}``)."""
    return isinstance(spec, str) or (isinstance(spec, dict) and "relation" in spec)


def validate_relation_spec(key: str, spec) -> dict:
    """Check a relation spec for population key ``key``; return ``{"relation", "scatter"}``.

    Parameters
    ----------
    key : str
        ``"re_kpc"`` (relation ``"mass-size"``) or ``"log_oh_center"`` (``"mzr"``).
    spec : str or dict
        ``"mass-size"`` / ``"mzr"``, or ``{relation = ..., scatter = S}`` with the
        scatter in dex (default :data:`RELATION_SCATTER`).

    Raises
    ------
    MocksimInputError
        Naming ``population.<key>`` and the allowed values.
    """
    label = f"population.{key}"
    if key not in RELATIONS:
        raise MocksimInputError(f"{label}: scaling relations are only available for "
                                f"{', '.join(f'{k} = {v!r}' for k, v in RELATIONS.items())}")
    want = RELATIONS[key]
    if isinstance(spec, str):
        name, scatter = spec, None
    elif isinstance(spec, dict):
        extra = set(spec) - {"relation", "scatter"}
        if extra:
            raise MocksimInputError(f"{label}: unknown field(s) {sorted(extra)}; allowed: relation, scatter")
        name, scatter = spec.get("relation"), spec.get("scatter")
    else:
        raise MocksimInputError(f"{label}: expected {want!r} or a relation table, got {spec!r}")
    if name != want:
        raise MocksimInputError(f"{label}: relation {name!r} not allowed; allowed: {want!r}")
    if scatter is None:
        scatter = RELATION_SCATTER[want]
    if isinstance(scatter, bool) or not isinstance(scatter, (int, float)) or not 0 <= scatter <= 2:
        raise MocksimInputError(f"{label}.scatter: must be a number in [0, 2] dex, got {scatter!r}")
    return {"relation": want, "scatter": float(scatter)}


def resolve_relations(params: dict, rng) -> dict:
    """Replace relation specs in one galaxy's drawn parameters by drawn numbers.

    Parameters
    ----------
    params : dict
        One galaxy's parameters (numbers already drawn). ``re_kpc`` may be
        ``"mass-size"`` and ``log_oh_center`` may be ``"mzr"`` (or relation
        tables, see :func:`validate_relation_spec`); both need ``log_mstar``
        [log10 Msun] and ``redshift``. ``axis_ratio`` (b/a), when given and not
        None, sets ``inclination_deg = degrees(arccos(b/a))`` (thin disk).
    rng : numpy.random.Generator
        Draws the intrinsic scatter. Two normal deviates are always drawn, in the
        order (R_e, 12+log(O/H)), whether or not they are used, so results are
        reproducible whatever the specs.

    Returns
    -------
    dict
        A copy of ``params`` with ``re_kpc`` [kpc] = median R_e x 10^N(0, sigma),
        ``log_oh_center`` [dex] = MZR + N(0, sigma), and ``inclination_deg``
        [deg] when ``axis_ratio`` is given.

    Raises
    ------
    MocksimInputError
        If a relation needs ``log_mstar`` and it is missing, or ``axis_ratio`` is
        outside [0.09, 1] (inclination <= 85 deg).
    """
    out = dict(params)
    dev = np.asarray(rng.standard_normal(2), dtype=float)
    for i, key in enumerate(("re_kpc", "log_oh_center")):
        spec = out.get(key)
        if not is_relation_spec(spec):
            continue
        rel = validate_relation_spec(key, spec)
        lm, z = out.get("log_mstar"), out.get("redshift")
        if lm is None:
            raise MocksimInputError(f"population.{key}: relation {rel['relation']!r} needs population.log_mstar")
        if z is None:
            raise MocksimInputError(f"population.{key}: relation {rel['relation']!r} needs population.redshift")
        if key == "re_kpc":
            out[key] = float(mass_size_re_kpc(lm, z) * 10.0 ** (rel["scatter"] * dev[i]))
        else:
            out[key] = float(sarkar25_mzr(lm, z) + rel["scatter"] * dev[i])
    q = out.get("axis_ratio")
    if q is not None:
        q = float(q)
        lo, hi = RELATION_KEY_RANGES["axis_ratio"]
        if not (np.isfinite(q) and lo <= q <= hi):
            raise MocksimInputError(f"population.axis_ratio: {q!r} is outside the allowed range "
                                    f"[{lo:g}, {hi:g}] (truncate the distribution with low/high)")
        out["inclination_deg"] = float(np.degrees(np.arccos(q)))
    return out
