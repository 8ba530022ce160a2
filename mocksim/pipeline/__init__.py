"""Scenario files and the end-to-end runner behind ``mocksim run``."""
from .scenario import Scenario, load_scenario, scenario_from_dict

__all__ = ["Scenario", "load_scenario", "scenario_from_dict"]
