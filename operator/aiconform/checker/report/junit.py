"""JUnit XML for CI systems: one testsuite per run, one testcase per requirement.

- Implemented → a passing case.
- Not/Partially Implemented → `<failure>` when its level fails the run under --fail-on (MUST always, SHOULD only
  with `--fail-on should`); otherwise `<skipped>` saying so, so a CI dashboard shows it without going red.
- N/A → `<skipped>` with the justification.
Evidence goes to `<system-out>`. ElementTree escapes text and attributes; characters XML 1.0 cannot carry at all
(control characters) are dropped first so the document always parses.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from aiconform.checker.report import EvaluationView, VerdictView, counts_as_failure, rows

__all__ = ["render_junit", "suite_name"]

_INVALID_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _clean(text: str) -> str:
    return _INVALID_XML.sub("", text)


def suite_name(version: str) -> str:
    return f"ai-conformance-{version}"


def _system_out(v: VerdictView) -> str:
    lines = [f"status: {v.status}", f"reason: {v.reason}", f"message: {v.message}"]
    if v.declared:
        lines.append("declared: true (spec.requirements of the profile)")
    lines += ["evidence:"] + [f"  - {e}" for e in v.evidence] if v.evidence else ["evidence: none"]
    return _clean("\n".join(lines))


def render_junit(evaluation: EvaluationView, fail_on: str = "must") -> str:
    root = ET.Element("testsuites", name="aiconform")
    suite = ET.SubElement(root, "testsuite", name=suite_name(evaluation.version))
    failures = skipped = 0
    for req, v in rows(evaluation):
        case = ET.SubElement(suite, "testcase", classname=req.category, name=f"{req.id} [{req.level}]")
        if v.status == "Implemented":
            pass
        elif v.status == "N/A":
            skipped += 1
            ET.SubElement(case, "skipped", message=_clean(f"N/A: {v.message or v.reason}"))
        elif counts_as_failure(req, v, fail_on):
            failures += 1
            failure = ET.SubElement(case, "failure", message=_clean(v.reason or v.status), type=v.status)
            failure.text = _clean(v.message)
        else:
            skipped += 1
            note = f"{v.status} ({req.level}; fails only with --fail-on should): {v.message}"
            ET.SubElement(case, "skipped", message=_clean(note))
        ET.SubElement(case, "system-out").text = _system_out(v)
    counts = {"tests": len(evaluation.verdicts), "failures": failures, "errors": 0, "skipped": skipped}
    for element in (root, suite):
        for key, value in counts.items():
            element.set(key, str(value))
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"
