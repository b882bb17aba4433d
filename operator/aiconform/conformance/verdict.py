"""The verdict on one requirement: checklist status, a CamelCase reason, an actionable message and evidence.

Statuses are the checklist's own vocabulary (`Implemented`, `Partially Implemented`, `Not Implemented`, `N/A`),
so a verdict exports straight into a PRODUCT.yaml. The reason says how strong the evidence is and, on failure,
what is wrong; the condition written on the profile is derived from both (`condition_status`).

Rules every check follows:

- Every verdict carries its evidence tier; `conformance.evidence.enforce` holds `Implemented` to live evidence
  (a controller's current status or a probe) in one place for every check.
- `Implemented` only when the API-visible signals prove the requirement (`APIVerified`). A requirement that only
  running workloads on accelerators can prove is at most `Partially Implemented` with reason `NeedsHardwareTest`,
  and the message says which part needs the hardware test. The user may then run that test and declare the
  result in `spec.requirements` with evidence (reason `Declared`).
- `N/A` (`NotApplicable`) only when the capability does not exist on this hardware or platform, and never for
  a non-conditional MUST: a MUST the checks cannot find is `Not Implemented`, so a
  wrong node selector can never make a cluster look conformant.
- `UnrecognizedAccelerator`: the KARs ask for "Unknown rather than failure" on accelerators a checker does not
  know. The checklist has no "unknown" status, and `N/A` would count as met, so the status is
  `Not Implemented` (nothing was shown) while the condition is `Unknown` (nothing was disproved); the message asks
  for a declaration with evidence.
- `NoAcceleratorNodes`: no node exposes an accelerator, so the accelerator requirements cannot be evaluated:
  `Not Implemented` with condition `Unknown`, never N/A by itself (a cluster without accelerators declares N/A).
- `CheckError` (a check raised), `MetricsNotScraped` and `DiscoveryUnavailable` (the evidence was not collected)
  are likewise `Not Implemented` or `Partially Implemented` with condition `Unknown`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

VerdictStatus = Literal["Implemented", "Partially Implemented", "Not Implemented", "N/A"]
VERDICT_STATUSES: tuple[str, ...] = get_args(VerdictStatus)
ConditionStatus = Literal["True", "False", "Unknown"]

IMPLEMENTED: VerdictStatus = "Implemented"
PARTIAL: VerdictStatus = "Partially Implemented"
NOT_IMPLEMENTED: VerdictStatus = "Not Implemented"
NOT_APPLICABLE: VerdictStatus = "N/A"

# --- Reasons: strength of the evidence -------------------------------------------------------------------------
API_VERIFIED = "APIVerified"  # every API-visible signal is good and they prove the requirement
NEEDS_HARDWARE_TEST = "NeedsHardwareTest"  # API-visible part good; only workloads on accelerators prove the rest
NOT_APPLICABLE_REASON = "NotApplicable"  # the hardware/platform lacks the capability
NO_ACCELERATOR_NODES = "NoAcceleratorNodes"  # no node exposes accelerators: the requirement cannot be evaluated
UNRECOGNIZED_ACCELERATOR = "UnrecognizedAccelerator"  # KAR rule: unknown accelerator → Unknown, not failure
DECLARED = "Declared"  # taken from spec.requirements instead of a check
CHECK_ERROR = "CheckError"  # the check raised; a bug, reported instead of crashing the evaluation
METRICS_NOT_SCRAPED = "MetricsNotScraped"  # the snapshot holds no scrape to judge by
DISCOVERY_UNAVAILABLE = "DiscoveryUnavailable"  # the snapshot has no API discovery (served resources) at all

# --- Reasons: specific failures ----------------------------------------------------------------------------------
CRDS_MISSING = "CRDsMissing"
CONTROLLER_UNAVAILABLE = "ControllerUnavailable"
WEBHOOK_SERVICE_MISSING = "WebhookServiceMissing"
DRA_API_NOT_SERVED = "DRAAPINotServed"
DRA_BETA_API_ONLY = "DRABetaAPIOnly"
NO_DEVICE_CLASS = "NoDeviceClass"
RESOURCE_SLICES_MISSING = "ResourceSlicesMissing"
DRIVER_VERSION_SKEW = "DriverVersionSkew"
DRIVER_BELOW_MINIMUM = "DriverBelowMinimum"
DRIVER_VERSION_UNKNOWN = "DriverVersionUnknown"
DRIVER_VERSION_NOT_IN_DRA = "DriverVersionNotInDRA"
DRIVER_DAEMONSET_NOT_READY = "DriverDaemonSetNotReady"
DRIVER_SOURCES_DISAGREE = "DriverSourcesDisagree"  # a node's GFD label and DRA attribute name different drivers
SHARING_NOT_CONFIGURED = "SharingNotConfigured"
SHARING_NOT_ADVERTISED = "SharingNotAdvertised"  # a sharing label, but the node advertises no shared devices
VIRTUALIZATION_NOT_ADVERTISED = "VirtualizationNotAdvertised"  # vGPU labels, but no device advertised
NO_ACCEPTED_GATEWAY_CLASS = "NoAcceptedGatewayClass"
NO_INFERENCE_POOL = "NoInferencePool"
NO_INFERENCE_POOL_ROUTE = "NoInferencePoolRoute"
ENDPOINT_PICKER_MISSING = "EndpointPickerMissing"
NO_HIGH_PERFORMANCE_NETWORK = "NoHighPerformanceNetwork"
NO_DISAGGREGATED_SERVING = "NoDisaggregatedServing"
PREFILL_DECODE_INCOMPLETE = "PrefillDecodeIncomplete"
CLUSTER_QUEUE_MISSING = "ClusterQueueMissing"
CLUSTER_QUEUE_INACTIVE = "ClusterQueueInactive"
NO_AUTOSCALER = "NoAutoscaler"
NO_CUSTOM_METRICS_API = "NoCustomMetricsAPI"
METRICS_API_UNAVAILABLE = "MetricsAPIUnavailable"
HPA_SCALING_INACTIVE = "HPAScalingInactive"
EXPORTER_MISSING = "ExporterMissing"
EXPORTER_NOT_ON_ALL_NODES = "ExporterNotOnAllNodes"
SCRAPE_FAILED = "ScrapeFailed"
METRICS_MISSING = "MetricsMissing"
NO_PROMETHEUS = "NoPrometheus"
PROMETHEUS_UNAVAILABLE = "PrometheusUnavailable"
NO_MONITOR_SELECTOR = "NoMonitorSelector"
INSECURE_ACCELERATOR_ACCESS = "InsecureAcceleratorAccess"
ADMIN_ACCESS_NOT_DENIED = "AdminAccessNotDenied"
NO_AI_OPERATOR = "NoAIOperator"
CRS_NOT_RECONCILED = "CRsNotReconciled"  # objects its controller should have reconciled have no or stale status
RECONCILE_FAILED = "ReconcileFailed"  # its controller reconciled them and reports failure (state failed, Ready=False)
PRESENCE_ONLY = "PresenceOnly"  # looks Implemented, but nothing live vouches for it (conformance/evidence.py)
DECLARATION_CONTRADICTED = "DeclarationContradicted"  # spec.requirements claims what the cluster disproves
UNREADABLE = "Unreadable"  # a resource the check needs could not be read (403, failed LIST): cannot-see, not absent
# --- Reasons of probes (aiconform.probes): a canary workload run in a sandbox namespace ---------------------------
BEHAVIOUR_OBSERVED = "BehaviourObserved"  # the probe saw the behaviour the requirement asks for
PROBE_FAILED = "ProbeFailed"  # the probe saw the behaviour refused or absent (condition False)
PROBE_TIMED_OUT = "ProbeTimedOut"  # a step did not happen in time: the message names it (condition Unknown)
PROBE_CANNOT_RUN = "ProbeCannotRun"  # nothing to test (no CRDs, no DeviceClass, no tenant namespace)
PROBE_NOT_PERMITTED = "ProbeNotPermitted"  # the API server refused the probe's own requests (403)
PROBE_NAMESPACE_REFUSED = "ProbeNamespaceRefused"  # the probe namespace prefix selects a namespace not the probe's

# Reasons whose verdict is "we could not tell", not "it is broken": the condition is Unknown.
UNKNOWN_REASONS: frozenset[str] = frozenset(
    {
        NEEDS_HARDWARE_TEST,
        UNRECOGNIZED_ACCELERATOR,
        CHECK_ERROR,
        METRICS_NOT_SCRAPED,
        DISCOVERY_UNAVAILABLE,
        UNREADABLE,
        PRESENCE_ONLY,
        NO_ACCELERATOR_NODES,
        PROBE_TIMED_OUT,
        PROBE_CANNOT_RUN,
        PROBE_NOT_PERMITTED,
        PROBE_NAMESPACE_REFUSED,
    }
)
# Probe reasons that say the probe could not decide: such a verdict never replaces a check's (probemerge.py).
PROBE_INCONCLUSIVE: frozenset[str] = frozenset(
    {PROBE_TIMED_OUT, PROBE_CANNOT_RUN, PROBE_NOT_PERMITTED, PROBE_NAMESPACE_REFUSED}
)
# Reasons meaning "the capability was not found at all". On a conditional requirement ("If the platform
# provides...") the evaluation adds a hint to declare N/A when the platform really does not offer it.
ABSENCE_REASONS: frozenset[str] = frozenset(
    {CRDS_MISSING, NO_AUTOSCALER, NO_CUSTOM_METRICS_API, NO_HIGH_PERFORMANCE_NETWORK, NO_DISAGGREGATED_SERVING}
)


@dataclass(frozen=True)
class Verdict:
    """The result of one requirement check (or of a declaration in spec.requirements)."""

    requirement: str
    status: VerdictStatus
    reason: str
    message: str
    evidence: tuple[str, ...] = ()
    declared: bool = False
    # What the verdict rests on (conformance/evidence.py): Observed, ControllerStatus, APIPresence or Declared.
    # The weakest by default: a check must say when a live controller's status or a probe vouches for it.
    tier: str = "APIPresence"
    # Objects or facts the API shows to be wrong ("Pod team-a/x runs privileged with /dev"): a declaration
    # claiming more than the check can never hide them.
    faults: tuple[str, ...] = ()
    # Readable transcripts of the probe runs behind this verdict (aiconform.probes), one text per run: steps with
    # timings, the objects made, what was seen. Rendered into the export bundle's evidence files.
    transcript: tuple[str, ...] = ()

    @property
    def met(self) -> bool:
        """Counts towards the MUST/SHOULD tallies and conformance: Implemented, or N/A (see evaluate.py)."""
        return is_met(self)


def is_met(verdict: Verdict) -> bool:
    return verdict.status in (IMPLEMENTED, NOT_APPLICABLE)


def condition_status(verdict: Verdict) -> ConditionStatus:
    """The status of the profile condition for this requirement.

    Implemented and N/A are True. A verdict that could not decide (hardware test pending, unrecognized
    accelerator, check error, nothing scraped) is Unknown. Everything else, including a declared
    Partially Implemented or Not Implemented, is False.
    """
    if verdict.status in (IMPLEMENTED, NOT_APPLICABLE):
        return "True"
    if verdict.reason in UNKNOWN_REASONS:
        return "Unknown"
    return "False"
