"""Pure parts of the real controllers in the dev cluster: names, Kueue's configuration, command lines and
environments, build commands, certificates and the files they land in."""

from __future__ import annotations

import stat
import threading
from pathlib import Path

import pytest
import yaml
from cryptography import x509

from aiconform.devtools.devcluster import build, controllers, versions
from aiconform.devtools.devcluster.controllers import CONTROLLERS
from aiconform.devtools.devcluster.errors import DevClusterError
from aiconform.devtools.devcluster.paths import Layout
from aiconform.devtools.devcluster.pki import ensure_pki, ensure_serving_cert, write_kubeconfig

PORTS = {"health": 40001, "metrics": 40002, "webhook": 40003, "grpc": 40004}


def test_controller_names_are_parsed_in_a_fixed_order() -> None:
    assert controllers.parse_controllers("keda, kueue") == ["kueue", "keda"]
    assert controllers.parse_controllers("all") == ["kueue", "keda"]
    assert controllers.parse_controllers("keda") == ["keda"]


@pytest.mark.parametrize("spec", ["volcano", "kueue,volcano", " , "])
def test_unknown_controller_names_the_known_ones(spec: str) -> None:
    with pytest.raises(DevClusterError) as err:
        controllers.parse_controllers(spec)
    assert err.value.step == "select controllers" and "known: kueue, keda" in str(err.value)


def test_kueue_config_binds_loopback_without_leader_election_or_cert_management(tmp_path: Path) -> None:
    cfg = controllers.kueue_config(PORTS, tmp_path / "certs")
    assert cfg["apiVersion"] == "config.kueue.x-k8s.io/v1beta2" and cfg["kind"] == "Configuration"
    assert cfg["leaderElection"] == {"leaderElect": False}
    assert cfg["internalCertManagement"] == {"enable": False}
    assert cfg["integrations"] == {"frameworks": ["batch/job"]}
    assert cfg["manageJobsWithoutQueueName"] is False
    assert cfg["health"]["healthProbeBindAddress"] == "127.0.0.1:40001"
    assert cfg["metrics"]["bindAddress"] == "127.0.0.1:40002"
    assert cfg["webhook"] == {"host": "127.0.0.1", "port": 40003, "certDir": str(tmp_path / "certs")}
    assert yaml.safe_load(yaml.safe_dump(cfg)) == cfg  # what is written is what Kueue reads


def test_kueue_command_line_turns_visibility_off(tmp_path: Path) -> None:
    args = controllers.kueue_args(tmp_path / "kueue.kubeconfig", tmp_path / "config.yaml")
    assert f"--kubeconfig={tmp_path / 'kueue.kubeconfig'}" in args
    assert f"--config={tmp_path / 'config.yaml'}" in args
    assert "--feature-gates=VisibilityOnDemand=false" in args


def test_keda_command_line_binds_everything_to_loopback(tmp_path: Path) -> None:
    args = controllers.keda_args(tmp_path / "keda.kubeconfig", tmp_path / "certs", PORTS)
    binds = [a.split("=", 1)[1] for a in args if "-bind-address=" in a]
    assert sorted(binds) == ["127.0.0.1:40001", "127.0.0.1:40002", "127.0.0.1:40004"]
    for flag in (
        "--leader-elect=false",
        "--enable-webhook-patching=false",
        "--enable-apiservice-patching=false",
        "--enable-cert-rotation=false",
        f"--cert-dir={tmp_path / 'certs'}",
        f"--kubeconfig={tmp_path / 'keda.kubeconfig'}",
    ):
        assert flag in args


