"""A webhook receiver for the tests: an HTTP server on a free loopback port, in a thread, that checks
every request with the standardwebhooks library (as an operator's receiver would) and records it.

    with Receiver(secret, statuses=[500, 500, 200], delay=0) as receiver:
        ... receiver.url ... receiver.requests ...

`statuses` are answered in turn, the last one from then on (200 when none); `delay` seconds pass before
each answer (for timeouts). Each request is recorded as a Received: whether it verified, its headers
(lower-cased names) and its parsed body.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks.webhooks import Webhook, WebhookVerificationError


@dataclass(frozen=True)
class Received:
    verified: bool
    headers: dict[str, str]
    body: Any  # the parsed JSON, or the raw text when it is not JSON
    raw: bytes
    path: str
    answered: int


@dataclass
class Receiver:
    secret: str
    statuses: list[int] = field(default_factory=list)
    delay: float = 0.0
    requests: list[Received] = field(default_factory=list)
    arrivals: int = 0  # requests come in, counted before the delay (those recorded came out too)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        assert self._server is not None, "the receiver is not started"
        return f"http://127.0.0.1:{self._server.server_address[1]}/hooks"

    @property
    def ids(self) -> list[str]:
        return [r.headers.get("webhook-id", "") for r in self.requests]

    @property
    def bodies(self) -> list[Any]:
        return [r.body for r in self.requests]

    def _next_status(self) -> int:
        with self._lock:
            if not self.statuses:
                return 200
            return self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]

    def _record(self, received: Received) -> None:
        with self._lock:
            self.requests.append(received)

    def wait_for(self, count: int, timeout: float = 10.0, *, arrived: bool = False) -> list[Received]:
        """The requests once `count` of them are answered (or have `arrived`), or what there is after
        `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while (self.arrivals if arrived else len(self.requests)) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        return list(self.requests)

    def __enter__(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver._lock:
                    receiver.arrivals += 1
                headers = {k.lower(): v for k, v in self.headers.items()}
                try:
                    body = Webhook(receiver.secret).verify(raw, headers)
                    verified = True
                except WebhookVerificationError:
                    verified = False
                    try:
                        body = json.loads(raw)
                    except ValueError:
                        body = raw.decode("utf-8", "replace")
                status = receiver._next_status()
                if receiver.delay:
                    time.sleep(receiver.delay)
                receiver._record(Received(verified, headers, body, raw, self.path, status))
                try:
                    self.send_response(status)
                    self.send_header("Content-Length", "2")
                    self.end_headers()
                    self.wfile.write(b"ok")
                except OSError:
                    pass  # the sender gave up waiting (a timeout test)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
