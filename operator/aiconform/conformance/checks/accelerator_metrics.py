"""accelerator_metrics (KAR-0059; MUST since 1.33).

Asks: at least one accelerator metrics solution exposing fine-grained per-accelerator metrics on a standard,
machine-readable endpoint, at least utilization and memory usage per accelerator (temperature, power and
interconnect bandwidth where the hardware has them).

We verify, for NVIDIA accelerators and the DCGM exporter:
- a DCGM exporter DaemonSet exists (name contains `dcgm-exporter`, or labelled
  `app.kubernetes.io/name=dcgm-exporter` / `app=nvidia-dcgm-exporter`), else `ExporterMissing`;
- every accelerator node runs one of its pods (`ExporterNotOnAllNodes`, naming the nodes);
- the scrape of each node's exporter pod succeeded (`ScrapeFailed`, naming target and error) and holds, for every
  GPU of the node, a utilization sample (`DCGM_FI_DEV_GPU_UTIL`, or `DCGM_FI_PROF_GR_ENGINE_ACTIVE` where MIG hides
  the former) and `DCGM_FI_DEV_FB_USED` (`MetricsMissing`, naming node, metric and GPUs). A node's GPUs are the
  `uuid` of its DRA devices of type gpu plus the `parentUUID` of its MIG devices, matched against the samples'
  `UUID` label; without DRA, `nvidia.com/gpu.count` GPUs matched against the `gpu` index label.
A scrape that never reached the exporter (refused, timed out: pod IPs unreachable from where aiconform runs; or
the API server's pod proxy refusing it: forbidden without `get` on `pods/proxy`, pod gone, address not allowed) is
no scrape at all, not a failed exporter.

Verdicts and tiers:
- Implemented (`APIVerified`, tier `Observed`): a scrape of every accelerator node's exporter returned the core
  metrics for every GPU — the behaviour itself was observed. A missing temperature/power metric is mentioned only
  (the checklist says "should"); showing that utilization moves under load is a hardware test.
- Partially Implemented, `MetricsNotScraped` (condition Unknown): the exporter DaemonSet runs everywhere but no
  scrape reached it (scraping off, pod IPs unreachable, the API server's proxy refused) — presence, never Not
  Implemented.
- Not Implemented: `ExporterMissing`, `ExporterNotOnAllNodes`, `ScrapeFailed` (the exporter answered with an
  HTTP error or unparsable text), `MetricsMissing`.
- Unknown (condition): `NoAcceleratorNodes` (no node exposes an accelerator: this MUST cannot be evaluated; a
  cluster without accelerators declares N/A with notes), `UnrecognizedAccelerator` (other vendors: only the DCGM
  exporter is known), `Unreadable` (nodes, pods, daemonsets or resourceslices could not be listed).
- N/A: never from the check.

Accelerator nodes are `facts.accelerator_fleet` (nodes exposing accelerators plus those the profile selects);
nodes with accelerators outside spec.accelerators.nodeSelector are judged too and named.

Snapshot: `daemonsets`, `pods` (with `spec.nodeName`, `status.podIP`), `resource_slices`, and `scrapes`: one
`Scrape` per DCGM exporter pod (`target="<podIP>:<port>/metrics"`, `node=<nodeName>`, parsed samples).
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from aiconform.api.models import ProfileSpec
from aiconform.conformance.evidence import OBSERVED
from aiconform.conformance.facts import (
    Problem,
    accelerator_fleet,
    capped,
    daemonset_pods,
    device_attr,
    devices,
    from_problems,
    labels,
    name,
    names_list,
    no_accelerator_nodes,
    plural,
    pod_node,
    pod_running,
    ref,
    slices_by_node,
    status_of,
    to_int,
    unreadable,
)
from aiconform.conformance.verdict import (
    API_VERIFIED,
    EXPORTER_MISSING,
    EXPORTER_NOT_ON_ALL_NODES,
    IMPLEMENTED,
    METRICS_MISSING,
    METRICS_NOT_SCRAPED,
    NOT_IMPLEMENTED,
    PARTIAL,
    SCRAPE_FAILED,
    UNRECOGNIZED_ACCELERATOR,
    Verdict,
)
from aiconform.kube.snapshot import MetricSample, Obj, Scrape, Snapshot

ID = "accelerator_metrics"
UTIL = "DCGM_FI_DEV_GPU_UTIL"
UTIL_MIG = "DCGM_FI_PROF_GR_ENGINE_ACTIVE"
FB_USED = "DCGM_FI_DEV_FB_USED"
# (name reported, metric names that satisfy it)
REQUIRED: tuple[tuple[str, tuple[str, ...]], ...] = ((UTIL, (UTIL, UTIL_MIG)), (FB_USED, (FB_USED,)))
OPTIONAL = ("DCGM_FI_DEV_GPU_TEMP", "DCGM_FI_DEV_POWER_USAGE")
SOURCES = ("nodes", "pods", "daemonsets.apps", "resourceslices.resource.k8s.io")
# Errors of a scrape that reached the exporter (collect.py): anything else did not get through to it.
REACHED_ERRORS = ("HTTP ", "unparsable")


@dataclass(frozen=True)
class ExpectedGpus:
    label: str  # sample label identifying a GPU: "UUID" or "gpu"
    ids: frozenset[str]  # empty: at least one sample of any GPU


def _is_exporter(ds: Obj) -> bool:
    ds_labels = labels(ds)
    return (
        "dcgm-exporter" in name(ds)
        or ds_labels.get("app.kubernetes.io/name") == "dcgm-exporter"
        or ds_labels.get("app") == "nvidia-dcgm-exporter"
    )


def _expected(node: Obj, slices: list[Obj]) -> ExpectedGpus:
    uuids: set[str] = set()
    for rs in slices:
        for dev in devices(rs):
            kind = device_attr(dev, "type")
            uid = (
                device_attr(dev, "uuid") if kind == "gpu" else device_attr(dev, "parentUUID") if kind == "mig" else None
            )
            if uid:
                uuids.add(str(uid))
    if uuids:
        return ExpectedGpus("UUID", frozenset(uuids))
    count = to_int(labels(node).get("nvidia.com/gpu.count"))
    return ExpectedGpus("gpu", frozenset(str(i) for i in range(count)))


def _gpu_id(sample: MetricSample, label: str) -> str | None:
    value = sample.labels.get(label) or (sample.labels.get("uuid") if label == "UUID" else None)
    return str(value) if value else None


def _missing_metrics(node: str, samples: Iterable[MetricSample], expected: ExpectedGpus) -> list[str]:
    seen: dict[str, set[str]] = defaultdict(set)
    for s in samples:
        seen[s.name].add(_gpu_id(s, expected.label) or "")
    out = []
    for reported, accepted in REQUIRED:
        have = set().union(*(seen.get(m, set()) for m in accepted))
        if not expected.ids:
            if not have:
                out.append(f"{node}: {reported} absent")
            continue
        lacking = expected.ids - have
        if lacking:
            of = f"{len(lacking)} of {plural(len(expected.ids), 'GPU')}"
            out.append(f"{node}: {reported} missing for {of} ({names_list(lacking, 3)})")
    return out


def _exporter_pods(snapshot: Snapshot, exporters: list[Obj]) -> dict[str, list[Obj]]:
    by_node: dict[str, list[Obj]] = defaultdict(list)
    for ds in exporters:
        for pod in daemonset_pods(snapshot, ds):
            if pod_running(pod) and pod_node(pod):
                by_node[pod_node(pod)].append(pod)
    return by_node


@dataclass(frozen=True)
class ScrapeIndex:
    by_host: Mapping[str, list[Scrape]]
    by_node: Mapping[str, list[Scrape]]

    @classmethod
    def of(cls, scrapes: Iterable[Scrape]) -> ScrapeIndex:
        by_host: dict[str, list[Scrape]] = defaultdict(list)
        by_node: dict[str, list[Scrape]] = defaultdict(list)
        for s in scrapes:
            by_host[_target_host(s.target)].append(s)
            by_node[s.node or ""].append(s)
        return cls(by_host, by_node)

    def of_pods(self, node: str, pods: list[Obj]) -> list[Scrape]:
        """The scrapes of these exporter pods: by pod IP when known (other scrapes of the node may be of other
        exporters), else by node."""
        ips = sorted({str(status_of(p).get("podIP")) for p in pods if status_of(p).get("podIP")})
        if ips:
            return [s for ip in ips for s in self.by_host.get(ip, [])]
        return list(self.by_node.get(node, []))


def _target_host(target: str) -> str:
    """The host of "ip:port/path" or "[ipv6]:port/path"."""
    return target.split("/", 1)[0].rsplit(":", 1)[0].strip("[]")


@dataclass
class Findings:
    problems: list[Problem]
    not_scraped: list[str]
    unreachable: list[str]
    evidence: list[str]
    optional_missing: list[str]


def _judge_node(node: Obj, scrapes: list[Scrape], slices: list[Obj], found: Findings) -> None:
    node_name = name(node)
    if not scrapes:
        found.not_scraped.append(node_name)
        return
    ok = [s for s in scrapes if s.ok]
    if not ok:
        answered = [s for s in scrapes if s.error.startswith(REACHED_ERRORS)]
        if not answered:
            found.unreachable.append(f"{node_name} ({scrapes[0].target}: {scrapes[0].error or 'no answer'})")
            return
        errors = "; ".join(f"{s.target}: {s.error or 'failed'}" for s in answered[:2])
        found.problems.append(Problem(SCRAPE_FAILED, f"scrape failed on {node_name} ({errors})"))
        return
    samples = [smp for s in ok for smp in s.samples]
    missing = _missing_metrics(node_name, samples, _expected(node, slices))
    found.problems += [Problem(METRICS_MISSING, m) for m in missing]
    if not missing:
        found.evidence.append(f"scrape {ok[0].target} ({node_name}): {UTIL}, {FB_USED} for every GPU")
    names = {s.name for s in samples}
    absent = [m for m in OPTIONAL if m not in names]
    if absent:
        found.optional_missing.append(f"{node_name} ({', '.join(absent)})")


def _ordered(problems: list[Problem]) -> list[Problem]:
    order = (EXPORTER_NOT_ON_ALL_NODES, SCRAPE_FAILED, METRICS_MISSING)
    return sorted(problems, key=lambda p: order.index(p.reason) if p.reason in order else len(order))


def check(snapshot: Snapshot, spec: ProfileSpec) -> Verdict:
    if (blind := unreadable(ID, snapshot, *SOURCES)) is not None:
        return blind
    fleet = accelerator_fleet(snapshot, spec)
    if not fleet.nodes:
        return no_accelerator_nodes(ID, spec)
    nodes = fleet.nodes
    if spec.accelerators.vendor != "nvidia":
        return Verdict(
            ID,
            NOT_IMPLEMENTED,
            UNRECOGNIZED_ACCELERATOR,
            f"aiconform checks the NVIDIA DCGM exporter only; declare the {spec.accelerators.vendor} metrics "
            f"solution in spec.requirements.{ID} with evidence",
        )
    exporters = sorted((ds for ds in snapshot.daemonsets if _is_exporter(ds)), key=name)
    if not exporters:
        return Verdict(
            ID,
            NOT_IMPLEMENTED,
            EXPORTER_MISSING,
            "no DCGM exporter DaemonSet found: enable spec.components.dcgmExporter or the GPU Operator's "
            f"dcgmExporter{fleet.note()}",
        )
    pods = _exporter_pods(snapshot, exporters)
    found = Findings([], [], [], [ref("DaemonSet", ds) for ds in exporters], [])
    without = [name(n) for n in nodes if name(n) not in pods]
    if without:
        found.problems.append(
            Problem(EXPORTER_NOT_ON_ALL_NODES, f"no running DCGM exporter pod on {names_list(without)}")
        )
    slices = slices_by_node(snapshot, accelerators_only=True)
    index = ScrapeIndex.of(snapshot.scrapes)
    for node in nodes:
        if name(node) in pods:
            _judge_node(node, index.of_pods(name(node), pods[name(node)]), slices.get(name(node), []), found)
    evidence = (*capped(found.evidence), *fleet.evidence())
    if found.problems:
        verdict = from_problems(ID, NOT_IMPLEMENTED, _ordered(found.problems), evidence)
        return dataclasses.replace(verdict, message=verdict.message + fleet.note())
    if found.not_scraped or found.unreachable:
        parts = [f"no scrape of {names_list(found.not_scraped)} was available"] if found.not_scraped else []
        if found.unreachable:
            parts.append(
                f"the exporters of {names_list(found.unreachable, 3)} could not be reached (direct scrapes need the "
                "pod network; scrapes through the API server's pod proxy need get on pods/proxy)"
            )
        return Verdict(
            ID,
            PARTIAL,
            METRICS_NOT_SCRAPED,
            f"DCGM exporter runs on all {plural(len(nodes), 'accelerator node')} but {'; '.join(parts)}, so per-GPU "
            f"metrics are not verified{fleet.note()}",
            evidence,
        )
    optional = (
        f"; optional metrics not exposed on {names_list(found.optional_missing)}" if found.optional_missing else ""
    )
    return Verdict(
        ID,
        IMPLEMENTED,
        API_VERIFIED,
        f"DCGM exporter on all {plural(len(nodes), 'accelerator node')} exposes {UTIL} and {FB_USED} for every "
        f"GPU, as scraped{optional}{fleet.note()}; a utilization change under load is a hardware test",
        evidence,
        tier=OBSERVED,
    )
