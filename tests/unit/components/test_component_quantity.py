"""Exact quantity arithmetic behind the Kueue quotas."""

from __future__ import annotations

from fractions import Fraction

import pytest

from aiconform.components import _quantity as q


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("500m", Fraction(1, 2)),
        ("2", Fraction(2)),
        (3, Fraction(3)),
        ("2Ti", Fraction(2 * 2**40)),
        ("1.5Gi", Fraction(3 * 2**29)),
        ("1e3", Fraction(1000)),
        ("1E", Fraction(10**18)),
        ("128974848", Fraction(128974848)),
        ("129M", Fraction(129 * 10**6)),
    ],
)
def test_parse(text: str | int, value: Fraction) -> None:
    assert q.parse(text) == value


@pytest.mark.parametrize("bad", ["", "abc", "1Gb", "--1", None, True])
def test_parse_rejects(bad: object) -> None:
    assert q.parse(bad) is None  # type: ignore[arg-type]


def test_format() -> None:
    assert q.format_cpu(Fraction(64)) == "64"
    assert q.format_cpu(Fraction(3, 2)) == "1500m"
    assert q.format_cpu(Fraction(1, 3)) == "333m"
    assert q.format_memory(Fraction(2 * 2**40)) == "2Ti"
    assert q.format_memory(Fraction(1536 * 2**20)) == "1536Mi"
    assert q.format_memory(Fraction(1000)) == "1000"
    assert q.format_memory(Fraction(0)) == "0"


def test_split_is_proportional_exact_and_deterministic() -> None:
    assert q.split(Fraction(100), [Fraction(256), Fraction(384)], q.ONE) == [40, 60]
    assert q.split(Fraction(10), [Fraction(1)] * 3, q.ONE) == [4, 3, 3]
    assert q.split(Fraction(1), [Fraction(0), Fraction(0)], q.MILLI) == [Fraction(1, 2), Fraction(1, 2)]
    assert sum(q.split(Fraction(7, 3), [Fraction(1), Fraction(2)], q.MILLI)) == Fraction(2333, 1000)
    assert q.split(Fraction(5), [], q.ONE) == []
