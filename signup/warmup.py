"""Work a process does once, before its first visitor, instead of during the first sign-up.

gunicorn.conf.py calls warm_up() when a worker starts (post_worker_init): the URLconf and the page
templates are loaded, the cache connected to, and for every open portal the boto3 client is built
(about 100 ms each) and rehearses the three public calls (answered on this machine), the attempt's
writes are rehearsed in a transaction rolled back, the form spec is read in every language, and the
form made to check sample values once, which compiles the validators' regular expressions (Django
compiles them on first use: 60 ms of a first sign-up). Then warm_threads() starts the worker's threads,
each with the connections Django keeps per thread. No call leaves the machine and nothing is kept. A
failure here is logged and the worker serves anyway, as it would have without warming up.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from concurrent.futures import Executor, wait
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import connections, transaction
from django.template.loader import get_template
from django.urls import get_resolver
from django.utils import translation

from . import cognito, flows, logs
from .caching import form_class, portal_by_slug
from .flows.attempts import hand_back_connection
from .forms import ConfirmForm, SignupForm
from .models import AttemptEvent, Portal, SignupAttempt

TEMPLATES = ["signup/form.html", "signup/fields.html", "signup/field.html", "signup/confirm.html", "signup/done.html"]
MAX_PORTALS = 100


# Values that pass some field's checks far enough to reach its validators; which ones do is no matter.
SAMPLES = ("warm.up@example.com", "https://www.example.com/", "+14155552671", "1990-01-02", "42", "true", "Aa1!aa1!aA")


def exercise(form_class: type[SignupForm]) -> None:
    """Clean every field with each sample, then the whole form with values its fields accepted."""
    accepted: dict[str, str] = {}
    for name, field in form_class().fields.items():
        for sample in SAMPLES:
            try:
                field.clean(sample)
            except ValidationError:
                continue
            accepted.setdefault(name, sample)
    form_class(data=accepted).is_valid()


# Answers given on this machine while a worker rehearses the public calls: valid, and never a real user's.
_REHEARSAL_DELIVERY = {"Destination": "w***@e***", "DeliveryMedium": "EMAIL", "AttributeName": "email"}
REHEARSAL_ANSWERS: dict[str, dict[str, Any]] = {
    "SignUp": {
        "UserConfirmed": False,
        "UserSub": "00000000-0000-4000-8000-000000000000",
        "CodeDeliveryDetails": _REHEARSAL_DELIVERY,
    },
    "ConfirmSignUp": {},
    "ResendConfirmationCode": {"CodeDeliveryDetails": _REHEARSAL_DELIVERY},
}


def rehearse_calls(region: str, endpoint_url: str | None, client_id: str) -> None:
    """Run SignUp, ConfirmSignUp and ResendConfirmationCode, with every parameter, through the portal's
    client once, answered on this machine: botocore builds its per-operation state (the request
    serialiser, the endpoint rules' resolution, event-name caches, the response parser) on an
    operation's first call, about 5 ms of the first sign-up. Nothing leaves the machine; other threads'
    calls are never answered here."""
    client = cognito.client_for(region, endpoint_url, public=True)
    common = {
        "ClientId": client_id,
        "Username": "rehearsal",
        "SecretHash": cognito.secret_hash("rehearsal", client_id, "rehearsal"),
        "ClientMetadata": {"source": "rehearsal"},
        "UserContextData": {"IpAddress": "192.0.2.1", "EncodedData": "rehearsal"},
        "AnalyticsMetadata": {"AnalyticsEndpointId": "rehearsal"},
    }
    attributes = [{"Name": "email", "Value": "rehearsal@example.com"}]
    with cognito.answered_locally(client, REHEARSAL_ANSWERS):
        client.sign_up(**common, Password="Rehearsal1!", UserAttributes=attributes, ValidationData=attributes)
        client.confirm_sign_up(**common, ConfirmationCode="123456", ForceAliasCreation=False)
        client.resend_confirmation_code(**common)


def rehearse_attempt_writes(portal: Portal) -> None:
    """A sign-up's three writes (the pending attempt, its event, its outcome) in a transaction rolled
    back: Django builds its per-model state on a model's first save, and the database learns the
    statements, before the first visitor's sign-up pays for it. Nothing is kept."""
    with transaction.atomic():
        attempt = SignupAttempt.objects.create(
            portal=portal,
            username="rehearsal",
            attributes={"email": "rehearsal@example.com"},
            status=SignupAttempt.Status.PENDING,
        )
        attempt.record_event(AttemptEvent.Kind.SIGNUP, ok=True, detail={"rehearsal": True})
        attempt.mark_succeeded(user_sub="", user_confirmed=False, delivery=None, request_id="", latency_ms=0)
        transaction.set_rollback(True)


def warm_up() -> None:
    started = time.perf_counter()
    try:
        get_resolver().url_patterns  # noqa: B018  (imports every view module)
        for name in TEMPLATES:
            get_template(name)
        slugs = list(Portal.objects.filter(is_open=True).order_by("slug").values_list("slug", flat=True)[:MAX_PORTALS])
        rehearsed: set[tuple[str, str | None]] = set()  # portals of one region and endpoint share a client
        for slug in slugs:
            portal = portal_by_slug(slug)
            if portal is None or not portal.is_synced:
                continue
            client_key = (portal.region, portal.endpoint_url or None)
            if not rehearsed:  # Django's per-model state is the process's: one portal's writes warm it
                rehearse_attempt_writes(portal)
            if client_key not in rehearsed:
                rehearse_calls(*client_key, portal.client_id)
                rehearsed.add(client_key)
            for language, _ in settings.LANGUAGES:
                with translation.override(language):
                    spec = flows.portal_form_spec(portal, language)
            exercise(form_class(spec))
        ConfirmForm(data={"username": "warm.up", "code": "123456"}).is_valid()
        cache.get("signup:warm-up")  # opens the cache's connection (Redis), which rate limits need
    except Exception:  # the worker must start whatever happens here
        logs.event("worker.warm_up_failed", level=logging.WARNING, exc_info=True)
        return
    finally:
        for connection in connections.all(initialized_only=True):
            if not connection.in_atomic_block:
                connection.close()  # opened here, the main thread's: no request thread will use it
    logs.event("worker.warmed_up", portals=len(slugs), ms=round((time.perf_counter() - started) * 1000))


def warm_thread() -> None:
    """What Django keeps per thread, opened before a visitor needs it: the database connection (SQLite
    opens its file, sets its pragmas and reads the schema on the first statement) and the cache backend
    with its own Redis connection. A pooled PostgreSQL connection goes straight back to the pool."""
    try:
        SignupAttempt.objects.filter(pk=0).exists()
        cache.get("signup:warm-up")
    finally:
        hand_back_connection()


def warm_threads(executor: Executor, count: int, timeout: float = 10.0) -> int:
    """Start `count` threads of a worker's pool (gunicorn's gthread) now and warm each; how many were.

    A pool starts a thread only when a task finds none idle, so each task waits for all the others
    before warming its thread: every submission then starts a new one. A pool with fewer threads than
    `count` breaks the wait after `timeout` and warms what it has."""
    barrier = threading.Barrier(count, timeout=timeout)

    def start() -> int:
        with contextlib.suppress(threading.BrokenBarrierError):
            barrier.wait()
        warm_thread()
        return threading.get_ident()

    futures = [executor.submit(start) for _ in range(count)]
    done, _ = wait(futures, timeout=timeout * 2)
    return len({future.result() for future in done if future.exception() is None})
