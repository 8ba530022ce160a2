"""mocksim performance benchmarks: ``python -m benchmarks [--quick] [--json FILE]``.

Every workload and its naive baseline are measured in the same process and run
(see ``benchmarks/README.md``). Numerical libraries are pinned to one thread
before numpy is imported, so that "single core" numbers mean one core (the
calibration engine's worker processes run the same way).
"""
import os

for _k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "VECLIB_MAXIMUM_THREADS",
           "NUMEXPR_NUM_THREADS"):
    os.environ.setdefault(_k, "1")
del _k