def test_environment_has_a_refusing_loopback_proxy_and_no_kubeconfig() -> None:
    base = {"PATH": "/usr/bin", "HOME": "/root", "KUBECONFIG": "/elsewhere", "HTTPS_PROXY": "http://10.0.0.1:3128"}
    for name in CONTROLLERS:
        env = controllers.process_env(name, base)
        assert "KUBECONFIG" not in env and env["PATH"] == "/usr/bin"
        for key in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
            assert env[key].startswith("http://127.0.0.1:")
        assert "127.0.0.1" in env["NO_PROXY"].split(",")
    keda = controllers.process_env("keda", base)
    assert keda["KEDA_CLUSTER_OBJECT_NAMESPACE"] == keda["POD_NAMESPACE"] == CONTROLLERS["keda"].namespace
    assert "POD_NAMESPACE" not in controllers.process_env("kueue", base)


def test_build_commands_are_pinned_trimmed_and_stripped(tmp_path: Path) -> None:
    kueue = build.kueue_install_cmd("go")
    assert kueue[:2] == ["go", "install"] and "-trimpath" in kueue
    assert kueue[-1] == f"sigs.k8s.io/kueue/cmd/kueue@{versions.KUEUE}"
    assert kueue[kueue.index("-ldflags") + 1].startswith("-s -w ")
    keda = build.keda_build_cmd("go", tmp_path / "keda")
    assert keda[:2] == ["go", "build"] and "-trimpath" in keda and keda[-1] == "./cmd/operator"
    assert keda[keda.index("-o") + 1] == str(tmp_path / "keda")
    assert keda[keda.index("-ldflags") + 1].startswith("-s -w ")
    assert build.bare("v2.21.0") == "2.21.0" and build.bare("3.6.16") == "3.6.16"


def test_unknown_controller_build_is_an_error() -> None:
    with pytest.raises(DevClusterError, match="volcano"):
        build.build_controllers(["volcano"])


def test_a_second_build_of_the_same_component_waits_for_the_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AICONFORM_CACHE", str(tmp_path))
    said: list[str] = []
    entered = threading.Event()

    def second() -> None:
        with build.build_lock("kueue", "0.19.2", said.append):
            entered.set()

    with build.build_lock("kueue", "0.19.2", said.append):
        waiter = threading.Thread(target=second)
        waiter.start()
        assert not entered.wait(0.5), "the second build ran while the first held the lock"
    assert entered.wait(10)
    waiter.join()
    assert said and said[0].startswith("waiting for another build of kueue 0.19.2")
    with build.build_lock("keda", "2.21.0", said.append):  # another component is not held up
        pass
    assert len(said) == 1


def test_writable_copy_of_a_read_only_module(tmp_path: Path) -> None:
    source = tmp_path / "mod"
    (source / "cmd" / "operator").mkdir(parents=True)
    (source / "go.mod").write_text("module example.com/m\n")
    (source / "cmd" / "operator" / "main.go").write_text("package main\n")
    for path in (source / "cmd" / "operator" / "main.go", source / "go.mod", source / "cmd" / "operator"):
        path.chmod(0o555 if path.is_dir() else 0o444)
    copy = build.writable_copy(source, tmp_path / "work" / "module")
    main = copy / "cmd" / "operator" / "main.go"
    assert main.read_text() == "package main\n"
    assert main.stat().st_mode & stat.S_IWUSR and (copy / "cmd" / "operator").stat().st_mode & stat.S_IWUSR
    main.write_text("changed\n")
    assert build.writable_copy(source, copy) == copy and main.read_text() == "changed\n"  # made once


