"""KubeClient.list honours a label selector written into the path (merged with its own paging parameters)."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest
from conftest import Cluster

from aiconform.kube.client import KubeClient, load_credentials

pytestmark = pytest.mark.e2e


def test_list_with_label_selector_returns_only_matches(cluster: Cluster) -> None:
    ns = f"kc-{uuid.uuid4().hex[:8]}"

    async def run() -> tuple[list[str], int]:
        async with KubeClient(load_credentials(Path(cluster.kubeconfig))) as kube:
            await kube.request("POST", "/api/v1/namespaces", body={"metadata": {"name": ns}})
            try:
                for i in range(3):
                    labels = {"kc-test": "pick"} if i == 1 else {"kc-test": "skip"}
                    body = {"metadata": {"name": f"cm-{i}", "labels": labels}}
                    await kube.request("POST", f"/api/v1/namespaces/{ns}/configmaps", body=body)
                picked = await kube.list(f"/api/v1/namespaces/{ns}/configmaps?labelSelector=kc-test%3Dpick")
                everything = await kube.list(f"/api/v1/namespaces/{ns}/configmaps")
                return [o["metadata"]["name"] for o in picked], len(everything)
            finally:
                await kube.request("DELETE", f"/api/v1/namespaces/{ns}", ok_missing=True)

    picked, total = asyncio.run(run())
    assert picked == ["cm-1"]
    assert total >= 3  # the three, plus kube-root-ca.crt when the controller-manager got there first
