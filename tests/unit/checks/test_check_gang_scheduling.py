from checkbuilders import cond, crds, deployment, obj, profile, service, snap, webhook_config

from aiconform.conformance.checks import gang_scheduling as gs

KUEUE_CRDS = tuple(f"{p}.kueue.x-k8s.io" for p in ("clusterqueues", "localqueues", "resourceflavors", "workloads"))
CQ = "clusterqueues.kueue.x-k8s.io"
KUEUE_ON = {"components": {"kueue": {"enabled": True, "clusterQueue": "gpu"}}}


def _kueue(available=1, queues=None, **extra):
    fields = {
        "crds": crds(*KUEUE_CRDS),
        "deployments": [deployment("kueue-system", "kueue-controller-manager", available=available)],
        "custom": {CQ: queues if queues is not None else [obj("ClusterQueue", "gpu", conditions=[cond("Active")])]},
    }
    return snap(**{**fields, **extra})


def test_kueue_healthy_is_implemented():
    v = gs.check(_kueue(), profile(**KUEUE_ON))
    assert (v.status, v.reason) == ("Implemented", "APIVerified")
    assert "Kueue" in v.message
    assert "CRD clusterqueues.kueue.x-k8s.io Established" in v.evidence
    assert "Deployment/kueue-system/kueue-controller-manager 1/1 available" in v.evidence
    assert "ClusterQueue/gpu Active" in v.evidence


def test_kueue_found_by_label_in_kueue_system():
    dep = deployment("kueue-system", "manager", labels={"control-plane": "controller-manager"})
    assert gs.check(_kueue(deployments=[dep]), profile()).status == "Implemented"


def test_kueue_crds_absent():
    v = gs.check(snap(), profile())
    assert (v.status, v.reason) == ("Not Implemented", "CRDsMissing")
    assert "Kueue" in v.message and "Volcano" in v.message


def test_kueue_crds_partly_present():
    v = gs.check(_kueue(crds=crds(*KUEUE_CRDS[:2])), profile())
    assert (v.status, v.reason) == ("Not Implemented", "CRDsMissing")
    assert "workloads.kueue.x-k8s.io (absent)" in v.message


def test_controller_unavailable_is_named():
    v = gs.check(_kueue(available=0), profile())
    assert (v.status, v.reason) == ("Not Implemented", "ControllerUnavailable")
    assert "Deployment/kueue-system/kueue-controller-manager 0/1 available" in v.message


def test_controller_missing():
    v = gs.check(_kueue(deployments=[]), profile())
    assert v.reason == "ControllerUnavailable"
    assert "no Kueue controller kueue-controller-manager Deployment found" in v.message


def test_our_cluster_queue_missing():
    v = gs.check(_kueue(queues=[]), profile(**KUEUE_ON))
    assert (v.status, v.reason) == ("Not Implemented", "ClusterQueueMissing")
    assert "ClusterQueue/gpu" in v.message


def test_cluster_queue_inactive():
    queue = obj("ClusterQueue", "gpu", conditions=[cond("Active", "False", "FlavorNotFound", "flavor gpu missing")])
    v = gs.check(_kueue(queues=[queue]), profile(**KUEUE_ON))
    assert (v.status, v.reason) == ("Not Implemented", "ClusterQueueInactive")
    assert "FlavorNotFound" in v.message


def test_cluster_queue_ignored_when_kueue_component_disabled():
    assert gs.check(_kueue(queues=[]), profile()).status == "Implemented"


def test_webhook_without_service():
    hook = webhook_config(
        "kueue-validating-webhook-configuration", ["kueue.x-k8s.io"], ("kueue-system", "kueue-webhook")
    )
    v = gs.check(_kueue(validating_webhooks=[hook]), profile())
    assert (v.status, v.reason) == ("Not Implemented", "WebhookServiceMissing")
    assert "Service/kueue-system/kueue-webhook" in v.message
    ok = gs.check(_kueue(validating_webhooks=[hook], services=[service("kueue-system", "kueue-webhook")]), profile())
    assert ok.status == "Implemented"


def test_volcano_is_an_alternative():
    s = snap(
        crds=crds("jobs.batch.volcano.sh", "podgroups.scheduling.volcano.sh"),
        deployments=[deployment("volcano-system", "volcano-scheduler")],
    )
    v = gs.check(s, profile())
    assert v.status == "Implemented" and "Volcano" in v.message
