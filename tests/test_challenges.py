"""The portal's challenge (ALTCHA, Turnstile, hCaptcha) and its rules on who may sign up, on the page, the
API and the command line: every refusal is recorded as blocked with its reason and never reaches Cognito."""

import base64
import json
import os
import re
import subprocess
import sys

import altcha
import pytest
from django.test import Client

from signup.models import SignupAttempt
from tests.factories import make_portal
from tests.test_api import BASE, assert_problem, post, signed_up
from tests.test_cli import run

pytestmark = pytest.mark.django_db

GOOD = {"username": "alice", "password": "Str0ng!Passw0rd", "email": "alice@example.com"}
PASSWORD = "Str0ng!Passw0rd"
ALICE, BOB = "Name=email,Value=alice@example.com", "Name=email,Value=bob@example.com"
API_GOOD = {"username": "alice", "password": "Str0ng!Passw0rd", "attributes": {"email": "alice@example.com"}}


@pytest.fixture(autouse=True)
def quick_challenges(settings):
    # The library's own solver in Python: few guesses, one iteration each, so a solve takes milliseconds.
    settings.SIGNUP_ALTCHA_COUNTER = (20, 60)


@pytest.fixture
def portal():
    return make_portal(challenge="altcha", challenge_cost=1)


def solve(challenge: dict) -> str:
    issued = altcha.Challenge.from_dict(challenge)
    return altcha.Payload(issued, altcha.solve_challenge(issued)).to_base64()


def solved(client: Client, slug: str = "acme") -> str:
    response = client.get(f"/signup/{slug}/challenge")
    assert response.status_code == 200 and response["Cache-Control"] == "no-store"
    return solve(response.json())


def shown_token(client: Client, slug: str = "acme") -> str:
    page = client.get(f"/signup/{slug}/").content.decode()
    return re.search(r'name="form_token" value="([^"]+)"', page).group(1)


def submit(client: Client, answer: str | None, slug: str = "acme", **values: str):
    data = {**GOOD, **values, "form_token": shown_token(client, slug)}
    if answer is not None:
        data["altcha"] = answer
    return client.post(f"/signup/{slug}/", data)


def only_attempt() -> SignupAttempt:
    return SignupAttempt.objects.get()


# --- ALTCHA on the page ----------------------------------------------------------------------------------


def test_a_solved_challenge_signs_up(portal, stub):
    signed_up(stub)
    client = Client()
    response = submit(client, solved(client))
    assert response.status_code == 302 and "/confirm/" in response["Location"]
    assert only_attempt().status == "succeeded"


@pytest.mark.parametrize(
    ("answer", "code", "text"),
    [
        (None, "ChallengeMissing", "Complete the check that you are not a robot"),
        ("", "ChallengeMissing", "Complete the check that you are not a robot"),
        ("not base64 at all", "ChallengeInvalid", "did not pass"),
        (base64.b64encode(b'{"challenge": 1}').decode(), "ChallengeInvalid", "did not pass"),
        ("x" * 5000, "ChallengeInvalid", "did not pass"),
    ],
    ids=["absent", "empty", "garbage", "wrong-shape", "oversized"],
)
def test_a_missing_or_malformed_answer_is_blocked_before_cognito(portal, answer, code, text):
    response = submit(Client(), answer)  # no stub: a call to Cognito would not be answered
    assert response.status_code == 400
    page = response.content.decode()
    assert text in page
    assert 'value="alice@example.com"' in page  # nothing typed is lost
    attempt = only_attempt()
    assert (attempt.status, attempt.error_code) == ("blocked", code)


def test_a_solution_is_accepted_once(portal, stub):
    signed_up(stub)
    client = Client()
    answer = solved(client)
    assert submit(client, answer).status_code == 302
    again = submit(client, answer, username="bob")
    assert again.status_code == 400 and "already used" in again.content.decode()
    assert SignupAttempt.objects.filter(error_code="ChallengeReplayed").count() == 1


SHARED_CACHE = "redis://127.0.0.1:6379/14"  # `make test` starts Redis for both of its runs
SPEND_ELSEWHERE = """
import sys, django
django.setup()
from signup import challenges
from signup.models import Portal
print("accepted" if challenges.check(Portal(slug="acme", challenge="altcha"), sys.argv[1], None) == "" else "refused")
"""


