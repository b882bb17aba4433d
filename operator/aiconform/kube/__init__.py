"""Talking to and seeing a cluster: the REST client, kubeconfig login, the kinds registry, the watched-source table,
the operator's list+watch view and the one-shot collector, and the read-only Snapshot both produce.

May import `aiconform.api` only.
"""
