"""TOML scenarios: parsing, validation and per-galaxy parameter draws.

Every check happens before any output is written, so bad input never leaves a
half-written output folder. Errors are :class:`~mocksim.errors.MocksimInputError`
with the offending key in the message.
"""
from __future__ import annotations

import functools
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import MocksimInputError
from ..population import (POPULATION_RELATION_KEYS, RELATION_KEY_RANGES, is_relation_spec, resolve_relations,
                          validate_relation_spec)
from .distributions import draw, is_distribution, validate_spec

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

#: population keys: (default, low, high). Ranges are inclusive unless noted in _OPEN_LOW.
POPULATION_KEYS = {
    "redshift": (6.0, 0.0, 20.0),
    "re_kpc": (1.0, 0.0, 50.0),
    "log_oh_center": (8.0, 6.0, 10.0),
    "gradient_dex_per_kpc": (0.0, -5.0, 5.0),
    "inclination_deg": (0.0, 0.0, 85.0),
    "pa_deg": (0.0, -360.0, 360.0),
    "sersic_n": (1.0, 0.3, 6.2),
    "hbeta_flux_cgs": (1e-17, 0.0, 1e-10),
    "v_rot_kms": (0.0, 0.0, 1000.0),
    "r_turn_kpc": (None, 0.0, 50.0),
    "sigma_kms": (50.0, 0.0, 1000.0),
    "av": (0.0, 0.0, 10.0),
    "av_scale_kpc": (None, 0.0, 100.0),
    "center_dx_arcsec": (0.0, -5.0, 5.0),
    "center_dy_arcsec": (0.0, -5.0, 5.0),
    "sfr_msun_yr": (None, 0.0, 1e5),
    # analytic-model profiles (profile = "ffb" / "erb08"); defaults from seed 000 / Erb 2008
    "ffb_eps": (0.1, 0.0, 1.0),
    "ffb_f_sn": (0.2, 0.0, 1.0),
    "ffb_z_in": (0.01, 0.0, 10.0),
    "ffb_z_sn": (3.0, 0.0, 100.0),
    "ffb_f_out": (0.95, 0.0, 1.0),
    "ffb_log_mh": (None, 8.0, 14.0),
    "erb08_fgas0": (0.5, 0.0, 1.0),
    "erb08_f_i": (0.0, 0.0, 100.0),
    "erb08_f_o": (0.0, 0.0, 100.0),
    "erb08_y": (0.019, 0.0, 0.2),
}
MODEL_KEYS = {"ffb": tuple(k for k in POPULATION_KEYS if k.startswith("ffb_")),
              "erb08": tuple(k for k in POPULATION_KEYS if k.startswith("erb08_"))}
_OPEN_LOW = {"redshift", "re_kpc", "hbeta_flux_cgs", "r_turn_kpc", "av_scale_kpc", "sfr_msun_yr",
             "ffb_eps", "erb08_fgas0", "erb08_y"}
POPULATION_OTHER = {"n", "dust_law", "clumps", "companions", "profile"}
PROFILES = ("linear", "ffb", "erb08")

NOISE_MODELS = ("none", "snr", "exposure")
BINNINGS = ("annuli", "elliptical", "voronoi")
METHODS = ("grid", "emcee")
GRADIENT_FITS = ("linear", "forward", "both")
GEOMETRY = ("truth", "measured")

RECOVERY_DEFAULTS = {
    "calibration": "curti20",
    "binning": "annuli",
    "extraction": "maps",  # "maps": fit every spaxel, sum fluxes in bins; "spectra": fit bin-summed spectra
    "tie_kinematics": False,  # extraction = "spectra": all lines share the Hbeta+[OIII] velocity and width
    "psf_match": False,  # extraction = "maps": degrade every line map to the widest PSF of its lines
    "annulus_width_arcsec": None,  # default: one spaxel
    "annulus_width_hwhm": None,  # alternative: width in units of the PSF HWHM at [OIII]5007 (seed 001: 1)
    "annulus_radius": "flux",  # "flux": [OIII]-weighted mean radius; "midpoint": (r_in + r_out) / 2
    "r_max_snr": None,  # cut annuli at the first one whose integrated [OIII]5007 S/N is below this
    "r_max_arcsec": None,  # default: the field edge
    "r_max_re": None,  # alternative: outer radius in units of the (known or measured) Re
    "min_snr": 3.0,
    "target_sn": 10.0,
    "deproject": False,
    "geometry": "truth",
    "metallicity_method": "grid",
    "metallicity_estimate": "median",  # per-bin value: posterior "median" or "mode" (seed 001: minimum chi^2)
    "gradient_fit": "linear",
    "lines": ["Hbeta", "OIII5007"],
    "branch": "auto",
    "dust_law": "smc",
    "keep_edge_bins": False,  # use bins whose posterior touches the calibration range edge
    "calibration_scatter_dex": None,  # override the calibration's intrinsic scatter (all ratios)
    "extrapolate_dex": None,  # explicitly extrapolate the calibration this far beyond validity [dex]
}


