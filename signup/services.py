"""The use cases: sync a portal, submit a sign-up, confirm it, resend the code.

Each records what happened on the attempt. Cognito is always called outside any transaction,
after the attempt row is committed as `pending`, so a crash mid-call leaves a visible row.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import random
import re
import threading
import time
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import get_language

from . import cognito, logs
from .forms import SignupForm
from .messages import CONFIRM_ERRORS, RESEND_ERRORS, UNMAPPED_ERROR, ErrorMapping, message, signup_error
from .models import AttemptEvent, Portal, SignupAttempt
from .schema import ConsentSpec, FormSpec, Override, ValidationDataSpec, form_spec, snapshot_from_descriptions

Status = SignupAttempt.Status

MAX_CLIENT_METADATA_PARAMS = 10
MAX_CLIENT_METADATA_VALUE = 256
MAX_ENCODED_DATA = 131072
ANALYTICS_ENDPOINT_ID = re.compile(r"^[\w.:-]{1,128}$")


# --- Portals -------------------------------------------------------------------------------------


def portal_target(portal: Portal) -> cognito.Target:
    return cognito.Target(
        region=portal.region,
        endpoint_url=portal.endpoint_url or None,
        user_pool_id=portal.user_pool_id,
        client_id=portal.client_id,
        client_secret_env=portal.client_secret_env,
        has_secret=bool(portal.snapshot.get("has_secret")),
    )


def portal_sync(*, portal: Portal) -> Portal:
    """Read the pool and client from Cognito and keep what the form needs (never the secret)."""
    pool, client = cognito.describe(portal_target(portal))
    portal.snapshot = snapshot_from_descriptions(pool, client)
    portal.synced_at = timezone.now()
    portal.save(update_fields=["snapshot", "synced_at"])
    logs.event("portal.synced", portal=portal.slug, attributes=len(portal.snapshot["attributes"]))
    return portal


_spec_cache: dict[tuple[Any, ...], FormSpec] = {}
_spec_lock = threading.Lock()


def _overrides(portal: Portal, language: str) -> tuple[Override, ...]:
    """The operator's overrides, with the texts of `language` where a translation gives them."""
    translations = {t.attribute: t for t in portal.field_translations.all() if t.language == language}
    overrides = {
        o.attribute: Override(
            attribute=o.attribute,
            label=o.label,
            help_text=o.help_text,
            placeholder=o.placeholder,
            order=o.order,
            hidden=o.hidden,
            choices=tuple(o.choice_list()),
        )
        for o in portal.field_overrides.all()
    }
    for attribute, translation in translations.items():
        base = overrides.get(attribute, Override(attribute=attribute))
        overrides[attribute] = replace(
            base,
            label=translation.label or base.label,
            help_text=translation.help_text or base.help_text,
            placeholder=translation.placeholder or base.placeholder,
        )
    return tuple(sorted(overrides.values(), key=lambda o: o.attribute))


def portal_form_spec(portal: Portal, language: str = "") -> FormSpec:
    """The portal's form in `language`, from its stored snapshot and the operator's overrides; no AWS call."""
    language = language or get_language() or settings.LANGUAGE_CODE
    # Remembered on the instance: a portal kept by portal_cache serves every request in this language.
    known: dict[tuple[Any, ...], FormSpec] = portal.__dict__.setdefault("_form_specs", {})
    key = (language, portal.synced_at, portal.updated_at)
    spec = known.get(key)
    if spec is None:
        spec = known[key] = _build_form_spec(portal, language)
    return spec


def _build_form_spec(portal: Portal, language: str) -> FormSpec:
    overrides = _overrides(portal, language)
    validation = tuple(
        ValidationDataSpec(
            name=v.name,
            label=v.label,
            type=v.type,
            required=v.required,
            help_text=v.help_text,
            max_length=v.max_length,
            order=v.order,
        )
        for v in portal.validation_fields.all()
    )
    consent = (
        ConsentSpec(portal.consent_version, portal.terms_url, portal.privacy_url) if portal.require_consent else None
    )
    key = (portal.pk, portal.synced_at, portal.updated_at, language, overrides, validation, consent)
    spec = _spec_cache.get(key)
    if spec is None:
        spec = form_spec(portal.snapshot, overrides, validation, consent)
        with _spec_lock:
            if len(_spec_cache) > 512:
                _spec_cache.clear()
            _spec_cache[key] = spec
    return spec


