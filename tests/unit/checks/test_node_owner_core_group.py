"""A ResourceSlice counts as published by a DRA kubelet plugin only when its owner is the core v1 Node it names:
a "Node" of another API group (found by the scenario suite: the garbage collector cannot resolve such an owner
and keeps the slice) vouches for nothing."""

from checkbuilders import device, gpu_node, gpu_slice, profile, rslice, snap

from aiconform.conformance.checks import driver_runtime_management as drm
from aiconform.conformance.checks import high_performance_networking as hpn
from aiconform.conformance.facts import published_by_kubelet_plugin


def _owned_by_group(rs, api_version):
    rs["metadata"]["ownerReferences"] = [
        {"apiVersion": api_version, "kind": "Node", "name": rs["spec"]["nodeName"], "uid": "uid-n"}
    ]
    return rs


def test_only_a_core_node_owner_is_a_kubelet_plugin():
    assert published_by_kubelet_plugin(_owned_by_group(gpu_slice("n-0"), "v1"))
    assert not published_by_kubelet_plugin(_owned_by_group(gpu_slice("n-0"), "nodes.example.com/v1"))
    assert not published_by_kubelet_plugin(_owned_by_group(gpu_slice("n-0"), ""))


def test_driver_versions_on_a_foreign_node_owner_are_presence_only():
    nodes = [gpu_node("n-0", driver="550.90.07"), gpu_node("n-1", driver="550.90.07")]
    slices = [gpu_slice("n-0", owned=True), _owned_by_group(gpu_slice("n-1"), "nodes.example.com/v1")]
    v = drm.check(snap(nodes=nodes, resource_slices=slices), profile())
    assert (v.status, v.tier) == ("Implemented", "APIPresence")  # evidence.enforce caps it to PresenceOnly
    assert "n-1" in v.message and "not owned by their Node" in v.message


def test_network_slices_on_a_foreign_node_owner_are_presence_only():
    nic = rslice("n-0", [device("eth1", **{"dra.net/rdma": True})], driver="dra.net")
    v = hpn.check(snap(resource_slices=[_owned_by_group(nic, "nodes.example.com/v1")]), profile())
    assert (v.reason, v.tier) == ("NeedsHardwareTest", "APIPresence")
