"""Pure parts of the dev cluster: fleet builders, go.mod parsing, version stamping, REST paths."""

from __future__ import annotations

import pytest

from aiconform.devtools.devcluster import build, fleet, upstream
from aiconform.devtools.devcluster.errors import DevClusterError
from aiconform.kube.client import path_for

GOMOD = """module k8s.io/kubernetes

go 1.26.0

godebug default=go1.26

require (
\tk8s.io/api v0.0.0
)

replace (
\tk8s.io/api => ./staging/src/k8s.io/api
\tk8s.io/cri-streaming => ./staging/src/k8s.io/cri-streaming
\tgithub.com/foo/bar => github.com/foo/bar v1.2.3
)
"""


def test_staging_modules_come_from_the_upstream_gomod() -> None:
    assert build.staging_modules(GOMOD) == ["k8s.io/api", "k8s.io/cri-streaming"]


def test_godebug_line_is_kept() -> None:
    assert build.godebug_default(GOMOD) == "go1.26"
    assert build.godebug_default("module x\n") is None


def test_version_ldflags_stamp_git_version() -> None:
    flags = build.version_ldflags("1.37.2")
    assert "-X k8s.io/component-base/version.gitVersion=v1.37.2" in flags
    assert "gitMinor=37" in flags


def test_semver_drops_leading_zeros() -> None:
    assert fleet.semver("550.90.07") == "550.90.7"
    assert fleet.semver("12.4") == "12.4.0"


def test_gpu_node_has_gfd_labels_capacity_and_taint() -> None:
    pool = fleet.default_pools(1, 0, 0)[0]
    node = fleet.node_object(pool, 0)
    labels = node["metadata"]["labels"]
    assert labels["nvidia.com/gpu.present"] == "true"
    assert labels["nvidia.com/gpu.count"] == "8"
    assert labels["nvidia.com/cuda.driver-version.full"] == "550.90.07"
    assert node["status"]["capacity"]["nvidia.com/gpu"] == "8"
    assert node["metadata"]["annotations"] == {"kwok.x-k8s.io/node": "fake"}
    assert node["spec"]["taints"][0]["key"] == "nvidia.com/gpu"


def test_mig_pool_splits_gpus() -> None:
    pool = fleet.default_pools(0, 1, 0)[1]
    node = fleet.node_object(pool, 0)
    assert node["status"]["capacity"]["nvidia.com/gpu"] == "4"
    assert node["status"]["capacity"]["nvidia.com/mig-1g.10gb"] == "28"
    rs = fleet.resource_slice(pool, 0)
    assert rs is not None
    kinds = [d["attributes"]["type"]["string"] for d in rs["spec"]["devices"]]
    assert kinds.count("gpu") == 4 and kinds.count("mig") == 28
    names = [d["name"] for d in rs["spec"]["devices"]]
    assert len(names) == len(set(names))


def test_slice_is_per_node_with_dra_attributes() -> None:
    pool = fleet.default_pools(1, 0, 0)[0]
    rs = fleet.resource_slice(pool, 3)
    assert rs is not None
    spec = rs["spec"]
    assert spec["nodeName"] == "kwok-h100-0003"
    assert spec["driver"] == "gpu.nvidia.com"
    assert spec["pool"] == {"name": "kwok-h100-0003", "generation": 1, "resourceSliceCount": 1}
    dev = spec["devices"][0]
    assert dev["attributes"]["driverVersion"] == {"version": "550.90.7"}
    assert dev["attributes"]["uuid"]["string"].startswith("GPU-")
    # UUIDs are stable across runs (re-applying the fleet changes nothing) and unique across nodes.
    assert fleet.gpu_uuid("kwok-h100-0003", 0) == dev["attributes"]["uuid"]["string"]
    assert fleet.gpu_uuid("kwok-h100-0004", 0) != dev["attributes"]["uuid"]["string"]


def test_cpu_nodes_have_no_slice_and_no_gpu() -> None:
    pool = fleet.default_pools(0, 0, 1)[2]
    assert fleet.resource_slice(pool, 0) is None
    assert "nvidia.com/gpu" not in fleet.node_object(pool, 0)["status"]["capacity"]


def test_fleet_size_is_a_parameter() -> None:
    nodes, slices = fleet.fleet_objects(fleet.default_pools(1000, 500, 500))
    assert len(nodes) == 2000 and len(slices) == 1500
    assert len({n["metadata"]["name"] for n in nodes}) == 2000


def test_rest_paths() -> None:
    assert path_for({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n"}}) == "/api/v1/nodes/n"
    assert (
        path_for({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d", "namespace": "x"}})
        == "/apis/apps/v1/namespaces/x/deployments/d"
    )
    with pytest.raises(ValueError, match="not in aiconform's kinds registry"):
        path_for({"apiVersion": "v9", "kind": "Nope", "metadata": {"name": "n"}})


def test_unknown_crd_set_is_a_clear_error() -> None:
    assert upstream.parse_sets("kueue, keda") == ["kueue", "keda"]
    assert upstream.parse_sets("all") == list(upstream.CRD_SETS)
    with pytest.raises(DevClusterError, match="unknown set"):
        upstream.parse_sets("kueue,volcano")
