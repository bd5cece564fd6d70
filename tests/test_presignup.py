"""The portal's pre sign-up hook (#15) on the page, the API and the command line, against a receiver on
loopback that checks each request's signature with the standardwebhooks library: its "yes" goes on to
Cognito, its "no" puts its errors on the form and records the attempt as blocked, and no usable answer
follows the portal's choice (fail open or fail closed), never a 500."""

from __future__ import annotations

import base64
import html
import json
import logging
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from django.test import Client
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from signup import presignup
from signup.guards import form_token
from signup.messages import message
from signup.models import Portal, SignupAttempt, ValidationDataField
from tests.factories import make_portal
from tests.test_api import BASE, assert_problem, post, signed_up
from tests.test_challenges import unchanged_form
from tests.test_cli import run

pytestmark = pytest.mark.django_db

SECRET = "whsec_" + base64.b64encode(b"pre-signup-hook-test-key").decode()
PASSWORD = "Str0ng!Passw0rd"
PAGE = {"username": "alice", "password": PASSWORD, "email": "alice@example.com", "vd_invite_code": "INV-42"}
API = {
    "username": "alice",
    "password": PASSWORD,
    "attributes": {"email": "alice@example.com"},
    "validation_data": {"invite_code": "INV-42"},
}
CLI = ("--username", "alice", "--password", PASSWORD, "--user-attributes", "Name=email,Value=alice@example.com")
ALLOW = {"allow": True}
DENY = {
    "allow": False,
    "errors": {
        "email": "We only take work addresses.",
        "invite_code": "This invitation was used already.",
        "favourite_colour": "Nobody likes mauve.",
    },
    "message": "Your sign-up needs a closer look.",
}


class HookReceiver:
    """The operator's hook: verifies each request's signature, keeps what it was sent, answers as told.

    `answer` is (status, body): a dict is sent as JSON, bytes or str as they are. `delay` holds the
    answer back that many seconds; `hang_up` closes the connection without answering."""

    def __init__(self, secret: str = SECRET):
        self.secret = secret
        self.answer: tuple[int, Any] = (200, ALLOW)
        self.delay = 0.0
        self.hang_up = False
        self.requests: list[dict[str, Any]] = []
        self._closing = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_port}/hooks/pre-signup?tenant=acme"

    def __enter__(self) -> HookReceiver:
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._closing.set()
        self._server.shutdown()
        self._server.server_close()

    @property
    def payloads(self) -> list[dict[str, Any]]:
        return [r["payload"] for r in self.requests]

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                headers = dict(self.headers.items())
                try:
                    payload = Webhook(receiver.secret).verify(raw, headers)
                except WebhookVerificationError:
                    payload = None
                receiver.requests.append({"path": self.path, "headers": headers, "raw": raw, "payload": payload})
                if payload is None:
                    self._send(401, b'{"error": "bad signature"}')
                    return
                if receiver.hang_up:
                    self.close_connection = True
                    return
                if receiver.delay and receiver._closing.wait(receiver.delay):
                    return
                status, body = receiver.answer
                if isinstance(body, dict | list):
                    body = json.dumps(body)
                self._send(status, body.encode() if isinstance(body, str) else body)

            def _send(self, status: int, content: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(content)))
                if 300 <= status < 400:
                    self.send_header("Location", "/elsewhere")
                self.end_headers()
                self.wfile.write(content)

            def log_message(self, *args: object) -> None:
                pass

        return Handler


@pytest.fixture(autouse=True)
def nothing_crashed(caplog):
    """Whatever the hook does is an answer the flow expected: no error (a traceback) is ever logged."""
    yield
    crashed = [r.getMessage() for r in caplog.get_records("call") if r.name == "signup" and r.levelno >= logging.ERROR]
    assert crashed == []


@pytest.fixture
def hook(settings):
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = True  # the receiver is on loopback, as in development
    settings.PRE_SIGNUP_HOOK_TIMEOUT_SECONDS = 0.5
    with HookReceiver() as receiver:
        yield receiver


