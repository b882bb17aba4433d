"""Differential fuzzing: the pydantic models against the real kube-apiserver serving the generated CRD.

For every generated document (tests/unit/profile_strategies.py: valid, single-fault and heavily corrupted
profiles) the model's verdict and the API server's must agree: both accept, or both reject, each with a message.
When both accept, they must also agree on the defaults: the model's dump is what the API server stored.

The API server is asked with a create under `dryRun=All` (nothing is stored) and `fieldValidation=Strict`, which
is what `kubectl apply` and `kubectl create` send: unknown fields are errors there, as they are in the model.
Bounded: a fixed number of derandomized examples, one client for the whole module, a timeout per request.

Every disagreement the fuzzer found (nulls, whole-number floats, integers beyond int64, Unicode spaces in
patterns, unknown top-level fields) was fixed in the models and is kept below as a regression example. Next to
them, edge cases where the two always agreed mark the line a fix must not cross.

Documents are sent as they are: kubectl would rewrite some of them on the way (a YAML 60.0 goes out as 60), but
the property is about the CRD and the model reading the same input.
"""

from __future__ import annotations

import asyncio
import copy
import itertools
import json
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from conftest import Cluster
from hypothesis import HealthCheck, given, settings

from aiconform.api import crdgen
from aiconform.api.models import ValidationError, validate_profile
from aiconform.kube.client import KubeApiError, KubeClient, KubeTransportError, load_credentials

UNIT = Path(__file__).resolve().parents[1] / "unit"
if str(UNIT) not in sys.path:
    sys.path.append(str(UNIT))  # appended, not prepended: nothing under tests/unit shadows an e2e module
import profile_strategies  # noqa: E402

pytestmark = pytest.mark.e2e

COLLECTION = "/apis/aiconform.io/v1alpha1/conformanceprofiles"
PARAMS = {"dryRun": "All", "fieldValidation": "Strict", "fieldManager": "aiconform-fuzz"}
REQUEST_TIMEOUT = 20.0
UNAVAILABLE_FOR = 60.0  # how long the API server may be unreachable before a request counts as failed
# Statuses that are a verdict on the document: 400 (strict decoding: unknown or duplicate field, bad JSON type for
# a built-in field) and 422 (Invalid: schema, CEL). Anything else is the test's problem, not a verdict.
REJECTIONS = (400, 422)
TRANSIENT = (429, 500, 502, 503, 504)
# Bounded for CI; AICONFORM_FUZZ_EXAMPLES=5000 digs deeper (still derandomized, so a failure reproduces).
EXAMPLES = int(os.environ.get("AICONFORM_FUZZ_EXAMPLES", "250"))


@dataclass(frozen=True)
class Verdict:
    accepted: bool
    message: str = ""  # why it was rejected
    spec: Any = None  # what was accepted, defaults filled in


def model_verdict(doc: dict[str, Any]) -> Verdict:
    try:
        profile = validate_profile(copy.deepcopy(doc))
    except ValidationError as exc:
        return Verdict(False, str(exc))
    return Verdict(True, spec=profile.model_dump(mode="json", by_alias=True, exclude_none=True)["spec"])


class ApiServer:
    """One client and one event loop for the module; the hypothesis test itself is synchronous."""

    def __init__(self, loop: asyncio.AbstractEventLoop, kube: KubeClient) -> None:
        self.loop = loop
        self.kube = kube
        self._names = itertools.count()
        self.requests = 0

    def name(self, doc: dict[str, Any]) -> dict[str, Any]:
        """The document with a unique metadata.name (dryRun stores nothing, but a name in use would be a 409)."""
        out = copy.deepcopy(doc)
        out["metadata"] = {**(out.get("metadata") or {}), "name": f"fuzz-{os.getpid()}-{next(self._names)}"}
        return out

    def verdict(self, doc: dict[str, Any], params: dict[str, str] = PARAMS) -> Verdict:
        return self.loop.run_until_complete(self._verdict(doc, params))

    async def _verdict(self, doc: dict[str, Any], params: dict[str, str]) -> Verdict:
        # Connection failures and 5xx are not verdicts: retry them (an API server restart takes seconds), bounded.
        deadline = time.monotonic() + UNAVAILABLE_FOR
        while True:
            self.requests += 1
            try:
                out = await asyncio.wait_for(
                    self.kube.request("POST", COLLECTION, body=doc, params=params), REQUEST_TIMEOUT
                )
            except KubeApiError as exc:
                if exc.status in REJECTIONS:
                    return Verdict(False, str(exc).removeprefix(f"HTTP {exc.status}: "))
                if exc.status not in TRANSIENT or time.monotonic() > deadline:
                    raise
            except (TimeoutError, KubeTransportError):
                if time.monotonic() > deadline:
                    raise
            else:
                assert out is not None
                return Verdict(True, spec=out.get("spec"))
            await asyncio.sleep(1.0)