def test_a_solution_accepted_by_another_process_is_refused_here(portal, settings):
    # Two portal processes (gunicorn workers, or hosts) share the cache, as production's Redis is shared.
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": SHARED_CACHE}}
    from django.core.cache import cache

    cache.clear()
    client = Client()
    answer = solved(client)
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        "CACHE_URL": SHARED_CACHE,
        "SECRET_KEY": settings.SECRET_KEY,
        "DEBUG": "1",
    }
    other = subprocess.run(
        [sys.executable, "-c", SPEND_ELSEWHERE, answer], env=env, capture_output=True, text=True, timeout=60
    )
    assert other.stdout.strip() == "accepted", other.stderr
    response = submit(client, answer)
    assert response.status_code == 400 and "already used" in response.content.decode()
    assert only_attempt().error_code == "ChallengeReplayed"


def test_an_expired_challenge_is_refused(portal, settings):
    settings.SIGNUP_CHALLENGE_MAX_AGE = -5  # issued already expired
    client = Client()
    response = submit(client, solved(client))
    assert "has expired" in response.content.decode()
    assert only_attempt().error_code == "ChallengeExpired"


def test_a_tampered_solution_or_another_portals_challenge_is_refused(portal):
    make_portal("cheap", challenge="altcha", challenge_cost=1)
    client = Client()
    payload = json.loads(base64.b64decode(solved(client)))
    payload["solution"]["derivedKey"] = "00" * 32  # a guess: the signed key does not match
    tampered = base64.b64encode(json.dumps(payload).encode()).decode()
    assert submit(client, tampered).status_code == 400
    assert submit(client, solved(client, "cheap")).status_code == 400  # solved for another portal
    assert list(SignupAttempt.objects.values_list("error_code", flat=True)) == ["ChallengeInvalid"] * 2


def test_the_page_carries_the_widget_and_says_it_needs_javascript(portal):
    response = Client().get("/signup/acme/")
    page = response.content.decode()
    assert '<altcha-widget challenge="/signup/acme/challenge" name="altcha"' in page
    assert "vendor/altcha/altcha.min.js" in page and "vendor/altcha/workers/pbkdf2.js" in page
    assert "<noscript>" in page and "needs JavaScript" in page
    policy = response["Content-Security-Policy"]
    assert "challenges.cloudflare.com" not in policy and "hcaptcha" not in policy  # ALTCHA is all ours


@pytest.mark.parametrize(("language", "file"), [("de", "i18n/de.js"), ("es", "i18n/es-es.js"), ("en", None)])
def test_the_widget_speaks_the_pages_language(portal, language, file):
    page = Client(headers={"accept-language": language}).get("/signup/acme/").content.decode()
    assert f'lang="{language}"' in page
    if file:
        assert f"vendor/altcha/{file}" in page
    else:
        assert "vendor/altcha/i18n/" not in page  # English is built into the widget


def test_a_portal_without_a_challenge_shows_none_and_needs_none(stub):
    make_portal(challenge="off")
    signed_up(stub)
    client = Client()
    assert "altcha-widget" not in client.get("/signup/acme/").content.decode()
    assert client.get("/signup/acme/challenge").status_code == 404
    assert submit(client, None).status_code == 302


def test_new_portals_get_altcha_by_default():
    from signup.models import Portal

    assert Portal(slug="x").challenge == "altcha"


# --- ALTCHA through the API and the command line ---------------------------------------------------------


def test_the_api_hands_out_challenges_and_refuses_a_sign_up_without_one(portal, stub):
    api = Client(enforce_csrf_checks=True)
    form = api.get(f"{BASE}/acme/form").json()
    assert form["challenge"] == {"type": "altcha", "url": f"http://testserver{BASE}/acme/challenge", "site_key": ""}
    refused = assert_problem(post(api, f"{BASE}/acme/signups", API_GOOD), 400, "challenge_missing")
    assert "robot" in refused["detail"]
    signed_up(stub)
    answer = solve(api.get(f"{BASE}/acme/challenge").json())
    created = post(api, f"{BASE}/acme/signups", {**API_GOOD, "altcha": answer})
    assert created.status_code == 201, created.content
    replayed = post(api, f"{BASE}/acme/signups", {**API_GOOD, "username": "bob", "altcha": answer})
    assert_problem(replayed, 400, "challenge_replayed")