def portal_unavailable_reason(portal: Portal) -> str | None:
    """Why the portal shows no form, or None when it is open for sign-ups."""
    if not portal.is_open:
        return "closed"
    if not portal.is_synced:
        return "not_synced"
    if portal.snapshot.get("admin_create_only"):
        return "admin_only"
    return None


# --- The request's context ---------------------------------------------------------------------


@dataclass(frozen=True)
class RequestContext:
    channel: str = SignupAttempt.Channel.WEB
    client_ip: str | None = None
    user_agent: str = ""
    client_metadata: dict[str, str] = field(default_factory=dict)
    analytics_endpoint_id: str = ""
    encoded_data: str = ""
    page: str = ""  # where the form was: our page URL, or the embedding site's origin
    language: str = ""
    embed_origin: str = ""
    idempotency_key: str | None = None


def client_ip(meta: dict[str, Any]) -> str | None:
    """The visitor's address: X-Forwarded-For only as far as our own trusted proxies wrote it."""
    remote = meta.get("REMOTE_ADDR") or ""
    hops = settings.SIGNUP_TRUSTED_PROXY_COUNT
    candidate = remote
    if hops > 0:
        forwarded = [h.strip() for h in str(meta.get("HTTP_X_FORWARDED_FOR", "")).split(",") if h.strip()]
        # Each trusted proxy appends the address it saw; the one `hops` from the right is the client.
        if len(forwarded) >= hops:
            candidate = forwarded[-hops]
    for value in (candidate, remote):
        try:
            address = ipaddress.ip_address(value)
        except ValueError:
            continue
        # A zone index (fe80::1%eth0) is local to the proxy's host, not the visitor's address.
        if getattr(address, "scope_id", None) is None:
            return str(address)
    return None


def client_metadata_for(portal: Portal, query: Any) -> dict[str, str]:
    """The portal's static ClientMetadata plus the query parameters it lets through, bounded in size."""
    metadata = {str(k): str(v) for k, v in (portal.client_metadata or {}).items()}
    allowed = [p for p in (portal.client_metadata_params or []) if isinstance(p, str)]
    for name in allowed[:MAX_CLIENT_METADATA_PARAMS]:
        value = query.get(name)
        if isinstance(value, str) and value and len(value) <= MAX_CLIENT_METADATA_VALUE and value.isprintable():
            metadata[name] = value
    return metadata


def analytics_endpoint_id(query: Any) -> str:
    value = query.get("analytics_endpoint_id", "")
    return value if isinstance(value, str) and ANALYTICS_ENDPOINT_ID.match(value) else ""


def encoded_data(portal: Portal, post: Any) -> str:
    value = post.get("user_context_data", "") if portal.advanced_security else ""
    if not isinstance(value, str) or len(value) > MAX_ENCODED_DATA or not value.isprintable():
        return ""
    return value


def user_context_ip(portal: Portal, context: RequestContext) -> str:
    # Cognito honours IpAddress only for clients with a secret and the propagation flag (§8).
    snapshot = portal.snapshot
    if snapshot.get("has_secret") and snapshot.get("propagate_user_context") and context.client_ip:
        return context.client_ip
    return ""


# --- Submitting a sign-up ----------------------------------------------------------------------


@dataclass
class SubmitOutcome:
    attempt: SignupAttempt
    field_errors: dict[str, str] = field(default_factory=dict)  # input name -> message code
    general_error: str = ""
    # What the user sees next: "confirm" (a code was sent, or may be sent), "done", or "" (stay on the form).
    next_step: str = ""


