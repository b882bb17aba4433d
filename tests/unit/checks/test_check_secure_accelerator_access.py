from checkbuilders import container, namespace, obj, pod, profile, snap, tenant

from aiconform.conformance.checks import secure_accelerator_access as saa
from aiconform.conformance.evaluate import evaluate
from aiconform.conformance.verdict import condition_status

DRA_ON = {"components": {"dra": {"enabled": True, "denyAdminAccess": True}}}


def _bad_pod(ns):
    return pod(ns, "rogue", containers=[container(privileged=True)], host_paths=["/dev/nvidia0"])


def _policy():
    spec = {
        "matchConstraints": {
            "resourceRules": [
                {"apiGroups": ["resource.k8s.io"], "resources": ["resourceclaims", "resourceclaimtemplates"]}
            ]
        },
        "validations": [{"expression": "!object.spec.devices.requests.exists(r, has(r.adminAccess))"}],
    }
    return obj("ValidatingAdmissionPolicy", "deny-admin-access", spec=spec)


def _binding(actions=("Deny",)):
    return obj(
        "ValidatingAdmissionPolicyBinding",
        "deny-admin-access",
        spec={"policyName": "deny-admin-access", "validationActions": list(actions)},
    )


def test_clean_tenants_need_hardware_test():
    pods = [pod("team-a", "train", containers=[container(limits={"nvidia.com/gpu": "1"})])]
    v = saa.check(snap(namespaces=[tenant("team-a")], pods=pods), profile())
    assert (v.status, v.reason) == ("Partially Implemented", "NeedsHardwareTest")
    assert "TestSecureAcceleratorAccess" in v.message
    assert "1 pod in 1 tenant namespace" in v.message


def test_privileged_pod_with_dev_nvidia_in_tenant_is_named():
    v = saa.check(snap(namespaces=[tenant("team-a")], pods=[_bad_pod("team-a")]), profile())
    assert (v.status, v.reason) == ("Not Implemented", "InsecureAcceleratorAccess")
    assert "team-a/rogue" in v.message
    assert "privileged container main" in v.message and "hostPath /dev/nvidia0" in v.message


def test_same_pod_outside_tenants_is_ignored():
    v = saa.check(
        snap(namespaces=[tenant("team-a"), namespace("kube-system")], pods=[_bad_pod("kube-system")]), profile()
    )
    assert v.reason == "NeedsHardwareTest"


def test_finished_pods_are_ignored():
    done = pod("team-a", "old", containers=[container(privileged=True)], phase="Succeeded")
    assert saa.check(snap(namespaces=[tenant("team-a")], pods=[done]), profile()).reason == "NeedsHardwareTest"


def test_visible_devices_without_request():
    sneaky = pod("team-a", "sneaky", containers=[container(env={"NVIDIA_VISIBLE_DEVICES": "all"})])
    claimed = pod("team-a", "claimed", containers=[container(env={"NVIDIA_VISIBLE_DEVICES": "all"}, claims=["gpu"])])
    void = pod("team-a", "void", containers=[container(env={"NVIDIA_VISIBLE_DEVICES": "void"})])
    v = saa.check(snap(namespaces=[tenant("team-a")], pods=[sneaky, claimed, void]), profile())
    assert v.reason == "InsecureAcceleratorAccess"
    assert "team-a/sneaky" in v.message and "NVIDIA_VISIBLE_DEVICES=all" in v.message
    assert "claimed" not in v.message and "team-a/void" not in v.message


def test_tenant_namespace_allowing_admin_access():
    ns = tenant("team-a", **{"resource.kubernetes.io/admin-access": "true"})
    v = saa.check(snap(namespaces=[ns]), profile())
    assert v.reason == "InsecureAcceleratorAccess"
    assert "namespace team-a" in v.message


def test_admin_access_policy_required_with_dra():
    v = saa.check(snap(namespaces=[tenant("team-a")]), profile(**DRA_ON))
    assert (v.status, v.reason) == ("Partially Implemented", "AdminAccessNotDenied")
    warn_only = snap(
        namespaces=[tenant("team-a")],
        validating_admission_policies=[_policy()],
        validating_admission_policy_bindings=[_binding(("Warn",))],
    )
    assert saa.check(warn_only, profile(**DRA_ON)).reason == "AdminAccessNotDenied"


def test_admin_access_policy_present():
    s = snap(
        namespaces=[tenant("team-a")],
        validating_admission_policies=[_policy()],
        validating_admission_policy_bindings=[_binding()],
    )
    v = saa.check(s, profile(**DRA_ON))
    assert v.reason == "NeedsHardwareTest"
    assert "adminAccess denied" in v.message
    assert any("ValidatingAdmissionPolicy/deny-admin-access" in e for e in v.evidence)


def test_offenders_are_faults_a_declaration_cannot_hide():
    declared = profile(requirements={saa.ID: {"status": "Implemented", "notes": "isolation test passed on H100"}})
    cluster = snap(namespaces=[tenant("team-a")], pods=[_bad_pod("team-a")])
    assert saa.check(cluster, declared).faults == ("team-a/rogue (privileged container main; hostPath /dev/nvidia0)",)
    v = evaluate(cluster, declared, "v1.35").verdict(saa.ID)
    assert v is not None
    assert (v.status, v.reason, v.declared) == ("Not Implemented", "DeclarationContradicted", True)
    assert "team-a/rogue" in v.message and "declares Implemented" in v.message
    assert condition_status(v) == "False"


def test_declaration_fills_in_the_hardware_test_when_nothing_contradicts_it():
    declared = profile(requirements={saa.ID: {"status": "Implemented", "notes": "isolation test passed on H100"}})
    assert saa.check(snap(namespaces=[tenant("team-a")]), declared).reason == "NeedsHardwareTest"
    v = evaluate(snap(namespaces=[tenant("team-a")]), declared, "v1.35").verdict(saa.ID)
    assert v is not None and (v.status, v.reason, v.tier) == ("Implemented", "Declared", "Declared")


def test_unreadable_pods_are_unknown_never_clean():
    v = saa.check(snap(namespaces=[tenant("team-a")], unreadable={"pods": "forbidden: HTTP 403"}), profile())
    assert (v.status, v.reason, condition_status(v)) == ("Not Implemented", "Unreadable", "Unknown")
    assert "pods: forbidden" in v.message
