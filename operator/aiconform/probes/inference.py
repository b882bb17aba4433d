"""ai_inference: a Gateway of the installed GatewayClass becomes Programmed and an HTTPRoute (a weighted split
with a header match, the advanced traffic management the requirement names) is Accepted, both written by the
class's own controller, in the probe's sandbox namespace.

The GatewayClass is the cluster's (one its controller Accepted at its current generation); the probe never makes
one: without it the probe cannot run, without a running controller the first wait (Programmed) times out. The
route's backends are a Service of the probe's own without endpoints: Accepted is about the route's attachment
and its rules, not about traffic reaching pods.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any

from aiconform.api.models import ProfileSpec
from aiconform.conformance.facts import judge_condition, name, names_list, spec_of
from aiconform.kube.snapshot import Snapshot
from aiconform.probes.record import condition_of, condition_text
from aiconform.probes.sandbox import ProbeEnded, Sandbox

REQUIREMENT = "ai_inference"
GROUP = "gateway.networking.k8s.io"
API = f"/apis/{GROUP}/v1"
GATEWAY_CLASSES = f"gatewayclasses.{GROUP}"
GATEWAY, ROUTE, BACKEND = "probe", "probe", "canary"
# Data planes some implementations run in the Gateway's namespace get room; nothing else is expected there.
QUOTA = {
    "pods": "4",
    "services": "4",
    "services.loadbalancers": "1",
    f"count/gateways.{GROUP}": "1",
    f"count/httproutes.{GROUP}": "1",
}
# An HTTPRoute's Accepted=False for these reasons is the implementation refusing a standard route; other reasons
# (a listener mismatch, a parent not yet seen) are waited out.
ROUTE_REFUSED = ("UnsupportedValue",)


def accepted_class(classes: Iterable[Mapping[str, Any]]) -> tuple[str | None, str]:
    """The GatewayClass to use (Accepted=True at its current generation; the first by name) and, when there is
    none, why: each class with what its controller said."""
    judged = sorted(
        (judge_condition("GatewayClass", c, "Accepted") for c in classes),
        key=lambda j: j.ref,
    )
    live = [j for j in judged if j.outcome == "live"]
    if live:
        return live[0].ref.removeprefix("GatewayClass/"), ""
    if not judged:
        return None, "no GatewayClass exists"
    states = names_list(f"{j.ref.removeprefix('GatewayClass/')} ({j.detail})" for j in judged)
    return None, f"no GatewayClass is Accepted at its current generation: {states}"


def gateway_state(gateway: Mapping[str, Any] | None) -> tuple[bool, str]:
    """Programmed=True at the Gateway's current generation, and what was seen."""
    if gateway is None:
        return False, "Gateway not found"
    judged = judge_condition("Gateway", gateway, "Programmed")
    return judged.outcome == "live", condition_text(condition_of(gateway, "Programmed"), "Programmed") + (
        f", {judged.detail}" if judged.outcome == "stale" else ""
    )


def route_state(route: Mapping[str, Any] | None, gateway: str, controller: str) -> tuple[str, str]:
    """accepted | refused | pending, with what was seen: the route's status entry for the probe's Gateway written
    by the class's controller (other controllers' entries are theirs)."""
    if route is None:
        return "pending", "HTTPRoute not found"
    parents = ((route.get("status") or {}).get("parents")) or []
    mine = [
        p
        for p in parents
        if isinstance(p, Mapping)
        and (p.get("parentRef") or {}).get("name") == gateway
        and (not controller or p.get("controllerName") == controller)
    ]
    if not mine:
        return "pending", f"no status for parent Gateway {gateway} from {controller or 'its controller'}"
    cond = condition_of({"status": mine[0]}, "Accepted")
    text = condition_text(cond, "Accepted")
    generation = (route.get("metadata") or {}).get("generation")
    observed = cond.get("observedGeneration")
    if isinstance(generation, int) and isinstance(observed, int) and observed < generation:
        return "pending", f"{text}, observedGeneration {observed} < generation {generation}"
    if cond.get("status") == "True":
        return "accepted", text
    if cond.get("status") == "False" and cond.get("reason") in ROUTE_REFUSED:
        return "refused", text
    return "pending", text


def gateway_body(namespace: str, gateway_class: str, labels: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/v1",
        "kind": "Gateway",
        "metadata": {"name": GATEWAY, "namespace": namespace, "labels": labels},
        "spec": {
            "gatewayClassName": gateway_class,
            "listeners": [
                {"name": "http", "protocol": "HTTP", "port": 80, "allowedRoutes": {"namespaces": {"from": "Same"}}}
            ],
        },
    }


