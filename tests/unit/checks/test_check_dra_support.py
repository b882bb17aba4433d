from checkbuilders import DRA_SERVED, device_class, gpu_node, gpu_slice, node, profile, rslice, snap

from aiconform.conformance.checks import dra_support
from aiconform.conformance.verdict import condition_status


def _cluster(**overrides):
    fields = {
        "api_resources": DRA_SERVED,
        "device_classes": [device_class("gpu.nvidia.com")],
        "nodes": [gpu_node("gpu-a"), gpu_node("gpu-b"), node("cpu-a")],
        "resource_slices": [gpu_slice("gpu-a"), gpu_slice("gpu-b")],
    }
    return snap(**{**fields, **overrides})


def test_all_nodes_with_slices_is_implemented():
    v = dra_support.check(_cluster(), profile())
    assert (v.status, v.reason) == ("Implemented", "APIVerified")
    assert "ResourceSlice/gpu-b-gpu.nvidia.com" in v.evidence
    assert "DeviceClass/gpu.nvidia.com" in v.evidence


def test_node_whose_slices_were_removed_is_named():
    v = dra_support.check(_cluster(resource_slices=[gpu_slice("gpu-a")]), profile())
    assert (v.status, v.reason) == ("Not Implemented", "ResourceSlicesMissing")
    assert "gpu-b" in v.message and "gpu-a" not in v.message


def test_slice_without_devices_does_not_count():
    v = dra_support.check(_cluster(resource_slices=[gpu_slice("gpu-a"), rslice("gpu-b", [])]), profile())
    assert v.reason == "ResourceSlicesMissing"
    assert "gpu-b" in v.message


def test_api_not_served():
    v = dra_support.check(_cluster(api_resources=frozenset({"v1/pods"})), profile())
    assert (v.status, v.reason) == ("Not Implemented", "DRAAPINotServed")
    assert "resourceclaimtemplates" in v.message


def test_no_discovery_data_is_unknown_not_a_failure():
    v = dra_support.check(_cluster(api_resources=frozenset()), profile())
    assert (v.status, v.reason) == ("Not Implemented", "DiscoveryUnavailable")
    assert condition_status(v) == "Unknown"


def test_beta_only_is_partial():
    beta = frozenset(r.replace("/v1/", "/v1beta1/") for r in DRA_SERVED)
    v = dra_support.check(_cluster(api_resources=beta), profile())
    assert (v.status, v.reason) == ("Partially Implemented", "DRABetaAPIOnly")


def test_no_device_class():
    v = dra_support.check(_cluster(device_classes=[]), profile())
    assert (v.status, v.reason) == ("Not Implemented", "NoDeviceClass")


def test_many_missing_nodes_are_capped():
    nodes = [gpu_node(f"gpu-{i:02d}") for i in range(15)]
    v = dra_support.check(_cluster(nodes=nodes, resource_slices=[]), profile())
    assert "gpu-00" in v.message and "gpu-09" in v.message
    assert "gpu-10" not in v.message and "and 5 more" in v.message
    assert "15 accelerator nodes" in v.message


def test_custom_node_selector():
    spec = profile(accelerators={"nodeSelector": {"matchLabels": {"pool": "gpu"}}})
    nodes = [node("n1", {"pool": "gpu"}), gpu_node("other")]
    v = dra_support.check(_cluster(nodes=nodes, resource_slices=[]), spec)
    assert v.reason == "ResourceSlicesMissing"
    assert "n1" in v.message and "other" not in v.message
