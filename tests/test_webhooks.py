"""Webhooks (#15): every event from the flow that makes it, written with the attempt's change; delivered
by the real worker (`manage.py db_worker`) to a receiver that verifies each request with the
standardwebhooks library; retries, a stopped worker, alike events from every channel, and the refusals
that keep deliveries off internal addresses."""

from __future__ import annotations

import io
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_tasks_db.management.commands.db_worker import Worker
from django_tasks_db.models import DBTaskResult

from signup import cognito, guards, webhooks
from signup.models import SignupAttempt, WebhookDelivery, WebhookEndpoint
from tests.conftest import CLIENT_SECRET
from tests.factories import make_portal
from tests.test_api import BASE, cognito_error, post, signed_up
from tests.test_cli import run
from tests.webhook_receiver import Receiver

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("worker_in_this_process")]

ROOT = Path(__file__).resolve().parents[1]
SECRET = webhooks.new_secret()
PASSWORD = "Str0ng!Passw0rd"
CODE = "802431"
PERSON = {"email": "joerg@example.com", "given_name": "Jörg"}  # not ASCII: signed and verified as UTF-8
PAGE = {"username": "alice", "password": PASSWORD, **PERSON}
API = {"username": "alice", "password": PASSWORD, "attributes": PERSON}
NOWHERE = "http://127.0.0.1:9/hooks"  # the discard port: nothing listens
PUBLIC = "93.184.215.14"
KEYS = {"portal", "reference", "channel", "username", "user_sub", "status", "confirmed", "error_code"}


def listen(portal, url=NOWHERE, **fields) -> WebhookEndpoint:
    return WebhookEndpoint.objects.create(portal=portal, url=url, secret=SECRET, **fields)


def hooked(url=NOWHERE, **fields):
    portal = make_portal()
    listen(portal, url, **fields)
    return portal


def sign_up_on_the_page(client, **values):
    response = client.post("/signup/acme/", {**PAGE, **values})
    assert response.status_code in (200, 302, 400), response.content.decode()[:500]
    return response


def sent(event_type=None) -> list[WebhookDelivery]:
    deliveries = WebhookDelivery.objects.order_by("id")
    return list(deliveries.filter(event_type=event_type) if event_type else deliveries)


def queued() -> list[DBTaskResult]:
    return list(DBTaskResult.objects.filter(queue_name=webhooks.QUEUE).order_by("enqueued_at"))


def data(delivery: WebhookDelivery) -> dict:
    import json

    body = json.loads(delivery.body)
    assert set(body) == {"type", "timestamp", "data"} and body["type"] == delivery.event_type
    return body["data"]


def work_off(seconds: float = 15.0) -> None:
    """The webhooks queue worked off in this process (django-tasks-db's own worker loop, in batch mode),
    again while a retry is due, until no delivery is pending."""
    deadline = time.monotonic() + seconds
    while True:
        Worker(
            queue_names=[webhooks.QUEUE],
            interval=0,
            batch=True,
            backend_name="default",
            startup_delay=False,
            max_tasks=None,
            worker_id="in-process",
            excluded_queue_names=[],
        ).run()
        if not WebhookDelivery.objects.filter(status="pending").exists() or time.monotonic() > deadline:
            return
        time.sleep(0.02)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- 1. Every event from the flow that makes it, with the change ----------------------------------------


def test_a_page_sign_up_announces_signup_created_and_queues_its_delivery(client, stub):
    portal = hooked()
    signed_up(stub)
    sign_up_on_the_page(client)
    attempt = SignupAttempt.objects.get()
    (delivery,) = sent()
    assert (delivery.event_type, delivery.attempt, delivery.status, delivery.tries) == (
        "signup.created",
        attempt,
        "pending",
        0,
    )
    assert data(delivery) == {
        "portal": portal.slug,
        "reference": str(attempt.reference),
        "channel": "web",
        "username": "alice",
        "user_sub": "sub-1",
        "status": "succeeded",
        "confirmed": False,
        "error_code": None,
    }
    assert delivery.message_id.startswith("msg_")
    (task,) = queued()
    assert task.task_path == "signup.webhooks.deliver" and task.args_kwargs["args"] == [delivery.pk]


