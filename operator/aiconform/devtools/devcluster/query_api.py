"""A Prometheus instant-query API on 127.0.0.1 for the real KEDA's Prometheus scalers in the bench and the e2e
suite (nothing leaves loopback). Not Prometheus: it answers every query with one sample of `value`, which is all
a scaler reads, so KEDA acts on a known metric. Building Prometheus itself is out of proportion for that."""

from __future__ import annotations

import http.server
import json
import threading
import time
from typing import Any


def _handler(value: str) -> type[http.server.BaseHTTPRequestHandler]:
    class Answer(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = {
                "status": "success",
                "data": {"resultType": "vector", "result": [{"metric": {}, "value": [time.time(), value]}]},
            }
            data = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    return Answer


def start(value: str = "5") -> tuple[str, http.server.ThreadingHTTPServer]:
    """Serve in a daemon thread; returns the base URL and the server (call `shutdown()` and `server_close()`)."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _handler(value))
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="query-api", daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}", server
