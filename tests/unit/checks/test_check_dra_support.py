from checkbuilders import (
    DRA_SERVED,
    device,
    device_class,
    gpu_devices,
    gpu_node,
    gpu_slice,
    node,
    profile,
    rslice,
    snap,
)

from aiconform.conformance import evidence
from aiconform.conformance.checks import dra_support
from aiconform.conformance.evaluate import evaluate
from aiconform.conformance.verdict import condition_status

TYPED_GPU = "device.driver == 'gpu.nvidia.com' && device.attributes['gpu.nvidia.com'].type == 'gpu'"


def _cluster(**overrides):
    fields = {
        "api_resources": DRA_SERVED,
        "device_classes": [device_class("gpu.nvidia.com")],
        "nodes": [gpu_node("gpu-a"), gpu_node("gpu-b"), node("cpu-a")],
        "resource_slices": [gpu_slice("gpu-a"), gpu_slice("gpu-b")],
    }
    return snap(**{**fields, **overrides})


def test_all_nodes_with_slices_is_presence_only_until_a_probe_allocates():
    v = dra_support.check(_cluster(), profile())
    assert (v.status, v.reason, v.tier) == ("Implemented", "APIVerified", "APIPresence")
    assert "ResourceSlice/gpu-b-gpu.nvidia.com (gpu.nvidia.com)" in v.evidence
    assert "DeviceClass/gpu.nvidia.com selects 4 published devices" in v.evidence
    assert "a probe allocating a ResourceClaim" in v.message
    enforced = evidence.enforce(v)
    assert (enforced.status, enforced.reason) == ("Partially Implemented", "PresenceOnly")
    assert condition_status(enforced) == "Unknown"


def test_through_evaluate_dra_support_is_never_implemented_on_presence():
    assert dra_support.check(_cluster(), profile()).status == "Implemented"
    v = evaluate(_cluster(), profile(), "v1.35").verdict("dra_support")
    assert v is not None and (v.status, v.reason) == ("Partially Implemented", "PresenceOnly")


def test_network_driver_slices_do_not_count():
    nic = rslice("gpu-b", [device("eth1", **{"dra.net/rdma": True})], driver="dra.net")
    v = dra_support.check(_cluster(resource_slices=[gpu_slice("gpu-a"), nic]), profile())
    assert (v.status, v.reason) == ("Not Implemented", "ResourceSlicesMissing")
    assert "gpu-b (only dra.net)" in v.message


def test_device_class_must_select_published_devices():
    for_amd = device_class("gpu.amd.com", "device.driver == 'gpu.amd.com'")
    v = dra_support.check(_cluster(device_classes=[for_amd]), profile())
    assert (v.status, v.reason) == ("Not Implemented", "NoDeviceClass")
    assert "gpu.amd.com (selects no published accelerator device)" in v.message
    mig_only = device_class("mig.nvidia.com", TYPED_GPU.replace("'gpu'", "'mig'"))
    assert dra_support.check(_cluster(device_classes=[mig_only]), profile()).reason == "NoDeviceClass"
    typed = device_class("gpu.nvidia.com", TYPED_GPU)
    v = dra_support.check(_cluster(device_classes=[typed, mig_only]), profile())
    assert v.status == "Implemented"
    assert "DeviceClass/gpu.nvidia.com selects 4 published devices" in v.evidence


def test_a_class_selecting_only_a_nic_does_not_count():
    nic = rslice("gpu-a", [device("eth1", **{"dra.net/rdma": True})], driver="dra.net")
    dranet = device_class("dranet", 'device.driver == "dra.net"')
    v = dra_support.check(
        _cluster(device_classes=[dranet], resource_slices=[gpu_slice("gpu-a"), gpu_slice("gpu-b"), nic]), profile()
    )
    assert v.reason == "NoDeviceClass"


def test_slices_by_node_selector_and_all_nodes_are_recognised():
    by_selector = rslice(
        None,
        gpu_devices("gpu-a"),
        name="rack-1",
        node_selector={
            "nodeSelectorTerms": [{"matchExpressions": [{"key": "rack", "operator": "In", "values": ["1"]}]}]
        },
    )
    shared = rslice(None, gpu_devices("pool"), name="fabric", all_nodes=True)
    nodes = [gpu_node("gpu-a", labels={"rack": "1"}), gpu_node("gpu-b"), node("cpu-a")]
    assert (
        dra_support.check(_cluster(nodes=nodes, resource_slices=[by_selector, gpu_slice("gpu-b")]), profile()).status
        == "Implemented"
    )
    assert dra_support.check(_cluster(nodes=nodes, resource_slices=[shared]), profile()).status == "Implemented"
    v = dra_support.check(_cluster(nodes=nodes, resource_slices=[by_selector]), profile())
    assert v.reason == "ResourceSlicesMissing" and "gpu-b" in v.message and "gpu-a" not in v.message


def test_no_accelerator_node_cannot_be_evaluated():
    v = dra_support.check(_cluster(nodes=[node("cpu-a")], resource_slices=[]), profile())
    assert (v.status, v.reason) == ("Not Implemented", "NoAcceleratorNodes")
    assert condition_status(v) == "Unknown"
    assert "N/A with notes" in v.message


def test_accelerator_nodes_outside_the_selector_are_judged_and_named():
    gke = node("gke-l4-0", {"cloud.google.com/gke-accelerator": "nvidia-l4"}, {"nvidia.com/gpu": "1"})
    v = dra_support.check(_cluster(nodes=[gpu_node("gpu-a"), gpu_node("gpu-b"), gke]), profile())
    assert v.reason == "ResourceSlicesMissing"
    assert "gke-l4-0" in v.message and "outside spec.accelerators.nodeSelector" in v.message


def test_unreadable_slices_are_unknown_not_missing():
    v = dra_support.check(_cluster(unreadable={"resourceslices.resource.k8s.io": "forbidden: HTTP 403"}), profile())
    assert (v.status, v.reason) == ("Not Implemented", "Unreadable")
    assert condition_status(v) == "Unknown"


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
    # The selector adds the nodes it selects; a node with GPUs it misses is still judged, and named.
    spec = profile(accelerators={"nodeSelector": {"matchLabels": {"pool": "gpu"}}})
    nodes = [node("n1", {"pool": "gpu"}), gpu_node("other"), node("cpu")]
    v = dra_support.check(_cluster(nodes=nodes, resource_slices=[gpu_slice("other")]), spec)
    assert v.reason == "ResourceSlicesMissing"
    assert "accelerator node without a ResourceSlice of an accelerator DRA driver listing devices: n1" in v.message
    assert "outside spec.accelerators.nodeSelector: 1 accelerator node (other)" in v.message
    assert "cpu" not in v.message
