"""Pydantic models of the ConformanceProfile: the single source of truth for the CRD schema.

`aiconform.api.crdgen` turns these models into the CustomResourceDefinition, so every constraint here shows up at
admission. Cross-field rules are written twice, side by side: a pydantic validator (used by `aiconform check`
and the operator) and its CEL twin in `json_schema_extra` (used by the kube-apiserver). They must reject the
same inputs; tests/unit/test_models.py and tests/invalid_profiles/ hold them to that.

Spec models are strict (no "10" for 10) because the API server does not coerce types either.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import UnionType
from typing import Annotated, Any, ClassVar, Literal, Union, get_args, get_origin

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from aiconform.api.constants import PROFILE_NAME_MAX

__all__ = [
    "REQUIREMENT_CATEGORIES",
    "REQUIREMENT_IDS",
    "REQUIREMENT_STATUSES",
    "AcceleratorSpec",
    "ComponentStatus",
    "ComponentsSpec",
    "Condition",
    "ConformanceProfile",
    "DcgmExporterSpec",
    "DeclaredRequirement",
    "DraSpec",
    "KedaSpec",
    "KubeletPluginSpec",
    "KueueSpec",
    "LabelSelector",
    "LabelSelectorRequirement",
    "NetworkPoliciesSpec",
    "ProfileSpec",
    "ProfileStatus",
    "QuotasSpec",
    "RequirementCategory",
    "RequirementId",
    "RequirementLevel",
    "RequirementResult",
    "RequirementStatus",
    "SeccompSpec",
    "StatusSummary",
    "TenantSpec",
    "Toleration",
    "ValidationError",
    "validate_profile",
]

# ---------------------------------------------------------------------------------------------------------------
# Vocabulary shared with the checklists (see /checklists and REQUIREMENTS.md).

RequirementId = Literal[
    "dra_support",
    "driver_runtime_management",
    "gpu_sharing",
    "virtualized_accelerator",
    "ai_inference",
    "advanced_inference_ingress",
    "high_performance_networking",
    "disaggregated_inference",
    "gang_scheduling",
    "cluster_autoscaling",
    "pod_autoscaling",
    "accelerator_metrics",
    "ai_service_metrics",
    "secure_accelerator_access",
    "robust_controller",
]
REQUIREMENT_IDS: tuple[str, ...] = get_args(RequirementId)

RequirementStatus = Literal["Implemented", "Partially Implemented", "Not Implemented", "N/A"]
REQUIREMENT_STATUSES: tuple[str, ...] = get_args(RequirementStatus)

RequirementCategory = Literal[
    "accelerators", "networking", "schedulingOrchestration", "observability", "security", "operator"
]
REQUIREMENT_CATEGORIES: tuple[str, ...] = get_args(RequirementCategory)

RequirementLevel = Literal["MUST", "SHOULD"]

# ---------------------------------------------------------------------------------------------------------------
# Patterns. Written in the RE2/Python common subset: the same string goes into the CRD `pattern` and into CEL.

DNS1123_LABEL_RE = r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?"
DNS1123_SUBDOMAIN_RE = rf"{DNS1123_LABEL_RE}(\.{DNS1123_LABEL_RE})*"
# Label name part: at most 63 characters, the bound is encoded in the repetition.
LABEL_NAME_RE = r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?"
LABEL_KEY_PATTERN = rf"^({DNS1123_SUBDOMAIN_RE}/)?{LABEL_NAME_RE}$"
LABEL_VALUE_PATTERN = rf"^({LABEL_NAME_RE})?$"
QUALIFIED_RESOURCE_NAME_PATTERN = rf"^{DNS1123_SUBDOMAIN_RE}/{LABEL_NAME_RE}$"
DNS1123_LABEL_PATTERN = rf"^{DNS1123_LABEL_RE}$"
DNS1123_SUBDOMAIN_PATTERN = rf"^{DNS1123_SUBDOMAIN_RE}$"
KUBERNETES_VERSION_PATTERN = r"^(auto|v1\.[0-9]+)$"
DRIVER_VERSION_PATTERN = r"^[0-9]+(\.[0-9]+){0,3}$"
# Non-negative Kubernetes quantity (resource.Quantity without a sign).
QUANTITY_PATTERN = r"^([0-9]+(\.[0-9]*)?|\.[0-9]+)(([KMGTPE]i)|[numkMGTPE]|([eE][-+]?[0-9]+))?$"
PROMETHEUS_METRIC_PATTERN = r"^([a-zA-Z_:][a-zA-Z0-9_:]*)?$"
# Explicit whitespace classes, not \s: Python's \s also matches \v and Unicode spaces, Go's RE2 (the API server)
# does not, and the two must give the same verdicts.
HTTP_URL_PATTERN = r"^https?://[^ \t\n\f\r/]+(/[^ \t\n\f\r]*)?$"
NO_WHITESPACE_PATTERN = r"^[^ \t\n\f\r]+$"
# "Not blank": CEL's matches() is a search, Python's re.search is too; the class is spelled out so both agree.
NOT_BLANK_RE = r"[^ \t\r\n\f\v]"

LABEL_KEY_MAX = 317  # 253 (DNS prefix) + "/" + 63 (name)
LABEL_PREFIX_MAX = 253
# Bounds on everything CEL touches: the API server rejects rules whose worst-case cost is too high.
MAX_LABELS = 64
MAX_EXPRESSIONS = 32
MAX_VALUES = 64
MAX_TOLERATIONS = 32
MAX_EVIDENCE = 32


def _cel(rule: str, message: str, field_path: str | None = None) -> dict[str, str]:
    out = {"rule": rule, "message": message}
    if field_path is not None:
        out["fieldPath"] = field_path
    return out


def _validations(*rules: dict[str, str]) -> dict[str, Any]:
    """json_schema_extra carrying CEL rules into the CRD (crdgen copies x-kubernetes-* keys verbatim)."""
    return {"x-kubernetes-validations": list(rules)}


def _check_label_key(key: str) -> str:
    # The regex bounds the name part; the DNS prefix length needs its own check (CEL twin: indexOf).
    if len(key) > LABEL_KEY_MAX or not re.fullmatch(LABEL_KEY_PATTERN, key) or key.find("/") > LABEL_PREFIX_MAX:
        raise ValueError(f"invalid label key {key!r}: want an optional DNS subdomain prefix and '/', then a name")
    return key


# A label key inside a map: pydantic checks it here; the CRD needs the CEL rule below on the map.
LabelKey = Annotated[str, AfterValidator(_check_label_key)]
LabelValue = Annotated[str, StringConstraints(max_length=63, pattern=LABEL_VALUE_PATTERN)]
LABEL_MAP_RULE = _cel(
    f"self.all(k, size(k) <= {LABEL_KEY_MAX} && k.matches(r'{LABEL_KEY_PATTERN}') "
    f"&& k.indexOf('/') <= {LABEL_PREFIX_MAX})",
    "keys must be valid label keys: an optional DNS subdomain prefix and '/', then a name of at most "
    "63 alphanumerics, '-', '_' or '.'",
)

Quantity = Annotated[int, Field(ge=0)] | Annotated[str, StringConstraints(max_length=64, pattern=QUANTITY_PATTERN)]


def _drop_nulls(value: Any) -> Any:
    """The API server prunes a null field (then defaults it) and drops a null map entry: null means absent."""
    return {k: v for k, v in value.items() if v is not None} if isinstance(value, dict) else value


def _whole_float(value: Any) -> Any:
    """60.0 -> 60: kubectl sends whole-number floats as integers, and the API server accepts them for integers."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


