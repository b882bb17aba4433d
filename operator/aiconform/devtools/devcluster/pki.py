"""A throwaway PKI for the dev cluster: a CA, the API server's serving cert, the service-account key pair and
client certs. Generated once per cluster directory and reused, so kubeconfigs stay valid across `up`s."""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

from aiconform.devtools.devcluster.errors import DevClusterError

try:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
except ImportError:  # the operator image does not carry the dev-cluster extra
    x509 = None  # type: ignore[assignment]

SERVING_SANS_DNS = (
    "localhost",
    "kubernetes",
    "kubernetes.default",
    "kubernetes.default.svc",
    "kubernetes.default.svc.cluster.local",
)
SERVING_SANS_IP = ("127.0.0.1", "10.0.0.1")
VALIDITY = dt.timedelta(days=365)


@dataclass(frozen=True)
class Pki:
    dir: Path

    @property
    def ca_crt(self) -> Path:
        return self.dir / "ca.crt"

    @property
    def ca_key(self) -> Path:
        return self.dir / "ca.key"

    @property
    def serving_crt(self) -> Path:
        return self.dir / "apiserver.crt"

    @property
    def serving_key(self) -> Path:
        return self.dir / "apiserver.key"

    @property
    def sa_key(self) -> Path:
        return self.dir / "sa.key"

    @property
    def sa_pub(self) -> Path:
        return self.dir / "sa.pub"

    def client(self, name: str) -> tuple[Path, Path]:
        return self.dir / f"{name}.crt", self.dir / f"{name}.key"


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> None:
    path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    path.chmod(0o600)


def _name(cn: str, org: str | None = None) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, cn)]
    if org:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, org))
    return x509.Name(attrs)


def _sign(
    subject: x509.Name,
    public_key: ec.EllipticCurvePublicKey,
    ca_key: ec.EllipticCurvePrivateKey,
    issuer: x509.Name,
    *,
    ca: bool,
    extensions: list[x509.ExtensionType],
) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)  # tolerate small clock skew between processes
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + VALIDITY)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    for ext in extensions:
        builder = builder.add_extension(ext, critical=False)
    return builder.sign(ca_key, hashes.SHA256())


def _write_cert(path: Path, cert: x509.Certificate) -> None:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def _issue_serving(
    crt: Path,
    key_path: Path,
    common_name: str,
    dns: Sequence[str],
    ips: Sequence[str],
    ca_key: ec.EllipticCurvePrivateKey,
    ca_cert: x509.Certificate,
) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    sans: list[x509.GeneralName] = [x509.DNSName(d) for d in dns]
    sans += [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
    ext: list[x509.ExtensionType] = [
        x509.SubjectAlternativeName(sans),
        x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]),
    ]
    _write_key(key_path, key)
    _write_cert(crt, _sign(_name(common_name), key.public_key(), ca_key, ca_cert.subject, ca=False, extensions=ext))


def _load_ca(pki: Pki) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    ca_key = serialization.load_pem_private_key(pki.ca_key.read_bytes(), password=None)
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
    return ca_key, x509.load_pem_x509_certificate(pki.ca_crt.read_bytes())


def ensure_pki(directory: Path, clients: dict[str, tuple[str, str | None]]) -> Pki:
    """Create what is missing; `clients` maps a file stem to (common name, organization)."""
    if x509 is None:
        raise DevClusterError(
            "generate PKI", "the `cryptography` package is missing: pip install 'aiconform[devcluster]'"
        )
    pki = Pki(directory)
    directory.mkdir(parents=True, exist_ok=True)
    if not pki.ca_crt.exists():
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_name = _name("aiconform-dev-ca")
        ca_ext: list[x509.ExtensionType] = [
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            )
        ]
        _write_key(pki.ca_key, ca_key)
        _write_cert(pki.ca_crt, _sign(ca_name, ca_key.public_key(), ca_key, ca_name, ca=True, extensions=ca_ext))
    ca_key_loaded, ca_cert = _load_ca(pki)
    if not pki.serving_crt.exists():
        serving = (pki.serving_crt, pki.serving_key, "kube-apiserver", SERVING_SANS_DNS, SERVING_SANS_IP)
        _issue_serving(*serving, ca_key_loaded, ca_cert)
    if not pki.sa_key.exists():
        sa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        _write_key(pki.sa_key, sa)
        pki.sa_pub.write_bytes(
            sa.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        )
    for stem, (cn, org) in clients.items():
        crt, key_path = pki.client(stem)
        if crt.exists():
            continue
        key = ec.generate_private_key(ec.SECP256R1())
        ext: list[x509.ExtensionType] = [x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH])]
        _write_key(key_path, key)
        _write_cert(
            crt,
            _sign(_name(cn, org), key.public_key(), ca_key_loaded, ca_cert.subject, ca=False, extensions=ext),
        )
    return pki


def ensure_serving_cert(
    pki: Pki, stem: str, common_name: str, dns: Sequence[str], ips: Sequence[str]
) -> tuple[Path, Path]:
    """A serving certificate signed by the cluster's CA (a controller's webhook or gRPC server), created once as
    `<stem>.crt`/`<stem>.key` in the PKI directory; the CA must exist (ensure_pki)."""
    crt, key = pki.client(stem)
    if not crt.exists():
        ca_key, ca_cert = _load_ca(pki)
        _issue_serving(crt, key, common_name, dns, ips, ca_key, ca_cert)
    return crt, key


def write_kubeconfig(path: Path, server: str, pki: Pki, client: str, name: str) -> None:
    """A kubeconfig for `server` that authenticates with the client certificate `client` of `pki`."""
    crt, key = pki.client(client)
    cfg = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": name, "cluster": {"server": server, "certificate-authority": str(pki.ca_crt)}}],
        "users": [{"name": client, "user": {"client-certificate": str(crt), "client-key": str(key)}}],
        "contexts": [{"name": name, "context": {"cluster": name, "user": client}}],
        "current-context": name,
    }
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    path.chmod(0o600)