def _new_attempt(portal: Portal, context: RequestContext, form: SignupForm, **values: Any) -> SignupAttempt:
    # A form the guards stopped was never validated, so it has no cleaned_data (and gave no consent).
    consented = form.spec.consent is not None and bool(getattr(form, "cleaned_data", {}).get("consent"))
    values["search_text"] = SignupAttempt.search_text_for(values.get("username", ""), values.get("attributes", {}))
    return SignupAttempt.objects.create(
        portal=portal,
        channel=context.channel,
        client_ip=context.client_ip,
        user_agent=storable(context.user_agent, 512),
        client_metadata=context.client_metadata,
        language=context.language[:8],
        embed_origin=context.embed_origin[:255],
        consent_version=form.spec.consent.version if consented and form.spec.consent else "",
        consent_accepted_at=timezone.now() if consented else None,
        consent_source=storable(context.page, 512) if consented else "",
        **values,
    )


def rehearse_attempt_writes(portal: Portal) -> None:
    """A sign-up's three writes (the pending attempt, its event, its outcome) in a transaction rolled
    back: Django builds its per-model state on a model's first save, and the database learns the
    statements, before the first visitor's sign-up pays for it. Nothing is kept."""
    with transaction.atomic():
        attempt = SignupAttempt.objects.create(
            portal=portal, username="rehearsal", attributes={"email": "rehearsal@example.com"}, status=Status.PENDING
        )
        attempt_event(attempt, AttemptEvent.Kind.SIGNUP, ok=True, detail={"rehearsal": True})
        SignupAttempt.objects.filter(pk=attempt.pk).update(status=Status.SUCCEEDED, completed_at=timezone.now())
        transaction.set_rollback(True)


def storable(value: object, limit: int) -> str:
    """Text any database keeps: no NUL (PostgreSQL refuses it), no lone surrogates, bounded."""
    if not isinstance(value, str):
        return ""
    text = value[:limit].encode("utf-8", "replace").decode("utf-8").replace("\x00", "\ufffd")
    return text


def attempt_record_refused(
    *, portal: Portal, form: SignupForm, context: RequestContext, **outcome: Any
) -> SignupAttempt:
    """A submission stopped before Cognito (by the form or a guard): recorded as typed, never the password."""
    return _new_attempt(
        portal,
        context,
        form,
        username=storable(form.data.get("username", ""), 256),
        attributes={name: storable(value, 2048) for name, value in form.submitted_attributes().items()},
        completed_at=timezone.now(),
        **outcome,
    )


def attempt_record_invalid(*, portal: Portal, form: SignupForm, context: RequestContext) -> SignupAttempt:
    """A submission the form refused: Cognito not called."""
    errors = {name: [e.code or "invalid" for e in errs.as_data()] for name, errs in form.errors.items()}
    attempt = attempt_record_refused(
        portal=portal,
        form=form,
        context=context,
        validation_data_names=[
            f.data_name for f in form.spec.fields if f.kind == "validation_data" and form.data.get(f.name)
        ],
        form_errors=errors,
        status=Status.INVALID,
    )
    logs.event("signup.invalid", attempt=attempt.reference, portal=portal.slug, fields=sorted(errors))
    return attempt


def _field_for(spec: FormSpec, cognito_field: str | None) -> str | None:
    if cognito_field in ("username", "password"):
        return cognito_field
    if cognito_field:
        target = spec.for_attribute(cognito_field)
        if target is not None:
            return target.name
    return None