def _int_field(annotation: Any) -> bool:
    """int (possibly Annotated with constraints), or a union holding one (int-or-string fields), but not bool."""
    if get_origin(annotation) is Annotated:
        annotation = get_args(annotation)[0]
    if annotation is int:
        return True
    return get_origin(annotation) in (Union, UnionType) and any(_int_field(a) for a in get_args(annotation))


class _Spec(BaseModel):
    """Base of everything under `spec`: camelCase on the wire, strict types, unknown fields are errors."""

    # Integer fields a CEL rule reads: the API server rejects 11.0 there ("expected int, got float64").
    _CEL_INTS: ClassVar[frozenset[str]] = frozenset()

    @model_validator(mode="before")
    @classmethod
    def _as_the_api_server_reads_it(cls, data: Any) -> Any:
        """Read JSON the way the API server does, so the model and the CRD agree on every input:
        a null field is absent (then defaulted); 60.0 is the integer 60 (except where CEL reads it);
        an integer must fit int64."""
        if not isinstance(data, dict):
            return data
        # Only known fields: a null under an unknown key is still an unknown field (strict decoding says so).
        fields = {f.alias or n: f for n, f in cls.model_fields.items()} | dict(cls.model_fields)
        out: dict[str, Any] = {}
        for key, value in data.items():
            field = fields.get(key)
            if field is None:
                out[key] = value
                continue
            if value is None:
                continue
            if _int_field(field.annotation):
                if isinstance(value, float) and value.is_integer() and (field.alias or key) not in cls._CEL_INTS:
                    value = int(value)
                if isinstance(value, int) and not isinstance(value, bool) and not INT64_MIN <= value <= INT64_MAX:
                    raise ValueError(f"{field.alias or key}: {value} does not fit a 64-bit integer")
            out[key] = value
        return out

    model_config = ConfigDict(
        alias_generator=to_camel,
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
        extra="forbid",
        strict=True,
    )


