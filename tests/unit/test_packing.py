"""kube/packing.py: what the view and the fast repair path keep of our objects, packed against a dictionary."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from aiconform.kube.packing import encode, pack, unpack


def _quota(i: int) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ResourceQuota",
        "metadata": {
            "name": "aiconform-gpu-quota",
            "namespace": f"tenant-{i:05d}",
            "uid": f"{i:08x}-1111-2222-3333-444455556666",
            "labels": {"app.kubernetes.io/managed-by": "aiconform", "aiconform.io/profile": "production"},
            "ownerReferences": [{"apiVersion": "aiconform.io/v1alpha1", "kind": "ConformanceProfile", "uid": "p"}],
        },
        "spec": {"hard": {"requests.nvidia.com/gpu": str(i % 9)}},
    }


def test_similar_objects_pack_small_and_come_back_whole() -> None:
    zdicts: dict[str, bytes] = {}
    quotas = [_quota(i) for i in range(200)]
    packed = [pack(q, zdicts, "ResourceQuota") for q in quotas]
    assert [unpack(p) for p in packed] == quotas
    assert zdicts["ResourceQuota"] == encode(quotas[0])  # the first of a kind is the dictionary
    assert all(p.zdict is zdicts["ResourceQuota"] for p in packed)  # shared, not copied
    json_bytes = sum(len(encode(q)) for q in quotas[1:])
    assert sum(len(p.data) for p in packed[1:]) * 5 < json_bytes  # ~60 against ~450 bytes each


def test_equal_objects_pack_equal_and_a_change_packs_different() -> None:
    zdicts: dict[str, bytes] = {}
    first = pack(_quota(3), zdicts, "ResourceQuota")
    assert pack(_quota(3), zdicts, "ResourceQuota") == first  # the view's "nothing we keep changed"
    changed = _quota(3)
    changed["spec"]["hard"]["requests.nvidia.com/gpu"] = "4"
    assert pack(changed, zdicts, "ResourceQuota") != first


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=30,
)


@given(st.dictionaries(st.text(max_size=10), json_values, max_size=6), st.dictionaries(st.text(), json_values))
def test_any_object_round_trips_whatever_the_dictionary(obj: dict[str, Any], other: dict[str, Any]) -> None:
    zdicts = {"X": encode(other)}
    assert unpack(pack(obj, zdicts, "X")) == obj
    assert unpack(pack(obj, {}, "Y")) == obj
