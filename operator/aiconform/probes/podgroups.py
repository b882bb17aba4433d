"""gang_scheduling through a PodGroup scheduler: Volcano (`scheduling.volcano.sh/v1beta1`) or the NVIDIA KAI
Scheduler (`scheduling.run.ai/v2alpha2`), and which gang scheduler the gang_scheduling probe goes through.

All-or-nothing, shown on one node the probe picks (Ready, schedulable, untainted, the most free CPU):
1. a PodGroup `held` with minMember N and N pods of the scheduler (its `schedulerName`, the group annotation,
   the queue), each requesting a CPU share sized from the node's free CPU so that N-1 fit and N do not → the
   scheduler judges the group (a status or pod condition it writes) and binds none of its pods, for a while;
2. a PodGroup `fits` with N pods of a small request → the scheduler binds all N (Volcano: phase Running).
Some but not all pods of a group bound is all-or-nothing violated (`ProbeFailed`). The real kube-scheduler never
binds these pods: their `schedulerName` is not its own, so without the gang scheduler the first wait times out.

The scheduler and its queues are the cluster's own; the probe never installs one and never makes a queue.
The KAI types follow what the gang_scheduling check knows (CRDs `podgroups`/`queues.scheduling.run.ai`,
`schedulerName: kai-scheduler`) and KAI's published API (PodGroup `spec.minMember`/`spec.queue`, status
`schedulingConditions`, pod annotation `pod-group-name`, label `kai.scheduler/queue`): its Go module could not be
fetched here, so no e2e test ran against its CRDs (see docs/probes.md).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Literal

from aiconform.api.models import ProfileSpec
from aiconform.conformance.checks import gang_scheduling
from aiconform.conformance.facts import Judged, assess_stack, reconciliation, ref, scheduled_pods
from aiconform.kube.client import KubeApiError
from aiconform.kube.snapshot import Snapshot
from aiconform.probes.record import condition_of, condition_text
from aiconform.probes.sandbox import ProbeEnded, Sandbox, is_rbac_denial, not_permitted

REQUIREMENT = "gang_scheduling"
PODS = 3  # N: a gang of three shows "some but not all" (two bound) as clearly as it can be shown
SMALL_CPU = Fraction(1, 10)  # cores per pod of the group that fits
POD_MEMORY = "32Mi"
MIN_FREE_CPU = Fraction(1)  # cores free on the node: below this the sizing says nothing (cannot run)
HOLD_SECONDS = 3.0  # how long no pod of the held group may be bound once the scheduler has judged it
CANDIDATE_NODES = 5  # nodes whose pods are listed to compute free CPU (the largest by allocatable CPU)
HOSTNAME = "kubernetes.io/hostname"


@dataclass(frozen=True)
class GroupScheduler:
    """A gang scheduler the probe drives through PodGroups of its API."""

    key: str  # the variant's name in messages and tests: volcano | kai
    label: str
    scheduler_name: str  # spec.schedulerName of its pods
    group: str
    version: str  # of PodGroup
    queue_version: str  # of Queue (cluster-scoped)
    group_annotation: str  # the pod annotation naming its PodGroup
    queue_label: str | None  # the pod label naming its queue (KAI); Volcano reads the PodGroup's spec.queue
    preferred_queue: str  # the queue an install makes for workloads that name none
    stack: str  # the gang_scheduling check's Stack label

    @property
    def api(self) -> str:
        return f"/apis/{self.group}/{self.version}"

    @property
    def queues(self) -> str:
        return f"/apis/{self.group}/{self.queue_version}/queues"


VOLCANO = GroupScheduler(
    "volcano",
    "Volcano",
    "volcano",
    "scheduling.volcano.sh",
    "v1beta1",
    "v1beta1",
    "scheduling.k8s.io/group-name",
    None,
    "default",  # the Volcano controller makes it at start
    gang_scheduling.VOLCANO.label,
)
KAI = GroupScheduler(
    "kai",
    "KAI Scheduler",
    "kai-scheduler",
    "scheduling.run.ai",
    "v2alpha2",
    "v2",
    "pod-group-name",
    "kai.scheduler/queue",
    "default-queue",
    gang_scheduling.KAI.label,
)
SCHEDULERS = (VOLCANO, KAI)
Variant = Literal["kueue", "volcano", "kai"]
COVERED = ("Kueue", VOLCANO.label, KAI.label)


# --- which gang scheduler ----------------------------------------------------------------------------------------


def served(snapshot: Snapshot, scheduler: GroupScheduler) -> bool:
    return snapshot.served(f"{scheduler.group}/{scheduler.version}", "podgroups") and snapshot.served(
        f"{scheduler.group}/{scheduler.queue_version}", "queues"
    )


def kueue_served(snapshot: Snapshot) -> bool:
    return any(
        all(snapshot.served(f"kueue.x-k8s.io/{v}", p) for p in ("resourceflavors", "clusterqueues", "localqueues"))
        for v in ("v1beta2", "v1beta1")
    )


def operating(snapshot: Snapshot) -> list[str]:
    """The check's solutions (by Stack label, in its order) with current evidence their controller operates: a
    status it wrote for the object's generation or a pod its scheduler bound, nothing neglected."""
    out = []
    for solution in gang_scheduling.SOLUTIONS:
        pods = [Judged(ref("Pod", p), "live", "bound") for p in scheduled_pods(snapshot, solution.schedulers)]
        health = assess_stack(snapshot, solution.stack).with_reconciliation(
            reconciliation([*solution.judge(snapshot), *pods])
        )
        if health.live:
            out.append(solution.stack.label)
    return out


