"""The pages, over Django's test client, with Cognito stubbed at the botocore seam."""

import re

import pytest

from signup.fields import CONTROL_PATTERN, SPACE
from signup.models import SignupAttempt, ValidationDataField
from tests.factories import describe_pool, make_portal, snapshot

pytestmark = pytest.mark.django_db

GOOD = {
    "username": "alice",
    "password": "Str0ng!Passw0rd",
    "email": "alice@example.com",
}
DELIVERY = {"Destination": "a***@e***", "DeliveryMedium": "EMAIL", "AttributeName": "email"}


def test_the_form_shows_the_pool_fields_and_password_policy(client):
    make_portal()
    page = client.get("/signup/acme/").content.decode()
    for name in ("username", "password", "email", "custom_company", "custom_employees", "custom_newsletter"):
        assert f'name="{name}"' in page
    assert "At least 10 characters" in page
    assert "A symbol" in page
    assert 'name="custom_employees"' in page and 'max="100000"' in page


def test_an_unknown_portal_is_a_404(client):
    assert client.get("/signup/nope/").status_code == 404


@pytest.mark.parametrize(
    ("portal_kwargs", "text"),
    [
        ({"is_open": False}, "Sign-up is closed"),
        (
            {"snap": snapshot(describe_pool(AdminCreateUserConfig={"AllowAdminCreateUserOnly": True}))},
            "created by its administrators",
        ),
        ({"snap": {}}, "not open yet"),
    ],
)
def test_a_closed_or_admin_only_portal_shows_a_clear_page_instead_of_a_form(client, portal_kwargs, text):
    make_portal(**portal_kwargs)
    response = client.get("/signup/acme/")
    assert response.status_code == 200
    assert text in response.content.decode()
    assert 'name="password"' not in response.content.decode()
    assert client.post("/signup/acme/", GOOD).status_code == 200
    assert not SignupAttempt.objects.exists()


def test_a_valid_submission_goes_to_the_confirm_step_showing_where_the_code_went(client, stub):
    make_portal()
    stub.add_response("sign_up", {"UserConfirmed": False, "UserSub": "sub-1", "CodeDeliveryDetails": DELIVERY})
    response = client.post("/signup/acme/", GOOD)
    assert response.status_code == 302
    assert response["Location"].startswith("/signup/acme/confirm/?t=")
    page = client.get(response["Location"]).content.decode()
    assert "a***@e***" in page
    assert "alice" in page


def test_the_confirm_step_confirms_and_finishes(client, stub):
    make_portal()
    stub.add_response("sign_up", {"UserConfirmed": False, "UserSub": "sub-1", "CodeDeliveryDetails": DELIVERY})
    stub.add_client_error("confirm_sign_up", service_error_code="CodeMismatchException", service_message="raw")
    stub.add_response("confirm_sign_up", {})
    confirm_url = client.post("/signup/acme/", GOOD)["Location"]
    wrong = client.post(confirm_url, {"username": "alice", "code": "111111"})
    assert "That code is not right" in wrong.content.decode()
    done = client.post(confirm_url, {"username": "alice", "code": "123456"})
    assert done.status_code == 302 and done["Location"].startswith("/signup/acme/done/")
    assert "You're all set" in client.get(done["Location"]).content.decode().replace("&#x27;", "'")
    assert SignupAttempt.objects.get().confirmed_at is not None


def test_the_confirm_step_resends_the_code(client, stub):
    portal = make_portal()
    SignupAttempt.objects.create(portal=portal, username="alice", status="succeeded")
    stub.add_response("resend_confirmation_code", {"CodeDeliveryDetails": {**DELIVERY, "Destination": "b***@e***"}})
    page = client.post("/signup/acme/confirm/", {"username": "alice", "resend": "1"}).content.decode()
    assert "We sent you a new code" in page
    assert "b***@e***" in page
    assert SignupAttempt.objects.get().resend_count == 1


