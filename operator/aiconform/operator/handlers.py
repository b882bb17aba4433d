"""The thin kopf layer: login, settings, probes, and one evaluation daemon per ConformanceProfile (see
evaluator.py), which is the single writer of profile status. kopf watches only the profiles: the cluster view
is fed by our own list+watch loops (informer.py), started at login.

No change-detecting handlers (on.create/update) are registered for profiles, so kopf writes no
`last-handled-configuration` or progress annotations on them: only its finalizer, which lets the daemon stop
before a profile goes away (and, later, lets cleanup of managed objects run).
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import logging
from collections.abc import Iterator
from typing import Any

import aiohttp
import kopf

from aiconform.api.constants import FINALIZER, GROUP, MANAGED_BY_VALUE, PLURAL, VERSION
from aiconform.conformance import catalog
from aiconform.kube.kubeconfig import Auth, KubeconfigError, LoginError, resolve
from aiconform.operator import evaluator, metrics

IDLE_WORKER_TIMEOUT = 0.5  # seconds
API_TIMEOUT = 10.0  # seconds for our own GET /version and /readyz
READY_MAX_BACKOFF = 5.0  # seconds between /readyz attempts at most: start soon once the server is up


class RetryForever:
    """Backoffs for kopf's API requests that never run out: kopf escalates the last failure of a finite
    list and the operator exits, while an operator started before (or cut off from) its API server should
    wait for it. Re-iterable and unsized on purpose: kopf iterates it anew for every request."""

    def __iter__(self) -> Iterator[float]:
        yield from (1, 1, 2, 3, 5, 8, 13, 21)
        yield from itertools.repeat(30.0)


@dataclasses.dataclass(frozen=True)
class Options:
    """From the command line (runner.py)."""

    kubeconfig: str | None = None
    context: str | None = None
    max_workers: int = 4
    api_concurrency: int = 64


def new_memo(options: Options) -> kopf.Memo:
    """kopf's memo for one run: the options and a fresh operator object (a restart gets a new one)."""
    return kopf.Memo(options=options, operator=evaluator.Operator(api_concurrency=options.api_concurrency))


def _operator(memo: kopf.Memo) -> evaluator.Operator:
    op: evaluator.Operator = memo.operator
    return op


# --- operator-level activities ------------------------------------------------------------------------------


@kopf.on.login(id="aiconform-login")
async def login(
    settings: kopf.OperatorSettings, memo: kopf.Memo, logger: kopf.Logger, **_: Any
) -> kopf.ConnectionInfo | None:
    """kube/kubeconfig.py's one login, shared with our own clients (they refresh it on expiry and 401 too);
    kopf calls this again when the login expires or the server answers 401."""
    options: Options = memo.options
    auth: Auth | None = memo.get("auth")
    try:
        if auth is None:
            auth = memo["auth"] = resolve(options.kubeconfig, options.context)
            logger.info("Logging in to %s with %s", auth.server, auth.description)
        info = await auth.connection_info(trust_env=settings.networking.trust_env)
    except KubeconfigError as exc:
        raise kopf.PermanentError(str(exc)) from None
    except LoginError as exc:
        raise kopf.TemporaryError(str(exc), delay=5) from None
    await wait_until_ready(info, logger)
    _operator(memo).connection = info
    _operator(memo).start_watching(logger)
    return info


async def wait_until_ready(info: kopf.ConnectionInfo, logger: kopf.Logger) -> None:
    """Hold the login until the API server is ready; every kopf API call waits for the login meanwhile.

    kopf lists the served resources once at start and afterwards learns only of CRD *changes*: a server
    that is still starting answers that listing without the CRDs it has not registered yet, and our
    profiles would then never be watched. The liveness endpoint keeps answering while we wait.
    """
    for attempt in itertools.count(1):
        problem = await _readiness_problem(info)
        if problem is None:
            return
        delay = min(attempt, READY_MAX_BACKOFF)
        logger.error("API server %s is not ready (%s); retrying in %.0fs", info.server, problem, delay)
        await asyncio.sleep(delay)


