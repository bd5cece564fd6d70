"""Abuse guards, repeated submissions, security headers, probes and deploy checks."""

import re
import time

import pytest
from django.test import Client

from signup import guards
from signup.models import SignupAttempt
from tests.factories import make_portal
from tests.test_checks import collected_static, manage  # noqa: F401 -- collected_static is a fixture

pytestmark = pytest.mark.django_db

GOOD = {"username": "alice", "password": "Str0ng!Passw0rd", "email": "alice@example.com"}
DELIVERY = {"Destination": "a***@e***", "DeliveryMedium": "EMAIL", "AttributeName": "email"}


@pytest.fixture
def browser_like():
    """A client that sends exactly what the page gave it: no token unless the test adds one."""
    return Client()


def shown_token(client, url="/signup/acme/"):
    return re.search(r'name="form_token" value="([^"]+)"', client.get(url).content.decode()).group(1)


def test_a_repeated_submission_calls_sign_up_once_and_shows_the_first_outcome(browser_like, stub):
    make_portal()
    stub.add_response("sign_up", {"UserConfirmed": False, "UserSub": "s1", "CodeDeliveryDetails": DELIVERY})
    token = shown_token(browser_like)
    first = browser_like.post("/signup/acme/", {**GOOD, "form_token": token})
    again = browser_like.post("/signup/acme/", {**GOOD, "form_token": token})
    assert first.status_code == again.status_code == 302
    assert "/confirm/" in again["Location"]
    assert SignupAttempt.objects.count() == 1  # the stub had one answer: a second call would have failed


@pytest.mark.django_db(transaction=True)
def test_outside_a_transaction_a_repeat_is_caught_without_one(browser_like, stub):
    # As in production: the pending attempt's INSERT commits on its own, with no BEGIN or savepoint.
    from django.db import connection

    make_portal()
    stub.add_response("sign_up", {"UserConfirmed": False, "UserSub": "s1", "CodeDeliveryDetails": DELIVERY})
    token = shown_token(browser_like)
    assert not connection.in_atomic_block
    first = browser_like.post("/signup/acme/", {**GOOD, "form_token": token})
    again = browser_like.post("/signup/acme/", {**GOOD, "form_token": token})
    assert first.status_code == again.status_code == 302
    assert SignupAttempt.objects.count() == 1
    assert SignupAttempt.objects.get().status == "succeeded"


def test_a_repeated_refused_submission_shows_the_same_refusal(browser_like, stub):
    make_portal()
    stub.add_client_error(
        "sign_up", service_error_code="UsernameExistsException", service_message="User already exists"
    )
    token = shown_token(browser_like)
    for _ in range(2):
        page = browser_like.post("/signup/acme/", {**GOOD, "form_token": token}).content.decode()
        assert "already registered" in page
    assert SignupAttempt.objects.count() == 1


def test_a_post_without_the_forms_token_is_refused_and_recorded(browser_like):
    make_portal()
    response = browser_like.post("/signup/acme/", GOOD)
    assert response.status_code == 400
    assert "This form has expired" in response.content.decode()
    assert 'value="alice@example.com"' in response.content.decode()  # nothing typed is lost
    assert SignupAttempt.objects.get().error_code == "FormExpired"


def test_a_filled_honeypot_is_blocked_without_calling_cognito(browser_like):
    make_portal()
    token = shown_token(browser_like)
    response = browser_like.post("/signup/acme/", {**GOOD, "form_token": token, guards.HONEYPOT_FIELD: "x"})
    assert response.status_code == 400
    attempt = SignupAttempt.objects.get()
    assert (attempt.status, attempt.error_code) == ("blocked", "Honeypot")


def test_a_form_sent_faster_than_a_person_could_is_blocked(browser_like, settings):
    settings.SIGNUP_MIN_FILL_SECONDS = 30
    make_portal()
    response = browser_like.post("/signup/acme/", {**GOOD, "form_token": shown_token(browser_like)})
    assert response.status_code == 400
    assert SignupAttempt.objects.get().error_code == "TooFast"


def test_sign_ups_for_one_username_are_limited_whatever_the_address(client, stub):
    make_portal(rate_limits={"signup_per_username": "2/600"})
    for n in range(2):
        stub.add_response("sign_up", {"UserConfirmed": False, "UserSub": f"s{n}"})
        answer = client.post("/signup/acme/", {**GOOD, "username": "Target"}, REMOTE_ADDR=f"198.51.100.{n + 1}")
        assert answer.status_code == 302
    third = client.post("/signup/acme/", {**GOOD, "username": "Target"}, REMOTE_ADDR="198.51.100.9")
    assert third.status_code == 429
    assert SignupAttempt.objects.filter(status="blocked", error_code="RateLimited").count() == 1
    stub.add_response("sign_up", {"UserConfirmed": False, "UserSub": "s3"})
    assert client.post("/signup/acme/", {**GOOD, "username": "other"}, REMOTE_ADDR="198.51.100.9").status_code == 302


