"""Garbage-collector pauses: measured by generation, kept short by freezing what is long-lived."""

from __future__ import annotations

import gc
import sys
import threading
import weakref
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import generate_latest

from aiconform.operator import gcpause, metrics

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import stack


@pytest.fixture
def collector() -> Iterator[gcpause.Collector]:
    """One operator's collector policy, its measuring hook removed afterwards."""
    policy = gcpause.Collector()
    yield policy
    policy.uninstall()


@pytest.fixture
def unfrozen() -> Iterator[None]:
    gc.unfreeze()
    yield
    gc.unfreeze()


def _count(generation: str) -> float:
    value = metrics.REGISTRY.get_sample_value("aiconform_gc_pause_seconds_count", {"generation": generation})
    return value or 0.0


def test_every_collection_is_measured_by_generation(collector: gcpause.Collector) -> None:
    collector.install()
    collector.install()  # idempotent: one observation per collection, not two
    before = _count("2"), _count("0")
    gc.collect()
    gc.collect(0)
    assert (_count("2"), _count("0")) == (before[0] + 1, before[1] + 1)
    collector.uninstall()  # a stopped operator measures nothing more (a new one installs its own)
    gc.collect()
    assert _count("2") == before[0] + 1


def test_collectors_share_no_state() -> None:
    first, second = gcpause.Collector(clock=lambda: 0.0), gcpause.Collector(clock=lambda: 100.0)
    assert first.settle(now=gcpause.FULL_EVERY_S) is True and first.last_full == gcpause.FULL_EVERY_S
    assert second.last_full == 100.0


def test_settle_moves_everything_alive_out_of_reach_of_later_collections(
    unfrozen: None, collector: gcpause.Collector
) -> None:
    view = [{"metadata": {"name": f"np-{i}"}, "spec": [i]} for i in range(1000)]
    assert gc.get_freeze_count() == 0
    assert collector.settle(now=collector.last_full) is False
    frozen = gc.get_freeze_count()
    assert frozen >= 1000  # the lists inside the view at least
    assert all(gc.is_tracked(o["spec"]) for o in view)
    # Freed as usual by reference counting: freezing keeps nothing alive.
    del view
    assert gc.get_freeze_count() < frozen


def test_settle_runs_one_full_collection_per_period_and_collects_frozen_cycles(
    unfrozen: None, collector: gcpause.Collector
) -> None:
    class Node:
        other: Node

    a, b = Node(), Node()
    a.other, b.other = b, a
    alive = weakref.ref(a)
    collector.settle(now=collector.last_full)
    del a, b  # a cycle, frozen: no collection reaches it
    gc.collect()
    assert alive() is not None
    assert collector.settle(now=collector.last_full + collector.full_every / 2) is False
    assert alive() is not None
    assert collector.settle(now=collector.last_full + collector.full_every) is True  # unfreeze + full collection
    assert alive() is None
    assert gc.get_freeze_count() > 0  # and frozen again afterwards


def test_the_bench_reads_the_pause_histogram_from_the_metrics_text(collector: gcpause.Collector) -> None:
    collector.install()
    gc.collect()
    text = generate_latest(metrics.REGISTRY).decode()
    pauses = stack.gc_pauses(text)
    assert pauses["2"]["count"] == _count("2")
    assert 0 <= pauses["2"]["over_0.5_s"] <= pauses["2"]["over_0.1_s"] <= pauses["2"]["count"]


def test_uninterrupted_work_runs_without_automatic_collection_and_restores_it(collector: gcpause.Collector) -> None:
    assert gc.isenabled()
    seen: list[bool] = []
    assert collector.uninterrupted(lambda x, *, y: seen.append(gc.isenabled()) or x + y, 1, y=2) == 3
    assert seen == [False] and gc.isenabled()
    with pytest.raises(ZeroDivisionError):
        collector.uninterrupted(lambda: 1 / 0)
    assert gc.isenabled()  # also when the work raises


def test_uninterrupted_stays_off_until_the_last_concurrent_call_returns(collector: gcpause.Collector) -> None:
    inner_started, release = threading.Event(), threading.Event()
    states: list[bool] = []

    def long_pass() -> None:
        inner_started.set()
        release.wait(5)

    worker = threading.Thread(target=collector.uninterrupted, args=(long_pass,))
    worker.start()
    inner_started.wait(5)
    collector.uninterrupted(lambda: None)  # a second profile's pass ends first
    states.append(gc.isenabled())
    release.set()
    worker.join(5)
    states.append(gc.isenabled())
    assert states == [False, True]


def test_uninterrupted_leaves_collection_off_when_it_found_it_off(collector: gcpause.Collector) -> None:
    gc.disable()
    try:
        collector.uninterrupted(lambda: None)
        assert not gc.isenabled()
    finally:
        gc.enable()