class _Status(BaseModel):
    """Base of the status models: read back from the API server, so unknown fields are tolerated."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
        extra="ignore",
    )


# ---------------------------------------------------------------------------------------------------------------
# Label selectors (metav1.LabelSelector)


class LabelSelectorRequirement(_Spec):
    """One set-based requirement of a label selector, as in metav1.LabelSelectorRequirement."""

    model_config = ConfigDict(
        json_schema_extra=_validations(
            _cel(
                "self.operator in ['In', 'NotIn'] ? size(self.values) > 0 : size(self.values) == 0",
                "values must be non-empty for operator In and NotIn, and empty for Exists and DoesNotExist",
                ".values",
            )
        )
    )

    key: str = Field(
        description="Label key the requirement applies to.",
        max_length=LABEL_KEY_MAX,
        pattern=LABEL_KEY_PATTERN,
        json_schema_extra=_validations(
            _cel(
                f"self.indexOf('/') <= {LABEL_PREFIX_MAX}",
                f"the prefix of a label key must be at most {LABEL_PREFIX_MAX} characters",
            )
        ),
    )
    operator: Literal["In", "NotIn", "Exists", "DoesNotExist"] = Field(
        description="How the key relates to the values: In, NotIn, Exists or DoesNotExist."
    )
    values: list[LabelValue] = Field(
        default=[],
        max_length=MAX_VALUES,
        description="Values for In and NotIn (non-empty); must be empty for Exists and DoesNotExist.",
    )

    @field_validator("key")
    @classmethod
    def _key_prefix(cls, key: str) -> str:
        return _check_label_key(key)

    @model_validator(mode="after")
    def _values_match_operator(self) -> LabelSelectorRequirement:
        if self.operator in ("In", "NotIn") and not self.values:
            raise ValueError(f"values: must be non-empty for operator {self.operator}")
        if self.operator in ("Exists", "DoesNotExist") and self.values:
            raise ValueError(f"values: must be empty for operator {self.operator}")
        return self


class LabelSelector(_Spec):
    """A Kubernetes label selector (metav1.LabelSelector). All terms are ANDed; an empty selector matches all."""

    match_labels: Annotated[dict[LabelKey, LabelValue], BeforeValidator(_drop_nulls)] = Field(
        default={},
        max_length=MAX_LABELS,
        description="Labels that must be present with exactly these values.",
        json_schema_extra=_validations(LABEL_MAP_RULE),
    )
    match_expressions: list[LabelSelectorRequirement] = Field(
        default=[],
        max_length=MAX_EXPRESSIONS,
        description="Set-based requirements, all of which must hold.",
    )

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Whether an object with these labels is selected (same semantics as the API server)."""
        if any(labels.get(k) != v for k, v in self.match_labels.items()):
            return False
        for expr in self.match_expressions:
            present = expr.key in labels
            if expr.operator == "In" and (not present or labels[expr.key] not in expr.values):
                return False
            if expr.operator == "NotIn" and present and labels[expr.key] in expr.values:
                return False
            if expr.operator == "Exists" and not present:
                return False
            if expr.operator == "DoesNotExist" and present:
                return False
        return True


# ---------------------------------------------------------------------------------------------------------------
# Accelerators and tenants


class AcceleratorSpec(_Spec):
    """Which nodes carry accelerators and what they must offer."""

    vendor: Literal["nvidia", "amd", "intel"] = Field(
        default="nvidia", description="Accelerator vendor: nvidia, amd or intel. Selects vendor-specific checks."
    )
    node_selector: LabelSelector = Field(
        default=LabelSelector(match_labels={"nvidia.com/gpu.present": "true"}),
        description="Selects the accelerator nodes (GPU Feature Discovery labels them nvidia.com/gpu.present).",
    )
    min_driver_version: str | None = Field(
        default=None,
        max_length=64,
        pattern=DRIVER_VERSION_PATTERN,
        description='Lowest acceptable accelerator driver version, dotted numbers like "550.54.15". '
        "Unset: any version, but versions must still be uniform across nodes.",
    )
    resource_name: str = Field(
        default="nvidia.com/gpu",
        max_length=LABEL_KEY_MAX,
        pattern=QUALIFIED_RESOURCE_NAME_PATTERN,
        description="Extended resource name the device plugin advertises, as domain/name.",
    )


class TenantSpec(_Spec):
    """Namespaces that run AI workloads: quotas, network policies and Pod Security apply to them."""

    namespace_selector: LabelSelector = Field(
        default=LabelSelector(match_labels={"aiconform.io/tenant": "true"}),
        description="Selects the tenant namespaces.",
    )


# ---------------------------------------------------------------------------------------------------------------
# Components (one block each, in the spirit of the NVIDIA gpu-operator ClusterPolicy)


class KubeletPluginSpec(_Spec):
    """The DRA kubelet plugin DaemonSet, for clusters without a vendor DRA driver."""

    model_config = ConfigDict(
        json_schema_extra=_validations(
            _cel("!self.enabled || has(self.image)", "image is required when the kubelet plugin is enabled", ".image")
        )
    )

    enabled: bool = Field(default=False, description="Deploy the DRA kubelet plugin DaemonSet.")
    image: str | None = Field(
        default=None,
        min_length=1,
        max_length=512,
        pattern=NO_WHITESPACE_PATTERN,
        description="Container image of the kubelet plugin. Required when enabled.",
    )

    @model_validator(mode="after")
    def _image_when_enabled(self) -> KubeletPluginSpec:
        if self.enabled and self.image is None:
            raise ValueError("image: required when the kubelet plugin is enabled")
        return self


