"""SignUp, ConfirmSignUp and ResendConfirmationCode as Cognito answers them.

Each operation takes the decoded JSON request and the emulator state, returns the JSON response
and raises CognitoError for any rejection. The caller holds `state.lock` for the whole call.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from moto.cognitoidp.models import CognitoIdpUser, CognitoIdpUserPool

from . import backend, rules
from .rules import (
    CLIENT_ID,
    CONFIRMATION_CODE,
    PASSWORD,
    SECRET_HASH,
    USERNAME,
    ClientRules,
    PoolRules,
)
from .state import EmulatorState, SentCode

Operation = Callable[[dict[str, Any], EmulatorState], dict[str, Any]]


def sign_up(request: dict[str, Any], state: EmulatorState) -> dict[str, Any]:
    return _sign_up(request, state, deliver=True)


def sign_up_without_delivery(request: dict[str, Any], state: EmulatorState) -> dict[str, Any]:
    """SignUp once the pool's message quota is spent: the user is stored UNCONFIRMED, no code goes out.

    Real Cognito then answers LimitExceededException although the user exists (docs/cognito.md §7.1);
    the fault injector (faults.py, limit_after_create) sends that answer instead of this one.
    """
    return _sign_up(request, state, deliver=False)


def _sign_up(request: dict[str, Any], state: EmulatorState, *, deliver: bool) -> dict[str, Any]:
    rules.check_request_shape(
        request, (CLIENT_ID, SECRET_HASH, USERNAME, PASSWORD), ("UserAttributes", "ValidationData")
    )
    username = request["Username"]
    pool, pool_rules, client_rules = _app_client(request)
    rules.check_self_sign_up_allowed(pool_rules)
    username_attribute = rules.username_attribute(pool_rules, username)
    written = rules.attribute_values(request.get("UserAttributes"))
    implied = {username_attribute: username} if username_attribute else {}
    rules.check_attributes(pool_rules, client_rules, written, implied)
    rules.check_password(pool_rules.password_policy, request.get("Password"))
    _check_name_free(pool, pool_rules, username, username_attribute)

    # In a UsernameAttributes pool the username becomes the new sub (docs/cognito.md §3.2).
    user = backend.create_user(
        pool, None if username_attribute else username, request.get("Password"), written | implied
    )
    response: dict[str, Any] = {"UserConfirmed": False, "UserSub": user.id}
    delivery = rules.delivery_attribute(pool_rules, user.attribute_lookup)
    if delivery is not None and deliver:
        sent = _send_code(state, user, delivery, client_rules.id)
        response["CodeDeliveryDetails"] = _delivery_details(sent)
    return response


def confirm_sign_up(request: dict[str, Any], state: EmulatorState) -> dict[str, Any]:
    rules.check_request_shape(request, (CLIENT_ID, SECRET_HASH, USERNAME, CONFIRMATION_CODE))
    pool, pool_rules, _ = _app_client(request)
    user = _existing_user(pool, pool_rules, request["Username"])
    key = backend.user_key(user)
    if not state.allow_attempt(key, "ConfirmSignUp", rules.CONFIRM_ATTEMPTS_PER_HOUR):
        raise rules.attempt_limit_exceeded()
    rules.check_confirmable(backend.status_of(user))
    pending = rules.check_confirmation_code(state.pending_code(key), request["ConfirmationCode"], state.now())
    _claim_alias(pool, pool_rules, user, pending.attribute, bool(request.get("ForceAliasCreation")))
    backend.confirm_user(user, pending.attribute)
    state.forget_codes(key)
    return {}


def resend_confirmation_code(request: dict[str, Any], state: EmulatorState) -> dict[str, Any]:
    rules.check_request_shape(request, (CLIENT_ID, SECRET_HASH, USERNAME))
    pool, pool_rules, client_rules = _app_client(request)
    user = _existing_user(pool, pool_rules, request["Username"])
    delivery = rules.check_resendable(
        backend.status_of(user), rules.delivery_attribute(pool_rules, user.attribute_lookup)
    )
    if not state.allow_attempt(backend.user_key(user), "ResendConfirmationCode", rules.RESEND_ATTEMPTS_PER_HOUR):
        raise rules.attempt_limit_exceeded()
    sent = _send_code(state, user, delivery, client_rules.id)
    return {"CodeDeliveryDetails": _delivery_details(sent)}


OPERATIONS: dict[str, Operation] = {
    "SignUp": sign_up,
    "ConfirmSignUp": confirm_sign_up,
    "ResendConfirmationCode": resend_confirmation_code,
}


def _app_client(request: dict[str, Any]) -> tuple[CognitoIdpUserPool, PoolRules, ClientRules]:
    """The pool behind ClientId, once the request proved it knows the client's secret."""
    pool, client = backend.find_app_client(request["ClientId"])
    client_rules = backend.client_rules(client)
    rules.check_secret_hash(client_rules, request["Username"], request.get("SecretHash"))
    return pool, backend.pool_rules(pool), client_rules


def _existing_user(pool: CognitoIdpUserPool, pool_rules: PoolRules, name: str) -> CognitoIdpUser:
    user = backend.find_user(pool, pool_rules, name)
    if user is None:
        raise rules.user_not_found()
    return user


def _check_name_free(
    pool: CognitoIdpUserPool, pool_rules: PoolRules, username: str, username_attribute: str | None
) -> None:
    # Taken means taken whatever the other user's status, UNCONFIRMED included (docs/cognito.md §3.2).
    if username_attribute is None:
        if backend.username_taken(pool, pool_rules, username):
            raise rules.username_taken()
    elif backend.attribute_taken(pool, pool_rules, username_attribute, username):
        raise rules.username_attribute_taken(username_attribute)


def _claim_alias(
    pool: CognitoIdpUserPool, pool_rules: PoolRules, user: CognitoIdpUser, attribute: str, force: bool
) -> None:
    # Alias pools accept duplicate emails at SignUp; the clash surfaces here (docs/cognito.md §3.2).
    if attribute not in pool_rules.alias_attributes:
        return
    owner = backend.verified_alias_owner(pool, pool_rules, attribute, user)
    if owner is None:
        return
    if not force:
        raise rules.alias_taken(attribute)
    backend.set_verified(owner, attribute, False)


def _send_code(state: EmulatorState, user: CognitoIdpUser, delivery: tuple[str, str], client_id: str) -> SentCode:
    attribute, medium = delivery
    return state.issue_code(
        backend.user_key(user),
        destination=user.attribute_lookup[attribute],
        medium=medium,
        attribute=attribute,
        client_id=client_id,
    )


def _delivery_details(sent: SentCode) -> dict[str, str]:
    return {
        "Destination": rules.mask_destination(sent.attribute, sent.destination),
        "DeliveryMedium": sent.medium,
        "AttributeName": sent.attribute,
    }
