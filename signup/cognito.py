"""The only module that talks to Cognito: clients, SecretHash, typed results and errors.

SignUp is not idempotent, so the clients for the public calls never retry on their own
(docs/cognito.md §7.2); the IAM-authorised describe calls may.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import boto3
import botocore
import botocore.awsrequest
import botocore.config
import botocore.exceptions
import botocore.parsers
from django.conf import settings

from . import environment, metrics

# Cognito's answer to a signed call its caller's IAM policies do not allow (docs/cognito.md §2.6).
ACCESS_DENIED = "AccessDeniedException"

# What the public calls accept for the visitor's context (docs/cognito.md §3.7).
ANALYTICS_ENDPOINT_ID = re.compile(r"^[\w.:-]{1,128}$")
MAX_ENCODED_DATA = 131072


def secret_hash(username: str, client_id: str, client_secret: str) -> str:
    """Base64(HMAC-SHA256(secret, username + client_id)), all UTF-8 (docs/cognito.md §2.4)."""
    digest = hmac.new(client_secret.encode("utf-8"), (username + client_id).encode("utf-8"), hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


@dataclass(frozen=True)
class Target:
    """Where a portal's calls go: a region, an optional endpoint, a pool and an app client."""

    region: str
    endpoint_url: str | None
    user_pool_id: str
    client_id: str
    client_secret_env: str = ""
    has_secret: bool = False


class CognitoFailure(Exception):
    """Every way a call to Cognito can fail, as one family: callers catch this and read `code`.

    `code` is Cognito's own error code when it answered, else ours (EndpointConnectionError,
    NoAnswer, SecretUnavailable); `message` is the detail, for logs and operators, never for visitors.
    `permission` is the IAM action the caller lacks (`cognito-idp:AdminGetUser`) when Cognito refused
    the call for that reason (docs/cognito.md §2.6), else ""."""

    code = "Error"

    def __init__(
        self,
        message: str,
        *,
        code: str = "",
        request_id: str = "",
        latency_ms: int | None = None,
        permission: str = "",
    ):
        super().__init__(message)
        if code:
            self.code = code
        self.message = message
        self.request_id = request_id
        self.latency_ms = latency_ms
        self.permission = permission


class CognitoError(CognitoFailure):
    """Cognito answered with an error: nothing was created, unless the code says otherwise."""

    def __init__(
        self, code: str, message: str, request_id: str = "", latency_ms: int | None = None, permission: str = ""
    ):
        super().__init__(message, code=code, request_id=request_id, latency_ms=latency_ms, permission=permission)

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


class CognitoUnreachable(CognitoFailure):
    """The request never reached Cognito (connection refused, DNS, connect timeout)."""

    code = "EndpointConnectionError"


class CognitoNoAnswer(CognitoFailure):
    """The request may have reached Cognito but no usable answer came back (read timeout, garbage)."""

    code = "NoAnswer"


class SecretUnavailable(CognitoFailure):
    """The client needs a secret and we could not get it: nothing was sent."""

    code = "SecretUnavailable"


class NoCredentials(CognitoFailure):
    """A signed call found no usable AWS credentials in the standard chain: nothing was sent."""

    code = "NoCredentials"


# What botocore raises when the standard chain gives no usable credentials (docs/cognito.md §2.6).
_CREDENTIAL_ERRORS = (
    botocore.exceptions.NoCredentialsError,
    botocore.exceptions.PartialCredentialsError,
    botocore.exceptions.CredentialRetrievalError,
    botocore.exceptions.ProfileNotFound,
)


@dataclass(frozen=True)
class CodeDelivery:
    destination: str = ""
    medium: str = ""
    attribute: str = ""

    @classmethod
    def from_response(cls, raw: dict[str, Any] | None) -> CodeDelivery | None:
        if not raw:
            return None
        return cls(raw.get("Destination", ""), raw.get("DeliveryMedium", ""), raw.get("AttributeName", ""))

    def as_json(self) -> dict[str, str]:
        return {"destination": self.destination, "medium": self.medium, "attribute": self.attribute}


@dataclass(frozen=True)
class SignUpResult:
    user_sub: str
    user_confirmed: bool
    code_delivery: CodeDelivery | None
    request_id: str
    latency_ms: int


@dataclass(frozen=True)
class CallResult:
    request_id: str
    latency_ms: int
    code_delivery: CodeDelivery | None = None


