"""The JSON API channel, over Django's test client: Cognito stubbed at the botocore seam for the error
paths, and the local Cognito (the emulator) for the whole way through."""

import io
import json

import pytest
import requests
from django.core.cache import cache
from django.core.management import CommandError
from django.test import Client

from signup.emulator.demo import emulator_client
from signup.models import Portal, SignupAttempt
from tests.factories import make_portal

# The demo portal with an invite code (validation data), and the emulator's outbox: as the pages' tests use.
from tests.test_end_to_end import outbox, portal  # noqa: F401

pytestmark = pytest.mark.django_db

BASE = "/api/v1/portals"
GOOD = {"username": "alice", "password": "Str0ng!Passw0rd", "attributes": {"email": "alice@example.com"}}
DELIVERY = {"Destination": "a***@e***", "DeliveryMedium": "EMAIL", "AttributeName": "email"}


@pytest.fixture
def api():
    # A browser's CSRF checks on: the API must not need a token (it reads and sets no cookies).
    return Client(enforce_csrf_checks=True)


def post(client, path, body, **headers):
    data = body if isinstance(body, (str, bytes)) else json.dumps(body)
    return client.post(path, data, content_type=headers.pop("content_type", "application/json"), headers=headers)


def signed_up(stub, **answer):
    stub.add_response(
        "sign_up", {"UserConfirmed": False, "UserSub": "sub-1", "CodeDeliveryDetails": DELIVERY, **answer}
    )


def cognito_error(stub, operation, code, text="refused", status=400):
    stub.add_client_error(operation, service_error_code=code, service_message=text, http_status_code=status)


def assert_problem(response, status, code=None):
    assert response.status_code == status, response.content.decode()[:2000]
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == status and body["title"] and body["detail"] and body["type"] == "about:blank"
    if code:
        assert body["code"] == code, body
    return body


# --- Sign-up ---------------------------------------------------------------------------------------------


def test_a_sign_up_is_created_recorded_as_api_and_sets_no_cookie(api, stub):
    make_portal()
    signed_up(stub)
    response = post(api, f"{BASE}/acme/signups", GOOD)
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["next_step"] == "confirm"
    assert body["code_delivery"] == {"destination": "a***@e***", "medium": "EMAIL", "attribute": "email"}
    attempt = SignupAttempt.objects.get()
    assert str(attempt.reference) == body["reference"]
    assert attempt.channel == SignupAttempt.Channel.API and attempt.status == "succeeded"
    assert not response.cookies


def test_client_metadata_passes_only_the_names_the_portal_lets_through(api, stub):
    make_portal(client_metadata_params=["campaign"])
    signed_up(stub)
    body = {**GOOD, "client_metadata": {"campaign": "spring", "role": "admin"}}
    assert post(api, f"{BASE}/acme/signups", body).status_code == 201
    assert SignupAttempt.objects.get().client_metadata == {"campaign": "spring"}


def test_a_field_error_is_a_400_keyed_by_attribute_name_and_never_reaches_cognito(api, stub):
    make_portal()
    response = post(
        api,
        f"{BASE}/acme/signups",
        {
            **GOOD,
            "attributes": {"email": "not-an-email", "custom:employees": "many", "custom:nope": "x", "sub": "x"},
            "validation_data": {"nope": "x"},
        },
    )
    body = assert_problem(response, 400, "invalid")
    assert body["errors"]["email"] == [{"code": "invalid", "message": "Enter a valid email address."}]
    assert body["errors"]["custom:employees"][0]["message"] == "Enter a whole number."
    assert body["errors"]["custom:nope"][0]["code"] == "not_on_form"
    assert body["errors"]["sub"][0]["code"] == body["errors"]["nope"][0]["code"] == "not_on_form"
    assert set(body["errors"]) == {"email", "custom:employees", "custom:nope", "sub", "nope"}
    assert all(e["message"] for found in body["errors"].values() for e in found)
    assert SignupAttempt.objects.get().status == "invalid"  # recorded; the stub has no answer: not called


