"""The sign-up use case: guards, the portal's rules, the attempt recorded, SignUp called once."""

from __future__ import annotations

import contextlib
import logging
import random
import time
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError
from django.utils import timezone

from .. import challenges, cognito, guards, logs, presignup
from ..caching import form_spec as portal_form_spec
from ..messages import message, signup_error
from ..models import AttemptEvent, Portal, SignupAttempt
from ..schema import FormSpec
from .attempts import delivery_detail, hand_back_connection, new_attempt, own_statement, record_refused
from .outcome import NextStep, Outcome, Result, polite
from .requests import Problem, SignupRequest
from .validation import NON_FIELD, checked_form, problems

Status = SignupAttempt.Status
PENDING_WAIT_SECONDS = 12.0  # a little more than the read timeout: the first request's answer is coming
PRE_SIGNUP_REFUSED, PRE_SIGNUP_UNAVAILABLE = guards.PRE_SIGNUP_REFUSED, guards.PRE_SIGNUP_UNAVAILABLE


@polite("signup")
def signup_submit(*, portal: Portal, request: SignupRequest) -> Outcome:
    """Sign a visitor up: the guards (where the channel has them), the form's rules, then the attempt
    recorded as pending, SignUp called once outside any transaction, and the outcome recorded."""
    reason = portal.unavailable_reason
    if reason:
        return Outcome(Result.UNAVAILABLE, general_error="not_available", error_message=reason)
    spec = portal_form_spec(portal)
    idempotency_key = request.idempotency_key
    # Every channel but the command line (an operator's tool) is guarded: the browser channels send
    # their bot signals, and the API, which has none, is rate limited like them; all pass the challenge.
    guarded = request.visitor.channel != SignupAttempt.Channel.CLI
    signals = request.bot_signals
    if guarded:
        check = guards.submission_check(
            portal=portal,
            form_token=signals.form_token if signals else None,
            honeypot=signals.honeypot if signals else "",
            client_ip=request.visitor.client_ip,
            username=request.username,
        )
        if check.block:
            result = Result.LIMITED if check.block == "rate_limited" else Result.BLOCKED
            return _blocked(portal, spec, request, result, check.block, retry_at=check.retry_at)
        idempotency_key = idempotency_key or check.key
        refused = guards.challenge_check(portal, request.challenge_response, request.visitor.client_ip)
        if refused:
            result = Result.FAILED if refused == challenges.UNAVAILABLE else Result.BLOCKED
            return _blocked(portal, spec, request, result, refused)
    form = checked_form(spec, request)
    if form.errors:
        return _invalid(portal, spec, request, form)
    call = cognito.SignUpCall(
        username=form.cleaned_data["username"],
        password=form.cleaned_data.get("password") or None,
        attributes=form.attributes(),
        validation_data=form.validation_data(),
        client_metadata=request.visitor.client_metadata,
        analytics_endpoint_id=request.visitor.analytics_endpoint_id,
        ip_address=portal.user_context_ip(request.visitor.client_ip),
        encoded_data=request.visitor.encoded_data,
    )
    refusals = guards.admission_check(portal, call.username, dict(call.attributes))
    if refusals:  # who may sign up: refused numbers and addresses never reach Cognito
        outcome = Outcome(Result.BLOCKED)
        for cognito_field, reason in refusals:
            outcome.add_error(_field_for(spec, cognito_field), reason)
        return _refused_by_rules(portal, spec, request, outcome, guards.BLOCK_CODES[refusals[0][1]])
    if presignup.configured(portal):
        if idempotency_key and (first := SignupAttempt.objects.filter(idempotency_key=idempotency_key).first()):
            return outcome_of(first, spec)  # the same form again: its first attempt answers, the hook is not asked
        hook_refusal = _pre_signup_hook(portal, spec, request, call)
        if hook_refusal is not None:
            return hook_refusal
    try:
        with own_statement():  # committed before Cognito is called
            attempt = new_attempt(
                portal,
                spec,
                request,
                consented=bool(form.cleaned_data.get("consent")),
                idempotency_key=idempotency_key,
                username=call.username,
                attributes=dict(call.attributes),
                validation_data_names=[name for name, _ in call.validation_data],
                status=Status.PENDING,
            )
    except IntegrityError:
        # The same rendered form again (double click, a retried POST): its first attempt answers.
        return outcome_of(SignupAttempt.objects.get(idempotency_key=idempotency_key), spec)
    logs.event("signup.sending", attempt=attempt.reference, portal=portal.slug)
    try:
        outcome = _send(portal, spec, call, attempt)
    except Exception as error:  # after the call may have gone out: the user may exist, so it is unknown
        logs.event("signup.error", level=logging.ERROR, exc_info=True, attempt=attempt.reference, portal=portal.slug)
        with contextlib.suppress(Exception):  # the database may be what failed; reconciliation settles it
            attempt.complete_with_error(Status.UNKNOWN, type(error).__name__, "")
        return Outcome(Result.UNKNOWN, attempt, general_error="outcome_unknown", error_code=type(error).__name__)
    outcome.username = call.username
    return outcome


