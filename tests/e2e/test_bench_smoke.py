"""The benchmark runs end to end at a tiny size on its own dev cluster and writes every result key. Performance
targets are not asserted: benchmarks are measured (docs/performance.md), not timed tests."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
KEYS = {"sizes", "setup", "objects", "scale", "drift", "memory", "steady", "change", "profile", "operator_log"}
SCALE_KEYS = {"objects_s", "settled_s", "floor_s", "kubectl_s", "ratio_operator_floor", "ratio_operator_kubectl"}
CHANGE_KEYS = {
    "cpu_s",
    "cpu_s_samples",
    "cpu_raw_s",
    "idle_cpu_per_s",
    "passes",
    "window_s",
    "namespaces",
    "clean_samples",
}


def test_bench_runs_at_tiny_size(tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    cmd = [sys.executable, str(ROOT / "bench" / "run.py"), "--namespaces", "5", "--nodes", "6", "--deployments", "3"]
    cmd += ["--drift", "10", "--drift-timeout", "5", "--steady-seconds", "5", "--warmup-seconds", "5"]
    cmd += ["--cluster-name", "benchsmoke", "--port", "16447", "--out", str(out)]
    try:
        run = subprocess.run(cmd, capture_output=True, text=True, timeout=230, check=False)
    finally:
        # The bench purges its cluster itself; this covers a timeout.
        subprocess.run(
            [sys.executable, "-m", "aiconform", "dev-cluster", "--name", "benchsmoke", "down", "--purge"],
            capture_output=True,
            timeout=120,
            check=False,
        )
    assert run.returncode == 0, run.stderr[-3000:]
    results = json.loads(out.read_text())
    assert set(results) >= KEYS, sorted(KEYS - set(results))
    assert set(results["scale"]) >= SCALE_KEYS
    assert results["objects"]["total"] > 0
    assert results["drift"]["deletions"] == 10
    assert results["memory"]["peak_rss_mb"] is not None
    phases = results["memory"]["rss_mb_by_phase"]  # sampled every 0.5 s: each phase lasts longer than that
    assert set(phases) >= {"listing", "scale", "drift", "steady", "change"}, phases
    assert all(0 < mb <= results["memory"]["peak_rss_mb"] + 1 for mb in phases.values()), phases
    assert isinstance(results["scale"]["operator_initial_listing_s"], float)  # the operator's log line was found
    # The API server's audit log is there and read: steady-state requests are attributed to the operator.
    assert isinstance(results["steady"]["operator_requests"], dict)
    # One label change on each of 3 tenant namespaces, each a window of its own with the operator's CPU in it.
    change = results["change"]
    assert set(change) >= CHANGE_KEYS, sorted(CHANGE_KEYS - set(change))
    assert len(set(change["namespaces"])) == 3 and len(change["cpu_s_samples"]) == 3, change
    assert isinstance(change["cpu_s"], float), change
    assert all(raw >= 0 and window > 0 for raw, window in zip(change["cpu_raw_s"], change["window_s"], strict=True))