@dataclass
class Scenario:
    """A validated scenario.

    Attributes
    ----------
    name : str
    seed : int
    text : str
        The scenario file's text (recorded in outputs).
    n : int
        Number of galaxies.
    population : dict
        Number-or-distribution specs per population key.
    instrument : dict
        ``name``, ``psf`` and instrument options.
    noise : dict
    recovery : dict
    cosmology : str
    extra : dict
        Other top-level tables, kept for later stages (e.g. ``stack``, ``grid``).
    """

    name: str
    seed: int
    text: str
    n: int
    population: dict
    instrument: dict
    noise: dict
    recovery: dict
    cosmology: str = "Planck18"
    clumps: list = field(default_factory=list)
    companions: list = field(default_factory=list)
    dust_law: str = "smc"
    profile: str = "linear"
    extra: dict = field(default_factory=dict)
    path: str | None = None
    relation_specs: dict = field(default_factory=dict)
    stack: object | None = None
    grid_cells: list = field(default_factory=list)
    grid_keys: tuple = ()
    realisations: int = 1

    # ------------------------------------------------------------------ grid
    def cell_of(self, index: int) -> int:
        """Grid cell of realisation ``index`` (0 without a grid)."""
        return index // self.realisations if self.grid_cells else 0

    def cell_overrides(self, index: int) -> dict:
        """``{"population": {...}, "instrument": {...}, "noise": {...}}`` for ``index``."""
        if not self.grid_cells:
            return {"population": {}, "instrument": {}, "noise": {}}
        return self.grid_cells[self.cell_of(index)]

    def instrument_for(self, index: int) -> dict:
        return {**self.instrument, **self.cell_overrides(index)["instrument"]}

    def noise_for(self, index: int) -> dict:
        return {**self.noise, **self.cell_overrides(index)["noise"]}

    # ------------------------------------------------------------------ draws
    def galaxy_rng(self, index: int) -> np.random.Generator:
        """Independent random stream for galaxy ``index`` (SeedSequence spawn key)."""
        return np.random.default_rng(np.random.SeedSequence(self.seed, spawn_key=(index,)))

    def draw_galaxy(self, index: int) -> dict:
        """Population parameters of galaxy ``index`` (deterministic given the seed)."""
        rng = np.random.default_rng(np.random.SeedSequence(self.seed, spawn_key=(index, 0)))
        out = {}
        skip = _model_keys_skipped(self.profile)
        over = self.cell_overrides(index)["population"]
        relations = False
        for key in POPULATION_KEYS:  # fixed order => reproducible streams
            if key in skip:
                continue
            spec = over.get(key, self.population.get(key))
            if spec is None:
                out[key] = None
                continue
            if is_relation_spec(spec):  # "mass-size" / "mzr": resolved below
                out[key] = spec
                relations = True
                continue
            if not is_distribution(spec):  # a fixed number (draws nothing)
                out[key] = _fixed_value(key, spec)
                continue
            val = draw(spec, rng)
            _check_value(f"population.{key}", key, val, galaxy=index)
            out[key] = float(val)
        for key in POPULATION_RELATION_KEYS:  # drawn after the others: old streams unchanged
            spec = over.get(key, self.relation_specs.get(key))
            if spec is None:
                out[key] = None
                continue
            val = float(draw(spec, rng))
            lo, hi = RELATION_KEY_RANGES[key]
            if not lo <= val <= hi:
                raise MocksimInputError(f"population.{key}: {val!r} (galaxy {index}) is outside the allowed range "
                                        f"[{lo:g}, {hi:g}]; truncate the distribution with low/high")
            out[key] = val
        if relations or out.get("axis_ratio") is not None:
            out = resolve_relations(out, rng)
            for key in ("re_kpc", "log_oh_center", "inclination_deg"):
                _check_value(f"population.{key}", key, out[key], galaxy=index)
        return out

    def draw_all(self) -> list[dict]:
        return [self.draw_galaxy(i) for i in range(self.n)]