@dataclass(frozen=True)
class SignUpCall:
    """Everything SignUp takes besides ClientId and SecretHash, which come from the target."""

    username: str
    password: str | None
    attributes: list[tuple[str, str]] = field(default_factory=list)
    validation_data: list[tuple[str, str]] = field(default_factory=list)
    client_metadata: dict[str, str] = field(default_factory=dict)
    analytics_endpoint_id: str = ""
    ip_address: str = ""
    encoded_data: str = ""


# --- Clients: one per region, endpoint and kind, per process ---------------------------------------

_clients: dict[tuple[str, str | None, bool], Any] = {}
_clients_lock = threading.Lock()


def _connection_settings() -> dict[str, Any]:
    return {
        "connect_timeout": settings.COGNITO_CONNECT_TIMEOUT,
        "read_timeout": settings.COGNITO_READ_TIMEOUT,
        "max_pool_connections": settings.COGNITO_MAX_POOL_CONNECTIONS,
    }


def client_for(region: str, endpoint_url: str | None, *, public: bool) -> Any:
    """A cached boto3 client. Public calls go unsigned (Cognito does not check IAM on them) and never retry."""
    key = (region, endpoint_url or None, public)
    client = _clients.get(key)
    if client is not None:
        return client
    with _clients_lock:
        if key not in _clients:
            if public:
                config = botocore.config.Config(
                    signature_version=botocore.UNSIGNED, retries={"total_max_attempts": 1}, **_connection_settings()
                )
            else:
                config = botocore.config.Config(
                    retries={"mode": "standard", "max_attempts": 3}, **_connection_settings()
                )
            try:
                session = boto3.session.Session()
            except botocore.exceptions.ProfileNotFound as error:  # AWS_PROFILE names no profile
                raise NoCredentials(str(error)) from error
            client = session.client("cognito-idp", region_name=region, endpoint_url=endpoint_url or None, config=config)
            client.meta.events.register("before-parse.cognito-identity-provider", _refuse_garbled_success)
            _clients[key] = client
        return _clients[key]


def _refuse_garbled_success(response_dict: dict[str, Any], operation_model: Any = None, **_: Any) -> None:
    """The one check for a garbled 2xx answer: every Cognito answer is a JSON object, and never an
    error's. botocore parses a body that is not JSON into {} or {"message": body}, which for
    ConfirmSignUp (whose answer is {}) would pass for success; make either a parse error, which `_call`
    reports as no answer (docs/cognito.md §7.1)."""
    if not 200 <= response_dict.get("status_code", 0) < 300:
        return
    body = response_dict.get("body") or b""
    try:
        parsed = json.loads(body) if body else None
    except ValueError:
        parsed = None
    if not isinstance(parsed, dict):
        raise botocore.parsers.ResponseParserError("Cognito answered 2xx with a body that is not a JSON object")
    # An error's body ({"message": ...}) with a success status. Members the model does not know yet are
    # no reason to refuse an answer: Cognito adds output members over time (SignUp's Session, 2024).
    output = operation_model.output_shape if operation_model is not None else None
    members = set(output.members) if output is not None else set()
    stray = {key for key in ("message", "Message", "__type") if key in parsed} - members
    if stray and not members & set(parsed):
        name = operation_model.name if operation_model is not None else "Cognito"
        raise botocore.parsers.ResponseParserError(f"{name}: unexpected answer ({', '.join(sorted(parsed))})")


# --- Answers given on this machine (the warm-up's rehearsal) ----------------------------------

_answering = threading.local()


class _Body:
    def __init__(self, data: bytes) -> None:
        self.data = data

    def stream(self, **_: Any) -> Any:
        yield self.data


def _answer_locally(request: Any, **_: Any) -> Any:
    """botocore's before-send: a response returned here is parsed as if it had come over the network."""
    answers = getattr(_answering, "answers", None)
    if answers is None:
        return None
    operation = request.headers.get("X-Amz-Target", b"")
    operation = operation.decode() if isinstance(operation, bytes) else operation
    answer = answers[operation.rpartition(".")[2]]
    headers = {"x-amzn-requestid": "local", "Content-Type": "application/x-amz-json-1.1"}
    return botocore.awsrequest.AWSResponse(request.url, 200, headers, _Body(json.dumps(answer).encode()))