def choose(snapshot: Snapshot) -> tuple[Variant | None, str]:
    """The variant the probe runs and why: the one whose controller the gang_scheduling check finds current
    evidence for, else the first (Kueue, Volcano, KAI) whose API is served; None and why not otherwise."""
    installed: dict[str, Variant] = {}
    if kueue_served(snapshot):
        installed["Kueue"] = "kueue"
    for scheduler in SCHEDULERS:
        if served(snapshot, scheduler):
            installed[scheduler.stack] = scheduler.key  # type: ignore[assignment]
    live = operating(snapshot)
    for label in live:
        if label in installed:
            return installed[label], f"{label}: the gang_scheduling check sees it operate"
    if installed:
        label = next(iter(installed))
        return installed[label], f"{label}: its API is served (no gang scheduler shows current evidence it operates)"
    others = [label for label in live if label not in COVERED]
    why = (
        "nothing to test: no Kueue (kueue.x-k8s.io ClusterQueue, LocalQueue, ResourceFlavor), Volcano "
        "(scheduling.volcano.sh/v1beta1 PodGroup, Queue) or KAI Scheduler (scheduling.run.ai/v2alpha2 PodGroup, "
        "v2 Queue) API is served; the probe uses an installed gang scheduler and never installs one"
    )
    if others:
        why += f" (operating but not covered by the probe: {', '.join(others)})"
    return None, why


def scheduler_of(variant: Variant) -> GroupScheduler:
    return next(s for s in SCHEDULERS if s.key == variant)


# --- pure decisions ----------------------------------------------------------------------------------------------

_CPU = re.compile(r"^([0-9]+(?:\.[0-9]*)?|\.[0-9]+)(m|k)?$")


def cpu(value: object) -> Fraction:
    """A CPU quantity in cores ("32", "500m", "1.5"); 0 for what is not one."""
    if isinstance(value, int) and not isinstance(value, bool):
        return Fraction(value)
    m = _CPU.match(str(value or "").strip())
    if not m:
        return Fraction(0)
    number = Fraction(m.group(1))
    return number / 1000 if m.group(2) == "m" else number * 1000 if m.group(2) == "k" else number


def milli(cores: Fraction) -> str:
    """Cores as millicores, rounded down: "12800m"."""
    return f"{int(cores * 1000)}m"


