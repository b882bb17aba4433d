"""Probes: canary workloads that prove a requirement by its behaviour (evidence tier Observed).

Each probe runs a small bounded workload in a sandbox namespace of its own (labelled as ours, restricted Pod
Security, a ResourceQuota), waits for what the requirement promises with a timeout, records what it saw and
removes everything it made. `run_probes` is what `aiconform check --probe` and the operator call; the verdicts
merge over the checks' in `conformance/probemerge.py`. See docs/probes.md.
"""

from aiconform.probes.run import PROBES, run_probe, run_probes

__all__ = ["PROBES", "run_probe", "run_probes"]
