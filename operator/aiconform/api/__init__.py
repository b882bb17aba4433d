"""The profile's API: pydantic models (the single source of truth), the CRD generated from them, shared constants.

Imports nothing else of aiconform.
"""
