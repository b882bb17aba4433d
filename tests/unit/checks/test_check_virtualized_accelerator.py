from checkbuilders import device, device_class, gpu_node, gpu_slice, node, profile, rslice, snap

from aiconform.conformance.checks import virtualized_accelerator as va


def test_bare_metal_is_na():
    v = va.check(snap(nodes=[gpu_node("h-0")], resource_slices=[gpu_slice("h-0")]), profile())
    assert (v.status, v.reason) == ("N/A", "NotApplicable")


def test_vgpu_label():
    v = va.check(snap(nodes=[gpu_node("v-0", labels={"nvidia.com/vgpu.present": "true"})]), profile())
    assert (v.status, v.reason) == ("Implemented", "APIVerified")
    assert "v-0" in v.message and "device plugin only" in v.message


def test_grid_product():
    v = va.check(snap(nodes=[gpu_node("v-0", product="GRID-A100D-40C")]), profile())
    assert v.status == "Implemented"


def test_dra_brand():
    slices = [rslice("v-0", [device("gpu-0", type="gpu", brand="NvidiaVCS")])]
    v = va.check(snap(nodes=[gpu_node("v-0")], resource_slices=slices), profile())
    assert v.status == "Implemented"
    assert "through DRA" in v.message
    assert any("brand=NvidiaVCS" in e for e in v.evidence)


def test_vfio_device_class():
    v = va.check(snap(nodes=[gpu_node("h-0")], device_classes=[device_class("vfio.gpu.nvidia.com")]), profile())
    assert v.status == "Implemented"


def test_no_accelerator_nodes():
    assert va.check(snap(nodes=[node("cpu")]), profile()).status == "N/A"
