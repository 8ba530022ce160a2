"""``python -m benchmarks --quick --json`` runs and writes every key (no timing assertions)."""
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
KEYS = ("w1_galaxies_per_s", "w1_speedup_vs_naive", "w1_over_floor", "w2_galaxies_per_s", "w3_seconds",
        "w4_scaling_efficiency", "peak_rss_mb", "w1_maps_galaxies_per_s", "w1_maps_speedup_vs_naive",
        "w1_maps_over_floor")


def test_quick_benchmark_json(tmp_path):
    out = tmp_path / "bench.json"
    # W2 (grism) and W4 (worker pools) are left out to keep this under ~10 s; they run in
    # the full benchmark and share the machinery exercised here
    proc = subprocess.run([sys.executable, "-m", "benchmarks", "--quick", "--quiet", "--json", str(out),
                           "--only", "w1,w3"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "W1 IFU" in proc.stdout and "speed-up vs naive" in proc.stdout
    data = json.loads(out.read_text())
    for key in KEYS:
        assert key in data
    for key in ("w1_galaxies_per_s", "w1_speedup_vs_naive", "w1_over_floor", "w3_seconds", "peak_rss_mb"):
        assert isinstance(data[key], float) and data[key] > 0
    assert data["w2_galaxies_per_s"] is None and data["w4_scaling_efficiency"] is None
    assert data["w1_maps_galaxies_per_s"] is None      # W1m (per-spaxel fits) not requested
    w1 = data["details"]["w1"]
    assert w1["naive"]["extrapolated"] and w1["floor"]["images_convolved"] > 0
    assert w1["status_ok"] >= 1


def test_bad_option_exits_with_usage(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "benchmarks", "--only", "w9"], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 2 and "--only" in proc.stderr