def test_the_confirm_step_sends_threat_protection_data_and_the_analytics_endpoint(client, stub):
    from botocore.stub import ANY

    make_portal(advanced_security=True)
    page = client.get("/signup/acme/confirm/")
    text = page.content.decode()
    assert "amazon-cognito-advanced-security-data.min.js" in text and 'name="user_context_data"' in text
    assert "https://amazon-cognito-assets.us-east-1.amazoncognito.com" in page["Content-Security-Policy"]
    expected = {"UserContextData": {"EncodedData": "fingerprint"}, "AnalyticsMetadata": {"AnalyticsEndpointId": "e-1"}}
    stub.add_response(
        "resend_confirmation_code",
        {"CodeDeliveryDetails": DELIVERY},
        {"ClientId": ANY, "Username": "alice", "SecretHash": ANY, **expected},
    )
    stub.add_response(
        "confirm_sign_up",
        {},
        {"ClientId": ANY, "Username": "alice", "ConfirmationCode": "123456", "SecretHash": ANY, **expected},
    )
    url = "/signup/acme/confirm/?analytics_endpoint_id=e-1"
    sent = {"username": "alice", "user_context_data": "fingerprint"}
    assert "We sent you a new code" in client.post(url, {**sent, "resend": "1"}).content.decode()
    assert client.post(url, {**sent, "code": "123456"}).status_code == 302


def test_without_threat_protection_the_confirm_step_loads_no_cognito_script(client):
    make_portal()
    page = client.get("/signup/acme/confirm/")
    assert "amazoncognito.com" not in page.content.decode() + page["Content-Security-Policy"]


def test_a_bad_confirm_link_asks_for_the_username(client):
    make_portal()
    page = client.get("/signup/acme/confirm/?t=forged").content.decode()
    assert "This link has expired" in page
    assert 'name="username"' in page and 'type="hidden"' not in page.split('name="username"')[0][-40:]


def test_form_errors_stay_on_their_fields_and_keep_what_was_typed_but_never_the_password(client):
    make_portal()
    response = client.post("/signup/acme/", {**GOOD, "password": "weakpassword", "custom_company": "A"})
    page = response.content.decode()
    assert response.status_code == 200
    assert "Add an uppercase letter" in page
    assert "Use at least 2 characters." in page
    assert 'value="alice@example.com"' in page
    assert "weakpassword" not in page
    attempt = SignupAttempt.objects.get()
    assert attempt.status == "invalid" and set(attempt.form_errors) == {"password", "custom_company"}


def test_cognitos_refusal_shows_our_message_on_the_field(client, stub):
    make_portal()
    stub.add_client_error(
        "sign_up", service_error_code="UsernameExistsException", service_message="User already exists"
    )
    page = client.post("/signup/acme/", GOOD).content.decode()
    assert "already registered" in page
    assert "User already exists" not in page


def test_a_general_failure_shows_the_attempt_reference(client, stub):
    make_portal()
    stub.add_client_error(
        "sign_up", service_error_code="InternalErrorException", service_message="boom", http_status_code=500
    )
    page = client.post("/signup/acme/", GOOD).content.decode()
    reference = SignupAttempt.objects.get().short_reference
    assert f"Reference: {reference}" in page
    assert "boom" not in page


def test_the_success_redirect_must_be_on_the_allowlist(client, stub, settings):
    settings.SIGNUP_REDIRECT_ALLOWED_HOSTS = ["app.example.com"]
    make_portal(success_url="https://app.example.com/welcome")
    make_portal("evil", success_url="https://evil.example.net/")
    stub.add_response("sign_up", {"UserConfirmed": True, "UserSub": "s1"})
    stub.add_response("sign_up", {"UserConfirmed": True, "UserSub": "s2"})
    assert client.post("/signup/acme/", GOOD)["Location"] == "https://app.example.com/welcome"
    assert client.post("/signup/evil/", GOOD)["Location"].startswith("/signup/evil/done/")