@contextmanager
def answered_locally(client: Any, answers: dict[str, dict[str, Any]]) -> Iterator[None]:
    """Within the block, this thread's calls through `client` get `answers` (by operation name) from
    this machine, through botocore's whole request and response path; other threads' calls, and
    every call after the block, go to Cognito as usual."""
    unique_id = f"signup.local-answers.{id(client)}"
    client.meta.events.register_first("before-send.cognito-identity-provider", _answer_locally, unique_id=unique_id)
    _answering.answers = answers
    try:
        yield
    finally:
        _answering.answers = None
        client.meta.events.unregister("before-send.cognito-identity-provider", unique_id=unique_id)


def forget_clients() -> None:
    with _clients_lock:
        _clients.clear()
    with _secrets_lock:
        _secrets.clear()


# --- Describe calls (IAM) -------------------------------------------------------------------


def _send(client: Any, operation: str, **params: Any) -> tuple[dict[str, Any], int]:
    """One call, its latency, and every failure as a CognitoFailure; `_call` is this, counted."""
    started = time.perf_counter()
    try:
        response = getattr(client, operation)(**params)
    except botocore.exceptions.ClientError as error:
        latency = round((time.perf_counter() - started) * 1000)
        meta = error.response.get("ResponseMetadata", {})
        details = error.response.get("Error", {})
        code = details.get("Code", "Unknown")
        # Cognito names the action in its text too; the operation we called is the surer source.
        permission = f"cognito-idp:{client.meta.method_to_api_mapping[operation]}" if code == ACCESS_DENIED else ""
        raise CognitoError(
            code, details.get("Message", ""), meta.get("RequestId", ""), latency, permission=permission
        ) from error
    except (botocore.exceptions.ConnectTimeoutError, botocore.exceptions.EndpointConnectionError) as error:
        raise CognitoUnreachable(str(error), latency_ms=round((time.perf_counter() - started) * 1000)) from error
    except (
        botocore.exceptions.ReadTimeoutError,
        botocore.exceptions.ConnectionClosedError,
        botocore.parsers.ResponseParserError,
        botocore.exceptions.HTTPClientError,
    ) as error:
        raise CognitoNoAnswer(str(error), latency_ms=round((time.perf_counter() - started) * 1000)) from error
    except _CREDENTIAL_ERRORS as error:
        raise NoCredentials(str(error)) from error
    return response, round((time.perf_counter() - started) * 1000)


# Every call the portal makes goes through the metrics; cognito.probe's dry calls do not (see there).
_call = metrics.cognito_call(_send)


def describe(target: Target) -> tuple[dict[str, Any], dict[str, Any]]:
    """DescribeUserPool and DescribeUserPoolClient, as Cognito returns them."""
    client = client_for(target.region, target.endpoint_url, public=False)
    pool, _ = _call(client, "describe_user_pool", UserPoolId=target.user_pool_id)
    app, _ = _call(client, "describe_user_pool_client", UserPoolId=target.user_pool_id, ClientId=target.client_id)
    return pool["UserPool"], app["UserPoolClient"]


# --- The client secret: from the environment, else DescribeUserPoolClient; memory only ----------

_secrets: dict[tuple[str, str], str] = {}
_secrets_lock = threading.Lock()


def client_secret(target: Target) -> str | None:
    if not target.has_secret:
        return None
    if target.client_secret_env:
        try:
            value = environment.secret(target.client_secret_env)
        except OSError as error:
            raise SecretUnavailable(f"cannot read {target.client_secret_env}_FILE") from error
        if not value:
            raise SecretUnavailable(f"environment variable {target.client_secret_env} is empty")
        return value
    key = (target.user_pool_id, target.client_id)
    cached = _secrets.get(key)
    if cached:
        return cached
    client = client_for(target.region, target.endpoint_url, public=False)
    try:
        app, _ = _call(client, "describe_user_pool_client", UserPoolId=target.user_pool_id, ClientId=target.client_id)
    except CognitoFailure as error:
        detail = f" (missing IAM permission {error.permission})" if error.permission else ""
        raise SecretUnavailable(
            f"DescribeUserPoolClient failed: {error.code}{detail}", permission=error.permission
        ) from error
    secret = app["UserPoolClient"].get("ClientSecret")
    if not secret:
        raise SecretUnavailable("the app client has no secret")
    with _secrets_lock:
        _secrets[key] = secret
    return secret


