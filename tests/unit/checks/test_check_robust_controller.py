from checkbuilders import crds, deployment, obj, profile, service, snap, webhook_config

from aiconform.conformance.checks import robust_controller as rc

RAY = ("rayclusters.ray.io", "rayjobs.ray.io")
RC = "rayclusters.ray.io"


def _cluster(name="a", state="ready", generation=1, observed=1):
    status = {"state": state, "observedGeneration": observed} if state is not None else {}
    out = {"kind": "RayCluster", "metadata": {"name": name, "namespace": "ray", "generation": generation}}
    return {**out, "status": status} if status else out


def _ray(clusters=None, **overrides):
    fields = {
        "crds": crds(*RAY),
        "deployments": [deployment("ray-system", "kuberay-operator")],
        "custom": {RC: [_cluster()] if clusters is None else clusters},
    }
    return snap(**{**fields, **overrides})


def test_ready_raycluster_is_implemented_on_controller_status():
    v = rc.check(_ray(), profile())
    assert (v.status, v.reason, v.tier) == ("Implemented", "APIVerified", "ControllerStatus")
    assert "KubeRay" in v.message and "RayCluster/ray/a state: ready" in v.message
    assert "Deployment/ray-system/kuberay-operator 1/1 available" in v.evidence


def test_operator_without_custom_resources_is_presence_only():
    v = rc.check(_ray(clusters=[]), profile())
    assert (v.status, v.reason, v.tier) == ("Partially Implemented", "PresenceOnly", "APIPresence")
    assert "RayCluster in state ready" in v.message


def test_helm_prefixed_or_by_image():
    prefixed = deployment("ray", "my-release-kuberay-operator")
    imaged = deployment("ray", "operator")
    imaged["spec"]["template"] = {"spec": {"containers": [{"name": "o", "image": "quay.io/kuberay/operator:v1.4.2"}]}}
    for dep in (prefixed, imaged):
        v = rc.check(_ray(clusters=[], deployments=[dep]), profile())
        assert v.reason == "PresenceOnly" and f"Deployment/ray/{dep['metadata']['name']} 1/1" in v.message


def test_stale_raycluster_is_not_current():
    v = rc.check(_ray(clusters=[_cluster(generation=3, observed=2)]), profile())
    assert (v.status, v.reason) == ("Partially Implemented", "CRsNotReconciled")
    assert v.faults == ("RayCluster/ray/a status is not current (observedGeneration 2 < generation 3)",)


def test_failed_raycluster_is_not_success():
    v = rc.check(_ray(clusters=[_cluster(state="failed")]), profile())
    assert (v.status, v.reason) == ("Partially Implemented", "ReconcileFailed")
    assert v.faults == ("RayCluster/ray/a state: failed",)


def test_custom_resources_without_status():
    v = rc.check(_ray(clusters=[_cluster(state=None)]), profile())
    assert (v.status, v.reason) == ("Partially Implemented", "CRsNotReconciled")
    assert "RayCluster/ray/a has no status" in v.faults[0]


def test_operator_down_is_partial_and_named():
    v = rc.check(_ray(deployments=[deployment("ray-system", "kuberay-operator", available=0)]), profile())
    assert (v.status, v.reason) == ("Partially Implemented", "ControllerUnavailable")
    assert "ray-system/kuberay-operator 0/1" in v.message


def test_webhook_service_missing():
    hook = webhook_config("trainer-validator", ["trainer.kubeflow.org"], ("kubeflow-system", "trainer-webhook"))
    s = snap(
        crds=crds("trainjobs.trainer.kubeflow.org"),
        deployments=[deployment("kubeflow-system", "kubeflow-trainer-controller-manager")],
        validating_webhooks=[hook],
    )
    v = rc.check(s, profile())
    assert (v.status, v.reason) == ("Partially Implemented", "WebhookServiceMissing")
    assert "Service/kubeflow-system/trainer-webhook" in v.message
    healthy = snap(**{**s.__dict__, "services": (service("kubeflow-system", "trainer-webhook"),)})
    assert rc.check(healthy, profile()).reason == "PresenceOnly"


def test_other_operators_by_their_custom_resources():
    job = obj("TrainJob", "t", "ml", conditions=[{"type": "Created", "status": "True", "observedGeneration": 1}])
    job["metadata"]["generation"] = 1
    trainer = {
        "crds": crds("trainjobs.trainer.kubeflow.org"),
        "deployments": [deployment("kf", "kubeflow-trainer-controller-manager")],
    }
    v = rc.check(snap(**trainer, custom={"trainjobs.trainer.kubeflow.org": [job]}), profile())
    assert (v.status, v.tier) == ("Implemented", "ControllerStatus")
    assert "TrainJob/ml/t status current for its generation" in v.message
    failed = obj("TrainJob", "t", "ml", conditions=[{"type": "Failed", "status": "True", "reason": "BackoffLimit"}])
    v = rc.check(snap(**trainer, custom={"trainjobs.trainer.kubeflow.org": [failed]}), profile())
    assert (v.status, v.reason) == ("Partially Implemented", "ReconcileFailed")
    assert v.faults == ("TrainJob/ml/t Failed=True (BackoffLimit)",)


def test_no_operator():
    v = rc.check(snap(crds=crds("workloads.kueue.x-k8s.io")), profile())
    assert (v.status, v.reason) == ("Not Implemented", "NoAIOperator")


def test_unreadable_crds_is_unknown():
    v = rc.check(snap(unreadable={"crds": "forbidden: HTTP 403"}), profile())
    assert (v.status, v.reason) == ("Not Implemented", "Unreadable")
