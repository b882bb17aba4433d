"""metav1.Condition handling, pure: no clock and no I/O (callers pass `now`).

Conditions are plain dicts in the exact shape the API server stores, so a status read back from the cluster
compares equal to one we built, and nothing needs converting before a patch.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal, TypedDict, cast

Status = Literal["True", "False", "Unknown"]
STATUSES: tuple[str, ...] = ("True", "False", "Unknown")

# metav1.Condition limits the message to 32768 characters; keep well below so Events stay readable too.
MAX_MESSAGE = 4096

# Stricter than metav1's reason pattern on purpose: the project convention is CamelCase.
_REASON_RE = re.compile(r"^[A-Z][A-Za-z0-9]*$")
# metav1 type pattern: optional DNS-subdomain prefix, then a qualified name.
_DNS_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_TYPE_RE = re.compile(rf"^({_DNS_LABEL}(\.{_DNS_LABEL})*/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
_TIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")


class Condition(TypedDict):
    type: str
    status: Status
    reason: str
    message: str
    observedGeneration: int
    lastTransitionTime: str


class ConditionError(ValueError):
    """A condition we were about to write would be rejected or break the conventions (a bug in the caller)."""


Flip = tuple[str, str | None, str]
"""(type, old status or None when the condition is new, new status)."""


def format_time(moment: datetime.datetime) -> str:
    """RFC 3339 in UTC with second precision, the form metav1.Time serializes to."""
    if moment.tzinfo is None:
        raise ConditionError("naive datetime: pass an aware one (UTC)")
    return moment.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def utc_now() -> str:
    return format_time(datetime.datetime.now(datetime.UTC))


def is_camel_case(reason: str) -> bool:
    return bool(_REASON_RE.match(reason))


def _validate(type_: str, status: str, reason: str, observed_generation: int, now: str) -> None:
    if not _TYPE_RE.match(type_) or len(type_) > 316:
        raise ConditionError(f"invalid condition type {type_!r}")
    if status not in STATUSES:
        raise ConditionError(f"condition {type_}: status must be one of {STATUSES}, not {status!r}")
    if not is_camel_case(reason) or len(reason) > 1024:
        raise ConditionError(f"condition {type_}: reason {reason!r} is not CamelCase")
    if observed_generation < 0:
        raise ConditionError(f"condition {type_}: negative observedGeneration")
    if not _TIME_RE.match(now):
        raise ConditionError(f"timestamp {now!r} is not YYYY-MM-DDTHH:MM:SSZ")


def _truncate(message: str) -> str:
    return message if len(message) <= MAX_MESSAGE else message[: MAX_MESSAGE - 3] + "..."


def find(conditions: Iterable[Mapping[str, Any]] | None, type_: str) -> Mapping[str, Any] | None:
    for cond in conditions or ():
        if cond.get("type") == type_:
            return cond
    return None


def set_condition(
    existing: Sequence[Mapping[str, Any]] | None,
    type: str,
    status: Status,
    reason: str,
    message: str,
    observed_generation: int,
    now: str,
) -> list[Condition]:
    """Return a new list with `type` set; other conditions and their order are kept.

    lastTransitionTime moves only when the status flips (or the condition is new); reason, message and
    observedGeneration are always replaced. The input is never mutated.
    """
    _validate(type, status, reason, observed_generation, now)
    previous = find(existing, type)
    keep_time = previous is not None and previous.get("status") == status and previous.get("lastTransitionTime")
    new: Condition = {
        "type": type,
        "status": status,
        "reason": reason,
        "message": _truncate(message),
        "observedGeneration": observed_generation,
        "lastTransitionTime": str(previous["lastTransitionTime"]) if keep_time and previous else now,
    }
    out: list[Condition] = []
    for cond in existing or ():
        out.append(new if cond.get("type") == type else cast(Condition, dict(cond)))
    if previous is None:
        out.append(new)
    return out


def _without_time(conditions: Iterable[Mapping[str, Any]] | None) -> dict[str, dict[str, Any]]:
    return {str(c.get("type")): {k: v for k, v in c.items() if k != "lastTransitionTime"} for c in conditions or ()}


def conditions_equal_ignoring_time(
    a: Iterable[Mapping[str, Any]] | None, b: Iterable[Mapping[str, Any]] | None
) -> bool:
    """Same conditions (by type, order ignored) once lastTransitionTime is left out."""
    return _without_time(a) == _without_time(b)


def flips(old: Iterable[Mapping[str, Any]] | None, new: Iterable[Mapping[str, Any]] | None) -> list[Flip]:
    """Conditions of `new` whose status differs from `old` (new ones included, with old status None)."""
    before = {str(c.get("type")): c.get("status") for c in old or ()}
    out: list[Flip] = []
    for cond in new or ():
        type_, status = str(cond.get("type")), str(cond.get("status"))
        prev = before.get(type_)
        if prev != status:
            out.append((type_, None if prev is None else str(prev), status))
    return out
