from checkbuilders import crds, device, gpu_slice, profile, rslice, snap

from aiconform.conformance.checks import high_performance_networking as hpn

NAD = "network-attachment-definitions.k8s.cni.cncf.io"


def test_network_dra_driver_with_rdma():
    nic = rslice(
        "n-0", [device("eth1", **{"dra.net/rdma": True, "dra.net/pciAddress": "0000:3b:00.0"})], driver="dra.net"
    )
    v = hpn.check(snap(resource_slices=[nic, gpu_slice("n-0")]), profile())
    assert (v.status, v.reason) == ("Partially Implemented", "NeedsHardwareTest")
    assert "dra.net" in v.message and "with RDMA" in v.message
    assert "ResourceSlice/n-0-dra.net" in v.evidence
    assert v.tier == "APIPresence"
    owned = rslice("n-0", [device("eth1", **{"dra.net/rdma": True})], driver="dra.net", owned=True)
    v = hpn.check(snap(resource_slices=[owned]), profile())
    assert (v.reason, v.tier) == ("NeedsHardwareTest", "ControllerStatus")
    assert "rated bandwidth" in v.message


def test_unreadable_slices_are_unknown():
    v = hpn.check(snap(unreadable={"resourceslices.resource.k8s.io": "LIST failed: 500"}), profile())
    assert v.reason == "Unreadable"


def test_multus_only():
    v = hpn.check(snap(crds=crds(NAD), custom={NAD: []}), profile())
    assert (v.status, v.reason) == ("Partially Implemented", "NeedsHardwareTest")
    assert "prefers DRA" in v.message


def test_gpu_slices_do_not_count():
    pci_gpu = rslice("n-0", [device("gpu-0", type="gpu", pcieRoot="pci0000:00")])
    v = hpn.check(snap(resource_slices=[pci_gpu, gpu_slice("n-1")]), profile())
    assert (v.status, v.reason) == ("Not Implemented", "NoHighPerformanceNetwork")
    assert f"spec.requirements.{hpn.ID} N/A" in v.message