def _blocked(
    portal: Portal,
    spec: FormSpec,
    request: SignupRequest,
    result: Result,
    reason: str,
    retry_at: datetime | None = None,
) -> Outcome:
    """A guard's refusal (a message code for the whole form), recorded as `blocked` with its reason."""
    attempt = record_refused(portal, spec, request, status=Status.BLOCKED, error_code=guards.BLOCK_CODES[reason])
    logs.event("signup.blocked", attempt=attempt.reference, portal=portal.slug, code=attempt.error_code)
    return Outcome(result, attempt, general_error=reason, error_code=attempt.error_code, retry_at=retry_at)


def _refused_by_rules(
    portal: Portal, spec: FormSpec, request: SignupRequest, outcome: Outcome, error_code: str
) -> Outcome:
    """The portal's rules or its hook refused the values on the form's fields: recorded as `blocked`."""
    attempt = record_refused(
        portal,
        spec,
        request,
        status=Status.BLOCKED,
        error_code=error_code,
        form_errors={name: [p.code for p in found] for name, found in outcome.field_errors.items()},
    )
    logs.event("signup.blocked", attempt=attempt.reference, portal=portal.slug, code=attempt.error_code)
    outcome.attempt, outcome.error_code = attempt, attempt.error_code
    return outcome


def _pre_signup_hook(
    portal: Portal, spec: FormSpec, request: SignupRequest, call: cognito.SignUpCall
) -> Outcome | None:
    """Ask the operator's hook (signup/presignup.py): None to go on to SignUp, else the refusal. The
    hook's errors go on the fields they name (Cognito attribute, username or validation-data name); any
    other name's, and its message, above the form. No usable answer follows the portal's choice."""
    verdict = presignup.ask(
        portal,
        username=call.username,
        attributes=dict(call.attributes),
        validation_data=dict(call.validation_data),
        channel=request.visitor.channel,
        client_ip=request.visitor.client_ip,
    )
    if verdict.allowed:
        return None
    if not verdict.denied:
        if portal.pre_signup_hook_fail_open:
            return None  # presignup.ask logged it as a warning
        return _blocked(portal, spec, request, Result.FAILED, PRE_SIGNUP_UNAVAILABLE)
    outcome = Outcome(Result.BLOCKED, general_error=PRE_SIGNUP_REFUSED, explanation=verdict.message)
    for name, text in verdict.errors.items():
        target = _field_for(spec, name) or _validation_data_field(spec, name) or NON_FIELD
        shown = text or message("attribute_rejected")  # a text that was all control characters
        outcome.field_errors.setdefault(target, []).append(Problem(PRE_SIGNUP_REFUSED, shown))
    return _refused_by_rules(portal, spec, request, outcome, guards.BLOCK_CODES[PRE_SIGNUP_REFUSED])


def _validation_data_field(spec: FormSpec, data_name: str) -> str | None:
    return next((f.name for f in spec.fields if f.kind == "validation_data" and f.data_name == data_name), None)


def _invalid(portal: Portal, spec: FormSpec, request: SignupRequest, form: object) -> Outcome:
    found = problems(form)  # type: ignore[arg-type]
    attempt = record_refused(
        portal,
        spec,
        request,
        consented=bool(getattr(form, "cleaned_data", {}).get("consent")),
        validation_data_names=[
            f.data_name for f in spec.fields if f.kind == "validation_data" and request.validation_data.get(f.data_name)
        ],
        form_errors={name: [p.code for p in errors] for name, errors in found.items()},
        status=Status.INVALID,
    )
    logs.event("signup.invalid", attempt=attempt.reference, portal=portal.slug, fields=sorted(found))
    return Outcome(Result.INVALID, attempt, field_errors=found)


