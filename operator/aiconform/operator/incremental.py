"""What a pass must redo, from what changed since the profile's last pass (pure).

The view logs every change (source, namespace, whose object: kube/view.Change); the source table says who reads
each source (kube/sources.READERS). From those, a pass re-runs only the checks that read a changed source and
re-renders only the components that do — for a tenant-local component (components.TENANT_LOCAL) only in the
namespaces where something changed. A change to one of this profile's own objects re-renders its component
there (drift); another profile's objects of a kind no check reads concern nobody here.

Everything is redone (`FULL`) when the log cannot tell: the first pass, a spec change, new discovery data,
a change no source describes, or a log that no longer reaches back to the last pass. The profile's interval
pass is full too: a safety net that costs one full pass per interval.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from aiconform.kube.sources import READERS
from aiconform.kube.view import EVERYTHING, Change

Parts = frozenset[str] | None  # partitions (kinds.partition_of) to redo; None: all of it


@dataclass(frozen=True)
class Scope:
    """What one pass redoes. `full`: everything; otherwise the checks listed and the components listed (each
    in the partitions given, or wholly)."""

    full: bool
    checks: frozenset[str] = frozenset()
    components: Mapping[str, Parts] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def idle(self) -> bool:
        """Nothing this profile reads changed: no pass is needed."""
        return not self.full and not self.checks and not self.components

    def describe(self) -> str:
        if self.full:
            return "full"
        parts = [f"{len(self.checks)} check(s)"]
        for component, where in sorted(self.components.items()):
            parts.append(f"{component} ({'all' if where is None else f'{len(where)} namespace(s)'})")
        return ", ".join(parts)


FULL = Scope(full=True)
NOTHING = Scope(full=False)


def scope_of(
    changes: Iterable[Change] | None,
    profile: str,
    components: Iterable[str],
    split: Callable[[str], bool],
) -> Scope:
    """The scope of a pass for `profile` after `changes` (None: unknown, so everything). `components`: the
    component names; `split(c)`: whether component c re-renders by namespace (components.tenant_local)."""
    if changes is None:
        return FULL
    known = frozenset(components)
    checks: set[str] = set()
    redo: dict[str, set[str] | None] = {}

    def render(component: str, where: str | None) -> None:
        if where and split(component):
            held = redo.setdefault(component, set())
            if held is not None:
                held.add(where)
        else:  # a cluster-scoped change, or the whole source, or a component that does not split
            redo[component] = None

    for change in changes:
        readers = READERS.get(change.key)
        if change.key == EVERYTHING or readers is None:
            return FULL
        if change.profile == profile and change.component:
            if change.component not in known:
                return FULL  # one of ours that no component claims: only a full pass decides about it
            render(change.component, change.namespace)
        for reader in readers:
            if reader in known:
                render(reader, change.namespace)
            else:
                checks.add(reader)
    parts = {c: (None if where is None else frozenset(where)) for c, where in redo.items()}
    return Scope(False, frozenset(checks), MappingProxyType(parts))