def test_a_portal_requiring_consent_refuses_a_sign_up_without_it_and_records_it_with(api, stub):
    make_portal(require_consent=True, consent_version="v3", terms_url="https://example.com/terms")
    form = api.get(f"{BASE}/acme/form").json()
    assert form["consent"]["required"] is True and form["consent"]["version"] == "v3"
    refused = post(api, f"{BASE}/acme/signups", {**GOOD, "consent": {"accepted": False}})
    assert assert_problem(refused, 400)["errors"]["consent"][0]["code"] == "required"
    stale = post(api, f"{BASE}/acme/signups", {**GOOD, "consent": {"accepted": True, "version": "v2"}})
    assert assert_problem(stale, 400)["errors"]["consent"][0]["code"] == "consent_version_changed"
    signed_up(stub)
    accepted = post(api, f"{BASE}/acme/signups", {**GOOD, "consent": {"accepted": True, "version": "v3"}})
    assert accepted.status_code == 201
    attempt = SignupAttempt.objects.get(reference=accepted.json()["reference"])
    assert attempt.consent_version == "v3" and attempt.consent_accepted_at is not None


def test_a_password_breaking_the_policy_is_listed_rule_by_rule(api, stub):
    make_portal()
    body = assert_problem(post(api, f"{BASE}/acme/signups", {**GOOD, "password": "short"}), 400)
    assert {"password_too_short", "password_no_upper"} <= {e["code"] for e in body["errors"]["password"]}


def test_a_taken_username_is_a_409(api, stub):
    make_portal()
    cognito_error(stub, "sign_up", "UsernameExistsException", "User already exists")
    body = assert_problem(post(api, f"{BASE}/acme/signups", GOOD), 409, "username_taken")
    assert body["errors"]["username"][0]["code"] == "username_taken"


def test_a_portal_hiding_existing_accounts_answers_a_taken_username_like_a_new_one(api, stub):
    make_portal(hide_existing_accounts=True)
    signed_up(stub)
    new = post(api, f"{BASE}/acme/signups", GOOD)
    cognito_error(stub, "sign_up", "UsernameExistsException", "User already exists")
    taken = post(api, f"{BASE}/acme/signups", {**GOOD, "username": "bob"})
    assert new.status_code == taken.status_code == 201
    shape = {k: v for k, v in new.json().items() if k != "reference"}
    assert shape == {k: v for k, v in taken.json().items() if k != "reference"}
    assert shape["code_delivery"] is None


@pytest.mark.parametrize(
    ("failure", "status", "recorded"),
    [
        ("CognitoNoAnswer", 202, "unknown"),  # the answer was lost: it may exist, settled later
        ("CognitoUnreachable", 503, "failed"),  # nothing reached Cognito: try again
    ],
)
def test_a_lost_answer_is_a_202_and_an_unreachable_cognito_a_503(api, monkeypatch, failure, status, recorded):
    from signup import cognito

    make_portal()

    def fail(*args, **kwargs):
        raise getattr(cognito, failure)("no way through", code="Network")

    monkeypatch.setattr(cognito, "sign_up", fail)
    response = post(api, f"{BASE}/acme/signups", GOOD)
    assert response.status_code == status, response.content
    assert SignupAttempt.objects.get().status == recorded
    if status == 202:
        assert response.json()["next_step"] == "confirm" and response.json()["reference"]
    else:
        assert_problem(response, 503, "try_again")
        assert int(response["Retry-After"]) >= 1


def test_a_closed_portal_is_a_503_and_nothing_is_recorded(api):
    make_portal(is_open=False)
    assert_problem(post(api, f"{BASE}/acme/signups", GOOD), 503, "not_available")
    assert not SignupAttempt.objects.exists()