class DraSpec(_Spec):
    """Dynamic Resource Allocation: DeviceClasses, an admission policy and a driver check."""

    enabled: bool = Field(default=False, description="Manage DRA DeviceClasses and policies.")
    deny_admin_access: bool = Field(
        default=True,
        description="Reject ResourceClaims with adminAccess outside admin namespaces (ValidatingAdmissionPolicy).",
    )
    kubelet_plugin: KubeletPluginSpec = Field(
        default=KubeletPluginSpec(), description="Optional DRA kubelet plugin managed by aiconform."
    )


class KueueSpec(_Spec):
    """Gang scheduling and GPU quota through Kueue: ResourceFlavor, ClusterQueue and LocalQueues."""

    model_config = ConfigDict(
        json_schema_extra=_validations(
            _cel(
                "!has(self.existingClusterQueue) || (!has(self.cpuQuota) && !has(self.memoryQuota))",
                "cpuQuota and memoryQuota shape the ClusterQueue aiconform builds: with existingClusterQueue "
                "the adopted ClusterQueue keeps its own quotas",
                ".existingClusterQueue",
            ),
        )
    )

    enabled: bool = Field(default=False, description="Manage the Kueue ResourceFlavor, ClusterQueue and LocalQueues.")
    cluster_queue: str = Field(
        default="ai-default",
        max_length=253,
        pattern=DNS1123_SUBDOMAIN_PATTERN,
        description="Name of the ClusterQueue shared by the tenant namespaces.",
    )
    local_queue: str = Field(
        default="default",
        max_length=253,
        pattern=DNS1123_SUBDOMAIN_PATTERN,
        description="Name of the LocalQueue created in every tenant namespace.",
    )
    gpus_per_flavor: Annotated[int, Field(ge=0)] | Literal["auto"] = Field(
        default="auto",
        description='GPU nominal quota of the ResourceFlavor: a non-negative integer, or "auto" for the '
        "sum of allocatable GPUs on the accelerator nodes.",
    )
    cpu_quota: Quantity | None = Field(
        default=None, description='CPU nominal quota of the ClusterQueue as a quantity ("64", "500m"). Unset: none.'
    )
    memory_quota: Quantity | None = Field(
        default=None, description='Memory nominal quota of the ClusterQueue as a quantity ("512Gi"). Unset: none.'
    )
    existing_cluster_queue: str | None = Field(
        default=None,
        max_length=253,
        pattern=DNS1123_SUBDOMAIN_PATTERN,
        description="Adopt this ClusterQueue the platform already runs instead of building one: the LocalQueues "
        "point at it, no ResourceFlavor or ClusterQueue is made, and it is verified to cover the accelerator "
        "resource on every GPU pool and to admit the tenant namespaces. Unset: aiconform builds clusterQueue.",
    )

    @model_validator(mode="after")
    def _consistent(self) -> KueueSpec:
        if self.existing_cluster_queue is not None and (self.cpu_quota is not None or self.memory_quota is not None):
            raise ValueError(
                "existingClusterQueue: cpuQuota and memoryQuota shape the ClusterQueue aiconform builds: with "
                "existingClusterQueue the adopted ClusterQueue keeps its own quotas"
            )
        return self


class KedaSpec(_Spec):
    """Autoscaling of inference Deployments with KEDA ScaledObjects on a Prometheus metric."""

    _CEL_INTS: ClassVar[frozenset[str]] = frozenset({"minReplicas", "maxReplicas"})

    model_config = ConfigDict(
        json_schema_extra=_validations(
            _cel(
                "self.minReplicas <= self.maxReplicas",
                "minReplicas must be less than or equal to maxReplicas",
                ".minReplicas",
            ),
            _cel("!self.enabled || size(self.metric) > 0", "metric is required when keda is enabled", ".metric"),
        )
    )

    enabled: bool = Field(default=False, description="Create a ScaledObject for every selected inference Deployment.")
    inference_selector: LabelSelector = Field(
        default=LabelSelector(match_labels={"aiconform.io/inference": "true"}),
        description="Selects the inference Deployments (in tenant namespaces) to autoscale.",
    )
    metric: str = Field(
        default="vllm:num_requests_waiting",
        max_length=256,
        pattern=PROMETHEUS_METRIC_PATTERN,
        description="Prometheus metric name to scale on (summed per Deployment). Required when enabled.",
    )
    prometheus_address: str = Field(
        default="http://prometheus-operated.monitoring.svc:9090",
        max_length=2048,
        pattern=HTTP_URL_PATTERN,
        description="Base URL of the Prometheus server KEDA queries.",
    )
    threshold: float = Field(default=10, gt=0, description="Target metric value per replica.")
    activation_threshold: float = Field(
        default=0, ge=0, description="Metric value above which KEDA scales from zero replicas."
    )
    min_replicas: int = Field(default=0, ge=0, description="Fewest replicas; 0 allows scale to zero.")
    max_replicas: int = Field(default=10, ge=1, description="Most replicas.")
    cooldown_seconds: int = Field(
        default=300, ge=0, description="Seconds after the last activity before scaling to zero."
    )

    @model_validator(mode="after")
    def _consistent(self) -> KedaSpec:
        if self.min_replicas > self.max_replicas:
            raise ValueError("minReplicas: must be less than or equal to maxReplicas")
        if self.enabled and not self.metric:
            raise ValueError("metric: required when keda is enabled")
        return self