def hooked_portal(hook: HookReceiver, *, fail_open: bool = False, **fields: Any) -> Portal:
    values = {"pre_signup_hook_url": hook.url, "pre_signup_hook_secret": SECRET, "pre_signup_hook_fail_open": fail_open}
    portal = make_portal(challenge="off", **{**values, **fields})
    ValidationDataField.objects.create(portal=portal, name="invite_code", label="Invite code")
    return portal


def only_attempt() -> SignupAttempt:
    return SignupAttempt.objects.get()


def field_error(page: str, field: str) -> str:
    found = re.search(rf'id="id_{field}_error1">(.*?)</p>', page, re.S)
    return html.unescape(found.group(1)) if found else ""


def errors_above_the_form(page: str) -> str:
    """The error summary's text (the general message and the errors that belong to no field)."""
    found = re.search(r'<div[^>]*id="error-summary"[^>]*>(.*?)</div>', page, re.S)
    return html.unescape(re.sub(r"<[^>]+>", " ", found.group(1))) if found else ""


# --- Yes ---------------------------------------------------------------------------------------------------


def test_a_hook_that_allows_lets_the_sign_up_go_on_and_never_sees_the_password(client, hook, stub):
    hooked_portal(hook)
    signed_up(stub)
    response = client.post("/signup/acme/", PAGE)
    assert response.status_code == 302 and "/confirm/" in response["Location"]
    assert only_attempt().status == "succeeded"
    [request] = hook.requests
    assert request["path"] == "/hooks/pre-signup?tenant=acme"
    assert request["payload"] is not None, "the signature did not verify"
    assert request["headers"]["webhook-id"].startswith("msg_")
    assert request["payload"]["type"] == "signup.pre"
    data = request["payload"]["data"]
    assert data["portal"] == "acme" and data["channel"] == "web" and data["username"] == "alice"
    assert data["attributes"] == {"email": "alice@example.com", "custom:newsletter": "false"}  # as Cognito gets them
    assert data["validation_data"] == {"invite_code": "INV-42"}
    everything = request["path"] + json.dumps(request["headers"]) + request["raw"].decode()
    assert PASSWORD not in everything and "password" not in request["raw"].decode().lower()


def test_the_api_and_the_command_line_ask_the_hook_too(hook, stub, client_secret):
    hooked_portal(hook)
    signed_up(stub)
    signed_up(stub)
    assert post(Client(), f"{BASE}/acme/signups", API).status_code == 201
    done = run("signup", "acme", *CLI[:1], "bob", *CLI[2:])
    assert done.code == 0, done.stderr
    assert [p["data"]["channel"] for p in hook.payloads] == ["api", "cli"]
    assert all(PASSWORD not in r["raw"].decode() for r in hook.requests)


def test_a_secret_from_the_environment_signs_and_none_at_all_is_no_answer(client, hook, stub, monkeypatch):
    other = "whsec_" + base64.b64encode(b"another-secret-from-env!").decode()
    hooked_portal(hook, pre_signup_hook_secret="", pre_signup_hook_secret_env="ACME_HOOK_SECRET")
    monkeypatch.setenv("ACME_HOOK_SECRET", other)
    hook.secret = other
    signed_up(stub)
    assert client.post("/signup/acme/", PAGE).status_code == 302
    monkeypatch.delenv("ACME_HOOK_SECRET")
    refused = client.post("/signup/acme/", {**PAGE, "username": "bob"})
    assert message("pre_signup_unavailable") in html.unescape(refused.content.decode())
    assert len(hook.requests) == 1  # nothing is sent unsigned
    assert SignupAttempt.objects.filter(error_code="PreSignupHookUnavailable").count() == 1


def test_the_same_form_sent_again_answers_its_first_outcome_without_asking_again(client, hook, stub):
    hooked_portal(hook)
    signed_up(stub)
    token = form_token()
    first = client.post("/signup/acme/", {**PAGE, "form_token": token})
    hook.answer = (200, DENY)  # the hook would now say no: the first sign-up stands
    again = client.post("/signup/acme/", {**PAGE, "form_token": token})
    assert first.status_code == again.status_code == 302
    assert len(hook.requests) == 1 and only_attempt().status == "succeeded"


