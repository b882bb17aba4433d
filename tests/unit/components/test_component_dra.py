"""DRA component: DeviceClasses per vendor (MIG when present), adminAccess policies, kubelet plugin."""

from __future__ import annotations

from dataclasses import replace

from compbuilders import REF, assert_golden, enabled, h100_only, mig_pool, names, namespace, profile, snap, two_tenants

from aiconform.components import dra


def test_golden_nvidia_fleet_with_mig() -> None:
    plan = dra.plan(profile(components=enabled("dra")), two_tenants(), REF)
    assert names(plan, "DeviceClass") == ["gpu.nvidia.com", "mig.nvidia.com"]
    assert_golden("dra-nvidia-mig", plan)


def test_golden_no_mig_and_admin_access_allowed() -> None:
    plan = dra.plan(profile(components=enabled("dra", dra={"denyAdminAccess": False})), snap(pools=h100_only()), REF)
    assert names(plan) == ["gpu.nvidia.com"]
    assert_golden("dra-no-mig-admin-allowed", plan)


def test_golden_kubelet_plugin() -> None:
    spec = profile(components=enabled(dra={"kubeletPlugin": {"enabled": True, "image": "example.com/dra:v1"}}))
    plan = dra.plan(spec, snap(pools=h100_only()), REF)
    assert {"Namespace", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "DaemonSet"} <= {
        o["kind"] for o in plan.objects
    }
    assert_golden("dra-kubelet-plugin", plan)


def test_golden_amd() -> None:
    spec = profile(
        accelerators={"vendor": "amd", "nodeSelector": {"matchLabels": {"amd.com/gpu.present": "true"}}},
        components=enabled("dra"),
    )
    plan = dra.plan(spec, snap(), REF)
    assert names(plan, "DeviceClass") == ["gpu.amd.com"]
    assert_golden("dra-amd", plan)


def test_mig_detected_from_label_resource_or_slice() -> None:
    spec = profile(components=enabled("dra"))
    assert dra.mig_capable(spec, snap(pools=[mig_pool()]))
    # Without the label and the MIG resource, a ResourceSlice device of type mig is enough.
    s = snap(pools=[mig_pool()])
    nodes = []
    for node in s.nodes:
        node = {**node, "metadata": {**node["metadata"], "labels": {**node["metadata"]["labels"]}}}
        node["metadata"]["labels"]["nvidia.com/mig.capable"] = "false"
        node["status"] = {"allocatable": {"nvidia.com/gpu": "4"}}
        nodes.append(node)
    assert dra.mig_capable(spec, replace(s, nodes=tuple(nodes)))
    assert not dra.mig_capable(spec, replace(s, nodes=tuple(nodes), resource_slices=()))
    assert not dra.mig_capable(spec, snap(pools=h100_only()))


def test_policies_cover_claims_and_templates_with_their_own_paths() -> None:
    plan = dra.plan(profile(components=enabled("dra")), two_tenants(), REF)
    policies = {o["metadata"]["name"]: o for o in plan.objects if o["kind"] == "ValidatingAdmissionPolicy"}
    claims, templates = policies[dra.ADMIN_POLICY], policies[dra.ADMIN_POLICY_TEMPLATES]
    assert claims["spec"]["matchConstraints"]["resourceRules"][0]["resources"] == ["resourceclaims"]
    assert "object.spec.devices" in claims["spec"]["variables"][0]["expression"]
    assert templates["spec"]["matchConstraints"]["resourceRules"][0]["resources"] == ["resourceclaimtemplates"]
    assert "object.spec.spec.devices" in templates["spec"]["variables"][0]["expression"]
    bindings = [o for o in plan.objects if o["kind"] == "ValidatingAdmissionPolicyBinding"]
    assert {b["spec"]["policyName"] for b in bindings} == set(policies)
    for b in bindings:
        assert b["spec"]["validationActions"] == ["Deny"]
        assert b["spec"]["matchResources"]["namespaceSelector"] == {"matchLabels": {"aiconform.io/tenant": "true"}}


def test_existing_foreign_plugin_namespace_is_only_labelled() -> None:
    spec = profile(components=enabled(dra={"kubeletPlugin": {"enabled": True, "image": "example.com/dra:v1"}}))
    plan = dra.plan(spec, snap(namespaces=[namespace(dra.PLUGIN_NAMESPACE)]), REF)
    assert "Namespace" not in {o["kind"] for o in plan.objects}
    assert plan.field_patches == (
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": dra.PLUGIN_NAMESPACE, "labels": {"pod-security.kubernetes.io/enforce": "privileged"}},
        },
    )
    assert any("not managed by aiconform" in n for n in plan.notes)


def test_dra_not_served_makes_nothing() -> None:
    plan = dra.plan(profile(components=enabled("dra")), snap(api_resources=frozenset({"v1/nodes"})), REF)
    assert plan.objects == () and "not served" in plan.notes[0]
