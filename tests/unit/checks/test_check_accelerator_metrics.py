from checkbuilders import FB_USED, UTIL, daemonset, gpu_node, gpu_slice, gpu_uuid, node, pod, profile, scrape, snap

from aiconform.conformance import evidence
from aiconform.conformance.checks import accelerator_metrics as am
from aiconform.conformance.verdict import condition_status

NODES = ("h-0", "h-1")
DS = daemonset("aiconform-dcgm", "dcgm-exporter", ready=2, desired=2)


def _exporter(node_name, i):
    return pod(
        "aiconform-dcgm", f"dcgm-exporter-{i}", node=node_name, owner=("DaemonSet", "dcgm-exporter"), ip=f"10.1.0.{i}"
    )


def _scrape(i, node_name, **kw):
    uuids = kw.pop("uuids", [gpu_uuid(node_name, g) for g in range(2)])
    return scrape(node_name, uuids, target=f"10.1.0.{i}:9400/metrics", **kw)


def _cluster(**overrides):
    fields = {
        "nodes": [gpu_node(n) for n in NODES] + [node("cpu-0")],
        "resource_slices": [gpu_slice(n) for n in NODES],
        "daemonsets": [DS],
        "pods": [_exporter(n, i) for i, n in enumerate(NODES)],
        "scrapes": [_scrape(i, n) for i, n in enumerate(NODES)],
    }
    return snap(**{**fields, **overrides})


def test_every_gpu_has_metrics():
    v = am.check(_cluster(), profile())
    assert (v.status, v.reason, v.tier) == ("Implemented", "APIVerified", "Observed")
    assert evidence.enforce(v) == v  # a scrape is a behaviour observed
    assert "DaemonSet/aiconform-dcgm/dcgm-exporter" in v.evidence
    assert any(e.startswith("scrape 10.1.0.1:9400/metrics (h-1)") for e in v.evidence)
    assert "optional metrics not exposed" in v.message  # no temperature/power samples here


def test_metric_missing_for_one_gpu_names_node_metric_and_gpu():
    partial = _scrape(1, "h-1", uuids=[gpu_uuid("h-1", 0)], metrics=(UTIL,))
    full = scrape("h-1", [gpu_uuid("h-1", 0), gpu_uuid("h-1", 1)], metrics=(FB_USED,), target="10.1.0.1:9400/metrics")
    v = am.check(_cluster(scrapes=[_scrape(0, "h-0"), partial, full]), profile())
    assert (v.status, v.reason) == ("Not Implemented", "MetricsMissing")
    assert f"h-1: {UTIL} missing for 1 of 2 GPUs ({gpu_uuid('h-1', 1)})" in v.message
    assert "h-0" not in v.message and FB_USED not in v.message


def test_exporter_not_on_every_node():
    v = am.check(_cluster(pods=[_exporter("h-0", 0)]), profile())
    assert (v.status, v.reason) == ("Not Implemented", "ExporterNotOnAllNodes")
    assert "h-1" in v.message


def test_scrape_failed_names_target_and_error():
    failed = scrape("h-1", [], ok=False, error="HTTP 500", target="10.1.0.1:9400/metrics")
    v = am.check(_cluster(scrapes=[_scrape(0, "h-0"), failed]), profile())
    assert (v.status, v.reason) == ("Not Implemented", "ScrapeFailed")
    assert "10.1.0.1:9400/metrics: HTTP 500" in v.message and "h-1" in v.message


def test_unreachable_exporters_are_unknown_never_not_implemented():
    # `aiconform check` from a laptop: pod IPs do not route, every scrape fails to connect.
    errors = ("ClientConnectorError: Cannot connect to host 10.1.0.0:9400", "TimeoutError")
    scrapes = [scrape(n, [], ok=False, error=errors[i], target=f"10.1.0.{i}:9400/metrics") for i, n in enumerate(NODES)]
    v = am.check(_cluster(scrapes=scrapes), profile())
    assert (v.status, v.reason, condition_status(v)) == ("Partially Implemented", "MetricsNotScraped", "Unknown")
    assert "could not be reached" in v.message and "h-0" in v.message and "h-1" in v.message


def test_not_scraped_is_unknown():
    v = am.check(_cluster(scrapes=[]), profile())
    assert (v.status, v.reason, condition_status(v)) == ("Partially Implemented", "MetricsNotScraped", "Unknown")
    assert v.tier == "APIPresence"


def test_gpu_count_label_without_dra():
    scrapes = [scrape(n, ["x", "y"], target=f"10.1.0.{i}:9400/metrics") for i, n in enumerate(NODES)]
    # samples carry gpu="0" and gpu="1"; the nodes have nvidia.com/gpu.count=2
    v = am.check(_cluster(resource_slices=[], scrapes=scrapes), profile())
    assert v.status == "Implemented"


def test_no_exporter():
    v = am.check(_cluster(daemonsets=[], pods=[]), profile())
    assert (v.status, v.reason) == ("Not Implemented", "ExporterMissing")


def test_no_accelerator_nodes_is_not_na_for_a_must():
    v = am.check(snap(nodes=[node("cpu-0")]), profile())
    assert (v.status, v.reason) == ("Not Implemented", "NoAcceleratorNodes")
    assert condition_status(v) == "Unknown"
    assert "N/A" in v.message


def test_gpu_nodes_without_the_gfd_label_are_found_by_their_resources():
    aks = node("aks-gpu-0", {"kubernetes.azure.com/accelerator": "nvidia"}, {"nvidia.com/gpu": "1"})
    v = am.check(_cluster(nodes=[*[gpu_node(n) for n in NODES], aks]), profile())
    assert (v.status, v.reason) == ("Not Implemented", "ExporterNotOnAllNodes")
    assert "aks-gpu-0" in v.message and "outside spec.accelerators.nodeSelector" in v.message


def test_unreadable_pods_are_unknown():
    v = am.check(_cluster(unreadable={"pods": "forbidden"}), profile())
    assert (v.reason, condition_status(v)) == ("Unreadable", "Unknown")
