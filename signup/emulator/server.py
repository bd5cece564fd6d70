"""moto's server with Cognito's real sign-up behaviour in front of it.

EmulatorApp is WSGI middleware: it answers SignUp, ConfirmSignUp and ResendConfirmationCode
itself (operations.py) and adds a few test endpoints; every other request goes to moto as is.

    GET    /_outbox[?username=...][&destination=...]  confirmation messages sent, newest last
    DELETE /_outbox                                   empty the outbox
    GET    /_requests                                 intercepted requests, Password/SecretHash masked
    POST   /_clock  {"advance_seconds": N}            move the emulator clock (code expiry, quotas)
    POST   /moto-api/reset                            moto's reset; clears the emulator's state too
"""

from __future__ import annotations

import functools
import ipaddress
import json
import threading
import traceback
import uuid
from collections.abc import Callable, Iterable
from typing import Any
from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

from moto.server import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import BaseWSGIServer, make_server
from werkzeug.wrappers import Request, Response

from .backend import share_signing_key
from .operations import OPERATIONS, Operation
from .rules import SERIALIZATION, CognitoError, mask_destination
from .state import EmulatorState, SentCode

AMZ_JSON = "application/x-amz-json-1.1"
TARGET_PREFIX = "AWSCognitoIdentityProviderService."
DEFAULT_PORT = 9229

Endpoint = Callable[[Request], Response]


class EmulatorApp:
    def __init__(self, moto_app: WSGIApplication, state: EmulatorState) -> None:
        self.moto_app = moto_app
        self.state = state
        self._endpoints: dict[tuple[str, str], Endpoint] = {
            ("GET", "/_outbox"): self._list_outbox,
            ("DELETE", "/_outbox"): self._clear_outbox,
            ("GET", "/_requests"): self._list_requests,
            ("POST", "/_clock"): self._advance_clock,
        }

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        request = Request(environ)  # reads nothing until asked, so moto still gets the body
        endpoint = self._endpoint(request)
        if endpoint is None:
            if (request.method, request.path) == ("POST", "/moto-api/reset"):
                self.state.reset()
            return self.moto_app(environ, start_response)
        return endpoint(request)(environ, start_response)

    def _endpoint(self, request: Request) -> Endpoint | None:
        if (request.method, request.path) == ("POST", "/"):
            target = request.headers.get("X-Amz-Target", "")
            name = target.removeprefix(TARGET_PREFIX)
            if target.startswith(TARGET_PREFIX) and name in OPERATIONS:
                return functools.partial(self._run, name, OPERATIONS[name])
        return self._endpoints.get((request.method, request.path))

    def _run(self, name: str, operation: Operation, request: Request) -> Response:
        try:
            body = _json_body(request)
            self.state.record_request(name, body)
            with self.state.lock:
                return _amz_json(200, operation(body, self.state))
        except CognitoError as error:
            return _amz_json(400, {"__type": error.error_type, "message": error.message})
        except Exception:  # a bug here must still look like a service error to the SDK
            traceback.print_exc()
            return _amz_json(500, {"__type": "InternalErrorException", "message": "Emulator error"})

    def _list_outbox(self, request: Request) -> Response:
        sent = self.state.outbox(username=request.args.get("username"), destination=request.args.get("destination"))
        return _json(200, [message.to_json() for message in sent])

    def _clear_outbox(self, request: Request) -> Response:
        self.state.clear_outbox()
        return Response(status=204)

    def _list_requests(self, request: Request) -> Response:
        return _json(200, self.state.requests())

    def _advance_clock(self, request: Request) -> Response:
        try:
            seconds = json.loads(request.get_data() or b"{}").get("advance_seconds")
        except (ValueError, AttributeError):
            seconds = None
        if not isinstance(seconds, int | float) or seconds < 0:
            return _json(400, {"message": 'Send {"advance_seconds": <non-negative number>}'})
        return _json(200, {"offset_seconds": self.state.advance_clock(seconds)})


def _json_body(request: Request) -> dict[str, Any]:
    try:
        body = json.loads(request.get_data() or b"{}")
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise CognitoError(SERIALIZATION, "The request body is not a JSON object")
    return body


def _amz_json(status: int, payload: dict[str, Any]) -> Response:
    response = Response(json.dumps(payload), status, content_type=AMZ_JSON)
    response.headers["x-amzn-RequestId"] = str(uuid.uuid4())
    return response


def _json(status: int, payload: Any) -> Response:
    return Response(json.dumps(payload), status, content_type="application/json")


def print_code(sent: SentCode) -> None:
    destination = mask_destination(sent.attribute, sent.destination)
    print(f"[emulator] code {sent.code} for {sent.username} -> {destination} ({sent.medium})", flush=True)


def make_app(state: EmulatorState | None = None) -> EmulatorApp:
    """moto's server app behind the emulator; codes are printed unless `state` says otherwise."""
    share_signing_key()
    moto_app = DomainDispatcherApplication(create_backend_app)
    return EmulatorApp(moto_app, state or EmulatorState(on_send=print_code))


def start_in_thread(host: str = "127.0.0.1", port: int = 0) -> tuple[BaseWSGIServer, str]:
    """Serve in a daemon thread; returns the server (call .shutdown()) and its base URL.

    Port 0 picks a free port. The app is `server.app` and its state `server.app.state`.
    """
    require_loopback(host)
    server = make_server(host, port, make_app(), threaded=True, request_handler=MotoRequestHandler)
    threading.Thread(target=server.serve_forever, name="cognito-emulator", daemon=True).start()
    url_host = f"[{host}]" if ":" in host else host
    return server, f"http://{url_host}:{server.port}"


def serve_forever(
    host: str = "127.0.0.1", port: int = DEFAULT_PORT, on_ready: Callable[[str], None] | None = None
) -> None:
    """Serve until interrupted (KeyboardInterrupt propagates); `on_ready` gets the base URL."""
    server, base_url = start_in_thread(host, port)
    try:
        if on_ready is not None:
            on_ready(base_url)
        threading.Event().wait()
    finally:
        server.shutdown()


def require_loopback(host: str) -> None:
    """Refuse any address but loopback: the emulator accepts any caller and prints codes."""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise ValueError(f"The Cognito emulator binds to loopback addresses only, not {host!r}")