@pytest.fixture(scope="module")
def api_server(cluster: Cluster, crd: str) -> Iterator[ApiServer]:
    live = cluster.get_json("crd", crd)["spec"]["versions"][0]["schema"]
    if live != crdgen.build_crd()["spec"]["versions"][0]["schema"]:
        pytest.fail("the installed CRD is not the one the models generate: run python -m aiconform.api.crdgen")
    loop = asyncio.new_event_loop()

    async def connect() -> KubeClient:
        return KubeClient(load_credentials(Path(cluster.kubeconfig)), concurrency=4, user_agent="aiconform-fuzz")

    kube = loop.run_until_complete(connect())
    try:
        yield ApiServer(loop, kube)
    finally:
        loop.run_until_complete(kube.close())
        loop.close()


def describe(doc: dict[str, Any], model: Verdict, server: Verdict) -> str:
    def say(v: Verdict) -> str:
        return "accepts" if v.accepted else f"rejects:\n    {v.message.strip().replace(chr(10), chr(10) + '    ')}"

    # ensure_ascii: \u000b and \u00a0 stay visible in the report.
    return f"document:\n    {json.dumps(doc, ensure_ascii=True)}\nmodel {say(model)}\nAPI server {say(server)}"


def check_agreement(api_server: ApiServer, doc: dict[str, Any]) -> None:
    body = api_server.name(doc)
    model, server = model_verdict(body), api_server.verdict(body)
    # Two directions, two raise sites: hypothesis reports (and shrinks) a minimal example for each.
    if model.accepted and not server.accepted:
        raise AssertionError("the model accepts what the API server rejects\n" + describe(body, model, server))
    if server.accepted and not model.accepted:
        raise AssertionError("the API server accepts what the model rejects\n" + describe(body, model, server))
    if not model.accepted:
        assert model.message.strip(), "the model rejected without a message"
        assert server.message.strip(), "the API server rejected without a message"
    elif model.spec != server.spec:
        raise AssertionError(
            "both accept, but the defaults differ\n"
            f"{describe(body, model, server)}\nmodel spec:\n    {json.dumps(model.spec, sort_keys=True)}\n"
            f"API server spec:\n    {json.dumps(server.spec, sort_keys=True)}"
        )