# --- No, with reasons --------------------------------------------------------------------------------------


def test_a_refusal_puts_the_hooks_errors_on_the_fields_and_its_message_above(client, hook, stub):
    hooked_portal(hook)
    hook.answer = (200, DENY)
    response = client.post("/signup/acme/", PAGE)  # no SignUp stubbed: a call would fail the stub
    assert response.status_code == 400
    page = response.content.decode()
    assert field_error(page, "email") == "We only take work addresses."
    assert field_error(page, "vd_invite_code") == "This invitation was used already."
    above = errors_above_the_form(page)
    assert "Your sign-up needs a closer look." in above and "Nobody likes mauve." in above
    assert 'value="alice@example.com"' in page  # what was typed is kept
    attempt = only_attempt()
    assert (attempt.status, attempt.error_code) == ("blocked", "PreSignupHook")
    assert set(attempt.form_errors) == {"email", "vd_invite_code", "__all__"}


def test_a_refusal_without_a_message_shows_ours(client, hook, stub):
    hooked_portal(hook)
    hook.answer = (200, {"allow": False})
    response = client.post("/signup/acme/", PAGE)
    assert response.status_code == 400
    assert message("pre_signup_refused") in errors_above_the_form(response.content.decode())


def test_the_api_answers_a_refusal_with_a_400_keyed_by_attribute_name(hook, stub):
    hooked_portal(hook)
    hook.answer = (200, {**DENY, "errors": {**DENY["errors"], "username": "Taken on our side."}})
    body = assert_problem(post(Client(), f"{BASE}/acme/signups", API), 400, "pre_signup_refused")
    assert body["detail"] == "Your sign-up needs a closer look."
    assert {name: [e["message"] for e in found] for name, found in body["errors"].items()} == {
        "email": ["We only take work addresses."],
        "invite_code": ["This invitation was used already."],
        "username": ["Taken on our side."],
        "__all__": ["Nobody likes mauve."],
    }
    assert (only_attempt().status, only_attempt().error_code) == ("blocked", "PreSignupHook")


def test_the_command_line_refuses_naming_the_hooks_errors(hook, stub, client_secret):
    hooked_portal(hook)
    hook.answer = (200, DENY)
    refused = run("signup", "acme", *CLI)
    assert refused.code != 0
    assert "Your sign-up needs a closer look." in refused.stderr
    assert "UserAttributes email: We only take work addresses." in refused.stderr
    assert "Nobody likes mauve." in refused.stderr
    assert "(PreSignupHook)" in refused.stderr
    assert (only_attempt().status, only_attempt().error_code) == ("blocked", "PreSignupHook")


def test_a_hostile_answer_is_shown_escaped_bounded_and_without_control_characters(client, hook, stub):
    hooked_portal(hook)
    script = "<script>alert(1)</script>"
    hook.answer = (
        200,
        {
            "allow": False,
            "errors": {"email": f"{script}\x1b[31mred\u202eevil\u200b\r\nline" + "x" * 5000},
            "message": f"<b>{script}</b>\x00\x07" + "y" * 10_000,
        },
    )
    response = client.post("/signup/acme/", PAGE)
    page = response.content.decode()
    assert response.status_code == 400
    assert script not in page and "<b>&lt;" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page  # shown as text
    shown = field_error(page, "email")
    assert shown.startswith(f"{script}[31mredevil line") and len(shown) <= presignup.MAX_ERROR_TEXT
    assert not re.search(r"[\x00-\x1f\x7f\u200b\u202e]", shown)
    assert "y" * presignup.MAX_MESSAGE not in page and "y" * 400 in page
    api = assert_problem(post(Client(), f"{BASE}/acme/signups", API), 400, "pre_signup_refused")
    assert len(api["detail"]) <= presignup.MAX_MESSAGE and "\x00" not in api["detail"]


