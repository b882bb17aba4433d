"""The operator's list+watch loops against the real API server: the first listing, live events, label-selector
transitions, deletions of ours, and stopping a source."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import Cluster

from aiconform.api.constants import LABEL_MANAGED_BY, LABEL_PROFILE, MANAGED_BY_VALUE
from aiconform.kube.client import KubeClient, load_credentials
from aiconform.kube.informer import Informers, Source
from aiconform.kube.view import ClusterView, Watched

pytestmark = pytest.mark.e2e

OURS = {LABEL_MANAGED_BY: MANAGED_BY_VALUE, LABEL_PROFILE: "inf"}
CM = Watched("", "v1", "configmaps", "managed")


PROFILE_PATH = "/apis/aiconform.io/v1alpha1/conformanceprofiles/inf"


async def _profile_owner(kube: KubeClient) -> dict[str, str]:
    """A real profile named like the label says, as the owner (the garbage collector deletes what a missing
    owner would own)."""
    body = {"apiVersion": "aiconform.io/v1alpha1", "kind": "ConformanceProfile", "metadata": {"name": "inf"}}
    current = await kube.get(PROFILE_PATH) or await kube.request(
        "POST", PROFILE_PATH.rsplit("/", 1)[0], body={**body, "spec": {"mode": "Audit"}}
    )
    uid = str(current["metadata"]["uid"])
    return {"apiVersion": body["apiVersion"], "kind": body["kind"], "name": "inf", "uid": uid}


async def _until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


def test_list_then_watch_keeps_the_view_exact(cluster: Cluster, crd: str) -> None:
    ns = f"inf-{uuid.uuid4().hex[:8]}"
    creds = load_credentials(Path(cluster.kubeconfig))
    base = f"/api/v1/namespaces/{ns}/configmaps"

    def names(view: ClusterView) -> set[str]:
        return {o["metadata"]["name"] for o in view.objects(CM.key)}

    owners: list[dict[str, str]] = []

    async def cm(kube: KubeClient, name: str, labels: dict[str, str]) -> None:
        # Ours means labelled *and* owned by the profile (labels alone are copied by other controllers).
        refs = owners if labels else []
        await kube.request("POST", base, body={"metadata": {"name": name, "labels": labels, "ownerReferences": refs}})

    async def run() -> None:
        view = ClusterView()
        source = Source(CM, base, f"{LABEL_MANAGED_BY}={MANAGED_BY_VALUE}")
        informers = Informers(view, lambda: KubeClient(creds, user_agent="aiconform-test"))
        async with KubeClient(creds) as kube:
            await kube.request("POST", "/api/v1/namespaces", body={"metadata": {"name": ns}})
            owners.append(await _profile_owner(kube))
            try:
                await cm(kube, "a", OURS)
                await cm(kube, "b", OURS)
                await cm(kube, "theirs", {})
                informers.sync({CM.key: source})
                assert not informers.listed
                await asyncio.wait_for(informers.wait_listed(), 10)
                assert names(view) == {"a", "b"}  # the server filtered: a cluster's ConfigMaps never reach us
                assert view.objects(CM.key)[0]["kind"] == "ConfigMap"  # LIST items lack it; the view needs it

                await cm(kube, "c", OURS)
                await _until(lambda: names(view) == {"a", "b", "c"})
                await kube.request("DELETE", f"{base}/a")
                await _until(lambda: names(view) == {"b", "c"})
                assert view.take_deleted("inf") == [("", "ConfigMap", ns, "a")]
                # Someone takes our label off: it leaves the view. The server reports that as DELETED with the
                # old labels, so it looks like a deletion of ours; the repair's create then meets the name taken
                # by an object that is not ours and leaves it alone (applier._create, tested in test_reconcile).
                patch = {"metadata": {"labels": {LABEL_MANAGED_BY: None}}}
                await kube.request("PATCH", f"{base}/b", body=patch, content_type="application/merge-patch+json")
                await _until(lambda: names(view) == {"c"})
                assert view.take_deleted("inf") == [("", "ConfigMap", ns, "b")]

                informers.sync({})  # no longer wanted: stopped, and its objects leave the view
                assert informers.keys() == [] and names(view) == set()
            finally:
                await informers.close()
                await kube.request("DELETE", f"/api/v1/namespaces/{ns}", ok_missing=True)
                await kube.request("DELETE", PROFILE_PATH, ok_missing=True)

    asyncio.run(run())
