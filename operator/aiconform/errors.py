"""Errors shared by every command."""

from __future__ import annotations


class CliError(Exception):
    """An error the user can act on: printed as one line, exit code 2, never a traceback."""