@pytest.mark.parametrize("limit", ["signup_per_ip", "signup_per_portal"])
def test_too_many_sign_ups_from_an_address_or_to_a_portal_is_a_429_with_retry_after(api, stub, settings, limit):
    make_portal()
    settings.SIGNUP_RATE_LIMITS = {**settings.SIGNUP_RATE_LIMITS, limit: "1/600"}
    signed_up(stub)
    assert post(api, f"{BASE}/acme/signups", GOOD).status_code == 201
    response = post(api, f"{BASE}/acme/signups", {**GOOD, "username": "bob"})
    body = assert_problem(response, 429, "rate_limited")
    assert 1 <= int(response["Retry-After"]) <= 600 and "reference" not in body
    assert SignupAttempt.objects.filter(status="blocked", error_code="RateLimited").count() == 1


# --- Confirmation and a new code ------------------------------------------------------------------------


def test_confirm_and_resend_answer_200_and_a_wrong_code_is_a_400_on_code(api, stub):
    make_portal()
    stub.add_response("confirm_sign_up", {})
    ok = post(api, f"{BASE}/acme/confirmations", {"username": "alice", "code": "123456"})
    assert ok.status_code == 200 and ok.json()["next_step"] == "done"
    cognito_error(stub, "confirm_sign_up", "CodeMismatchException", "Invalid code")
    body = assert_problem(post(api, f"{BASE}/acme/confirmations", {"username": "alice", "code": "1"}), 400)
    assert body["code"] == "code_mismatch" and body["errors"]["code"][0]["code"] == "code_mismatch"
    stub.add_response("resend_confirmation_code", {"CodeDeliveryDetails": DELIVERY})
    resent = post(api, f"{BASE}/acme/code-resends", {"username": "alice"})
    assert resent.status_code == 200 and resent.json()["code_delivery"]["destination"] == "a***@e***"


def test_too_many_codes_is_a_429_with_retry_after(api, stub, settings):
    make_portal()
    settings.SIGNUP_RATE_LIMITS = {**settings.SIGNUP_RATE_LIMITS, "resend_per_username": "1/3600"}
    stub.add_response("resend_confirmation_code", {"CodeDeliveryDetails": DELIVERY})
    assert post(api, f"{BASE}/acme/code-resends", {"username": "alice"}).status_code == 200
    response = post(api, f"{BASE}/acme/code-resends", {"username": "alice"})
    assert_problem(response, 429, "resend_limit")
    assert 1 <= int(response["Retry-After"]) <= 3600


def test_a_missing_username_is_a_400_on_username(api):
    make_portal()
    body = assert_problem(post(api, f"{BASE}/acme/confirmations", {"code": "123456"}), 400, "api_invalid")
    assert body["errors"]["username"][0]["code"] == "required"


# --- What the API refuses before anything runs -------------------------------------------------------------


def test_an_unknown_portal_or_address_is_a_404_problem(api):
    assert_problem(api.get("/api/v2/anything"), 404, "api_no_route")
    assert_problem(post(api, "/api/v1/portals/acme/nope", GOOD), 404, "api_no_route")
    assert_problem(api.get(f"{BASE}/nope/form"), 404, "api_no_portal")
    assert_problem(post(api, f"{BASE}/nope/signups", GOOD), 404, "api_no_portal")


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        ("{not json", "application/json", 400),
        ("[1, 2]", "application/json", 400),
        ('"alice"', "application/json", 400),
        (b"\xff\xfe\x00", "application/json", 400),
        ("username=alice", "application/x-www-form-urlencoded", 415),
        ("{}", "text/plain", 415),
        (json.dumps({**GOOD, "username": 7}), "application/json", 400),
        (json.dumps({**GOOD, "attributes": {"email": ["a"]}}), "application/json", 400),
        (json.dumps({**GOOD, "attributes": "email"}), "application/json", 400),
        (json.dumps({**GOOD, "surprise": True}), "application/json", 400),
        ("{}", "application/json", 400),
        ("", "application/json", 400),
        (json.dumps({**GOOD, "attributes": {"email": None}}), "application/json", 400),
        (json.dumps({**GOOD, "client_metadata": {"a": 1}}), "application/json", 400),
        (json.dumps({**GOOD, "username": "a" * 5000}), "application/json", 400),
        (json.dumps({**GOOD, "consent": "yes"}), "application/json", 400),
        (json.dumps({**GOOD, "password": "x" * 70_000}), "application/json", 413),
    ],
)
def test_garbage_is_a_problem_never_a_500(api, body, content_type, status):
    make_portal()
    response = post(api, f"{BASE}/acme/signups", body, content_type=content_type)
    assert_problem(response, status)
    assert not SignupAttempt.objects.exists()


