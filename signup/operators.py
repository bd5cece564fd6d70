"""Operators' use cases: the stuck-user queue, reconciliation, exports, retention, schema drift.

Every action that touches Cognito records what it did on the attempt (AttemptEvent) and says
per row whether it worked, so admin can report counts and errors without the AWS console.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.core.cache import cache
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from . import cognito, logs, metrics
from .models import AttemptEvent, Portal, SignupAttempt, WebhookDelivery
from .schema import snapshot_from_descriptions

Kind = AttemptEvent.Kind


@dataclass(frozen=True)
class RowResult:
    attempt: SignupAttempt
    ok: bool
    note: str


class Refused(Exception):
    """An action that decided not to act (e.g. deleting a confirmed user)."""

    def __init__(self, code: str, note: str):
        super().__init__(note)
        self.code, self.note = code, note


Action = Callable[[cognito.Target, SignupAttempt], tuple[str, dict[str, Any]]]


def failure_text(error: cognito.CognitoFailure, *, detail: bool = False) -> str:
    """A Cognito failure in words an operator can act on: the missing IAM permission by name, or the
    missing credentials, where that is the reason (docs/deploy.md), else Cognito's error code (with its
    message too when `detail`)."""
    if error.permission:
        return _(
            "the portal's AWS identity lacks the IAM permission %(permission)s "
            "(python manage.py iam_policy prints the policy it needs)"
        ) % {"permission": error.permission}
    if isinstance(error, cognito.NoCredentials):
        return _(
            "the portal found no AWS credentials (give its task or instance a role with the policy "
            "python manage.py iam_policy prints)"
        )
    return str(error) if detail else error.code


def _act(attempt: SignupAttempt, kind: str, actor: str, action: Action) -> RowResult:
    """Run one Cognito action for one attempt and record it on the attempt, whatever happens."""
    try:
        note, detail = action(attempt.portal.target, attempt)
    except Refused as refusal:
        attempt.record_event(kind, ok=False, error_code=refusal.code, actor=actor)
        return RowResult(attempt, False, refusal.note)
    except cognito.CognitoFailure as error:
        attempt.record_event(kind, ok=False, error_code=error.code, actor=actor)
        return RowResult(attempt, False, failure_text(error))
    attempt.record_event(kind, ok=True, detail=detail, actor=actor)
    return RowResult(attempt, True, note)


def _look_up(target: cognito.Target, attempt: SignupAttempt) -> tuple[str, dict[str, Any]]:
    user = cognito.admin_get_user(target, attempt.username)
    if user.status == "CONFIRMED":
        attempt.mark_confirmed()
    return user.status, {"status": user.status, "enabled": user.enabled}


def _resend(target: cognito.Target, attempt: SignupAttempt) -> tuple[str, dict[str, Any]]:
    result = cognito.resend_confirmation_code(target, username=attempt.username)
    attempt.note_code_sent(result.code_delivery)
    delivery = result.code_delivery
    return (delivery.destination, {"medium": delivery.medium}) if delivery else ("", {"medium": ""})


def _confirm(target: cognito.Target, attempt: SignupAttempt) -> tuple[str, dict[str, Any]]:
    cognito.admin_confirm_sign_up(target, attempt.username)
    attempt.mark_confirmed()
    return "CONFIRMED", {}


def _delete_unconfirmed(target: cognito.Target, attempt: SignupAttempt) -> tuple[str, dict[str, Any]]:
    user = cognito.admin_get_user(target, attempt.username)
    if user.status != "UNCONFIRMED":
        raise Refused(f"Status{user.status}", f"not deleted: the user is {user.status}")
    cognito.admin_delete_user(target, attempt.username)
    attempt.mark_user_deleted()
    return "deleted", {}


def stuck_user_lookup(*, attempt: SignupAttempt, actor: str) -> RowResult:
    """AdminGetUser: the user's live status, recorded on the attempt."""
    return _act(attempt, Kind.LOOKUP, actor, _look_up)


def stuck_user_resend(*, attempt: SignupAttempt, actor: str) -> RowResult:
    return _act(attempt, Kind.ADMIN_RESEND, actor, _resend)


def stuck_user_confirm(*, attempt: SignupAttempt, actor: str) -> RowResult:
    """AdminConfirmSignUp: for users who cannot receive their code."""
    return _act(attempt, Kind.ADMIN_CONFIRM, actor, _confirm)