def test_serving_certificate_for_loopback_signed_by_the_cluster_ca(tmp_path: Path) -> None:
    pki = ensure_pki(tmp_path / "pki", {})
    dns, ips = controllers.serving_sans(CONTROLLERS["keda"])
    crt, key = ensure_serving_cert(pki, "keda-serving", "keda-operator", dns, ips)
    cert = x509.load_pem_x509_certificate(crt.read_bytes())
    ca = x509.load_pem_x509_certificate(pki.ca_crt.read_bytes())
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert [str(ip) for ip in sans.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    assert "keda-operator.keda.svc" in sans.get_values_for_type(x509.DNSName)
    assert cert.issuer == ca.subject and key.stat().st_mode & 0o077 == 0
    before = crt.read_bytes()
    assert ensure_serving_cert(pki, "keda-serving", "x", [], []) == (crt, key) and crt.read_bytes() == before


def test_kueue_metrics_certificate_is_made_once_where_kueue_reads_it(tmp_path: Path) -> None:
    pki = ensure_pki(tmp_path / "pki", {})
    where = tmp_path / "etc" / "kueue" / "metrics" / "certs"
    controllers.ensure_kueue_metrics_cert(pki, where)
    first = (where / "tls.crt").read_bytes()
    assert x509.load_pem_x509_certificate(first) and (where / "tls.key").stat().st_mode & 0o077 == 0
    controllers.ensure_kueue_metrics_cert(ensure_pki(tmp_path / "other", {}), where)
    assert (where / "tls.crt").read_bytes() == first  # an existing pair is kept


def test_unwritable_kueue_metrics_path_names_the_step_and_the_fix(tmp_path: Path) -> None:
    blocker = tmp_path / "etc"
    blocker.write_text("a file where a directory would go")
    with pytest.raises(DevClusterError) as err:
        controllers.ensure_kueue_metrics_cert(ensure_pki(tmp_path / "pki", {}), blocker / "kueue" / "certs")
    assert err.value.step == "prepare Kueue metrics certificate" and "install -d" in str(err.value)


def test_controller_kubeconfig_uses_its_client_certificate(tmp_path: Path) -> None:
    pki = ensure_pki(tmp_path / "pki", {"kueue": ("aiconform-kueue", "system:masters")})
    path = tmp_path / "kueue.kubeconfig"
    write_kubeconfig(path, "https://127.0.0.1:16444", pki, "kueue", "aiconform-e2e")
    cfg = yaml.safe_load(path.read_text())
    assert cfg["clusters"][0]["cluster"] == {
        "server": "https://127.0.0.1:16444",
        "certificate-authority": str(pki.ca_crt),
    }
    assert cfg["users"][0]["user"]["client-certificate"] == str(pki.client("kueue")[0])
    assert path.stat().st_mode & 0o077 == 0


def test_finalizer_release_paths_and_filter() -> None:
    wl = "/apis/kueue.x-k8s.io/v1beta2/workloads"
    assert (
        controllers.object_path(wl, "team-a", "job-x")
        == "/apis/kueue.x-k8s.io/v1beta2/namespaces/team-a/workloads/job-x"
    )
    assert controllers.object_path("/apis/kueue.x-k8s.io/v1beta2/clusterqueues", None, "gpu").endswith(
        "/clusterqueues/gpu"
    )
    kept = controllers.without_finalizers(["kueue.x-k8s.io/resource-in-use", "example.com/mine"], "kueue.x-k8s.io/")
    assert kept == ["example.com/mine"]
    assert controllers.without_finalizers(["finalizer.keda.sh"], CONTROLLERS["keda"].finalizer_prefix) == []


def test_nothing_started_means_nothing_listed_or_stopped(tmp_path: Path) -> None:
    assert controllers.controllers_status(tmp_path) == {}
    assert controllers.stop_controllers(tmp_path, progress=lambda _: None) == []


def test_start_without_a_cluster_says_how_to_make_one(tmp_path: Path) -> None:
    with pytest.raises(DevClusterError) as err:
        controllers.start_controllers(tmp_path, ["kueue"], lambda _: None)
    assert err.value.step == "start controllers" and "dev-cluster up" in str(err.value)


def test_layout_names_the_files_of_a_cluster(tmp_path: Path) -> None:
    layout = Layout(tmp_path)
    proc = layout.proc("kueue", Path("/cache/bin/kueue-0.19.2/kueue"))
    assert proc.pid_file == tmp_path / "run" / "kueue.pid" and proc.log_file == tmp_path / "logs" / "kueue.log"
    assert layout.component_kubeconfig("keda") == tmp_path / "keda.kubeconfig"
