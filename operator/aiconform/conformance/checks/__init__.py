"""One pure check per requirement: `check(snapshot, spec) -> Verdict`, no I/O, no clock.

`CHECKS` maps every requirement id of `models.REQUIREMENT_IDS` to its check; `aiconform.conformance.evaluate`
runs the ones of the evaluated checklist version and applies the declarations of spec.requirements. Each module's
docstring says what the requirement asks, what the check verifies from the API, what it cannot (hardware or workload
tests) and which parts of the snapshot it reads.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType

from aiconform.api.models import ProfileSpec
from aiconform.conformance.checks import (
    accelerator_metrics,
    advanced_inference_ingress,
    ai_inference,
    ai_service_metrics,
    cluster_autoscaling,
    disaggregated_inference,
    dra_support,
    driver_runtime_management,
    gang_scheduling,
    gpu_sharing,
    high_performance_networking,
    pod_autoscaling,
    robust_controller,
    secure_accelerator_access,
    virtualized_accelerator,
)
from aiconform.conformance.verdict import Verdict
from aiconform.kube.snapshot import Snapshot

__all__ = ["CHECKS", "Check"]

Check = Callable[[Snapshot, ProfileSpec], Verdict]

CHECKS: Mapping[str, Check] = MappingProxyType(
    {
        module.ID: module.check
        for module in (
            dra_support,
            driver_runtime_management,
            gpu_sharing,
            virtualized_accelerator,
            ai_inference,
            advanced_inference_ingress,
            high_performance_networking,
            disaggregated_inference,
            gang_scheduling,
            cluster_autoscaling,
            pod_autoscaling,
            accelerator_metrics,
            ai_service_metrics,
            secure_accelerator_access,
            robust_controller,
        )
    }
)
