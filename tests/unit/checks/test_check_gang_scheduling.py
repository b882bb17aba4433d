from checkbuilders import cond, crds, deployment, obj, pod, profile, service, snap, webhook_config

from aiconform.conformance import evidence
from aiconform.conformance.checks import gang_scheduling as gs

KUEUE_CRDS = tuple(f"{p}.kueue.x-k8s.io" for p in ("clusterqueues", "localqueues", "resourceflavors", "workloads"))
CQ = "clusterqueues.kueue.x-k8s.io"
KUEUE_ON = {"components": {"kueue": {"enabled": True, "clusterQueue": "gpu"}}}
VOLCANO_CRDS = ("jobs.batch.volcano.sh", "podgroups.scheduling.volcano.sh")
COSCHED = "podgroups.scheduling.x-k8s.io"


def _queue(name="gpu", active="True", generation=2, observed=2, reason=""):
    q = obj("ClusterQueue", name, conditions=[{**cond("Active", active, reason), "observedGeneration": observed}])
    q["metadata"]["generation"] = generation
    return q


def _kueue(available=1, queues=None, **extra):
    fields = {
        "crds": crds(*KUEUE_CRDS),
        "deployments": [deployment("kueue-system", "kueue-controller-manager", available=available)],
        "custom": {CQ: queues if queues is not None else [_queue()]},
    }
    return snap(**{**fields, **extra})


def _image(dep, image):
    dep["spec"]["template"] = {"spec": {"containers": [{"name": "manager", "image": image}]}}
    return dep


def _scheduled(name, scheduler, ns="train"):
    p = pod(ns, name, node="gpu-0")
    p["spec"]["schedulerName"] = scheduler
    p["status"]["conditions"].append(cond("PodScheduled"))
    return p


def test_kueue_active_queue_is_implemented_on_controller_status():
    v = gs.check(_kueue(), profile(**KUEUE_ON))
    assert (v.status, v.reason, v.tier) == ("Implemented", "APIVerified", "ControllerStatus")
    assert "Kueue" in v.message and "ClusterQueue/gpu Active=True" in v.message
    assert "CRD clusterqueues.kueue.x-k8s.io Established" in v.evidence
    assert "Deployment/kueue-system/kueue-controller-manager 1/1 available" in v.evidence
    assert "ClusterQueue/gpu Active=True" in v.evidence
    assert evidence.enforce(v) == v


def test_stale_active_condition_is_not_current():
    v = gs.check(_kueue(queues=[_queue(generation=3, observed=2)]), profile())
    assert (v.status, v.reason) == ("Not Implemented", "CRsNotReconciled")
    assert v.faults == ("ClusterQueue/gpu status is not current (observedGeneration 2 < generation 3)",)


def test_queue_without_status_is_evidence_against():
    v = gs.check(_kueue(queues=[obj("ClusterQueue", "gpu")]), profile())
    assert (v.status, v.reason) == ("Not Implemented", "CRsNotReconciled")
    assert "ClusterQueue/gpu has no status" in v.faults[0]
    # One queue live, another neglected: the controller runs but does not keep up.
    both = gs.check(_kueue(queues=[_queue("a"), obj("ClusterQueue", "b")]), profile())
    assert (both.status, both.reason) == ("Partially Implemented", "CRsNotReconciled")
    assert both.faults == ("ClusterQueue/b has no status (its controller never reconciled it)",)


def test_deployment_without_any_status_is_presence_only():
    v = gs.check(_kueue(queues=[]), profile())
    assert (v.status, v.reason, v.tier) == ("Partially Implemented", "PresenceOnly", "APIPresence")
    assert "ClusterQueue the Kueue controller reports Active" in v.message


def test_kueue_found_by_label_image_or_release_prefix():
    by_label = deployment("kueue-system", "manager", labels={"control-plane": "controller-manager"})
    by_prefix = deployment("platform", "my-release-kueue-controller-manager")
    by_image = _image(deployment("platform", "scheduler"), "registry.k8s.io/kueue/kueue:v0.13.1@sha256:abc")
    for dep in (by_label, by_prefix, by_image):
        v = gs.check(_kueue(deployments=[dep]), profile())
        assert v.status == "Implemented", dep["metadata"]
        assert any(e.startswith(f"Deployment/{dep['metadata']['namespace']}/") for e in v.evidence)


def test_kueue_crds_absent():
    v = gs.check(snap(), profile())
    assert (v.status, v.reason) == ("Not Implemented", "CRDsMissing")
    assert "Kueue" in v.message and "Volcano" in v.message and "YuniKorn" in v.message


def test_kueue_crds_partly_present():
    v = gs.check(_kueue(crds=crds(*KUEUE_CRDS[:2])), profile())
    assert (v.status, v.reason) == ("Not Implemented", "CRDsMissing")
    assert "workloads.kueue.x-k8s.io (absent)" in v.message


def test_controller_unavailable_is_named():
    v = gs.check(_kueue(available=0), profile())
    assert (v.status, v.reason) == ("Not Implemented", "ControllerUnavailable")
    assert "Deployment/kueue-system/kueue-controller-manager 0/1 available" in v.message


def test_controller_deployment_not_found_but_its_status_vouches():
    v = gs.check(_kueue(deployments=[]), profile())
    assert (v.status, v.tier) == ("Implemented", "ControllerStatus")


def test_our_cluster_queue_missing():
    v = gs.check(_kueue(queues=[_queue("other")]), profile(**KUEUE_ON))
    assert (v.status, v.reason) == ("Not Implemented", "ClusterQueueMissing")
    assert "ClusterQueue/gpu" in v.message


