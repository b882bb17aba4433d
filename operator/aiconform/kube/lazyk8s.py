"""kubernetes-asyncio without its generated API client: what aiconform imports of it is `config` (kubeconfig.py).

The package's `__init__` imports every API and model (~37 MB of RSS, 900 modules), and kopf imports two models of
it when it is installed (`kopf._cogs.helpers.thirdparty`). `install()`, run by `aiconform/__init__.py` before
anything imports kopf, registers `kubernetes_asyncio`, `.client` and `.client.models` as packages whose `__init__`
has not run: submodules import as usual, a model class named on `.client` or `.client.models` imports its own
module only, and any other name runs the real `__init__` into the package then (nothing is lost, only deferred).
"""

from __future__ import annotations

import importlib
import importlib.util
import re
import sys
import types
from typing import Any

PACKAGES = ("kubernetes_asyncio", "kubernetes_asyncio.client", "kubernetes_asyncio.client.models")
# Named at import by kube_config/incluster_config, used only by functions aiconform never calls.
_UNUSED_AT_IMPORT = ("ApiClient", "Configuration")


class _Placeholder:
    """Stands for a name of the API client while kube_config is imported; taken out again right after."""


def _model_module(name: str) -> str | None:
    """V1ObjectMeta → kubernetes_asyncio.client.models.v1_object_meta, if that module exists."""
    if not re.fullmatch(r"V\d+\w*[A-Z]\w*", name):
        return None
    snake = re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()
    full = f"kubernetes_asyncio.client.models.{snake}"
    return full if importlib.util.find_spec(full) is not None else None


def _lazy(name: str) -> bool:
    if name in sys.modules:
        return False
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None:
        return False
    module = importlib.util.module_from_spec(spec)

    def __getattr__(attr: str) -> Any:  # PEP 562: only for names not (yet) in the module
        if attr.startswith("__"):
            raise AttributeError(attr)
        if name != "kubernetes_asyncio" and (target := _model_module(attr)) is not None:
            value = getattr(importlib.import_module(target), attr)
            setattr(module, attr, value)
            return value
        module.__dict__.pop("__getattr__", None)
        assert spec.loader is not None
        spec.loader.exec_module(module)  # the real __init__, once
        return getattr(module, attr)

    module.__dict__["__getattr__"] = __getattr__
    sys.modules[name] = module
    parent, _, child = name.rpartition(".")
    if parent:
        setattr(sys.modules[parent], child, module)
    return True


def install() -> None:
    """Idempotent; does nothing when kubernetes-asyncio is not installed or already imported."""
    try:
        for name in PACKAGES:
            if not _lazy(name):
                return
    except (ImportError, ValueError):
        return


def import_config() -> types.ModuleType:
    """`kubernetes_asyncio.config.kube_config` (and incluster_config) without the API client."""
    install()
    client = sys.modules.get("kubernetes_asyncio.client")
    placeholders = [] if client is None or "__getattr__" not in client.__dict__ else list(_UNUSED_AT_IMPORT)
    for attr in placeholders:  # classes: the modules use them in annotations
        client.__dict__.setdefault(attr, type(attr, (_Placeholder,), {}))
    try:
        importlib.import_module("kubernetes_asyncio.config.incluster_config")
        return importlib.import_module("kubernetes_asyncio.config.kube_config")
    finally:
        for attr in placeholders:
            held = client.__dict__.get(attr)
            if isinstance(held, type) and issubclass(held, _Placeholder):
                del client.__dict__[attr]
