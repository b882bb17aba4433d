"""Start, find and stop the dev cluster's processes. A pid file alone is not trusted: the process must still
run the binary we started, so a recycled pid is never signalled."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from aiconform.devtools.devcluster.errors import DevClusterError


@dataclass(frozen=True)
class Proc:
    name: str
    pid_file: Path
    log_file: Path
    binary: Path

    def pid(self) -> int | None:
        """The pid when the process still runs our binary, else None."""
        try:
            pid = int(self.pid_file.read_text().strip())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except (OSError, ValueError):
            return None
        if not cmdline or Path(cmdline[0].decode()).name != self.binary.name:
            return None
        state = _proc_state(pid)
        return None if state in ("Z", "X") else pid

    def running(self) -> bool:
        return self.pid() is not None


def _proc_state(pid: int) -> str:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return "X"
    return stat.rsplit(")", 1)[1].split()[0]


def start(proc: Proc, args: Sequence[str], env: dict[str, str] | None = None) -> int:
    """Start detached (own session), so it outlives the `up` command and `down` can stop the whole group."""
    proc.log_file.parent.mkdir(parents=True, exist_ok=True)
    proc.pid_file.parent.mkdir(parents=True, exist_ok=True)
    with proc.log_file.open("ab") as log:
        child = subprocess.Popen(
            [str(proc.binary), *args],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=env,
            close_fds=True,
        )
    proc.pid_file.write_text(f"{child.pid}\n")
    return child.pid


def stop(proc: Proc, timeout: float = 15.0) -> bool:
    """SIGTERM, then SIGKILL after `timeout`. Returns whether something was stopped."""
    pid = proc.pid()
    if pid is None:
        proc.pid_file.unlink(missing_ok=True)
        return False
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.running():
        _reap(pid)
        time.sleep(0.1)
    if proc.running():
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
        for _ in range(50):
            _reap(pid)
            if not proc.running():
                break
            time.sleep(0.1)
    proc.pid_file.unlink(missing_ok=True)
    return True


def _reap(pid: int) -> None:
    """Collect the exit status when we are the parent (tests start and stop in one process)."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def port_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def http_ok(url: str, context: ssl.SSLContext | None = None) -> bool:
    """A readiness probe: GET answers 200 within 2 s."""
    try:
        with urllib.request.urlopen(url, timeout=2, context=context) as resp:
            return bool(resp.status == 200)
    except (urllib.error.URLError, OSError, ValueError):
        return False


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def wait_for(step: str, proc: Proc, probe: object, timeout: float) -> None:
    """Poll `probe()` (a callable returning bool) until true; fail naming the step if the process dies."""
    assert callable(probe)
    deadline = time.monotonic() + timeout
    missing = 0
    while time.monotonic() < deadline:
        # Seen once right after start: /proc briefly shows no trace of a process that then runs fine.
        missing = 0 if proc.running() else missing + 1
        if missing >= 3:
            raise DevClusterError(
                step, f"{proc.name} exited during start-up: {_log_tail(proc.log_file)}", log=str(proc.log_file)
            )
        if probe():
            return
        time.sleep(0.2)
    raise DevClusterError(
        step,
        f"{proc.name} not ready after {timeout:.0f}s: {_log_tail(proc.log_file)}",
        log=str(proc.log_file),
    )


def _log_tail(path: Path, lines: int = 2) -> str:
    try:
        tail = path.read_text(errors="replace").strip().splitlines()[-lines:]
    except OSError:
        return "no log"
    return " | ".join(t[:300] for t in tail)