def signup_submit(*, portal: Portal, form: SignupForm, context: RequestContext) -> SubmitOutcome:
    """Record the attempt as pending, call SignUp once, record the outcome."""
    data = form.cleaned_data
    call = cognito.SignUpCall(
        username=data["username"],
        password=data.get("password") or None,
        attributes=form.attributes(),
        validation_data=form.validation_data(),
        client_metadata=context.client_metadata,
        analytics_endpoint_id=context.analytics_endpoint_id,
        ip_address=user_context_ip(portal, context),
        encoded_data=context.encoded_data,
    )
    try:
        with _own_statement():  # committed before Cognito is called
            attempt = _new_attempt(
                portal,
                context,
                form,
                idempotency_key=context.idempotency_key,
                username=call.username,
                attributes=dict(call.attributes),
                validation_data_names=[name for name, _ in call.validation_data],
                status=Status.PENDING,
            )
    except IntegrityError:
        # The same rendered form again (double click, a retried POST): its first attempt answers.
        return outcome_of(SignupAttempt.objects.get(idempotency_key=context.idempotency_key), form.spec)
    logs.event("signup.sending", attempt=attempt.reference, portal=portal.slug)
    hand_back_connection()
    try:
        result = sign_up_with_backoff(portal_target(portal), call, attempt)
    except cognito.CognitoError as error:
        mapping = signup_error(error.code, error.message, tuple(portal.snapshot.get("username_attributes") or ()))
        _complete(attempt, mapping.status, error.code, error.message, error.request_id, error.latency_ms)
        if error.code == "UsernameExistsException":
            earlier = _created_by_an_earlier_unknown_attempt(portal, attempt)
            if earlier is not None:
                return SubmitOutcome(earlier, next_step="confirm")
            if portal.hide_existing_accounts and portal.snapshot.get("has_secret"):
                # The same answer as for a new account: nobody learns which usernames exist.
                return SubmitOutcome(attempt, next_step="confirm")
        outcome = SubmitOutcome(attempt)
        target_field = _field_for(form.spec, mapping.field)
        if target_field:
            outcome.field_errors[target_field] = mapping.message_code
        else:
            outcome.general_error = mapping.message_code
        if error.code == "LimitExceededException":
            outcome.next_step = "confirm"
        return outcome
    except cognito.SecretUnavailable as error:
        _complete(attempt, Status.FAILED, "SecretUnavailable", str(error), "", None)
        return SubmitOutcome(attempt, general_error="not_available")
    except cognito.CognitoUnreachable as error:
        _complete(attempt, Status.FAILED, error.code, str(error)[:500], "", error.latency_ms)
        return SubmitOutcome(attempt, general_error="try_again")
    except cognito.CognitoNoAnswer as error:
        _complete(attempt, Status.UNKNOWN, error.code, str(error)[:500], "", error.latency_ms)
        return SubmitOutcome(attempt, general_error="outcome_unknown")
    except Exception as error:  # a bug of ours or the SDK's must still not cost the visitor a 500
        logs.event("signup.error", level=logging.ERROR, exc_info=True, attempt=attempt.reference, portal=portal.slug)
        _complete(attempt, Status.UNKNOWN, type(error).__name__, "", "", None)
        return SubmitOutcome(attempt, general_error="outcome_unknown")

    attempt_event(
        attempt,
        AttemptEvent.Kind.SIGNUP,
        ok=True,
        detail={"user_confirmed": result.user_confirmed, **_delivery_detail(result.code_delivery)},
    )
    now = timezone.now()
    succeeded = {
        "status": Status.SUCCEEDED,
        "completed_at": now,
        "request_id": result.request_id,
        "latency_ms": result.latency_ms,
        "user_sub": result.user_sub,
        "user_confirmed": result.user_confirmed,
        "code_delivery": result.code_delivery.as_json() if result.code_delivery else {},
        "confirmed_at": now if result.user_confirmed else None,
    }
    SignupAttempt.objects.filter(pk=attempt.pk).update(**succeeded)
    for name, value in succeeded.items():
        setattr(attempt, name, value)
    logs.event("signup.succeeded", attempt=attempt.reference, portal=portal.slug, latency_ms=result.latency_ms)
    return SubmitOutcome(attempt, next_step="done" if result.user_confirmed else "confirm")


def _own_statement() -> AbstractContextManager[Any]:
    """Around a single write whose IntegrityError we catch. Outside a transaction (every request: no
    ATOMIC_REQUESTS) the statement commits on its own and a failure leaves nothing to roll back, so no
    BEGIN is needed; and on SQLite a transaction opened by Python holds the one write lock while the ORM
    builds the statement, during which the thread may wait for the GIL and every other writer sleeps in
    SQLite's busy handler. Inside a transaction (tests, a caller's atomic block) a savepoint keeps the
    failure from spoiling it."""
    return transaction.atomic() if connection.in_atomic_block else nullcontext()


def hand_back_connection() -> None:
    """Before a call to Cognito: a pooled database connection goes back to the pool for the call's
    duration (tens to hundreds of ms), so a few connections serve every thread of a process. Without a
    pool (SQLite, or PostgreSQL configured without one) the thread keeps its connection."""
    if getattr(connection, "pool", None) is not None and not connection.in_atomic_block:
        connection.close()


