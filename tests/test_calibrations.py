"""Strong-line calibrations (mocksim.physics.calibrations) and intrinsic line
ratios (mocksim.physics.emission).

Reference numbers: shared/reference/calibrations_and_relations.md, sections
A1-A7 (table A7 regression values), B2 and G (typos, turnovers).
"""

import numpy as np
import pytest

from mocksim.errors import MocksimInputError
from mocksim.lines import CASE_B_TO_HBETA, LINES
from mocksim.physics.calibrations import (
    CALIBRATION_NAMES,
    EXTRA_CALIBRATION_NAMES,
    SEARCH_PAD_DEX,
    get_calibration,
)
from mocksim.physics.emission import (
    FALLBACKS,
    electron_temperature,
    group_observables,
    line_ratios_to_hbeta,
    line_scatter_dex,
    line_sources,
    oiii_4363_5007,
)

ALL = CALIBRATION_NAMES + EXTRA_CALIBRATION_NAMES

# Table A7 (log R at 12+log(O/H) = 7.5 / 8.0 / 8.3) plus the A1 Sanders+24 test values.
# Bian+18 R3 is 5007 alone (sheet: doublet - 0.125; we use log10(2.98/3.98)).
A7 = {
    ("sanders24", "R3"): (0.757, 0.834, 0.772),
    ("sanders24", "R2"): (-0.467, 0.067, 0.388),
    ("sanders24", "O32"): (1.300, 0.723, 0.377),
    ("sanders24", "R23"): (0.921, 1.017, 0.995),
    ("sanders24", "Ne3O2"): (0.113, -0.386, -0.685),
    ("sanders25", "R3"): (0.715, 0.852, 0.685),
    ("sanders25", "R2"): (-0.513, 0.172, 0.383),
    ("sanders25", "O32"): (1.102, 0.697, 0.245),
    ("curti20", "R3"): (0.511, 0.783, 0.619),
    ("curti20", "R2"): (-0.492, 0.053, 0.376),
    ("curti20", "O32"): (0.960, 0.718, 0.258),
    ("maiolino08", "R3"): (0.607, 0.736, 0.594),
    ("maiolino08", "R2"): (-0.252, 0.129, 0.363),
    ("maiolino08", "O32"): (0.919, 0.523, 0.209),
    ("nakajima22", "R3"): (0.573, 0.780, 0.571),
    ("bian18", "R3"): (0.807, 0.816, 0.647),
    ("bian18", "O32"): (1.763, 0.915, 0.407),
}


@pytest.mark.parametrize("key", sorted(A7))
def test_table_a7_regression(key):
    name, diag = key
    got = get_calibration(name).log_ratio(diag, [7.5, 8.0, 8.3], extrapolate=True)
    np.testing.assert_allclose(got, A7[key], atol=0.002)


def test_typos_not_reproduced():
    # Sheet G1: zcal's Sanders R23 c0 = 1.1017 and Bian R23 "+54.8284"; astropalmerio's M08 O32 -0.2893
    assert get_calibration("sanders24").log_ratio("R23", 8.0) == pytest.approx(1.017, abs=1e-9)
    y = 8.0
    bian_r23 = 138.0430 - 54.8284 * y + 7.2954 * y**2 - 0.32293 * y**3
    assert get_calibration("bian18").log_ratio("R23", y) == pytest.approx(bian_r23, abs=1e-9)
    assert abs(bian_r23 - 0.981) < 0.002
    assert get_calibration("maiolino08").log_ratio("O32", 8.69) == pytest.approx(-0.2839, abs=1e-9)
    # Curti+20 R2 is the 6-term fit, not Curti+17 (0.418, ...)
    assert get_calibration("curti20").log_ratio("R2", 8.69) == pytest.approx(0.435, abs=1e-9)