def test_a_refused_challenge_does_not_spend_the_idempotency_key(portal, stub):
    api = Client()
    key = {"Idempotency-Key": "k-1"}
    assert_problem(post(api, f"{BASE}/acme/signups", {**API_GOOD, "altcha": "bad"}, **key), 400)
    signed_up(stub)
    answer = solve(api.get(f"{BASE}/acme/challenge").json())
    created = post(api, f"{BASE}/acme/signups", {**API_GOOD, "altcha": answer}, **key)
    assert created.status_code == 201, created.content  # not a 422: the same request, a new solution
    # A retry of the created sign-up with yet another solution answers the first answer.
    again = post(api, f"{BASE}/acme/signups", {**API_GOOD, "altcha": "whatever"}, **key)
    assert again.status_code == 201 and again["Idempotent-Replayed"] == "true"


def test_the_api_has_no_challenge_for_a_portal_without_one():
    make_portal(challenge="off")
    api = Client()
    assert api.get(f"{BASE}/acme/form").json()["challenge"] is None
    assert_problem(api.get(f"{BASE}/acme/challenge"), 404, "api_no_challenge")


def test_the_command_line_is_exempt_from_the_challenge_only(portal, stub, client_secret):
    signed_up(stub)
    done = run("signup", "acme", "--username", "alice", "--password", PASSWORD, "--user-attributes", ALICE)
    assert done.code == 0, done.stderr
    portal.email_domains_denied = ["example.com"]
    portal.save()
    refused = run("signup", "acme", "--username", "bob", "--password", PASSWORD, "--user-attributes", BOB)
    assert refused.code != 0 and "domain" in refused.stderr
    assert list(SignupAttempt.objects.values_list("status", flat=True).order_by("created_at")) == [
        "succeeded",
        "blocked",
    ]


# --- Who may sign up -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rules", "values", "field", "code", "text"),
    [
        ({"email_domains_denied": ["example.com"]}, {"email": "a@mail.EXAMPLE.com"}, "email", "EmailDomain", "domain"),
        ({"email_domains_allowed": ["corp.example"]}, {"email": "a@example.com"}, "email", "EmailDomain", "domain"),
        ({"block_disposable_email": True}, {"email": "a@mailinator.com"}, "email", "DisposableEmail", "Disposable"),
    ],
    ids=["denied-subdomain", "not-allowed", "disposable"],
)
def test_an_address_the_portal_refuses_is_blocked_on_its_field(rules, values, field, code, text):
    make_portal(challenge="off", **rules)
    response = submit(Client(), None, **values)
    assert response.status_code == 400
    page = response.content.decode()
    assert re.search(rf'id="id_{field}_error1">[^<]*{text}', page), page[:3000]
    attempt = only_attempt()
    assert (attempt.status, attempt.error_code) == ("blocked", code)
    assert attempt.form_errors and field in attempt.form_errors


def test_an_allowed_address_goes_to_cognito(stub):
    make_portal(challenge="off", email_domains_allowed=["example.com"], block_disposable_email=True)
    signed_up(stub)
    assert submit(Client(), None, email="alice+news@Mail.Example.com").status_code == 302


def test_a_phone_outside_the_allowed_regions_never_reaches_cognito_on_any_channel(stub):
    from tests.factories import describe_pool, snapshot

    pool = describe_pool(required=("email", "phone_number"), UsernameAttributes=["phone_number"])
    make_portal(challenge="off", phone_regions=["US"], snap=snapshot(pool=pool))
    page = submit(Client(), None, username="+4915123456789", email="a@example.com")
    assert page.status_code == 400 and "country or region" in page.content.decode()
    api = post(Client(), f"{BASE}/acme/signups", {**API_GOOD, "username": "+447911123456"})
    body = assert_problem(api, 400)
    assert body["errors"]["username"][0]["code"] == "phone_region_refused"
    signed_up(stub)
    assert submit(Client(), None, username="+14155552671", email="a@example.com").status_code == 302
    assert list(SignupAttempt.objects.values_list("error_code", flat=True).order_by("created_at")) == [
        "PhoneRegion",
        "PhoneRegion",
        "",
    ]