def test_validation_data_and_query_client_metadata_reach_cognito(client, stub):
    portal = make_portal(client_metadata={"source": "web"}, client_metadata_params=["campaign"])
    ValidationDataField.objects.create(portal=portal, name="invite_code", label="Invite code", required=True)
    from botocore.stub import ANY

    stub.add_response(
        "sign_up",
        {"UserConfirmed": False, "UserSub": "s"},
        {
            "ClientId": ANY,
            "SecretHash": ANY,
            "Username": "alice",
            "Password": ANY,
            "UserAttributes": ANY,
            "ValidationData": [{"Name": "invite_code", "Value": "XYZ"}],
            "ClientMetadata": {"source": "web", "campaign": "spring"},
            "AnalyticsMetadata": {"AnalyticsEndpointId": "ep-1"},
        },
    )
    response = client.post(
        "/signup/acme/?campaign=spring&analytics_endpoint_id=ep-1&x=1", {**GOOD, "vd_invite_code": "XYZ"}
    )
    assert response.status_code == 302
    assert SignupAttempt.objects.get().validation_data_names == ["invite_code"]


def test_schema_json_describes_the_form_in_order(client):
    portal = make_portal()
    ValidationDataField.objects.create(portal=portal, name="invite_code", label="Invite code")
    data = client.get("/signup/acme/schema.json").json()
    assert data["portal"] == "acme"
    names = [f["name"] for f in data["fields"]]
    assert names[:2] == ["username", "password"] and names[-1] == "vd_invite_code"
    company = next(f for f in data["fields"] if f["attribute"] == "custom:company")
    assert company == {
        "name": "custom_company",
        "kind": "attribute",
        "attribute": "custom:company",
        "type": "string",
        "format": None,
        "required": False,
        "min_length": 2,
        "max_length": 64,
        "min_value": None,
        "max_value": None,
        "choices": None,
        "label": "Company",
        "help": "",
        "placeholder": "",
        # What the browser checks before sending, in the order the server does (signup/fields.py).
        "browser": {
            "input": "text",
            "strip": SPACE,
            "required": "required",
            "checks": [
                {"pattern": CONTROL_PATTERN, "flags": "u", "negate": True, "message": "control_characters"},
                {"max_bytes": 2048, "message": "value_too_long_bytes"},
                {"min_length": 2, "params": {"limit_value": "2"}, "message": "too_short", "collect": True},
                {"max_length": 64, "params": {"limit_value": "64"}, "message": "too_long", "collect": True},
            ],
        },
    }
    assert data["password_policy"]["minimum_length"] == 10
    page = client.get("/signup/acme/").content.decode()
    rendered = re.findall(r'<(?:input|select)[^>]* name="([^"]+)"', page)
    guard_fields = ("csrfmiddlewaretoken", "form_token", "contact_preference_note")
    assert [n for n in rendered if n not in guard_fields] == names


def test_pages_never_500_on_hostile_input(client):
    make_portal()
    hostile = {
        "username": "\x00\u202e" * 10,
        "password": "\x00",
        "email": "x" * 100000,
        "custom_employees": "1e999999",
        "birthdate": "9999-99-99",
        "zoneinfo": "../../etc",
    }
    assert client.post("/signup/acme/", hostile).status_code == 200
    form_encoded = "application/x-www-form-urlencoded"
    surrogates = "username=%ED%A0%80%00&password=%FF&email=%C0%AF&custom_employees=%F0%9F%92%A9"
    assert client.post("/signup/acme/", surrogates, content_type=form_encoded).status_code == 200
    assert (
        client.post("/signup/acme/confirm/", "username=%00&code=%ED%A0%80", content_type=form_encoded).status_code
        == 200
    )
    assert not SignupAttempt.objects.exclude(status="invalid").exists()
    # Not a form at all, so no form token either: refused, and recorded as blocked.
    assert client.post("/signup/acme/", b"\xff\xfe", content_type="application/octet-stream").status_code == 400
    assert SignupAttempt.objects.filter(status="invalid").count() == 2  # recorded, NUL and all
    assert SignupAttempt.objects.get(status="blocked").error_code == "FormExpired"
