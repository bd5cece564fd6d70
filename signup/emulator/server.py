"""moto's server with Cognito's real sign-up behaviour in front of it.

EmulatorApp is WSGI middleware: it answers SignUp, ConfirmSignUp and ResendConfirmationCode
itself (operations.py) and adds a few test endpoints; every other request goes to moto as is.

    GET    /_outbox[?username=...][&destination=...]  confirmation messages sent, newest last
    DELETE /_outbox                                   empty the outbox
    GET    /_requests                                 intercepted requests, Password/SecretHash masked
    POST   /_clock  {"advance_seconds": N}            move the emulator clock (code expiry, quotas)
    GET    /_faults                                   the fault plan (faults.py)
    POST   /_faults  {"rate": 0.05, "kinds": [...]...} replace the fault plan; 400 with "problems" if bad
    DELETE /_faults                                   no more faults or latency (the log stays)
    GET    /_faults/log                               injected faults, newest last, with counts
    DELETE /_faults/log                               empty the fault log
    GET    /_users?user_pool_id=...                   every user of a pool, unpaged, with a count
    POST   /moto-api/reset                            moto's reset; clears the emulator's state,
                                                      the fault plan and the fault log too
    POST   /moto-api/reset-auth  (body: a number)     IAM from the call after that many unchecked
                                                      calls on (0: at once; inf: never), as moto's
                                                      INITIAL_NO_AUTH_ACTION_COUNT; checked in iam.py

Every cognito-idp call but the public ones is checked against IAM once enforcement is on (iam.py):
Cognito's answers (HTTP 400, AccessDeniedException on the pool's ARN ...), not moto's.

Faults and latency only ever hit SignUp, ConfirmSignUp and ResendConfirmationCode; every other
call (Describe*, Admin*, ListUsers ...) goes to moto untouched. What each kind sends and leaves
behind is documented on EmulatorApp._inject.
"""

from __future__ import annotations

import contextlib
import functools
import io
import ipaddress
import json
import socket
import threading
import traceback
import uuid
from collections.abc import Callable, Iterable
from typing import Any
from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

from moto.server import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import BaseWSGIServer, make_server
from werkzeug.wrappers import Request, Response

from . import faults as fault_kinds
from . import iam
from .backend import describe_users, find_pool, share_signing_key
from .faults import FaultPlan, FaultPlanError, Faults
from .operations import OPERATIONS, Operation, sign_up_without_delivery
from .rules import LIMIT_EXCEEDED, SERIALIZATION, CognitoError, mask_destination
from .state import EmulatorState, SentCode

AMZ_JSON = "application/x-amz-json-1.1"
TARGET_PREFIX = "AWSCognitoIdentityProviderService."
DEFAULT_PORT = 9229

INTERNAL_ERROR = "InternalErrorException"
TOO_MANY_REQUESTS = "TooManyRequestsException"
EMAIL_LIMIT_MESSAGE = (
    "Exceeded daily email limit for the operation or the account. If a higher limit is required, "
    "please configure your user pool to use your own Amazon SES configuration for sending email."
)
GARBAGE_BODY = b"<html>oops</html>"

Endpoint = Callable[[Request], Response]