def test_sign_ups_are_limited_per_address_and_the_portal_may_set_its_own_limit(client, stub, settings):
    make_portal(rate_limits={"signup_per_ip": "2/600"})
    for n in range(2):
        stub.add_response("sign_up", {"UserConfirmed": False, "UserSub": f"s{n}"})
        assert client.post("/signup/acme/", {**GOOD, "username": f"user{n}"}).status_code == 302
    third = client.post("/signup/acme/", {**GOOD, "username": "user3"})
    assert third.status_code == 429
    assert "too many sign-ups from your connection" in third.content.decode()
    assert 'value="user3"' in third.content.decode()
    assert "Reference:" not in third.content.decode()  # a guard's refusal is its message alone
    assert SignupAttempt.objects.filter(status="blocked", error_code="RateLimited").count() == 1
    other = Client(REMOTE_ADDR="198.51.100.20")
    stub.add_response("sign_up", {"UserConfirmed": False, "UserSub": "s9"})
    assert (
        other.post("/signup/acme/", {**GOOD, "username": "user9", "form_token": guards.form_token()}).status_code == 302
    )


def test_the_whole_portal_has_a_ceiling_too(stub):
    make_portal(rate_limits={"signup_per_portal": "1/600"})
    stub.add_response("sign_up", {"UserConfirmed": False, "UserSub": "s1"})
    assert (
        Client(REMOTE_ADDR="198.51.100.1")
        .post("/signup/acme/", {**GOOD, "form_token": guards.form_token()})
        .status_code
        == 302
    )
    assert (
        Client(REMOTE_ADDR="198.51.100.2")
        .post("/signup/acme/", {**GOOD, "form_token": guards.form_token()})
        .status_code
        == 429
    )


def test_limits_are_kept_in_the_shared_cache():
    from django.core.cache import cache

    from signup import abuse

    limit = abuse.Limit(2, 60)
    assert [abuse.hit("x", "k", limit) for _ in range(3)] == [True, True, False]
    cache.clear()
    assert abuse.hit("x", "k", limit)


def test_counters_count_every_concurrent_hit_once_and_expire_with_their_window():
    # Django's cache API: local memory on the SQLite run, Redis on the PostgreSQL run.
    from concurrent.futures import ThreadPoolExecutor

    from django.core.cache import cache

    from signup import abuse

    with ThreadPoolExecutor(16) as pool:
        counts = sorted(pool.map(lambda _: abuse.count("signup:test:counter", 2), range(64)))
    assert counts == list(range(1, 65))
    assert cache.get("signup:test:counter") == 64
    time.sleep(2.1)
    assert cache.get("signup:test:counter") is None
    assert abuse.count("signup:test:counter", 2) == 1


def test_a_bad_portal_limit_is_refused():
    from django.core.exceptions import ValidationError

    portal = make_portal()
    portal.rate_limits = {"signup_per_ip": "lots"}
    with pytest.raises(ValidationError):
        portal.full_clean()


def test_the_admin_login_is_rate_limited(settings):
    settings.SIGNUP_RATE_LIMITS = {**settings.SIGNUP_RATE_LIMITS, "admin_login_per_ip": "3/300"}
    client = Client()
    codes = [client.post("/admin/login/", {"username": "x", "password": "y"}).status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]


def test_every_page_has_a_strict_content_security_policy(client):
    make_portal(advanced_security=True)
    for url in (
        "/signup/acme/",
        "/signup/acme/confirm/",
        "/signup/acme/done/",
        "/embed/acme/",
        "/admin/login/",
        "/signup/nope/",
    ):
        policy = client.get(url)["Content-Security-Policy"]
        script = next(d for d in policy.split(";") if d.strip().startswith("script-src"))
        assert "'unsafe-inline'" not in script and "'unsafe-eval'" not in script, url
        assert "object-src 'none'" in policy and "base-uri 'none'" in policy, url
    page = client.get("/signup/acme/")
    assert "https://amazon-cognito-assets.us-east-1.amazoncognito.com" in page["Content-Security-Policy"]
    assert "<script>" not in page.content.decode()  # no inline script: only src= and JSON data blocks
    assert page["Referrer-Policy"] == "same-origin"
    assert "camera=()" in page["Permissions-Policy"]


