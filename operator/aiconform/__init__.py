"""aiconform: make a Kubernetes cluster AI-conformant and prove it, continuously."""

from aiconform.kube import lazyk8s as _lazyk8s

__version__ = "0.1.0"

# Before anything imports kopf (which imports kubernetes-asyncio's models when it is installed): see lazyk8s.
_lazyk8s.install()
