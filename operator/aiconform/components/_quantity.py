"""Kubernetes resource quantities, exactly: parse ("500m", "2Ti", "1e3"), add, split, format.

Kueue quotas are summed from node allocatable and split across GPU pools; floats would make golden files
flaky and sums wrong, so quantities are Fractions of the base unit (cores, bytes, devices).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from fractions import Fraction

_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {
    "n": Fraction(1, 10**9),
    "u": Fraction(1, 10**6),
    "m": Fraction(1, 10**3),
    "": Fraction(1),
    "k": Fraction(10**3),
    "M": Fraction(10**6),
    "G": Fraction(10**9),
    "T": Fraction(10**12),
    "P": Fraction(10**15),
    "E": Fraction(10**18),
}
_QUANTITY = re.compile(r"^([+-]?)([0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:([eE][+-]?[0-9]+)|(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]))?$")

MILLI = Fraction(1, 1000)
ONE = Fraction(1)
MEBI = Fraction(2**20)


def parse(value: int | str | None) -> Fraction | None:
    """A quantity in base units; None for anything that is not a quantity."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return Fraction(value)
    m = _QUANTITY.match(value.strip())
    if not m:
        return None
    sign, number, exponent, suffix = m.groups()
    out = Fraction(number)
    if exponent:
        out *= Fraction(10) ** int(exponent[1:])
    elif suffix:
        out *= _BINARY.get(suffix) or _DECIMAL[suffix]
    return -out if sign == "-" else out


def format_cpu(cores: Fraction) -> str:
    """Whole cores as "64", else millicores (rounded down) as "1500m"."""
    if cores.denominator == 1:
        return str(cores.numerator)
    return f"{math.floor(cores * 1000)}m"


def format_memory(num_bytes: Fraction) -> str:
    """Bytes (rounded down) with the largest binary suffix that divides them exactly: "2Ti", "1536Mi", "1000"."""
    whole = math.floor(num_bytes)
    for suffix, factor in sorted(_BINARY.items(), key=lambda kv: -kv[1]):
        if whole and whole % factor == 0:
            return f"{whole // factor}{suffix}"
    return str(whole)


def format_count(count: Fraction) -> int:
    """A device count as an int (rounded down)."""
    return math.floor(count)


def split(total: Fraction, weights: Sequence[Fraction], unit: Fraction) -> list[Fraction]:
    """`total` divided into len(weights) shares proportional to `weights`, in whole `unit`s, summing to
    `total` rounded down to a unit (largest remainder; ties to the earlier share). All weights zero: equal."""
    if not weights:
        return []
    units = math.floor(total / unit)
    w = list(weights) if any(weights) else [ONE] * len(weights)
    w_total = sum(w, Fraction(0))
    exact = [units * x / w_total for x in w]
    shares = [math.floor(x) for x in exact]
    leftover = units - sum(shares)
    by_remainder = sorted(range(len(w)), key=lambda i: (-(exact[i] - shares[i]), i))
    for i in by_remainder[:leftover]:
        shares[i] += 1
    return [s * unit for s in shares]