def test_an_adopted_platform_cluster_queue_is_the_one_judged():
    adopted = {"components": {"kueue": {"enabled": True, "existingClusterQueue": "platform"}}}
    v = gs.check(_kueue(queues=[_queue("platform")]), profile(**adopted))
    assert (v.status, v.tier) == ("Implemented", "ControllerStatus")
    v = gs.check(_kueue(queues=[_queue("other")]), profile(**adopted))
    assert (v.status, v.reason) == ("Not Implemented", "ClusterQueueMissing")
    assert "ClusterQueue/platform (spec.components.kueue.existingClusterQueue)" in v.message


def test_cluster_queue_inactive_is_a_failure():
    queue = _queue(active="False", reason="FlavorNotFound")
    v = gs.check(_kueue(queues=[queue]), profile(**KUEUE_ON))
    assert (v.status, v.reason) == ("Not Implemented", "ClusterQueueInactive")
    assert "FlavorNotFound" in v.message
    other = gs.check(_kueue(queues=[queue]), profile())
    assert (other.status, other.reason) == ("Not Implemented", "ClusterQueueInactive")
    assert other.faults and "Active=False" in other.faults[0]


def test_cluster_queue_ignored_when_kueue_component_disabled():
    assert gs.check(_kueue(queues=[_queue("team-a")]), profile()).status == "Implemented"


def test_webhook_without_service():
    hook = webhook_config(
        "kueue-validating-webhook-configuration", ["kueue.x-k8s.io"], ("kueue-system", "kueue-webhook")
    )
    v = gs.check(_kueue(validating_webhooks=[hook]), profile())
    assert (v.status, v.reason) == ("Not Implemented", "WebhookServiceMissing")
    assert "Service/kueue-system/kueue-webhook" in v.message
    ok = gs.check(_kueue(validating_webhooks=[hook], services=[service("kueue-system", "kueue-webhook")]), profile())
    assert ok.status == "Implemented"


def test_volcano_by_podgroup_phase():
    group = {"kind": "PodGroup", "metadata": {"name": "job-a", "namespace": "train"}, "status": {"phase": "Running"}}
    s = snap(
        crds=crds(*VOLCANO_CRDS),
        deployments=[deployment("volcano-system", "vc-volcano-scheduler")],
        custom={"podgroups.scheduling.volcano.sh": [group]},
    )
    v = gs.check(s, profile())
    assert (v.status, v.tier) == ("Implemented", "ControllerStatus")
    assert "Volcano" in v.message and "PodGroup/train/job-a phase: Running" in v.message


def test_volcano_installed_without_work_is_presence_only():
    s = snap(crds=crds(*VOLCANO_CRDS), deployments=[deployment("volcano-system", "volcano-scheduler")])
    v = gs.check(s, profile())
    assert (v.status, v.reason) == ("Partially Implemented", "PresenceOnly")
    assert "schedulerName volcano" in v.message


def test_kai_scheduler_by_bound_pods():
    s = snap(
        crds=crds("podgroups.scheduling.run.ai", "queues.scheduling.run.ai"),
        deployments=[
            _image(deployment("kai-scheduler", "kai-scheduler-default"), "ghcr.io/nvidia/kai-scheduler/scheduler:v0.9")
        ],
        pods=[_scheduled("worker-0", "kai-scheduler")],
    )
    v = gs.check(s, profile())
    assert (v.status, v.tier) == ("Implemented", "ControllerStatus")
    assert "KAI Scheduler" in v.message and "Pod/train/worker-0 bound by kai-scheduler" in v.message


def test_yunikorn_without_crds():
    dep = _image(deployment("yunikorn", "yunikorn-scheduler"), "apache/yunikorn:scheduler-1.6.0")
    quiet = gs.check(snap(deployments=[dep]), profile())
    assert (quiet.status, quiet.reason) == ("Partially Implemented", "PresenceOnly")
    assert "Apache YuniKorn" in quiet.message
    v = gs.check(snap(deployments=[dep], pods=[_scheduled("spark-0", "yunikorn")]), profile())
    assert (v.status, v.tier) == ("Implemented", "ControllerStatus")
    # A pod naming the scheduler but never bound by it is not evidence.
    unbound = _scheduled("spark-1", "yunikorn")
    unbound["status"]["conditions"] = [cond("PodScheduled", "False", "Unschedulable")]
    assert gs.check(snap(deployments=[dep], pods=[unbound]), profile()).reason == "PresenceOnly"


def test_coscheduling_podgroups_and_failure():
    def group(phase):
        return {"kind": "PodGroup", "metadata": {"name": "pg", "namespace": "t"}, "status": {"phase": phase}}

    base = {"crds": crds(COSCHED), "deployments": [deployment("scheduler-plugins", "scheduler-plugins-controller")]}
    v = gs.check(snap(**base, custom={COSCHED: [group("Scheduled")]}), profile())
    assert (v.status, v.tier) == ("Implemented", "ControllerStatus")
    assert "scheduler-plugins coscheduling" in v.message
    failed = gs.check(snap(**base, custom={COSCHED: [group("Failed")]}), profile())
    assert (failed.status, failed.reason) == ("Not Implemented", "ReconcileFailed")
    assert failed.faults == ("PodGroup/t/pg phase: Failed",)


def test_unreadable_source_is_unknown_never_absent():
    v = gs.check(snap(unreadable={"crds": "forbidden: HTTP 403"}), profile())
    assert (v.status, v.reason) == ("Not Implemented", "Unreadable")
    assert "crds: forbidden" in v.message
    stale = _kueue(queues=[_queue(generation=3, observed=2)], unreadable={"pods": "LIST failed: timeout"})
    v = gs.check(stale, profile())
    assert v.reason == "Unreadable" and v.faults  # what it did see is kept
    # What is proven on what could be read stands.
    assert gs.check(_kueue(unreadable={"pods": "LIST failed: timeout"}), profile()).status == "Implemented"