def is_client_secret(target: Target, value: str) -> bool:
    """Whether `value` is the app client's secret, by DescribeUserPoolClient; compared in constant time
    and dropped, never kept or returned. False when Cognito cannot say."""
    client = client_for(target.region, target.endpoint_url, public=False)
    try:
        app, _ = _call(client, "describe_user_pool_client", UserPoolId=target.user_pool_id, ClientId=target.client_id)
    except CognitoFailure:
        return False
    actual = app["UserPoolClient"].get("ClientSecret") or ""
    return bool(actual) and hmac.compare_digest(value.encode(), actual.encode())


def caller_arn(target: Target) -> str:
    """The ARN of the identity the standard chain gives, by sts:GetCallerIdentity, which needs no IAM
    permission; at the target's endpoint when it has one (the local Cognito answers STS too)."""
    config = botocore.config.Config(retries={"total_max_attempts": 1}, **_connection_settings())
    try:
        sts = boto3.session.Session().client(
            "sts", region_name=target.region, endpoint_url=target.endpoint_url or None, config=config
        )
        return str(sts.get_caller_identity()["Arn"])
    except _CREDENTIAL_ERRORS as error:
        raise NoCredentials(str(error)) from error
    except botocore.exceptions.ClientError as error:
        raise CognitoError(error.response.get("Error", {}).get("Code", "Unknown"), str(error)) from error
    except botocore.exceptions.BotoCoreError as error:
        raise CognitoUnreachable(str(error)) from error


def _with_secret(target: Target, username: str, params: dict[str, Any]) -> dict[str, Any]:
    secret = client_secret(target)
    if secret is not None:
        params["SecretHash"] = secret_hash(username, target.client_id, secret)
    return params


def _context(ip_address: str, encoded_data: str) -> dict[str, str]:
    context = {}
    if ip_address:
        context["IpAddress"] = ip_address
    if encoded_data:
        context["EncodedData"] = encoded_data
    return context


def _add_visitor_context(
    params: dict[str, Any],
    client_metadata: Any,
    ip_address: str,
    encoded_data: str,
    analytics_endpoint_id: str,
) -> None:
    """What every public call carries about the visitor, each part only when there is one: ClientMetadata
    for the pool's triggers, UserContextData for threat protection, AnalyticsMetadata for Pinpoint."""
    if client_metadata:
        params["ClientMetadata"] = dict(client_metadata)
    if analytics_endpoint_id:
        params["AnalyticsMetadata"] = {"AnalyticsEndpointId": analytics_endpoint_id}
    context = _context(ip_address, encoded_data)
    if context:
        params["UserContextData"] = context


def _request_id(response: dict[str, Any]) -> str:
    return str(response.get("ResponseMetadata", {}).get("RequestId", ""))


# --- The three public calls -------------------------------------------------------------------


def sign_up(target: Target, call: SignUpCall) -> SignUpResult:
    params: dict[str, Any] = {"ClientId": target.client_id, "Username": call.username}
    if call.password:
        params["Password"] = call.password
    if call.attributes:
        params["UserAttributes"] = [{"Name": n, "Value": v} for n, v in call.attributes]
    if call.validation_data:
        params["ValidationData"] = [{"Name": n, "Value": v} for n, v in call.validation_data]
    _add_visitor_context(params, call.client_metadata, call.ip_address, call.encoded_data, call.analytics_endpoint_id)
    _with_secret(target, call.username, params)
    client = client_for(target.region, target.endpoint_url, public=True)
    response, latency = _call(client, "sign_up", **params)
    try:
        return SignUpResult(
            user_sub=response["UserSub"],
            user_confirmed=bool(response["UserConfirmed"]),
            code_delivery=CodeDelivery.from_response(response.get("CodeDeliveryDetails")),
            request_id=_request_id(response),
            latency_ms=latency,
        )
    except (KeyError, TypeError) as error:
        raise CognitoNoAnswer(f"malformed SignUp response: {error}", latency_ms=latency) from error


