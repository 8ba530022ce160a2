"""Stacking of emission-line maps of galaxy populations (seed 000 §3.1, Appendices A and G).

Typical use::

    from mocksim.stacking import stack_config_from_dict, stack_population
    cfg = stack_config_from_dict(scn.extra.get("stack", {}))
    res = stack_population(line_maps, err_maps, redshifts, pixscale, cfg,
                           true_gradients=g, re_kpc=re, rng=seed)
    print(res.gradient, res.gradient_err, res.median_true_gradient)

Modules: :mod:`.config` (``[stack]`` table), :mod:`.align` (centroids and
resampling), :mod:`.stack` (stacks and bootstrap), :mod:`.profile` (annuli,
12+log(O/H), gradient), :mod:`.figure` (seed 000 Fig. 18-like figure) and
:mod:`.io` (``/stack`` group of ``results.h5``).
"""
from .align import find_centroid, find_centroids, resample_centered
from .config import STACK_CHOICES, StackConfig, stack_config_from_dict
from .figure import stack_figure
from .io import read_stack, write_stack
from .stack import StackResult, stack_population

__all__ = ["StackConfig", "stack_config_from_dict", "StackResult", "stack_population", "find_centroid", "find_centroids",
           "resample_centered", "stack_figure", "write_stack", "read_stack", "STACK_CHOICES"]
