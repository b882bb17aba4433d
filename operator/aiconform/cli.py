"""The `aiconform` command line: one entry point, subcommands imported lazily so each stays cheap."""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence

from aiconform import __version__
from aiconform.errors import CliError


def _add_run(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("run", help="run the operator (kopf) against the current cluster")
    p.add_argument("--kubeconfig", help="kubeconfig file (default: $KUBECONFIG, then in-cluster)")
    p.add_argument("--context", help="kubeconfig context to use (default: its current-context)")
    p.add_argument("--liveness-port", type=int, default=8080, help="port of /healthz (default 8080)")
    p.add_argument("--metrics-port", type=int, default=9090, help="port of Prometheus /metrics (default 9090)")
    p.add_argument("--bind-address", default="0.0.0.0", help="address the probe and metrics servers bind")
    p.add_argument("--log-format", choices=["plain", "json"], default="plain", help="log format")
    p.add_argument("--verbose", action="store_true", help="debug logging")
    p.add_argument(
        "--api-concurrency",
        type=_positive_int,
        default=64,
        help="API requests in flight at most (default 64; the server's priority and fairness queues the rest)",
    )


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


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
    up.add_argument(
        "--with",
        dest="with_controllers",
        default="",
        metavar="CONTROLLERS",
        help="real upstream controllers to run too (their CRDs included): kueue,keda (or 'all'); started if missing",
    )
    down = dsub.add_parser("down", help="stop every process of the cluster and free its ports")
    down.add_argument("--purge", action="store_true", help="also delete its data, PKI and kubeconfig")
    st = dsub.add_parser("status", help="say what runs (exit code 3 when not running)")
    st.add_argument("-o", "--output", choices=["text", "json"], default="text")
    b = dsub.add_parser("build", help="only build (or find in the cache) the control-plane binaries")
    b.add_argument("--print-dir", action="store_true", help="print the binary directory")
    b.add_argument(
        "--with", dest="with_controllers", default="", metavar="CONTROLLERS", help="also build kueue,keda (or 'all')"
    )
    crds = dsub.add_parser("install-crds", help="install upstream CRD sets read from the Go module cache")
    crds.add_argument("sets", help="comma list: kueue,keda,gateway-api,servicemonitor (or 'all')")


EXIT_CODES_EPILOG = """exit codes:
  0  conformant under --fail-on (must: every MUST met; should: every SHOULD met as well)
  1  a requirement failed
  2  could not run: bad flags, kubeconfig, profile or metadata, API server unreachable, unknown version"""

EXPORT_EPILOG = """Metadata comes from --metadata (a YAML mapping, or an earlier PRODUCT.yaml) and the flags;
flags win. Every field of the checklist template is required except --repo-url; kubernetesVersion is the
evaluated checklist. An existing output file is never overwritten without --force.

--out-dir DIR writes the pull request's directory (use vX.YY/<product>): DIR/PRODUCT.yaml and DIR/evidence/,
only when validate.go's offline rules pass (k8sConformanceUrl required, every MUST Implemented unless
--allow-unmet writes a draft); otherwise nothing is written and each problem names the flag or field to fix.

exit codes:
  0  written (-o: whatever the verdicts; --out-dir: validated, or a draft with --allow-unmet)
  2  could not run: missing metadata (one line per field), bad flags, kubeconfig or profile, API unreachable,
     or --out-dir refused (one line per problem)"""


def _kubernetes_version(value: str) -> str:
    """`auto` or `v1.NN`; whether the catalog knows the version is checked when the command runs."""
    if not re.fullmatch(r"auto|v1\.\d+", value):
        raise argparse.ArgumentTypeError(f"{value!r}: want 'auto' or a version like v1.35")
    return value


def _add_cluster_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--kubeconfig", help="kubeconfig file (default: $KUBECONFIG, then in-cluster)")
    p.add_argument("--context", help="kubeconfig context to use (default: its current-context)")
    p.add_argument(
        "--kubernetes-version",
        type=_kubernetes_version,
        metavar="auto|v1.NN",
        help="checklist version to evaluate (default: the profile's, else auto = follow the cluster's /version)",
    )
    p.add_argument("--profile", metavar="FILE", help="ConformanceProfile manifest (or its spec) to evaluate with")
    p.add_argument("--no-scrape", action="store_true", help="do not scrape the DCGM exporter pods' /metrics")
    p.add_argument(
        "--scrape",
        choices=["auto", "direct", "proxy"],
        default="auto",
        help="how to reach the DCGM exporter pods: proxy = through the API server's pod proxy, as kubectl does "
        "(needs get on pods/proxy), direct = their pod IPs (needs the pod network), auto (default) = direct when "
        "running in a pod on its service account, else proxy",
    )
    p.add_argument(
        "--probe",
        action="store_true",
        help="also run the probes (the profile's spec.probes.run, else all) once after collecting: small canary "
        "workloads in sandbox namespaces of their own, removed afterwards (not read-only; see docs/probes.md)",
    )


def _add_check(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "check",
        help="evaluate the cluster once and print the verdicts",
        description="Evaluate the current cluster against the AI conformance checklist once, read-only.",
        epilog=EXIT_CODES_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_cluster_flags(p)
    p.add_argument(
        "-o",
        "--output",
        choices=["table", "json", "junit", "product-yaml"],
        default="table",
        help="output format (default table; product-yaml is a draft with metadata placeholders)",
    )
    p.add_argument(
        "--fail-on",
        choices=["must", "should"],
        default="must",
        help="levels that fail the run: must (default) or should (MUSTs and SHOULDs)",
    )
    p.add_argument("--output-file", metavar="FILE", help="write the output to FILE instead of stdout")


def _add_export(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from aiconform.checker.report.product_yaml import ALL_METADATA_KEYS, flag_for

    p = sub.add_parser(
        "export",
        help="evaluate the cluster and write the CNCF submission file (PRODUCT.yaml)",
        description="Evaluate the cluster and write PRODUCT.yaml in the checklist template's exact shape.",
        epilog=EXPORT_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_cluster_flags(p)
    p.add_argument("--metadata", metavar="FILE", help="YAML with the metadata fields (camelCase or snake_case)")
    for key in ALL_METADATA_KEYS:
        if key != "kubernetesVersion":
            p.add_argument(flag_for(key), metavar="VALUE", help=f"metadata {key}")
    p.add_argument("-o", "--output", metavar="FILE", help="file to write (default: stdout)")
    p.add_argument(
        "--out-dir",
        metavar="DIR",
        help="write the submission directory instead: DIR/PRODUCT.yaml and DIR/evidence/<id>.md per requirement "
        "(use vX.YY/<product>), checked against validate.go's rules before anything is written",
    )
    p.add_argument(
        "--allow-unmet",
        action="store_true",
        help="with --out-dir: write a draft even when a MUST is not Implemented (validate.go rejects it)",
    )
    p.add_argument("--force", action="store_true", help="overwrite existing output files")


def _add_status(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "status",
        help="print a profile's requirements as the operator evaluated them (check's table)",
        description="Print a live ConformanceProfile's status.requirements as `aiconform check`'s table: what the\n"
        "operator evaluated, probe verdicts merged. Nothing is evaluated here.",
        epilog=EXIT_CODES_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("name", help="the ConformanceProfile's name")
    p.add_argument("--kubeconfig", help="kubeconfig file (default: $KUBECONFIG, then in-cluster)")
    p.add_argument("--context", help="kubeconfig context to use (default: its current-context)")
    p.add_argument(
        "--wait",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="wait up to SECONDS until the status is current for the spec's generation and shows every probe of "
        "spec.probes.run, with progress on stderr (default 0: print what is there)",
    )
    p.add_argument(
        "--fail-on",
        choices=["must", "should"],
        default="must",
        help="levels that fail the run: must (default) or should (MUSTs and SHOULDs)",
    )
    p.add_argument(
        "--explain",
        action="store_true",
        help="after the table, the whole message of every requirement that fails under --fail-on (the table "
        "cuts messages to one line): what is missing and how to fix it",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="aiconform", description=__doc__)
    parser.add_argument("--version", action="version", version=f"aiconform {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    _add_run(sub)
    _add_dev_cluster(sub)
    _add_check(sub)
    _add_export(sub)
    _add_status(sub)
    crd = sub.add_parser("crd", help="print the ConformanceProfile CRD generated from the models")
    crd.set_defaults(command="crd")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "run":
            from aiconform.operator.runner import run

            return run(args)
        if args.command == "dev-cluster":
            from aiconform.devtools.devcluster.cli import dev_cluster

            return dev_cluster(args)
        if args.command == "check":
            from aiconform.checker.commands import run_check

            return run_check(args)
        if args.command == "export":
            from aiconform.checker.commands import run_export

            return run_export(args)
        if args.command == "status":
            from aiconform.checker.profile_status import run_status

            return run_status(args)
        if args.command == "crd":
            from aiconform.api.crdgen import render_crd_yaml

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
