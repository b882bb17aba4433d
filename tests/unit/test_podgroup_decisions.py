"""The gang_scheduling probe's Volcano and KAI variants: their pure decisions (which gang scheduler, which node and
queue, the per-pod request that fits N-1 but not N, bound pods, what the scheduler wrote, what counts as
all-or-nothing violated: some but not all pods of a group bound) and the objects they make. The I/O runs on the
dev cluster's real API server (tests/e2e/test_probe_gang_podgroups.py); no Volcano or KAI scheduler runs there."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from aiconform.kube.snapshot import Snapshot
from aiconform.probes import podgroups as pg
from aiconform.probes.podgroups import KAI, VOLCANO

RBAC = Path(__file__).resolve().parents[2] / "deploy" / "helm" / "aiconform" / "templates" / "rbac-probes.yaml"
LABELS = {"app.kubernetes.io/managed-by": "aiconform", "aiconform.io/probe": "gang-scheduling"}
VOLCANO_API = frozenset({"scheduling.volcano.sh/v1beta1/podgroups", "scheduling.volcano.sh/v1beta1/queues"})
KAI_API = frozenset({"scheduling.run.ai/v2alpha2/podgroups", "scheduling.run.ai/v2/queues"})
KUEUE_API = frozenset(f"kueue.x-k8s.io/v1beta2/{p}" for p in ("resourceflavors", "clusterqueues", "localqueues"))


def cond(ctype: str, status: str = "True", reason: str = "", message: str = "") -> dict[str, Any]:
    return {"type": ctype, "status": status, "reason": reason, "message": message}


def crd(name: str) -> dict[str, Any]:
    return {
        "kind": "CustomResourceDefinition",
        "metadata": {"name": name},
        "status": {"conditions": [cond("Established")]},
    }


def node(
    name: str, cores: str = "32", taints: list[dict[str, str]] | None = None, ready: str = "True"
) -> dict[str, Any]:
    return {
        "metadata": {"name": name},
        "spec": {"taints": taints} if taints else {},
        "status": {"allocatable": {"cpu": cores}, "conditions": [cond("Ready", ready)]},
    }


def pod(
    name: str, cpu: str = "100m", node_name: str | None = None, phase: str = "Pending", scheduled: str | None = None
) -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": [{"name": "c", "resources": {"requests": {"cpu": cpu}}}]}
    if node_name:
        spec["nodeName"] = node_name
    status: dict[str, Any] = {"phase": phase}
    if scheduled:
        status["conditions"] = [cond("PodScheduled", scheduled, "Unschedulable", "0/6 nodes are available")]
    return {"metadata": {"name": name}, "spec": spec, "status": status}


# --- which gang scheduler -----------------------------------------------------------------------------------------


def test_nothing_served_cannot_run_and_says_what_it_looked_for() -> None:
    variant, why = pg.choose(Snapshot())
    assert variant is None
    assert "no Kueue (kueue.x-k8s.io ClusterQueue, LocalQueue, ResourceFlavor), Volcano" in why
    assert "KAI Scheduler (scheduling.run.ai/v2alpha2 PodGroup, v2 Queue)" in why and "never installs one" in why


def test_the_first_served_runs_when_none_shows_it_operates() -> None:
    assert pg.choose(Snapshot(api_resources=VOLCANO_API | KAI_API))[0] == "volcano"
    assert pg.choose(Snapshot(api_resources=KAI_API))[0] == "kai"
    variant, why = pg.choose(Snapshot(api_resources=KUEUE_API | VOLCANO_API))
    assert variant == "kueue" and "its API is served (no gang scheduler shows current evidence" in why
    # A PodGroup API alone (no Queue API) is not enough to submit to.
    assert pg.choose(Snapshot(api_resources=frozenset({"scheduling.volcano.sh/v1beta1/podgroups"})))[0] is None


def test_the_one_the_check_sees_operate_runs_before_the_first_served() -> None:
    """Kueue's API is served but nothing vouches for it; Volcano's PodGroup is Running (its scheduler's write)."""
    running = {"kind": "PodGroup", "metadata": {"name": "job", "namespace": "train"}, "status": {"phase": "Running"}}
    snapshot = Snapshot(
        api_resources=KUEUE_API | VOLCANO_API,
        crds=tuple(crd(n) for n in ("jobs.batch.volcano.sh", "podgroups.scheduling.volcano.sh")),
        custom={"podgroups.scheduling.volcano.sh": (running,)},
    )
    variant, why = pg.choose(snapshot)
    assert (variant, why) == ("volcano", "Volcano: the gang_scheduling check sees it operate")


def test_kai_chosen_by_a_pod_its_scheduler_bound() -> None:
    bound = pod("w-0", node_name="gpu-0", phase="Running")
    bound["metadata"]["namespace"] = "train"
    bound["spec"]["schedulerName"] = "kai-scheduler"
    bound["status"]["conditions"] = [cond("PodScheduled")]
    snapshot = Snapshot(
        api_resources=VOLCANO_API | KAI_API,
        crds=tuple(crd(n) for n in ("podgroups.scheduling.run.ai", "queues.scheduling.run.ai")),
        pods=(bound,),
    )
    assert pg.choose(snapshot) == ("kai", "KAI Scheduler: the gang_scheduling check sees it operate")


def test_an_operating_scheduler_the_probe_does_not_cover_is_named() -> None:
    bound = pod("w-0", node_name="n", phase="Running")
    bound["metadata"]["namespace"] = "train"
    bound["spec"]["schedulerName"] = "yunikorn"
    bound["status"]["conditions"] = [cond("PodScheduled")]
    scheduler = {
        "kind": "Deployment",
        "metadata": {"name": "yunikorn-scheduler", "namespace": "yunikorn"},
        "spec": {"replicas": 1},
        "status": {"availableReplicas": 1, "replicas": 1},
    }
    variant, why = pg.choose(Snapshot(pods=(bound,), deployments=(scheduler,)))
    assert variant is None and "(operating but not covered by the probe: Apache YuniKorn)" in why


# --- node, queue, sizing ------------------------------------------------------------------------------------------


def test_cpu_quantities() -> None:
    assert [pg.cpu(v) for v in ("32", "500m", "1.5", 4, "2k", "", None, "lots", True)] == [
        32,
        Fraction(1, 2),
        Fraction(3, 2),
        4,
        2000,
        0,
        0,
        0,
        0,
    ]
    assert pg.milli(Fraction(64, 5)) == "12800m"


def test_usable_nodes_are_ready_schedulable_and_untainted() -> None:
    assert pg.usable(node("a"))
    assert pg.usable(node("prefer", taints=[{"key": "k", "effect": "PreferNoSchedule"}]))
    assert not pg.usable(node("gpu", taints=[{"key": "nvidia.com/gpu", "effect": "NoSchedule"}]))
    assert not pg.usable(node("evict", taints=[{"key": "k", "effect": "NoExecute"}]))
    assert not pg.usable(node("down", ready="False"))
    cordoned = node("cordoned")
    cordoned["spec"]["unschedulable"] = True
    assert not pg.usable(cordoned)
    got = pg.candidates([node("small", "4"), node("big", "64"), node("gpu", "192", [{"effect": "NoSchedule"}])])
    assert [n["metadata"]["name"] for n in got] == ["big", "small"]


def test_free_cpu_counts_what_the_nodes_pods_hold() -> None:
    init = pod("init", "100m")
    init["spec"]["initContainers"] = [{"name": "i", "resources": {"requests": {"cpu": "2"}}}]
    pods = [pod("a", "1500m"), pod("done", "8", phase="Succeeded"), pod("failed", "8", phase="Failed"), init]
    assert pg.free_cpu(node("n", "8"), pods) == Fraction(9, 2)
    assert pg.free_cpu(node("n", "1"), [pod("a", "3")]) == 0


@given(st.integers(min_value=1000, max_value=10**7), st.integers(min_value=2, max_value=8))
def test_the_unfit_request_fits_n_minus_one_and_not_n(free_milli: int, members: int) -> None:
    free = Fraction(free_milli, 1000)
    per_pod = pg.unfit_request(free, members)
    assert (members - 1) * per_pod <= free < members * per_pod
    assert (per_pod * 1000).denominator == 1  # whole millicores: what the pod asks is what was computed


def test_the_node_with_the_most_free_cpu_is_picked() -> None:
    assert pg.pick_node({"a": Fraction(3), "b": Fraction(7), "c": Fraction(7)}) == ("b", 7)
    assert pg.pick_node({"a": Fraction(1, 2)}) is None
    assert pg.pick_node({}) is None


def queue(name: str, state: str | None = None, parent: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"metadata": {"name": name}, "spec": {"parentQueue": parent} if parent else {}}
    if state:
        out["status"] = {"state": state}
    return out


def test_the_queue_is_the_installs_default_else_the_first_open_leaf() -> None:
    assert pg.pick_queue([queue("a", "Open"), queue("default", "Open")], VOLCANO)[0] == "default"
    assert pg.pick_queue([queue("b", "Open"), queue("default", "Closed"), queue("a", "Open")], VOLCANO)[0] == "a"
    assert pg.pick_queue([queue("default")], VOLCANO)[0] == "default"  # no state written yet counts as open
    kai = [queue("default-parent-queue"), queue("default-queue", parent="default-parent-queue"), queue("z")]
    assert pg.pick_queue(kai, KAI)[0] == "default-queue"
    assert pg.pick_queue([queue("root"), queue("team", parent="root")], KAI)[0] == "team"  # never a parent
    name, why = pg.pick_queue([queue("default", "Closing")], VOLCANO)
    assert name is None and "no open Volcano Queue (scheduling.volcano.sh/v1beta1)" in why


# --- bound, judged, running ----------------------------------------------------------------------------------------


def test_gang_state_none_some_all() -> None:
    assert pg.gang_state([pod("a"), pod("b"), pod("c")]) == "none"
    assert pg.gang_state([pod("a", node_name="n"), pod("b"), pod("c")]) == "some"
    assert pg.gang_state([pod("a", node_name="n"), pod("b", node_name="n"), pod("c")]) == "some"
    assert pg.gang_state([pod(x, node_name="n") for x in "abc"]) == "all"
    # Fewer pods than members, all bound, is not the whole group.
    assert pg.gang_state([pod("a", node_name="n"), pod("b", node_name="n")]) == "some"


def test_seen_pods_says_how_many_are_bound_and_what_the_scheduler_wrote() -> None:
    pods = [pod("a", node_name="n1", scheduled="True"), pod("b", scheduled="False"), pod("c")]
    assert pg.seen_pods(pods) == (
        "1 of 3 pods bound (n1), 3 found; PodScheduled unset (1), "
        "PodScheduled=False (Unschedulable: 0/6 nodes are available) (1), "
        "PodScheduled=True (Unschedulable: 0/6 nodes are available) (1)"
    )
    assert pg.seen_pods([]) == "0 of 3 pods bound, 0 found"


def test_volcano_judgement_is_its_unschedulable_condition_or_a_phase() -> None:
    assert pg.judgement(VOLCANO, None, [pod("a")]) is None
    assert pg.judgement(VOLCANO, {"status": {}}, [pod("a")]) is None
    group = {"status": {"phase": "Pending", "conditions": [cond("Unschedulable", "True", "NotEnoughResources", "3/3")]}}
    assert pg.judgement(VOLCANO, group, []) == "PodGroup Unschedulable=True (NotEnoughResources: 3/3)"
    assert pg.judgement(VOLCANO, {"status": {"phase": "Inqueue"}}, []) == "PodGroup phase Inqueue"
    said = pg.judgement(VOLCANO, None, [pod("a"), pod("b", scheduled="False")])
    assert said == "Pod b PodScheduled=False (Unschedulable: 0/6 nodes are available)"


def test_kai_judgement_is_its_scheduling_conditions() -> None:
    group = {
        "status": {
            "schedulingConditions": [
                {"type": "UnschedulableOnNodePool", "nodePool": "default", "reason": "Unschedulable", "message": "no"}
            ]
        }
    }
    assert pg.judgement(KAI, group, []) == "PodGroup UnschedulableOnNodePool (default): Unschedulable: no"
    assert pg.judgement(KAI, {"status": {"phase": "Pending"}}, []) is None  # a phase alone is not KAI's judgement


def test_running_is_volcanos_phase_and_kais_bound_pods() -> None:
    assert pg.running(VOLCANO, {"status": {"phase": "Running"}}) == (True, "PodGroup phase Running")
    assert pg.running(VOLCANO, {"status": {"phase": "Inqueue"}}) == (False, "PodGroup phase Inqueue")
    assert pg.running(VOLCANO, None) == (False, "PodGroup phase unset")
    assert pg.running(KAI, None) == (True, "PodGroup without a phase")


# --- objects ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("scheduler", [VOLCANO, KAI], ids=lambda s: s.key)
def test_group_and_pods_carry_what_the_scheduler_reads(scheduler: pg.GroupScheduler) -> None:
    group = pg.pod_group(scheduler, "held", "ns", "q", LABELS)
    assert group["apiVersion"] == f"{scheduler.group}/{scheduler.version}" and group["kind"] == "PodGroup"
    assert group["spec"] == {"minMember": 3, "queue": "q"}
    member = pg.member_pod(scheduler, "held", 1, "ns", "q", "node-a", Fraction(64, 5), LABELS)
    spec = member["spec"]
    assert spec["schedulerName"] == scheduler.scheduler_name
    assert spec["nodeSelector"] == {"kubernetes.io/hostname": "node-a"}
    assert member["metadata"]["name"] == "held-1"
    assert member["metadata"]["annotations"] == {scheduler.group_annotation: "held"}
    assert member["metadata"]["labels"]["aiconform.io/probe-group"] == "held"
    assert spec["containers"][0]["resources"]["requests"]["cpu"] == "12800m"
    assert spec["securityContext"]["runAsNonRoot"] and "tolerations" not in spec
    if scheduler is KAI:
        assert member["metadata"]["labels"]["kai.scheduler/queue"] == "q"
    else:
        assert "kai.scheduler/queue" not in member["metadata"]["labels"]
    assert VOLCANO.group_annotation == "scheduling.k8s.io/group-name" and KAI.group_annotation == "pod-group-name"
    assert (VOLCANO.scheduler_name, KAI.scheduler_name) == ("volcano", "kai-scheduler")


def test_quota_holds_both_groups_and_nothing_more() -> None:
    assert pg.quota(Fraction(64, 5)) == {
        "pods": "6",
        "requests.cpu": "38700m",
        "requests.memory": "192Mi",
        "limits.memory": "192Mi",
    }


def test_the_probes_role_grants_the_podgroup_variants_exactly() -> None:
    text = RBAC.read_text()
    rules = yaml.safe_load(text[text.index("\nrules:\n") : text.index("\n---\n")])["rules"]
    granted: dict[tuple[str, str], set[str]] = {}
    for rule in rules:
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                granted.setdefault((group, resource), set()).update(rule["verbs"])
    for group in ("scheduling.volcano.sh", "scheduling.run.ai"):
        assert granted[(group, "podgroups")] == {"get", "create"}
        assert granted[(group, "queues")] == {"list"}
    assert granted[("", "nodes")] == {"list"}
    assert {"get", "list", "create"} <= granted[("", "pods")]
