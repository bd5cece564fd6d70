"""Writing the attempt log around a call to Cognito: how rows are written, and the database connection
handed back while Cognito answers."""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from .. import metrics, tracing, webhooks
from ..cognito import CodeDelivery
from ..models import Portal, SignupAttempt, WebhookEvent
from ..schema import FormSpec
from .requests import SignupRequest


def storable(value: object, limit: int) -> str:
    """Text any database keeps: no NUL (PostgreSQL refuses it), no lone surrogates, bounded."""
    if not isinstance(value, str):
        return ""
    return value[:limit].encode("utf-8", "replace").decode("utf-8").replace("\x00", "\ufffd")


def new_attempt(
    portal: Portal, spec: FormSpec, request: SignupRequest, *, consented: bool, **values: Any
) -> SignupAttempt:
    """The attempt row, with where and how the visitor came; consent only as given on a valid form."""
    visitor = request.visitor
    consented = consented and spec.consent is not None
    values["search_text"] = SignupAttempt.search_text_for(values.get("username", ""), values.get("attributes", {}))
    attempt = SignupAttempt.objects.create(
        portal=portal,
        channel=visitor.channel,
        client_ip=visitor.client_ip,
        user_agent=storable(visitor.user_agent, 512),
        client_metadata=visitor.client_metadata,
        language=visitor.language[:8],
        embed_origin=visitor.embed_origin[:255],
        consent_version=spec.consent.version if consented and spec.consent else "",
        consent_accepted_at=timezone.now() if consented else None,
        consent_source=storable(visitor.page, 512) if consented else "",
        **values,
    )
    tracing.note_reference(attempt.reference)  # on the request's span, when tracing is on
    return attempt


def record_refused(
    portal: Portal, spec: FormSpec, request: SignupRequest, *, consented: bool = False, **outcome: Any
) -> SignupAttempt:
    """A submission stopped before Cognito (by the form or a guard): recorded as typed, never the password.
    A guard's refusal is announced to the portal's webhooks with the row, in one transaction."""
    blocked = outcome.get("status") == SignupAttempt.Status.BLOCKED
    announcing = blocked and webhooks.wanted(portal, WebhookEvent.BLOCKED)
    with transaction.atomic() if announcing else nullcontext():
        attempt = new_attempt(
            portal,
            spec,
            request,
            consented=consented,
            username=storable(request.username, 256),
            attributes={storable(k, 64): storable(v, 2048) for k, v in request.attributes.items() if v},
            completed_at=timezone.now(),
            **outcome,
        )
        if announcing:
            webhooks.announce(attempt, WebhookEvent.BLOCKED)
    if blocked:
        metrics.record_guard_refusal(attempt.error_code)
    return attempt


def own_statement() -> AbstractContextManager[Any]:
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


def delivery_detail(delivery: CodeDelivery | None) -> dict[str, str]:
    """Where a code went, for the attempt's story: the medium and attribute, never the destination."""
    return {"medium": delivery.medium, "attribute": delivery.attribute} if delivery else {}