def test_r3_is_5007_alone_everywhere():
    # Bian's published cubic is for 4959+5007: converted by log10(2.98/3.98)
    y = np.array([7.8, 8.1, 8.4])
    doublet = 43.9836 - 21.6211 * y + 3.4277 * y**2 - 0.1747 * y**3
    got = get_calibration("bian18").log_ratio("R3", y)
    np.testing.assert_allclose(got, doublet + np.log10(2.98 / 3.98), atol=1e-12)
    # with 5007 alone, R3 (x (1 + 1/2.98)) must stay below R23 in Bian's range (sheet A2 check)
    assert np.all(got + np.log10(1 + 1 / 2.98) < get_calibration("bian18").log_ratio("R23", y))
    # Sanders+24 internal consistency (sheet A1: 1.017 reproduces it to ~0.005; 1.1017 would miss by 0.09)
    c = get_calibration("sanders24")
    rec = np.log10(10 ** c.log_ratio("R3", 8.0) * (1 + 1 / 2.98) + 10 ** c.log_ratio("R2", 8.0))
    assert rec == pytest.approx(c.log_ratio("R23", 8.0), abs=0.006)


@pytest.mark.parametrize("name,turn", [("sanders24", 7.92), ("sanders25", 7.925), ("curti20", 8.00),
                                       ("maiolino08", 7.89), ("bian18", 7.77), ("nakajima22", 7.94),
                                       ("nakajima22_large_ew", 8.06)])
def test_r3_turnovers_section_g(name, turn):
    assert get_calibration(name).turnover("R3") == pytest.approx(turn, abs=0.006)


def test_turnover_none_for_monotonic():
    c = get_calibration("sanders24")
    assert c.turnover("R2") is None and c.turnover("O32") is None and c.turnover("Ne3O2") is None
    assert get_calibration("bian18").turnover("O32") is None


@pytest.mark.parametrize("name", ALL)
def test_curve_shapes_supported(name):
    # each diagnostic has at most one stationary point (a maximum) in the search domain
    c = get_calibration(name)
    for d in c.diagnostics:
        segs = c.segments(d)
        assert len(segs) in (1, 2)
        if len(segs) == 2:
            assert segs[0].increasing and not segs[1].increasing
            assert segs[0].hi == pytest.approx(c.turnover(d))


@pytest.mark.parametrize("name", ALL)
def test_round_trip_each_branch(name):
    c = get_calibration(name)
    lo, hi = c.valid_range
    for d in c.diagnostics:
        t = c.turnover(d)
        y = np.linspace(lo, hi, 301)
        if t is not None:
            y = y[np.abs(y - t) > 0.01]
        r = c.log_ratio(d, y)
        if t is None:
            inv = c.invert(d, r)
            np.testing.assert_allclose(inv.logoh, y, atol=1e-7)
            assert np.all(inv.status == 0) and np.all(inv.branch == "single")
            continue
        for br, sel in (("lower", y < t), ("upper", y > t)):
            if sel.any():
                inv = c.invert(d, r[sel], branch=br)
                np.testing.assert_allclose(inv.logoh, y[sel], atol=1e-7)
                assert np.all(inv.status == 0)
                pick = c.invert(d, r[sel], prior_branch=br)
                np.testing.assert_allclose(pick.logoh, y[sel], atol=1e-7)


def test_auto_returns_both_roots():
    c = get_calibration("sanders24")
    r = c.log_ratio("R3", 7.6)
    inv = c.invert("R3", r)
    assert inv.n_solutions == 2 and inv.branch == "both"
    assert inv.logoh == pytest.approx(7.6, abs=1e-7)
    assert inv.logoh_upper > 7.92 and c.log_ratio("R3", inv.logoh_upper) == pytest.approx(r, abs=1e-9)
    # a number as prior_branch picks the nearest root
    near = c.invert("R3", [r, r], prior_branch=[7.5, 8.3])
    np.testing.assert_allclose(near.logoh, [7.6, inv.logoh_upper], atol=1e-7)
    assert list(near.branch) == ["lower", "upper"]