def _send(portal: Portal, spec: FormSpec, call: cognito.SignUpCall, attempt: SignupAttempt) -> Outcome:
    hand_back_connection()
    try:
        result = sign_up_with_backoff(portal.target, call, attempt)
    except cognito.CognitoError as error:
        return _refused(portal, spec, attempt, error)
    except cognito.CognitoFailure as error:
        # Nothing sent (no secret), nothing reached Cognito, or no answer came back (docs/cognito.md §7.1).
        status, code, result_kind = {
            cognito.SecretUnavailable: (Status.FAILED, "not_available", Result.FAILED),
            cognito.CognitoUnreachable: (Status.FAILED, "try_again", Result.FAILED),
            cognito.CognitoNoAnswer: (Status.UNKNOWN, "outcome_unknown", Result.UNKNOWN),
        }.get(type(error), (Status.FAILED, "try_again", Result.FAILED))
        _complete(attempt, status, error)
        if isinstance(error, cognito.SecretUnavailable | cognito.CognitoUnreachable):
            attempt.release_idempotency_key()  # SignUp never went out, so the key has not been spent
        return Outcome(result_kind, attempt, general_error=code, error_code=error.code, error_message=error.message)
    except Exception as error:  # a bug of ours or the SDK's, after the call may have gone out
        logs.event("signup.error", level=logging.ERROR, exc_info=True, attempt=attempt.reference, portal=portal.slug)
        _complete(attempt, Status.UNKNOWN, cognito.CognitoFailure("", code=type(error).__name__))
        return Outcome(Result.UNKNOWN, attempt, general_error="outcome_unknown", error_code=type(error).__name__)
    attempt.record_event(
        AttemptEvent.Kind.SIGNUP,
        ok=True,
        detail={"user_confirmed": result.user_confirmed, **delivery_detail(result.code_delivery)},
    )
    attempt.mark_succeeded(
        user_sub=result.user_sub,
        user_confirmed=result.user_confirmed,
        delivery=result.code_delivery,
        request_id=result.request_id,
        latency_ms=result.latency_ms,
    )
    logs.event("signup.succeeded", attempt=attempt.reference, portal=portal.slug, latency_ms=result.latency_ms)
    next_step = NextStep.DONE if result.user_confirmed else NextStep.CONFIRM
    return Outcome(Result.OK, attempt, next_step=next_step, code_delivery=result.code_delivery)


# Cognito's refusals that leave nothing behind (throttled, the pre sign-up trigger failed, no such
# client): a retry with the same idempotency key may call SignUp again (docs/cognito.md §6.1, §7.3).
NOTHING_CREATED = {
    "TooManyRequestsException",
    "UnexpectedLambdaException",
    "InvalidLambdaResponseException",
    "ResourceNotFoundException",
}


def _refused(portal: Portal, spec: FormSpec, attempt: SignupAttempt, error: cognito.CognitoError) -> Outcome:
    mapping = signup_error(error.code, error.message, portal.username_attributes)
    _complete(attempt, mapping.status, error)
    if error.code in NOTHING_CREATED:
        attempt.release_idempotency_key()
    if error.code == "UsernameExistsException":
        earlier = _created_by_an_earlier_unknown_attempt(portal, attempt)
        if earlier is not None:
            return Outcome(Result.OK, earlier, next_step=NextStep.CONFIRM)
        if portal.hides_existing_accounts():
            # The same answer as for a new account: nobody learns which usernames exist.
            return Outcome(Result.OK, attempt, next_step=NextStep.CONFIRM)
    return _error_outcome(attempt, spec, mapping.status, mapping.field, mapping.message_code)


def _error_outcome(attempt: SignupAttempt, spec: FormSpec, status: str, field: str | None, code: str) -> Outcome:
    kinds = {Status.REJECTED: Result.REJECTED, Status.UNKNOWN: Result.UNKNOWN}
    outcome = Outcome(
        kinds.get(status, Result.FAILED),  # type: ignore[call-overload]
        attempt,
        error_code=attempt.error_code,
        error_message=attempt.error_message,
    )
    if attempt.error_code == "InvalidParameterException" or code == "password_rejected":
        outcome.result = Result.INVALID  # a value Cognito would not take: the visitor can correct it
    outcome.add_error(_field_for(spec, field), code)
    if attempt.error_code == "LimitExceededException":
        # The user may exist and only the code could not go (docs/cognito.md §6.1, §7.1): ask for it anyway.
        outcome.next_step = NextStep.CONFIRM
    return outcome


def _field_for(spec: FormSpec, cognito_field: str | None) -> str | None:
    if cognito_field in ("username", "password"):
        return cognito_field
    if cognito_field:
        target = spec.for_attribute(cognito_field)
        if target is not None:
            return target.name
    return None


