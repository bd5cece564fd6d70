"""GET /metrics (issue #16): the token rules, what each step counts, promtool's check of the text, no
personal data in any label, the dashboard's queries, and two gunicorn workers adding up (and keeping
their counts when one is killed and replaced)."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
from botocore.stub import Stubber
from django.test import Client
from prometheus_client.parser import text_string_to_metric_families

from signup import cognito, flows, guards, metrics, operators, webhooks
from signup.models import SignupAttempt, WebhookDelivery, WebhookEndpoint
from tests.factories import make_portal
from tests.webhook_receiver import Receiver

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "scrape-token-for-tests"
USERNAME = "metricsperson7"
EMAIL = "metrics.person7@example.org"
PASSWORD = "Pr0metheus!Secret"
PAGE = {"username": USERNAME, "password": PASSWORD, "email": EMAIL, "custom_company": "Acme"}


def scrape(client: Client, token: str = TOKEN):
    return client.get("/metrics", headers={"Authorization": f"Bearer {token}"})


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(text: str, name: str, **labels: str) -> float:
    return samples(text).get((name, tuple(sorted(labels.items()))), 0.0)


# --- 1. The token rules ------------------------------------------------------------------------------------


def test_without_a_token_configured_the_endpoint_is_off(client, settings):
    settings.METRICS_TOKEN = ""
    assert client.get("/metrics").status_code == 404
    assert scrape(client, "anything").status_code == 404


@pytest.mark.parametrize("authorization", [None, "Bearer wrong-token", f"Basic {TOKEN}", f"Bearer {TOKEN}x", "Bearer"])
def test_a_missing_or_wrong_token_gets_401_and_nothing_else(client, settings, authorization):
    settings.METRICS_TOKEN = TOKEN
    headers = {"Authorization": authorization} if authorization else {}
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 401
    assert response.content == b""
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert not response.cookies


def test_the_right_token_gets_the_text_format_without_cookies(client, settings):
    settings.METRICS_TOKEN = TOKEN
    response = scrape(client)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=0.0.4")
    assert not response.cookies and "no-cache" in response["Cache-Control"]
    assert b"# TYPE signup_attempts_total counter" in response.content


# --- 2. What each step counts -----------------------------------------------------------------------------


@pytest.fixture
def exposition(db, client, settings, stub, worker_in_this_process):
    """A sign-up, a refusal, a confirmation (wrong code, then right), a resend, a form view on the page
    and the API, a webhook delivery and a reconciliation; the text before and after."""
    settings.METRICS_TOKEN = TOKEN
    before = scrape(client).content.decode()
    portal = make_portal()
    with Receiver(webhooks.new_secret()) as receiver:
        WebhookEndpoint.objects.create(portal=portal, url=receiver.url, secret=webhooks.new_secret())
        assert client.get("/signup/acme/").status_code == 200
        assert client.get("/api/v1/portals/acme/form").status_code == 200
        stub.add_response("sign_up", {"UserConfirmed": False, "UserSub": "sub-7"})
        assert client.post("/signup/acme/", PAGE).status_code == 302
        assert client.post("/signup/acme/", {**PAGE, guards.HONEYPOT_FIELD: EMAIL}).status_code == 400
        stub.add_response("resend_confirmation_code", {})
        stub.add_client_error("confirm_sign_up", service_error_code="CodeMismatchException", service_message=EMAIL)
        stub.add_response("confirm_sign_up", {})
        step = flows.StepRequest(username=USERNAME, code="000000")
        assert flows.signup_resend(portal=portal, request=step).ok
        assert not flows.signup_confirm(portal=portal, request=step).ok
        assert flows.signup_confirm(portal=portal, request=step).ok
        delivery = WebhookDelivery.objects.order_by("id").first()
        assert delivery is not None
        webhooks.deliver.call(delivery.pk)
        assert receiver.requests
    unknown = SignupAttempt.objects.create(portal=portal, username=USERNAME, status="unknown")
    with Stubber(cognito.client_for("us-east-1", None, public=False)) as admin:
        admin.add_client_error("admin_get_user", service_error_code="UserNotFoundException", service_message=USERNAME)
        assert operators.attempt_reconcile(attempt=unknown).ok
    after = scrape(client).content.decode()
    return before, after


def test_each_step_is_counted_under_its_labels(exposition):
    before, after = exposition

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert grew("signup_attempts_total", portal="acme", channel="web", status="ok") == 1
    assert grew("signup_attempts_total", portal="acme", channel="web", status="blocked") == 1
    assert grew("signup_guard_refusals_total", reason="Honeypot") == 1
    assert grew("signup_form_views_total", portal="acme", channel="web") == 1
    assert grew("signup_form_views_total", portal="acme", channel="api") == 1
    assert grew("signup_confirmations_total", outcome="ok") == 1
    assert grew("signup_confirmations_total", outcome="rejected") == 1
    assert grew("signup_code_resends_total", outcome="ok") == 1
    assert grew("signup_webhook_deliveries_total", outcome="delivered") == 1
    assert grew("signup_reconciliations_total", result="not_found") == 1
    assert grew("signup_cognito_call_duration_seconds_count", operation="sign_up", outcome="ok") == 1
    assert grew("signup_cognito_call_duration_seconds_count", operation="confirm_sign_up", outcome="error") == 1
    assert grew("signup_cognito_errors_total", operation="confirm_sign_up", code="CodeMismatchException") == 1
    assert grew("signup_cognito_errors_total", operation="admin_get_user", code="UserNotFoundException") == 1


def test_no_label_anywhere_carries_the_visitors_data_or_the_secret(exposition, client_secret):
    _, after = exposition
    labels = [v for family in text_string_to_metric_families(after) for s in family.samples for v in s.labels.values()]
    assert labels
    for secret in (USERNAME, EMAIL, PASSWORD, client_secret, "000000", "sub-7"):
        assert not [v for v in labels if secret.lower() in v.lower()], secret
    for secret in (USERNAME, EMAIL, PASSWORD, client_secret):  # nor anywhere else (the code's digits may be)
        assert secret not in after, secret


def test_promtool_passes_the_text(exposition):
    promtool = shutil.which("promtool") or "/usr/bin/promtool"
    assert os.access(promtool, os.X_OK), "promtool is missing: run `make promtool` (Debian's prometheus package)"
    _, after = exposition
    checked = subprocess.run([promtool, "check", "metrics"], input=after, capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert not (checked.stdout + checked.stderr).strip(), checked.stdout + checked.stderr  # no lint warnings


def test_an_unknown_code_becomes_a_bounded_label():
    assert metrics.label("x" * 500) == "x" * metrics.MAX_LABEL
    assert metrics.label("Bad code\n{}") == "Bad_code___"
    assert metrics.label("") == "none"


# --- 3. The dashboard ---------------------------------------------------------------------------------------


def test_the_dashboard_queries_only_metrics_that_exist():
    dashboard = json.loads((ROOT / "docs" / "grafana-dashboard.json").read_text())
    exprs = [t["expr"] for panel in dashboard["panels"] for t in panel.get("targets", [])]
    assert len(exprs) >= 8
    suffixes = ("_bucket", "_count", "_sum")
    named = set()
    for expr in exprs:
        for name in re.findall(r"\b(signup_[a-z_]+)", expr):
            base = next((name.removesuffix(s) for s in suffixes if name.removesuffix(s) in metrics.NAMES), name)
            named.add(base)
            assert base in metrics.NAMES, (name, expr)
    assert named == metrics.NAMES  # and every metric is on it


def test_every_metric_family_is_named_in_names():
    from prometheus_client import REGISTRY

    ours = {name for name in REGISTRY._names_to_collectors if name.startswith("signup_")}
    families = {m.name for c in {REGISTRY._names_to_collectors[n] for n in ours} for m in c.describe()}
    assert {f.removesuffix("_total") if f.endswith("_total") else f for f in families} <= {
        n.removesuffix("_total") for n in metrics.NAMES
    }
    assert len(metrics.NAMES) == 9


# --- 4. Two gunicorn workers ------------------------------------------------------------------------------


def test_two_workers_add_up_and_keep_their_counts_when_one_is_replaced():
    from perfkit.client import Connection, build, get
    from perfkit.stack import Stack, children

    stack = Stack("metrics", "demo", settings="bench.benchsite")
    try:
        metrics_dir = stack.workdir / "prometheus"
        (metrics_dir).mkdir()
        (metrics_dir / "counter_999999.db").write_bytes(b"left over from an earlier run")
        stack.extra_env.update(
            {"WEB_CONCURRENCY": "2", "METRICS_TOKEN": TOKEN, "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)}
        )
        stack.start_emulator()
        stack.open_database("sqlite")
        stack.add_portal("Demo")
        process, port, _ = stack.start_portal("web")
        host = "127.0.0.1"

        def sign_up(index: int) -> bytes:
            body = {
                "username": f"worker{index}",
                "password": f"Wk!{index:04d}abcdefZ9",
                "attributes": {
                    "email": f"worker{index}@example.com",
                    "given_name": "Worker",
                    "family_name": f"Number {index}",
                    "custom:company": "Metrics Ltd",
                },
            }
            raw = json.dumps(body).encode()
            return build("POST", host, port, "/api/v1/portals/demo/signups", body=raw, content_type="application/json")

        scrape_request = build("GET", host, port, "/metrics", headers={"Authorization": f"Bearer {TOKEN}"})

        async def by_worker(workers: set[int]) -> dict[int, Connection]:
            held: dict[int, Connection] = {}
            deadline = time.monotonic() + 30
            while set(held) != workers and time.monotonic() < deadline:
                connection = Connection(host, port, timeout=30)
                pid = int((await connection.request(get(host, port, "/bench/pid/"))).body)
                if pid in workers and pid not in held:
                    held[pid] = connection
                else:
                    connection.close()
            assert set(held) == workers, f"not every worker answered: {held} of {workers}"
            return held

        async def attempts_counted() -> float:
            connection = Connection(host, port, timeout=30)
            try:
                answer = await connection.request(scrape_request)
            finally:
                connection.close()
            assert answer.status == 200, answer.body[:500]
            text = answer.body.decode()
            return sum(
                s.value
                for family in text_string_to_metric_families(text)
                for s in family.samples
                if s.name == "signup_attempts_total" and s.labels.get("channel") == "api"
            )

        async def run() -> tuple[float, float, float]:
            deadline = time.monotonic() + 60
            while len(workers := set(children(process.popen.pid))) != 2:
                assert time.monotonic() < deadline, f"not two workers: {workers}"
                await asyncio.sleep(0.2)
            held = await by_worker(workers)
            index = 0
            for count, connection in zip((3, 2), held.values(), strict=True):
                for _ in range(count):
                    index += 1
                    answer = await connection.request(sign_up(index))
                    assert answer.status == 201, answer.body[:500]
            for connection in held.values():
                connection.close()
            summed = await attempts_counted()
            victim = next(iter(workers))
            os.kill(victim, signal.SIGKILL)
            deadline = time.monotonic() + 60
            while True:
                now = set(children(process.popen.pid))
                if len(now) == 2 and victim not in now:
                    break
                assert time.monotonic() < deadline, "gunicorn did not replace the killed worker"
                await asyncio.sleep(0.2)
            replacement = (now - workers).pop()
            held = await by_worker(now)
            answer = await held[replacement].request(sign_up(99))
            assert answer.status == 201, answer.body[:500]
            for connection in held.values():
                connection.close()
            return summed, await attempts_counted(), float(index)

        summed, after_restart, sent = asyncio.run(run())
        assert summed == sent == 5  # 3 in one worker + 2 in the other: the left-over file was emptied away
        assert after_restart == 6  # the killed worker's 3 or 2 are still counted, plus the replacement's 1
    finally:
        stack.close()