class EmulatorApp:
    def __init__(self, moto_app: WSGIApplication, state: EmulatorState, faults: Faults | None = None) -> None:
        self.moto_app = moto_app
        self.state = state
        self.faults = faults or Faults()
        self._endpoints: dict[tuple[str, str], Endpoint] = {
            ("GET", "/_outbox"): self._list_outbox,
            ("DELETE", "/_outbox"): self._clear_outbox,
            ("GET", "/_requests"): self._list_requests,
            ("POST", "/_clock"): self._advance_clock,
            ("GET", "/_faults"): self._get_faults,
            ("POST", "/_faults"): self._set_faults,
            ("DELETE", "/_faults"): self._clear_faults,
            ("GET", "/_faults/log"): self._fault_log,
            ("DELETE", "/_faults/log"): self._clear_fault_log,
            ("GET", "/_users"): self._list_users,
        }

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        request = Request(environ)  # reads nothing until asked, so moto still gets the body
        refusal = self._authorize(request, environ)
        if refusal is not None:
            return refusal(environ, start_response)
        endpoint = self._endpoint(request)
        if endpoint is None:
            if (request.method, request.path) == ("POST", "/moto-api/reset"):
                self.state.reset()
                self.faults.reset()
            return self.moto_app(environ, start_response)
        return endpoint(request)(environ, start_response)

    def _authorize(self, request: Request, environ: WSGIEnvironment) -> Response | None:
        """IAM as Cognito applies it (iam.py), on every cognito-idp call; None lets the call through."""
        target = request.headers.get("X-Amz-Target", "")
        if (request.method, request.path) != ("POST", "/") or not target.startswith(TARGET_PREFIX):
            return None
        body = request.get_data()
        environ["wsgi.input"] = io.BytesIO(body)  # moto reads the body from the environ again
        try:
            params = json.loads(body or b"{}")
        except ValueError:
            params = None
        if not isinstance(params, dict):
            params = {}  # moto answers the malformed body itself, once the caller may call
        operation = target.removeprefix(TARGET_PREFIX)
        pool_id = iam.pool_id_of(params.get("UserPoolId"))
        query = request.query_string.decode("latin-1")
        path = f"{request.path}?{query}" if query else request.path
        try:
            iam.check(operation, request.headers, body, [pool_id], path)
        except CognitoError as error:
            return _amz_json(400, _error(error.error_type, error.message))
        environ[iam.VETTED] = (operation, pool_id)  # moto checks again what it would run otherwise
        return None

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
        except CognitoError as error:
            return _amz_json(400, _error(error.error_type, error.message))
        self.state.record_request(name, body)
        draw = self.faults.draw(name)
        self.faults.sleep(draw.latency_seconds)  # outside state.lock: slow calls must not queue the others
        if draw.kind is None:
            status, payload = self._perform(operation, body)
            return _amz_json(status, payload)
        return self._inject(name, operation, body, request, draw.kind, draw.timeout_seconds)

    def _perform(self, operation: Operation, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        try:
            with self.state.lock:
                return 200, operation(body, self.state)
        except CognitoError as error:
            return 400, _error(error.error_type, error.message)
        except Exception:  # a bug here must still look like a service error to the SDK
            traceback.print_exc()
            return 500, _error(INTERNAL_ERROR, "Emulator error")

    def _inject(
        self, name: str, operation: Operation, body: dict[str, Any], request: Request, kind: str, timeout_seconds: float
    ) -> Response:
        """Answer with the drawn fault instead of the normal answer, and log it.

        Before any work (nothing created, confirmed or sent):
          throttle  400 TooManyRequestsException "Rate exceeded"
          internal  500 InternalErrorException "Internal error"
          garbage   200, x-amz-json-1.1, body <html>oops</html>
          refuse    connection shut down without a status line (502 with empty body where the
                    server gives no socket, e.g. werkzeug's test client)
        After the normal work (user created / confirmed / code sent):
          error_after_create  500 InternalErrorException "Internal error"
          limit_after_create  SignUp only: user stored UNCONFIRMED, no code sent;
                              400 LimitExceededException (email quota message)
          timeout             the normal answer, sent timeout_ms later
        If the normal work is refused (a taken username, a bad password ...), the *_after_create
        kinds send that refusal as it is: Cognito checks before it creates. The log says so.
        """
        if kind in (fault_kinds.THROTTLE, fault_kinds.INTERNAL):
            status, error_type, message = {
                fault_kinds.THROTTLE: (400, TOO_MANY_REQUESTS, "Rate exceeded"),
                fault_kinds.INTERNAL: (500, INTERNAL_ERROR, "Internal error"),
            }[kind]
            self._log_fault(name, kind, body, status=status, answer=error_type)
            return _amz_json(status, _error(error_type, message))
        if kind == fault_kinds.GARBAGE:
            self._log_fault(name, kind, body, status=200, answer="garbage")
            return _amz_response(200, GARBAGE_BODY)
        if kind == fault_kinds.REFUSE:
            dropped = _drop_connection(request)
            self._log_fault(name, kind, body, status=None if dropped else 502, answer="dropped")
            if dropped:
                # werkzeug treats a ConnectionError from the app as a dropped client: no answer.
                raise ConnectionAbortedError("fault injection: connection dropped")
            return Response(b"", 502)

        work = sign_up_without_delivery if kind == fault_kinds.LIMIT_AFTER_CREATE else operation
        status, payload = self._perform(work, body)
        completed = status == 200
        created = completed and name == "SignUp"
        user_sub = payload.get("UserSub") if created else None
        if completed and kind == fault_kinds.ERROR_AFTER_CREATE:
            status, payload = 500, _error(INTERNAL_ERROR, "Internal error")
        elif completed and kind == fault_kinds.LIMIT_AFTER_CREATE:
            status, payload = 400, _error(LIMIT_EXCEEDED, EMAIL_LIMIT_MESSAGE)
        self._log_fault(
            name,
            kind,
            body,
            created=created,
            completed=completed,
            status=status,
            answer=payload.get("__type", "ok"),
            user_sub=user_sub,
        )
        if kind == fault_kinds.TIMEOUT:
            self.faults.sleep(timeout_seconds)
        return _amz_json(status, payload)

    def _log_fault(self, name: str, kind: str, body: dict[str, Any], **outcome: Any) -> None:
        outcome.setdefault("created", False)
        outcome.setdefault("completed", False)
        self.faults.record(name, kind, body, **outcome)

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

    def _get_faults(self, request: Request) -> Response:
        return _json(200, self.faults.plan().to_json())

    def _set_faults(self, request: Request) -> Response:
        try:
            payload = json.loads(request.get_data() or b"{}")
        except ValueError:
            return _json(400, {"message": "Invalid fault plan: the body is not JSON", "problems": ["send JSON"]})
        try:
            plan = FaultPlan.from_json(payload)
        except FaultPlanError as error:
            return _json(400, {"message": str(error), "problems": error.problems})
        return _json(200, self.faults.set_plan(plan).to_json())

    def _clear_faults(self, request: Request) -> Response:
        self.faults.clear_plan()
        return Response(status=204)

    def _fault_log(self, request: Request) -> Response:
        return _json(200, self.faults.log_json())

    def _clear_fault_log(self, request: Request) -> Response:
        self.faults.clear_log()
        return Response(status=204)

    def _list_users(self, request: Request) -> Response:
        pool_id = request.args.get("user_pool_id")
        if not pool_id:
            return _json(400, {"message": "Send ?user_pool_id=<pool id>"})
        pool = find_pool(pool_id)
        if pool is None:
            return _json(404, {"message": f"User pool {pool_id} does not exist."})
        with self.state.lock:
            users = describe_users(pool)
        return _json(200, {"user_pool_id": pool_id, "count": len(users), "users": users})


def _json_body(request: Request) -> dict[str, Any]:
    try:
        body = json.loads(request.get_data() or b"{}")
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise CognitoError(SERIALIZATION, "The request body is not a JSON object")
    return body


def _error(error_type: str, message: str) -> dict[str, Any]:
    return {"__type": error_type, "message": message}


def _amz_json(status: int, payload: dict[str, Any]) -> Response:
    return _amz_response(status, json.dumps(payload).encode())


def _amz_response(status: int, body: bytes) -> Response:
    response = Response(body, status, content_type=AMZ_JSON)
    response.headers["x-amzn-RequestId"] = str(uuid.uuid4())
    return response


def _drop_connection(request: Request) -> bool:
    """Shut the client's socket (it sees the connection closed, no status line); False if no socket."""
    connection = request.environ.get("werkzeug.socket")
    if not isinstance(connection, socket.socket):
        return False
    with contextlib.suppress(OSError):  # already gone: dropped either way
        connection.shutdown(socket.SHUT_RDWR)
    return True


def _json(status: int, payload: Any) -> Response:
    return Response(json.dumps(payload), status, content_type="application/json")


def print_code(sent: SentCode) -> None:
    destination = mask_destination(sent.attribute, sent.destination)
    print(f"[emulator] code {sent.code} for {sent.username} -> {destination} ({sent.medium})", flush=True)


def make_app(state: EmulatorState | None = None, faults: FaultPlan | None = None) -> EmulatorApp:
    """moto's server app behind the emulator; codes are printed unless `state` says otherwise.

    `faults` is the fault plan to start with (none by default; POST /_faults changes it).
    """
    share_signing_key()
    iam.take_over_from_moto()
    moto_app = DomainDispatcherApplication(create_backend_app)
    return EmulatorApp(moto_app, state or EmulatorState(on_send=print_code), Faults(faults))


def start_in_thread(
    host: str = "127.0.0.1", port: int = 0, faults: FaultPlan | None = None
) -> tuple[BaseWSGIServer, str]:
    """Serve in a daemon thread; returns the server (call .shutdown()) and its base URL.

    Port 0 picks a free port. The app is `server.app`, its state `server.app.state` and its
    fault injector `server.app.faults`.
    """
    require_loopback(host)
    app = make_app(faults=faults)
    server = make_server(host, port, app, threaded=True, request_handler=MotoRequestHandler)
    threading.Thread(target=server.serve_forever, name="cognito-emulator", daemon=True).start()
    url_host = f"[{host}]" if ":" in host else host
    return server, f"http://{url_host}:{server.port}"


def serve_forever(
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    on_ready: Callable[[str], None] | None = None,
    faults: FaultPlan | None = None,
) -> None:
    """Serve until interrupted (KeyboardInterrupt propagates); `on_ready` gets the base URL."""
    server, base_url = start_in_thread(host, port, faults)
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