# --- No usable answer -----------------------------------------------------------------------------------


def test_a_slow_hook_with_fail_closed_refuses_politely_on_every_channel(client, hook, client_secret):
    hooked_portal(hook, fail_open=False)
    hook.delay = 3
    started = time.monotonic()
    page = client.post("/signup/acme/", PAGE)
    assert time.monotonic() - started < 2  # the timeout, not the hook, decides how long it takes
    assert page.status_code == 200
    assert message("pre_signup_unavailable") in html.unescape(page.content.decode())
    api = post(Client(), f"{BASE}/acme/signups", API)
    assert_problem(api, 503, "pre_signup_unavailable")
    assert api["Retry-After"]
    cli = run("signup", "acme", *CLI)
    assert cli.code != 0 and message("pre_signup_unavailable") in cli.stderr
    assert (
        list(SignupAttempt.objects.values_list("status", "error_code")) == [("blocked", "PreSignupHookUnavailable")] * 3
    )


def test_a_slow_hook_with_fail_open_lets_the_sign_up_go_on(client, hook, stub):
    hooked_portal(hook, fail_open=True)
    hook.delay = 3
    signed_up(stub)
    response = client.post("/signup/acme/", PAGE)
    assert response.status_code == 302 and only_attempt().status == "succeeded"


BAD_ANSWERS = {
    "error-status": (500, ALLOW),
    "redirect": (302, ALLOW),
    "not-json": (200, "<html>Please wait…</html>"),
    "allow-not-boolean": (200, {"allow": "yes"}),
    "no-allow": (200, {"ok": True}),
    "a-list": (200, [ALLOW]),
    "errors-not-a-dict": (200, {"allow": False, "errors": ["email"]}),
    "errors-not-strings": (200, {"allow": False, "errors": {"email": 3}}),
    "message-not-a-string": (200, {"allow": False, "message": {"text": "no"}}),
    "oversized": (200, {"allow": True, "padding": "x" * 20_000}),  # whole JSON, but more than a verdict needs
    "not-utf8": (200, b'{"allow": true, "x": "\xff"}'),
}


@pytest.mark.parametrize("answer", BAD_ANSWERS.values(), ids=BAD_ANSWERS.keys())
def test_a_bad_answer_with_fail_closed_is_refused_politely(client, hook, answer):
    hooked_portal(hook, fail_open=False)
    hook.answer = answer
    response = client.post("/signup/acme/", PAGE)
    assert response.status_code == 200
    assert message("pre_signup_unavailable") in html.unescape(response.content.decode())
    assert (only_attempt().status, only_attempt().error_code) == ("blocked", "PreSignupHookUnavailable")


@pytest.mark.parametrize("answer", BAD_ANSWERS.values(), ids=BAD_ANSWERS.keys())
def test_a_bad_answer_with_fail_open_lets_the_sign_up_go_on(client, hook, stub, answer):
    hooked_portal(hook, fail_open=True)
    hook.answer = answer
    signed_up(stub)
    assert client.post("/signup/acme/", PAGE).status_code == 302
    assert only_attempt().status == "succeeded"


@pytest.mark.parametrize("fail_open", [False, True], ids=["closed", "open"])
def test_a_hook_that_hangs_up_or_cannot_be_reached_follows_the_portals_choice(hook, stub, fail_open):
    hooked_portal(hook, fail_open=fail_open)
    hook.hang_up = True
    if fail_open:
        signed_up(stub)
        signed_up(stub)
    first = post(Client(), f"{BASE}/acme/signups", API)
    Portal.objects.update(pre_signup_hook_url="http://127.0.0.1:9/nobody-listens")
    second = post(Client(), f"{BASE}/acme/signups", {**API, "username": "bob"})
    assert [first.status_code, second.status_code] == ([201, 201] if fail_open else [503, 503])


