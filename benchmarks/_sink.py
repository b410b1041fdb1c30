"""An out-of-process LaunchDarkly events sink for the benchmark.

The benchmark measures the CPU time of its own process; a sink inside that
process would add the cost of receiving the events to every variant. This one
runs as a child process on 127.0.0.1, counts what arrives and answers two
control requests:

- ``GET /wait/<seq>``: waits (at most 30 s) until the flush marker with that
  sequence number has arrived; 200 when it has, 504 otherwise.
- ``GET /counts``: JSON object of AI event key -> count received so far.

Run as ``python benchmarks/_sink.py``; it prints its base URI on one line and
serves until its standard input closes.
"""

from __future__ import annotations

import gzip
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler

from ldai_otel.testing import LoopbackServer

MARKER_KEY = "ldai-otel-bench:marker"
_WAIT_TIMEOUT_S = 30.0


class _State:
    """What has arrived; one condition guards it."""

    def __init__(self) -> None:
        self.condition = threading.Condition()
        self.markers: set[int] = set()
        self.counts: dict[str, int] = {}

    def record(self, payload: list) -> None:
        with self.condition:
            for event in payload:
                if not isinstance(event, dict):
                    continue
                key = str(event.get("key", ""))
                if key == MARKER_KEY:
                    data = event.get("data")
                    if isinstance(data, dict) and isinstance(data.get("seq"), int):
                        self.markers.add(data["seq"])
                elif key.startswith("$ld:ai:"):
                    self.counts[key] = self.counts.get(key, 0) + 1
            self.condition.notify_all()


def serve() -> None:
    state = _State()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server naming)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            if self.headers.get("Content-Encoding") == "gzip":
                body = gzip.decompress(body)
            if self.path.rstrip("/").endswith("/bulk"):
                try:
                    state.record(json.loads(body or b"[]"))
                except ValueError:
                    pass
            self.send_response(202)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_GET(self) -> None:  # noqa: N802
            if self.path.startswith("/wait/"):
                seq = int(self.path.rsplit("/", 1)[1])
                with state.condition:
                    ok = state.condition.wait_for(lambda: seq in state.markers, timeout=_WAIT_TIMEOUT_S)
                self._answer(200 if ok else 504, b"")
            elif self.path == "/counts":
                with state.condition:
                    body = json.dumps(state.counts).encode()
                self._answer(200, body)
            else:
                self._answer(404, b"")

        def _answer(self, status: int, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass

    with LoopbackServer(Handler, "bench-sink") as server:
        print("http://127.0.0.1:%d" % server.port, flush=True)
        sys.stdin.read()  # serve until the parent closes our stdin


if __name__ == "__main__":
    serve()
