"""The steps after sign-up: confirming with the code, and asking for a new code."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from django.utils import timezone
from django.utils.formats import date_format

from .. import abuse, cognito, logs, tracing
from ..forms import ConfirmForm
from ..messages import CONFIRM_ERRORS, RESEND_ERRORS, UNMAPPED_ERROR, ErrorMapping, message
from ..models import AttemptEvent, Portal, SignupAttempt
from .attempts import delivery_detail, hand_back_connection
from .outcome import NextStep, Outcome, Result, polite
from .requests import StepRequest
from .validation import problems

# Cognito takes at most five requests for a new code and fifteen confirmations an hour for one user
# (docs/cognito.md §8.2): one more only burns a call, so the portal stops it first, counted across
# processes like every other limit (settings: resend_per_username, confirm_per_username).


@polite("signup.confirm")
def signup_confirm(*, portal: Portal, request: StepRequest) -> Outcome:
    """ConfirmSignUp with the visitor's code; the attempt records the confirmation."""
    request, attempt, refused = _ready(portal, request, resend=False)
    if refused:
        return refused
    hand_back_connection()
    try:
        cognito.confirm_sign_up(
            portal.target,
            username=request.username,
            code=request.code,
            force_alias_creation=request.force_alias_creation,
            **_about_the_visitor(portal, request),
        )
    except cognito.CognitoFailure as error:
        _record_failure(attempt, AttemptEvent.Kind.CONFIRM, "signup.confirm_failed", error)
        if _is_already_confirmed(error):
            return _already_confirmed(attempt, error)
        return _failed(error, CONFIRM_ERRORS)
    if attempt is not None:
        attempt.mark_confirmed()
        attempt.record_event(AttemptEvent.Kind.CONFIRM, ok=True)
    logs.event("signup.confirmed", attempt=attempt and attempt.reference, portal=portal.slug)
    return Outcome(Result.OK, attempt, next_step=NextStep.DONE)


@polite("signup.resend")
def signup_resend(*, portal: Portal, request: StepRequest) -> Outcome:
    """ResendConfirmationCode, within the hourly allowance; the attempt records where the code went."""
    request, attempt, refused = _ready(portal, request, resend=True)
    if refused:
        return refused
    hand_back_connection()
    try:
        result = cognito.resend_confirmation_code(
            portal.target, username=request.username, **_about_the_visitor(portal, request)
        )
    except cognito.CognitoFailure as error:
        _record_failure(attempt, AttemptEvent.Kind.RESEND, "signup.resend_failed", error)
        if isinstance(error, cognito.CognitoError) and "already confirmed" in error.message:
            return _already_confirmed(attempt, error)
        if isinstance(error, cognito.CognitoError) and error.code == "LimitExceededException":
            outcome = _failed(error, RESEND_ERRORS)
            outcome.result, outcome.explanation = Result.LIMITED, _wait(None)
            return outcome
        return _failed(error, RESEND_ERRORS)
    if attempt is not None:
        attempt.note_code_sent(result.code_delivery)
        attempt.record_event(AttemptEvent.Kind.RESEND, ok=True, detail=delivery_detail(result.code_delivery))
    logs.event("signup.resent", attempt=attempt and attempt.reference, portal=portal.slug)
    return Outcome(Result.OK, attempt, next_step=NextStep.CONFIRM, code_delivery=result.code_delivery)


