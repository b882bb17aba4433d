"""The pure core of proving: the requirement catalog, one check per requirement, verdicts and the evaluation of a
checklist over a Snapshot.

May import `aiconform.api` and `aiconform.kube` (the Snapshot and object accessors), never I/O.
"""
