"""The portal's challenge (ALTCHA, Turnstile, hCaptcha) and its rules on who may sign up, on the page, the
API and the command line: every refusal is recorded as blocked with its reason and never reaches Cognito."""

import base64
import html
import json
import os
import re
import subprocess
import sys

import altcha
import pytest
from django.test import Client

from signup.captcha import HCAPTCHA, PROVIDERS
from signup.messages import message
from signup.models import Portal, SignupAttempt
from tests.captcha_standin import GOOD_TOKEN, SECRET
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


def submit(client: Client, answer: str | None, slug: str = "acme", *, field: str = "altcha", **values: str):
    """The form as the page gave it, with `answer` in the challenge's `field` (none when None)."""
    data = {**GOOD, **values, "form_token": shown_token(client, slug)}
    if answer is not None:
        data[field] = answer
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


# --- Turnstile and hCaptcha through the page and the API ---------------------------------------------------

VISITOR_IP = "203.0.113.7"
CLOUDFLARE = "https://challenges.cloudflare.com"
HCAPTCHA_HOSTS = {"https://hcaptcha.com", "https://*.hcaptcha.com"}
# What each provider's widget needs in the page's policy, from its documentation (see signup/captcha.py).
PROVIDER_SOURCES = {
    "turnstile": {"script-src": {CLOUDFLARE}, "frame-src": {CLOUDFLARE}},
    "hcaptcha": dict.fromkeys(("script-src", "frame-src", "style-src", "connect-src"), HCAPTCHA_HOSTS),
}


@pytest.fixture(params=sorted(PROVIDERS))
def provider(request, captcha_standin, monkeypatch):
    """The "acme" portal on Turnstile or hCaptcha, its verify API the stand-in, its secret in the default variable."""
    chosen = PROVIDERS[request.param]
    monkeypatch.setenv(chosen.secret_env_default, SECRET)
    monkeypatch.delenv(f"{chosen.secret_env_default}_FILE", raising=False)
    make_portal(challenge=chosen.name, challenge_site_key="site-key-1", embed_origins=["https://shop.example.com"])
    return chosen


def policy(response) -> dict[str, set[str]]:
    """The response's Content-Security-Policy as directive -> sources."""
    directives = (part.split() for part in response["Content-Security-Policy"].split(";") if part.strip())
    return {name: set(sources) for name, *sources in directives}


def outcomes() -> list[tuple[str, str]]:
    """Each attempt's (status, error code), oldest first."""
    return list(SignupAttempt.objects.order_by("created_at", "pk").values_list("status", "error_code"))


def test_the_page_shows_the_providers_widget_and_its_policy_lets_in_only_that_provider(provider):
    for url in ("/signup/acme/", "/embed/acme/?parent=https://shop.example.com"):
        response = Client().get(url)
        page = response.content.decode()
        assert f'<div class="{provider.widget_class}" data-sitekey="site-key-1"' in page, url
        assert f'<script src="{provider.script_url}' in page and "altcha-widget" not in page, url
        sources = policy(response)
        for directive, wanted in PROVIDER_SOURCES[provider.name].items():
            assert wanted <= sources[directive], (url, directive)
        fetched = {name: found for name, found in sources.items() if name not in ("img-src", "frame-ancestors")}
        hosts = {source for found in fetched.values() for source in found if source.startswith("https://")}
        assert hosts == set().union(*PROVIDER_SOURCES[provider.name].values()), url  # nobody else's


def test_an_altcha_or_challenge_free_portals_policy_names_no_provider(provider):
    make_portal("pow", challenge="altcha")
    make_portal("plain", challenge="off")
    Client().get("/signup/acme/")  # a provider's page first: what it allowed must not stay behind
    for slug in ("pow", "plain"):
        response = Client().get(f"/signup/{slug}/")
        assert response.status_code == 200
        text = response["Content-Security-Policy"]
        assert "cloudflare" not in text and "hcaptcha" not in text, slug
        assert policy(response)["script-src"] == {"'self'"}, slug


def test_a_good_token_signs_up_and_the_provider_hears_the_visitors_address(provider, captcha_standin, stub):
    signed_up(stub)
    response = submit(Client(REMOTE_ADDR=VISITOR_IP), GOOD_TOKEN, field=provider.response_field)
    assert response.status_code == 302 and "/confirm/" in response["Location"]
    assert only_attempt().status == "succeeded"
    expected = {"secret": SECRET, "response": GOOD_TOKEN, "remoteip": VISITOR_IP}
    if provider is HCAPTCHA:
        expected["sitekey"] = "site-key-1"
    assert captcha_standin.requests == [expected]