def test_out_of_range_flagged_not_clipped():
    c = get_calibration("sanders24")
    t = c.turnover("R3")
    # above the maximum: status 1, logoh at the turnover
    inv = c.invert("R3", [0.9, 0.95])
    assert np.all(inv.status == 1) and np.all(inv.n_solutions == 0)
    np.testing.assert_allclose(inv.logoh, t)
    assert np.all(inv.branch == "none")
    # root outside the validity range (8.3) but inside the search domain: value kept, status 2
    r = c.log_ratio("R2", 8.45, extrapolate=True)
    inv = c.invert("R2", r)
    assert inv.status == 2 and inv.logoh == pytest.approx(8.45, abs=1e-7)
    # beyond the search domain: no solution (status 1) at the domain edge
    inv = c.invert("R2", c.log_ratio("R2", 9.0, extrapolate=True))
    assert inv.status == 1 and inv.logoh == pytest.approx(8.3 + SEARCH_PAD_DEX)
    # lower-branch root outside validity; upper one inside
    inv = c.invert("R3", c.log_ratio("R3", 7.2, extrapolate=True))
    assert inv.status == 2 and inv.logoh == pytest.approx(7.2, abs=1e-7)


def test_input_errors():
    with pytest.raises(MocksimInputError, match="recovery.calibration.*sanders24"):
        get_calibration("kewley02")
    c = get_calibration("sanders24")
    with pytest.raises(MocksimInputError, match="N2"):
        c.log_ratio("N2", 8.0)
    with pytest.raises(MocksimInputError, match=r"validity range \[7.4, 8.3\]"):
        c.log_ratio("R3", 8.5)
    with pytest.raises(MocksimInputError):
        c.invert("R3", [np.nan])
    with pytest.raises(MocksimInputError):
        c.invert("R3", 0.8, branch="middle")


def test_scatters():
    assert get_calibration("curti20").sigma_dex("R3") == pytest.approx(0.09)
    assert get_calibration("curti20").sigma_published["N2"]
    assert get_calibration("sanders25").sigma_dex("R2") == pytest.approx(np.hypot(0.03, 0.25))
    assert get_calibration("sanders24").sigma_dex("R3") == pytest.approx(0.10)  # documented default
    assert not get_calibration("sanders24").sigma_published["R3"]
    c = get_calibration("sanders24", scatter_dex={"R3": 0.03})
    assert c.sigma_dex("R3") == 0.03 and c.sigma_dex("R2") == 0.10
    assert get_calibration("sanders24").sigma_dex("R3") == 0.10  # cached original untouched


# ------------------------------------------------------------------ emission
@pytest.mark.parametrize("name", ALL)
def test_line_ratios_all_lines_and_fixed_ratios(name):
    c = get_calibration(name)
    y = np.linspace(*c.valid_range, 12).reshape(3, 4)
    r = line_ratios_to_hbeta(y, name)
    assert set(r) == set(LINES)
    for k, v in r.items():
        assert v.shape == y.shape and np.all(np.isfinite(v)) and np.all(v > 0), k
    for b, v in CASE_B_TO_HBETA.items():
        np.testing.assert_allclose(r[b], v)
    np.testing.assert_allclose(np.log10(r["OIII5007"]), c.log_ratio("R3", y), atol=1e-12)
    np.testing.assert_allclose(r["OIII5007"] / r["OIII4959"], 2.98)
    np.testing.assert_allclose(r["OII3729"] / r["OII3727"], 1.2)
    np.testing.assert_allclose(r["NII6584"] / r["NII6548"], 3.071)
    np.testing.assert_allclose(r["SII6716"] / r["SII6731"], 1.1)
    if "R2" in c.diagnostics:
        np.testing.assert_allclose(np.log10(r["OII3727"] + r["OII3729"]), c.log_ratio("R2", y), atol=1e-12)
    if "N2" in c.diagnostics:
        np.testing.assert_allclose(np.log10(r["NII6584"] / r["Halpha"]), c.log_ratio("N2", y), atol=1e-12)
    if "Ne3O2" in c.diagnostics:
        np.testing.assert_allclose(np.log10(r["NeIII3869"] / (r["OII3727"] + r["OII3729"])),
                                   c.log_ratio("Ne3O2", y), atol=1e-12)