def test_a_body_beyond_djangos_own_limit_is_a_413(api, settings):
    make_portal()
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10
    response = post(api, f"{BASE}/acme/confirmations", {"username": "alice", "code": "123456"})
    assert_problem(response, 413, "api_body_too_large")


def test_a_wrong_type_is_reported_on_its_attribute(api):
    make_portal()
    body = assert_problem(post(api, f"{BASE}/acme/signups", {**GOOD, "attributes": {"email": 5}}), 400)
    assert body["errors"]["email"][0]["code"] == "api_wrong_type"


# --- Languages ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("language", "word", "no_portal"),
    [("es", "correo", "Ese portal no existe."), ("de", "E-Mail", "Dieses Portal gibt es nicht.")],
)
def test_messages_follow_accept_language(api, language, word, no_portal):
    make_portal()
    response = post(
        api, f"{BASE}/acme/signups", {**GOOD, "attributes": {"email": "nope"}}, accept_language=f"{language},en;q=0.5"
    )
    body = assert_problem(response, 400)
    assert word in body["errors"]["email"][0]["message"], body
    assert "Accept-Language" in response["Vary"]  # a cache keeps one answer per language
    unknown = api.get(f"{BASE}/nope/form", headers={"accept-language": language})
    assert assert_problem(unknown, 404)["detail"] == no_portal
    form = api.get(f"{BASE}/acme/form", headers={"accept-language": language}).json()
    assert form["language"] == language


# --- Idempotency ----------------------------------------------------------------------------------------------


def test_the_same_key_and_body_answers_the_first_answer_with_one_sign_up(api, stub):
    make_portal()
    signed_up(stub)  # one answer only: a second SignUp would find the stub empty
    first = post(api, f"{BASE}/acme/signups", GOOD, idempotency_key="k-1")
    again = post(api, f"{BASE}/acme/signups", GOOD, idempotency_key="k-1")
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json() and again["Idempotent-Replayed"] == "true"
    assert SignupAttempt.objects.count() == 1


def test_a_key_the_cache_forgot_still_makes_no_second_sign_up(api, stub):
    make_portal()
    signed_up(stub)
    first = post(api, f"{BASE}/acme/signups", GOOD, idempotency_key="k-1")
    cache.clear()  # evicted, or another process without a shared cache
    again = post(api, f"{BASE}/acme/signups", GOOD, idempotency_key="k-1")
    assert again.status_code == 201 and again.json()["reference"] == first.json()["reference"]


def test_a_key_whose_sign_up_never_reached_cognito_may_be_tried_again(api, stub, monkeypatch):
    from signup import cognito

    make_portal()
    real = cognito.sign_up

    def unreachable(*args, **kwargs):
        monkeypatch.setattr(cognito, "sign_up", real)  # the next try gets through
        raise cognito.CognitoUnreachable("connect failed", code="EndpointConnectionError")

    monkeypatch.setattr(cognito, "sign_up", unreachable)
    signed_up(stub)
    assert_problem(post(api, f"{BASE}/acme/signups", GOOD, idempotency_key="k-1"), 503)
    again = post(api, f"{BASE}/acme/signups", GOOD, idempotency_key="k-1")
    assert again.status_code == 201 and "Idempotent-Replayed" not in again
    assert sorted(SignupAttempt.objects.values_list("status", flat=True)) == ["failed", "succeeded"]