def _spec(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    spec = obj.get("spec")
    return spec if isinstance(spec, Mapping) else {}


def _status(obj: Mapping[str, Any] | None) -> Mapping[str, Any]:
    status = (obj or {}).get("status")
    return status if isinstance(status, Mapping) else {}


def _name(obj: Mapping[str, Any]) -> str:
    meta = obj.get("metadata")
    return str(meta.get("name", "")) if isinstance(meta, Mapping) else ""


def usable(node: Mapping[str, Any]) -> bool:
    """Ready, schedulable and without a taint that keeps pods off (NoSchedule, NoExecute): the canary pods carry
    no tolerations, so they never land on a tenant's dedicated (e.g. GPU) nodes."""
    spec = _spec(node)
    if spec.get("unschedulable"):
        return False
    if any(isinstance(t, Mapping) and t.get("effect") in ("NoSchedule", "NoExecute") for t in spec.get("taints") or []):
        return False
    return condition_of(node, "Ready").get("status") == "True"


def allocatable_cpu(node: Mapping[str, Any]) -> Fraction:
    alloc = _status(node).get("allocatable")
    return cpu(alloc.get("cpu")) if isinstance(alloc, Mapping) else Fraction(0)


def pod_cpu_request(pod: Mapping[str, Any]) -> Fraction:
    """What the scheduler accounts for a pod: the sum of its containers' CPU requests, or the largest init
    container's if larger, plus the pod overhead."""

    def request(container: object) -> Fraction:
        if not isinstance(container, Mapping):
            return Fraction(0)
        requests = (container.get("resources") or {}).get("requests") or {}
        return cpu(requests.get("cpu")) if isinstance(requests, Mapping) else Fraction(0)

    spec = _spec(pod)
    main = sum((request(c) for c in spec.get("containers") or []), Fraction(0))
    init = max((request(c) for c in spec.get("initContainers") or []), default=Fraction(0))
    overhead = cpu((spec.get("overhead") or {}).get("cpu")) if isinstance(spec.get("overhead"), Mapping) else 0
    return max(main, init) + overhead


def free_cpu(node: Mapping[str, Any], pods: Iterable[Mapping[str, Any]]) -> Fraction:
    """Allocatable CPU minus what the node's pods that still hold it (not Succeeded or Failed) request."""
    held = sum(
        (pod_cpu_request(p) for p in pods if _status(p).get("phase") not in ("Succeeded", "Failed")),
        Fraction(0),
    )
    return max(Fraction(0), allocatable_cpu(node) - held)


def unfit_request(free: Fraction, pods: int = PODS) -> Fraction:
    """A per-pod CPU request (whole millicores) so that pods-1 of them fit in `free` and `pods` do not:
    2·free/(2·pods-1), halfway between free/(pods-1) and free/pods, leaving the same margin either side."""
    per_pod = Fraction(int(2 * free * 1000 / (2 * pods - 1)), 1000)
    assert (pods - 1) * per_pod <= free < pods * per_pod, (free, pods, per_pod)
    return per_pod


def pick_node(free: Mapping[str, Fraction]) -> tuple[str, Fraction] | None:
    """The node with the most free CPU (by name on a tie), if it has room enough to size the groups."""
    if not free:
        return None
    name, most = max(free.items(), key=lambda item: (item[1], [-ord(c) for c in item[0]]))
    return (name, most) if most >= MIN_FREE_CPU else None


def candidates(nodes: Iterable[Mapping[str, Any]], limit: int = CANDIDATE_NODES) -> list[Mapping[str, Any]]:
    """The usable nodes with the most allocatable CPU, at most `limit` (their pods are listed one node at a time)."""
    ok = [n for n in nodes if usable(n)]
    return sorted(ok, key=lambda n: (-allocatable_cpu(n), _name(n)))[:limit]


def pick_queue(queues: Iterable[Mapping[str, Any]], scheduler: GroupScheduler) -> tuple[str | None, str]:
    """The queue the groups go to, and why: the install's default queue if it is open, else the first open one
    by name that is not another's parent (KAI schedules only into leaf queues). A queue whose state is not
    written yet counts as open (Volcano writes `status.state`; KAI writes none)."""
    open_leaves: list[str] = []
    parents = {str(_spec(q).get("parentQueue")) for q in queues if _spec(q).get("parentQueue")}
    for queue in queues:
        state = _status(queue).get("state")
        if state not in (None, "", "Open"):
            continue
        name = _name(queue)
        if name and name not in parents:
            open_leaves.append(name)
    if scheduler.preferred_queue in open_leaves:
        return scheduler.preferred_queue, f"Queue {scheduler.preferred_queue} (the install's default)"
    if open_leaves:
        first = sorted(open_leaves)[0]
        return first, f"Queue {first} (the first open leaf queue)"
    return None, (
        f"no open {scheduler.label} Queue ({scheduler.group}/{scheduler.queue_version}) to submit to; "
        f"an install makes {scheduler.preferred_queue!r}"
    )


def bound(pod: Mapping[str, Any]) -> bool:
    """Bound to a node: what a scheduler's bind writes."""
    return bool(_spec(pod).get("nodeName"))


GangState = Literal["none", "some", "all"]


def gang_state(pods: Sequence[Mapping[str, Any]], members: int = PODS) -> GangState:
    """How many of a group's pods are bound: none, some but not all (all-or-nothing violated once the scheduler
    has settled), or all `members`."""
    placed = sum(1 for p in pods if bound(p))
    if placed == 0:
        return "none"
    return "all" if placed >= members and placed == len(pods) else "some"


def seen_pods(pods: Sequence[Mapping[str, Any]], members: int = PODS) -> str:
    """`1 of 3 pods bound (kwok-cpu-0000), 3 found; PodScheduled unset (2), PodScheduled=True (1)`."""
    placed = sorted({str(_spec(p).get("nodeName")) for p in pods if bound(p)})
    count = sum(1 for p in pods if bound(p))
    conds: dict[str, int] = {}
    for pod in pods:
        text = condition_text(condition_of(pod, "PodScheduled"), "PodScheduled")
        conds[text] = conds.get(text, 0) + 1
    where = f" ({', '.join(placed)})" if placed else ""
    states = ", ".join(f"{k} ({v})" for k, v in sorted(conds.items()))
    return f"{count} of {members} pods bound{where}, {len(pods)} found" + (f"; {states}" if states else "")


def judgement(
    scheduler: GroupScheduler, group: Mapping[str, Any] | None, pods: Sequence[Mapping[str, Any]]
) -> str | None:
    """What the scheduler wrote when it found the group cannot be placed whole, or None while it wrote nothing:
    Volcano's `Unschedulable` condition or a phase (Pending, Inqueue), KAI's `schedulingConditions`, or the
    `PodScheduled=False` condition a gang scheduler sets on its pods. Only the scheduler named in the pods'
    `schedulerName` writes these (the kube-scheduler leaves other schedulers' pods alone)."""
    status = _status(group)
    said = []
    if scheduler is VOLCANO:
        cond = condition_of(group, "Unschedulable")
        if cond.get("status") == "True":
            said.append(f"PodGroup {condition_text(cond, 'Unschedulable')}")
        elif status.get("phase"):
            said.append(f"PodGroup phase {status.get('phase')}")
    else:
        for cond in status.get("schedulingConditions") or []:
            if isinstance(cond, Mapping) and cond.get("type"):
                why = ": ".join(str(p) for p in (cond.get("reason"), cond.get("message")) if p)
                said.append(f"PodGroup {cond.get('type')} ({cond.get('nodePool', '')}): {why}".replace(" ()", ""))
    for pod in pods:
        cond = condition_of(pod, "PodScheduled")
        if cond.get("status") == "False":
            said.append(f"Pod {_name(pod)} {condition_text(cond, 'PodScheduled')}")
            break
    return "; ".join(said) or None


def running(scheduler: GroupScheduler, group: Mapping[str, Any] | None) -> tuple[bool, str]:
    """The group's status once all its pods are bound: Volcano moves it to phase Running (minMember pods
    allocated); KAI writes no phase it documents, so its bound pods are what counts."""
    phase = _status(group).get("phase")
    if scheduler is VOLCANO:
        return phase == "Running", f"PodGroup phase {phase or 'unset'}"
    return True, f"PodGroup phase {phase}" if phase else "PodGroup without a phase"


# --- objects -----------------------------------------------------------------------------------------------------


def pod_group(
    scheduler: GroupScheduler, name: str, namespace: str, queue: str, labels: Mapping[str, str], members: int = PODS
) -> dict[str, Any]:
    return {
        "apiVersion": f"{scheduler.group}/{scheduler.version}",
        "kind": "PodGroup",
        "metadata": {"name": name, "namespace": namespace, "labels": dict(labels)},
        "spec": {"minMember": members, "queue": queue},
    }


def member_pod(
    scheduler: GroupScheduler,
    group: str,
    index: int,
    namespace: str,
    queue: str,
    node: str,
    cores: Fraction,
    labels: Mapping[str, str],
) -> dict[str, Any]:
    """One pod of a group: the scheduler's name, the group annotation (and KAI's queue label), pinned to the
    probe's node by its hostname label; restricted Pod Security satisfied; never pulled where pods are
    simulated."""
    pod_labels = {**labels, "aiconform.io/probe-group": group}
    if scheduler.queue_label:
        pod_labels[scheduler.queue_label] = queue
    requests = {"cpu": milli(cores), "memory": POD_MEMORY}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": f"{group}-{index}",
            "namespace": namespace,
            "labels": pod_labels,
            "annotations": {scheduler.group_annotation: group},
        },
        "spec": {
            "schedulerName": scheduler.scheduler_name,
            "nodeSelector": {HOSTNAME: node},
            "restartPolicy": "Never",
            "automountServiceAccountToken": False,
            "terminationGracePeriodSeconds": 0,
            "securityContext": {"runAsNonRoot": True, "runAsUser": 65534, "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [
                {
                    "name": "canary",
                    "image": "registry.k8s.io/pause:3.10",
                    "resources": {"requests": requests, "limits": {"memory": POD_MEMORY}},
                    "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
                }
            ],
        },
    }