def stuck_user_delete(*, attempt: SignupAttempt, actor: str) -> RowResult:
    """AdminDeleteUser, only while the live status is still UNCONFIRMED: never a confirmed account."""
    return _act(attempt, Kind.ADMIN_DELETE, actor, _delete_unconfirmed)


# --- Reconciliation -----------------------------------------------------------------------------


def attempt_reconcile(*, attempt: SignupAttempt) -> RowResult:
    """Ask Cognito whether the user exists and settle a pending or unknown attempt accordingly."""
    was = attempt.status
    try:
        user = cognito.admin_get_user(attempt.portal.target, attempt.username)
    except cognito.CognitoError as error:
        if error.code != "UserNotFoundException":
            attempt.record_event(Kind.RECONCILE, ok=False, error_code=error.code)
            metrics.record_reconciliation("error")
            return RowResult(attempt, False, failure_text(error))
        attempt.settle_not_found()
        attempt.record_event(Kind.RECONCILE, ok=True, detail={"found": False, "was": was})
        metrics.record_reconciliation("not_found")
        return RowResult(attempt, True, "no user: failed")
    except cognito.CognitoFailure as error:
        attempt.record_event(Kind.RECONCILE, ok=False, error_code=error.code)
        metrics.record_reconciliation("error")
        return RowResult(attempt, False, failure_text(error))
    attempt.settle_found(user_sub=user.sub, confirmed=user.status == "CONFIRMED")
    attempt.record_event(Kind.RECONCILE, ok=True, detail={"found": True, "status": user.status, "was": was})
    metrics.record_reconciliation("found")
    return RowResult(attempt, True, f"user exists ({user.status}): succeeded")


# --- Masking, export and retention ------------------------------------------------------------------


def mask(value: str) -> str:
    """Enough to recognise a value one already knows, not enough to learn it: a***@e***.com, +*******71."""
    if "@" in value:
        local, _, domain = value.partition("@")
        head, _, tail = domain.rpartition(".")
        return f"{local[:1]}***@{head[:1]}***.{tail}" if head else f"{local[:1]}***@***"
    if len(value) <= 4:
        return "•" * len(value)
    return value[:1] + "•" * (len(value) - 3) + value[-2:]


def visible_attributes(attempt: SignupAttempt) -> dict[str, str]:
    sensitive = set(attempt.portal.sensitive_attributes or [])
    return {name: mask(value) if name in sensitive else value for name, value in (attempt.attributes or {}).items()}


EXPORT_COLUMNS = [
    "reference",
    "created_at",
    "portal",
    "channel",
    "status",
    "error_code",
    "username",
    "user_sub",
    "user_confirmed",
    "confirmed_at",
    "resend_count",
    "embed_origin",
    "language",
    "consent_version",
    "request_id",
    "latency_ms",
    "attributes",
    "validation_data_names",
]


class _Echo:
    def write(self, value: str) -> str:
        return value


def export_rows(queryset: QuerySet[SignupAttempt]) -> Iterator[str]:
    """CSV lines for a streaming response: one query, iterated in chunks, sensitive values masked."""
    import json

    writer = csv.writer(_Echo())
    yield writer.writerow(EXPORT_COLUMNS)
    for attempt in queryset.select_related("portal").order_by("-created_at", "-id").iterator(chunk_size=2000):
        yield writer.writerow(
            [
                attempt.reference,
                attempt.created_at.isoformat(),
                attempt.portal.slug,
                attempt.channel,
                attempt.status,
                attempt.error_code,
                _csv_safe(attempt.username),
                attempt.user_sub,
                "" if attempt.user_confirmed is None else str(attempt.user_confirmed).lower(),
                attempt.confirmed_at.isoformat() if attempt.confirmed_at else "",
                attempt.resend_count,
                attempt.embed_origin,
                attempt.language,
                attempt.consent_version,
                attempt.request_id,
                "" if attempt.latency_ms is None else attempt.latency_ms,
                _csv_safe(json.dumps(visible_attributes(attempt), ensure_ascii=False)),
                ",".join(attempt.validation_data_names or []),
            ]
        )