@pytest.mark.parametrize(
    ("outcome", "event", "status"),
    [
        ("taken", "signup.rejected", "rejected"),
        ("unreachable", "signup.failed", "failed"),
        ("honeypot", "signup.blocked", "blocked"),
    ],
)
def test_a_refused_failed_or_blocked_sign_up_is_announced(client, stub, monkeypatch, outcome, event, status):
    hooked()
    extra = {}
    if outcome == "taken":
        cognito_error(stub, "sign_up", "UsernameExistsException", "User already exists")
    elif outcome == "unreachable":

        def unreachable(*args, **kwargs):
            raise cognito.CognitoUnreachable("connect failed", code="EndpointConnectionError")

        monkeypatch.setattr(cognito, "sign_up", unreachable)
    else:
        extra = {guards.HONEYPOT_FIELD: "x"}
    sign_up_on_the_page(client, **extra)
    attempt = SignupAttempt.objects.get()
    assert attempt.status == status
    (delivery,) = sent()
    assert (delivery.event_type, delivery.attempt_id) == (event, attempt.pk)
    assert data(delivery)["status"] == status and data(delivery)["reference"] == str(attempt.reference)
    assert len(queued()) == 1


def test_a_rate_limited_api_sign_up_is_announced_as_blocked(client, stub, settings):
    hooked()
    settings.SIGNUP_RATE_LIMITS = {**settings.SIGNUP_RATE_LIMITS, "signup_per_ip": "1/600"}
    signed_up(stub)
    assert post(client, f"{BASE}/acme/signups", API).status_code == 201
    assert post(client, f"{BASE}/acme/signups", {**API, "username": "bob"}).status_code == 429
    assert [(d.event_type, data(d)["username"], data(d)["error_code"]) for d in sent()] == [
        ("signup.created", "alice", None),
        ("signup.blocked", "bob", "RateLimited"),
    ]


def test_a_confirmation_through_the_confirm_step_is_announced_without_the_code(client, stub):
    hooked()
    signed_up(stub)
    stub.add_response("confirm_sign_up", {})
    confirm_url = sign_up_on_the_page(client)["Location"]
    done = client.post(confirm_url, {"username": "alice", "code": CODE})
    assert done.status_code == 302
    created, confirmed = sent()
    assert (created.event_type, confirmed.event_type) == ("signup.created", "signup.confirmed")
    assert data(confirmed)["confirmed"] is True and data(confirmed)["user_sub"] == "sub-1"
    assert all(CODE not in d.body for d in sent())


def test_reconciliation_announces_what_it_settled(monkeypatch):
    portal = hooked()
    found = SignupAttempt.objects.create(portal=portal, username="found", status="unknown")
    missing = SignupAttempt.objects.create(portal=portal, username="missing", status="pending")
    SignupAttempt.objects.update(created_at=timezone.now() - timedelta(hours=1))

    def admin_get_user(target, username):
        if username == "missing":
            raise cognito.CognitoError("UserNotFoundException", "User does not exist.")
        return cognito.LiveUser(username=username, status="CONFIRMED", enabled=True, sub="sub-found", request_id="r")

    monkeypatch.setattr(cognito, "admin_get_user", admin_get_user)
    call_command("reconcile_attempts", "--older-than-minutes", "15", stdout=io.StringIO())
    settled = {data(d)["username"]: data(d) for d in sent("signup.settled")}
    assert settled["found"] == {
        **settled["found"],
        "reference": str(found.reference),
        "status": "succeeded",
        "user_sub": "sub-found",
        "confirmed": True,
    }
    assert settled["missing"] == {
        **settled["missing"],
        "reference": str(missing.reference),
        "status": "failed",
        "error_code": "UserNotFoundException",
    }
    assert len(sent()) == len(queued()) == 2