def test_a_throttled_sign_up_may_be_tried_again_with_the_same_key(api, stub, settings):
    settings.SIGNUP_THROTTLE_RETRIES = 0  # the portal's own retries have their own tests
    make_portal()
    cognito_error(stub, "sign_up", "TooManyRequestsException", "Rate exceeded")
    assert_problem(post(api, f"{BASE}/acme/signups", GOOD, idempotency_key="k-1"), 503)
    signed_up(stub)  # Cognito did nothing the first time: the retry must reach it
    again = post(api, f"{BASE}/acme/signups", GOOD, idempotency_key="k-1")
    assert again.status_code == 201 and "Idempotent-Replayed" not in again
    stub.assert_no_pending_responses()


def test_another_body_under_a_key_the_cache_forgot_is_a_new_sign_up_not_someone_elses_answer(api, stub):
    make_portal()
    signed_up(stub)
    first = post(api, f"{BASE}/acme/signups", GOOD, idempotency_key="shared")
    cache.clear()
    signed_up(stub, UserSub="sub-2")
    other = {**GOOD, "username": "bob", "attributes": {"email": "bob@example.com"}}
    second = post(api, f"{BASE}/acme/signups", other, idempotency_key="shared")
    assert second.status_code == 201 and second.json()["reference"] != first.json()["reference"]
    assert sorted(SignupAttempt.objects.values_list("username", flat=True)) == ["alice", "bob"]


def test_the_idempotency_record_holds_no_readable_fingerprint_of_the_code(api, stub):
    import hashlib

    acme = make_portal()
    stub.add_response("confirm_sign_up", {})
    body = {"code": "123456", "username": "alice"}
    assert post(api, f"{BASE}/acme/confirmations", body, idempotency_key="k-9").status_code == 200
    digest = hashlib.sha256(f"{acme.pk}\0confirmations\0k-9".encode()).hexdigest()
    kept = cache.get(f"signup:api:idempotency:{digest}")
    assert kept is not None and kept["answer"][0] == 200
    assert kept["body"] != hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
    assert b"123456" not in kept["answer"][1]


def test_the_same_key_with_another_body_is_a_422(api, stub):
    make_portal()
    signed_up(stub)
    assert post(api, f"{BASE}/acme/signups", GOOD, idempotency_key="k-1").status_code == 201
    other = post(api, f"{BASE}/acme/signups", {**GOOD, "username": "bob"}, idempotency_key="k-1")
    assert_problem(other, 422, "api_key_reused")


def test_keys_belong_to_one_operation(api, stub):
    make_portal()
    stub.add_response("confirm_sign_up", {})
    stub.add_response("resend_confirmation_code", {"CodeDeliveryDetails": DELIVERY})
    assert (
        post(api, f"{BASE}/acme/confirmations", {"username": "a", "code": "1"}, idempotency_key="k").status_code == 200
    )
    assert post(api, f"{BASE}/acme/code-resends", {"username": "a"}, idempotency_key="k").status_code == 200


# --- Cross-origin calls from a browser --------------------------------------------------------------------------

APP = "https://app.example.com"


def preflight(client, origin, method="POST", headers="content-type, idempotency-key"):
    return client.options(
        f"{BASE}/acme/signups",
        headers={"origin": origin, "access-control-request-method": method, "access-control-request-headers": headers},
    )


def test_a_preflight_from_a_listed_origin_is_allowed_without_credentials(api):
    make_portal(api_origins=[APP])
    response = preflight(api, APP)
    assert response.status_code == 204
    assert response["Access-Control-Allow-Origin"] == APP
    assert "POST" in response["Access-Control-Allow-Methods"]
    assert "idempotency-key" in response["Access-Control-Allow-Headers"]
    assert "Access-Control-Allow-Credentials" not in response and "Origin" in response["Vary"]