@pytest.mark.parametrize(
    ("answer", "in_altcha_field", "code", "asked"),
    [
        ("forged", False, "ChallengeInvalid", ["forged"]),
        (None, False, "ChallengeMissing", []),
        (GOOD_TOKEN, True, "ChallengeMissing", []),  # only the provider's own field counts
    ],
    ids=["refused-token", "no-token", "token-in-altcha-field"],
)
def test_a_token_the_provider_refuses_or_none_is_blocked_before_cognito(
    provider, captcha_standin, stub, answer, in_altcha_field, code, asked
):
    field = "altcha" if in_altcha_field else provider.response_field
    response = submit(Client(), answer, field=field)  # the stub has no answer: Cognito must not be called
    assert response.status_code == 400
    page = response.content.decode()
    assert "not a robot" in page and 'value="alice@example.com"' in page
    assert outcomes() == [("blocked", code)]
    assert [fields["response"] for fields in captcha_standin.requests] == asked


def test_a_provider_too_slow_to_answer_gets_a_polite_try_again_on_the_page(provider, captcha_standin, stub):
    captcha_standin.mode = "slow"
    response = submit(Client(), GOOD_TOKEN, field=provider.response_field)
    assert response.status_code == 200  # the form again, not an error page
    page = html.unescape(response.content.decode())
    assert message("challenge_unavailable") in page
    assert 'value="alice@example.com"' in page and 'value="alice"' in page
    assert outcomes() == [("blocked", "ChallengeUnavailable")]


def test_through_the_api_a_slow_provider_is_a_503_and_does_not_spend_the_key(provider, captcha_standin, stub):
    api = Client(REMOTE_ADDR=VISITOR_IP)
    key = {"Idempotency-Key": "k-slow"}
    body = {**API_GOOD, "captcha_token": GOOD_TOKEN}
    captcha_standin.mode = "slow"
    slow = post(api, f"{BASE}/acme/signups", body, **key)
    assert_problem(slow, 503, "challenge_unavailable")
    assert int(slow["Retry-After"]) >= 1
    captcha_standin.mode = "answer"
    signed_up(stub)
    created = post(api, f"{BASE}/acme/signups", body, **key)
    assert created.status_code == 201, created.content  # the same key, now answered: not a replay of the 503
    assert "Idempotent-Replayed" not in created
    assert outcomes() == [("blocked", "ChallengeUnavailable"), ("succeeded", "")]


def test_no_secret_is_a_polite_refusal_on_the_page_and_the_api(provider, captcha_standin, stub, monkeypatch):
    monkeypatch.delenv(provider.secret_env_default)
    page = submit(Client(), GOOD_TOKEN, field=provider.response_field)
    assert page.status_code == 200 and message("challenge_unavailable") in html.unescape(page.content.decode())
    assert_problem(post(Client(), f"{BASE}/acme/signups", {**API_GOOD, "captcha_token": GOOD_TOKEN}), 503)
    assert captcha_standin.requests == []  # nothing to ask with
    assert outcomes() == [("blocked", "ChallengeUnavailable")] * 2


def test_a_portals_own_secret_variable_is_the_secret_sent(provider, captcha_standin, stub, monkeypatch):
    portal = Portal.objects.get(slug="acme")
    portal.challenge_secret_env = "ACME_CAPTCHA_SECRET"
    portal.save()
    monkeypatch.setenv(provider.secret_env_default, "another-portals-secret")
    monkeypatch.setenv("ACME_CAPTCHA_SECRET", SECRET)
    signed_up(stub)
    assert submit(Client(), GOOD_TOKEN, field=provider.response_field).status_code == 302
    assert [fields["secret"] for fields in captcha_standin.requests] == [SECRET]