class Toleration(_Spec):
    """A Pod toleration (core/v1 Toleration without tolerationSeconds)."""

    model_config = ConfigDict(
        json_schema_extra=_validations(
            _cel(
                "self.operator != 'Exists' || size(self.value) == 0",
                "value must be empty when operator is Exists",
                ".value",
            ),
            _cel(
                "self.operator == 'Exists' || size(self.key) > 0",
                "operator must be Exists when key is empty",
                ".operator",
            ),
        )
    )

    key: str = Field(
        default="",
        max_length=LABEL_KEY_MAX,
        pattern=rf"^({LABEL_KEY_PATTERN[1:-1]})?$",
        description="Taint key to tolerate; empty with operator Exists tolerates every taint.",
    )
    operator: Literal["Exists", "Equal"] = Field(default="Equal", description="Exists or Equal.")
    value: LabelValue = Field(default="", description="Taint value for operator Equal.")
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute", ""] = Field(
        default="", description="Taint effect to tolerate; empty matches all effects."
    )

    @model_validator(mode="after")
    def _consistent(self) -> Toleration:
        if self.operator == "Exists" and self.value:
            raise ValueError("value: must be empty when operator is Exists")
        if self.operator != "Exists" and not self.key:
            raise ValueError("operator: must be Exists when key is empty")
        return self


DcgmCollector = Literal["xid", "nvlink", "profiling", "ecc", "power", "clocks"]


class DcgmExporterSpec(_Spec):
    """NVIDIA DCGM exporter: DaemonSet, Service and ServiceMonitor for accelerator metrics and XID errors."""

    enabled: bool = Field(default=False, description="Deploy the DCGM exporter.")
    namespace: str = Field(
        default="aiconform-dcgm",
        max_length=63,
        pattern=DNS1123_LABEL_PATTERN,
        description="Namespace for the exporter (created if missing).",
    )
    image: str = Field(
        default="nvidia/dcgm-exporter:4.2.3-4.1.3-ubuntu22.04",
        min_length=1,
        max_length=512,
        pattern=NO_WHITESPACE_PATTERN,
        description="Container image of the exporter.",
    )
    collectors: list[DcgmCollector] = Field(
        default=["xid"],
        max_length=6,
        description="Metric groups to collect: xid, nvlink, profiling, ecc, power, clocks (no duplicates).",
        json_schema_extra={"uniqueItems": True},
    )
    port: int = Field(default=9400, ge=1, le=65535, description="Port of the /metrics endpoint.")
    node_selector: Annotated[dict[LabelKey, LabelValue] | None, BeforeValidator(_drop_nulls)] = Field(
        default=None,
        max_length=MAX_LABELS,
        description="Node labels the DaemonSet is restricted to. Unset: spec.accelerators.nodeSelector.matchLabels.",
        json_schema_extra=_validations(LABEL_MAP_RULE),
    )
    tolerations: list[Toleration] = Field(
        default=[Toleration(key="nvidia.com/gpu", operator="Exists", effect="NoSchedule")],
        max_length=MAX_TOLERATIONS,
        description="Tolerations of the DaemonSet pods.",
    )

    @field_validator("collectors")
    @classmethod
    def _unique(cls, collectors: list[str]) -> list[str]:
        # Twin of x-kubernetes-list-type: set in the CRD.
        if len(set(collectors)) != len(collectors):
            raise ValueError("collectors must not repeat")
        return collectors


class QuotasSpec(_Spec):
    """A ResourceQuota per tenant namespace capping accelerators."""

    enabled: bool = Field(default=False, description="Manage a ResourceQuota in every tenant namespace.")
    gpus_per_tenant: int = Field(
        default=4, ge=0, description="Accelerators (extended resource) each tenant may request."
    )
    dra_devices_per_tenant: int | None = Field(
        default=None,
        ge=0,
        description="ResourceClaims each tenant may hold (DRA). Only with components.dra.enabled.",
    )


