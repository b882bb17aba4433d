"""A query written into a request path survives next to the client's own parameters."""

from __future__ import annotations

import pytest

from aiconform.kube.client import merge_query


def test_query_in_path_is_kept_with_params() -> None:
    path, params = merge_query("/api/v1/configmaps?labelSelector=a%3Db", {"limit": "500"})
    assert path == "/api/v1/configmaps"
    assert params == {"labelSelector": "a=b", "limit": "500"}


def test_plain_path_unchanged() -> None:
    assert merge_query("/api/v1/configmaps", {"limit": "1"}) == ("/api/v1/configmaps", {"limit": "1"})
    assert merge_query("/version", None) == ("/version", None)


def test_same_parameter_twice_is_an_error() -> None:
    with pytest.raises(ValueError, match="limit"):
        merge_query("/api/v1/pods?limit=5", {"limit": "500"})