def test_the_api_names_the_provider_and_verifies_the_captcha_token(provider, captcha_standin, stub):
    api = Client(enforce_csrf_checks=True, REMOTE_ADDR=VISITOR_IP)
    assert api.get(f"{BASE}/acme/form").json()["challenge"] == {
        "type": provider.name,
        "site_key": "site-key-1",
        "url": "",
    }
    assert_problem(api.get(f"{BASE}/acme/challenge"), 404, "api_no_challenge")  # the provider's widget gives it
    assert_problem(post(api, f"{BASE}/acme/signups", {**API_GOOD, "altcha": GOOD_TOKEN}), 400, "challenge_missing")
    forged = post(api, f"{BASE}/acme/signups", {**API_GOOD, "captcha_token": "forged"})
    assert_problem(forged, 400, "challenge_invalid")
    signed_up(stub)
    created = post(api, f"{BASE}/acme/signups", {**API_GOOD, "captcha_token": GOOD_TOKEN})
    assert created.status_code == 201, created.content
    assert [(fields["response"], fields["remoteip"]) for fields in captcha_standin.requests] == [
        ("forged", VISITOR_IP),
        (GOOD_TOKEN, VISITOR_IP),
    ]
    assert outcomes() == [("blocked", "ChallengeMissing"), ("blocked", "ChallengeInvalid"), ("succeeded", "")]


def test_a_long_hcaptcha_token_reaches_hcaptcha_on_the_page_and_through_the_api(captcha_standin, stub, monkeypatch):
    # hCaptcha documents no length and its tokens run past 4,000 characters (signup/captcha.py): only its
    # own generous ceiling applies, not the bound for an ALTCHA solution.
    monkeypatch.setenv(HCAPTCHA.secret_env_default, SECRET)
    make_portal(challenge="hcaptcha", challenge_site_key="site-key-1")
    long_token = "P1_" + "h" * 6000
    captcha_standin.good_tokens = frozenset({long_token})
    signed_up(stub)
    assert submit(Client(), long_token, field=HCAPTCHA.response_field).status_code == 302
    signed_up(stub)
    body = {**API_GOOD, "username": "bob", "captcha_token": long_token}
    created = post(Client(), f"{BASE}/acme/signups", body)
    assert created.status_code == 201, created.content
    assert [len(fields["response"]) for fields in captcha_standin.requests] == [len(long_token)] * 2


# --- The admin's "Bots and fraud" settings ----------------------------------------------------------------


def unchanged_form(response) -> dict[str, str]:
    """What the admin's change form posts back when nothing is changed: each field's value (a ticked box as
    "on", an unticked one left out) and every inline's management form."""
    form = response.context["adminform"].form
    data = {}
    for name in form.fields:
        value = form[name].value()
        if value is True:
            data[name] = "on"
        elif value not in (None, False):
            data[name] = str(value)
    for inline in response.context["inline_admin_formsets"]:
        management = inline.formset.management_form
        data.update({management.add_prefix(name): str(management[name].value()) for name in management.fields})
    return data


def test_the_admin_shows_bots_and_fraud_and_names_a_bad_domain_on_its_field(admin_client):
    portal = make_portal(challenge="altcha")
    url = f"/admin/signup/portal/{portal.pk}/change/"
    shown = admin_client.get(url)
    page = shown.content.decode()
    fieldset = page.split("Bots and fraud", 1)[1].split("</fieldset>", 1)[0]
    for field in ("challenge", "challenge_site_key", "email_domains_allowed", "block_disposable_email"):
        assert f'id="id_{field}"' in fieldset, field
    data = unchanged_form(shown)

    bad = {**data, "name": "Renamed", "email_domains_allowed": '["a.example", "not a domain"]'}
    refused = admin_client.post(url, bad)
    assert refused.status_code == 200
    said = "“not a domain” is not a domain name; enter one such as example.com."
    assert refused.context["adminform"].form.errors == {"email_domains_allowed": [said]}
    shown_error = r'<ul class="errorlist"[^>]*id="id_email_domains_allowed_error"><li>“not a domain” is not a domain'
    assert re.search(shown_error, refused.content.decode())
    portal.refresh_from_db()
    assert (portal.name, portal.email_domains_allowed) == ("Acme", [])  # nothing saved

    saved = admin_client.post(url, {**data, "email_domains_allowed": '["@Bücher.Example"]', "phone_regions": '["de"]'})
    assert saved.status_code == 302, saved.context["adminform"].form.errors if saved.context else saved
    portal.refresh_from_db()
    assert (portal.email_domains_allowed, portal.phone_regions) == (["xn--bcher-kva.example"], ["DE"])
