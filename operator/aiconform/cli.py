"""The `aiconform` command line: one entry point, subcommands imported lazily so each stays cheap."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from aiconform import __version__


class CliError(Exception):
    """An error the user can act on: printed as one line, exit code 2, never a traceback."""


def _add_run(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("run", help="run the operator (kopf) against the current cluster")
    p.add_argument("--kubeconfig", help="kubeconfig file (default: $KUBECONFIG, then in-cluster)")
    p.add_argument("--liveness-port", type=int, default=8080, help="port of /healthz (default 8080)")
    p.add_argument("--metrics-port", type=int, default=9090, help="port of Prometheus /metrics (default 9090)")
    p.add_argument("--bind-address", default="0.0.0.0", help="address the probe and metrics servers bind")
    p.add_argument("--log-format", choices=["plain", "json"], default="plain", help="log format")
    p.add_argument("--verbose", action="store_true", help="debug logging")


def _add_dev_cluster(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("dev-cluster", help="a real local control plane with simulated GPU nodes")
    p.add_argument("--name", default="aiconform", help="cluster name (state in ~/.cache/aiconform/clusters/NAME)")
    dsub = p.add_subparsers(dest="action", required=True)
    up = dsub.add_parser("up", help="build binaries if needed, start the control plane, create the fleet")
    up.add_argument("--port", type=int, default=16443, help="kube-apiserver port on 127.0.0.1 (default 16443)")
    up.add_argument("--h100-nodes", type=int, default=2, help="H100 nodes with 8 GPUs each (default 2)")
    up.add_argument("--a100-nodes", type=int, default=2, help="A100 nodes with MIG (default 2)")
    up.add_argument("--cpu-nodes", type=int, default=2, help="CPU-only nodes (default 2)")
    up.add_argument(
        "--with-crds",
        default="",
        help="comma list of upstream CRD sets to install: kueue,keda,gateway-api,servicemonitor (or 'all')",
    )
    down = dsub.add_parser("down", help="stop every process of the cluster and free its ports")
    down.add_argument("--purge", action="store_true", help="also delete its data, PKI and kubeconfig")
    st = dsub.add_parser("status", help="say what runs (exit code 3 when not running)")
    st.add_argument("-o", "--output", choices=["text", "json"], default="text")
    b = dsub.add_parser("build", help="only build (or find in the cache) the control-plane binaries")
    b.add_argument("--print-dir", action="store_true", help="print the binary directory")
    crds = dsub.add_parser("install-crds", help="install upstream CRD sets read from the Go module cache")
    crds.add_argument("sets", help="comma list: kueue,keda,gateway-api,servicemonitor (or 'all')")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="aiconform", description=__doc__)
    parser.add_argument("--version", action="version", version=f"aiconform {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    _add_run(sub)
    _add_dev_cluster(sub)
    crd = sub.add_parser("crd", help="print the ConformanceProfile CRD generated from the models")
    crd.set_defaults(command="crd")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "run":
            from aiconform.runner import run

            return run(args)
        if args.command == "dev-cluster":
            from aiconform.devcluster.cli import dev_cluster

            return dev_cluster(args)
        if args.command == "crd":
            from aiconform.crdgen import render_crd_yaml

            sys.stdout.write(render_crd_yaml())
            return 0
    except CliError as exc:
        print(f"aiconform: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 2


if __name__ == "__main__":
    sys.exit(main())
