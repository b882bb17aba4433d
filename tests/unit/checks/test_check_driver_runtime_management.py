from checkbuilders import daemonset, gpu_node, gpu_slice, node, profile, snap

from aiconform.conformance.checks import driver_runtime_management as drm


def _nodes():
    return [gpu_node("h-0"), gpu_node("h-1"), gpu_node("h-2"), gpu_node("a-0", product="NVIDIA-A100-SXM4-80GB")]


def _slices(**versions):
    return [gpu_slice(n, driver=versions.get(n.replace("-", "_"), "550.90.7")) for n in ("h-0", "h-1", "h-2", "a-0")]


def test_uniform_dra_versions_are_implemented():
    v = drm.check(snap(nodes=_nodes(), resource_slices=_slices()), profile(accelerators={"minDriverVersion": "550.54"}))
    assert (v.status, v.reason) == ("Implemented", "APIVerified")
    assert "nvidia-smi" in v.message
    assert any("driverVersion=550.90.7" in e for e in v.evidence)


def test_skew_on_one_node_of_a_pool_names_it():
    v = drm.check(snap(nodes=_nodes(), resource_slices=_slices(h_2="535.104.5")), profile())
    assert (v.status, v.reason) == ("Not Implemented", "DriverVersionSkew")
    assert "h-2 (535.104.5)" in v.message
    assert "NVIDIA-H100-80GB-HBM3" in v.message
    assert "h-0 (" not in v.message and "a-0" not in v.message


def test_pools_may_differ_from_each_other():
    v = drm.check(snap(nodes=_nodes(), resource_slices=_slices(a_0="535.104.5")), profile())
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


def test_no_accelerator_nodes_is_na():
    v = drm.check(snap(nodes=[node("cpu")]), profile())
    assert (v.status, v.reason) == ("N/A", "NoAcceleratorNodes")


def test_unrecognized_vendor():
    spec = profile(accelerators={"vendor": "amd", "nodeSelector": {"matchLabels": {"amd.com/gpu.present": "true"}}})
    v = drm.check(snap(nodes=[node("m-0", {"amd.com/gpu.present": "true"})]), spec)
    assert (v.status, v.reason) == ("Not Implemented", "UnrecognizedAccelerator")