def confirm_sign_up(
    target: Target,
    *,
    username: str,
    code: str,
    client_metadata: dict[str, str] | None = None,
    ip_address: str = "",
    encoded_data: str = "",
    analytics_endpoint_id: str = "",
    force_alias_creation: bool = False,
) -> CallResult:
    params: dict[str, Any] = {"ClientId": target.client_id, "Username": username, "ConfirmationCode": code}
    if force_alias_creation:
        params["ForceAliasCreation"] = True
    _add_visitor_context(params, client_metadata, ip_address, encoded_data, analytics_endpoint_id)
    _with_secret(target, username, params)
    client = client_for(target.region, target.endpoint_url, public=True)
    response, latency = _call(client, "confirm_sign_up", **params)
    return CallResult(request_id=_request_id(response), latency_ms=latency)


def resend_confirmation_code(
    target: Target,
    *,
    username: str,
    client_metadata: dict[str, str] | None = None,
    ip_address: str = "",
    encoded_data: str = "",
    analytics_endpoint_id: str = "",
) -> CallResult:
    params: dict[str, Any] = {"ClientId": target.client_id, "Username": username}
    _add_visitor_context(params, client_metadata, ip_address, encoded_data, analytics_endpoint_id)
    _with_secret(target, username, params)
    client = client_for(target.region, target.endpoint_url, public=True)
    response, latency = _call(client, "resend_confirmation_code", **params)
    return CallResult(
        request_id=_request_id(response),
        latency_ms=latency,
        code_delivery=CodeDelivery.from_response(response.get("CodeDeliveryDetails")),
    )


# --- Admin (IAM) calls for operators ---------------------------------------------------------


@dataclass(frozen=True)
class LiveUser:
    username: str
    status: str
    enabled: bool
    sub: str
    request_id: str


def admin_get_user(target: Target, username: str) -> LiveUser:
    client = client_for(target.region, target.endpoint_url, public=False)
    response, _ = _call(client, "admin_get_user", UserPoolId=target.user_pool_id, Username=username)
    attributes = {a["Name"]: a["Value"] for a in response.get("UserAttributes", [])}
    return LiveUser(
        username=response.get("Username", username),
        status=response.get("UserStatus", ""),
        enabled=bool(response.get("Enabled", True)),
        sub=attributes.get("sub", ""),
        request_id=_request_id(response),
    )


def admin_confirm_sign_up(target: Target, username: str) -> CallResult:
    client = client_for(target.region, target.endpoint_url, public=False)
    response, latency = _call(client, "admin_confirm_sign_up", UserPoolId=target.user_pool_id, Username=username)
    return CallResult(request_id=_request_id(response), latency_ms=latency)


def admin_delete_user(target: Target, username: str) -> CallResult:
    client = client_for(target.region, target.endpoint_url, public=False)
    response, latency = _call(client, "admin_delete_user", UserPoolId=target.user_pool_id, Username=username)
    return CallResult(request_id=_request_id(response), latency_ms=latency)


# --- Dry calls: may this caller run an action on a pool? -----------------------------------------


def _no_user(target: Target) -> dict[str, Any]:
    return {"UserPoolId": target.user_pool_id, "Username": f"signup-portal-check-{uuid.uuid4().hex}"}


# The IAM actions a dry call can prove, each with the parameters of a call that changes nothing
# (docs/cognito.md §2.6). Only these: an Admin* call that creates or changes would not be dry.
PROBES: dict[str, Callable[[Target], dict[str, Any]]] = {
    "DescribeUserPool": lambda target: {"UserPoolId": target.user_pool_id},
    "DescribeUserPoolClient": lambda target: {"UserPoolId": target.user_pool_id, "ClientId": target.client_id},
    "AdminGetUser": _no_user,
    "AdminConfirmSignUp": _no_user,
    "AdminDeleteUser": _no_user,
}
PROBED_ACTIONS = tuple(PROBES)


def probe(target: Target, action: str) -> CognitoFailure | None:
    """None when the caller may run `action` on the target's pool, else the failure that says why not.

    The Describe calls read; the Admin* calls name a user who cannot exist, so Cognito, which checks
    IAM before it looks for the user, answers UserNotFoundException to a caller who may, and
    AccessDeniedException to one who may not, and nothing changes either way. KeyError for an action
    with no dry call."""
    params = PROBES[action](target)
    try:
        client = client_for(target.region, target.endpoint_url, public=False)
        # Not through the metrics: a check's planned UserNotFoundException is no error of the portal's traffic.
        _send(client, botocore.xform_name(action), **params)
    except CognitoError as error:
        return None if "Username" in params and error.code == "UserNotFoundException" else error
    except CognitoFailure as error:
        return error
    return None
