"""gang_scheduling through the installed gang scheduler: Kueue here, Volcano and the KAI Scheduler in
podgroups.py. Which one runs: the one the gang_scheduling check sees operate, else the first whose API is served
(Kueue, Volcano, KAI); none → cannot run, saying why.

Kueue: all-or-nothing admission of a 2-pod Job.

A ResourceFlavor, ClusterQueue and LocalQueue of the probe's own (the ClusterQueue selects only the sandbox
namespace), with a quota for one of the Job's two pods → Kueue holds the Job suspended and no pod starts; the quota
raised to cover both → Kueue admits it whole and both pods start. Kueue itself is never installed: without its
CRDs the probe cannot run, without its controller the first wait (ClusterQueue Active) times out.
"""

from __future__ import annotations

from typing import Any

from aiconform.api.models import ProfileSpec
from aiconform.kube.snapshot import Snapshot
from aiconform.probes import podgroups
from aiconform.probes.sandbox import ProbeEnded, Sandbox, remove_leftover_cluster_objects

REQUIREMENT = "gang_scheduling"
GROUP = "kueue.x-k8s.io"
VERSIONS = ("v1beta2", "v1beta1")
PODS = 2
POD_CPU, POD_MEMORY = "100m", "64Mi"
HELD_CPU, ADMIT_CPU = "100m", "200m"  # quota for one pod, then for both
HOLD_SECONDS = 3.0  # how long the Job must stay held (suspended, no pod) once Kueue has judged it
QUOTA = {"pods": "4", "requests.cpu": "1", "requests.memory": "512Mi", "limits.cpu": "1", "limits.memory": "512Mi"}


def served_version(snapshot: Snapshot) -> str | None:
    for version in VERSIONS:
        if all(snapshot.served(f"{GROUP}/{version}", p) for p in ("resourceflavors", "clusterqueues", "localqueues")):
            return version
    return None


def pod_spec(labels: dict[str, str]) -> dict[str, Any]:
    """One container, restricted Pod Security satisfied; never pulled where pods are simulated."""
    resources = {"cpu": POD_CPU, "memory": POD_MEMORY}
    return {
        "metadata": {"labels": labels},
        "spec": {
            "restartPolicy": "Never",
            "automountServiceAccountToken": False,
            "securityContext": {"runAsNonRoot": True, "runAsUser": 65534, "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [
                {
                    "name": "canary",
                    "image": "registry.k8s.io/pause:3.10",
                    "resources": {"requests": resources, "limits": resources},
                    "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
                }
            ],
        },
    }


def _cluster_queue(name: str, namespace: str, cpu: str, labels: dict[str, str], version: str) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{version}",
        "kind": "ClusterQueue",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}},
            "resourceGroups": [
                {
                    "coveredResources": ["cpu", "memory"],
                    "flavors": [
                        {
                            "name": name,
                            "resources": [
                                {"name": "cpu", "nominalQuota": cpu},
                                {"name": "memory", "nominalQuota": "256Mi"},
                            ],
                        }
                    ],
                }
            ],
        },
    }


def _condition(obj: dict[str, Any] | None, ctype: str) -> dict[str, Any]:
    for cond in ((obj or {}).get("status") or {}).get("conditions") or []:
        if cond.get("type") == ctype:
            return dict(cond)
    return {}


async def run(box: Sandbox, spec: ProfileSpec, snapshot: Snapshot) -> None:
    variant, why = podgroups.choose(snapshot)
    if variant is None:
        raise ProbeEnded("cannot_run", why)
    box.record.step(f"choose the gang scheduler: {why}", box.now(), 0.0)
    box.record.evidence.append(f"gang scheduler: {why}")
    if variant == "kueue":
        await run_kueue(box, spec, snapshot)
    else:
        await podgroups.run(box, spec, snapshot, podgroups.scheduler_of(variant))


