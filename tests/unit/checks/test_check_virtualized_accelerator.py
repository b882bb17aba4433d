from checkbuilders import device, device_class, gpu_node, gpu_slice, node, profile, rslice, snap

from aiconform.conformance.checks import virtualized_accelerator as va
from aiconform.conformance.verdict import condition_status

VFIO = "device.driver == 'gpu.nvidia.com' && device.attributes['gpu.nvidia.com'].type == 'vfio'"


def test_bare_metal_is_na():
    v = va.check(snap(nodes=[gpu_node("h-0")], resource_slices=[gpu_slice("h-0")]), profile())
    assert (v.status, v.reason) == ("N/A", "NotApplicable")


def test_vgpu_label():
    v = va.check(snap(nodes=[gpu_node("v-0", labels={"nvidia.com/vgpu.present": "true"})]), profile())
    assert (v.status, v.reason, v.tier) == ("Implemented", "APIVerified", "ControllerStatus")
    assert "v-0" in v.message and "device plugin only" in v.message


def test_vgpu_label_without_devices_is_not_proof():
    labelled = node("v-0", {"nvidia.com/gpu.present": "true", "nvidia.com/vgpu.present": "true"})
    v = va.check(snap(nodes=[labelled]), profile())
    assert (v.status, v.reason) == ("Not Implemented", "VirtualizationNotAdvertised")
    assert v.faults == ("Node/v-0 nvidia.com/vgpu.present=true but advertises no accelerator resource",)


def test_grid_product():
    v = va.check(snap(nodes=[gpu_node("v-0", product="GRID-A100D-40C")]), profile())
    assert v.status == "Implemented"


def test_dra_brand():
    slices = [rslice("v-0", [device("gpu-0", type="gpu", brand="NvidiaVCS")], owned=True)]
    v = va.check(snap(nodes=[gpu_node("v-0")], resource_slices=slices), profile())
    assert (v.status, v.tier) == ("Implemented", "ControllerStatus")
    assert "through DRA" in v.message
    assert any("brand=NvidiaVCS" in e for e in v.evidence)


def test_vfio_device_class_counts_only_with_devices_behind_it():
    vfio = device_class("vfio.gpu.nvidia.com", VFIO)
    v = va.check(snap(nodes=[gpu_node("h-0")], resource_slices=[gpu_slice("h-0")], device_classes=[vfio]), profile())
    assert (v.status, v.reason) == ("N/A", "NotApplicable")
    assert "DeviceClass/vfio.gpu.nvidia.com selects no published device" in v.message
    passthrough = rslice("h-0", [device("gpu-0-vfio", type="vfio")], owned=True)
    v = va.check(snap(nodes=[gpu_node("h-0")], resource_slices=[passthrough], device_classes=[vfio]), profile())
    assert (v.status, v.tier) == ("Implemented", "ControllerStatus")
    assert "through DRA" in v.message


def test_no_accelerator_nodes_cannot_be_evaluated():
    v = va.check(snap(nodes=[node("cpu")]), profile())
    assert (v.status, v.reason, condition_status(v)) == ("Not Implemented", "NoAcceleratorNodes", "Unknown")