@pytest.mark.parametrize(
    ("origin", "method", "headers"),
    [
        ("https://evil.example.net", "POST", "content-type"),
        ("https://app.example.com.evil.net", "POST", "content-type"),
        ("http://app.example.com", "POST", "content-type"),
        ("null", "POST", "content-type"),
        (APP, "DELETE", "content-type"),
        (APP, "POST", "content-type, authorization"),
    ],
)
def test_any_other_preflight_gets_no_cors_headers(api, origin, method, headers):
    make_portal(api_origins=[APP])
    response = preflight(api, origin, method, headers)
    assert response.status_code == 403
    assert not any(name.lower().startswith("access-control-") for name in response.headers)


def test_answers_to_a_listed_origin_are_readable_by_it_and_no_other(api, stub):
    make_portal(api_origins=[APP])
    refused = post(api, f"{BASE}/acme/signups", {**GOOD, "password": "x"}, origin=APP)
    assert refused.status_code == 400 and refused["Access-Control-Allow-Origin"] == APP
    assert "Retry-After" in refused["Access-Control-Expose-Headers"]
    other = post(api, f"{BASE}/acme/signups", {**GOOD, "password": "x"}, origin="https://evil.example.net")
    assert other.status_code == 400 and "Access-Control-Allow-Origin" not in other
    assert "Access-Control-Allow-Origin" not in api.get(f"{BASE}/nope/form", headers={"origin": APP})


def test_api_origins_are_set_from_the_command_line_and_normalised(db):
    from django.core.management import call_command

    make_portal()
    call_command("portal", "update", "acme", "--api-origin", "HTTPS://App.Example.com:443", stdout=io.StringIO())
    assert Portal.objects.get().api_origins == [APP]
    with pytest.raises(CommandError):
        call_command("portal", "update", "acme", "--api-origin", "https://x.example.com/path", stdout=io.StringIO())
    call_command("portal", "update", "acme", "--no-api-origins", stdout=io.StringIO())
    assert Portal.objects.get().api_origins == []


# --- The document and the docs page -----------------------------------------------------------------------------


def test_the_openapi_document_is_valid_and_describes_every_answer(api):
    from openapi_spec_validator import validate

    document = api.get("/api/openapi.json").json()
    validate(document)
    operations = document["paths"]
    signups = operations["/api/v1/portals/{slug}/signups"]["post"]
    assert {"201", "202", "400", "404", "409", "413", "415", "422", "429", "503"} <= set(signups["responses"])
    assert "application/problem+json" in signups["responses"]["400"]["content"]
    assert "Retry-After" in signups["responses"]["429"]["headers"]
    assert any(p["name"] == "Idempotency-Key" and p["in"] == "header" for p in signups["parameters"])
    for path in ("/form", "/signups", "/confirmations", "/code-resends"):
        assert f"/api/v1/portals/{{slug}}{path}" in operations


def test_the_docs_page_loads_only_our_own_files_under_the_policy(api):
    import re

    response = api.get("/api/docs/")
    assert response.status_code == 200
    page = response.content.decode()
    assert "default-src 'self'" in response["Content-Security-Policy"]
    sources = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert sources and all(s.startswith("/static/") for s in sources), sources
    assert "<script>" not in page.replace(" ", "")  # no inline script for the policy to block
    assert '"validatorUrl": null' in page


def test_the_form_describes_fields_policy_and_languages(api):
    make_portal()
    form = api.get(f"{BASE}/acme/form").json()
    assert form["available"] is True and form["languages"] == ["en", "es", "de"]
    assert {f["attribute"] for f in form["fields"]} >= {"email", "custom:company"}
    assert form["password_policy"]["minimum_length"] == 10


# --- The whole way through, against the local Cognito ------------------------------------------------------------