def test_health_and_readiness_probes(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["checks"] == {"database": "ok", "cache": "ok"}


@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
def test_the_probes_answer_a_balancer_that_sends_the_targets_address_as_host(client, settings, path):
    settings.ALLOWED_HOSTS = ["signup.example.com"]
    settings.SECURE_SSL_REDIRECT = True
    probe = client.get(path, HTTP_HOST="10.0.1.5:8000")
    assert probe.status_code == 200 and probe.json()["status"] == "ok"
    # Every other path still refuses a host it does not serve.
    assert client.get("/signup/acme/", HTTP_HOST="10.0.1.5:8000").status_code == 400


def test_the_metrics_scrape_by_address_reaches_the_token_check(client, settings):
    settings.ALLOWED_HOSTS = ["signup.example.com"]
    settings.METRICS_TOKEN = "t0ken"
    assert client.get("/metrics", HTTP_HOST="10.0.1.5:8000").status_code == 401
    scraped = client.get("/metrics", HTTP_HOST="10.0.1.5:8000", HTTP_AUTHORIZATION="Bearer t0ken")
    assert scraped.status_code == 200 and b"signup_" in scraped.content


def test_a_secret_file_ending_in_a_newline_gives_the_secret(tmp_path):
    from portal.settings import _FileSecrets

    secret = tmp_path / "token"
    secret.write_text("t0ken\n")
    environment = {"METRICS_TOKEN_FILE": str(secret), "PLAIN": " kept as given "}
    mapping = _FileSecrets(env=environment)
    assert mapping["METRICS_TOKEN"] == "t0ken"
    assert mapping["PLAIN"] == " kept as given "

    from portal import settings as portal_settings

    assert isinstance(portal_settings.env.ENVIRON, _FileSecrets)  # the settings read through it


def test_readiness_fails_when_the_cache_does(client, settings):
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": "redis://127.0.0.1:1/0"}
    }
    response = client.get("/readyz")
    assert response.status_code == 503 and response.json()["checks"]["cache"] == "failing"


def deploy_check(**env):
    return manage("check", "--deploy", "--fail-level", "WARNING", **env)