def _csv_safe(value: str) -> str:
    # A cell starting with = + - @ is a formula to spreadsheet programs: visitors choose these values.
    return f"'{value}" if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def attempts_purge(*, days: int, mode: str, batch: int = 2000) -> int:
    """Delete, or strip of personal data, attempts older than `days`; returns how many."""
    if mode not in ("delete", "anonymise"):
        raise ValueError(mode)
    done = 0
    # The webhook deliveries of that age go in either mode: their bodies name the user, and a finished
    # delivery's log has no use beyond the retention period.
    WebhookDelivery.objects.filter(created_at__lt=timezone.now() - timedelta(days=days)).exclude(
        status=WebhookDelivery.Status.PENDING
    ).delete()
    while True:
        ids = list(purgeable(days, mode).values_list("pk", flat=True)[:batch])
        if not ids:
            return done
        rows = SignupAttempt.objects.filter(pk__in=ids)
        if mode == "delete":
            rows.delete()
        else:
            rows.update(
                username="",
                attributes={},
                search_text="",
                client_ip=None,
                user_agent="",
                consent_source="",
                client_metadata={},
                form_errors={},
                error_message="",
                code_delivery={},
                anonymised_at=timezone.now(),
            )
        done += len(ids)


def purgeable(days: int, mode: str) -> QuerySet[SignupAttempt]:
    old = SignupAttempt.objects.older_than(days)
    return old if mode == "delete" else old.filter(anonymised_at__isnull=True)


# --- Schema drift -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Drift:
    changes: list[str]
    live: dict[str, Any]

    @property
    def drifted(self) -> bool:
        return bool(self.changes)


def _attributes_by_name(snapshot: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {a["name"]: a for a in snapshot.get("attributes", [])}


def snapshot_differences(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """What changed between two snapshots, in words an operator can act on."""
    changes: list[str] = []
    before, after = _attributes_by_name(old), _attributes_by_name(new)
    for name in sorted(after.keys() - before.keys()):
        changes.append(f"new attribute {name}")
    for name in sorted(before.keys() - after.keys()):
        changes.append(f"attribute {name} is gone")
    for name in sorted(before.keys() & after.keys()):
        for key in ("type", "required", "min_length", "max_length", "min_value", "max_value"):
            if before[name].get(key) != after[name].get(key):
                changes.append(f"{name}: {key} {before[name].get(key)!r} → {after[name].get(key)!r}")
    old_write, new_write = old.get("write_attributes"), new.get("write_attributes")
    if old_write != new_write:
        added = sorted(set(new_write or []) - set(old_write or []))
        removed = sorted(set(old_write or []) - set(new_write or []))
        if added:
            changes.append("client may now write " + ", ".join(added))
        if removed:
            changes.append("client may no longer write " + ", ".join(removed))
        if old_write is None or new_write is None:
            changes.append("client write attributes switched between the default set and a custom list")
    for key in (
        "password_policy",
        "username_attributes",
        "alias_attributes",
        "case_sensitive",
        "auto_verified",
        "first_auth_factors",
        "admin_create_only",
        "has_secret",
        "propagate_user_context",
    ):
        if old.get(key) != new.get(key):
            changes.append(f"{key.replace('_', ' ')}: {old.get(key)!r} → {new.get(key)!r}")
    return changes


DRIFT_CACHE_SECONDS = 300


def portal_drift(*, portal: Portal, fresh: bool = False) -> Drift:
    """Compare the stored snapshot with what Cognito says now; the answer is kept for a few minutes,
    so admin pages do not call Cognito on every view."""
    key = f"signup:drift:{portal.pk}:{portal.synced_at and portal.synced_at.timestamp()}"
    live = None if fresh else cache.get(key)
    if live is None:
        pool, client = cognito.describe(portal.target)
        live = snapshot_from_descriptions(pool, client)
        cache.set(key, live, DRIFT_CACHE_SECONDS)
    return Drift(changes=snapshot_differences(portal.snapshot or {}, live), live=live)


def iter_results(results: Iterable[RowResult]) -> tuple[int, list[str]]:
    """(successes, error lines) for admin's message_user."""
    ok, errors = 0, []
    for result in results:
        if result.ok:
            ok += 1
        else:
            errors.append(f"{result.attempt.username or result.attempt.short_reference}: {result.note}")
    logs.event("operators.batch", ok=ok, failed=len(errors))
    return ok, errors
