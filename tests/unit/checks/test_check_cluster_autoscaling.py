from checkbuilders import cond, crds, deployment, obj, profile, snap

from aiconform.conformance.checks import cluster_autoscaling as ca

NP = "nodepools.karpenter.sh"


def _pool(name="gpu", ready="True", generation=1, observed=1, limits=None):
    conds = [{**cond("Ready", ready), "observedGeneration": observed}]
    pool = obj("NodePool", name, spec={"limits": limits or {"nvidia.com/gpu": "16"}}, conditions=conds)
    pool["metadata"]["generation"] = generation
    return pool


def _karpenter(pools):
    return snap(crds=crds(NP), deployments=[deployment("karpenter", "karpenter")], custom={NP: pools})


def test_cluster_autoscaler_is_presence_only():
    v = ca.check(snap(deployments=[deployment("kube-system", "cluster-autoscaler")]), profile())
    assert (v.status, v.reason, v.tier) == ("Partially Implemented", "PresenceOnly", "APIPresence")
    assert "Cluster Autoscaler" in v.message and "hardware test" in v.message
    assert "Deployment/kube-system/cluster-autoscaler 1/1 available" in v.evidence


def test_cluster_autoscaler_by_image():
    dep = deployment("kube-system", "ca")
    dep["spec"]["template"] = {
        "spec": {"containers": [{"name": "c", "image": "registry.k8s.io/autoscaling/cluster-autoscaler:v1.32.0"}]}
    }
    assert ca.check(snap(deployments=[dep]), profile()).reason == "PresenceOnly"


def test_karpenter_ready_nodepool_needs_hardware_test():
    v = ca.check(_karpenter([_pool()]), profile())
    assert (v.status, v.reason, v.tier) == ("Partially Implemented", "NeedsHardwareTest", "ControllerStatus")
    assert "NodePools for accelerators: gpu" in v.message and "NodePool/gpu Ready=True" in v.message


def test_karpenter_nodepool_stale_or_failed():
    stale = ca.check(_karpenter([_pool(generation=2)]), profile())
    assert (stale.status, stale.reason) == ("Not Implemented", "CRsNotReconciled")
    assert stale.faults == ("NodePool/gpu status is not current (observedGeneration 1 < generation 2)",)
    failed = ca.check(_karpenter([_pool(ready="False")]), profile())
    assert (failed.status, failed.reason) == ("Not Implemented", "ReconcileFailed")


def test_karpenter_without_nodepool_is_presence_only():
    v = ca.check(_karpenter([]), profile())
    assert (v.status, v.reason) == ("Partially Implemented", "PresenceOnly")


def test_autoscaler_unavailable_is_named():
    v = ca.check(snap(deployments=[deployment("kube-system", "cluster-autoscaler", available=0)]), profile())
    assert (v.status, v.reason) == ("Not Implemented", "ControllerUnavailable")
    assert "kube-system/cluster-autoscaler" in v.message


def test_no_autoscaler():
    v = ca.check(snap(), profile())
    assert (v.status, v.reason) == ("Not Implemented", "NoAutoscaler")
    assert "spec.requirements.cluster_autoscaling" in v.message


def test_unreadable_deployments_is_unknown():
    v = ca.check(snap(unreadable={"deployments": "forbidden: HTTP 403"}), profile())
    assert (v.status, v.reason) == ("Not Implemented", "Unreadable")
