"""Telling the operator's systems what happened: signed events (Standard Webhooks), delivered durably.

An attempt's change and its events are written in one transaction (signup/models.py calls `announce`
inside the transition): one WebhookDelivery row per interested endpoint, and one task per delivery in
the task queue (Django's Tasks API; django-tasks-db keeps the queue in the same database). The worker
(`manage.py db_worker`, the Procfile's `worker:`) runs `deliver`, which signs the stored body and POSTs
it; anything but a 2xx is tried again later with backoff and jitter for about a day, keeping the same
webhook-id, so receivers de-duplicate by it. Delivery is at least once and unordered.

Server-side request forgery: outside development, a URL must be https and every address its host
resolves to must be public; it is checked when the endpoint is saved and again before each try, and
the connection goes to the address that was checked (a name that resolves elsewhere the second time
cannot steer it).
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import ipaddress
import json
import logging
import random
import secrets
import socket
import ssl
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django_tasks import task
from standardwebhooks.webhooks import Webhook

from . import environment, logs, metrics

if TYPE_CHECKING:
    from .models import Portal, SignupAttempt, WebhookDelivery, WebhookEndpoint

QUEUE = "webhooks"
MAX_ERROR = 300


def new_secret() -> str:
    """A signing secret in Standard Webhooks' form: whsec_ and 24 random bytes in base64."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


def signing_secret(env_name: str, stored: str) -> str:
    """The secret from the named environment variable (or its _FILE), else the stored generated one."""
    if env_name:
        try:
            return environment.secret(env_name)
        except OSError:
            return ""
    return stored


def signature_headers(secret: str, message_id: str, body: str, at: datetime | None = None) -> dict[str, str]:
    """webhook-id, webhook-timestamp and webhook-signature (v1,<base64 HMAC-SHA256 of id.timestamp.body>)."""
    at = at or timezone.now()
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": Webhook(secret).sign(message_id, at, body),
    }


# --- What is said -----------------------------------------------------------------------------------


def event_body(attempt: SignupAttempt, event_type: str, *, include_attributes: bool, **extra: Any) -> str:
    """The JSON body: type, timestamp and the attempt's data; attribute values only where the endpoint
    asked for them. Never the password (not stored), the client secret or a code (never seen here)."""
    data: dict[str, Any] = {
        "portal": attempt.portal.slug,
        "reference": str(attempt.reference),
        "channel": attempt.channel,
        "username": attempt.username,
        "user_sub": attempt.user_sub or None,
        "status": attempt.status,
        "confirmed": attempt.confirmed_at is not None or bool(attempt.user_confirmed),
        "error_code": attempt.error_code or None,
        **extra,
    }
    if include_attributes:
        data["attributes"] = dict(attempt.attributes or {})
    body = {"type": event_type, "timestamp": timezone.now().isoformat(timespec="milliseconds"), "data": data}
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"))


def endpoints_of(portal: Portal) -> list[WebhookEndpoint]:
    """The portal's enabled endpoints. The portal a request holds comes from caching.portal_by_slug with
    them loaded, so a sign-up reads nothing to know them; a portal loaded otherwise reads them here."""
    return [e for e in portal.webhook_endpoints.all() if e.enabled]


def announce(attempt: SignupAttempt, event_type: str, **extra: Any) -> list[WebhookDelivery]:
    """The deliveries of one event, written with the caller's change (call it inside its transaction,
    once `wanted` has said someone may want it: no query for portals without endpoints).

    The endpoints are read again here, in the transaction, since the portal a request holds may be
    seconds old (SIGNUP_PORTAL_CACHE_SECONDS) and name an endpoint deleted or disabled since: a delivery
    to a deleted one would fail the attempt's change with it."""
    from .models import WebhookDelivery, WebhookEndpoint

    endpoints = WebhookEndpoint.objects.filter(portal_id=attempt.portal_id, enabled=True)
    deliveries = []
    for endpoint in (e for e in endpoints if e.wants(event_type)):
        delivery = WebhookDelivery.objects.create(
            endpoint=endpoint,
            attempt=attempt,
            message_id=f"msg_{uuid.uuid4().hex}",
            event_type=event_type,
            body=event_body(attempt, event_type, include_attributes=endpoint.include_attributes, **extra),
        )
        queue(delivery.pk)
        deliveries.append(delivery)
    return deliveries