def attempt_event(
    attempt: SignupAttempt | None,
    kind: str,
    *,
    ok: bool,
    error_code: str = "",
    detail: dict[str, Any] | None = None,
    actor: str = "",
) -> None:
    """Add a step to the attempt's story (no personal data in `detail`: codes, statuses, media)."""
    if attempt is not None:
        AttemptEvent.objects.create(
            attempt=attempt, kind=kind, ok=ok, error_code=error_code[:128], detail=detail or {}, actor=actor
        )


def _delivery_detail(delivery: cognito.CodeDelivery | None) -> dict[str, str]:
    return {"medium": delivery.medium, "attribute": delivery.attribute} if delivery else {}


def sign_up_with_backoff(target: cognito.Target, call: cognito.SignUpCall, attempt: SignupAttempt) -> Any:
    """SignUp, tried again only after TooManyRequestsException (Cognito did nothing then), with full-jitter
    exponential backoff, a few times, within a time budget. Every other error goes straight back: a 500
    may have created the user, and a blind retry would meet UsernameExistsException (reference §5)."""
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
            attempt_event(
                attempt, AttemptEvent.Kind.SIGNUP, ok=False, error_code=error.code, detail={"retry": retry + 1}
            )
            logs.event("signup.throttled", attempt=attempt.reference, retry=retry + 1, delay_ms=round(delay * 1000))
            time.sleep(delay)
    raise AssertionError("unreachable")  # the loop returns or raises


def _created_by_an_earlier_unknown_attempt(portal: Portal, attempt: SignupAttempt) -> SignupAttempt | None:
    """A retry after an unanswered SignUp meets UsernameExistsException: was that user ours all along?

    Only an earlier `unknown` attempt for the same username (within a day) qualifies, and only if Cognito
    says the user is still UNCONFIRMED; then the earlier attempt did create it and is settled as such.
    """
    earlier = (
        SignupAttempt.objects.filter(
            portal=portal,
            status=Status.UNKNOWN,
            created_at__gte=timezone.now() - timedelta(days=1),
            **username_filter(portal, attempt.username),
        )
        .exclude(pk=attempt.pk)
        .order_by("-created_at")
        .first()
    )
    if earlier is None:
        return None
    try:
        user = cognito.admin_get_user(portal_target(portal), attempt.username)
    except (cognito.CognitoError, cognito.CognitoUnreachable, cognito.CognitoNoAnswer):
        return None
    if user.status != "UNCONFIRMED":
        return None
    SignupAttempt.objects.filter(pk=earlier.pk).update(
        status=Status.SUCCEEDED, user_sub=earlier.user_sub or user.sub, user_confirmed=False
    )
    attempt_event(earlier, AttemptEvent.Kind.RECONCILE, ok=True, detail={"found": True, "status": user.status})
    earlier.refresh_from_db()
    return earlier


PENDING_WAIT_SECONDS = 12.0  # a little more than the read timeout: the first request's answer is coming


def outcome_of(attempt: SignupAttempt, spec: FormSpec) -> SubmitOutcome:
    """What a repeated submission shows: the first one's outcome, waited for while it is pending."""
    deadline = time.monotonic() + PENDING_WAIT_SECONDS
    while attempt.status == Status.PENDING and time.monotonic() < deadline:
        time.sleep(0.2)
        attempt.refresh_from_db()
    if attempt.status == Status.PENDING:
        return SubmitOutcome(attempt, general_error="outcome_unknown")
    if attempt.status == Status.SUCCEEDED:
        return SubmitOutcome(attempt, next_step="done" if attempt.user_confirmed else "confirm")
    mapping = signup_error(
        attempt.error_code, attempt.error_message, tuple(attempt.portal.snapshot.get("username_attributes") or ())
    )
    outcome = SubmitOutcome(attempt, next_step="confirm" if attempt.error_code == "LimitExceededException" else "")
    target = _field_for(spec, mapping.field)
    if target:
        outcome.field_errors[target] = mapping.message_code
    else:
        outcome.general_error = mapping.message_code
    return outcome