@functools.lru_cache(maxsize=None)
def _model_keys_skipped(profile: str) -> frozenset:
    """Population keys of the analytic models other than ``profile`` (not drawn)."""
    return frozenset(k for kind, keys in MODEL_KEYS.items() if kind != profile for k in keys)


@functools.lru_cache(maxsize=1024)
def _fixed_value(key: str, spec) -> float:
    """A fixed population value ``spec`` of ``key``, range-checked (once per value) as a float."""
    _check_value(f"population.{key}", key, spec)
    return float(spec)


def _check_value(label, key, val, galaxy=None):
    _, lo, hi = POPULATION_KEYS[key]
    ok = (val > lo if key in _OPEN_LOW else val >= lo) and val <= hi
    if not ok or not np.isfinite(val):
        where = f" (drawn for galaxy {galaxy}; truncate the distribution with low/high)" if galaxy is not None else ""
        lb = "(" if key in _OPEN_LOW else "["
        raise MocksimInputError(f"{label}: {val!r} is outside the allowed range {lb}{lo:g}, {hi:g}]{where}")


def load_scenario(path, *, seed: int | None = None) -> Scenario:
    """Read and validate a scenario TOML file.

    Parameters
    ----------
    path : str or Path
    seed : int, optional
        Overrides the file's ``seed``.
    """
    path = Path(path)
    if not path.is_file():
        raise MocksimInputError(f"scenario: file not found: {path}")
    text = path.read_text()
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise MocksimInputError(f"scenario: {path} is not valid TOML: {exc}") from None
    return scenario_from_dict(data, text=text, seed=seed, path=str(path))


