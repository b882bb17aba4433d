"""metav1.Condition semantics: times move only on flips, reasons are CamelCase, inputs stay untouched."""

from __future__ import annotations

import copy
import datetime

import pytest

from aiconform.operator.conditions import (
    ConditionError,
    conditions_equal_ignoring_time,
    flips,
    format_time,
    set_condition,
)

T0 = "2026-01-01T00:00:00Z"
T1 = "2026-01-01T00:05:00Z"


def test_new_condition_gets_now() -> None:
    conds = set_condition([], "Ready", "True", "Reconciled", "ok", 3, T0)
    assert conds == [
        {
            "type": "Ready",
            "status": "True",
            "reason": "Reconciled",
            "message": "ok",
            "observedGeneration": 3,
            "lastTransitionTime": T0,
        }
    ]


def test_same_status_keeps_time_but_replaces_reason_message_generation() -> None:
    first = set_condition(None, "Ready", "True", "Reconciled", "ok", 1, T0)
    second = set_condition(first, "Ready", "True", "StillFine", "better", 2, T1)
    assert second[0]["lastTransitionTime"] == T0
    assert (second[0]["reason"], second[0]["message"], second[0]["observedGeneration"]) == (
        "StillFine",
        "better",
        2,
    )


def test_flip_moves_time() -> None:
    first = set_condition([], "Ready", "True", "Reconciled", "ok", 1, T0)
    second = set_condition(first, "Ready", "False", "InvalidSpec", "bad", 2, T1)
    assert second[0]["lastTransitionTime"] == T1


def test_order_kept_and_input_not_mutated() -> None:
    conds = set_condition([], "Ready", "True", "Reconciled", "ok", 1, T0)
    conds = set_condition(conds, "Conformant", "Unknown", "NotEvaluated", "n/a", 1, T0)
    frozen = copy.deepcopy(conds)
    out = set_condition(conds, "Ready", "False", "InvalidSpec", "bad", 2, T1)
    assert conds == frozen
    assert [c["type"] for c in out] == ["Ready", "Conformant"]
    assert out[1] == conds[1]


@pytest.mark.parametrize("reason", ["invalidSpec", "Invalid Spec", "Invalid-Spec", "", "Invalid_Spec"])
def test_reason_must_be_camel_case(reason: str) -> None:
    with pytest.raises(ConditionError):
        set_condition([], "Ready", "True", reason, "m", 1, T0)


def test_bad_status_type_time_rejected() -> None:
    with pytest.raises(ConditionError):
        set_condition([], "Ready", "Yes", "Reconciled", "m", 1, T0)  # type: ignore[arg-type]
    with pytest.raises(ConditionError):
        set_condition([], "not a type", "True", "Reconciled", "m", 1, T0)
    with pytest.raises(ConditionError):
        set_condition([], "Ready", "True", "Reconciled", "m", 1, "2026-01-01T00:00:00.123Z")
    with pytest.raises(ConditionError):
        set_condition([], "Ready", "True", "Reconciled", "m", -1, T0)


def test_prefixed_type_allowed() -> None:
    conds = set_condition([], "aiconform.io/dra_support", "Unknown", "NotEvaluated", "", 1, T0)
    assert conds[0]["type"] == "aiconform.io/dra_support"


def test_long_message_truncated() -> None:
    conds = set_condition([], "Ready", "True", "Reconciled", "x" * 10000, 1, T0)
    assert len(conds[0]["message"]) <= 4096
    assert conds[0]["message"].endswith("...")


def test_equal_ignoring_time() -> None:
    a = set_condition([], "Ready", "True", "Reconciled", "ok", 1, T0)
    b = [dict(a[0], lastTransitionTime=T1)]
    assert conditions_equal_ignoring_time(a, b)
    assert not conditions_equal_ignoring_time(a, [dict(a[0], message="other")])
    assert not conditions_equal_ignoring_time(a, [])
    assert conditions_equal_ignoring_time(None, [])


def test_flips() -> None:
    old = set_condition([], "Ready", "True", "Reconciled", "ok", 1, T0)
    new = set_condition(old, "Ready", "False", "InvalidSpec", "bad", 2, T1)
    new = set_condition(new, "Conformant", "Unknown", "NotEvaluated", "", 2, T1)
    assert flips(old, new) == [("Ready", "True", "False"), ("Conformant", None, "Unknown")]
    assert flips(new, new) == []
    same_status = set_condition(new, "Ready", "False", "OtherReason", "x", 3, T1)
    assert flips(new, same_status) == []


def test_format_time() -> None:
    moment = datetime.datetime(2026, 3, 4, 5, 6, 7, 890000, tzinfo=datetime.UTC)
    assert format_time(moment) == "2026-03-04T05:06:07Z"
    cet = datetime.timezone(datetime.timedelta(hours=1))
    assert format_time(datetime.datetime(2026, 3, 4, 6, 6, 7, tzinfo=cet)) == "2026-03-04T05:06:07Z"
    with pytest.raises(ConditionError):
        format_time(datetime.datetime(2026, 3, 4))
