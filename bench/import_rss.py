"""The operator's resident memory after importing what `aiconform run` imports, in a fresh interpreter.

    python bench/import_rss.py [--repeat 5]

Prints the median VmRSS and VmHWM (peak RSS) in MB from /proc/self/status of a child interpreter that imports
the operator's modules (the kopf handlers, the evaluator, the login), each run in a new process.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys

CHILD = r"""
import json
import aiconform.cli, aiconform.operator.runner, aiconform.operator.handlers, aiconform.kube.kubeconfig
def field(name):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(name + ":"):
                return int(line.split()[1]) / 1024
print(json.dumps({"rss_mb": field("VmRSS"), "hwm_mb": field("VmHWM"), "modules": len(__import__("sys").modules)}))
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    runs = [
        json.loads(subprocess.run([sys.executable, "-c", CHILD], check=True, capture_output=True, text=True).stdout)
        for _ in range(args.repeat)
    ]
    out = {key: round(statistics.median(r[key] for r in runs), 1) for key in ("rss_mb", "hwm_mb", "modules")}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
