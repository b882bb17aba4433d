"""The long-running operator: kopf handlers, the per-profile loop, applier, status, metrics.

May import api, kube, conformance and components; never checker or devtools.
"""