def test_fallbacks_recorded():
    assert FALLBACKS["sanders24"]["NII6584"] == "curti20:N2"
    assert FALLBACKS["sanders24"]["SII6716"] == "curti20:S2"
    assert "OII3727" not in FALLBACKS["sanders24"]
    assert FALLBACKS["nakajima22"]["OII3727"] == "curti20:R2"
    assert FALLBACKS["curti20"]["NeIII3869"] == "curti20:R2+maiolino08:Ne3O2"
    assert "OII3727" not in FALLBACKS["bian18"]  # derived from Bian's own R3 - O32
    assert line_sources("bian18")["OII3727"] == "bian18:R3-O32"
    b = get_calibration("bian18")
    r = line_ratios_to_hbeta(8.1, "bian18")
    assert np.log10(r["OIII5007"] / (r["OII3727"] + r["OII3729"])) == pytest.approx(b.log_ratio("O32", 8.1))
    # scatter of derived ratios adds in quadrature
    assert line_scatter_dex("bian18")["OII3727"] == pytest.approx(np.hypot(0.1, 0.1))
    assert line_scatter_dex("curti20")["NII6584"] == pytest.approx(0.16)
    assert line_scatter_dex("curti20")["Hgamma"] == 0.0


def test_group_observables():
    groups, ignored = group_observables(["OII3727", "OII3729", "OIII4959", "OIII5007", "Hbeta",
                                         "NII6584", "OIII4363"], "sanders24")
    assert groups == [(("OII3727", "OII3729"), "R2"), (("OIII5007",), "R3"), (("Hbeta",), "Hbeta")]
    assert len(ignored) == 3
    groups, _ = group_observables(["NII6584", "Hbeta"], "sanders24", use_fallback_lines=True)
    assert (("NII6584",), "N2") in groups


def test_range_policy():
    with pytest.raises(MocksimInputError, match="logoh.*7.4, 8.3"):
        line_ratios_to_hbeta(7.35, "sanders24")
    r = line_ratios_to_hbeta(7.35, "sanders24", range_policy="extrapolate")
    assert float(np.log10(r["OIII5007"])) == pytest.approx(
        get_calibration("sanders24").log_ratio("R3", 7.35, extrapolate=True))
    with pytest.raises(MocksimInputError):
        line_ratios_to_hbeta(7.0, "sanders24", range_policy="extrapolate")  # beyond validity - 0.3
    with pytest.raises(MocksimInputError):
        line_ratios_to_hbeta([8.0, np.nan], "sanders24")
    with pytest.raises(MocksimInputError, match="recovery.calibration"):
        line_ratios_to_hbeta(8.0, "pp04")


def test_balmer_entries_read_only():
    r = line_ratios_to_hbeta(np.full(5, 8.0), "sanders24")
    with pytest.raises(ValueError):
        r["Halpha"][0] = 3.0


def test_oiii_4363_emissivity_formula():
    # Osterbrock & Ferland eq. 5.4 at T = 1e4 K, n_e -> 0: (4959+5007)/4363 = 7.90 e^3.29
    assert oiii_4363_5007(1e4, ne_cm3=0.0) == pytest.approx((1 + 1 / 2.98) / (7.90 * np.exp(3.29)), rel=1e-12)
    assert oiii_4363_5007(2e4) > oiii_4363_5007(1e4)


