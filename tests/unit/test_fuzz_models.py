"""Property-based tests of the pydantic models: they never crash, their errors say what and where, valid
profiles round-trip, and defaults are stable.

Deterministic: every test runs derandomized with no example database, so CI sees the same examples every time.
The e2e twin (tests/e2e/test_fuzz_crd.py) holds the same documents against the real API server.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from profile_strategies import junk, profile_documents, profiles

from aiconform.api import crdgen
from aiconform.api.models import ConformanceProfile, ProfileSpec, ValidationError, validate_profile

FUZZ = settings(
    derandomize=True,
    database=None,
    deadline=None,
    max_examples=150,
    print_blob=False,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)

TOP_LEVEL = ("apiVersion", "kind", "metadata", "spec", "status")
SPEC_SCHEMA: dict[str, Any] = crdgen.open_api_schema()["properties"]["spec"]
BASELINE_SPEC = ProfileSpec().model_dump(mode="json")


def verdict(doc: Any) -> ConformanceProfile | ValidationError:
    """The model's verdict; any exception other than ValidationError escapes and fails the test."""
    try:
        return validate_profile(doc)
    except ValidationError as exc:
        return exc


def assert_explains_itself(exc: ValidationError, doc: Any) -> None:
    errors = exc.errors(include_url=False)
    assert errors, "a ValidationError with no errors"
    assert str(exc).strip()
    for err in errors:
        assert isinstance(err["msg"], str) and err["msg"].strip(), err
        assert isinstance(err["loc"], tuple), err
        assert all(isinstance(part, str | int) for part in err["loc"]), err
        if isinstance(doc, dict):
            # A document's errors point into it: the first step is a top-level field (or an unknown one, which
            # the model rejects as the API server does under strict field validation).
            assert err["loc"] and (err["loc"][0] in TOP_LEVEL or str(err["loc"][0]) in map(str, doc)), err
        else:
            # Only a document that is not an object at all is rejected as a whole.
            assert err["loc"] == (), err
        # The rendered message names every step of the location (pydantic quotes keys with dots in them).
        assert all(str(part) in str(exc) for part in err["loc"]), err


# --- (a) never crash, (b) errors say what and where -----------------------------------------------------------


@settings(FUZZ, max_examples=300)
@given(junk())
def test_junk_is_rejected_or_accepted_never_crashes(doc: Any) -> None:
    before = copy.deepcopy(doc) if _copyable(doc) else None
    result = verdict(doc)
    if isinstance(result, ValidationError):
        assert_explains_itself(result, doc)
    if before is not None:
        assert _same(doc, before), "validation must not modify its input"


@settings(FUZZ, max_examples=300)
@given(profiles())
def test_near_valid_profiles_never_crash_and_errors_explain_themselves(doc: dict[str, Any]) -> None:
    before = copy.deepcopy(doc)
    result = verdict(doc)
    if isinstance(result, ValidationError):
        assert_explains_itself(result, doc)
        # Errors survive JSON (the operator writes them into events and conditions).
        assert json.loads(result.json(include_url=False))
    assert doc == before, "validation must not modify its input"


@FUZZ
@given(profiles())
def test_verdict_is_deterministic(doc: dict[str, Any]) -> None:
    first, second = verdict(copy.deepcopy(doc)), verdict(copy.deepcopy(doc))
    if isinstance(first, ValidationError):
        assert isinstance(second, ValidationError)
        assert first.errors(include_url=False, include_context=False) == second.errors(
            include_url=False, include_context=False
        )
    else:
        assert first == second


# --- (c) round trip ---------------------------------------------------------------------------------------


def valid(doc: dict[str, Any]) -> ConformanceProfile:
    result = verdict(doc)
    assume(not isinstance(result, ValidationError))
    assert isinstance(result, ConformanceProfile)
    return result


@FUZZ
@given(profile_documents(corrupt=0), st.booleans(), st.sampled_from(["json", "python"]))
def test_valid_profiles_round_trip(doc: dict[str, Any], exclude_none: bool, mode: str) -> None:
    p = valid(doc)
    dumped = p.model_dump(mode=mode, by_alias=True, exclude_none=exclude_none)
    again = validate_profile(dumped)
    assert again == p
    # And the dump is a fixed point: dumping what was read back gives the same document.
    assert again.model_dump(mode=mode, by_alias=True, exclude_none=exclude_none) == dumped


@FUZZ
@given(profile_documents(corrupt=0))
def test_valid_profiles_round_trip_through_json_text(doc: dict[str, Any]) -> None:
    p = valid(doc)
    assert validate_profile(json.loads(p.model_dump_json(by_alias=True))) == p
    assert ConformanceProfile.model_validate_json(p.model_dump_json(by_alias=True)) == p


# --- (d) defaults are stable --------------------------------------------------------------------------------


@FUZZ
@given(profile_documents(corrupt=0))
def test_server_defaulting_changes_nothing_the_model_accepts(doc: dict[str, Any]) -> None:
    """The API server fills in the CRD defaults before it validates; for a valid document that must not change
    the model's reading, and the model's own dump must already carry every default the server would add."""
    p = valid(doc)
    defaulted = copy.deepcopy(doc)
    defaulted["spec"] = crdgen.apply_defaults(doc.get("spec") or {}, SPEC_SCHEMA)
    assert validate_profile(defaulted) == p
    spec = p.model_dump(mode="json", by_alias=True, exclude_none=True)["spec"]
    assert crdgen.apply_defaults(spec, SPEC_SCHEMA) == spec


@FUZZ
@given(profiles())
def test_defaults_are_not_shared_with_validated_profiles(doc: dict[str, Any]) -> None:
    """Mutating what validation returned never leaks into the defaults of the next profile."""
    result = verdict(doc)
    if isinstance(result, ConformanceProfile):
        spec = result.spec
        spec.components.dcgm_exporter.collectors.append("nvlink")
        spec.components.dcgm_exporter.tolerations.clear()
        spec.accelerators.node_selector.match_labels["fuzz.example.com/mutated"] = "yes"
        spec.tenants.namespace_selector.match_expressions.clear()
        spec.components.keda.inference_selector.match_labels.clear()
        spec.requirements.clear()
    assert ProfileSpec().model_dump(mode="json") == BASELINE_SPEC
    assert validate_profile({"spec": {}}).spec.model_dump(mode="json") == BASELINE_SPEC
    assert validate_profile({"spec": None}).spec.model_dump(mode="json") == BASELINE_SPEC


def test_defaults_match_the_crd_defaults() -> None:
    """The all-defaults spec is what the API server makes of `spec: {}` (and of no spec at all)."""
    assert crdgen.apply_defaults({}, SPEC_SCHEMA) == ProfileSpec().model_dump(mode="json", exclude_none=True)
    assert SPEC_SCHEMA["default"] == ProfileSpec().model_dump(mode="json", exclude_none=True)


# --- helpers ------------------------------------------------------------------------------------------------


def _copyable(value: Any) -> bool:
    try:
        copy.deepcopy(value)
    except Exception:
        return False
    return True


def _same(a: Any, b: Any) -> bool:
    """Equality that treats NaN as equal to itself (junk carries NaN)."""
    if isinstance(a, float) and isinstance(b, float) and a != a and b != b:
        return True
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, set | frozenset):
        return bool(a == b)
    return bool(a == b)
