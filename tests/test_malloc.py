"""Heap settings of batch runners (mocksim.pipeline.malloc): a batch's memory is reused."""
import json
import os
import platform
import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc",
                                reason="glibc heap settings")

# a batch: 100 arrays of 240 kB (the size of a W2 galaxy's dispersed image) kept, then freed
_CYCLES = textwrap.dedent("""
    import json, resource, sys
    import numpy as np
    from mocksim.pipeline.malloc import tune_malloc
    applied = tune_malloc() if sys.argv[1] == "1" else None
    def cycle():
        r0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        arrs = [np.ones(30000) for _ in range(100)]
        total = sum(float(a[-1]) for a in arrs)
        del arrs
        return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - r0, total
    print(json.dumps({"applied": applied, "cycles": [cycle() for _ in range(4)]}))
""")


def _faults(tune: bool, **env):
    run_env = {k: v for k, v in os.environ.items() if k != "MOCKSIM_MALLOC_TUNING"}
    run_env.update(env)
    out = subprocess.run([sys.executable, "-c", _CYCLES, "1" if tune else "0"], capture_output=True, text=True,
                         check=True, env=run_env)
    res = json.loads(out.stdout)
    assert all(total == 100.0 for _, total in res["cycles"])
    return res["applied"], [f for f, _ in res["cycles"][1:]]     # after the first batch


def test_tuned_heap_reuses_a_freed_batch():
    _, untuned = _faults(False)
    if sum(untuned) < 500:       # 24 MB is ~6000 pages of 4 kB; huge pages leave nothing to measure
        pytest.skip(f"the untuned heap faulted only {untuned} times")
    applied, tuned = _faults(True)
    assert applied is True
    # untuned: glibc trims the freed batch off the heap top and faults it back in every time
    assert min(untuned) > 1000
    assert max(tuned) < 0.02 * min(untuned)


def test_opt_out_keeps_the_process_settings():
    applied, faults = _faults(True, MOCKSIM_MALLOC_TUNING="0")
    assert applied is False
    _, untuned = _faults(False)
    if sum(untuned) >= 500:
        assert min(faults) > 0.5 * min(untuned)
