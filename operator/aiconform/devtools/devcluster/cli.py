"""`aiconform dev-cluster …`: argument handling and friendly output around cluster.py."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from aiconform.devtools.devcluster import cluster, upstream
from aiconform.devtools.devcluster.build import build_all, build_controllers
from aiconform.devtools.devcluster.controllers import parse_controllers
from aiconform.devtools.devcluster.errors import DevClusterError
from aiconform.devtools.devcluster.fleet import default_pools
from aiconform.devtools.devcluster.paths import cluster_dir
from aiconform.kube.client import KubeClient, load_credentials


def _progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


async def _install(kubeconfig: str, sets: list[str]) -> list[str]:
    async with KubeClient(load_credentials(Path(kubeconfig))) as kube:
        return await upstream.install(kube, sets)


def _status_text(st: dict[str, Any]) -> str:
    if not st["kubernetes"]:
        return f"cluster {st['name']}: never started"
    lines = [f"cluster {st['name']}: {'running' if st['running'] else 'not running'} (Kubernetes v{st['kubernetes']})"]
    for comp, info in st["components"].items():
        state = f"running, pid {info['pid']}" if info["running"] else "stopped"
        port = f", port {info['port']}" if info["port"] else ""
        lines.append(f"  {comp:<24} {state}{port}")
    for name, info in st.get("controllers", {}).items():
        state = f"running, pid {info['pid']}" if info["running"] else "not running"
        ports = ", ".join(f"{k} {v}" for k, v in info["ports"].items())
        lines.append(f"  {name + ' ' + str(info['version']):<24} {state}; {ports}; log {info['log']}")
    if st["kubeconfig"]:
        lines.append(f"  kubeconfig: {st['kubeconfig']}")
    return "\n".join(lines)


def dev_cluster(args: argparse.Namespace) -> int:
    try:
        if args.action == "up":
            for flag in ("h100_nodes", "a100_nodes", "cpu_nodes"):
                if getattr(args, flag) < 0:
                    raise DevClusterError("parse arguments", f"--{flag.replace('_', '-')} must be >= 0")
            sets = upstream.parse_sets(args.with_crds) if args.with_crds else []
            with_controllers = parse_controllers(args.with_controllers) if args.with_controllers else []
            pools = default_pools(args.h100_nodes, args.a100_nodes, args.cpu_nodes)
            kubeconfig = cluster.up(args.name, args.port, pools, _progress, with_controllers)
            if sets:
                names = asyncio.run(_install(str(kubeconfig), sets))
                _progress(f"installed {len(names)} upstream CRDs ({', '.join(sets)})")
            print(kubeconfig)
            return 0
        if args.action == "down":
            stopped = cluster.down(args.name, args.purge, _progress)
            _progress(f"dev cluster {args.name!r}: {stopped} process(es) stopped")
            return 0
        if args.action == "status":
            st = cluster.status(args.name)
            if args.output == "json":
                print(json.dumps(st, indent=2))
            else:
                print(_status_text(st))
            return 0 if st["running"] else 3
        if args.action == "build":
            paths = build_all(_progress)
            if args.with_controllers:
                build_controllers(parse_controllers(args.with_controllers), _progress)
            if args.print_dir:
                print(paths["kube-apiserver"].parent)
            return 0
        if args.action == "install-crds":
            kubeconfig = cluster_dir(args.name) / "kubeconfig"
            names = asyncio.run(_install(str(kubeconfig), upstream.parse_sets(args.sets)))
            _progress(f"installed {len(names)} CRDs")
            return 0
    except DevClusterError as exc:
        print(f"aiconform dev-cluster: error in step {exc}", file=sys.stderr)
        return 2
    return 2