def _complete(attempt: SignupAttempt, status: str, error: cognito.CognitoFailure) -> None:
    # Cognito's own text is kept whole (up to the column's bound); ours (a network or SDK detail) shorter.
    text = error.message if isinstance(error, cognito.CognitoError) else error.message[:500]
    attempt.complete_with_error(status, error.code, text, request_id=error.request_id, latency_ms=error.latency_ms)
    attempt.record_event(AttemptEvent.Kind.SIGNUP, ok=False, error_code=error.code, detail={"status": status})
    logs.event(f"signup.{status}", attempt=attempt.reference, portal=attempt.portal.slug, code=error.code)


def sign_up_with_backoff(
    target: cognito.Target, call: cognito.SignUpCall, attempt: SignupAttempt
) -> cognito.SignUpResult:
    """SignUp, tried again only after TooManyRequestsException (Cognito did nothing then), with full-jitter
    exponential backoff, a few times, within a time budget. Every other error goes straight back: a 500
    may have created the user, and a blind retry would meet UsernameExistsException (docs/cognito.md §7.1)."""
    deadline = time.monotonic() + settings.SIGNUP_THROTTLE_BUDGET_SECONDS
    for retry in range(settings.SIGNUP_THROTTLE_RETRIES + 1):
        try:
            return cognito.sign_up(target, call)
        except cognito.CognitoError as error:
            delay = random.uniform(0, min(1.0, 0.1 * 2**retry))
            if (
                error.code != "TooManyRequestsException"
                or retry == settings.SIGNUP_THROTTLE_RETRIES
                or time.monotonic() + delay > deadline
            ):
                raise
            attempt.record_event(AttemptEvent.Kind.SIGNUP, ok=False, error_code=error.code, detail={"retry": retry + 1})
            logs.event("signup.throttled", attempt=attempt.reference, retry=retry + 1, delay_ms=round(delay * 1000))
            time.sleep(delay)
    raise AssertionError("unreachable")  # the loop returns or raises


def _created_by_an_earlier_unknown_attempt(portal: Portal, attempt: SignupAttempt) -> SignupAttempt | None:
    """A retry after an unanswered SignUp meets UsernameExistsException: was that user ours all along?

    Only an earlier `unknown` attempt for the same username (within a day) qualifies, and only if Cognito
    says the user is still UNCONFIRMED; then the earlier attempt did create it and is settled as such.
    """
    earlier = (
        SignupAttempt.objects.for_username(portal, attempt.username)
        .filter(status=Status.UNKNOWN, created_at__gte=timezone.now() - timedelta(days=1))
        .exclude(pk=attempt.pk)
        .order_by("-created_at")
        .first()
    )
    if earlier is None:
        return None
    try:
        user = cognito.admin_get_user(portal.target, attempt.username)
    except cognito.CognitoFailure as error:
        # The clash stands as Cognito said it; the log says why it was not settled (a missing permission?).
        logs.event(
            "signup.earlier_attempt_unchecked",
            attempt=attempt.reference,
            earlier=earlier.reference,
            code=error.code,
            permission=error.permission,
        )
        return None
    if user.status != "UNCONFIRMED":
        return None
    earlier.settle_found(user_sub=user.sub, confirmed=False)
    earlier.record_event(AttemptEvent.Kind.RECONCILE, ok=True, detail={"found": True, "status": user.status})
    return earlier


def outcome_of(attempt: SignupAttempt, spec: FormSpec) -> Outcome:
    """What a repeated submission shows: the first one's outcome, waited for while it is pending."""
    deadline = time.monotonic() + PENDING_WAIT_SECONDS
    while attempt.status == Status.PENDING and time.monotonic() < deadline:
        time.sleep(0.2)
        attempt.refresh_from_db()
    if attempt.status == Status.PENDING:
        return Outcome(Result.UNKNOWN, attempt, general_error="outcome_unknown")
    if attempt.status == Status.SUCCEEDED:
        return Outcome(Result.OK, attempt, next_step=NextStep.DONE if attempt.user_confirmed else NextStep.CONFIRM)
    if attempt.error_code == "UsernameExistsException" and attempt.portal.hides_existing_accounts():
        return Outcome(Result.OK, attempt, next_step=NextStep.CONFIRM)  # as the first answer was
    mapping = signup_error(attempt.error_code, attempt.error_message, attempt.portal.username_attributes)
    return _error_outcome(attempt, spec, attempt.status, mapping.field, mapping.message_code)