def route_body(namespace: str, labels: dict[str, str]) -> dict[str, Any]:
    """A weighted split (90/10 over two ports of the canary Service) and a header-matched rule."""
    backends = [{"name": BACKEND, "port": 8080, "weight": 90}, {"name": BACKEND, "port": 8081, "weight": 10}]
    return {
        "apiVersion": f"{GROUP}/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": ROUTE, "namespace": namespace, "labels": labels},
        "spec": {
            "parentRefs": [{"name": GATEWAY}],
            "rules": [
                {
                    "matches": [{"headers": [{"name": "x-model", "value": "canary"}]}],
                    "backendRefs": [{"name": BACKEND, "port": 8081}],
                },
                {"backendRefs": backends},
            ],
        },
    }


def service_body(namespace: str, labels: dict[str, str]) -> dict[str, Any]:
    """No selector: no endpoints, nothing receives traffic."""
    ports = [{"name": f"p{p}", "port": p, "protocol": "TCP"} for p in (8080, 8081)]
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": BACKEND, "namespace": namespace, "labels": labels},
        "spec": {"type": "ClusterIP", "ports": ports},
    }


async def run(box: Sandbox, spec: ProfileSpec, snapshot: Snapshot) -> None:
    del spec
    if not all(snapshot.served(f"{GROUP}/v1", p) for p in ("gatewayclasses", "gateways", "httproutes")):
        raise ProbeEnded(
            "cannot_run",
            "nothing to test: the Gateway API v1 (gateway.networking.k8s.io GatewayClass, Gateway, HTTPRoute) is "
            "not served; the probe uses an installed implementation and never installs one",
        )
    classes = snapshot.objects(GATEWAY_CLASSES)
    gateway_class, why = accepted_class(classes)
    if gateway_class is None:
        raise ProbeEnded(
            "cannot_run",
            f"nothing to test: {why}; the probe needs a GatewayClass a running Gateway API implementation accepted",
        )
    controller = next((str(spec_of(c).get("controllerName", "")) for c in classes if name(c) == gateway_class), "")
    kube = box.kube
    ns = await box.create_namespace(quota=QUOTA)
    labels = box.labels()
    await box.create(
        f"/api/v1/namespaces/{ns}/services", service_body(ns, labels), f"create Service {BACKEND}", owned=False
    )
    await box.create(
        f"{API}/namespaces/{ns}/gateways",
        gateway_body(ns, gateway_class, labels),
        f"create Gateway {GATEWAY} (GatewayClass {gateway_class}, HTTP listener on port 80)",
        owned=False,
    )
    await box.create(
        f"{API}/namespaces/{ns}/httproutes",
        route_body(ns, labels),
        f"create HTTPRoute {ROUTE} (a 90/10 weighted split and a header match)",
        owned=False,
    )

    async def programmed() -> tuple[str | None, str]:
        ok, seen = gateway_state(await kube.get(f"{API}/namespaces/{ns}/gateways/{GATEWAY}"))
        return (seen if ok else None), seen

    gw_seen = await box.wait_for(
        f"{controller or 'the controller'} programs Gateway {GATEWAY} (Programmed=True)", programmed
    )

    judged: dict[str, str] = {}

    async def accepted() -> tuple[str | None, str]:
        state, seen = route_state(await kube.get(f"{API}/namespaces/{ns}/httproutes/{ROUTE}"), GATEWAY, controller)
        judged["state"] = state
        return (seen if state != "pending" else None), seen

    route_seen = await box.wait_for(f"{controller or 'the controller'} accepts HTTPRoute {ROUTE}", accepted)
    state = judged["state"]
    if state == "refused":
        box.record.steps[-1] = dataclasses.replace(box.record.steps[-1], ok=False)
    box.record.evidence += [f"Gateway {ns}/{GATEWAY}: {gw_seen}", f"HTTPRoute {ns}/{ROUTE}: {route_seen}"]
    if state == "refused":
        box.record.outcome = "failed"
        box.record.message = (
            f"a probe saw {controller} (GatewayClass {gateway_class}) refuse a standard HTTPRoute with a weighted "
            f"split and a header match: {route_seen}"
        )
        return
    box.record.outcome = "observed"
    box.record.message = (
        f"a probe saw {controller} (GatewayClass {gateway_class}) program a Gateway and accept an HTTPRoute with a "
        "90/10 weighted split and a header match; sending traffic through it is not part of the probe"
    )
