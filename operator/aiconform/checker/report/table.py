"""Plain-text table for a terminal: one line per requirement and a summary line."""

from __future__ import annotations

from aiconform.checker.report import EvaluationView, rows

__all__ = ["render_table", "summary_line"]

_RESET = "\033[0m"
_STATUS_COLOURS = {
    "Implemented": "\033[32m",  # green
    "Not Implemented": "\033[31m",  # red
    "Partially Implemented": "\033[33m",  # yellow
    "N/A": "\033[2m",  # dim
}
_BOLD = "\033[1m"
_HEADERS: tuple[str, str, str, str, str, str] = ("REQUIREMENT", "LEVEL", "STATUS", "EVIDENCE", "REASON", "MESSAGE")
_FIXED = len(_HEADERS) - 1  # every column but the message is padded
_MIN_MESSAGE = 30


def _truncate(text: str, width: int) -> str:
    flat = " ".join(text.split())  # one line: newlines and runs of blanks collapse
    if len(flat) <= width:
        return flat
    return flat[: max(width - 1, 0)].rstrip() + "…"


def summary_line(evaluation: EvaluationView) -> str:
    """`Conformant: no — MUST 8/9, SHOULD 3/5 (checklist v1.36)`."""
    return (
        f"Conformant: {'yes' if evaluation.conformant else 'no'} — "
        f"MUST {evaluation.must_met}/{evaluation.must_total}, "
        f"SHOULD {evaluation.should_met}/{evaluation.should_total} (checklist {evaluation.version})"
    )


def render_table(evaluation: EvaluationView, color: bool, width: int = 160) -> str:
    """The table; `color` adds ANSI colours to the status column and the summary; `width` bounds each line."""
    cells = [
        (req.id, req.level + ("*" if v.declared else ""), v.status, v.tier, v.reason, v.message)
        for req, v in rows(evaluation)
    ]
    widths = [max([len(h)] + [len(c[i]) for c in cells]) for i, h in enumerate(_HEADERS[:_FIXED])]
    used = sum(widths) + 2 * len(widths)
    message_width = max(width - used, _MIN_MESSAGE)

    def line(cells: tuple[str, str, str, str, str, str], status_colour: str = "") -> str:
        padded = [cell.ljust(w) for cell, w in zip(cells[:_FIXED], widths, strict=True)]
        if status_colour:
            padded[2] = f"{status_colour}{padded[2]}{_RESET}"
        return "  ".join([*padded, _truncate(cells[_FIXED], message_width)]).rstrip()

    out = [line(_HEADERS)]
    for row in cells:
        out.append(line(row, _STATUS_COLOURS.get(row[2], "") if color else ""))
    out.append("")
    summary = summary_line(evaluation)
    if color:
        colour = _STATUS_COLOURS["Implemented" if evaluation.conformant else "Not Implemented"]
        summary = f"{_BOLD}{colour}{summary}{_RESET}"
    out.append(summary)
    if any(v.declared for v in evaluation.verdicts):
        out.append("* declared in the profile (spec.requirements), not observed")
    return "\n".join(out) + "\n"