def _complete(
    attempt: SignupAttempt, status: str, code: str, text: str, request_id: str, latency_ms: int | None
) -> None:
    SignupAttempt.objects.filter(pk=attempt.pk).update(
        status=status,
        completed_at=timezone.now(),
        error_code=code[:128],
        error_message=text[:2000],
        request_id=request_id,
        latency_ms=latency_ms,
    )
    attempt.refresh_from_db()
    attempt_event(attempt, AttemptEvent.Kind.SIGNUP, ok=False, error_code=code, detail={"status": status})
    logs.event(f"signup.{status}", attempt=attempt.reference, portal=attempt.portal.slug, code=code)


# --- Confirming and resending ------------------------------------------------------------------


@dataclass
class StepOutcome:
    ok: bool
    message_code: str = ""
    field: str | None = None
    already_confirmed: bool = False
    code_delivery: cognito.CodeDelivery | None = None
    explanation: str = ""  # a message with details (e.g. when to try again), instead of message_code's
    # Cognito's own error code and text (ours when no answer came), for the operator's command line.
    error_code: str = ""
    error_message: str = ""


def same_username(portal: Portal, a: str, b: str) -> bool:
    """Whether Cognito would take two usernames for one user in this pool (§3.5)."""
    if portal.snapshot.get("case_sensitive", True):
        return a == b
    return a.casefold() == b.casefold()


def username_filter(portal: Portal, username: str) -> dict[str, str]:
    """The attempt lookup that finds this username as Cognito would in this pool (§3.5)."""
    return {"username" if portal.snapshot.get("case_sensitive", True) else "username__iexact": username}


def latest_attempt_for(portal: Portal, username: str) -> SignupAttempt | None:
    return (
        SignupAttempt.objects.filter(portal=portal, status=Status.SUCCEEDED, **username_filter(portal, username))
        .order_by("-created_at")
        .first()
    )


def _map_step_error(error: Exception, table: dict[str, ErrorMapping]) -> StepOutcome:
    if isinstance(error, cognito.CognitoError):
        mapping = table.get(error.code, UNMAPPED_ERROR)
        return StepOutcome(False, mapping.message_code, mapping.field)
    if isinstance(error, cognito.SecretUnavailable):
        return StepOutcome(False, "not_available")
    if isinstance(error, cognito.CognitoNoAnswer):
        return StepOutcome(False, "outcome_unknown")
    return StepOutcome(False, "try_again")


def _with_error(outcome: StepOutcome, error: Exception) -> StepOutcome:
    outcome.error_code = str(getattr(error, "code", type(error).__name__))
    outcome.error_message = str(getattr(error, "message", error))
    return outcome


def _is_already_confirmed(error: Exception) -> bool:
    # Cognito says so only in the message (§6.1): "User cannot be confirmed. Current status is CONFIRMED".
    return (
        isinstance(error, cognito.CognitoError)
        and error.code == "NotAuthorizedException"
        and ("CONFIRMED" in error.message or "status is not UNCONFIRMED" in error.message)
    )


def signup_confirm(
    *,
    portal: Portal,
    username: str,
    code: str,
    context: RequestContext,
    attempt: SignupAttempt | None = None,
    force_alias_creation: bool = False,
) -> StepOutcome:
    attempt = attempt or latest_attempt_for(portal, username)
    hand_back_connection()
    try:
        cognito.confirm_sign_up(
            portal_target(portal),
            username=username,
            code=code,
            client_metadata=context.client_metadata,
            ip_address=user_context_ip(portal, context),
            encoded_data=context.encoded_data,
            analytics_endpoint_id=context.analytics_endpoint_id,
            force_alias_creation=force_alias_creation,
        )
    except (
        cognito.CognitoError,
        cognito.CognitoUnreachable,
        cognito.CognitoNoAnswer,
        cognito.SecretUnavailable,
    ) as error:
        attempt_event(attempt, AttemptEvent.Kind.CONFIRM, ok=False, error_code=getattr(error, "code", "Error"))
        logs.event("signup.confirm_failed", attempt=attempt and attempt.reference, code=getattr(error, "code", "Error"))
        if _is_already_confirmed(error):
            _mark_confirmed(attempt)
            return _with_error(StepOutcome(True, "already_confirmed", already_confirmed=True), error)
        return _with_error(_map_step_error(error, CONFIRM_ERRORS), error)
    _mark_confirmed(attempt)
    attempt_event(attempt, AttemptEvent.Kind.CONFIRM, ok=True)
    logs.event("signup.confirmed", attempt=attempt and attempt.reference, portal=portal.slug)
    return StepOutcome(True)