def scenario_from_dict(data: dict, *, text: str = "", seed: int | None = None, path=None) -> Scenario:
    """Validate a parsed scenario mapping (see :func:`load_scenario`)."""
    known_top = {"name", "seed", "cosmology", "population", "instrument", "noise", "recovery"}
    tables = ("population", "instrument", "noise", "recovery", "grid", "stack", "calibration")
    unknown = set(data) - known_top - set(tables)
    if unknown:  # a misspelt table ([noize]) would otherwise be ignored and its defaults used
        raise MocksimInputError(f"scenario: unknown top-level key(s) {sorted(unknown)}; allowed: "
                                f"name, seed, cosmology and the tables {', '.join(tables)}")
    for key in tables:
        if key in data and not isinstance(data[key], dict):
            raise MocksimInputError(f"{key}: must be a table ([{key}]), got {data[key]!r}")
    if not text:
        import json

        text = "# scenario given as a mapping (JSON)\n" + json.dumps(data, indent=1, default=str)
    name = data.get("name")
    if not isinstance(name, str) or not name or any(c in name for c in "/\\") or name in (".", ".."):
        raise MocksimInputError("name: a non-empty string without path separators (and not '.' or '..') "
                                "is required; it names the output folder outputs/<name>")
    seed = data.get("seed", 0) if seed is None else seed
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise MocksimInputError(f"seed: must be a non-negative integer, got {seed!r}")
    cosmology = data.get("cosmology", "Planck18")
    from ..cosmology import get_cosmology

    get_cosmology(cosmology)

    pop = dict(data.get("population", {}))
    n = pop.pop("n", 1)
    if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= 10_000_000:
        raise MocksimInputError(f"population.n: must be an integer in [1, 10000000], got {n!r}")
    unknown = set(pop) - set(POPULATION_KEYS) - POPULATION_OTHER - set(POPULATION_RELATION_KEYS)
    if unknown:
        raise MocksimInputError(f"population: unknown key(s) {sorted(unknown)}; allowed: "
                                f"{', '.join(sorted(set(POPULATION_KEYS) | POPULATION_OTHER))}")
    specs = {}
    for key, (default, lo, hi) in POPULATION_KEYS.items():
        spec = pop.get(key, default)
        if spec is None:
            specs[key] = None
            continue
        if is_relation_spec(spec):
            validate_relation_spec(key, spec)
            if "log_mstar" not in pop:
                raise MocksimInputError(f"population.{key}: a scaling relation needs population.log_mstar")
            specs[key] = spec
            continue
        validate_spec(f"population.{key}", spec)
        if not is_distribution(spec):
            _check_value(f"population.{key}", key, float(spec))
        elif spec["dist"] in ("uniform", "loguniform"):
            _check_value(f"population.{key}.low", key, float(spec["low"]))
            _check_value(f"population.{key}.high", key, float(spec["high"]))
        specs[key] = spec
    relation_specs = {}
    for key in POPULATION_RELATION_KEYS:
        if key in pop:
            validate_spec(f"population.{key}", pop[key])
            if not is_distribution(pop[key]):
                lo, hi = RELATION_KEY_RANGES[key]
                if not lo <= float(pop[key]) <= hi:
                    raise MocksimInputError(f"population.{key}: {pop[key]!r} is outside the allowed range "
                                            f"[{lo:g}, {hi:g}]")
            relation_specs[key] = pop[key]
    dust_law = pop.get("dust_law", "smc")
    if dust_law not in ("smc", "calzetti", "none"):
        raise MocksimInputError(f"population.dust_law: {dust_law!r}; allowed: smc, calzetti, none")
    profile = pop.get("profile", "linear")
    if profile not in PROFILES:
        raise MocksimInputError(f"population.profile: {profile!r}; allowed: {', '.join(PROFILES)}")
    for kind, keys in MODEL_KEYS.items():
        if kind != profile:
            for k in keys:
                if k in pop:
                    raise MocksimInputError(f"population.{k}: only used with profile = \"{kind}\" "
                                            f"(this scenario has profile = \"{profile}\")")
    from ..galaxy.components import clumps_from_config, companions_from_config

    clumps = list(pop.get("clumps", []))
    companions = list(pop.get("companions", []))
    clumps_from_config(clumps)
    companions_from_config(companions)

    inst = dict(data.get("instrument", {}))
    if "name" not in inst:
        raise MocksimInputError("instrument.name: required (e.g. \"nirspec-ifu-g395m\")")
    inst.setdefault("psf", "jwst")

    noise = dict(data.get("noise", {"model": "none"}))
    noise.setdefault("model", "none")
    if noise["model"] not in NOISE_MODELS:
        raise MocksimInputError(f"noise.model: {noise['model']!r}; allowed: {', '.join(NOISE_MODELS)}")

    rec = dict(RECOVERY_DEFAULTS)
    user_rec = data.get("recovery", {})
    unknown = set(user_rec) - set(RECOVERY_DEFAULTS)
    if unknown:
        raise MocksimInputError(f"recovery: unknown key(s) {sorted(unknown)}; allowed: {', '.join(RECOVERY_DEFAULTS)}")
    rec.update(user_rec)
    _validate_recovery(rec)

    extra = {k: v for k, v in data.items() if k not in known_top | {"grid", "stack"}}
    stack = None
    if "stack" in data:
        from ..stacking import stack_config_from_dict

        stack = stack_config_from_dict(data["stack"])
    cells, keys, reals = _expand_grid(data.get("grid"), profile)
    if rec["extraction"] == "spectra":
        names = {inst["name"]} | {c["instrument"].get("name", inst["name"]) for c in cells if "instrument" in c}
        if any("wfss" in str(nm) for nm in names):
            raise MocksimInputError("recovery.extraction = 'spectra' needs an IFU instrument; slitless grisms "
                                    "are extracted as line maps (use extraction = 'maps')")
        if stack is not None:
            raise MocksimInputError("recovery.extraction = 'spectra' keeps no line maps to stack; "
                                    "use extraction = 'maps' with [stack]")
    if cells:
        if "n" in data.get("population", {}) and data["population"]["n"] != len(cells) * reals:
            raise MocksimInputError(f"population.n: with a [grid] the number of galaxies is cells x realisations "
                                    f"= {len(cells) * reals}; drop population.n")
        n = len(cells) * reals
    return Scenario(name=name, seed=int(seed), text=text, n=n, population=specs, instrument=inst,
                    noise=noise, recovery=rec, cosmology=cosmology, clumps=clumps, companions=companions,
                    dust_law=dust_law, profile=profile, extra=extra, path=path, grid_cells=cells,
                    grid_keys=keys, realisations=reals, relation_specs=relation_specs, stack=stack)


