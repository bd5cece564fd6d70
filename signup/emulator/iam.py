"""IAM on the cognito-idp calls, checked the way Cognito checks it (docs/cognito.md §2.6).

moto's own enforcement (switched on by INITIAL_NO_AUTH_ACTION_COUNT, or at run time by
POST /moto-api/reset-auth) checks every cognito-idp action against the resource "*", answers with
IAM's XML and HTTP 403, and fails with a 500 on an unsigned call. Here the emulator checks instead,
before moto sees the request:

- the public operations (those botocore's model marks as needing no auth: SignUp, ConfirmSignUp,
  ResendConfirmationCode, InitiateAuth ...) are never checked;
- every other call must be signed by a key moto's IAM knows, with a valid signature;
- the caller's policies (moto's: inline and attached, the user's groups', an assumed role's) must allow
  `cognito-idp:<Operation>` on the pool's ARN, `arn:<partition>:cognito-idp:<region>:<account>:userpool/
  <UserPoolId>`, or on "*" for calls that name no pool; an explicit Deny wins;
- a refusal is Cognito's: HTTP 400 with a JSON `__type` and `message`.

moto decides for itself which operation it runs and on which pool: an `Action` or `UserPoolId` in the query
string, or in a JSON body that also reads as a query string ('{"X": "&Action=AdminDeleteUser&"}'), wins
over the X-Amz-Target and the JSON `UserPoolId` the gate reads. So the gate marks what it checked
(VETTED), and moto's own hook (take_over_from_moto) checks again any call moto would run as another
operation or on another pool, or that the gate never saw.

moto's allowance of unchecked calls is shared: a call checked here counts against it exactly as one
moto checks would, so the first INITIAL_NO_AUTH_ACTION_COUNT calls (of any service) pass unchecked.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import botocore.session
from botocore.awsrequest import AWSRequest
from moto import settings as moto_settings
from moto.cognitoidp.responses import CognitoIdpResponse
from moto.core.authorization import ActionAuthenticatorMixin
from moto.iam.access_control import IAMPolicy, IAMRequest, PermissionResult
from moto.iam.models import get_account_id_from
from moto.utilities.utils import get_partition
from werkzeug.datastructures import Headers
from werkzeug.exceptions import HTTPException

from .rules import CognitoError

SERVICE = "cognito-idp"
AMZ_JSON = "application/x-amz-json-1.1"
# The WSGI environ key under which the gate leaves the (operation, pool id) it let through.
VETTED = "signup.emulator.iam.vetted"

ACCESS_DENIED = "AccessDeniedException"
MISSING_TOKEN = "MissingAuthenticationTokenException"
UNRECOGNIZED_CLIENT = "UnrecognizedClientException"
INVALID_SIGNATURE = "InvalidSignatureException"
INCOMPLETE_SIGNATURE = "IncompleteSignatureException"

MISSING_TOKEN_MESSAGE = "Missing Authentication Token"
EXPLICIT_DENY = "with an explicit deny in an identity-based policy"
# Our own wording (docs/cognito.md §9.3): AWS names each missing part of the header.
INCOMPLETE_SIGNATURE_MESSAGE = (
    "The Authorization header lacks a Credential scope, SignedHeaders, a Signature or an X-Amz-Date"
)
WRONG_SERVICE_MESSAGE = f"Credential should be scoped to correct service: '{SERVICE}'."
UNRECOGNIZED_CLIENT_MESSAGE = "The security token included in the request is invalid."
INVALID_SIGNATURE_MESSAGE = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
)


@functools.cache
def public_operations() -> frozenset[str]:
    """The cognito-idp operations Cognito answers without IAM, from botocore's service model."""
    model = botocore.session.get_session().get_service_model("cognito-idp")
    return frozenset(name for name in model.operation_names if model.operation_model(name).auth_type == "none")


def enforcing() -> bool:
    """True once moto's allowance of unchecked calls is used up; counts this call against it if not."""
    if ActionAuthenticatorMixin.request_count >= moto_settings.INITIAL_NO_AUTH_ACTION_COUNT:
        return True
    ActionAuthenticatorMixin.request_count += 1
    return False


def check(
    operation: str,
    given_headers: Mapping[str, str] | Iterable[tuple[str, str]],
    body: bytes,
    pool_ids: Sequence[Any],
    path: str = "/",
) -> None:
    """Raise CognitoError unless the caller may run `operation` on each of `pool_ids` (None: no pool).

    `path` is the request's path with its query string, as signed.
    """
    if not enforcing() or operation in public_operations():
        return
    headers = Headers(given_headers)  # looked up by name however the client spelled it
    authorization = headers.get("Authorization", "")
    if not authorization:
        raise CognitoError(MISSING_TOKEN, MISSING_TOKEN_MESSAGE)
    scope = IAMRequest._get_string_between("Credential=", ",", authorization).split("/")
    signed_headers = IAMRequest._get_string_between("SignedHeaders=", ",", authorization)
    signature = IAMRequest._get_string_between("Signature=", ",", authorization)
    if len(scope) != 5 or not all(scope) or not signed_headers or not signature or not headers.get("X-Amz-Date"):
        raise CognitoError(INCOMPLETE_SIGNATURE, INCOMPLETE_SIGNATURE_MESSAGE)
    if scope[3] != SERVICE:
        raise CognitoError(INVALID_SIGNATURE, WRONG_SERVICE_MESSAGE)
    request = _SignedCall(scope[0], headers, body, operation, path)
    request.check_signature()
    for pool_id in dict.fromkeys(pool_id_of(pool_id) for pool_id in pool_ids or [None]):
        request.check_allowed(pool_arn(request.partition, request.region, request.account_id, pool_id))


