"""Redaction: nothing sensitive leaves the cluster in an evidence bundle.

Two passes, both pure:

- `redact_object` on every object before it is excerpted: Secret payloads (`data`, `stringData`), environment
  variable values (`env[].value`, `env[].valueFrom`), the `last-applied-configuration` annotation (a copy of the
  whole object, env included) and any field whose name says it holds a credential (token, password, key and
  certificate data, …) are replaced by `<redacted>`; names stay, so the excerpt still shows what was there.
- `redact_text` on every text written (PRODUCT.yaml, each evidence file, copied declared files): PEM blocks,
  JWTs (service-account tokens), `Bearer …`, kubeconfig credential lines, `key: value` / `KEY=value` pairs whose
  key names a credential, credentials in URLs (`user:pass@`, `?token=`), well-known token formats and long
  base64 blobs outside URLs.

Redaction is deliberately greedy: a false positive costs a `<redacted>` in an evidence file, a false negative a
leaked credential in a public pull request.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

__all__ = ["REDACTED", "redact_object", "redact_text"]

REDACTED = "<redacted>"

# Field names that hold credentials, wherever they appear (kubeconfig, Secret-like CRs, controller configs).
_SENSITIVE_KEY = re.compile(
    r"(?i)^(?:.*(?:token|password|passwd|secret(?!name$|ref$|keyref$)|credential|apikey|api[-_]key|private[-_]?key"
    r"|access[-_]?key|bearer|authorization|client-key|client-certificate|certificate-authority-data|kubeconfig).*)$"
)
# Keys that only name a secret (a reference, not its content) stay readable.
_REFERENCE_KEYS = frozenset({"secretname", "secretref", "secretkeyref", "tokenrequests", "serviceaccounttoken"})
_SECRET_PAYLOAD = frozenset({"data", "stringData", "binaryData"})
_LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


def _sensitive_key(key: str) -> bool:
    return key.lower() not in _REFERENCE_KEYS and bool(_SENSITIVE_KEY.match(key))


def _redact_env(env: Any) -> Any:
    if not isinstance(env, list):
        return REDACTED
    out: list[Any] = []
    for item in env:
        if isinstance(item, Mapping):
            kept = {"name": item["name"]} if "name" in item else {}
            if "value" in item or "valueFrom" in item:
                kept["value"] = REDACTED
            out.append(kept)
        else:
            out.append(REDACTED)
    return out


def redact_object(obj: Any, *, _secret: bool | None = None) -> Any:
    """A deep copy of `obj` with credentials, Secret payloads and environment values replaced by `<redacted>`."""
    if isinstance(obj, Mapping):
        secret = _secret if _secret is not None else obj.get("kind") == "Secret"
        out: dict[str, Any] = {}
        for key, value in obj.items():
            k = str(key)
            if secret and k in _SECRET_PAYLOAD:
                out[k] = REDACTED
            elif k == "env":
                out[k] = _redact_env(value)
            elif k == _LAST_APPLIED:
                out[k] = REDACTED
            elif _sensitive_key(k) and not isinstance(value, Mapping | list):
                out[k] = REDACTED if value not in (None, "", True, False) else value
            elif _sensitive_key(k):
                out[k] = redact_object(value, _secret=True)  # e.g. `credentials: {user: ..., key: ...}`
            else:
                out[k] = redact_object(value, _secret=False)
        return out
    if isinstance(obj, list | tuple):
        return [redact_object(v, _secret=_secret) for v in obj]
    if isinstance(obj, str):
        return redact_text(obj)
    return obj


_CRED_WORDS = (
    r"client-key-data|client-certificate-data|certificate-authority-data|id-token|refresh-token|access[-_]?token"
    r"|auth[-_]?token|token|password|passwd|pwd|secret|secret[-_]?key|access[-_]?key|api[-_]?key|apikey"
    r"|private[-_]?key|credentials?"
)
_TEXT_RULES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"-----BEGIN [A-Z0-9 ]+-----.*?(?:-----END [A-Z0-9 ]+-----|\Z)", re.DOTALL), "<redacted PEM block>"),
    (re.compile(r"\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*"), "<redacted token>"),
    (re.compile(r"(?i)\b(bearer|basic)(\s+)[A-Za-z0-9._~+/=-]{6,}"), r"\1\2" + REDACTED),
    # `token: abc`, `"password": "abc"`, `API_KEY=abc`, `--token=abc`: the key's value, quoted or not.
    (
        re.compile(
            rf"(?i)(?<![A-Za-z0-9])((?:[A-Za-z0-9]+[_-])*(?:{_CRED_WORDS})[\"']?\s*[:=]\s*[\"']?)(?!<redacted)"
            r"([^\s\"',;}\]]{4,})"
        ),
        r"\1" + REDACTED,
    ),
    (re.compile(r"(?i)\b(https?://)[^/\s:@\"']+:[^/\s@\"']+@"), r"\1" + REDACTED + "@"),
    (
        re.compile(
            r"(?i)([?&](?:token|access_token|id_token|sig|signature|password|api_key|apikey|key|secret)=)[^&\s\"']+"
        ),
        r"\1" + REDACTED,
    ),
    (
        re.compile(
            r"\b(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,}|glpat-[A-Za-z0-9_-]{20,}"
            r"|xox[abprs]-[A-Za-z0-9-]{10,}|AKIA[0-9A-Z]{16}|sk-[A-Za-z0-9_-]{20,}|hf_[A-Za-z0-9]{20,})\b"
        ),
        "<redacted token>",
    ),
)
_URL = re.compile(r"https?://[^\s\"'<>)\]]+")
# A base64 blob (mixed case and digits, 40+ characters): a key, a token, a Secret's value. Pure hex (digests)
# and anything inside a URL are left alone.
_BLOB = re.compile(
    r"(?<![A-Za-z0-9+/=_.-])(?=[A-Za-z0-9+/]*[0-9])(?=[A-Za-z0-9+/]*[A-Z])(?=[A-Za-z0-9+/]*[a-z])"
    r"[A-Za-z0-9+/]{40,}={0,2}(?![A-Za-z0-9+/=_.-])"
)


def _redact_blobs(text: str) -> str:
    out: list[str] = []
    last = 0
    for m in _URL.finditer(text):
        out.append(_BLOB.sub(REDACTED, text[last : m.start()]))
        out.append(m.group(0))
        last = m.end()
    out.append(_BLOB.sub(REDACTED, text[last:]))
    return "".join(out)


def redact_text(text: str) -> str:
    """`text` with every credential-looking part replaced (idempotent)."""
    for pattern, replacement in _TEXT_RULES:
        text = pattern.sub(replacement, text)
    return _redact_blobs(text)