def _mark_confirmed(attempt: SignupAttempt | None) -> None:
    if attempt is not None and attempt.confirmed_at is None:
        SignupAttempt.objects.filter(pk=attempt.pk).update(confirmed_at=timezone.now(), user_confirmed=True)


RESENDS_PER_HOUR = 5  # Cognito's quota per user (reference §7); asking a sixth time only burns a call


def _resend_key(portal: Portal, username: str) -> str:
    name = username if portal.snapshot.get("case_sensitive", True) else username.casefold()
    digest = hashlib.sha256(f"{portal.pk}:{name}".encode()).hexdigest()
    return f"signup:resends:{digest}"


def resend_wait(portal: Portal, username: str) -> datetime | None:
    """When the next code may be asked for, if this username used up its hourly resends here."""
    sent = [t for t in cache.get(_resend_key(portal, username), []) if t > time.time() - 3600]
    if len(sent) < RESENDS_PER_HOUR:
        return None
    return datetime.fromtimestamp(min(sent) + 3600, tz=UTC)


def _note_resend(portal: Portal, username: str) -> None:
    key = _resend_key(portal, username)
    recent = [t for t in cache.get(key, []) if t > time.time() - 3600]
    cache.set(key, [*recent, time.time()], 3600)


def _limit_explanation(when: datetime | None) -> str:
    if when is None:
        return message("resend_limit")
    local = timezone.localtime(when)
    return message("resend_limit_until") % {"time": date_format(local, "TIME_FORMAT")}


def signup_resend(
    *, portal: Portal, username: str, context: RequestContext, attempt: SignupAttempt | None = None
) -> StepOutcome:
    attempt = attempt or latest_attempt_for(portal, username)
    wait = resend_wait(portal, username)
    if wait is not None:
        return StepOutcome(False, "resend_limit", explanation=_limit_explanation(wait))
    _note_resend(portal, username)
    hand_back_connection()
    try:
        result = cognito.resend_confirmation_code(
            portal_target(portal),
            username=username,
            client_metadata=context.client_metadata,
            ip_address=user_context_ip(portal, context),
            encoded_data=context.encoded_data,
            analytics_endpoint_id=context.analytics_endpoint_id,
        )
    except (
        cognito.CognitoError,
        cognito.CognitoUnreachable,
        cognito.CognitoNoAnswer,
        cognito.SecretUnavailable,
    ) as error:
        attempt_event(attempt, AttemptEvent.Kind.RESEND, ok=False, error_code=getattr(error, "code", "Error"))
        logs.event("signup.resend_failed", attempt=attempt and attempt.reference, code=getattr(error, "code", "Error"))
        if isinstance(error, cognito.CognitoError) and "already confirmed" in error.message:
            _mark_confirmed(attempt)
            return _with_error(StepOutcome(True, "already_confirmed", already_confirmed=True), error)
        if isinstance(error, cognito.CognitoError) and error.code == "LimitExceededException":
            return _with_error(StepOutcome(False, "resend_limit", explanation=_limit_explanation(None)), error)
        return _with_error(_map_step_error(error, RESEND_ERRORS), error)
    if attempt is not None:
        SignupAttempt.objects.filter(pk=attempt.pk).update(
            resend_count=F("resend_count") + 1,
            last_resent_at=timezone.now(),
            code_delivery=result.code_delivery.as_json() if result.code_delivery else attempt.code_delivery,
        )
    attempt_event(attempt, AttemptEvent.Kind.RESEND, ok=True, detail=_delivery_detail(result.code_delivery))
    logs.event("signup.resent", attempt=attempt and attempt.reference, portal=portal.slug)
    return StepOutcome(True, code_delivery=result.code_delivery)
