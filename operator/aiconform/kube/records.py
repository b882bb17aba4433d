"""Read-only maps that hold many of the same keys small: the values in a tuple, the keys in a layout shared by all
maps with the same keys.

Objects of one kind repeat the same key sets in every map: a ResourceSlice one attribute layout for each of its 8
to 32 devices (each with its uuid, so no two maps are equal and `view.compact` cannot share them), every
Deployment the same metadata and spec keys. As dicts, the 26,640 devices of the benchmark's 1,332 slices held
25 MB; as records, a map costs its values and one pointer (docs/performance.md). The operator's view holds every
map of an object but its metadata and labels as a record (view.trim); `check` keeps plain dicts. Readers use the
`Mapping` interface (conformance/facts.py); nothing mutates the view.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

__all__ = ["Layouts", "Record", "json_default", "thawed"]

_NOTHING = object()


class Record(Mapping[str, Any]):
    """An immutable map: `layout` gives each key's position in `values`."""

    __slots__ = ("_layout", "_values")

    def __init__(self, layout: Mapping[str, int], values: tuple[Any, ...]) -> None:
        self._layout = layout
        self._values = values

    def __getitem__(self, key: str) -> Any:
        return self._values[self._layout[key]]

    def get(self, key: str, default: Any = None) -> Any:
        at = self._layout.get(key)
        return default if at is None else self._values[at]

    def __contains__(self, key: object) -> bool:
        return key in self._layout

    def __iter__(self) -> Iterator[str]:
        return iter(self._layout)

    def __len__(self) -> int:
        return len(self._values)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Record) and other._layout is self._layout:
            return self._values == other._values
        if not isinstance(other, Mapping):
            return NotImplemented
        return len(other) == len(self) and all(
            other.get(k, _NOTHING) == v for k, v in zip(self._layout, self._values, strict=True)
        )

    __hash__ = None  # type: ignore[assignment]  # like a dict: equal to one, so not hashable

    def __repr__(self) -> str:
        return repr(dict(zip(self._layout, self._values, strict=True)))


class Layouts:
    """One layout per distinct key sequence, shared by every record with those keys (a view holds one). Bounded:
    past `limit` distinct layouts a record gets a layout of its own (correct, only larger)."""

    def __init__(self, limit: int = 4096) -> None:
        self._known: dict[tuple[str, ...], Mapping[str, int]] = {}
        self._limit = limit

    def record(self, items: Mapping[str, Any]) -> Record:
        keys = tuple(items)
        layout = self._known.get(keys)
        if layout is None:
            layout = {k: i for i, k in enumerate(keys)}
            if len(self._known) < self._limit:
                self._known[keys] = layout
        return Record(layout, tuple(items.values()))

    def __len__(self) -> int:
        return len(self._known)


def json_default(value: object) -> dict[str, Any]:
    """`json.dumps(..., default=json_default)`: a record is a JSON object (a component may copy a map it read
    from the view into a manifest, e.g. a Deployment's selector)."""
    if isinstance(value, Record):
        return dict(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def thawed(value: Any) -> Any:
    """A mutable deep copy with every record as a dict (the view's objects are read-only; a copy to change)."""
    if isinstance(value, Mapping):
        return {k: thawed(v) for k, v in value.items()}
    if isinstance(value, list):
        return [thawed(v) for v in value]
    return value