def wanted(portal: Portal, event_type: str) -> bool:
    """Whether any of the portal's endpoints would be told of this event."""
    return any(e.wants(event_type) for e in endpoints_of(portal))


def changed_and_announced(attempt: SignupAttempt, event_type: str | None, change: Any, **extra: Any) -> None:
    """Run `change` and announce its event in one transaction; with no endpoint to tell, `change` alone
    (no transaction: one statement commits on its own, see flows.attempts.own_statement)."""
    if event_type is None or not wanted(attempt.portal, event_type):
        change()
        return
    with transaction.atomic():
        change()
        announce(attempt, event_type, **extra)


def queue(delivery_id: int) -> None:
    """The delivery's task. The database backend writes it in the caller's transaction (the change, the
    delivery and its task commit together); another backend (Redis) is told after the commit, so that
    a worker never looks for a delivery row that is not there yet."""
    from django_tasks_db import DatabaseBackend

    if isinstance(deliver.get_backend(), DatabaseBackend):
        deliver.enqueue(delivery_id)
    else:
        transaction.on_commit(lambda: deliver.enqueue(delivery_id))


def send_test_event(endpoint: WebhookEndpoint) -> WebhookDelivery:
    """A webhook.test delivery to one endpoint, queued like any other."""
    from .models import WebhookDelivery, WebhookEvent

    body = json.dumps(
        {
            "type": WebhookEvent.TEST,
            "timestamp": timezone.now().isoformat(timespec="milliseconds"),
            "data": {"portal": endpoint.portal.slug},
        },
        separators=(",", ":"),
    )
    with transaction.atomic():
        delivery = WebhookDelivery.objects.create(
            endpoint=endpoint, message_id=f"msg_{uuid.uuid4().hex}", event_type=WebhookEvent.TEST, body=body
        )
        queue(delivery.pk)
    return delivery


def redeliver(delivery: WebhookDelivery) -> None:
    """An operator's "send again": the same webhook-id and body, tried from the start."""
    with transaction.atomic():
        type(delivery).objects.filter(pk=delivery.pk).update(
            status=type(delivery).Status.PENDING, tries=0, next_try_at=None
        )
        queue(delivery.pk)


# --- Where it may go ----------------------------------------------------------------------------------

