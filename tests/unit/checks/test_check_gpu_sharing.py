from checkbuilders import device, device_class, gpu_node, node, profile, rslice, snap

from aiconform.conformance import evidence
from aiconform.conformance.checks import gpu_sharing
from aiconform.conformance.verdict import condition_status


def test_mig_resources_are_implemented():
    mig = gpu_node(
        "a-0",
        allocatable={"nvidia.com/gpu": "4", "nvidia.com/mig-1g.10gb": "28"},
        labels={"nvidia.com/mig.capable": "true"},
    )
    v = gpu_sharing.check(snap(nodes=[mig, gpu_node("h-0")]), profile())
    assert (v.status, v.reason, v.tier) == ("Implemented", "APIVerified", "ControllerStatus")
    assert "a-0" in v.message and "hardware test" in v.message
    assert "Node/a-0 allocatable nvidia.com/mig-1g.10gb=28" in v.evidence


def test_dra_mig_devices_published_by_the_kubelet_plugin():
    slices = [rslice("a-0", [device("mig-0", type="mig", parentUUID="GPU-1")], owned=True)]
    mig_class = device_class("mig.nvidia.com", "device.attributes['gpu.nvidia.com'].type == 'mig'")
    v = gpu_sharing.check(snap(nodes=[gpu_node("a-0")], resource_slices=slices, device_classes=[mig_class]), profile())
    assert (v.status, v.tier) == ("Implemented", "ControllerStatus")
    assert "DRA on a-0" in v.message
    assert "DeviceClass/mig.nvidia.com selects published MIG devices" in v.evidence


def test_dra_sharing_in_slices_nobody_owns_is_presence_only():
    slices = [rslice("a-0", [device("gpu-0", type="gpu", uuid="GPU-1") | {"allowMultipleAllocations": True}])]
    v = gpu_sharing.check(snap(nodes=[gpu_node("a-0")], resource_slices=slices), profile())
    assert (v.status, v.tier) == ("Implemented", "APIPresence")
    assert evidence.enforce(v).reason == "PresenceOnly"


def test_a_network_driver_partition_is_not_gpu_sharing():
    nic = rslice("a-0", [device("vf-0", type="mig")], driver="dra.net")
    v = gpu_sharing.check(snap(nodes=[gpu_node("a-0")], resource_slices=[nic]), profile())
    assert v.reason == "SharingNotConfigured"


def test_allocatable_of_a_node_not_ready_is_stale():
    shared = gpu_node("t-0", gpus=2, allocatable={"nvidia.com/gpu": "8"}, ready=False)
    v = gpu_sharing.check(snap(nodes=[shared]), profile())
    assert (v.status, v.tier) == ("Implemented", "APIPresence")
    assert "(node not Ready)" in " ".join(v.evidence)


def test_time_slicing_oversubscription():
    shared = gpu_node("t-0", gpus=2, allocatable={"nvidia.com/gpu": "8"})
    v = gpu_sharing.check(snap(nodes=[shared]), profile())
    assert v.status == "Implemented"
    assert "time-slicing" in v.message and "t-0" in v.message


def test_sharing_strategy_label_alone_is_not_proof():
    labelled = gpu_node("t-0", labels={"nvidia.com/gpu.sharing-strategy": "mps"})
    v = gpu_sharing.check(snap(nodes=[labelled]), profile())
    assert (v.status, v.reason) == ("Not Implemented", "SharingNotAdvertised")
    assert v.faults == (
        "Node/t-0 labelled nvidia.com/gpu.sharing-strategy=mps but allocatable nvidia.com/gpu=2 is not more than "
        "its 2 GPUs",
    )
    replicated = gpu_node(
        "t-0", allocatable={"nvidia.com/gpu": "8"}, labels={"nvidia.com/gpu.sharing-strategy": "time-slicing"}
    )
    assert gpu_sharing.check(snap(nodes=[replicated]), profile()).status == "Implemented"


def test_renamed_shared_resource_counts():
    shared = gpu_node("t-0", allocatable={"nvidia.com/gpu.shared": "8"})
    v = gpu_sharing.check(snap(nodes=[shared]), profile())
    assert v.status == "Implemented" and "time-slicing/MPS on t-0" in v.message


def test_capable_but_not_configured_names_nodes():
    nodes = [gpu_node("a-0", labels={"nvidia.com/mig.capable": "true"}), gpu_node("h-0")]
    v = gpu_sharing.check(snap(nodes=nodes), profile())
    assert (v.status, v.reason) == ("Not Implemented", "SharingNotConfigured")
    assert "MIG-capable nodes: a-0" in v.message


def test_no_accelerator_nodes_cannot_be_evaluated():
    v = gpu_sharing.check(snap(nodes=[node("cpu")]), profile())
    assert (v.status, v.reason, condition_status(v)) == ("Not Implemented", "NoAcceleratorNodes", "Unknown")


def test_eks_node_outside_the_selector_is_judged():
    eks = node("ip-10-0-0-1", {"k8s.amazonaws.com/accelerator": "nvidia-tesla-a100"}, {"nvidia.com/mig-1g.10gb": "7"})
    v = gpu_sharing.check(snap(nodes=[eks]), profile())
    assert v.status == "Implemented"
    assert "MIG on ip-10-0-0-1" in v.message and "outside spec.accelerators.nodeSelector" in v.message
