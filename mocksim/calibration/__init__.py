"""Calibration engine: large grids of mocks -> beam-smearing correction curves.

* :func:`run_grid` (:mod:`.engine`) runs every realisation of a scenario in chunks on
  local processes or Dask, resumably (:mod:`.store`), and writes ``results.h5``.
* :func:`compute_products` (:mod:`.curves`) turns a grid into per-cell correction
  factors and fitted curves ``f(2Re/FWHM; |gradient|)``; :func:`fit_property_bias`
  (:mod:`.bias`) fits stacking biases vs population properties.
* :mod:`.correct` provides ``mocksim correct`` (:func:`add_correct_parser`).
"""
from .correct import Curves, add_correct_parser, correct_gradient, load_curves
from .bias import PropertyBiasFit, fit_property_bias, stacking_bias_points
from .curves import (CalibrationProducts, CurveFit, cell_table, compute_products, fit_correction_curves,
                     fit_curve, hill)

_ENGINE_NAMES = ("GridResult", "parse_scheduler", "run_chunk", "run_grid")

__all__ = ["run_grid", "run_chunk", "GridResult", "parse_scheduler", "compute_products", "cell_table",
           "fit_curve", "fit_correction_curves", "fit_property_bias", "stacking_bias_points", "hill",
           "CurveFit", "CalibrationProducts", "PropertyBiasFit", "Curves", "load_curves", "correct_gradient",
           "add_correct_parser"]


def __getattr__(name):
    # The engine imports the whole simulation stack (~0.7 s); loaded on first use so that
    # `mocksim --help` and `mocksim correct` stay quick.
    if name in _ENGINE_NAMES:
        from . import engine

        return getattr(engine, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