@pytest.mark.parametrize("name", ["sanders24", "curti20", "bian18", "sanders25"])
def test_te_self_consistent_direct_method(name):
    """Direct method (Izotov+06 eqs 3, 5; O&F T_e; t2 = 0.7 t + 0.3) on the mock
    lines returns the input abundance."""
    y = np.linspace(*get_calibration(name).valid_range, 9)
    r = line_ratios_to_hbeta(y, name)
    o3 = (r["OIII5007"] + r["OIII4959"])
    ratio = o3 / r["OIII4363"]
    # invert (4959+5007)/4363 = 7.90 exp(3.29e4/T)/(1 + 4.5e-4 n_e T^-0.5) by iteration
    t = np.full_like(y, 1e4)
    for _ in range(50):
        t = 3.29e4 / np.log(ratio * (1 + 4.5e-4 * 300 / np.sqrt(t)) / 7.90)
    np.testing.assert_allclose(t, electron_temperature(y, name), rtol=1e-3)
    t3 = t / 1e4
    t2 = 0.7 * t3 + 0.3
    opp = np.log10(o3) + 6.200 + 1.251 / t3 - 0.55 * np.log10(t3) - 0.014 * t3
    op = (np.log10(r["OII3727"] + r["OII3729"]) + 5.961 + 1.676 / t2 - 0.40 * np.log10(t2) - 0.034 * t2
          + np.log10(1 + 1.35 * 1e-4 * 300 / np.sqrt(t2)))
    oh = np.log10(10 ** (opp - 12) + 10 ** (op - 12)) + 12
    np.testing.assert_allclose(oh, y, atol=0.003)
    assert np.all((t > 3e3) & (t < 3e4))


def test_te_plausible_and_fixed_override():
    t = electron_temperature([7.5, 8.0, 8.3], "sanders24")
    assert 1.8e4 < t[0] < 2.4e4 and 1.3e4 < t[1] < 1.6e4 and 1.0e4 < t[2] < 1.3e4
    r = line_ratios_to_hbeta(8.0, "sanders24", te_K=1.5e4)
    assert float(r["OIII4363"] / r["OIII5007"]) == pytest.approx(float(oiii_4363_5007(1.5e4)))


def test_line_ratios_vectorised_over_many_pixels():
    y = np.random.default_rng(0).uniform(7.45, 8.25, 100_000)
    r = line_ratios_to_hbeta(y, "sanders24")
    cal = get_calibration("sanders24")
    np.testing.assert_allclose(np.log10(r["OIII5007"]), cal.log_ratio("R3", y), atol=1e-12)



