"""`aiconform run` pieces that need no cluster: log formats, early one-line errors."""

from __future__ import annotations

import json
import logging
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from aiconform.cli import CliError, main
from aiconform.operator.runner import JsonFormatter, PlainFormatter, QuietWatchFilter


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """`run` reconfigures the root logger; give the other tests theirs back."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def _record(msg: str, level: int = logging.INFO, **extra: object) -> logging.LogRecord:
    record = logging.LogRecord("kopf.objects", level, __file__, 1, msg, None, None)
    record.__dict__.update(extra)
    return record


def test_json_one_object_per_line_with_k8s_ref() -> None:
    ref = {"kind": "ConformanceProfile", "name": "prod"}
    line = JsonFormatter().format(_record("hello\nworld", k8s_ref=ref, k8s_skip=False, settings=object()))
    assert "\n" not in line
    doc = json.loads(line)
    assert doc["level"] == "INFO" and doc["logger"] == "kopf.objects" and doc["message"] == "hello\nworld"
    assert doc["k8s_ref"] == ref
    assert "k8s_skip" not in doc and "settings" not in doc
    assert doc["ts"].endswith("Z")


def test_plain_prefixes_object_name() -> None:
    line = PlainFormatter().format(_record("done", k8s_ref={"name": "prod"}))
    assert line.endswith("INFO    kopf.objects [prod] done")


def test_watch_success_lines_dropped_but_failures_kept() -> None:
    quiet = QuietWatchFilter("view-")
    assert not quiet.filter(_record("Handler 'view-pods' succeeded."))
    assert quiet.filter(_record("Handler 'view-pods' failed with an exception.", logging.ERROR))
    assert quiet.filter(_record("Handler 'evaluate' succeeded."))


def test_missing_kubeconfig_is_one_line_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--kubeconfig", str(tmp_path / "absent")]) == 2
    err = capsys.readouterr().err
    assert err.strip() == f"aiconform: error: kubeconfig {tmp_path / 'absent'} does not exist"


def test_port_in_use_is_reported(tmp_path: Path) -> None:
    from aiconform.operator.runner import _check_port_free

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        with pytest.raises(CliError, match=f"cannot serve liveness on 127.0.0.1:{port}"):
            _check_port_free("127.0.0.1", port, "liveness")


def test_kopf_crash_restarts_with_a_fresh_view_and_gives_up_on_a_crash_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    import kopf

    from aiconform.operator import handlers, runner

    calls: list[str] = []
    operators: list[object] = []
    outcomes = [RuntimeError("404 page not found"), RuntimeError("again"), None]

    def fake_run(memo: kopf.Memo, **_: object) -> None:
        calls.append("run")
        operators.append(memo.operator)
        outcome = outcomes.pop(0)
        if outcome is not None:
            raise outcome

    monkeypatch.setattr(kopf, "run", fake_run)
    monkeypatch.setattr(runner.time, "sleep", lambda _: None)
    options = handlers.Options(api_concurrency=8)
    assert runner._run_kopf_supervised("http://127.0.0.1:1/healthz", options) == 0
    assert calls == ["run"] * 3
    assert len({id(op) for op in operators}) == 3  # a new operator object per run: nothing stale survives
    assert all(op.api_concurrency == 8 for op in operators)  # type: ignore[attr-defined]

    def always(**_: object) -> None:
        raise RuntimeError("crash loop")

    monkeypatch.setattr(kopf, "run", always)
    assert runner._run_kopf_supervised("http://127.0.0.1:1/healthz", options) == 1


def test_api_concurrency_defaults_to_the_floors_and_rejects_zero(capsys: pytest.CaptureFixture[str]) -> None:
    from aiconform.cli import build_parser

    assert build_parser().parse_args(["run"]).api_concurrency == 64
    assert build_parser().parse_args(["run", "--api-concurrency", "8"]).api_concurrency == 8
    with pytest.raises(SystemExit):
        build_parser().parse_args(["run", "--api-concurrency", "0"])
    assert "must be at least 1" in capsys.readouterr().err
