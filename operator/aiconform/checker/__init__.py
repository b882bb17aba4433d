"""The one-shot commands `aiconform check` and `aiconform export`, and their reports.

May import api, kube, conformance; never operator or devtools.
"""
