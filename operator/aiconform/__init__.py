"""aiconform: make a Kubernetes cluster AI-conformant and prove it, continuously."""

__version__ = "0.1.0"
