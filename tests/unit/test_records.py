"""Records (kube/records.py): read-only maps with shared key layouts, as the view holds a ResourceSlice's devices.
They must read exactly like the dicts they replace, through every Mapping operation the readers use."""

from __future__ import annotations

import copy
import json
import tracemalloc
from typing import Any

import pytest

from aiconform.components._common import _plain
from aiconform.conformance.facts import attribute_names, cel_selects, device_attr, devices
from aiconform.kube.records import Layouts, Record, json_default, thawed
from aiconform.kube.sources import BY_KEY
from aiconform.kube.view import ClusterView, compact, trim

SLICES = BY_KEY["resourceslices.resource.k8s.io"]


def _slice(node: str = "n1", gpus: int = 8) -> dict[str, Any]:
    return {
        "apiVersion": "resource.k8s.io/v1",
        "kind": "ResourceSlice",
        "metadata": {"name": f"{node}-gpu.nvidia.com", "uid": f"uid-{node}", "labels": {"a": "b"}, "x": {"y": 1}},
        "spec": {
            "driver": "gpu.nvidia.com",
            "nodeName": node,
            "pool": {"name": node, "generation": 1, "resourceSliceCount": 1},
            "devices": [
                {
                    "name": f"gpu-{i}",
                    "attributes": {
                        "productName": {"string": "NVIDIA H100"},
                        "type": {"string": "gpu"},
                        "index": {"int": i},
                        "uuid": {"string": f"GPU-{node}-{i:04d}-0000-0000-000000000000"},
                        "gpu.nvidia.com/driverVersion": {"version": "550.90.7"},
                        "shared": {"bool": True},
                    },
                    "capacity": {"memory": {"value": "80Gi"}},
                }
                for i in range(gpus)
            ],
        },
    }


def test_a_record_reads_like_the_dict_it_holds() -> None:
    plain = {"a": 1, "b": {"c": [1, 2]}, "d": None}
    record = Layouts().record(plain)
    assert record == plain and plain == record
    assert not record.__ne__(plain)  # != itself, not its reflection
    assert record["a"] == 1 and record.get("b") == {"c": [1, 2]} and record.get("d", 5) is None
    assert record.get("x") is None and record.get("x", 7) == 7 and "d" in record and "x" not in record
    assert list(record) == ["a", "b", "d"] and len(record) == 3
    assert dict(record.items()) == plain and list(record.values()) == [1, {"c": [1, 2]}, None]
    assert {**record} == plain and dict(record) == plain and repr(record) == repr(plain)
    with pytest.raises(KeyError):
        record["x"]
    with pytest.raises(TypeError):
        hash(record)
    assert record != {"a": 1, "b": {"c": [1, 2]}} and record != {"a": 1, "b": {"c": [1, 2]}, "d": 0}
    assert record != [("a", 1)] and record != Layouts().record({"a": 1, "b": {"c": [1, 2]}, "e": None})


def test_thawed_is_a_mutable_deep_copy_with_dicts_for_records() -> None:
    held = trim(_slice(), SLICES.trim, Layouts())
    copy_ = thawed(held)
    assert copy_ == held and type(copy_["spec"]) is dict and type(copy_["spec"]["devices"][0]["attributes"]) is dict
    copy_["spec"]["devices"][0]["attributes"]["index"] = {"int": 9}
    assert device_attr(devices(held)[0], "index") == 0  # the view's object is unchanged


def test_records_with_the_same_keys_share_one_layout_and_the_limit_bounds_them() -> None:
    layouts = Layouts(limit=2)
    one, two = layouts.record({"a": 1, "b": 2}), layouts.record({"a": 3, "b": 4})
    assert one._layout is two._layout and one != two and one == layouts.record({"a": 1, "b": 2})
    layouts.record({"x": 1})
    past = layouts.record({"y": 1}), layouts.record({"y": 1})
    assert len(layouts) == 2 and past[0] == past[1] == {"y": 1} and past[0]._layout is not past[1]._layout


def test_compact_into_records_keeps_json_types_apart_and_shares_equal_maps() -> None:
    out = compact([{"v": 1}, {"v": True}, {"v": 1.0}, {"v": 1}], {}, Layouts())
    assert [type(r["v"]) for r in out] == [int, bool, float, int]
    assert out[0] is out[3] and all(isinstance(r, Record) for r in out)