class NetworkPoliciesSpec(_Spec):
    """NetworkPolicies isolating tenant namespaces."""

    enabled: bool = Field(default=False, description="Manage NetworkPolicies in every tenant namespace.")
    default_deny: bool = Field(
        default=True, description="Deny east-west traffic by default; DNS, monitoring and the gateway stay allowed."
    )
    monitoring_namespace: str = Field(
        default="monitoring",
        max_length=63,
        pattern=DNS1123_LABEL_PATTERN,
        description="Namespace whose pods (Prometheus) may scrape tenant pods.",
    )
    gateway_namespace: str | None = Field(
        default=None,
        max_length=63,
        pattern=DNS1123_LABEL_PATTERN,
        description="Namespace of the inference Gateway allowed to reach tenant pods. Unset: none.",
    )


class SeccompSpec(_Spec):
    """RuntimeDefault seccomp for tenant pods, via Pod Security labels and an admission policy."""

    enabled: bool = Field(default=False, description="Enforce seccomp and Pod Security on tenant namespaces.")
    enforcement: Literal["Deny", "Warn", "Audit"] = Field(
        default="Deny", description="What the admission policy does with a violating pod: Deny, Warn or Audit."
    )
    pod_security_level: Literal["baseline", "restricted"] = Field(
        default="restricted", description="Pod Security Standard applied to tenant namespaces."
    )


class ComponentsSpec(_Spec):
    """The components aiconform manages; each is off unless enabled."""

    model_config = ConfigDict(
        json_schema_extra=_validations(
            _cel(
                "!has(self.quotas.draDevicesPerTenant) || self.dra.enabled",
                "quotas.draDevicesPerTenant requires dra.enabled",
                ".quotas.draDevicesPerTenant",
            )
        )
    )

    dra: DraSpec = Field(default=DraSpec(), description="Dynamic Resource Allocation.")
    kueue: KueueSpec = Field(default=KueueSpec(), description="Kueue queues for gang scheduling.")
    keda: KedaSpec = Field(default=KedaSpec(), description="KEDA autoscaling of inference Deployments.")
    dcgm_exporter: DcgmExporterSpec = Field(default=DcgmExporterSpec(), description="DCGM exporter for GPU metrics.")
    quotas: QuotasSpec = Field(default=QuotasSpec(), description="Per-tenant accelerator quotas.")
    network_policies: NetworkPoliciesSpec = Field(
        default=NetworkPoliciesSpec(), description="Tenant network isolation."
    )
    seccomp: SeccompSpec = Field(default=SeccompSpec(), description="Seccomp and Pod Security for tenants.")

    @model_validator(mode="after")
    def _dra_counts_need_dra(self) -> ComponentsSpec:
        if self.quotas.dra_devices_per_tenant is not None and not self.dra.enabled:
            raise ValueError("quotas.draDevicesPerTenant: requires dra.enabled")
        return self


ProbeName = Literal[
    "gang_scheduling",
    "dra_support",
    "secure_accelerator_access",
    "ai_inference",
    "robust_controller",
    "pod_autoscaling",
]
PROBE_INTERVAL_FLOOR = 300  # seconds: each run creates and deletes a namespace and a small workload
# A namespace name prefix: a DNS label start (ends in a letter, digit or '-'), leaving room for a suffix.
PROBE_PREFIX_PATTERN = r"^[a-z]([-a-z0-9]{0,30})$"


class ProbesSpec(_Spec):
    """Probes (opt-in): small canary workloads in sandbox namespaces of their own that prove a requirement by its
    behaviour (evidence tier Observed). See docs/probes.md."""

    run: list[ProbeName] = Field(
        default=[],
        max_length=6,
        description="Probes to run, by requirement id: gang_scheduling, dra_support, secure_accelerator_access, "
        "ai_inference, robust_controller, pod_autoscaling (no duplicates). Empty: none.",
        json_schema_extra={"uniqueItems": True},
    )
    interval_seconds: int = Field(
        default=3600,
        ge=PROBE_INTERVAL_FLOOR,
        le=604800,
        description=f"Seconds between probe runs; at least {PROBE_INTERVAL_FLOOR}.",
    )
    timeout_seconds: int = Field(
        default=120, ge=10, le=900, description="Seconds one probe may take before it is reported ProbeTimedOut."
    )
    namespace_prefix: str = Field(
        default="aiconform-probe-",
        max_length=31,
        pattern=PROBE_PREFIX_PATTERN,
        description="Prefix of the sandbox namespaces (a random suffix follows). A prefix that an existing "
        "namespace not made by a probe starts with is refused.",
    )

    @field_validator("run")
    @classmethod
    def _unique(cls, run: list[str]) -> list[str]:
        # Twin of uniqueItems (x-kubernetes-list-type: set) in the CRD.
        if len(set(run)) != len(run):
            raise ValueError("run must not repeat a probe")
        return run


# ---------------------------------------------------------------------------------------------------------------
# Declared requirements and the spec


