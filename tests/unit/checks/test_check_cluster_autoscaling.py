from checkbuilders import crds, deployment, obj, profile, snap

from aiconform.conformance.checks import cluster_autoscaling as ca


def test_cluster_autoscaler_needs_hardware_test():
    v = ca.check(snap(deployments=[deployment("kube-system", "cluster-autoscaler")]), profile())
    assert (v.status, v.reason) == ("Partially Implemented", "NeedsHardwareTest")
    assert "Cluster Autoscaler" in v.message and "hardware test" in v.message
    assert "Deployment/kube-system/cluster-autoscaler 1/1 available" in v.evidence


def test_karpenter_with_gpu_nodepool():
    pool = obj("NodePool", "gpu", spec={"limits": {"nvidia.com/gpu": "16"}})
    s = snap(
        crds=crds("nodepools.karpenter.sh"),
        deployments=[deployment("karpenter", "karpenter")],
        custom={"nodepools.karpenter.sh": [pool]},
    )
    v = ca.check(s, profile())
    assert v.reason == "NeedsHardwareTest"
    assert "NodePools for accelerators: gpu" in v.message


def test_autoscaler_unavailable_is_named():
    v = ca.check(snap(deployments=[deployment("kube-system", "cluster-autoscaler", available=0)]), profile())
    assert (v.status, v.reason) == ("Not Implemented", "ControllerUnavailable")
    assert "kube-system/cluster-autoscaler" in v.message


def test_no_autoscaler():
    v = ca.check(snap(), profile())
    assert (v.status, v.reason) == ("Not Implemented", "NoAutoscaler")
    assert "spec.requirements.cluster_autoscaling" in v.message
