"""The loopback Prometheus query API that KEDA's real scalers read in the bench and the e2e suite."""

from __future__ import annotations

import json
import urllib.request

from aiconform.devtools.devcluster import query_api


def test_every_instant_query_answers_one_sample_of_the_value() -> None:
    url, server = query_api.start("7")
    try:
        assert url.startswith("http://127.0.0.1:")
        with urllib.request.urlopen(f"{url}/api/v1/query?query=sum(up)", timeout=5) as answer:
            body = json.load(answer)
    finally:
        server.shutdown()
        server.server_close()
    assert body["status"] == "success" and body["data"]["resultType"] == "vector"
    ((sample,),) = [body["data"]["result"]]
    assert sample["metric"] == {} and sample["value"][1] == "7"