def quota(per_pod: Fraction, members: int = PODS) -> dict[str, str]:
    """Room for both groups and nothing more."""
    return {
        "pods": str(2 * members),
        "requests.cpu": milli(members * (per_pod + SMALL_CPU)),
        "requests.memory": f"{2 * members * 32}Mi",
        "limits.memory": f"{2 * members * 32}Mi",
    }


# --- the run -----------------------------------------------------------------------------------------------------


async def _node(box: Sandbox) -> tuple[str, Fraction, str]:
    """The node the groups are pinned to, its free CPU and how it was found."""
    nodes = await box.step("list Nodes", box.kube.list("/api/v1/nodes"), what="list nodes")
    picked = candidates(nodes)
    free: dict[str, Fraction] = {}
    for node in picked:
        name = _name(node)
        selector = f"spec.nodeName%3D{name}"
        try:
            pods = await box.kube.list(f"/api/v1/pods?fieldSelector={selector}")
        except KubeApiError as exc:
            if is_rbac_denial(exc):
                raise not_permitted(exc, f"list the pods on node {name}") from None
            raise
        free[name] = free_cpu(node, pods)
    chosen = pick_node(free)
    if chosen is None:
        seen = ", ".join(f"{n}: {float(f):.2f}" for n, f in sorted(free.items())) or "none"
        raise ProbeEnded(
            "cannot_run",
            f"no Ready, schedulable, untainted node with at least {MIN_FREE_CPU} CPU free to size the groups on "
            f"(free CPU of the largest usable nodes: {seen})",
        )
    name, most = chosen
    return name, most, f"node {name}: {float(most):.3f} CPU free of {len(picked)} usable node(s) looked at"


