"""Analytic models of gas-phase metallicity gradients and the observations they are compared with.

Stand-alone package (numpy, scipy, astropy, emcee, matplotlib) used by mocksim
to impose physically motivated metallicity profiles and to compare recovered
gradients with published ones.  Sources: seed 000 (Li Z. et al. 2025, ApJ)
Sect. 4.5, Appendices C and D, Eqs. 3-9; Erb (2008); Chevalier & Clegg (1985);
Dekel et al. (2013, 2023); Li, Dekel et al. (2024).

Modules
-------
ffb           feedback-free-starburst steady-state model (Eqs. 5-9, Figure 7)
erb08         Erb (2008) gas-regulator Z(mu) and a radial-profile model
gas_fraction  inverted Kennicutt-Schmidt gas fractions, SFR(Hbeta) (App. C)
evolution     double-power-law gradient(z) with emcee fit (Eq. 3, App. D), MZGR (Eq. 4)
halo          cosmology, virial quantities, Dekel+13 accretion, FFB threshold mass
cc85          Chevalier & Clegg (1985) wind solution and seed Eq. 7
profiles      exponential discs, Abel projection, log-normal nodes, linear fits
observations  loaders for the shipped gradient tables (seeds 000-003)
compare       chi^2 tables and a Figure-7-style plot
"""
from .cc85 import (cc85_asymptotic_coefficient, cc85_central_coefficient, cc85_density_coefficient,
                   outflow_density_eq7)
from .compare import (GradientModel, chi2_gradient, chi2_table, default_models, double_power_law_model,
                      ffb_gradient_model, mzgr_model, plot_figure7)
from .erb08 import (Erb08Model, closed_box_metallicity, equilibrium_gas_fraction, erb08_metallicity, erb08_oh_profile,
                    metallicity_to_oh)
from .evolution import (MZGR_RELATIONS, PUBLISHED_GAMMA, PUBLISHED_GAMMA_ERR_MINUS, PUBLISHED_GAMMA_ERR_PLUS,
                        DoublePowerLawFit, double_power_law, fit_double_power_law, mass_gradient_relation)
from .ffb import (FFBModel, eta_max, ffb_gradient, ism_metallicity, mass_loading, median_re_kpc,
                  stack_fit_range_kpc)
from .gas_fraction import (default_kappa_s, gas_fraction, gas_fraction_from_sfr, hbeta_from_sfr,
                           sfr_from_hbeta, sigma_gas_from_sigma_sfr, sigma_sfr_from_sigma_gas)
from .halo import (COSMOLOGY, F_BARYON, ffb_threshold_log_mass, halo_accretion_rate, virial_radius,
                   virial_velocity)
from .observations import (load_gradient_compilation, load_lee2025_cristal, load_li2025_individual,
                           load_li2025_stacks, load_seed002_ifu, load_venturi2024)
from .profiles import linear_gradient, lognormal_nodes

__all__ = [
    "FFBModel", "ffb_gradient", "eta_max", "mass_loading", "ism_metallicity", "median_re_kpc",
    "stack_fit_range_kpc",
    "Erb08Model", "erb08_metallicity", "erb08_oh_profile", "closed_box_metallicity", "equilibrium_gas_fraction", "metallicity_to_oh",
    "sigma_gas_from_sigma_sfr", "sigma_sfr_from_sigma_gas", "gas_fraction", "gas_fraction_from_sfr",
    "sfr_from_hbeta", "hbeta_from_sfr", "default_kappa_s",
    "double_power_law", "fit_double_power_law", "DoublePowerLawFit", "PUBLISHED_GAMMA",
    "PUBLISHED_GAMMA_ERR_PLUS", "PUBLISHED_GAMMA_ERR_MINUS", "mass_gradient_relation", "MZGR_RELATIONS",
    "COSMOLOGY", "F_BARYON", "virial_radius", "virial_velocity", "halo_accretion_rate", "ffb_threshold_log_mass",
    "cc85_asymptotic_coefficient", "cc85_central_coefficient", "cc85_density_coefficient", "outflow_density_eq7",
    "linear_gradient", "lognormal_nodes",
    "load_li2025_stacks", "load_li2025_individual", "load_lee2025_cristal", "load_seed002_ifu",
    "load_venturi2024", "load_gradient_compilation",
    "GradientModel", "chi2_gradient", "chi2_table", "default_models", "ffb_gradient_model",
    "double_power_law_model", "mzgr_model", "plot_figure7",
]
