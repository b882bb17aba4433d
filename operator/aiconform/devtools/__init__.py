"""Developer tools: the local dev cluster and the generated docs.

May import api, kube, conformance and components; never operator or checker.
"""
