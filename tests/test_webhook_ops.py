"""Operating webhooks: `manage.py webhook`, the endpoint and delivery admin, and the worker `make demo` starts."""

import io
import json
import os
import subprocess
import sys
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone
from django_tasks_db.models import DBTaskResult
from standardwebhooks.webhooks import Webhook

from signup import webhooks
from signup.management.commands import demo
from signup.models import Portal, WebhookDelivery, WebhookEndpoint
from tests.factories import make_portal

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parent.parent


def run(*args):
    out, err = io.StringIO(), io.StringIO()
    call_command("webhook", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def queued_for(delivery):
    """The tasks waiting to deliver `delivery` (django-tasks-db's rows)."""
    return [
        row
        for row in DBTaskResult.objects.filter(queue_name="webhooks", task_path="signup.webhooks.deliver")
        if row.args_kwargs["args"] == [delivery.pk]
    ]


# --- manage.py webhook -----------------------------------------------------------------------------------


def test_add_with_a_generated_secret_stores_it_and_prints_it_once():
    make_portal("acme")
    out, _ = run(
        "add",
        "acme",
        "--url",
        "http://127.0.0.1:9000/hooks",
        "--generate-secret",
        "--event",
        "signup.created",
        "--event",
        "signup.confirmed",
        "--include-attributes",
    )
    endpoint = WebhookEndpoint.objects.get()
    assert endpoint.secret.startswith("whsec_") and endpoint.secret_env == ""
    assert out.count(endpoint.secret) == 1
    assert "will not be shown again" in out
    assert endpoint.events == ["signup.created", "signup.confirmed"]
    assert endpoint.include_attributes and endpoint.enabled


def test_add_with_a_secret_variable_stores_only_its_name_and_warns_while_it_is_unset(monkeypatch):
    make_portal("acme")
    monkeypatch.delenv("ACME_HOOK_SECRET", raising=False)
    monkeypatch.delenv("ACME_HOOK_SECRET_FILE", raising=False)
    out, err = run("add", "acme", "--url", "http://127.0.0.1:9000/a", "--secret-env", "ACME_HOOK_SECRET")
    endpoint = WebhookEndpoint.objects.get()
    assert (endpoint.secret_env, endpoint.secret, endpoint.events) == ("ACME_HOOK_SECRET", "", [])
    assert "ACME_HOOK_SECRET" in err and "not set" in err
    assert "whsec_" not in out and "(all)" in out

    monkeypatch.setenv("ACME_HOOK_SECRET", webhooks.new_secret())
    _, err = run("add", "acme", "--url", "http://127.0.0.1:9000/b", "--secret-env", "ACME_HOOK_SECRET")
    assert err == ""


@pytest.mark.parametrize(
    "secret_args",
    [[], ["--secret-env", "X", "--generate-secret"]],
    ids=["neither", "both"],
)
def test_add_wants_exactly_one_way_to_the_secret(secret_args):
    make_portal("acme")
    with pytest.raises(CommandError, match="--secret-env"):
        run("add", "acme", "--url", "http://127.0.0.1:9000/", *secret_args)
    assert not WebhookEndpoint.objects.exists()


def test_add_refuses_an_unknown_event_type_and_an_unknown_portal():
    make_portal("acme")
    with pytest.raises(CommandError, match="signup.sent"):
        run("add", "acme", "--url", "http://127.0.0.1:9000/", "--generate-secret", "--event", "signup.sent")
    with pytest.raises(CommandError, match="No portal 'nope'"):
        run("add", "nope", "--url", "http://127.0.0.1:9000/", "--generate-secret")
    assert not WebhookEndpoint.objects.exists()


@pytest.mark.parametrize(
    ("url", "refusal"),
    [
        ("http://hooks.example.com/in", "Use https"),
        ("https://127.0.0.1/in", "not public"),
        ("https://169.254.169.254/latest", "metadata"),
    ],
)
def test_add_refuses_what_production_may_not_reach(settings, url, refusal):
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = False
    make_portal("acme")
    with pytest.raises(CommandError, match=f"url: .*{refusal}"):
        run("add", "acme", "--url", url, "--generate-secret")
    assert not WebhookEndpoint.objects.exists()
    run("add", "acme", "--url", "https://hooks.example.com/in", "--generate-secret")  # a name: checked at send time
    assert WebhookEndpoint.objects.count() == 1


def _delivery(endpoint, status=WebhookDelivery.Status.PENDING, **fields):
    values = {
        "message_id": f"msg_{os.urandom(8).hex()}",
        "event_type": "signup.created",
        "body": '{"type":"signup.created","data":{"portal":"acme"}}',
        **fields,
    }
    return WebhookDelivery.objects.create(endpoint=endpoint, status=status, **values)


def test_list_shows_events_state_and_delivery_counts_and_never_a_secret(monkeypatch):
    acme, other = make_portal("acme"), make_portal("other")
    env_secret = webhooks.new_secret()
    monkeypatch.setenv("ACME_HOOK_SECRET", env_secret)
    generated = WebhookEndpoint.objects.create(
        portal=acme, url="http://127.0.0.1:9000/g", secret=webhooks.new_secret(), events=["signup.created"]
    )
    from_env = WebhookEndpoint.objects.create(
        portal=acme,
        url="http://127.0.0.1:9000/e",
        secret_env="ACME_HOOK_SECRET",
        enabled=False,
        disabled_reason="Disabled yesterday: every delivery failed since last week.",
    )
    WebhookEndpoint.objects.create(portal=other, url="http://127.0.0.1:9000/o", secret=webhooks.new_secret())
    for status in ["pending", "pending", "failed", "delivered"]:
        _delivery(generated, status)
    _delivery(from_env, "failed")

    out, _ = run("list")
    rows = {line.split("\t")[0]: line.split("\t") for line in out.splitlines()}
    assert rows[str(generated.pk)][1:5] == ["acme", "http://127.0.0.1:9000/g", "signup.created", "enabled"]
    assert rows[str(generated.pk)][-1] == "2 pending, 1 failed"
    assert rows[str(from_env.pk)][3:5] == ["all", f"disabled: {from_env.disabled_reason}"]
    assert rows[str(from_env.pk)][-1] == "0 pending, 1 failed"
    assert len(rows) == 3
    assert "whsec_" not in out and env_secret not in out

    out, _ = run("list", "other")
    assert [line.split("\t")[1] for line in out.splitlines()] == ["other"]
    with pytest.raises(CommandError, match="No portal"):
        run("list", "nope")


def test_remove_takes_the_endpoint_and_its_log_and_names_a_wrong_id():
    endpoint = WebhookEndpoint.objects.create(portal=make_portal("acme"), url="http://127.0.0.1:9000/")
    _delivery(endpoint)
    kept = WebhookEndpoint.objects.create(portal=Portal.objects.get(), url="http://127.0.0.1:9001/")
    out, _ = run("remove", str(endpoint.pk))
    assert "Removed endpoint" in out and "1 logged deliveries" in out
    assert list(WebhookEndpoint.objects.all()) == [kept] and not WebhookDelivery.objects.exists()
    with pytest.raises(CommandError, match=f"No webhook endpoint {endpoint.pk}"):
        run("remove", str(endpoint.pk))


# --- Admin -----------------------------------------------------------------------------------------------

ENDPOINTS = "/admin/signup/webhookendpoint/"
DELIVERIES = "/admin/signup/webhookdelivery/"


def test_admin_shows_a_generated_secret_once_and_never_again(admin_client):
    portal = make_portal("acme")
    form = {"portal": portal.pk, "url": "http://127.0.0.1:9000/in", "events": ["signup.created"], "enabled": "on"}
    page = admin_client.post(f"{ENDPOINTS}add/", form, follow=True).content.decode()
    endpoint = WebhookEndpoint.objects.get()
    assert endpoint.secret.startswith("whsec_") and endpoint.events == ["signup.created"]
    assert endpoint.secret in page and "will not be shown again" in page
    for url in [ENDPOINTS, f"{ENDPOINTS}{endpoint.pk}/change/", f"{ENDPOINTS}?q=acme"]:
        shown = admin_client.get(url)
        assert shown.status_code == 200
        assert endpoint.secret not in shown.content.decode(), url


def test_admin_makes_no_secret_for_an_endpoint_with_a_variable(admin_client, monkeypatch):
    monkeypatch.delenv("ACME_HOOK_SECRET", raising=False)
    portal = make_portal("acme")
    form = {"portal": portal.pk, "url": "http://127.0.0.1:9000/in", "secret_env": "ACME_HOOK_SECRET", "enabled": "on"}
    page = admin_client.post(f"{ENDPOINTS}add/", form, follow=True).content.decode()
    endpoint = WebhookEndpoint.objects.get()
    assert (endpoint.secret, endpoint.events) == ("", [])
    assert "whsec_" not in page and "ACME_HOOK_SECRET is not set" in page


def test_admin_refuses_a_private_url_in_production_mode(admin_client, settings):
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = False
    form = {"portal": make_portal("acme").pk, "url": "https://10.0.0.8/in", "enabled": "on"}
    page = admin_client.post(f"{ENDPOINTS}add/", form).content.decode()
    assert "not public" in page and not WebhookEndpoint.objects.exists()


def test_the_send_test_event_action_queues_a_webhook_test_delivery(admin_client):
    endpoint = WebhookEndpoint.objects.create(portal=make_portal("acme"), url="http://127.0.0.1:9000/")
    answer = admin_client.post(ENDPOINTS, {"action": "send_test_event", "_selected_action": [endpoint.pk]})
    assert answer.status_code == 302
    delivery = WebhookDelivery.objects.get()
    assert (delivery.endpoint, delivery.event_type, delivery.status) == (endpoint, "webhook.test", "pending")
    assert json.loads(delivery.body)["type"] == "webhook.test"
    assert len(queued_for(delivery)) == 1


def test_the_send_test_event_action_skips_a_disabled_endpoint(admin_client):
    endpoint = WebhookEndpoint.objects.create(portal=make_portal("acme"), url="http://127.0.0.1:9000/", enabled=False)
    page = admin_client.post(
        ENDPOINTS, {"action": "send_test_event", "_selected_action": [endpoint.pk]}, follow=True
    ).content.decode()
    assert "enable it first" in page and not WebhookDelivery.objects.exists()


def test_a_disabled_endpoint_is_announced_and_can_be_enabled_again(admin_client):
    portal = make_portal("acme")
    reason = "Disabled 2026-01-06T10:00: every delivery failed since 2026-01-01T09:00."
    endpoint = WebhookEndpoint.objects.create(
        portal=portal,
        url="http://127.0.0.1:9000/",
        enabled=False,
        disabled_reason=reason,
        failing_since=timezone.now() - timedelta(days=5),
    )
    for url in [ENDPOINTS, DELIVERIES]:
        page = admin_client.get(url).content.decode()
        assert 'class="warning"' in page and reason in page  # the admin's warning message
    assert "⚠" in admin_client.get(ENDPOINTS).content.decode()  # and the list's column
    before = Portal.objects.get().updated_at

    admin_client.post(ENDPOINTS, {"action": "enable_again", "_selected_action": [endpoint.pk]})
    endpoint.refresh_from_db()
    assert (endpoint.enabled, endpoint.disabled_reason, endpoint.failing_since) == (True, "", None)
    assert Portal.objects.get().updated_at > before  # every process forgets its kept endpoint list
    assert reason not in admin_client.get(ENDPOINTS).content.decode()


def test_ticking_enabled_on_the_change_form_clears_the_failure(admin_client):
    portal = make_portal("acme")
    endpoint = WebhookEndpoint.objects.create(
        portal=portal,
        url="http://127.0.0.1:9000/",
        secret=webhooks.new_secret(),
        enabled=False,
        disabled_reason="Disabled: failing.",
        failing_since=timezone.now(),
    )
    form = {"portal": portal.pk, "url": endpoint.url, "enabled": "on"}
    page = admin_client.post(f"{ENDPOINTS}{endpoint.pk}/change/", form, follow=True).content.decode()
    endpoint.refresh_from_db()
    assert (endpoint.enabled, endpoint.disabled_reason, endpoint.failing_since) == (True, "", None)
    assert "whsec_" not in page  # the stored secret stays, unshown


def test_redeliver_sends_a_failed_delivery_again_from_the_start(admin_client):
    endpoint = WebhookEndpoint.objects.create(portal=make_portal("acme"), url="http://127.0.0.1:9000/")
    delivery = _delivery(endpoint, "failed", tries=8, last_status_code=500, last_error="HTTP 500")
    message_id = delivery.message_id
    answer = admin_client.post(DELIVERIES, {"action": "redeliver", "_selected_action": [delivery.pk]})
    assert answer.status_code == 302
    delivery.refresh_from_db()
    assert (delivery.status, delivery.tries, delivery.next_try_at) == ("pending", 0, None)
    assert delivery.message_id == message_id  # the same webhook-id: receivers de-duplicate by it
    assert len(queued_for(delivery)) == 1


def test_deliveries_are_a_record_nobody_adds_edits_or_deletes(admin_client):
    endpoint = WebhookEndpoint.objects.create(portal=make_portal("acme"), url="http://127.0.0.1:9000/")
    delivery = _delivery(endpoint, "failed", last_error="HTTP 500")
    assert admin_client.get(f"{DELIVERIES}add/").status_code == 403
    change = f"{DELIVERIES}{delivery.pk}/change/"
    page = admin_client.get(change).content.decode()
    assert delivery.message_id in page and 'name="_save"' not in page
    assert admin_client.post(change, {"status": "delivered", "last_error": ""}).status_code == 403
    assert admin_client.post(f"{DELIVERIES}{delivery.pk}/delete/", {"post": "yes"}).status_code == 403
    delivery.refresh_from_db()
    assert (delivery.status, delivery.last_error) == ("failed", "HTTP 500")
    listing = admin_client.get(DELIVERIES).content.decode()
    assert "HTTP 500" in listing and 'value="redeliver"' in listing and "delete_selected" not in listing


def test_the_delivery_log_filters_by_status_event_and_portal(admin_client):
    acme, other = make_portal("acme"), make_portal("other")
    mine = _delivery(WebhookEndpoint.objects.create(portal=acme, url="http://127.0.0.1:9000/a"), "failed")
    theirs = _delivery(WebhookEndpoint.objects.create(portal=other, url="http://127.0.0.1:9000/b"), "pending")
    for query, shown, hidden in [
        ("status__exact=failed", mine, theirs),
        (f"endpoint__portal__id__exact={other.pk}", theirs, mine),
        ("event_type__exact=webhook.test", None, mine),
    ]:
        page = admin_client.get(f"{DELIVERIES}?{query}").content.decode()
        assert (shown is None or shown.message_id in page) and hidden.message_id not in page, query


def test_the_delivery_page_masks_the_portals_sensitive_attributes(admin_client):
    portal = make_portal("acme", sensitive_attributes=["phone_number"])
    endpoint = WebhookEndpoint.objects.create(portal=portal, url="http://127.0.0.1:9000/", include_attributes=True)
    body = {"type": "signup.created", "data": {"attributes": {"phone_number": "+4915112345671", "name": "Ada"}}}
    delivery = _delivery(endpoint, body=json.dumps(body))
    page = admin_client.get(f"{DELIVERIES}{delivery.pk}/change/").content.decode()
    assert "+4915112345671" not in page and "71" in page and "Ada" in page


# --- The worker ------------------------------------------------------------------------------------------


class FakePopen:
    def __init__(self, args, **kwargs):
        self.args, self.kwargs = args, kwargs
        self.stdout = io.StringIO("Starting worker worker_id=w1 queues=webhooks\nbye\n")
        self.returncode = None
        self.terminated = False

    def poll(self):
        return self.returncode

    def terminate(self):
        self.terminated, self.returncode = True, 0

    def wait(self, timeout=None):
        return self.returncode


def test_start_worker_runs_db_worker_on_the_webhooks_queue_and_prefixes_its_output():
    started, lines = [], []
    worker = demo.start_worker(lines.append, popen=lambda *a, **k: started.append(FakePopen(*a, **k)) or started[0])
    (process,) = started
    assert process.args[:2] == [sys.executable, str(ROOT / "manage.py")]
    assert process.args[2:] == ["db_worker", "--queue-name", "webhooks", "--no-reload"]
    assert process.kwargs["stderr"] == subprocess.STDOUT and process.kwargs["env"]["PYTHONUNBUFFERED"] == "1"
    assert worker.stop() == 0 and process.terminated
    assert lines == ["worker | Starting worker worker_id=w1 queues=webhooks", "worker | bye"]


def test_demo_starts_the_worker_with_the_server_and_stops_it_with_the_server(monkeypatch):
    happened = []

    class Stoppable:
        def stop(self):
            happened.append("worker stopped")

    monkeypatch.setattr(demo, "start_worker", lambda write: happened.append("worker started") or Stoppable())
    monkeypatch.setattr(demo, "call_command", lambda name, *a, **k: happened.append(name))
    call_command("demo", "--emulator-port", "0", "--port", "8765", stdout=io.StringIO())
    assert happened == ["worker started", "runserver", "worker stopped"]

    happened.clear()
    call_command("demo", "--no-serve", "--emulator-port", "0", stdout=io.StringIO())
    assert happened == []


def test_the_worker_the_demo_starts_runs_for_real_and_exits_cleanly(tmp_path):
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'worker.sqlite3'}", "DEBUG": "1"}
    migrate = [sys.executable, str(ROOT / "manage.py"), "migrate", "--noinput", "-v0"]
    subprocess.run(migrate, env=env, check=True, timeout=120)
    lines = []
    worker = demo.start_worker(lines.append, extra=["--batch", "--no-startup-delay"], env=env)
    assert worker.process.wait(timeout=60) == 0
    worker.relay.join(5)
    assert any(line.startswith("worker | Starting worker") and "queues=webhooks" in line for line in lines), lines