async def _readiness_problem(info: kopf.ConnectionInfo) -> str | None:
    """Why GET /readyz says the server is not ready, or None (ready, or not allowed to tell: go ahead)."""
    try:
        async with _client(info) as client, client.get(f"{(info.server or '').rstrip('/')}/readyz") as response:
            status = response.status
    except (aiohttp.ClientError, OSError) as exc:
        return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    if status in (200, 401, 403):
        return None
    return f"/readyz answered HTTP {status}"


def _client(info: kopf.ConnectionInfo) -> aiohttp.ClientSession:
    """An HTTP client with the login's credentials (never logged; trust_env off: no proxies)."""
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(ssl=info.as_ssl_context()),
        headers=info.as_http_headers(),
        timeout=aiohttp.ClientTimeout(total=API_TIMEOUT),
        trust_env=False,
    )


@kopf.on.startup(id="aiconform-settings")
def configure_settings(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    options: Options = memo.options
    # Events: only our explicit kopf.info/warn calls (one per condition flip), not every log line.
    settings.posting.enabled = True
    settings.posting.loggers = False
    settings.posting.level = logging.INFO
    settings.posting.reporting_component = MANAGED_BY_VALUE
    settings.posting.event_name_prefix = f"{MANAGED_BY_VALUE}-"
    settings.execution.max_workers = options.max_workers
    # kopf puts a finalizer on every object that has a daemon (to stop it before the object goes); name it
    # ours. It is removed on deletion while the operator runs: delete profiles before uninstalling it.
    settings.persistence.finalizer = FINALIZER
    # Long-polling watches that the server ends first; the client timeout only catches dead connections.
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    settings.watching.connect_timeout = 10
    settings.networking.connect_timeout = 10
    settings.networking.request_timeout = 60
    _operator(memo).collector.install()
    settings.networking.error_backoffs = RetryForever()
    # kopf keeps a worker task per profile for `idle_timeout` after its last event (5 s by default); there is
    # nothing to gain from keeping them.
    settings.queueing.idle_timeout = IDLE_WORKER_TIMEOUT


@kopf.on.probe(id="reconciler")
def probe(memo: kopf.Memo, **_: Any) -> dict[str, Any]:
    """Facts for /healthz: what the operator knows, not only that the loop is alive."""
    op = _operator(memo)
    return {
        "profiles": len(op.running),
        "lastEvaluation": op.last_evaluation,
        "clusterVersion": op.view.server_version,
        "watchedObjects": op.view.size(),
        "checklists": catalog.known_versions(),
    }


# --- evaluation ---------------------------------------------------------------------------------------------

_RESOURCE = (GROUP, VERSION, PLURAL)


# A stop request is honoured within a second (the daemon checks between waits); cancelling only after 5 s
# keeps a pass from being cut off mid-apply.
@kopf.daemon(*_RESOURCE, id="evaluate", cancellation_backoff=5.0, cancellation_timeout=10.0)
async def evaluate_profile(
    body: kopf.Body, stopped: kopf.DaemonStopped, memo: kopf.Memo, logger: kopf.Logger, **_: Any
) -> None:
    await _operator(memo).run_daemon(body, stopped, logger)


@kopf.on.cleanup(id="aiconform-stop-watching")
async def stop_watching(memo: kopf.Memo, **_: Any) -> None:
    await _operator(memo).stop_watching()
    _operator(memo).collector.uninstall()


@kopf.on.delete(*_RESOURCE, id="cleanup")
async def on_delete(body: kopf.Body, memo: kopf.Memo, logger: kopf.Logger, retry: int, **_: Any) -> None:
    """Runs after the daemon stopped; the finalizer is removed when this returns without raising. A deletion
    that cannot finish is retried with a growing delay and said on the profile (Ready=False, CleanupBlocked)."""
    await _operator(memo).cleanup(body, logger, retry)
    metrics.forget_profile(body.metadata.name or "")