def _expand_grid(grid, profile):
    """Cells of a ``[grid]`` table: the product of its value lists, first key slowest.

    Keys are population keys (``re_kpc``) or dotted ``instrument.<key>`` /
    ``noise.<key>``; ``realisations`` sets the mocks per cell.
    """
    import itertools

    if not grid:
        return [], (), 1
    if not isinstance(grid, dict):
        raise MocksimInputError("grid: must be a table of key = [values...]")
    grid = dict(grid)
    reals = grid.pop("realisations", 1)
    if isinstance(reals, bool) or not isinstance(reals, int) or not 1 <= reals <= 1_000_000:
        raise MocksimInputError(f"grid.realisations: must be an integer in [1, 1000000], got {reals!r}")
    link = grid.pop("link", [])
    if not grid:
        raise MocksimInputError("grid: give at least one key with a list of values")
    keys, values = [], []
    for key, vals in grid.items():
        if not isinstance(vals, list) or not vals:
            raise MocksimInputError(f"grid.{key}: must be a non-empty list of values")
        section, _, sub = key.partition(".")
        if sub == "" and key in POPULATION_KEYS:
            for v in vals:
                validate_spec(f"grid.{key}", v)
                if not is_distribution(v):
                    _check_value(f"grid.{key}", key, float(v))
        elif not (sub and section in ("instrument", "noise")):  # those are checked when built
            raise MocksimInputError(f"grid.{key}: not a population key or instrument.<key> / noise.<key>")
        keys.append(key)
        values.append(vals)
    axes = _grid_axes(keys, values, link)
    n_cells = 1
    for ax in axes:
        n_cells *= len(ax)
    if n_cells > 1_000_000:
        raise MocksimInputError(f"grid: {n_cells} cells is more than the allowed 1000000")
    cells = []
    for combo in itertools.product(*axes):
        values_of = dict(kv for part in combo for kv in part)
        cell = {"population": {}, "instrument": {}, "noise": {}, "values": {k: values_of[k] for k in keys}}
        for key in keys:
            val = values_of[key]
            section, _, sub = key.partition(".")
            if sub:
                cell[section][sub] = val
            else:
                cell["population"][key] = val
        cells.append(cell)
    return cells, tuple(keys), reals


def _grid_axes(keys, values, link):
    """Product axes of a grid: one per key, or one per ``link`` group (values zipped).

    Each axis is a list of tuples of ``(key, value)`` pairs; a linked group sits at
    the position of its first key.
    """
    if not isinstance(link, list) or not all(isinstance(g, list) for g in link):
        raise MocksimInputError('grid.link: must be a list of lists of grid keys, e.g. '
                                '[["log_oh_center", "gradient_dex_per_kpc"]]')
    group_of = {}
    for gi, group in enumerate(link):
        if len(group) < 2:
            raise MocksimInputError(f"grid.link: group {group!r} needs at least two keys")
        for k in group:
            if k not in keys:
                raise MocksimInputError(f"grid.link: {k!r} is not a key of [grid]")
            if k in group_of:
                raise MocksimInputError(f"grid.link: {k!r} appears in more than one group")
            group_of[k] = gi
        lens = {len(values[keys.index(k)]) for k in group}
        if len(lens) != 1:
            raise MocksimInputError(f"grid.link: the lists of {group!r} must have the same length, "
                                    f"got {[len(values[keys.index(k)]) for k in group]}")
    axes, done = [], set()
    for key, vals in zip(keys, values):
        if key not in group_of:
            axes.append([((key, v),) for v in vals])
        elif group_of[key] not in done:
            gi = group_of[key]
            done.add(gi)
            cols = [values[keys.index(k)] for k in link[gi]]
            axes.append([tuple(zip(link[gi], row)) for row in zip(*cols)])
    return axes