METADATA_ADDRESSES = {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")}


def url_refusal(url: str, *, resolve: bool = True) -> str:
    """Why the portal may not send to `url` ("" when it may): outside development only https to public
    addresses. With `resolve`, every address the host has now is checked."""
    refusal, _ = checked_address(url, resolve=resolve and not settings.WEBHOOK_ALLOW_PRIVATE_URLS)
    return refusal


def checked_address(url: str, *, resolve: bool = True) -> tuple[str, str]:
    """(why not, "") or ("", the address to connect to): the host resolved once, every address it has
    checked, and the first of them to be used, so that no second lookup can steer the connection."""
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        return "Use an http(s) URL with a host.", ""
    allow_private = settings.WEBHOOK_ALLOW_PRIVATE_URLS
    if not allow_private and parts.scheme != "https":
        return "Use https.", ""
    if not resolve:
        try:
            address = ipaddress.ip_address(parts.hostname)
        except ValueError:
            return "", ""  # a name: checked when it is resolved, at send time
        return ("" if allow_private else _address_refusal(address)), ""
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        addresses = _resolve(parts.hostname, port)
    except (OSError, ValueError):
        return "The host name does not resolve.", ""
    if not addresses:
        return "The host name does not resolve.", ""
    for address in addresses if not allow_private else []:
        refusal = _address_refusal(address)
        if refusal:
            return refusal, ""
    return "", str(addresses[0])


def _address_refusal(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    if address in METADATA_ADDRESSES:
        return "The address is a cloud metadata service."
    if not address.is_global or address.is_multicast:
        return "The address is not public (loopback, private, link-local or reserved)."
    return ""


def _resolve(host: str, port: int) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]


# --- Sending ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    status: int | None  # None: no answer (refused, timed out, not allowed)
    error: str = ""
    body: bytes = b""  # the first 64 KiB of the answer

    @property
    def delivered(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def post(url: str, body: str, headers: dict[str, str], *, timeout: float) -> Answer:
    """POST `body` to `url` once, to an address checked just now (never following a redirect)."""
    refusal, address = checked_address(url)
    if refusal:
        return Answer(None, f"refused: {refusal}")
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    connection: http.client.HTTPConnection
    if parts.scheme == "https":
        connection = _PinnedHTTPSConnection(parts.hostname or "", address, port, timeout=timeout)
    else:
        connection = http.client.HTTPConnection(address, port, timeout=timeout)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    # `timeout` bounds the whole exchange, not each read: an answer trickled a byte at a time would
    # otherwise hold the worker (and every portal's deliveries behind it) for as long as it liked.
    cut = threading.Event()
    watchdog = threading.Timer(timeout, _abort, args=(connection, cut))
    watchdog.daemon = True
    watchdog.start()
    try:
        connection.request(
            "POST",
            path,
            body=body.encode(),
            headers={
                **headers,
                "Host": parts.netloc.rpartition("@")[2],
                "Content-Type": "application/json",
                "User-Agent": "cognito-signup-portal-webhooks",
            },
        )
        response = connection.getresponse()
        content = response.read(64 * 1024)
        if cut.is_set():  # a cut connection reads as an end, which can look like a whole answer
            return Answer(None, "timed out")
        return Answer(response.status, "" if 200 <= response.status < 300 else f"HTTP {response.status}", content)
    except TimeoutError:
        return Answer(None, "timed out")
    except (OSError, http.client.HTTPException) as error:
        if cut.is_set():  # the deadline passed and the watchdog cut the connection
            return Answer(None, "timed out")
        return Answer(None, f"{type(error).__name__}: {error}"[:MAX_ERROR])
    finally:
        watchdog.cancel()
        connection.close()


def _abort(connection: http.client.HTTPConnection, cut: threading.Event) -> None:
    cut.set()
    sock = connection.sock
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """TLS to a given address, with the certificate checked for the URL's host name."""

    def __init__(self, host: str, address: str, port: int, *, timeout: float):
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self._address = address

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)  # type: ignore[attr-defined]


def retry_delay(tries: int) -> float | None:
    """Seconds before the next try after `tries` failed ones, with +-20% jitter; None when spent."""
    delays = settings.WEBHOOK_RETRY_DELAYS
    if tries > len(delays):
        return None
    return delays[tries - 1] * random.uniform(0.8, 1.2)


@task(queue_name=QUEUE)
def deliver(delivery_id: int) -> str:
    """One try of one delivery; schedules the next when it fails. Returns what happened, for the log."""
    from .models import WebhookDelivery

    delivery = WebhookDelivery.objects.select_related("endpoint", "endpoint__portal").filter(pk=delivery_id).first()
    if delivery is None or delivery.status != WebhookDelivery.Status.PENDING:
        return "nothing to do"
    endpoint = delivery.endpoint
    if not endpoint.enabled:
        _finish(delivery, failed=True, error="the endpoint is disabled")
        return "endpoint disabled"
    secret = signing_secret(endpoint.secret_env, endpoint.secret)
    started = time.monotonic()
    if not secret:
        answer = Answer(None, f"no signing secret ({endpoint.secret_env or 'none generated'})")
    else:
        try:
            headers = signature_headers(secret, delivery.message_id, delivery.body)
            answer = post(endpoint.url, delivery.body, headers, timeout=settings.WEBHOOK_TIMEOUT_SECONDS)
        except Exception as error:  # a bug of ours or a bad secret: a failed try, tried again like any other
            logs.event("webhook.error", level=logging.ERROR, exc_info=True, delivery=delivery.message_id)
            answer = Answer(None, f"{type(error).__name__}"[:MAX_ERROR])
        logs.event(
            "webhook.sent",
            level=logging.INFO if answer.delivered else logging.WARNING,
            delivery=delivery.message_id,
            portal=endpoint.portal.slug,
            type=delivery.event_type,
            status=answer.status,
            error=answer.error,
            ms=round((time.monotonic() - started) * 1000),
        )
    delivery.tries += 1
    if answer.delivered:
        _finish(delivery, failed=False, status=answer.status)
        if endpoint.failing_since is not None:
            type(endpoint).objects.filter(pk=endpoint.pk).update(failing_since=None)
        return "delivered"
    delay = retry_delay(delivery.tries)
    now = timezone.now()
    if endpoint.failing_since is None:
        type(endpoint).objects.filter(pk=endpoint.pk, failing_since=None).update(failing_since=now)
    elif (now - endpoint.failing_since).total_seconds() > settings.WEBHOOK_DISABLE_AFTER_SECONDS:
        _disable(endpoint, now)
    if delay is None:
        _finish(delivery, failed=True, status=answer.status, error=answer.error)
        return "failed"
    next_try = now + timedelta(seconds=delay)
    metrics.record_webhook_delivery("retrying")
    with transaction.atomic():
        WebhookDelivery.objects.filter(pk=delivery.pk).update(
            tries=delivery.tries,
            last_status_code=answer.status,
            last_error=answer.error[:MAX_ERROR],
            next_try_at=next_try,
        )
        deliver.using(run_after=next_try).enqueue(delivery.pk)
    return f"try {delivery.tries} failed; next at {next_try.isoformat()}"


def _finish(delivery: WebhookDelivery, *, failed: bool, status: int | None = None, error: str = "") -> None:
    Status = type(delivery).Status
    metrics.record_webhook_delivery("failed" if failed else "delivered")
    type(delivery).objects.filter(pk=delivery.pk).update(
        status=Status.FAILED if failed else Status.DELIVERED,
        tries=delivery.tries,
        last_status_code=status,
        last_error=error[:MAX_ERROR],
        next_try_at=None,
        delivered_at=None if failed else timezone.now(),
    )


def _disable(endpoint: WebhookEndpoint, now: datetime) -> None:
    since = endpoint.failing_since.isoformat(timespec="minutes") if endpoint.failing_since else "?"
    endpoint.enabled = False
    endpoint.disabled_reason = f"Disabled {now.isoformat(timespec='minutes')}: every delivery failed since {since}."
    type(endpoint).objects.filter(pk=endpoint.pk).update(enabled=False, disabled_reason=endpoint.disabled_reason)
    endpoint.portal.save(update_fields=["updated_at"])  # the kept endpoint lists forget it
    logs.event("webhook.endpoint_disabled", level=logging.WARNING, portal=endpoint.portal.slug, endpoint=endpoint.pk)


def requeue_stranded() -> int:
    """Deliveries a worker left behind when it died mid-try (killed, out of memory, its host gone): the
    task stays "running" for ever and nothing tries the delivery again. A try takes at most the send
    timeout, so a task running far longer than that is stranded: it is marked failed and its delivery
    queued again (its receiver may hear it twice: delivery is at least once). Run at each worker start
    (the Procfile's worker and `make demo` do); returns how many were queued again."""
    from django_tasks_db.models import DBTaskResult

    from .models import WebhookDelivery

    cutoff = timezone.now() - timedelta(seconds=2 * settings.WEBHOOK_TIMEOUT_SECONDS + 60)
    requeued = 0
    with transaction.atomic():
        stranded = DBTaskResult.objects.filter(
            task_path=deliver.module_path, status="RUNNING", started_at__lt=cutoff
        ).select_for_update()
        ids = []
        for row in stranded:
            args = (row.args_kwargs or {}).get("args") or []
            if args:
                ids.append(args[0])
        stranded.update(status="FAILED", finished_at=timezone.now())
        for delivery_id in WebhookDelivery.objects.filter(
            pk__in=ids, status=WebhookDelivery.Status.PENDING
        ).values_list("pk", flat=True):
            deliver.enqueue(delivery_id)
            requeued += 1
    if requeued:
        logs.event("webhook.requeued", level=logging.WARNING, count=requeued)
    return requeued