async def run(box: Sandbox, spec: ProfileSpec, snapshot: Snapshot, scheduler: GroupScheduler) -> None:
    del spec, snapshot
    kube = box.kube
    began = box.now()
    queues = await box.step(f"list {scheduler.label} Queues", kube.list(scheduler.queues), what="list queues")
    queue, why_queue = pick_queue(queues, scheduler)
    if queue is None:
        raise ProbeEnded("cannot_run", why_queue)
    node, free, why_node = await _node(box)
    per_pod = unfit_request(free)
    box.record.step(
        f"pick the queue and the node: {why_queue}, {why_node}",
        began,
        box.now() - began,
        detail=f"each pod of PodGroup held requests cpu {milli(per_pod)}: {PODS - 1} fit in {milli(free)}, {PODS} not",
    )
    box.record.evidence += [f"{scheduler.label} through {why_queue}", why_node]
    ns = await box.create_namespace(quota=quota(per_pod))
    labels = box.labels()

    async def make_group(group: str, cores: Fraction, what: str) -> None:
        await box.create(
            f"{scheduler.api}/namespaces/{ns}/podgroups",
            pod_group(scheduler, group, ns, queue, labels),
            f"create PodGroup {group} (minMember {PODS}, queue {queue})",
            owned=False,
        )
        for index in range(PODS):
            await box.create(
                f"/api/v1/namespaces/{ns}/pods",
                member_pod(scheduler, group, index, ns, queue, node, cores, labels),
                f"create Pod {group}-{index} (schedulerName {scheduler.scheduler_name}, cpu {milli(cores)}: {what})",
                owned=False,
            )

    async def state(group: str) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
        obj = await kube.get(f"{scheduler.api}/namespaces/{ns}/podgroups/{group}")
        pods = await kube.list(f"/api/v1/namespaces/{ns}/pods?labelSelector=aiconform.io/probe-group%3D{group}")
        return obj, pods

    def violated(seen: str, group: str) -> ProbeEnded:
        return ProbeEnded(
            "failed",
            f"{scheduler.label} bound some but not all pods of PodGroup {group} (minMember {PODS}) although only "
            f"{PODS - 1} fit on {node}: {seen}: not all-or-nothing",
        )

    await make_group("held", per_pod, f"{PODS - 1} of {PODS} fit on {node}")

    bound_early: list[tuple[GangState, str]] = []  # pods bound before (or without) a judgement of the group

    async def judged() -> tuple[str | None, str]:
        obj, pods = await state("held")
        now = gang_state(pods)
        seen = f"{seen_pods(pods)}; {running(scheduler, obj)[1]}"
        if now != "none":
            bound_early.append((now, seen))
            return f"pods bound: {seen}", seen
        return judgement(scheduler, obj, pods), seen

    said = await box.wait_for(
        f"the {scheduler.label} scheduler judges PodGroup held (its pods are not scheduled)", judged
    )
    if bound_early:
        now, seen = bound_early[-1]
        # The wait ended on bound pods, not on a judgement: the step did not happen as named.
        box.record.steps[-1] = dataclasses.replace(box.record.steps[-1], ok=False, detail=seen)
        if now == "some":
            raise violated(seen, "held")
        raise ProbeEnded(
            "cannot_run",
            f"all {PODS} pods of PodGroup held were bound on {node}: the node had room for them after all "
            f"(its free CPU changed while the probe ran), inconclusive: {seen}",
        )
    box.record.evidence.append(f"PodGroup {ns}/held: {said}")

    async def still_held() -> str | None:
        _, pods = await state("held")
        if gang_state(pods) != "none":
            return violated(seen_pods(pods), "held").message
        return None

    await box.hold(f"no pod of PodGroup held is bound ({HOLD_SECONDS:.0f}s)", HOLD_SECONDS, still_held)

    await make_group("fits", SMALL_CPU, f"all {PODS} fit")

    async def started() -> tuple[list[str] | None, str]:
        obj, pods = await state("fits")
        ok, phase = running(scheduler, obj)
        if gang_state(pods) == "all" and ok:
            return [f"Pod {ns}/{_name(p)} on {_spec(p).get('nodeName')}" for p in pods] + [phase], ""
        return None, f"{seen_pods(pods)}; {phase}"

    placed = await box.wait_for(
        f"the {scheduler.label} scheduler binds all {PODS} pods of PodGroup fits together", started
    )
    box.record.evidence += placed
    _, held_pods = await state("held")
    if gang_state(held_pods) == "some":
        raise violated(seen_pods(held_pods), "held")
    box.record.outcome = "observed"
    box.record.message = (
        f"a probe saw {scheduler.label} hold a {PODS}-pod PodGroup whole (no pod bound) while only {PODS - 1} of its "
        f"pods fit on {node}, and bind all {PODS} pods of a PodGroup that fits (all-or-nothing)"
    )
