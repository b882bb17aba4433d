from checkbuilders import daemonset, device, gpu_node, gpu_slice, node, profile, rslice, snap

from aiconform.conformance import evidence
from aiconform.conformance.checks import driver_runtime_management as drm
from aiconform.conformance.verdict import condition_status

NAMES = ("h-0", "h-1", "h-2", "a-0")


def _nodes(**labels):
    """GPU nodes whose GFD driver label is `labels[node]` (550.90.07 by default, agreeing with DRA 550.90.7)."""

    def driver(n):
        return labels.get(n.replace("-", "_"), "550.90.07")

    return [gpu_node(n, driver=driver(n)) for n in NAMES[:3]] + [
        gpu_node("a-0", product="NVIDIA-A100-SXM4-80GB", driver=driver("a-0"))
    ]


def _slices(owned=True, **versions):
    return [gpu_slice(n, driver=versions.get(n.replace("-", "_"), "550.90.7"), owned=owned) for n in NAMES]


def test_uniform_dra_versions_from_kubelet_plugins_are_implemented():
    v = drm.check(snap(nodes=_nodes(), resource_slices=_slices()), profile(accelerators={"minDriverVersion": "550.54"}))
    assert (v.status, v.reason, v.tier) == ("Implemented", "APIVerified", "ControllerStatus")
    assert "nvidia-smi" in v.message and "published by the DRA kubelet plugins" in v.message
    assert any("driverVersion=550.90.7" in e for e in v.evidence)
    assert evidence.enforce(v) == v


def test_slices_no_node_owns_are_presence_only():
    v = drm.check(snap(nodes=_nodes(), resource_slices=_slices(owned=False)), profile())
    assert (v.status, v.tier) == ("Implemented", "APIPresence")
    assert "not owned by their Node" in v.message
    assert evidence.enforce(v).reason == "PresenceOnly"


def test_skew_on_one_node_of_a_pool_names_it():
    v = drm.check(snap(nodes=_nodes(h_2="535.104.05"), resource_slices=_slices(h_2="535.104.5")), profile())
    assert (v.status, v.reason) == ("Not Implemented", "DriverVersionSkew")
    assert "h-2 (535.104.5)" in v.message
    assert "NVIDIA-H100-80GB-HBM3" in v.message
    assert "h-0 (" not in v.message and "a-0" not in v.message
    assert any("h-2 (535.104.5)" in f for f in v.faults)


def test_label_and_dra_disagreeing_on_a_node_is_a_finding():
    v = drm.check(snap(nodes=_nodes(a_0="535.104.05"), resource_slices=_slices()), profile())
    assert (v.status, v.reason) == ("Not Implemented", "DriverSourcesDisagree")
    assert "Node/a-0 label nvidia.com/cuda.driver-version.full=535.104.05 but DRA driverVersion=550.90.7" in v.message
    assert v.faults == ("Node/a-0 label nvidia.com/cuda.driver-version.full=535.104.05 but DRA driverVersion=550.90.7",)
    # a skew in DRA only is both: the skew leads, the disagreement is named too
    both = drm.check(snap(nodes=_nodes(), resource_slices=_slices(h_2="535.104.5")), profile())
    assert both.reason == "DriverVersionSkew" and "Node/h-2 label" in both.message


def test_a_network_driver_gives_no_driver_version():
    nic = rslice(
        "h-0", [device("eth1", driverVersion=("version", "5.15.0"), **{"dra.net/rdma": True})], driver="dra.net"
    )
    nodes = [gpu_node("h-0", driver=None)]
    v = drm.check(snap(nodes=nodes, resource_slices=[nic]), profile())
    assert (v.status, v.reason) == ("Not Implemented", "DriverVersionUnknown")


def test_pools_may_differ_from_each_other():
    v = drm.check(snap(nodes=_nodes(a_0="535.104.05"), resource_slices=_slices(a_0="535.104.5")), profile())
    assert v.status == "Implemented"


def test_below_minimum_is_compared_numerically():
    # "550.9" < "550.54" numerically, though not as strings.
    v = drm.check(
        snap(nodes=_nodes(), resource_slices=_slices(a_0="550.9.1")),
        profile(accelerators={"minDriverVersion": "550.54"}),
    )
    assert (v.status, v.reason) == ("Not Implemented", "DriverBelowMinimum")
    assert "a-0 (550.9.1)" in v.message and "h-0" not in v.message


def test_leading_zero_equals_dra_semver():
    nodes = [gpu_node("h-0", driver="550.90.07"), gpu_node("h-1", driver="550.90.07")]
    v = drm.check(snap(nodes=nodes, resource_slices=[gpu_slice("h-0", driver="550.90.7")]), profile())
    # h-1 has labels only: versions agree numerically, so the only finding is the missing DRA mechanism.
    assert (v.status, v.reason) == ("Partially Implemented", "DriverVersionNotInDRA")
    assert "h-1" in v.message


def test_no_version_info():
    v = drm.check(snap(nodes=[gpu_node("h-0", driver=None)]), profile())
    assert (v.status, v.reason) == ("Not Implemented", "DriverVersionUnknown")
    assert "h-0" in v.message


def test_driver_daemonset_not_ready():
    ds = daemonset("gpu-operator", "nvidia-driver-daemonset-5.15.0", ready=3, desired=4)
    v = drm.check(snap(nodes=_nodes(), resource_slices=_slices(), daemonsets=[ds]), profile())
    assert (v.status, v.reason) == ("Not Implemented", "DriverDaemonSetNotReady")
    assert "gpu-operator/nvidia-driver-daemonset-5.15.0 3/4 ready" in v.message


def test_no_accelerator_nodes_cannot_be_evaluated():
    v = drm.check(snap(nodes=[node("cpu")]), profile())
    assert (v.status, v.reason) == ("Not Implemented", "NoAcceleratorNodes")
    assert condition_status(v) == "Unknown"


def test_unreadable_daemonsets_are_unknown():
    v = drm.check(
        snap(nodes=_nodes(), resource_slices=_slices(), unreadable={"daemonsets.apps": "LIST failed"}), profile()
    )
    assert (v.reason, condition_status(v)) == ("Unreadable", "Unknown")


def test_unrecognized_vendor():
    spec = profile(accelerators={"vendor": "amd", "nodeSelector": {"matchLabels": {"amd.com/gpu.present": "true"}}})
    v = drm.check(snap(nodes=[node("m-0", {"amd.com/gpu.present": "true"})]), spec)
    assert (v.status, v.reason) == ("Not Implemented", "UnrecognizedAccelerator")
