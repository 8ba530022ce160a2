"""Dust laws (mocksim.physics.dust) against reference sheet section C."""
import numpy as np
import pytest

from mocksim.errors import MocksimInputError
from mocksim.lines import LINES
from mocksim.physics.dust import (
    R_V,
    attenuation_mag,
    av_from_balmer_decrement,
    balmer_decrement,
    ebv_from_balmer_decrement,
    k_lambda,
    transmission,
)

# Sheet section C table: k(lambda) = A_lambda / E(B-V) at the lines
WAVE_A = [3728.48, 3869.86, 4102.89, 4341.69, 4862.69, 5008.24, 6564.61, 6585.27, 6725.0]
K_CALZETTI = [5.856, 5.675, 5.393, 5.123, 4.596, 4.463, 3.325, 3.312, 3.224]
K_SMC = [4.547, 4.380, 4.106, 3.831, 3.272, 3.134, 2.165, 2.155, 2.092]


@pytest.mark.parametrize("law,ref", [("calzetti", K_CALZETTI), ("smc", K_SMC)])
def test_k_at_lines_matches_sheet(law, ref):
    k = k_lambda(law, np.array(WAVE_A) * 1e-4)
    np.testing.assert_allclose(k, ref, atol=0.02)
    np.testing.assert_allclose(k, ref, atol=0.003)  # in fact reproduced to rounding


def test_smc_table_matches_dust_extinction():
    import warnings

    from dust_extinction.averages import G03_SMCBar

    x = np.random.default_rng(1).uniform(0.31, 9.99, 2000)  # 1/um
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # bare numbers are taken as 1/um
        ref = G03_SMCBar()(x) * 2.74
    np.testing.assert_allclose(k_lambda("smc", 1.0 / x), ref, atol=1e-4)


def test_v_band_normalisation():
    # A_V / E(B-V) = R_V at 0.55 um
    assert k_lambda("smc", 0.55) == pytest.approx(2.74, abs=0.02)
    assert k_lambda("calzetti", 0.55) == pytest.approx(4.05, abs=0.01)
    assert R_V["smc"] == 2.74 and R_V["calzetti"] == 4.05


def test_calzetti_analytic_form():
    w = np.array([0.2, 0.5, 0.8, 2.0])
    blue = 2.659 * (-2.156 + 1.509 / w - 0.198 / w**2 + 0.011 / w**3) + 4.05
    red = 2.659 * (-1.857 + 1.040 / w) + 4.05
    np.testing.assert_allclose(k_lambda("calzetti", w), np.where(w < 0.63, blue, red), rtol=1e-12)


def test_attenuation_broadcast_and_transmission():
    av = np.array([[0.0, 0.5], [1.0, 2.0]])  # e.g. a radial A_V map
    w = LINES["Hbeta"].wave_um
    a = attenuation_mag("smc", w, av)
    assert a.shape == av.shape
    np.testing.assert_allclose(a, k_lambda("smc", w) * av / 2.74)
    np.testing.assert_allclose(transmission("smc", w, av), 10 ** (-0.4 * a))
    # two wavelengths x one A_V
    a2 = attenuation_mag("calzetti", [0.4, 0.6], 1.0)
    np.testing.assert_allclose(a2, k_lambda("calzetti", [0.4, 0.6]) / 4.05)
    # bluer lines are attenuated more
    assert transmission("smc", 0.3727, 1.0) < transmission("smc", 0.6563, 1.0) < 1.0
    np.testing.assert_array_equal(transmission("none", [0.3727, 0.6563], 1.0), [1.0, 1.0])


def test_bad_input_raises():
    with pytest.raises(MocksimInputError, match="dust_law"):
        k_lambda("mw", 0.5)
    with pytest.raises(MocksimInputError, match="wave_um_rest"):
        k_lambda("smc", 0.05)
    with pytest.raises(MocksimInputError, match="wave_um_rest"):
        k_lambda("smc", 3.5)
    with pytest.raises(MocksimInputError, match="wave_um_rest"):
        k_lambda("calzetti", 2.5)
    with pytest.raises(MocksimInputError, match="wave_um_rest"):
        k_lambda("calzetti", 0.1)
    with pytest.raises(MocksimInputError, match="av"):
        attenuation_mag("smc", 0.5, -0.1)
    with pytest.raises(MocksimInputError):
        attenuation_mag("smc", 0.5, np.nan)
    with pytest.raises(MocksimInputError):
        ebv_from_balmer_decrement(-1.0)
    with pytest.raises(MocksimInputError, match="Balmer"):
        av_from_balmer_decrement(3.0, lines=("Halpha", "OIII5007"))


@pytest.mark.parametrize("law", ["smc", "calzetti"])
@pytest.mark.parametrize("lines", [("Halpha", "Hbeta"), ("Hgamma", "Hbeta"), ("Hdelta", "Hbeta")])
def test_balmer_decrement_round_trip(law, lines):
    av = np.array([0.0, 0.3, 1.0, 2.5])
    ratio = balmer_decrement(av, law, lines)
    np.testing.assert_allclose(av_from_balmer_decrement(ratio, law, lines), av, atol=1e-10)
    # consistency with transmissions of the two lines
    t1 = transmission(law, LINES[lines[0]].wave_um, av)
    t2 = transmission(law, LINES[lines[1]].wave_um, av)
    from mocksim.lines import CASE_B_TO_HBETA as CB

    np.testing.assert_allclose(ratio, CB[lines[0]] / CB[lines[1]] * t1 / t2, rtol=1e-10)


def test_balmer_decrement_sheet_formula():
    # E(B-V) = 2.5/(k_Hb - k_Ha) log10[(Ha/Hb)_obs / 2.86], sheet C; Calzetti k's from the table
    ebv = ebv_from_balmer_decrement(4.0, "calzetti")
    assert ebv == pytest.approx(2.5 / (4.596 - 3.325) * np.log10(4.0 / 2.86), rel=2e-3)
    assert av_from_balmer_decrement(4.0, "calzetti") == pytest.approx(4.05 * ebv)
    # below Case B: negative value returned, not clipped
    assert av_from_balmer_decrement(2.7, "smc") < 0
