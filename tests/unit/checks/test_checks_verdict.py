import dataclasses

import pytest

from aiconform.conformance.verdict import UNKNOWN_REASONS, Verdict, condition_status
from aiconform.operator.conditions import is_camel_case


@pytest.mark.parametrize(
    ("status", "reason", "expected"),
    [
        ("Implemented", "APIVerified", "True"),
        ("N/A", "NotApplicable", "True"),
        ("N/A", "Declared", "True"),
        ("Not Implemented", "CRDsMissing", "False"),
        ("Partially Implemented", "NoPrometheus", "False"),
        ("Partially Implemented", "Declared", "False"),
        ("Partially Implemented", "NeedsHardwareTest", "Unknown"),
        ("Not Implemented", "UnrecognizedAccelerator", "Unknown"),
        ("Not Implemented", "CheckError", "Unknown"),
        ("Partially Implemented", "MetricsNotScraped", "Unknown"),
    ],
)
def test_condition_status(status, reason, expected):
    assert condition_status(Verdict("x", status, reason, "m")) == expected


def test_verdict_is_frozen_and_met():
    v = Verdict("gang_scheduling", "N/A", "Declared", "on-prem", declared=True)
    assert v.met and v.evidence == ()
    with pytest.raises(dataclasses.FrozenInstanceError):
        v.status = "Implemented"  # type: ignore[misc]
    assert not Verdict("x", "Partially Implemented", "NeedsHardwareTest", "m").met


def test_unknown_reasons_are_camel_case():
    assert all(is_camel_case(r) for r in UNKNOWN_REASONS)
