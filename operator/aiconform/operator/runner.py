"""`aiconform run`: logging, early checks with clear errors, metrics server, then kopf's own loop."""

from __future__ import annotations

import argparse
import datetime
import json
import logging
import socket
import sys
import time
from asyncio import sslproto
from typing import TYPE_CHECKING, Any

import kopf

from aiconform.errors import CliError
from aiconform.kube.kubeconfig import KubeconfigError, resolve

if TYPE_CHECKING:  # imported for real only by `run`: importing it registers the kopf handlers
    from aiconform.operator import handlers

# Records kopf attaches to per-object log lines that say nothing to a reader.
_SKIPPED_EXTRAS = {"k8s_skip"}


def _timestamp(record: logging.LogRecord) -> str:
    moment = datetime.datetime.fromtimestamp(record.created, datetime.UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, message, kopf's k8s_* extras, exc."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": _timestamp(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key.startswith("k8s_") and key not in _SKIPPED_EXTRAS:
                out[key] = value
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)


class PlainFormatter(logging.Formatter):
    """`ts LEVEL logger [object] message`, the object taken from kopf's k8s_ref when present."""

    def format(self, record: logging.LogRecord) -> str:
        ref = getattr(record, "k8s_ref", None)
        prefix = ""
        if isinstance(ref, dict) and ref.get("name"):
            ns = ref.get("namespace")
            prefix = f"[{ns}/{ref['name']}] " if ns else f"[{ref['name']}] "
        line = f"{_timestamp(record)} {record.levelname:<7} {record.name} {prefix}{record.getMessage()}"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


class QuietWatchFilter(logging.Filter):
    """Drop kopf's "Handler 'view-…' succeeded." lines: one per watch event of every pod and node says nothing."""

    def __init__(self, handler_prefix: str) -> None:
        super().__init__()
        self._prefix = f"Handler '{handler_prefix}"

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno > logging.INFO:
            return True
        message = record.getMessage()
        return not (message.startswith(self._prefix) and message.endswith("succeeded."))


def setup_logging(fmt: str, verbose: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else PlainFormatter())
    if not verbose:
        handler.addFilter(QuietWatchFilter("view-"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    # Chatty libraries: request lines (/healthz polls, GET /version) are noise, never needed at INFO.
    # kopf logs every /healthz probe run at INFO.
    for name in ("aiohttp.access", "kopf.activities.probe"):
        logging.getLogger(name).setLevel(logging.WARNING)
    logging.getLogger("asyncio").setLevel(logging.DEBUG if verbose else logging.WARNING)


def _url_host(address: str) -> str:
    return f"[{address}]" if ":" in address else address


def _check_credentials(kubeconfig: str | None, context: str | None = None) -> None:
    """Fail before kopf starts on what retrying cannot fix: a bad kubeconfig or context, or no credentials."""
    try:
        resolve(kubeconfig, context)
    except KubeconfigError as exc:
        raise CliError(str(exc)) from None


def _check_port_free(address: str, port: int, what: str) -> None:
    """kopf binds the liveness port inside its loop and dies with a traceback if taken; say it in one line."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as aiohttp does
        try:
            sock.bind((address, port))
        except OSError as exc:
            raise CliError(f"cannot serve {what} on {address}:{port}: {exc.strerror}") from None


# What asyncio reads a TLS connection with, per connection. Its default, 256 KiB, is allocated (and zeroed, so
# resident) for every connection the operator holds: one per watched resource, the write pool, kopf's own; 90 at
# 1,000 namespaces, 23.6 MB (tracemalloc, docs/performance.md run AF). A TLS record carries at most 16 KiB, so a
# read of 32 KiB still takes two records at a time.
TLS_READ_BUFFER = 32 * 1024


def small_tls_buffers() -> None:
    """Make every TLS connection of this process read through a TLS_READ_BUFFER buffer (a class attribute of
    asyncio's SSL protocol; the operator process only, which holds many long-lived connections)."""
    sslproto.SSLProtocol.max_size = TLS_READ_BUFFER


def run(args: argparse.Namespace) -> int:
    # Imported here: registering the kopf handlers is a side effect only `run` wants.
    from aiconform.operator import handlers, metrics

    small_tls_buffers()

    setup_logging(args.log_format, args.verbose)
    _check_credentials(args.kubeconfig, getattr(args, "context", None))
    _check_port_free(args.bind_address, args.liveness_port, "liveness")

    options = handlers.Options(
        kubeconfig=args.kubeconfig, context=getattr(args, "context", None), api_concurrency=args.api_concurrency
    )
    try:
        metrics.start_server(args.bind_address, args.metrics_port)
    except OSError as exc:
        raise CliError(f"cannot serve metrics on {args.bind_address}:{args.metrics_port}: {exc}") from None
    logging.getLogger(__name__).info(
        "Metrics on http://%s:%d/metrics, liveness on http://%s:%d/healthz",
        _url_host(args.bind_address),
        args.metrics_port,
        _url_host(args.bind_address),
        args.liveness_port,
    )
    liveness = f"http://{_url_host(args.bind_address)}:{args.liveness_port}/healthz"
    return _run_kopf_supervised(liveness, options)


RESTART_WINDOW = 300.0  # seconds
RESTART_LIMIT = 5  # kopf crashes within the window before we give up and let the pod restart


def _run_kopf_supervised(liveness: str, options: handlers.Options) -> int:
    """Run kopf; if it crashes, start it again with a fresh view of the cluster.

    kopf ends the whole operator when one of its watch streams fails for good. It watches only profiles now (an
    optional stack's CRD going away once crashed it this way, when kopf watched those too), but one failure must
    still not stop the conformance reporting for good, so the loop restarts, a bounded number of times (a crash
    loop still exits, non-zero, for Kubernetes to see).
    """
    from aiconform.operator import handlers

    log = logging.getLogger(__name__)
    crashes: list[float] = []
    while True:
        try:
            kopf.run(
                registry=kopf.get_default_registry(),
                clusterwide=True,
                standalone=True,  # one replica, no peering CRDs to install
                liveness_endpoint=liveness,
                memo=handlers.new_memo(options),  # a fresh operator object each run: nothing stale survives
            )
            return 0  # a signal stopped it
        except Exception as exc:
            now = time.monotonic()
            crashes = [t for t in crashes if now - t < RESTART_WINDOW] + [now]
            if len(crashes) > RESTART_LIMIT:
                log.critical("kopf failed %d times in %.0fs; exiting: %s", len(crashes), RESTART_WINDOW, exc)
                return 1
            log.error(
                "kopf stopped on an error (%s: %s); restarting with a fresh cluster view", type(exc).__name__, exc
            )
            time.sleep(1.0)
