from checkbuilders import crds, deployment, obj, profile, service, snap, webhook_config

from aiconform.conformance.checks import robust_controller as rc

RAY = ("rayclusters.ray.io", "rayjobs.ray.io")


def _ray(**overrides):
    fields = {"crds": crds(*RAY), "deployments": [deployment("ray-system", "kuberay-operator")]}
    return snap(**{**fields, **overrides})


def test_kuberay_healthy():
    v = rc.check(_ray(), profile())
    assert (v.status, v.reason) == ("Implemented", "APIVerified")
    assert "KubeRay" in v.message
    assert "Deployment/ray-system/kuberay-operator 1/1 available" in v.evidence


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
    assert rc.check(healthy, profile()).status == "Implemented"


def test_custom_resources_without_status():
    v = rc.check(_ray(custom={"rayclusters.ray.io": [obj("RayCluster", "a", "ray")]}), profile())
    assert (v.status, v.reason) == ("Partially Implemented", "CRsNotReconciled")
    ok = {"kind": "RayCluster", "metadata": {"name": "b", "namespace": "ray"}, "status": {"state": "ready"}}
    assert rc.check(_ray(custom={"rayclusters.ray.io": [ok]}), profile()).status == "Implemented"


def test_no_operator():
    v = rc.check(snap(crds=crds("workloads.kueue.x-k8s.io")), profile())
    assert (v.status, v.reason) == ("Not Implemented", "NoAIOperator")
