"""Stable JSON: the same keys in the same order on every run, requirements in checklist order."""

from __future__ import annotations

import json
from typing import Any

from aiconform.checker.report import EvaluationView, VerdictView, rows
from aiconform.conformance.catalog import Requirement

__all__ = ["SCHEMA_VERSION", "render_json", "to_document"]

SCHEMA_VERSION = 1


def _verdict(req: Requirement, v: VerdictView) -> dict[str, Any]:
    return {
        "id": req.id,
        "category": req.category,
        "level": req.level,
        "conditional": req.conditional,
        "status": v.status,
        "reason": v.reason,
        "tier": v.tier,
        "message": v.message,
        "evidence": list(v.evidence),
        "declared": v.declared,
    }


def to_document(evaluation: EvaluationView, *, server_version: str | None = None) -> dict[str, Any]:
    return {
        "schemaVersion": SCHEMA_VERSION,
        "version": evaluation.version,
        "serverVersion": server_version,
        "conformant": evaluation.conformant,
        "counts": {
            "must": {"met": evaluation.must_met, "total": evaluation.must_total},
            "should": {"met": evaluation.should_met, "total": evaluation.should_total},
        },
        "requirements": [_verdict(req, v) for req, v in rows(evaluation)],
    }


def render_json(evaluation: EvaluationView, *, server_version: str | None = None) -> str:
    return json.dumps(to_document(evaluation, server_version=server_version), indent=2, ensure_ascii=False) + "\n"