def test_explicit_extrapolation_option():
    """get_calibration(..., extrapolate_dex=) widens search domain, generator and prior."""
    import warnings

    from mocksim.galaxy.disk import _line_maps
    from mocksim.recovery.metallicity import infer_metallicity
    from mocksim.stacking.config import stack_config_from_dict

    base = get_calibration("sanders24")
    c = get_calibration("sanders24", extrapolate_dex=0.9)
    assert base.search_domain == pytest.approx((7.1, 8.6)) and base.extrapolate_dex is None
    assert c.search_domain == pytest.approx((6.5, 9.2)) and c.extrapolate_dex == 0.9
    assert get_calibration("sanders24").search_domain == pytest.approx((7.1, 8.6))  # cache untouched
    assert c.turnover("R3") == pytest.approx(base.turnover("R3"))
    # small values never shrink the default 0.3 dex search pad
    assert get_calibration("sanders24", extrapolate_dex=0.1).search_domain == pytest.approx((7.1, 8.6))
    # combines with a scatter override either way round
    c2 = get_calibration(c, scatter_dex=0.05)
    assert c2.search_domain == c.search_domain and c2.sigma_dex("R3") == 0.05
    assert get_calibration(c2, extrapolate_dex=0.9).sigma_dex("R3") == 0.05
    # lower-branch inversion now reaches 6.6 (status 2 = outside validity, not clipped)
    r = float(c.log_ratio("R3", 6.6, extrapolate=True))
    inv = c.invert("R3", r, branch="lower")
    assert float(inv.logoh) == pytest.approx(6.6, abs=1e-9) and int(inv.status) == 2
    assert int(base.invert("R3", r, branch="lower").status) == 1  # beyond the default domain
    # generator ratios (emission) follow the calibration's domain
    with pytest.raises(MocksimInputError):
        line_ratios_to_hbeta(6.6, "sanders24", range_policy="extrapolate")
    rr = line_ratios_to_hbeta(6.6, c, range_policy="extrapolate", lines=["Hbeta", "OIII5007"])
    assert np.log10(rr["OIII5007"]) == pytest.approx(r)
    # _line_maps: held at the domain edge by default, extrapolated with the option
    hb = np.ones((1, 2))
    logoh = np.array([[7.8, 6.6]])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        held = _line_maps(hb, logoh, None, "sanders24", "none", ["OIII5007"])["OIII5007"]
    ext = _line_maps(hb, logoh, None, c, "none", ["OIII5007"])["OIII5007"]
    assert np.log10(held[0, 1]) == pytest.approx(base.log_ratio("R3", 7.1, extrapolate=True))
    assert np.log10(ext[0, 1]) == pytest.approx(r)
    assert held[0, 0] == pytest.approx(ext[0, 0])
    # inference: default prior follows the option, and recovers a value below 7.1
    f = {"Hbeta": np.array([1.0]), "OIII5007": np.array([10 ** r])}
    e = {"Hbeta": np.array([0.01]), "OIII5007": np.array([0.01 * 10 ** r])}
    res0 = infer_metallicity(f, e, "sanders24", branch_prior="lower", fit_av=False)
    res1 = infer_metallicity(f, e, get_calibration("sanders24", extrapolate_dex=0.9, scatter_dex=0.01),
                             branch_prior="lower", fit_av=False)
    assert res0.logoh_range == pytest.approx((7.3, 8.4))
    assert res1.logoh_range == pytest.approx((6.5, 9.2))
    assert res0.log_oh[0] > 7.25
    assert res1.log_oh[0] == pytest.approx(6.6, abs=0.05)
    # validation and scenario/stack exposure
    for bad in (0, -0.1, 2.5, True, "x"):
        with pytest.raises(MocksimInputError, match="extrapolate_dex"):
            get_calibration("sanders24", extrapolate_dex=bad)
    assert stack_config_from_dict({"calibration": "sanders24", "extrapolate_dex": 0.9}).extrapolate_dex == 0.9
    assert stack_config_from_dict({"extrapolate_dex": "none"}).extrapolate_dex is None
    with pytest.raises(MocksimInputError, match="stack.extrapolate_dex"):
        stack_config_from_dict({"calibration": "sanders24", "extrapolate_dex": 5.0})


def test_derived_calibrations_built_once_and_checked_every_call():
    """The same (name, scatter, extrapolation) gives the same object -- its segments and
    inference grids are made once per process -- and bad values still raise."""
    from mocksim.physics.calibrations import get_calibration

    a = get_calibration("sanders24", extrapolate_dex=0.9)
    assert get_calibration("Sanders24", extrapolate_dex=0.9) is a
    assert get_calibration("sanders24", extrapolate_dex=0.5) is not a
    b = get_calibration("bian18", scatter_dex=0.02)
    assert get_calibration("bian18", scatter_dex=0.02) is b
    assert set(b.sigmas.values()) == {0.02}
    c = get_calibration("bian18", scatter_dex={"R3": 0.03}, extrapolate_dex=0.3)
    assert get_calibration("bian18", scatter_dex={"R3": 0.03}, extrapolate_dex=0.3) is c
    assert c.sigmas["R3"] == 0.03 and c.extrapolate_dex == 0.3
    get_calibration("sanders24", extrapolate_dex=1)             # valid, memoised under int 1
    with pytest.raises(MocksimInputError, match="extrapolate_dex"):
        get_calibration("sanders24", extrapolate_dex=True)      # True == 1, still refused
    with pytest.raises(MocksimInputError, match="scatter_dex"):
        get_calibration("bian18", scatter_dex=float("nan"))
    with pytest.raises(MocksimInputError, match="scatter_dex"):
        get_calibration("bian18", scatter_dex=-0.1)