@settings(
    max_examples=EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    print_blob=False,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(doc=profile_strategies.profiles())
def test_model_and_api_server_agree(api_server: ApiServer, doc: dict[str, Any]) -> None:
    check_agreement(api_server, doc)


def test_the_generator_reaches_both_verdicts(api_server: ApiServer) -> None:
    """A differential test is only as good as its inputs: the same strategy must produce documents both sides
    accept and documents both reject (so the property above is not vacuous)."""
    seen: set[tuple[bool, bool]] = set()

    @settings(max_examples=60, derandomize=True, database=None, deadline=None)
    @given(doc=profile_strategies.profiles())
    def sample(doc: dict[str, Any]) -> None:
        body = api_server.name(doc)
        seen.add((model_verdict(body).accepted, api_server.verdict(body).accepted))

    sample()
    assert {(True, True), (False, False)} <= seen, seen


# --- Known disagreements, found by the property above: each fix turns its examples into XPASS (strict: a failure)


def _doc(spec: Any, **top: Any) -> dict[str, Any]:
    meta = {"name": "fuzz"}
    return {
        "apiVersion": profile_strategies.API_VERSION,
        "kind": profile_strategies.KIND,
        "metadata": meta,
        "spec": spec,
        **top,
    }


NULLS = (
    "the API server treats an explicit null like an absent field (pruned, then defaulted; a null map entry is "
    "dropped), the model rejects it (no None for non-optional fields)"
)
INTEGRAL_FLOATS = (
    "the API server accepts a whole-number float (60.0) for an integer field and stores 60, unless a CEL rule "
    "reads the field (keda minReplicas/maxReplicas: rejected); the strict model rejects every float"
)
BEYOND_INT64 = "the model accepts integers beyond int64; the API server cannot decode them as integers and rejects"
UNICODE_SPACE = (
    r"pattern ^[^\s]+$: \s is Unicode-aware in pydantic's Rust regex (\v, NEL, NBSP, EM SPACE...) but ASCII "
    r"[\t\n\f\r ] in the API server's RE2, so \v and Unicode spaces pass the CRD and fail the model"
)
TOP_LEVEL = (
    "unknown top-level fields: the model ignores them (extra='ignore', as with pruning), but under "
    "fieldValidation=Strict (what kubectl sends) the API server rejects them"
)

KNOWN: list[tuple[str, dict[str, Any], str]] = [
    ("null-enum", _doc({"mode": None}), NULLS),
    ("null-section", _doc({"components": None}), NULLS),
    ("null-bool", _doc({"components": {"dcgmExporter": {"enabled": None}}}), NULLS),
    ("null-label-value", _doc({"accelerators": {"nodeSelector": {"matchLabels": {"a": None}}}}), NULLS),
    ("null-requirement", _doc({"requirements": {"gang_scheduling": None}}), NULLS),
    (
        "null-values-exists",
        _doc(
            {
                "accelerators": {
                    "nodeSelector": {"matchExpressions": [{"key": "a", "operator": "Exists", "values": None}]}
                }
            }
        ),
        NULLS,
    ),
    ("float-interval", _doc({"evaluationIntervalSeconds": 60.0}), INTEGRAL_FLOATS),
    ("float-port", _doc({"components": {"dcgmExporter": {"port": 9400.0}}}), INTEGRAL_FLOATS),
    ("float-gpus-per-flavor", _doc({"components": {"kueue": {"gpusPerFlavor": 4.0}}}), INTEGRAL_FLOATS),
    ("float-cpu-quota", _doc({"components": {"kueue": {"cpuQuota": 2.0}}}), INTEGRAL_FLOATS),
    ("int64-gpus-per-tenant", _doc({"components": {"quotas": {"gpusPerTenant": 2**63}}}), BEYOND_INT64),
    ("int64-cooldown", _doc({"components": {"keda": {"cooldownSeconds": 10**20}}}), BEYOND_INT64),
    ("int64-cpu-quota", _doc({"components": {"kueue": {"cpuQuota": 2**63}}}), BEYOND_INT64),
    ("vtab-image", _doc({"components": {"dcgmExporter": {"image": "a\vb"}}}), UNICODE_SPACE),
    ("nbsp-image", _doc({"components": {"dcgmExporter": {"image": "a\u00a0b"}}}), UNICODE_SPACE),
    ("vtab-url", _doc({"components": {"keda": {"prometheusAddress": "http://x\vy"}}}), UNICODE_SPACE),
    ("top-level-unknown-field", _doc({}, extra=1), TOP_LEVEL),
]


@pytest.mark.parametrize("doc", [pytest.param(doc, id=name) for name, doc, _ in KNOWN])
def test_former_disagreement_now_agrees(api_server: ApiServer, doc: dict[str, Any]) -> None:
    """Each disagreement the fuzzer found, kept as a regression example after the models were fixed."""
    check_agreement(api_server, doc)


# --- Agreements next to the known disagreements: the line the fixes must not cross -------------------------------


AGREED: list[tuple[str, dict[str, Any]]] = [
    ("null-spec", _doc(None)),
    ("null-optional", _doc({"accelerators": {"minDriverVersion": None}})),
    ("null-list-item", _doc({"components": {"dcgmExporter": {"tolerations": [None]}}})),
    ("null-unknown-field", _doc({"kubernetesVersions": None})),  # still an unknown field: dropping nulls is not enough
    ("fractional-float", _doc({"evaluationIntervalSeconds": 60.5})),
    ("float-in-cel-rule", _doc({"components": {"keda": {"minReplicas": 11.0}}})),
    ("int64-max", _doc({"components": {"quotas": {"gpusPerTenant": 2**63 - 1}}})),
    ("big-int-for-float", _doc({"components": {"keda": {"threshold": 10**30}}})),
    ("newline-image", _doc({"components": {"dcgmExporter": {"image": "ab\n"}}})),
    ("nbsp-justifies-na", _doc({"requirements": {"gpu_sharing": {"status": "N/A", "notes": "\u00a0"}}})),
    ("vtab-does-not-justify-na", _doc({"requirements": {"gpu_sharing": {"status": "N/A", "notes": "\v"}}})),
    ("astral-notes-at-bound", _doc({"requirements": {"gpu_sharing": {"status": "N/A", "notes": "\U0001f600" * 4096}}})),
    ("astral-notes-over", _doc({"requirements": {"gpu_sharing": {"status": "N/A", "notes": "\U0001f600" * 4097}}})),
    ("unknown-spec-field", _doc({"kubernetesVersoin": "v1.35"})),
]


@pytest.mark.parametrize("doc", [pytest.param(doc, id=name) for name, doc in AGREED])
def test_agreed_edge_case(api_server: ApiServer, doc: dict[str, Any]) -> None:
    check_agreement(api_server, doc)


def test_top_level_unknown_fields_follow_strict_validation(api_server: ApiServer) -> None:
    """The model follows kubectl's default, strict field validation (the API server then rejects unknown fields);
    only a client asking for fieldValidation=Ignore gets them pruned instead."""
    body = api_server.name(_doc({}, extra=1))
    strict = api_server.verdict(body, PARAMS)
    assert not strict.accepted and not model_verdict(body).accepted, strict.message
    ignore = api_server.verdict(body, {**PARAMS, "fieldValidation": "Ignore"})
    assert ignore.accepted, ignore.message