def test_an_endpoint_hears_only_the_events_it_asked_for_and_a_disabled_one_nothing(client, stub):
    portal = hooked(events=["signup.confirmed"])
    listen(portal, enabled=False)
    listen(portal, events=["signup.created"])
    signed_up(stub)
    sign_up_on_the_page(client)
    (delivery,) = sent()
    assert delivery.event_type == "signup.created" and delivery.endpoint.events == ["signup.created"]


class Refused(RuntimeError):
    pass


@pytest.fixture
def enqueue_fails(monkeypatch):
    def refuse(delivery_id):
        raise Refused("the queue refused")

    monkeypatch.setattr(webhooks, "queue", refuse)


def test_the_change_and_its_deliveries_are_one_transaction(enqueue_fails):
    portal = hooked()
    attempt = SignupAttempt.objects.create(portal=portal, username="alice")
    with pytest.raises(Refused):
        attempt.mark_succeeded(user_sub="sub-1", user_confirmed=False, delivery=None, request_id="r", latency_ms=5)
    attempt.refresh_from_db()
    assert (attempt.status, attempt.user_sub) == ("pending", "")
    assert not WebhookDelivery.objects.exists()


def test_a_blocked_attempt_and_its_delivery_are_one_transaction(client, enqueue_fails):
    hooked()
    page = sign_up_on_the_page(client, **{guards.HONEYPOT_FIELD: "x"})  # the flow's polite failure
    assert "try again" in page.content.decode().lower()
    assert not SignupAttempt.objects.exists() and not WebhookDelivery.objects.exists()


def test_without_an_endpoint_a_sign_up_writes_and_reads_nothing_for_webhooks(client, stub):
    make_portal()
    signed_up(stub)
    signed_up(stub, UserSub="sub-2")
    sign_up_on_the_page(client)  # the first finds out there is no endpoint, once
    with CaptureQueriesContext(connection) as queries:
        sign_up_on_the_page(client, username="bob")
    assert SignupAttempt.objects.filter(status="succeeded").count() == 2
    tables = (WebhookEndpoint._meta.db_table, WebhookDelivery._meta.db_table, DBTaskResult._meta.db_table)
    assert not [q["sql"] for q in queries.captured_queries if any(t in q["sql"] for t in tables)]
    assert not WebhookDelivery.objects.exists() and not DBTaskResult.objects.exists()


def test_a_deleted_endpoint_is_told_nothing_more(client, stub):
    portal = make_portal()
    endpoint = listen(portal)
    signed_up(stub)
    signed_up(stub, UserSub="sub-2")
    sign_up_on_the_page(client)
    assert len(sent()) == 1
    endpoint.delete()
    sign_up_on_the_page(client, username="bob")
    assert SignupAttempt.objects.filter(status="succeeded").count() == 2
    assert not WebhookDelivery.objects.exists()


# --- 2. Delivered by the real worker ---------------------------------------------------------------------


@contextmanager
def shared_database():
    """A DATABASE_URL another process can use, holding what this test wrote; what that process wrote is
    here again afterwards. PostgreSQL: the test database itself (the test commits: transaction=True).
    SQLite's test database lives in this process's memory: it is copied to a file and back."""
    settings_dict = connection.settings_dict
    if connection.vendor == "postgresql":
        s = settings_dict
        yield f"postgres://{s['USER']}:{s['PASSWORD']}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"
        return
    assert connection.vendor == "sqlite"
    if not connection.is_in_memory_db():
        yield f"sqlite:///{settings_dict['NAME']}"
        return
    import tempfile

    connection.ensure_connection()
    here = connection.connection
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "shared.sqlite3"
        with sqlite3.connect(path) as there:
            here.backup(there)
        there.close()
        try:
            yield f"sqlite:///{path}"
        finally:
            there = sqlite3.connect(path)
            there.backup(here)
            there.close()