class Receiver(BaseHTTPRequestHandler):
    received: list = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Receiver.received.append((dict(self.headers), body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_db_worker_batch_delivers_a_queued_test_event_signed(settings, worker_in_this_process):
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = True
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    Receiver.received = []
    try:
        endpoint = WebhookEndpoint.objects.create(
            portal=make_portal("acme"),
            url=f"http://127.0.0.1:{server.server_address[1]}/hooks",
            secret=webhooks.new_secret(),
        )
        delivery = webhooks.send_test_event(endpoint)
        call_command("db_worker", "--queue-name", "webhooks", "--batch", "--no-startup-delay", stdout=io.StringIO())
    finally:
        server.shutdown()
    delivery.refresh_from_db()
    assert (delivery.status, delivery.tries, delivery.last_status_code) == ("delivered", 1, 204)
    ((headers, body),) = Receiver.received
    headers = {k.lower(): v for k, v in headers.items()}
    event = Webhook(endpoint.secret).verify(body, headers)
    assert event["type"] == "webhook.test" and headers["webhook-id"] == delivery.message_id


def test_the_procfile_worker_and_the_demo_run_the_same_command():
    procfile = (ROOT / "Procfile").read_text().splitlines()
    worker = next(line for line in procfile if line.startswith("worker:"))
    # First the deliveries a killed worker left behind, then the worker itself, as the demo does.
    recover, run = worker.removeprefix("worker:").split("&&")
    assert recover.split() == ["python", "manage.py", "webhook", "recover"]
    assert run.split()[3:] == demo.WORKER_ARGS[:3]
    assert django_settings.TASKS["default"]["QUEUES"].count(webhooks.QUEUE) == 1


# --- docs/webhooks.md ------------------------------------------------------------------------------------


def test_the_receiver_in_the_docs_verifies_and_does_each_delivery_once(tmp_path, monkeypatch):
    text = (ROOT / "docs" / "webhooks.md").read_text()
    section = text.split("## Verifying a delivery", 1)[1]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    secret = webhooks.new_secret()
    monkeypatch.setenv("PORTAL_WEBHOOK_SECRET", secret)
    monkeypatch.chdir(tmp_path)
    receiver = {"__name__": "docs_receiver"}
    exec(compile(code, "docs/webhooks.md", "exec"), receiver)
    handled = []
    receiver["handle"] = handled.append
    body = json.dumps({"type": "signup.created", "data": {"reference": "r1"}})
    headers = {k.title(): v for k, v in webhooks.signature_headers(secret, "msg_1", body).items()}
    try:
        assert receiver["receive"](body.encode(), headers) == 204
        assert receiver["receive"](body.encode(), headers) == 204  # a retry: answered, not done again
        assert receiver["receive"](body.replace("r1", "r2").encode(), headers) == 400
        assert handled == [json.loads(body)]
    finally:
        receiver["done"].close()


def test_moving_an_endpoint_to_a_secret_variable_forgets_the_generated_secret(admin_client, monkeypatch):
    monkeypatch.setenv("ACME_HOOK_SECRET", webhooks.new_secret())
    portal = make_portal("acme")
    endpoint = WebhookEndpoint.objects.create(portal=portal, url="http://127.0.0.1:9000/", secret=webhooks.new_secret())
    form = {"portal": portal.pk, "url": endpoint.url, "secret_env": "ACME_HOOK_SECRET", "enabled": "on"}
    admin_client.post(f"{ENDPOINTS}{endpoint.pk}/change/", form)
    endpoint.refresh_from_db()
    assert (endpoint.secret_env, endpoint.secret) == ("ACME_HOOK_SECRET", "")