def test_the_hook_url_is_checked_for_where_it_may_send_when_the_portal_is_saved(settings):
    from django.core.exceptions import ValidationError

    settings.WEBHOOK_ALLOW_PRIVATE_URLS = False  # production's rules
    portal = make_portal(challenge="off")
    for url in ("http://hooks.example.com/pre", "https://127.0.0.1/pre", "https://169.254.169.254/latest"):
        portal.pre_signup_hook_url = url
        with pytest.raises(ValidationError) as refused:
            portal.full_clean()
        assert set(refused.value.message_dict) == {"pre_signup_hook_url"}, url
    portal.pre_signup_hook_url = "https://hooks.example.com/pre"
    portal.full_clean()


# --- Operators: the portal command and the admin -----------------------------------------------------------


def test_the_portal_command_sets_up_the_hook_and_shows_a_generated_secret_once(settings):
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = False
    url = "https://hooks.example.com/pre"
    added = run(
        "portal", "add", "acme", "--user-pool-id", "us-east-1_Example1", "--client-id", "abc", "--no-sync",
        "--pre-signup-hook-url", url,
    )  # fmt: skip
    assert added.code == 0, added.stderr
    portal = Portal.objects.get()
    secret = portal.pre_signup_hook_secret
    assert secret.startswith("whsec_") and added.stdout.count(secret) == 1
    assert (portal.pre_signup_hook_url, portal.pre_signup_hook_fail_open) == (url, False)

    renamed = run("portal", "update", "acme", "--name", "Acme", "--pre-signup-hook-fail-open")
    assert renamed.code == 0 and "whsec_" not in renamed.stdout and "go on" in renamed.stdout
    portal.refresh_from_db()
    assert portal.pre_signup_hook_fail_open and portal.pre_signup_hook_secret == secret

    renewed = run("portal", "update", "acme", "--pre-signup-hook-generate-secret", "--pre-signup-hook-fail-closed")
    portal.refresh_from_db()
    assert portal.pre_signup_hook_secret not in (secret, "") and portal.pre_signup_hook_secret in renewed.stdout
    assert not portal.pre_signup_hook_fail_open

    from_env = run("portal", "update", "acme", "--pre-signup-hook-secret-env", "ACME_HOOK_SECRET")
    portal.refresh_from_db()
    assert portal.pre_signup_hook_secret_env == "ACME_HOOK_SECRET" and "ACME_HOOK_SECRET" in from_env.stdout

    refused = run("portal", "update", "acme", "--pre-signup-hook-url", "http://127.0.0.1:8000/pre")
    assert refused.code != 0 and "pre_signup_hook_url" in refused.stderr
    portal.refresh_from_db()
    assert portal.pre_signup_hook_url == url

    cleared = run("portal", "update", "acme", "--pre-signup-hook-url", "")
    portal.refresh_from_db()
    assert cleared.code == 0 and portal.pre_signup_hook_url == "" and "Pre sign-up hook: none" in cleared.stdout
    assert not presignup.configured(portal)


def test_the_admin_sets_up_the_hook_and_shows_a_generated_secret_once(admin_client):
    portal = make_portal(challenge="off")
    url = f"/admin/signup/portal/{portal.pk}/change/"
    shown = admin_client.get(url)
    fieldset = shown.content.decode().split("Pre sign-up hook", 1)[1].split("</fieldset>", 1)[0]
    for field in ("pre_signup_hook_url", "pre_signup_hook_secret_env", "pre_signup_hook_fail_open"):
        assert f'id="id_{field}"' in fieldset, field
    data = {**unchanged_form(shown), "pre_signup_hook_url": "https://hooks.example.com/pre"}
    saved = admin_client.post(url, data, follow=True)
    assert saved.status_code == 200
    portal.refresh_from_db()
    secret = portal.pre_signup_hook_secret
    assert secret.startswith("whsec_")
    notices = [str(m) for m in saved.context["messages"]]
    assert sum(secret in notice for notice in notices) == 1
    again = admin_client.post(url, {**unchanged_form(admin_client.get(url)), "name": "Acme Ltd"}, follow=True)
    assert secret not in again.content.decode()
    portal.refresh_from_db()
    assert portal.pre_signup_hook_secret == secret  # kept: the receiver has it