def worker_command(database_url: str, *args: str, **env: str) -> dict:
    """`manage.py db_worker` for the webhooks queue, as subprocess arguments, on the shared database."""
    return {
        "args": [sys.executable, "manage.py", "db_worker", "--queue-name", webhooks.QUEUE, "--no-startup-delay"]
        + ["--no-reload", "-v", "2", *args],
        "cwd": ROOT,
        "env": {**os.environ, "DATABASE_URL": database_url, "DEBUG": "1", "WEBHOOK_ALLOW_PRIVATE_URLS": "1", **env},
        "text": True,
    }


def worker(database_url: str, *args: str, timeout: float = 30, **env: str) -> subprocess.CompletedProcess:
    """The worker run in its own process until it stops by itself (--batch, --max-tasks)."""
    command = worker_command(database_url, *args, **env)
    done = subprocess.run(**command, capture_output=True, timeout=timeout, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return done


def assert_standard(request) -> None:
    """Verified by the library, with the three headers as Standard Webhooks writes them."""
    assert request.verified, request.headers
    assert request.headers["webhook-id"].startswith("msg_")
    assert request.headers["webhook-timestamp"].isdigit()
    assert abs(int(request.headers["webhook-timestamp"]) - time.time()) < 120
    assert request.headers["webhook-signature"].startswith("v1,")
    assert request.headers["content-type"] == "application/json"
    assert set(request.body) == {"type", "timestamp", "data"}
    assert set(request.body["data"]) >= KEYS


@pytest.mark.django_db(transaction=True)
def test_the_worker_delivers_every_event_verified_with_attributes_only_where_asked(client, stub):
    signed_up(stub)
    stub.add_response("confirm_sign_up", {})
    with Receiver(SECRET) as receiver:
        portal = make_portal()
        listen(portal, f"{receiver.url}?attributes=no")
        listen(portal, f"{receiver.url}?attributes=yes", include_attributes=True)
        confirm_url = sign_up_on_the_page(client)["Location"]
        assert client.post(confirm_url, {"username": "alice", "code": CODE}).status_code == 302
        attempt = SignupAttempt.objects.get()
        with shared_database() as url:
            worker(url, "--batch")
        requests = receiver.requests
    assert len(requests) == 4
    for request in requests:
        assert_standard(request)
        assert request.body["data"]["reference"] == str(attempt.reference)
        assert PASSWORD.encode() not in request.raw and CLIENT_SECRET.encode() not in request.raw
        assert CODE.encode() not in request.raw
    by_kind = {(r.path.endswith("yes"), r.body["type"]): r.body["data"] for r in requests}
    assert set(by_kind) == {(a, t) for a in (False, True) for t in ("signup.created", "signup.confirmed")}
    for (with_attributes, _), values in by_kind.items():
        assert values["channel"] == "web" and values["user_sub"] == "sub-1"
        if with_attributes:
            assert values["attributes"] == {**values["attributes"], **PERSON}
        else:
            assert "attributes" not in values
    plain = [r.raw.decode() for r in requests if r.path.endswith("no")]
    assert all("Jörg" not in body and "example.com" not in body for body in plain)
    assert sorted(r.headers["webhook-id"] for r in requests) == sorted(d.message_id for d in sent())
    assert {(d.status, d.tries, d.last_status_code) for d in sent()} == {("delivered", 1, 200)}
    assert all(d.delivered_at is not None for d in sent())


# --- 3. Retries -------------------------------------------------------------------------------------------


@pytest.fixture
def quick_retries(settings):
    settings.WEBHOOK_RETRY_DELAYS = [0.05, 0.05, 0.05]
    return settings


def test_a_receiver_answering_500_twice_gets_the_same_event_again_until_it_takes_it(quick_retries):
    with Receiver(SECRET, statuses=[500, 500, 200]) as receiver:
        endpoint = listen(make_portal(), receiver.url)
        delivery = webhooks.send_test_event(endpoint)
        work_off()
    assert [r.answered for r in receiver.requests] == [500, 500, 200]
    assert all(r.verified for r in receiver.requests)
    assert receiver.ids == [delivery.message_id] * 3
    assert len({r.raw for r in receiver.requests}) == 1
    delivery.refresh_from_db()
    endpoint.refresh_from_db()
    assert (delivery.status, delivery.tries, delivery.last_status_code) == ("delivered", 3, 200)
    assert endpoint.failing_since is None and endpoint.enabled


@pytest.mark.django_db(transaction=True)
def test_the_worker_process_takes_its_retry_schedule_from_the_environment(client, stub):
    signed_up(stub)
    with Receiver(SECRET, statuses=[500, 500, 200]) as receiver:
        listen(make_portal(), receiver.url)
        sign_up_on_the_page(client)
        with shared_database() as url:
            worker(url, "--max-tasks", "3", "--interval", "0.05", WEBHOOK_RETRY_DELAYS="0.1,0.1")
    (delivery,) = sent()
    assert [r.answered for r in receiver.requests] == [500, 500, 200]
    assert all(r.verified for r in receiver.requests) and receiver.ids == [delivery.message_id] * 3
    assert (delivery.status, delivery.tries) == ("delivered", 3)


def test_a_refused_connection_is_tried_again_until_the_schedule_is_spent(quick_retries):
    endpoint = listen(make_portal(), f"http://127.0.0.1:{free_port()}/hooks")
    delivery = webhooks.send_test_event(endpoint)
    work_off()
    delivery.refresh_from_db()
    assert (delivery.status, delivery.tries, delivery.last_status_code) == ("failed", 4, None)
    assert "ConnectionRefused" in delivery.last_error and delivery.delivered_at is None
    endpoint.refresh_from_db()
    assert endpoint.failing_since is not None and endpoint.enabled  # failing, not yet for long


def test_a_receiver_too_slow_to_answer_is_tried_again(quick_retries):
    quick_retries.WEBHOOK_RETRY_DELAYS = [0.05]
    quick_retries.WEBHOOK_TIMEOUT_SECONDS = 0.3
    with Receiver(SECRET, delay=1.0) as receiver:
        delivery = webhooks.send_test_event(listen(make_portal(), receiver.url))
        work_off()
        assert receiver.wait_for(2) and receiver.ids == [delivery.message_id] * 2
    delivery.refresh_from_db()
    assert (delivery.status, delivery.tries, delivery.last_error) == ("failed", 2, "timed out")


def test_an_endpoint_failing_for_too_long_is_disabled_and_told_nothing_more(quick_retries, client, stub):
    quick_retries.WEBHOOK_DISABLE_AFTER_SECONDS = 3600
    with Receiver(SECRET, statuses=[500]) as receiver:
        portal = make_portal()
        endpoint = listen(portal, receiver.url)
        WebhookEndpoint.objects.filter(pk=endpoint.pk).update(failing_since=timezone.now() - timedelta(hours=2))
        delivery = webhooks.send_test_event(endpoint)
        work_off()
    endpoint.refresh_from_db()
    delivery.refresh_from_db()
    assert not endpoint.enabled and "every delivery failed since" in endpoint.disabled_reason
    assert len(receiver.requests) == 1  # the try that found it failing too long; then no more
    assert (delivery.status, delivery.last_error) == ("failed", "the endpoint is disabled")
    signed_up(stub)
    sign_up_on_the_page(client)
    assert sent() == [delivery]


def test_an_endpoint_that_answers_again_is_no_longer_failing(quick_retries):
    with Receiver(SECRET) as receiver:
        endpoint = listen(make_portal(), receiver.url)
        WebhookEndpoint.objects.filter(pk=endpoint.pk).update(failing_since=timezone.now() - timedelta(minutes=5))
        webhooks.send_test_event(endpoint)
        work_off()
    endpoint.refresh_from_db()
    assert endpoint.failing_since is None and endpoint.enabled


# --- 4. A stopped worker ----------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_worker_stopped_after_one_delivery_leaves_the_rest_to_the_next(client, stub):
    for n in range(3):
        signed_up(stub, UserSub=f"sub-{n}")
    with Receiver(SECRET) as receiver:
        listen(make_portal(), receiver.url)
        for n in range(3):
            sign_up_on_the_page(client, username=f"user{n}")
        with shared_database() as url:
            worker(url, "--max-tasks", "1", "--interval", "0")
            assert len(receiver.requests) == 1
            worker(url, "--batch")
    assert len(receiver.requests) == 3 and all(r.verified for r in receiver.requests)
    assert sorted(receiver.ids) == sorted(d.message_id for d in sent())
    assert {d.status for d in sent()} == {"delivered"}


@pytest.mark.django_db(transaction=True)
def test_a_worker_told_to_stop_mid_delivery_finishes_it_and_the_next_delivers_the_rest(client, stub):
    for n in range(3):
        signed_up(stub, UserSub=f"sub-{n}")
    with Receiver(SECRET, delay=1.0) as receiver:
        listen(make_portal(), receiver.url)
        for n in range(3):
            sign_up_on_the_page(client, username=f"user{n}")
        with shared_database() as url:
            running = subprocess.Popen(
                **worker_command(url, "--interval", "0.05"), stdout=subprocess.PIPE, stderr=subprocess.STDOUT
            )
            try:
                receiver.wait_for(1, arrived=True)
                running.send_signal(signal.SIGTERM)  # as a deploy stops it
                output, _ = running.communicate(timeout=30)
            finally:
                running.kill()
            assert running.returncode == 0, output
            assert len(receiver.requests) == 1  # the one under way was answered, and no other begun
            receiver.delay = 0
            worker(url, "--batch")
    assert len(receiver.requests) == 3 and all(r.verified for r in receiver.requests)
    assert sorted(receiver.ids) == sorted(d.message_id for d in sent())
    assert {(d.status, d.tries) for d in sent()} == {("delivered", 1)}


# --- 5. Alike from every channel --------------------------------------------------------------------------


def test_events_from_the_page_the_api_and_the_command_line_are_alike(client, stub):
    hooked(include_attributes=True)
    for n in range(3):
        signed_up(stub, UserSub=f"sub-{n}")
    sign_up_on_the_page(client, username="paige")
    assert post(client, f"{BASE}/acme/signups", {**API, "username": "api-user"}).status_code == 201
    person = [f"Name={name},Value={value}" for name, value in PERSON.items()]
    done = run("signup", "acme", "--username", "cli-user", "--password", PASSWORD, "--user-attributes", *person)
    assert done.code == 0, done.stderr
    bodies = {data(d)["username"]: data(d) for d in sent("signup.created")}
    assert {name: body["channel"] for name, body in bodies.items()} == {
        "paige": "web",
        "api-user": "api",
        "cli-user": "cli",
    }
    shapes = {frozenset(body) for body in bodies.values()}
    assert shapes == {frozenset(KEYS | {"attributes"})}
    assert bodies["api-user"]["attributes"] == bodies["cli-user"]["attributes"] == PERSON
    assert bodies["paige"]["attributes"] == {**PERSON, "custom:newsletter": "false"}  # the page's checkbox
    assert all(PASSWORD not in d.body and CLIENT_SECRET not in d.body for d in sent())


# --- 6. Server-side request forgery ----------------------------------------------------------------------


@pytest.fixture
def production(settings):
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = False
    return settings


@pytest.fixture
def resolver(monkeypatch):
    """Name resolution as the test says: `answers[name]` is a list of addresses, one handed out per
    lookup (the last one again from then on)."""
    answers: dict[str, list[str]] = {}
    real = socket.getaddrinfo

    def getaddrinfo(host, port, *args, **kwargs):
        name = host.decode() if isinstance(host, bytes) else str(host)
        if name not in answers:
            return real(host, port, *args, **kwargs)
        queue = answers[name]
        address = queue.pop(0) if len(queue) > 1 else queue[0]
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        return [(family, socket.SOCK_STREAM, 6, "", (address, port or 0))]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return answers


@pytest.mark.parametrize(
    "url",
    [
        "http://hooks.example.com/in",
        "https://127.0.0.1/in",
        "https://10.0.0.1/in",
        "https://169.254.169.254/latest/meta-data/",
        "https://[::1]/in",
        "https://[fd00:ec2::254]/in",
        "https://[::ffff:127.0.0.1]/in",
        "https://localhost/in",
        "ftp://hooks.example.com/in",
    ],
)
def test_in_production_internal_or_plain_http_urls_are_refused(production, url):
    assert webhooks.url_refusal(url)


def test_in_production_a_name_is_refused_when_any_of_its_addresses_is_internal(production, resolver):
    resolver["hooks.example.com"] = [PUBLIC]
    assert webhooks.url_refusal("https://hooks.example.com/in") == ""
    resolver["mixed.example.com"] = ["10.1.2.3"]
    assert "not public" in webhooks.url_refusal("https://mixed.example.com/in")


def test_in_development_loopback_is_allowed(settings):
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = True
    assert webhooks.url_refusal("http://127.0.0.1:8080/in") == ""
    assert webhooks.url_refusal("http://localhost:8080/in") == ""


@pytest.fixture
def connections(monkeypatch):
    """Where the sender connects: recorded, and refused (no test reaches past this machine)."""
    made: list[tuple[str, int]] = []

    def create_connection(address, *args, **kwargs):
        made.append(address)
        raise ConnectionRefusedError("not in tests")

    monkeypatch.setattr(socket, "create_connection", create_connection)
    return made


def test_a_name_that_turns_internal_after_it_was_saved_is_refused_at_send_time(production, resolver, connections):
    production.WEBHOOK_RETRY_DELAYS = []
    resolver["hooks.example.com"] = [PUBLIC]
    endpoint = WebhookEndpoint(portal=make_portal(), url="https://hooks.example.com/in", secret=SECRET)
    endpoint.full_clean()
    endpoint.save()
    assert webhooks.url_refusal(endpoint.url) == ""
    resolver["hooks.example.com"] = ["127.0.0.1"]
    delivery = webhooks.send_test_event(endpoint)
    work_off()
    delivery.refresh_from_db()
    assert connections == []
    assert (delivery.status, delivery.tries) == ("failed", 1)
    assert delivery.last_error.startswith("refused: ") and "not public" in delivery.last_error


def test_the_connection_goes_to_the_address_that_was_checked(production, resolver, connections):
    """DNS rebinding: a name public when checked and internal a moment later must not steer the send."""
    production.WEBHOOK_RETRY_DELAYS = []
    resolver["rebind.example.com"] = [PUBLIC, "127.0.0.1"]
    delivery = webhooks.send_test_event(listen(make_portal(), "https://rebind.example.com/in"))
    work_off()
    assert connections == [(PUBLIC, 443)]
    delivery.refresh_from_db()
    assert delivery.status == "failed" and "ConnectionRefused" in delivery.last_error


def test_saving_an_endpoint_refuses_an_internal_address_in_production(production):
    from django.core.exceptions import ValidationError

    endpoint = WebhookEndpoint(portal=make_portal(), url="https://169.254.169.254/x", secret=SECRET)
    with pytest.raises(ValidationError, match="metadata"):
        endpoint.full_clean()


# --- What a dead worker, a trickling receiver or a bug leave behind ---------------------------------------


def test_a_delivery_whose_worker_died_mid_try_is_queued_again_and_delivered(quick_retries, settings):
    settings.WEBHOOK_TIMEOUT_SECONDS = 1.0
    with Receiver(SECRET) as receiver:
        delivery = webhooks.send_test_event(listen(make_portal(), receiver.url))
        # As a worker killed mid-try leaves it: its task "running" since long before any try could take.
        (task_row,) = queued()
        long_ago = timezone.now() - timedelta(minutes=5)
        DBTaskResult.objects.filter(pk=task_row.pk).update(status="RUNNING", started_at=long_ago)
        work_off(seconds=0.5)
        assert receiver.requests == []  # nothing picks it up on its own
        out = io.StringIO()
        call_command("webhook", "recover", stdout=out)
        assert "Queued again 1" in out.getvalue()
        work_off()
    assert receiver.ids == [delivery.message_id]
    delivery.refresh_from_db()
    assert delivery.status == "delivered"
    assert DBTaskResult.objects.get(pk=task_row.pk).status == "FAILED"


def test_a_task_running_for_less_than_a_try_can_take_is_left_alone(quick_retries):
    delivery = webhooks.send_test_event(listen(make_portal()))
    (task_row,) = queued()
    DBTaskResult.objects.filter(pk=task_row.pk).update(status="RUNNING", started_at=task_row.enqueued_at)
    assert webhooks.requeue_stranded() == 0
    assert [t.pk for t in queued()] == [task_row.pk] and delivery.status == "pending"


def test_a_receiver_trickling_its_answer_is_cut_off_at_the_timeout(quick_retries):
    quick_retries.WEBHOOK_RETRY_DELAYS = []
    quick_retries.WEBHOOK_TIMEOUT_SECONDS = 0.5
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        url = f"http://127.0.0.1:{server.getsockname()[1]}/hooks"

        def trickle():
            connection, _ = server.accept()
            with connection:
                connection.recv(65536)
                connection.sendall(b"HTTP/1.1 200 OK\r\n")
                for _ in range(30):  # a header line every 0.2 s: each read is quick, the whole is not
                    time.sleep(0.2)
                    try:
                        connection.sendall(b"X-Slow: 1\r\n")
                    except OSError:
                        return

        thread = threading.Thread(target=trickle, daemon=True)
        thread.start()
        delivery = webhooks.send_test_event(listen(make_portal(), url))
        started = time.monotonic()
        work_off(seconds=5)
        took = time.monotonic() - started
    delivery.refresh_from_db()
    assert (delivery.status, delivery.last_error) == ("failed", "timed out")
    assert took < 3, took  # not the 6 s the trickle would take


def test_an_unexpected_error_in_a_try_is_a_failed_try_tried_again(quick_retries, monkeypatch):
    quick_retries.WEBHOOK_RETRY_DELAYS = [0.01]
    calls = []

    def broken(*args, **kwargs):
        calls.append(1)
        raise RuntimeError("a bug")

    monkeypatch.setattr(webhooks, "post", broken)
    delivery = webhooks.send_test_event(listen(make_portal()))
    work_off()
    delivery.refresh_from_db()
    assert len(calls) == 2 and (delivery.status, delivery.tries, delivery.last_error) == ("failed", 2, "RuntimeError")


@pytest.mark.parametrize("mode", ["anonymise", "delete"])
def test_the_retention_policy_removes_old_finished_deliveries_with_the_usernames_they_carry(mode):
    from signup import operators

    endpoint = listen(make_portal())
    old, recent, waiting = (webhooks.send_test_event(endpoint) for _ in range(3))
    WebhookDelivery.objects.filter(pk__in=[old.pk, waiting.pk]).update(created_at=timezone.now() - timedelta(days=40))
    WebhookDelivery.objects.filter(pk__in=[old.pk, recent.pk]).update(status="delivered")
    operators.attempts_purge(days=30, mode=mode)
    assert set(WebhookDelivery.objects.values_list("pk", flat=True)) == {recent.pk, waiting.pk}
