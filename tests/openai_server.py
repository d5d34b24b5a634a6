"""A small OpenAI-compatible completions server for tests, with injectable failures.

`FakeServer(script)` serves GET /v1/models and POST /v1/completions on a free localhost port,
in a thread. `failures` is a list consumed one per completions request: an int status code to
answer with (429 and 503 carry `Retry-After: 0`), a (status, message) pair, "timeout" to stall
past the client's timeout, "no_finish" for an answer without finish reasons, or None for a
normal answer. `latency(body)`, when given, is each normal answer's delay in seconds (for
long-tailed timings); `delay_s` otherwise. The server records every request body, the peak
concurrency, and `answered`: the prompts it finished answering.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class FakeServer:
    def __init__(self, failures: list[Any] | None = None, delay_s: float = 0.0,
                 stall_s: float = 3.0, latency: Any = None) -> None:
        self.failures = list(failures or [])
        self.delay_s, self.stall_s, self.latency = delay_s, stall_s, latency
        self.answered: list[str] = []
        self.requests: list[dict[str, Any]] = []
        self.in_flight = self.peak = 0
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def setup(self) -> None:
                super().setup()
                # headers and body go out as two writes: without this, Nagle's algorithm and
                # the client's delayed ACK hold each answer back ~40 ms
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, status: int, payload: Any, headers: dict[str, str] | None = None
                      ) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                if self.path.endswith("/models"):
                    self._send(200, {"data": [{"id": "tiny"}]})
                else:
                    self._send(404, {"error": "no such path"})

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with server.lock:
                    server.requests.append(body)
                    action = server.failures.pop(0) if server.failures else None
                    server.in_flight += 1
                    server.peak = max(server.peak, server.in_flight)
                try:
                    if action == "timeout":
                        time.sleep(server.stall_s)
                        return
                    if isinstance(action, tuple):  # (status, the server's message)
                        self._send(action[0], {"error": {"message": action[1]}})
                        return
                    if isinstance(action, int):
                        retry = {"Retry-After": "0"} if action in (429, 503) else {}
                        self._send(action, {"error": {"message": f"injected {action}"}}, retry)
                        return
                    if action == "no_finish":  # a server that does not say why it stopped
                        n = int(body.get("n", 1))
                        self._send(200, {"choices": [{"index": i, "text": " x"}
                                                     for i in range(n)],
                                         "usage": {"prompt_tokens": 1,
                                                   "completion_tokens": 5 * n}})
                        return
                    time.sleep(server.latency(body) if server.latency else server.delay_s)
                    n = int(body.get("n", 1))
                    choices = [{"index": i, "text": f" echo[{i}] {body['prompt'][-20:]}",
                                "finish_reason": "length" if "LONG" in body["prompt"]
                                else "stop"} for i in range(n)]
                    self._send(200, {"choices": choices, "usage": {
                        "prompt_tokens": len(body["prompt"].split()),
                        "completion_tokens": 3 * n}})
                    with server.lock:
                        server.answered.append(body["prompt"])
                finally:
                    with server.lock:
                        server.in_flight -= 1

        class Server(ThreadingHTTPServer):
            request_queue_size = 256  # the default 5 drops connections a busy client opens

        self.httpd = Server(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