def test_check_deploy_is_clean_with_production_settings(collected_static):  # noqa: F811
    result = deploy_check(
        PORTAL_ENV="production",
        SECRET_KEY="x" * 20 + "Kq8#p2!vZ" * 6,
        ALLOWED_HOSTS="signup.example.com",
        DATABASE_URL="sqlite:////tmp/deploy-check.sqlite3",
        CACHE_URL="redis://127.0.0.1:6379/1",
        STATIC_ROOT=str(collected_static),  # a release runs collectstatic first
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_check_deploy_warns_when_the_cache_is_each_processs_own(collected_static):  # noqa: F811
    result = deploy_check(
        PORTAL_ENV="production",
        SECRET_KEY="x" * 20 + "Kq8#p2!vZ" * 6,
        ALLOWED_HOSTS="signup.example.com",
        DATABASE_URL="sqlite:////tmp/deploy-check.sqlite3",
        CACHE_URL="locmemcache://",
        STATIC_ROOT=str(collected_static),
    )
    assert result.returncode != 0 and "signup.W002" in result.stdout + result.stderr


PRODUCTION = {
    "PORTAL_ENV": "production",
    "SECRET_KEY": "x" * 20 + "Kq8#p2!vZ" * 6,
    "ALLOWED_HOSTS": "signup.example.com",
    "DATABASE_URL": "sqlite:////tmp/deploy-check.sqlite3",
    "CACHE_URL": "redis://127.0.0.1:6379/1",
}


@pytest.mark.parametrize(
    ("aws", "warned"),
    [
        ({"AWS_ACCESS_KEY_ID": "AKIAEXAMPLEKEY000001", "AWS_SECRET_ACCESS_KEY": "s"}, True),
        ({"AWS_ACCESS_KEY_ID": "ASIAEXAMPLEKEY000001", "AWS_SECRET_ACCESS_KEY": "s", "AWS_SESSION_TOKEN": "t"}, False),
        ({"AWS_PROFILE": "portal"}, False),
        ({}, False),
    ],
    ids=["static-keys", "a-role's-session-keys", "a-profile", "a-role"],
)
def test_check_deploy_warns_about_static_aws_keys_in_the_environment(collected_static, aws, warned):  # noqa: F811
    result = deploy_check(**PRODUCTION, STATIC_ROOT=str(collected_static), **aws)
    output = result.stdout + result.stderr
    assert ("signup.W003" in output) is warned, output
    assert (result.returncode != 0) is warned
    if warned:
        assert "iam_policy" in output and "role" in output


def test_static_aws_keys_are_no_warning_in_development(collected_static):  # noqa: F811
    env = {**PRODUCTION, "PORTAL_ENV": "development", "AWS_ACCESS_KEY_ID": "AKIAEXAMPLEKEY000001"}
    result = deploy_check(**env, AWS_SECRET_ACCESS_KEY="s", STATIC_ROOT=str(collected_static))
    assert "signup.W003" not in result.stdout + result.stderr


def test_check_deploy_refuses_the_development_key():
    result = deploy_check(PORTAL_ENV="production", ALLOWED_HOSTS="signup.example.com")
    assert result.returncode != 0 and "security.W009" in result.stdout + result.stderr


def test_the_guards_add_no_noticeable_wait_for_people(browser_like, settings, stub):
    settings.SIGNUP_MIN_FILL_SECONDS = 0.2
    make_portal()
    token = shown_token(browser_like)
    time.sleep(0.25)
    stub.add_response("sign_up", {"UserConfirmed": False, "UserSub": "s1"})
    assert browser_like.post("/signup/acme/", {**GOOD, "form_token": token}).status_code == 302


@pytest.mark.parametrize("charset", ["rot13", "punycode", "idna", "no-such-charset"])
def test_a_body_in_a_charset_no_browser_sends_is_refused_not_crashed_on(client, charset):
    make_portal()
    content_type = f"application/x-www-form-urlencoded; charset={charset}"
    response = client.generic("POST", "/signup/acme/", b"username=a%3Db", content_type=content_type)
    assert response.status_code == 400


def test_a_scoped_ipv6_address_is_not_recorded_as_the_visitors(settings):
    from signup.visitors import client_ip

    settings.SIGNUP_TRUSTED_PROXY_COUNT = 1
    assert client_ip({"REMOTE_ADDR": "10.0.0.1", "HTTP_X_FORWARDED_FOR": "fe80::1%eth0"}) == "10.0.0.1"
    assert client_ip({"REMOTE_ADDR": "fe80::1%eth0"}) is None


def test_the_confirm_form_takes_only_usernames_cognito_would(client):
    make_portal()
    page = client.post("/signup/acme/confirm/", {"username": "\u00adalice", "code": "123456"}).content.decode()
    assert "cannot contain spaces or invisible characters" in page


@pytest.mark.django_db(transaction=True)  # the real handler closes its connection when the request ends
@pytest.mark.parametrize("method", ["GET", "POST"])
@pytest.mark.parametrize("charset", ["rot13", "punycode", "idna", "base64", "utf-16"])
def test_an_odd_charset_with_a_query_string_never_reaches_djangos_decoder(method, charset):
    # Django builds the request, and decodes the query string in the declared charset, before any
    # middleware runs; through the real WSGI application that was a 500.
    from werkzeug.test import Client

    from portal.wsgi import application

    make_portal()
    answer = Client(application).open(
        "/signup/acme/?lang=de&x=%C3%A9",
        method=method,
        data=b"username=alice",
        content_type=f"application/x-www-form-urlencoded; charset={charset}",
    )
    assert answer.status_code == (400 if method == "POST" else 200)
    if method == "POST":
        assert answer.get_data() == b"Send the form as UTF-8."


def test_setting_the_charset_aside_keeps_the_other_parameters():
    from signup.middleware import REFUSED_CHARSET, set_aside_unusable_charset

    environ = {"CONTENT_TYPE": 'multipart/form-data; charset=rot13; boundary="a\\"b"'}
    set_aside_unusable_charset(environ)
    assert environ == {"CONTENT_TYPE": 'multipart/form-data; boundary="a\\"b"', REFUSED_CHARSET: "rot13"}
    accepted = {"CONTENT_TYPE": "text/plain; charset=UTF-8"}
    set_aside_unusable_charset(accepted)
    assert accepted == {"CONTENT_TYPE": "text/plain; charset=UTF-8"}


def test_concurrent_hits_are_each_counted_once():
    # Redis's script on the PostgreSQL run, Django's cache API on the SQLite run.
    from concurrent.futures import ThreadPoolExecutor

    from signup import abuse

    limit = abuse.Limit(40, 60)
    with ThreadPoolExecutor(16) as pool:
        allowed = list(pool.map(lambda _: abuse.hit("x", "concurrent", limit), range(64)))
    assert allowed.count(True) == 40


def test_limits_stop_counting_at_the_first_one_used_up():
    # One round trip on Redis (the PostgreSQL run), the same answers on local memory (the SQLite run).
    from django.core.cache import cache

    from signup import abuse

    per_ip, per_portal = abuse.Limit(2, 60), abuse.Limit(3, 60)
    checks = [("ip", "10.0.0.1", per_ip), ("portal", "acme", per_portal)]
    assert [abuse.first_exceeded(checks) for _ in range(3)] == [None, None, 0]
    # The refused third request did not use the portal's allowance: another address still gets one.
    assert abuse.first_exceeded([("ip", "10.0.0.2", per_ip), ("portal", "acme", per_portal)]) is None
    assert abuse.first_exceeded([("ip", "10.0.0.3", per_ip), ("portal", "acme", per_portal)]) == 1
    assert cache.get(abuse._cache_key("portal", "acme", per_portal)) == 4
    assert abuse.hit("ip", "10.0.0.1", per_ip) is False  # hit() and first_exceeded() share their counters