def _ready(
    portal: Portal, request: StepRequest, *, resend: bool
) -> tuple[StepRequest, SignupAttempt | None, Outcome | None]:
    """What both steps check before calling Cognito, in order: the portal takes steps (a pool where
    only administrators sign users up still confirms the users they created); the username and code
    are ones Cognito could take (the confirm page's own form, whatever the channel: docs/cognito.md
    §3.1); the username is within its hourly allowance (counted here). Then the request as checked
    and the attempt the step belongs to: the visitor's link's, or the username's latest."""
    reason = portal.confirmation_unavailable_reason
    if reason:
        return request, None, Outcome(Result.UNAVAILABLE, general_error="not_available", error_message=reason)
    form = ConfirmForm(data={"username": request.username, "code": request.code}, resend=resend)
    if not form.is_valid():
        return request, None, Outcome(Result.INVALID, field_errors=problems(form))
    request = replace(request, username=form.cleaned_data["username"], code=form.cleaned_data.get("code", ""))
    attempt = request.attempt or SignupAttempt.objects.latest_created(portal, request.username)
    tracing.note_reference(attempt and attempt.reference)
    name, code = ("resend_per_username", "resend_limit") if resend else ("confirm_per_username", "too_many_attempts")
    limit = portal.rate_limit(name)
    if abuse.hit(name, f"{portal.pk}:{portal.username_key(request.username)}", limit):
        return request, attempt, None
    when = abuse.window_end(limit)
    explanation = _wait(when) if resend else ""
    return (
        request,
        attempt,
        Outcome(Result.LIMITED, attempt, general_error=code, explanation=explanation, retry_at=when),
    )


def _about_the_visitor(portal: Portal, request: StepRequest) -> dict[str, Any]:
    """What ConfirmSignUp and ResendConfirmationCode carry about the visitor, as SignUp does."""
    visitor = request.visitor
    return {
        "client_metadata": visitor.client_metadata,
        "ip_address": portal.user_context_ip(visitor.client_ip),
        "encoded_data": visitor.encoded_data,
        "analytics_endpoint_id": visitor.analytics_endpoint_id,
    }


def _record_failure(attempt: SignupAttempt | None, kind: str, event: str, error: cognito.CognitoFailure) -> None:
    if attempt is not None:
        attempt.record_event(kind, ok=False, error_code=error.code)
    logs.event(event, attempt=attempt and attempt.reference, code=error.code)


def _is_already_confirmed(error: cognito.CognitoFailure) -> bool:
    # Cognito says so only in the message (docs/cognito.md §5.1): "User cannot be confirmed. Current
    # status is CONFIRMED".
    return (
        isinstance(error, cognito.CognitoError)
        and error.code == "NotAuthorizedException"
        and ("CONFIRMED" in error.message or "status is not UNCONFIRMED" in error.message)
    )


def _already_confirmed(attempt: SignupAttempt | None, error: cognito.CognitoFailure) -> Outcome:
    if attempt is not None:
        attempt.mark_confirmed()
    return Outcome(
        Result.OK,
        attempt,
        next_step=NextStep.DONE,
        already_confirmed=True,
        general_error="already_confirmed",
        error_code=error.code,
        error_message=error.message,
    )


# Failures of ours, before or instead of an answer: what the visitor is told, and how it ended.
_NO_ANSWER: dict[type[cognito.CognitoFailure], tuple[str, Result]] = {
    cognito.SecretUnavailable: ("not_available", Result.FAILED),
    cognito.CognitoNoAnswer: ("outcome_unknown", Result.UNKNOWN),
    cognito.CognitoUnreachable: ("try_again", Result.FAILED),
}


def _failed(error: cognito.CognitoFailure, table: dict[str, ErrorMapping]) -> Outcome:
    outcome = Outcome(Result.FAILED, error_code=error.code, error_message=error.message)
    if isinstance(error, cognito.CognitoError):
        mapping = table.get(error.code, UNMAPPED_ERROR)
        outcome.result = Result.REJECTED if mapping.status == "rejected" else Result.FAILED
        outcome.add_error(mapping.field, mapping.message_code)
    else:
        outcome.general_error, outcome.result = _NO_ANSWER.get(type(error), ("try_again", Result.FAILED))
    return outcome


def _wait(when: datetime | None) -> str:
    if when is None:
        return message("resend_limit")
    return message("resend_limit_until") % {"time": date_format(timezone.localtime(when), "TIME_FORMAT")}
