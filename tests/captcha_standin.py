"""A local stand-in for the Turnstile and hCaptcha verify APIs, so that no test reaches Cloudflare or hCaptcha.

It answers a form-encoded POST as both providers do (they share the shape), keeps every request's fields, and
can be switched to the ways a real one fails: too slow, an error status, not JSON, a redirect, a dropped
connection, an endless answer.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl

SECRET = "captcha-secret-for-tests-only"
GOOD_TOKEN = "token-the-provider-accepts"


class CaptchaStandIn:
    """Use as a context manager; `url` is its verify endpoint, `requests` the form fields it was sent.

    `mode` "answer" answers as the provider would: success for a token in `good_tokens` with the right
    secret, else its error code. The others fail: "slow" answers after `delay` seconds, "error" is a 500,
    "not-json" an HTML page, "no-verdict" JSON whose success is not a boolean, "redirect" a 302, "hang-up"
    closes without answering, "huge" sends 100 kB."""

    def __init__(self, secret: str = SECRET, good_tokens: frozenset[str] = frozenset({GOOD_TOKEN})):
        self.secret = secret
        self.good_tokens = good_tokens
        self.mode = "answer"
        self.delay = 5.0
        self.requests: list[dict[str, str]] = []
        self._closing = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_port}/siteverify"

    def __enter__(self) -> CaptchaStandIn:
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._closing.set()  # a "slow" answer still waiting stops waiting
        self._server.shutdown()
        self._server.server_close()

    def answer(self, fields: dict[str, str]) -> dict[str, object]:
        if fields.get("secret") != self.secret:
            return {"success": False, "error-codes": ["invalid-input-secret"]}
        if fields.get("response") in self.good_tokens:
            return {"success": True, "error-codes": [], "challenge_ts": "2026-01-01T00:00:00Z", "hostname": "localhost"}
        return {"success": False, "error-codes": ["invalid-input-response"]}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
                fields = dict(parse_qsl(body, keep_blank_values=True))
                standin.requests.append(fields)
                mode = standin.mode
                if mode == "hang-up":
                    self.close_connection = True
                    return
                if mode == "slow" and standin._closing.wait(standin.delay):
                    return
                if mode == "redirect":
                    self.send_response(302)
                    self.send_header("Location", "/elsewhere")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                status, content_type, text = 200, "application/json", json.dumps(standin.answer(fields))
                if mode == "error":  # a success in the body of an error status is no answer
                    status, text = 500, json.dumps({"success": True})
                elif mode == "not-json":
                    content_type, text = "text/html", "<html><body>Please wait…</body></html>"
                elif mode == "no-verdict":
                    text = json.dumps({"success": "true"})
                elif mode == "huge":
                    text = json.dumps({"success": True, "padding": "x" * 100_000})
                self._send(status, content_type, text)

            def do_GET(self) -> None:
                # Where "redirect" points: a client that followed it would read a success here.
                self._send(200, "application/json", json.dumps({"success": True}))

            def _send(self, status: int, content_type: str, text: str) -> None:
                data = text.encode()
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        return Handler