def pool_id_of(value: Any) -> str | None:
    """The pool a `UserPoolId` parameter names; None if it names none (missing, empty, not a string)."""
    return value if isinstance(value, str) and value else None


def pool_arn(partition: str, region: str, account_id: str, pool_id: Any) -> str:
    """The resource a call is authorised on: its pool's ARN, or "*" for calls that name no pool."""
    pool_id = pool_id_of(pool_id)
    if pool_id is None:
        return "*"
    return f"arn:{partition}:cognito-idp:{region}:{account_id}:userpool/{pool_id}"


class _SignedCall(IAMRequest):
    """moto's signed-request checks (key lookup, signature, the caller's policies), answered as Cognito."""

    def __init__(self, access_key_id: str, headers: Headers, body: bytes, operation: str, path: str) -> None:
        super().__init__(
            account_id=get_account_id_from(access_key_id),
            method="POST",
            path=path,
            data={},
            body=body,
            headers=headers,  # type: ignore[arg-type]  # moto only reads it as a mapping
            action=operation,
        )

    @property
    def region(self) -> str:
        return str(self._region)

    @property
    def partition(self) -> str:
        return str(get_partition(self._region))

    def _create_aws_request(self) -> AWSRequest:
        """moto's, but dated by the request's X-Amz-Date even if the client did not sign that header (moto
        looks for it among the signed headers only, and fails with a KeyError, a 500, without it)."""
        signed_headers = self._get_string_between("SignedHeaders=", ",", self._headers["Authorization"]).split(";")
        headers = self._create_headers_for_aws_request(signed_headers, self._headers)
        request = AWSRequest(method=self._method, url=self._path, data=self._body, headers=headers)
        request.context["timestamp"] = self._headers["X-Amz-Date"]
        return request

    def check_allowed(self, resource: str) -> None:
        allowed = False
        for policy in self._access_key.collect_policies():
            result = _case_blind(policy).is_action_permitted(self._action.lower(), resource)
            if result == PermissionResult.DENIED:
                raise CognitoError(ACCESS_DENIED, self._denied(resource, EXPLICIT_DENY))
            allowed = allowed or result == PermissionResult.PERMITTED
        if not allowed:
            reason = f"because no identity-based policy allows the {self._action} action"
            raise CognitoError(ACCESS_DENIED, self._denied(resource, reason))

    def _denied(self, resource: str, reason: str) -> str:
        who = self._access_key.arn
        return f"User: {who} is not authorized to perform: {self._action} on resource: {resource} {reason}"

    def _raise_access_denied(self) -> None:  # moto's check_action_permitted; check_allowed replaces it
        raise CognitoError(ACCESS_DENIED, self._denied("*", "because no identity-based policy allows it"))

    def _raise_invalid_access_key(self, reason: str) -> None:
        raise CognitoError(UNRECOGNIZED_CLIENT, UNRECOGNIZED_CLIENT_MESSAGE)

    def _raise_signature_does_not_match(self) -> None:
        raise CognitoError(INVALID_SIGNATURE, INVALID_SIGNATURE_MESSAGE)


def _case_blind(policy: Any) -> IAMPolicy:
    """The policy with its actions in lower case: IAM matches action names regardless of case (moto does not)."""
    iam_policy = IAMPolicy(policy)
    statements = iam_policy._policy_json["Statement"]
    for statement in statements if isinstance(statements, list) else [statements]:
        for element in ("Action", "NotAction"):
            actions = statement.get(element)
            if isinstance(actions, str):
                statement[element] = actions.lower()
            elif isinstance(actions, list):
                statement[element] = [action.lower() if isinstance(action, str) else action for action in actions]
    return iam_policy


class _Refused(HTTPException):
    """A refusal raised inside moto's request handling, which answers an HTTPException with its description."""

    code = 400

    def __init__(self, error: CognitoError) -> None:
        super().__init__(description=json.dumps({"__type": error.error_type, "message": error.message}))


def take_over_from_moto() -> None:
    """moto's own check on cognito-idp calls would refuse what is allowed on a pool's ARN and answer
    in IAM's format; the emulator checks (and counts) each call before moto sees it, and moto's hook
    checks only what the emulator did not check as moto is about to run it."""
    CognitoIdpResponse._authenticate_and_authorize_normal_action = _checked_by_the_emulator  # type: ignore[method-assign]


def _checked_by_the_emulator(self: Any, resource: str = "*") -> None:
    """moto's check before it runs a cognito-idp call: nothing more if the gate let this very call through."""
    operation = self._get_action()
    pool_ids = list(dict.fromkeys([pool_id_of(self._get_param("UserPoolId")), pool_id_of(_json_pool_id(self.body))]))
    if len(pool_ids) == 1 and self.normalized_request.environ.get(VETTED) == (operation, pool_ids[0]):
        return
    path = self.raw_path + (f"?{self.parsed_url.query}" if self.parsed_url.query else "")
    try:
        check(operation, self.headers, self.raw_body, pool_ids, path)
    except CognitoError as error:
        self.response_headers["Content-Type"] = AMZ_JSON
        raise _Refused(error) from None


def _json_pool_id(body: Any) -> Any:
    """The `UserPoolId` of a JSON body (what moto's handlers that read `self.parameters` use), if any."""
    try:
        params = json.loads(body)
    except (TypeError, ValueError):
        return None
    return params.get("UserPoolId") if isinstance(params, dict) else None