class DeclaredRequirement(_Spec):
    """A fact about a requirement the cluster cannot show (e.g. no autoscaler on-prem), with its justification."""

    model_config = ConfigDict(
        json_schema_extra=_validations(
            _cel(
                f"self.status != 'N/A' || self.notes.matches(r'{NOT_BLANK_RE}')",
                "notes must justify a status of N/A",
                ".notes",
            )
        )
    )

    status: RequirementStatus = Field(
        description="Declared status, in checklist vocabulary: Implemented, Partially Implemented, "
        "Not Implemented or N/A."
    )
    notes: str = Field(default="", max_length=4096, description="Justification; required for N/A.")
    evidence: list[Annotated[str, StringConstraints(max_length=2048)]] = Field(
        default=[], max_length=MAX_EVIDENCE, description="URLs or document references backing the declaration."
    )

    @model_validator(mode="after")
    def _na_needs_notes(self) -> DeclaredRequirement:
        if self.status == "N/A" and not re.search(NOT_BLANK_RE, self.notes):
            raise ValueError("notes: must justify a status of N/A")
        return self


_REQUIREMENT_ID_LIST = ", ".join(f"'{i}'" for i in REQUIREMENT_IDS)


class ProfileSpec(_Spec):
    """Desired state of a ConformanceProfile: what the cluster must offer and what aiconform manages."""

    model_config = ConfigDict(
        json_schema_extra=_validations(
            _cel(
                "!self.components.dcgmExporter.enabled || self.accelerators.vendor == 'nvidia'",
                "dcgmExporter requires accelerators.vendor nvidia",
                ".components.dcgmExporter.enabled",
            )
        )
    )

    kubernetes_version: str = Field(
        default="auto",
        max_length=16,
        pattern=KUBERNETES_VERSION_PATTERN,
        description='Checklist version to evaluate against, like "v1.35"; "auto" takes the one matching the '
        "cluster's /version.",
    )
    mode: Literal["Enforce", "Audit"] = Field(
        default="Enforce",
        description="Enforce: create and repair managed objects. Audit: check and report what would change, "
        "never write.",
    )
    deletion_policy: Literal["Delete", "Orphan"] = Field(
        default="Delete", description="What happens to managed objects when the profile is deleted."
    )
    evaluation_interval_seconds: int = Field(
        default=60, ge=10, le=86400, description="Seconds between periodic re-evaluations."
    )
    accelerators: AcceleratorSpec = Field(default=AcceleratorSpec(), description="Accelerator nodes.")
    tenants: TenantSpec = Field(default=TenantSpec(), description="Tenant namespaces.")
    components: ComponentsSpec = Field(default=ComponentsSpec(), description="Managed components.")
    probes: ProbesSpec = Field(default=ProbesSpec(), description="Probes: canary workloads that prove behaviour.")
    requirements: Annotated[dict[RequirementId, DeclaredRequirement], BeforeValidator(_drop_nulls)] = Field(
        default={},
        max_length=len(REQUIREMENT_IDS),
        description="Declared facts per requirement id (e.g. cluster_autoscaling), merged into the evaluation.",
        json_schema_extra=_validations(
            _cel(
                f"self.all(k, k in [{_REQUIREMENT_ID_LIST}])",
                f"unknown requirement id; known ids: {', '.join(REQUIREMENT_IDS)}",
            )
        ),
    )

    @model_validator(mode="after")
    def _dcgm_needs_nvidia(self) -> ProfileSpec:
        if self.components.dcgm_exporter.enabled and self.accelerators.vendor != "nvidia":
            raise ValueError("components.dcgmExporter.enabled: requires accelerators.vendor nvidia")
        return self


# ---------------------------------------------------------------------------------------------------------------
# Status (written by the operator)


class Condition(_Status):
    """A metav1.Condition."""

    type: str = Field(
        max_length=316,
        pattern=r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
        r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$",
        description="Condition type: Ready, Conformant or a requirement id.",
    )
    status: Literal["True", "False", "Unknown"] = Field(description="True, False or Unknown.")
    reason: str = Field(
        min_length=1,
        max_length=1024,
        pattern=r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$",
        description="CamelCase reason for the last transition.",
    )
    message: str = Field(default="", max_length=32768, description="Human-readable details.")
    observed_generation: int | None = Field(default=None, ge=0, description="Generation the condition was set for.")
    last_transition_time: str = Field(
        json_schema_extra={"format": "date-time"},
        description="When status last changed (RFC 3339).",
    )