def test_the_view_holds_maps_as_records_but_metadata_and_labels_equal_to_what_was_sent() -> None:
    body = _slice()
    sent = copy.deepcopy(body)
    view = ClusterView()
    view.apply_event(SLICES.key, "ADDED", body)
    assert body == sent  # the event's body is not changed
    (held,) = view.objects(SLICES.key)
    assert held == trim(sent, SLICES.trim) and type(held) is dict
    device = held["spec"]["devices"][0]
    assert all(isinstance(m, Record) for m in (held["spec"], device, device["attributes"], held["metadata"]["x"]))
    assert type(held["metadata"]) is dict and type(held["metadata"]["labels"]) is dict  # read by every check
    generation = view.generation
    view.apply_event(SLICES.key, "MODIFIED", copy.deepcopy(sent))
    assert view.generation == generation  # the same object again is no change
    changed = copy.deepcopy(sent)
    changed["spec"]["devices"][3]["attributes"]["index"] = {"int": 30}
    view.apply_event(SLICES.key, "MODIFIED", changed)
    assert view.generation == generation + 1 and view.objects(SLICES.key)[0] == trim(changed, SLICES.trim)


def test_the_facts_read_devices_held_as_records() -> None:
    held = trim(_slice(), SLICES.trim, Layouts())
    (first, *_) = devices(held)
    assert device_attr(first, "driverVersion") == "550.90.7" and device_attr(first, "index") == 0
    assert "uuid" in attribute_names(first) and len(devices(held)) == 8
    assert cel_selects('device.attributes["gpu.nvidia.com"].productName == "NVIDIA H100"', "gpu.nvidia.com", first)


def test_a_slice_held_as_records_takes_less_memory() -> None:
    def size(build: Any) -> int:
        tracemalloc.start()
        kept = [build(_slice(f"n{i}", 32)) for i in range(20)]
        used = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
        assert kept
        return used

    layouts = Layouts()
    as_dicts = size(lambda body: trim(body, SLICES.trim))  # compacted, but plain dicts
    as_records = size(lambda body: trim(body, SLICES.trim, layouts))
    assert as_records < 0.75 * as_dicts, (as_records, as_dicts)


def test_a_record_copied_into_a_manifest_is_written_as_a_json_object() -> None:
    record = Layouts().record({"app": "x", "tier": {"a": 1}})
    manifest = {"spec": {"podSelector": {"matchLabels": record}}}
    assert _plain(manifest) == {"spec": {"podSelector": {"matchLabels": {"app": "x", "tier": {"a": 1}}}}}
    assert json.loads(json.dumps(manifest, default=json_default)) == _plain(manifest)
    with pytest.raises(TypeError, match="set is not JSON serializable"):
        json.dumps({"a": {1}}, default=json_default)


def _deployment(name: str, replicas: int = 1) -> dict[str, Any]:
    labels = {"app": "infer"}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": "ns", "labels": dict(labels)},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": dict(labels)},
            "template": {"metadata": {"labels": dict(labels)}, "spec": {"containers": [{"name": "c", "image": "i"}]}},
        },
    }


def test_equal_parts_are_shared_with_the_last_object_of_the_kind_and_stay_apart_when_they_differ() -> None:
    view = ClusterView()
    for i, replicas in enumerate((1, 1, 3)):
        view.apply_event("deployments.apps", "ADDED", _deployment(f"d{i}", replicas))
    first, second, third = sorted(view.objects("deployments.apps"), key=lambda d: d["metadata"]["name"])
    assert first["spec"] is second["spec"]  # equal: one part
    assert third["spec"] is not first["spec"] and third["spec"]["template"] is first["spec"]["template"]
    assert (first["spec"]["replicas"], third["spec"]["replicas"]) == (1, 3)
    assert third == trim(_deployment("d2", 3), BY_KEY["deployments.apps"].trim)
    # Labels equal to the selector's matchLabels (a record) are still a dict: only records go where records go.
    assert type(third["metadata"]["labels"]) is dict and isinstance(third["spec"]["selector"]["matchLabels"], Record)