async def run_kueue(box: Sandbox, spec: ProfileSpec, snapshot: Snapshot) -> None:
    del spec
    version = served_version(snapshot)
    if version is None:
        raise ProbeEnded(
            "cannot_run",
            "nothing to test: the Kueue API (kueue.x-k8s.io ClusterQueue, LocalQueue, "
            "ResourceFlavor) is not served; the probe uses an installed Kueue and never installs one",
        )
    kube, api = box.kube, f"/apis/{GROUP}/{version}"
    collections = [f"{api}/clusterqueues", f"{api}/resourceflavors"]
    await remove_leftover_cluster_objects(kube, box.record, collections, grace=2 * box.timeout)
    ns = await box.create_namespace(quota=QUOTA)
    labels = box.labels()
    name = ns  # unique per run, a valid name for the cluster-scoped objects too
    await box.create(
        f"{api}/resourceflavors",
        {"apiVersion": f"{GROUP}/{version}", "kind": "ResourceFlavor", "metadata": {"name": name, "labels": labels}},
        f"create ResourceFlavor {name}",
    )
    await box.create(
        f"{api}/clusterqueues",
        _cluster_queue(name, ns, HELD_CPU, labels, version),
        f"create ClusterQueue {name} (quota cpu {HELD_CPU}: one of the Job's {PODS} pods)",
    )
    await box.create(
        f"{api}/namespaces/{ns}/localqueues",
        {
            "apiVersion": f"{GROUP}/{version}",
            "kind": "LocalQueue",
            "metadata": {"name": "probe", "namespace": ns, "labels": labels},
            "spec": {"clusterQueue": name},
        },
        "create LocalQueue probe",
        owned=False,
    )

    async def cq_active() -> tuple[bool | None, str]:
        cq = await kube.get(f"{api}/clusterqueues/{name}")
        cond = _condition(cq, "Active")
        return (
            True if cond.get("status") == "True" else None
        ), f"Active={cond.get('status', 'unset')} {cond.get('message', '')}".strip()

    await box.wait_for("Kueue marks the ClusterQueue Active (the Kueue controller runs)", cq_active)

    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "gang", "namespace": ns, "labels": {**labels, "kueue.x-k8s.io/queue-name": "probe"}},
        "spec": {
            # Kueue's webhook suspends a queued Job on create; submitted suspended, as it would make it.
            "suspend": True,
            "parallelism": PODS,
            "completions": PODS,
            "backoffLimit": 0,
            "activeDeadlineSeconds": 600,
            "ttlSecondsAfterFinished": 600,
            "template": pod_spec(labels),
        },
    }
    await box.create(
        f"/apis/batch/v1/namespaces/{ns}/jobs",
        job,
        f"create Job gang ({PODS} pods, suspended, queue probe)",
        owned=False,
    )

    async def workload() -> dict[str, Any] | None:
        for wl in await kube.list(f"{api}/namespaces/{ns}/workloads"):
            if any(
                o.get("kind") == "Job" and o.get("name") == "gang" for o in wl["metadata"].get("ownerReferences") or []
            ):
                return wl
        return None

    async def pods() -> list[dict[str, Any]]:
        return await kube.list(f"/api/v1/namespaces/{ns}/pods?labelSelector=batch.kubernetes.io/job-name%3Dgang")

    async def judged_held() -> tuple[str | None, str]:
        wl = await workload()
        cond = _condition(wl, "QuotaReserved")
        if wl is None:
            return None, "no Workload for the Job yet"
        if cond.get("status") == "False":
            return f"Workload {wl['metadata']['name']}: QuotaReserved=False: {cond.get('message', '')}", ""
        if cond.get("status") == "True" or _condition(wl, "Admitted").get("status") == "True":
            return "admitted", ""
        return None, f"Workload {wl['metadata']['name']} not judged yet"

    judged = await box.wait_for("Kueue judges the Job's Workload against the quota", judged_held)
    if judged == "admitted":
        raise ProbeEnded(
            "failed",
            f"Kueue reserved quota for the whole {PODS}-pod Job although the ClusterQueue "
            f"covered one pod (cpu {HELD_CPU}, each pod {POD_CPU}): not all-or-nothing",
        )
    box.record.evidence.append(judged)

    async def still_held() -> str | None:
        current = await kube.get(f"/apis/batch/v1/namespaces/{ns}/jobs/gang")
        running = await pods()
        if current is None or current["spec"].get("suspend") is not True or running:
            return (
                f"the Job started with quota for one of its {PODS} pods: suspend="
                f"{(current or {}).get('spec', {}).get('suspend')}, {len(running)} pod(s): not all-or-nothing"
            )
        return None

    await box.hold(f"the Job stays suspended and no pod starts ({HOLD_SECONDS:.0f}s)", HOLD_SECONDS, still_held)

    patch = [{"op": "replace", "path": "/spec/resourceGroups/0/flavors/0/resources/0/nominalQuota", "value": ADMIT_CPU}]
    await box.step(
        f"raise the ClusterQueue's quota to cpu {ADMIT_CPU} (both pods)",
        kube.request("PATCH", f"{api}/clusterqueues/{name}", body=patch, content_type="application/json-patch+json"),
    )

    async def admitted() -> tuple[bool | None, str]:
        wl = await workload()
        current = await kube.get(f"/apis/batch/v1/namespaces/{ns}/jobs/gang")
        ok = (
            _condition(wl, "Admitted").get("status") == "True"
            and (current or {}).get("spec", {}).get("suspend") is False
        )
        return (True if ok else None), f"Admitted={_condition(wl, 'Admitted').get('status', 'unset')}"

    await box.wait_for("Kueue admits the Job whole and resumes it", admitted)

    async def all_started() -> tuple[list[str] | None, str]:
        found = await pods()
        placed = [p for p in found if (p.get("spec") or {}).get("nodeName")]
        seen = f"{len(found)} pod(s), {len(placed)} bound to a node"
        if len(placed) >= PODS:
            return [f"Pod {ns}/{p['metadata']['name']} on {p['spec']['nodeName']}" for p in placed], seen
        return None, seen

    started = await box.wait_for(f"all {PODS} pods start", all_started)
    box.record.evidence += started
    box.record.outcome = "observed"
    box.record.message = (
        f"a probe saw Kueue hold a {PODS}-pod Job (suspended, no pod) while its ClusterQueue covered one pod, then "
        f"admit it whole and start all {PODS} pods once the quota covered both (all-or-nothing)"
    )