class RequirementResult(_Status):
    """The verdict on one requirement, in checklist vocabulary."""

    id: str = Field(max_length=64, description="Requirement id, e.g. gang_scheduling.")
    category: RequirementCategory = Field(description="Checklist category the requirement belongs to.")
    level: RequirementLevel = Field(description="MUST or SHOULD in the evaluated checklist version.")
    status: RequirementStatus = Field(description="Implemented, Partially Implemented, Not Implemented or N/A.")
    reason: str = Field(default="", max_length=1024, description="CamelCase reason, e.g. APIVerified.")
    message: str = Field(default="", max_length=32768, description="Human-readable explanation.")
    evidence: list[str] = Field(default=[], description="URLs, object references or observations supporting it.")
    declared: bool = Field(default=False, description="Whether the status comes from spec.requirements.")
    tier: Literal["Observed", "ControllerStatus", "APIPresence", "Declared"] | None = Field(
        default=None,
        description="What the verdict rests on: Observed (a probe saw the behaviour), ControllerStatus (a status "
        "the controller wrote, current for the object's generation), APIPresence (objects exist) or Declared "
        "(spec.requirements). Implemented needs Observed or ControllerStatus for what the API can show.",
    )
    details: dict[str, Any] = Field(default={}, description="Check-specific structured evidence.")


class ComponentStatus(_Status):
    """State of one managed component."""

    state: str = Field(
        max_length=64,
        description="Disabled, Ready, Progressing, Degraded, Conflict, Blocked (a prerequisite is missing: the "
        "message says which), Provided (the platform provides it, verified), or in Audit mode InSync/Drifted.",
    )
    message: str = Field(default="", max_length=32768, description="Human-readable details.")
    managed: int = Field(default=0, ge=0, description="Number of objects aiconform manages for it.")
    conflicts: list[str] = Field(
        default=[], description="Objects (kind/namespace/name) in the way that aiconform does not own."
    )


class StatusSummary(_Status):
    """One-line summary shown by kubectl get."""

    kubernetes_version: str = Field(default="", max_length=16, description="Checklist version evaluated, e.g. v1.35.")
    conformant: str = Field(
        default="Unknown", max_length=16, description="True when every MUST is met; else False/Unknown."
    )
    must_met: str = Field(default="", max_length=16, description='MUST requirements met, like "8/9".')
    should_met: str = Field(default="", max_length=16, description='SHOULD requirements met, like "2/5".')
    mode: Literal["Enforce", "Audit"] = Field(default="Enforce", description="Mode the evaluation ran in.")


class ProfileStatus(_Status):
    """Observed state of a ConformanceProfile."""

    observed_generation: int | None = Field(default=None, ge=0, description="Generation of the spec last evaluated.")
    kubernetes_version: str | None = Field(
        default=None, max_length=16, description="Kubernetes minor version resolved from spec.kubernetesVersion."
    )
    last_evaluated: str | None = Field(
        default=None, json_schema_extra={"format": "date-time"}, description="When the checks last ran (RFC 3339)."
    )
    summary: StatusSummary | None = Field(default=None, description="Summary for the printer columns.")
    conditions: list[Condition] = Field(
        default=[],
        description="Ready, Conformant and one condition per requirement id.",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
    )
    requirements: list[RequirementResult] = Field(
        default=[],
        description="Verdict per requirement of the evaluated checklist.",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["id"]},
    )
    components: dict[str, ComponentStatus] = Field(default={}, description="State per managed component.")


# ---------------------------------------------------------------------------------------------------------------
# The resource


class ConformanceProfile(BaseModel):
    """A ConformanceProfile: makes a cluster AI-conformant and reports on it."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
        # kubectl and aiconform check send with strict field validation: the API server rejects an unknown
        # top-level field ("unknown field"), so the model does too.
        extra="forbid",
    )

    api_version: Literal["aiconform.io/v1alpha1"] = Field(
        default="aiconform.io/v1alpha1", description="aiconform.io/v1alpha1"
    )
    kind: Literal["ConformanceProfile"] = Field(default="ConformanceProfile", description="ConformanceProfile")
    metadata: dict[str, Any] = Field(default={}, description="Standard object metadata.")
    spec: ProfileSpec = Field(default=ProfileSpec(), description="Desired state.")
    # Kept open: the operator owns it, and a stale or foreign status must never make the spec unreadable.
    status: dict[str, Any] | None = Field(default=None, description="Observed state (see ProfileStatus).")

    @field_validator("metadata")
    @classmethod
    def _name_fits_a_label(cls, value: dict[str, Any]) -> dict[str, Any]:
        # The name is written as the aiconform.io/profile label value on every object the profile makes.
        name = value.get("name")
        if isinstance(name, str) and len(name) > PROFILE_NAME_MAX:
            raise ValueError(f"name is {len(name)} characters; at most {PROFILE_NAME_MAX} (it becomes a label value)")
        return value

    @field_validator("spec", mode="before")
    @classmethod
    def _null_spec(cls, value: Any) -> Any:
        # `spec:` with nothing after it parses as None; the API server defaults it to {}.
        return {} if value is None else value

    @property
    def name(self) -> str:
        return str(self.metadata.get("name", ""))


def validate_profile(doc: dict[str, Any]) -> ConformanceProfile:
    """Parse a ConformanceProfile manifest; raises pydantic.ValidationError with field paths on bad input."""
    return ConformanceProfile.model_validate(doc)