def _validate_recovery(rec):
    from ..physics.calibrations import get_calibration

    get_calibration(rec["calibration"])
    for key, allowed in (("binning", BINNINGS), ("metallicity_method", METHODS),
                         ("gradient_fit", GRADIENT_FITS), ("geometry", GEOMETRY)):
        if rec[key] not in allowed:
            raise MocksimInputError(f"recovery.{key}: {rec[key]!r}; allowed: {', '.join(allowed)}")
    for key in ("deproject", "keep_edge_bins", "tie_kinematics", "psf_match"):
        if not isinstance(rec[key], bool):
            raise MocksimInputError(f"recovery.{key}: must be true or false")
    sc = rec["calibration_scatter_dex"]
    if sc is not None and (isinstance(sc, bool) or not isinstance(sc, (int, float)) or not 0 < sc <= 1):
        raise MocksimInputError(f"recovery.calibration_scatter_dex: must be in (0, 1] dex, got {sc!r}")
    ext = rec["extrapolate_dex"]
    if isinstance(ext, str) and ext.lower() == "none":
        rec["extrapolate_dex"] = ext = None
    if ext is not None:
        try:
            get_calibration(rec["calibration"], extrapolate_dex=ext)
        except MocksimInputError as exc:
            raise MocksimInputError(f"recovery.{exc}") from None
    for key in ("min_snr", "target_sn"):
        v = rec[key]
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 < v < float("inf"):
            raise MocksimInputError(f"recovery.{key}: must be a finite number > 0, got {v!r}")
    rm = rec["r_max_re"]
    if rm is not None and (isinstance(rm, bool) or not isinstance(rm, (int, float)) or not 0 < rm <= 20):
        raise MocksimInputError(f"recovery.r_max_re: must be in (0, 20], got {rm!r}")
    for key, allowed in (("extraction", ("maps", "spectra")), ("annulus_radius", ("flux", "midpoint")),
                         ("metallicity_estimate", ("median", "mode"))):
        if rec[key] not in allowed:
            raise MocksimInputError(f"recovery.{key}: {rec[key]!r}; allowed: {', '.join(allowed)}")
    if rec["extraction"] == "spectra" and rec["binning"] == "voronoi":
        raise MocksimInputError("recovery.extraction = 'spectra' works with annuli; voronoi bins need spaxel maps "
                                "(use extraction = 'maps')")
    if rec["metallicity_estimate"] == "mode" and rec["metallicity_method"] != "grid":
        raise MocksimInputError("recovery.metallicity_estimate = 'mode' needs metallicity_method = 'grid'")
    if rec["psf_match"] and rec["extraction"] != "maps":
        raise MocksimInputError("recovery.psf_match: works on line maps (extraction = 'maps'); annulus spectra "
                                "(extraction = 'spectra') are not PSF-matched")
    if rec["tie_kinematics"] and rec["extraction"] != "spectra":
        raise MocksimInputError("recovery.tie_kinematics: needs extraction = 'spectra' (annulus spectra)")
    hw = rec["annulus_width_hwhm"]
    if hw is not None and (isinstance(hw, bool) or not isinstance(hw, (int, float)) or not 0 < hw <= 20):
        raise MocksimInputError(f"recovery.annulus_width_hwhm: must be in (0, 20] PSF HWHM, got {hw!r}")
    if hw is not None and rec["annulus_width_arcsec"] is not None:
        raise MocksimInputError("recovery: give annulus_width_arcsec or annulus_width_hwhm, not both")
    rs = rec["r_max_snr"]
    if rs is not None and (isinstance(rs, bool) or not isinstance(rs, (int, float)) or not 0 < rs <= 1000):
        raise MocksimInputError(f"recovery.r_max_snr: must be in (0, 1000], got {rs!r}")
    for key in ("annulus_width_arcsec", "r_max_arcsec"):
        if rec[key] is not None and (isinstance(rec[key], bool) or not isinstance(rec[key], (int, float))
                                     or not 0 < rec[key] <= 10):
            raise MocksimInputError(f"recovery.{key}: must be in (0, 10] arcsec, got {rec[key]!r}")
    from ..lines import get_line

    if not isinstance(rec["lines"], list) or not rec["lines"]:
        raise MocksimInputError("recovery.lines: must be a non-empty list of line names")
    for ln in rec["lines"]:
        get_line(ln)
    if rec["branch"] not in ("auto", "lower", "upper"):
        raise MocksimInputError(f"recovery.branch: {rec['branch']!r}; allowed: auto, lower, upper")
