"""The one error type of the dev cluster: it names the step that failed, and the CLI prints it without a traceback."""

from __future__ import annotations


class DevClusterError(Exception):
    def __init__(self, step: str, message: str, log: str | None = None) -> None:
        self.step = step
        self.log = log
        detail = f" (log: {log})" if log else ""
        super().__init__(f"{step}: {message}{detail}")
