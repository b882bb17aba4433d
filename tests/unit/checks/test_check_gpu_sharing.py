from checkbuilders import device, device_class, gpu_node, node, profile, rslice, snap

from aiconform.conformance.checks import gpu_sharing


def test_mig_resources_are_implemented():
    mig = gpu_node(
        "a-0",
        allocatable={"nvidia.com/gpu": "4", "nvidia.com/mig-1g.10gb": "28"},
        labels={"nvidia.com/mig.capable": "true"},
    )
    v = gpu_sharing.check(snap(nodes=[mig, gpu_node("h-0")]), profile())
    assert (v.status, v.reason) == ("Implemented", "APIVerified")
    assert "a-0" in v.message and "hardware test" in v.message
    assert "Node/a-0 allocatable nvidia.com/mig-1g.10gb=28" in v.evidence


def test_dra_mig_devices():
    slices = [rslice("a-0", [device("mig-0", type="mig", parentUUID="GPU-1")])]
    v = gpu_sharing.check(
        snap(nodes=[gpu_node("a-0")], resource_slices=slices, device_classes=[device_class("mig.nvidia.com")]),
        profile(),
    )
    assert v.status == "Implemented"
    assert "DeviceClass/mig.nvidia.com" in v.evidence


def test_time_slicing_oversubscription():
    shared = gpu_node("t-0", gpus=2, allocatable={"nvidia.com/gpu": "8"})
    v = gpu_sharing.check(snap(nodes=[shared]), profile())
    assert v.status == "Implemented"
    assert "time-slicing" in v.message and "t-0" in v.message


def test_sharing_strategy_label():
    v = gpu_sharing.check(snap(nodes=[gpu_node("t-0", labels={"nvidia.com/gpu.sharing-strategy": "mps"})]), profile())
    assert v.status == "Implemented"


def test_capable_but_not_configured_names_nodes():
    nodes = [gpu_node("a-0", labels={"nvidia.com/mig.capable": "true"}), gpu_node("h-0")]
    v = gpu_sharing.check(snap(nodes=nodes), profile())
    assert (v.status, v.reason) == ("Not Implemented", "SharingNotConfigured")
    assert "MIG-capable nodes: a-0" in v.message


def test_no_accelerator_nodes_is_na():
    v = gpu_sharing.check(snap(nodes=[node("cpu")]), profile())
    assert v.status == "N/A"
