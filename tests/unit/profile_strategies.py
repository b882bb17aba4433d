"""Hypothesis strategies for ConformanceProfile documents (shared by the unit and the e2e fuzz tests).

Imported as `profile_strategies`: pytest puts tests/unit on sys.path for the unit tests; the e2e test adds it.

Two families:

* `profiles()`: documents built from the model's field structure, a mix of valid and near-valid ones. Every leaf
  is drawn from its good values (boundaries included: 10 and 86400 seconds, 63-character label names, a
  253-character DNS prefix, 2**63 - 1...) or from its bad ones: out of range, beyond int64, malformed, a
  whole-number float, of the wrong JSON type, explicit null, or an unknown key next to the known ones. Three
  kinds, mixed: clean documents (`profile_documents(corrupt=0)`), where only cross-field rules can fail
  (minReplicas <= maxReplicas, dcgm needs nvidia, N/A needs notes, DRA quota needs DRA, In needs values, an empty
  toleration key needs Exists...: the fields involved are drawn independently, around the boundary);
  single-fault documents (`single_fault_documents()`), clean but for one leaf, so no second error hides how a
  validator treats the first; and heavily corrupted ones (`profile_documents(corrupt=20)`). Everything is JSON
  (str keys, no NaN or infinity), so the same document can be sent to the API server.
* `junk()`: arbitrary values, JSON and not, including profile-shaped ones whose keys are real field names and
  whose values are anything, for the "the model never crashes" property.

Shrinking goes toward a valid document: optional fields shrink to absent, corrupt-or-not choices shrink to "not".
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from hypothesis import strategies as st
from hypothesis.strategies import DrawFn
from pydantic import BaseModel

from aiconform.api.models import (
    DNS1123_LABEL_RE,
    LABEL_NAME_RE,
    REQUIREMENT_IDS,
    REQUIREMENT_STATUSES,
    ConformanceProfile,
)

__all__ = [
    "API_VERSION",
    "FIELD_NAMES",
    "KIND",
    "json_values",
    "junk",
    "label_keys",
    "label_values",
    "profile_documents",
    "profiles",
    "single_fault_documents",
]

Json = Any

API_VERSION = "aiconform.io/v1alpha1"
KIND = "ConformanceProfile"

# ---------------------------------------------------------------------------------------------------------------
# JSON building blocks

# JSON-safe floats: no NaN or infinity (not representable in JSON, so never seen by the API server).
_floats = st.floats(allow_nan=False, allow_infinity=False)
# Integers beyond int64 included: JSON can carry them, the API server decodes them as floats.
_json_ints = st.one_of(
    st.integers(-3, 3),
    st.integers(-(2**31), 2**31),
    st.sampled_from([2**31 - 1, 2**31, 2**53, 2**53 + 1, 2**63 - 1, 2**63, 2**64, 10**20]),
)
_text = st.text(st.characters(exclude_categories=["Cs"]), max_size=12)  # no lone surrogates
_scalars: st.SearchStrategy[Json] = st.one_of(st.none(), st.booleans(), _json_ints, _floats, _text)


def json_values(max_leaves: int = 12) -> st.SearchStrategy[Json]:
    """Any JSON value (str keys, finite numbers)."""
    return st.recursive(
        _scalars,
        lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)),
        max_leaves=max_leaves,
    )


@functools.cache
def _wrong_type(*keep: type) -> st.SearchStrategy[Json]:
    """A value of another JSON type than `keep` (bool is not int here, as in JSON). Null included."""
    options: list[st.SearchStrategy[Json]] = []
    if bool not in keep:
        options.append(st.booleans())
    if int not in keep:
        options.append(st.sampled_from([0, 1, -1, 10, 60, 65536]))
    if float not in keep:
        # Integral floats ("60.0") are not the same JSON token as integers; keep a few on purpose.
        options.append(st.sampled_from([0.0, 1.0, 60.0, 2.5, -1.5, 1e20]))
    if str not in keep:
        options.append(st.sampled_from(["", "true", "60", "10", "auto", "yes please"]))
    options += [st.none(), st.just([]), st.just({}), st.lists(st.integers(0, 3), min_size=1, max_size=2)]
    return st.one_of(options)


# ---------------------------------------------------------------------------------------------------------------
# Strings with a grammar: label keys and values, DNS names, versions, quantities


def _sized(letter: str, n: int) -> str:
    """A DNS subdomain of exactly n characters: labels of 63 joined with dots, never ending in a dot."""
    s = ".".join([letter * 63] * (n // 64 + 1))[:n]
    return s[:-1] + letter if s.endswith(".") else s


_dns_label = st.from_regex(rf"\A{DNS1123_LABEL_RE}\Z", fullmatch=True)
_dns_subdomain = st.one_of(
    st.lists(_dns_label, min_size=1, max_size=4).map(".".join),
    st.sampled_from(["nvidia.com", "example.com", "aiconform.io", "k8s.io", "a", "0"]),
)
_bad_dns = st.sampled_from(
    ["", "-a", "a-", "A", "GPU_Queue", "a..b", ".a", "a.", "a b", "é", "a_b", "x" * 64, _sized("q", 254)]
)
_label_name = st.one_of(
    st.from_regex(rf"\A{LABEL_NAME_RE}\Z", fullmatch=True),
    st.sampled_from(["gpu", "gpu.present", "tier", "x", "A_b-c.D", "n" * 63]),
)


@functools.cache
def label_keys(valid: bool = True) -> st.SearchStrategy[str]:
    """Label keys (cached: one strategy object per kind)."""
    return _label_keys(valid)


@functools.cache
def label_values(valid: bool = True) -> st.SearchStrategy[str]:
    """Label values (cached: one strategy object per kind)."""
    return _label_values(valid)


_prefixes = st.one_of(st.none(), _dns_subdomain, st.sampled_from([253, 252, 200]).map(lambda n: _sized("p", n)))


@st.composite
def _label_keys(draw: DrawFn, valid: bool) -> str:
    """A label key: optional DNS prefix and '/', then a name. Near the bounds: 63-character names, 253-character
    prefixes. With valid=False: one of the ways a key goes wrong."""
    if valid:
        name = draw(_label_name)
        prefix = draw(_prefixes)
        return name if prefix is None else f"{prefix}/{name}"
    return draw(
        st.one_of(
            st.sampled_from(
                [
                    "",
                    "-bad",
                    "bad-",
                    "_x",
                    "a b",
                    "ai conform/tenant",
                    "Example.com/x",
                    "nvidia.com/",
                    "/x",
                    "a/b/c",
                    "a_b.com/x",
                    "a..b/x",
                    "é",
                    "n" * 64,
                    "example.com/" + "n" * 64,
                    _sized("p", 254) + "/x",
                    "a" * 254 + "/name",
                    "x\n",
                ]
            ),
            st.text(st.sampled_from("aZ09-_./ é"), max_size=12),  # mostly invalid, sometimes fine
        )
    )


@st.composite
def _label_values(draw: DrawFn, valid: bool) -> str:
    if valid:
        return draw(st.one_of(st.sampled_from(["", "true", "v" * 63, "Tesla-T4", "a.b_c-D"]), _label_name))
    return draw(
        st.one_of(
            st.sampled_from([" ", "a b", "-x", "x-", ".x", "v" * 64, "é", "x\n", "a/b"]),
            st.text(st.sampled_from("aZ09-_. /"), max_size=8),
        )
    )


_driver_versions = st.lists(st.integers(0, 999).map(str), min_size=1, max_size=4).map(".".join)
_bad_driver_versions = st.sampled_from(
    ["", "abc", "550.", ".550", "550..1", "1.2.3.4.5", "v550", "550-1", " 550", "550 ", "5" * 65, "550\n"]
)
_quantities = st.sampled_from(
    ["0", "1", "64", "500m", "512Gi", "1e9", "1E3", "1.5", ".5", "2.", "1Ki", "100M", "10n", "3k", "1e-3", "1" * 64]
)
_bad_quantities = st.sampled_from(
    ["", "lots", "-1", "+1", "1.5.5", "1KB", "1ki", "Gi", "1 Gi", "e9", "1" * 65, "0x10", "1Gi\n"]
)
_image = st.sampled_from(
    ["example/dra:1.0", "nvidia/dcgm-exporter:4.2.3-4.1.3-ubuntu22.04", "reg.example.com:5000/x@sha256:abc", "x"]
)
# Whitespace by anyone's definition, and on the edges: \v, NEL, NBSP, EM SPACE are \s for Python and Rust regex
# (pydantic) but not for RE2 (the API server).
_bad_image = st.sampled_from(
    ["", "has space", "tab\there", "a\nb", "x" * 513, "a\vb", "a\x85b", "a\u00a0b", "a\u2003b", "\u3000", "é "]
)
_metric = st.one_of(
    st.sampled_from(["vllm:num_requests_waiting", "", "a", "_x", ":y", "x_1:total"]),
    st.from_regex(r"\A[a-zA-Z_:][a-zA-Z0-9_:]{0,20}\Z", fullmatch=True),
)
_bad_metric = st.sampled_from(["1abc", "a-b", "a b", "a.b", "é", "m" * 257])
_url = st.sampled_from(
    ["http://prometheus-operated.monitoring.svc:9090", "https://p.example.com/prom/", "http://x", "https://a:1/b?c=d"]
)
_bad_url = st.sampled_from(
    ["", "prometheus:9090", "ftp://x", "http://", "http:// x", "https://a b/", "http://x/\n", "http://x\vy"]
)
_versions = st.one_of(
    st.sampled_from(["auto", "v1.35", "v1.36", "v1.0", "v1.20", "v1.99999999999"]),
    st.integers(0, 10**9).map(lambda n: f"v1.{n}"),
)
_bad_versions = st.one_of(
    st.sampled_from(
        [
            "",
            "1.35",
            "v1.x",
            "v1.",
            "v2.0",
            "Auto",
            "AUTO",
            "v1.35.0",
            "v1.35\n",
            " v1.35",
            "v1.999999999999999",
            "v01.1",
        ]
    ),
    st.text(st.sampled_from("v1.035autx "), max_size=10),
)

# ---------------------------------------------------------------------------------------------------------------
# The document generator: strategies are built once (building them per draw is what makes hypothesis slow)

_PERCENT = st.integers(0, 99)
_BOOL = st.booleans()
_SMALL = st.integers(0, 3)
_TYPOS = ("extra", "Enabled", "enable", "enabled_", "spec")


@functools.cache
def _ints(lo: int, hi: int | None, around: tuple[int, ...]) -> tuple[st.SearchStrategy[Json], st.SearchStrategy[Json]]:
    """(good, bad) for an integer in [lo, hi]: good is biased to the bounds; bad is out of range, beyond int64,
    an integral or fractional float, a quoted number or another type."""
    top = hi if hi is not None else 2**31 - 1
    good = st.one_of(st.sampled_from(sorted({lo, min(lo + 1, top), top, *around})), st.integers(lo, top))
    edges = [lo - 1, -1, -(2**31)] + ([hi + 1] if hi is not None else [])
    bad = st.one_of(
        st.sampled_from(edges),
        st.sampled_from([2**63, 10**20]),  # beyond int64: fine for Python, not for the API server
        st.integers(lo, top).map(float),  # integral float: 60.0
        st.floats(lo, top, allow_nan=False).filter(lambda f: not f.is_integer()),
        st.integers(lo, top).map(str),  # quoted number
        _wrong_type(int),
    )
    return good, bad


@functools.cache
def _numbers(exclusive_min: bool) -> tuple[st.SearchStrategy[Json], st.SearchStrategy[Json]]:
    good = st.one_of(st.sampled_from([0.5, 1, 2.5, 10, 1e-9, 1e300]), st.floats(0, 1e6), st.integers(0, 10**6))
    if exclusive_min:
        good = good.filter(lambda x: x > 0)
    bad = st.one_of(
        st.sampled_from([0, 0.0, -0.0, -1, -5, -1e-9]), st.sampled_from(["10", "1.5"]), _wrong_type(int, float)
    )
    return good, bad


@functools.cache
def _enums(values: tuple[str, ...], near: tuple[str, ...]) -> tuple[st.SearchStrategy[Json], st.SearchStrategy[Json]]:
    bad = st.sampled_from([*near, "", *(v.lower() for v in values), *(v + " " for v in values)])
    return st.sampled_from(values), st.one_of(bad, _wrong_type(str))


@functools.cache
def _or_wrong_type(bad: st.SearchStrategy[Json]) -> st.SearchStrategy[Json]:
    return st.one_of(bad, _wrong_type(str))


@functools.cache
def _typos(keys: tuple[str, ...]) -> st.SearchStrategy[str]:
    return st.sampled_from([*(k + "s" for k in keys), *(t for t in _TYPOS if t not in keys)])


_COLLECTORS = ("xid", "nvlink", "profiling", "ecc", "power", "clocks")
_collectors = st.lists(st.sampled_from(_COLLECTORS), unique=True, max_size=6)
_bad_collectors = st.one_of(
    st.lists(st.sampled_from([*_COLLECTORS, "gpu", "XID", ""]), max_size=7),  # duplicates and unknowns
    _wrong_type(list),
)
_quantity = st.one_of(_quantities, st.integers(0, 10**6), st.sampled_from([0, 2**63 - 1]))
_bad_quantity = st.one_of(_bad_quantities, st.sampled_from([-1, 2**63, 1.5, 2.0]), _wrong_type(int, str))
_gpus_per_flavor = st.one_of(st.just("auto"), st.integers(0, 64))
_bad_gpus_per_flavor = st.sampled_from(["all", "AUTO", "4", "", -1, 4.0, 2**63, None, True])
_statuses = ("Done", "NA", "n/a", "Implemented ")
_notes = st.one_of(
    # Blank and not blank, with what sits on the edge of "whitespace": \v, \f, NBSP, EM SPACE.
    st.sampled_from(["", " ", " \n\t", "\v", "\f\r", "\u00a0", "\u2003", "on-prem, fixed GPU pools", "x"]),
    st.text(st.characters(exclude_categories=["Cs"]), max_size=20),
    st.just("n" * 4096),
)
_evidence = st.lists(st.sampled_from(["https://example.com/doc", "", "e" * 2048]), max_size=3)
_bad_evidence = st.one_of(st.just(["e" * 2049]), st.just(["x"] * 33), _wrong_type(list))
_requirement_ids = st.sampled_from(REQUIREMENT_IDS)
_unknown_ids = st.sampled_from(["cluster_autoscalling", "GANG_SCHEDULING", "gang-scheduling", "", "x"])
_resource_names = st.sampled_from(["nvidia.com/gpu", "amd.com/gpu", "gpu.intel.com/i915", "example.com/x"])
_bad_resource_names = st.sampled_from(["gpu", "nvidia.com/", "/gpu", "Nvidia.com/gpu", "nvidia.com/gpu/x"])
_label_values_good = st.lists(label_values(), max_size=3)
_label_values_bad = st.one_of(st.lists(label_values(valid=False), min_size=1, max_size=2), _wrong_type(list))
_replica_delta = st.sampled_from([0, 1, -1, 5, -5, 10])
_bad_replicas = st.one_of(st.sampled_from([-1, 0, 2**63]), _wrong_type(int))
_key_or_empty = st.one_of(st.just(""), label_keys())


class _Builder:
    """Draws the fields of one document. Which leaves go bad: each with a chance of `corrupt` percent, or, with
    `fault_at`, exactly the fault_at-th place that could go bad (one fault, nothing to hide it)."""

    def __init__(self, draw: DrawFn, corrupt: int, fault_at: int | None = None) -> None:
        self.draw = draw
        self.corrupt = corrupt
        self.fault_at = fault_at
        self.places = 0

    def bad(self) -> bool:
        self.places += 1
        if self.fault_at is not None:
            return self.places - 1 == self.fault_at
        # Shrinks toward 0, i.e. toward "not corrupted".
        return self.corrupt > 0 and self.draw(_PERCENT) >= 100 - self.corrupt

    def value(self, good: st.SearchStrategy[Json], bad: st.SearchStrategy[Json]) -> Json:
        return self.draw(bad) if self.bad() else self.draw(good)

    def fields(self, spec: dict[str, Callable[[], Json]], required: tuple[str, ...] = ()) -> dict[str, Json]:
        """An object with each optional field present or absent (absent shrinks first), required ones present
        unless corrupted, plus rarely an unknown field."""
        out: dict[str, Json] = {}
        for key, make in spec.items():
            if (not self.bad()) if key in required else self.draw(_BOOL):
                out[key] = make()
        if self.bad():
            out[self.draw(_typos(tuple(spec)))] = self.draw(_scalars)
        return out

    def obj(self, spec: dict[str, Callable[[], Json]], required: tuple[str, ...] = ()) -> Json:
        """A nested object, or (corrupted) a value of another type, null included."""
        if self.bad():
            return self.draw(_wrong_type(dict))
        return self.fields(spec, required)

    def boolean(self) -> Json:
        return self.value(_BOOL, _wrong_type(bool))

    def integer(self, lo: int, hi: int | None = None, around: tuple[int, ...] = ()) -> Json:
        return self.value(*_ints(lo, hi, around))

    def number(self, *, exclusive_min: bool) -> Json:
        return self.value(*_numbers(exclusive_min))

    def enum(self, values: tuple[str, ...], near: tuple[str, ...] = ()) -> Json:
        return self.value(*_enums(values, near))

    def string(self, good: st.SearchStrategy[str], bad: st.SearchStrategy[str]) -> Json:
        return self.value(good, _or_wrong_type(bad))

    def label_map(self, max_size: int = 4) -> Json:
        if self.bad():
            return self.draw(_wrong_type(dict))
        out: dict[str, Json] = {}
        for _ in range(self.draw(st.integers(0, max_size))):
            key = self.draw(label_keys(valid=not self.bad()))
            out[key] = self.string(label_values(), label_values(valid=False))
        if self.corrupt and self.draw(_PERCENT) == 99 and self.draw(_BOOL):
            out.update({f"k{i}": "v" for i in range(65)})  # over the 64-entry bound
        return out

    def selector(self) -> Json:
        return self.obj({"matchLabels": self.label_map, "matchExpressions": self.expressions})

    def expressions(self) -> Json:
        if self.bad():
            return self.draw(_wrong_type(list))
        return [self.expression() for _ in range(self.draw(_SMALL))]

    def expression(self) -> Json:
        if self.bad():
            return self.draw(_wrong_type(dict))
        # Values are drawn independently of the operator: the wrong shape for it is the cross-field case.
        return self.fields(
            {
                "key": lambda: self.string(label_keys(), label_keys(valid=False)),
                "operator": lambda: self.enum(
                    ("In", "NotIn", "Exists", "DoesNotExist"), near=("in", "Equals", "Gt", "NotExists")
                ),
                "values": lambda: self.value(_label_values_good, _label_values_bad),
            },
            required=("key", "operator"),
        )

    def toleration(self) -> Json:
        return self.obj(
            {
                "key": lambda: self.string(_key_or_empty, label_keys(valid=False)),
                "operator": lambda: self.enum(("Exists", "Equal"), near=("Equals", "In")),
                "value": lambda: self.string(label_values(), label_values(valid=False)),
                "effect": lambda: self.enum(("NoSchedule", "PreferNoSchedule", "NoExecute", ""), near=("Never",)),
            },
            required=("key",),  # an empty key is drawn often enough: the rule "operator must be Exists" is hit
        )

    def tolerations(self) -> Json:
        if self.bad():
            return self.draw(_wrong_type(list))
        return [self.toleration() for _ in range(self.draw(_SMALL))]

    def requirement(self) -> Json:
        # Status and notes are drawn independently: N/A with blank notes is the cross-field case.
        return self.obj(
            {
                "status": lambda: self.enum(REQUIREMENT_STATUSES, near=_statuses),
                "notes": lambda: self.string(_notes, st.just("n" * 4097)),
                "evidence": lambda: self.value(_evidence, _bad_evidence),
            },
            required=("status",),
        )

    def requirements(self) -> Json:
        if self.bad():
            return self.draw(_wrong_type(dict))
        keys = [self.value(_requirement_ids, _unknown_ids) for _ in range(self.draw(_SMALL))]
        return {k: self.requirement() for k in keys}

    # --- spec sections ---------------------------------------------------------------------------------------

    def accelerators(self) -> Json:
        return self.obj(
            {
                "vendor": lambda: self.enum(("nvidia", "amd", "intel"), near=("NVIDIA", "habana")),
                "nodeSelector": self.selector,
                "minDriverVersion": lambda: self.string(_driver_versions, _bad_driver_versions),
                "resourceName": lambda: self.string(_resource_names, _bad_resource_names),
            }
        )

    def components(self) -> Json:
        return self.obj(
            {
                "dra": lambda: self.obj(
                    {
                        "enabled": self.boolean,
                        "denyAdminAccess": self.boolean,
                        "kubeletPlugin": lambda: self.obj(
                            {"enabled": self.boolean, "image": lambda: self.string(_image, _bad_image)}
                        ),
                    }
                ),
                "kueue": lambda: self.obj(
                    {
                        "enabled": self.boolean,
                        "clusterQueue": lambda: self.string(_dns_subdomain, _bad_dns),
                        "localQueue": lambda: self.string(_dns_subdomain, _bad_dns),
                        "gpusPerFlavor": lambda: self.value(_gpus_per_flavor, _bad_gpus_per_flavor),
                        "cpuQuota": lambda: self.value(_quantity, _bad_quantity),
                        "memoryQuota": lambda: self.value(_quantity, _bad_quantity),
                    }
                ),
                "keda": self.keda,
                "dcgmExporter": lambda: self.obj(
                    {
                        "enabled": self.boolean,
                        "namespace": lambda: self.string(_dns_label, _bad_dns),
                        "image": lambda: self.string(_image, _bad_image),
                        "collectors": lambda: self.value(_collectors, _bad_collectors),
                        "port": lambda: self.integer(1, 65535, around=(9400,)),
                        "nodeSelector": self.label_map,
                        "tolerations": self.tolerations,
                    }
                ),
                "quotas": lambda: self.obj(
                    {
                        "enabled": self.boolean,
                        "gpusPerTenant": lambda: self.integer(0),
                        "draDevicesPerTenant": lambda: self.integer(0),
                    }
                ),
                "networkPolicies": lambda: self.obj(
                    {
                        "enabled": self.boolean,
                        "defaultDeny": self.boolean,
                        "monitoringNamespace": lambda: self.string(_dns_label, _bad_dns),
                        "gatewayNamespace": lambda: self.string(_dns_label, _bad_dns),
                    }
                ),
                "seccomp": lambda: self.obj(
                    {
                        "enabled": self.boolean,
                        "enforcement": lambda: self.enum(("Deny", "Warn", "Audit"), near=("Block",)),
                        "podSecurityLevel": lambda: self.enum(("baseline", "restricted"), near=("privileged",)),
                    }
                ),
            }
        )

    def keda(self) -> Json:
        out = self.obj(
            {
                "enabled": self.boolean,
                "inferenceSelector": self.selector,
                "metric": lambda: self.string(_metric, _bad_metric),
                "prometheusAddress": lambda: self.string(_url, _bad_url),
                "threshold": lambda: self.number(exclusive_min=True),
                "activationThreshold": lambda: self.number(exclusive_min=False),
                "cooldownSeconds": lambda: self.integer(0),
            }
        )
        if isinstance(out, dict) and self.draw(_BOOL):
            # The pair is drawn together, around minReplicas == maxReplicas (and the defaults 0 and 10).
            lo = self.draw(st.integers(0, 12))
            for key, val in (("minReplicas", lo), ("maxReplicas", lo + self.draw(_replica_delta))):
                if self.draw(_SMALL) > 0:
                    out[key] = self.value(st.just(val), _bad_replicas)
        return out

    def spec(self) -> Json:
        return self.obj(
            {
                "kubernetesVersion": lambda: self.string(_versions, _bad_versions),
                "mode": lambda: self.enum(("Enforce", "Audit"), near=("Enforcing", "DryRun")),
                "deletionPolicy": lambda: self.enum(("Delete", "Orphan"), near=("Retain",)),
                "evaluationIntervalSeconds": lambda: self.integer(10, 86400, around=(60,)),
                "accelerators": self.accelerators,
                "tenants": lambda: self.obj({"namespaceSelector": self.selector}),
                "components": self.components,
                "requirements": self.requirements,
            }
        )


@st.composite
def profile_documents(draw: DrawFn, corrupt: int = 0, name: str = "fuzz") -> dict[str, Json]:
    """One ConformanceProfile document; `corrupt` is the per-leaf chance (percent) of a bad value. With 0 the
    leaves are all good, but cross-field rules can still fail (that is the point)."""
    return _document(draw, _Builder(draw, corrupt), name)


@st.composite
def single_fault_documents(draw: DrawFn, name: str = "fuzz") -> dict[str, Json]:
    """A document with good leaves except one: the best input for comparing two validators, since no second
    error can hide how each of them treats the first."""
    return _document(draw, _Builder(draw, 0, fault_at=draw(_fault_places)), name)


# A document has 4 to 100 places that could go bad (sections, leaves, list items), 22 for the median one. Small
# indices are drawn more often, so most documents get their fault; an index past the end leaves a clean document.
_fault_places = st.one_of(st.integers(0, 24), st.integers(0, 99))


def _document(draw: DrawFn, b: _Builder, name: str) -> dict[str, Json]:
    doc: dict[str, Json] = {"apiVersion": API_VERSION, "kind": KIND, "metadata": {"name": name}}
    if draw(st.integers(0, 9)) < 9:
        doc["spec"] = b.spec()
    elif draw(st.booleans()):
        doc["spec"] = None  # `spec:` with nothing after it
    return doc


def profiles(name: str = "fuzz") -> st.SearchStrategy[dict[str, Json]]:
    """The mix: clean documents (cross-field rules still fail at times), single faults, and heavily corrupted."""
    return st.one_of(
        profile_documents(corrupt=0, name=name),
        single_fault_documents(name=name),
        profile_documents(corrupt=20, name=name),
    )


# ---------------------------------------------------------------------------------------------------------------
# Junk


def _aliases(model: type[BaseModel], seen: set[type[BaseModel]] | None = None) -> set[str]:
    """Every field name on the wire under `model` (camelCase aliases), recursively."""
    seen = seen if seen is not None else set()
    if model in seen:
        return set()
    seen.add(model)
    out: set[str] = set()
    for name, field in model.model_fields.items():
        out.add(field.alias or name)
        for arg in _flatten(field.annotation):
            if isinstance(arg, type) and issubclass(arg, BaseModel):
                out |= _aliases(arg, seen)
    return out


def _flatten(annotation: Any) -> list[Any]:
    args = getattr(annotation, "__args__", ())
    return [annotation, *(a for arg in args for a in _flatten(arg))]


FIELD_NAMES: tuple[str, ...] = tuple(sorted(_aliases(ConformanceProfile) | {"spec"} | set(REQUIREMENT_IDS)))


def _shaped(max_leaves: int) -> st.SearchStrategy[Json]:
    """Objects keyed by real field names (and sometimes other keys), with anything as values, nested."""
    keys = st.one_of(st.sampled_from(FIELD_NAMES), st.text(max_size=6))
    return st.recursive(
        _scalars,
        lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(keys, inner, max_size=5)),
        max_leaves=max_leaves,
    )


def junk() -> st.SearchStrategy[Json]:
    """Anything: JSON values, profile-shaped junk, documents with a junk spec, and non-JSON Python values
    (tuples, int keys, NaN, infinity, bytes) that a YAML loader or a careless caller could hand over."""
    weird_scalars = st.one_of(
        st.floats(), st.binary(max_size=4), st.tuples(st.integers()), st.sets(st.integers(0, 3), max_size=2)
    )
    weird = st.recursive(
        st.one_of(_scalars, weird_scalars),
        lambda inner: st.one_of(
            st.lists(inner, max_size=3),
            st.dictionaries(st.one_of(st.sampled_from(FIELD_NAMES), st.integers(), st.none()), inner, max_size=4),
        ),
        max_leaves=10,
    )
    documents = st.fixed_dictionaries(
        {},
        optional={
            "apiVersion": st.one_of(st.just(API_VERSION), _scalars),
            "kind": st.one_of(st.just(KIND), _scalars),
            "metadata": st.one_of(st.fixed_dictionaries({"name": _scalars}), json_values(4)),
            "spec": _shaped(25),
            "status": json_values(6),
        },
    )
    return st.one_of(json_values(), _shaped(20), documents, weird)