PERSON = {
    "username": "alice",
    "password": "Str0ng!Passw0rd",
    "attributes": {
        "email": "alice@example.com",
        "given_name": "Alice",
        "family_name": "Liddell",
        "custom:company": "Wonderland Ltd",
        "custom:employees": "42",
    },
    "validation_data": {"invite_code": "WELCOME"},
}


def sign_ups_sent(emulator):
    sent = requests.get(f"{emulator}/_requests", timeout=5).json()
    return [r for r in sent if r["target"].rpartition(".")[2] == "SignUp"]


@pytest.mark.usefixtures("portal")
def test_sign_up_resend_and_confirm_through_the_api(api, emulator, demo_pool):
    created = post(api, f"{BASE}/demo/signups", PERSON, idempotency_key="first-try")
    assert created.status_code == 201, created.content
    assert created.json()["next_step"] == "confirm"
    assert created.json()["code_delivery"]["medium"] == "EMAIL"
    # A retry with the same key (the client never saw the answer) is answered, not sent again.
    again = post(api, f"{BASE}/demo/signups", PERSON, idempotency_key="first-try")
    assert again.json() == created.json()
    assert len(sign_ups_sent(emulator)) == 1

    resent = post(api, f"{BASE}/demo/code-resends", {"username": "alice"})
    assert resent.status_code == 200 and resent.json()["code_delivery"]["medium"] == "EMAIL"
    code = outbox(emulator, "alice")[-1]["code"]
    wrong = post(api, f"{BASE}/demo/confirmations", {"username": "alice", "code": "000000"})
    assert_problem(wrong, 400, "code_mismatch")
    done = post(api, f"{BASE}/demo/confirmations", {"username": "alice", "code": code})
    assert done.status_code == 200 and done.json()["next_step"] == "done"

    user = emulator_client(emulator).admin_get_user(UserPoolId=demo_pool["user_pool_id"], Username="alice")
    assert user["UserStatus"] == "CONFIRMED"
    attributes = {a["Name"]: a["Value"] for a in user["UserAttributes"]}
    attributes.pop("sub")
    attributes.pop("email_verified", None)  # Cognito's own, set by confirming
    # Exactly what was sent: a yes/no attribute not given is not sent as "no" (a page's unticked box is).
    assert attributes == PERSON["attributes"]
    attempt = SignupAttempt.objects.get()
    assert attempt.channel == "api" and attempt.confirmed_at is not None and attempt.resend_count == 1
    assert sign_ups_sent(emulator)[0]["body"]["ValidationData"] == [{"Name": "invite_code", "Value": "WELCOME"}]


@pytest.mark.usefixtures("portal")
def test_a_field_error_never_reaches_the_local_cognito(api, emulator):
    response = post(api, f"{BASE}/demo/signups", {**PERSON, "attributes": {**PERSON["attributes"], "email": "x"}})
    assert assert_problem(response, 400)["errors"]["email"]
    assert sign_ups_sent(emulator) == []


@pytest.mark.usefixtures("portal")
def test_a_taken_username_is_a_409_from_the_local_cognito(api):
    assert post(api, f"{BASE}/demo/signups", PERSON).status_code == 201
    body = assert_problem(post(api, f"{BASE}/demo/signups", {**PERSON, "username": "ALICE"}), 409, "username_taken")
    assert list(body["errors"]) == ["username"]


@pytest.mark.parametrize("step", ["confirmations", "code-resends"])
def test_a_username_cognito_could_never_take_is_a_400_before_any_query_or_call(api, stub, step):
    """The confirm page's own rules, whatever the channel: a NUL (which PostgreSQL cannot even look up)
    or a space in the username is the visitor's to correct, not an outage."""
    make_portal()
    for username, code in (("al\x00ice", "null_characters_not_allowed"), ("al ice", "username_space")):
        body = {"username": username, **({"code": "123456"} if step == "confirmations" else {})}
        problem = assert_problem(post(api, f"{BASE}/acme/{step}", body), 400)
        assert [p["code"] for p in problem["errors"]["username"]] == [code]
    stub.assert_no_pending_responses()
