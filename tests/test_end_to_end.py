"""The whole path over HTTP: Django's test client -> our views -> boto3 -> the local Cognito.

The emulator rejects what real Cognito would reject (SecretHash, schema, write permissions), so a
green run here means the portal sends only requests Cognito accepts.
"""

import io
import re

import pytest
import requests
from django.core.management import call_command

from signup import flows
from signup.emulator.demo import emulator_client
from signup.models import Portal, SignupAttempt, ValidationDataField

pytestmark = pytest.mark.django_db

PERSON = {
    "username": "alice",
    "password": "Str0ng!Passw0rd",
    "email": "alice@example.com",
    "given_name": "Alice",
    "family_name": "Liddell",
    "custom_company": "Wonderland Ltd",
    "custom_employees": "42",
    "phone_number": "+14155552671",
    "birthdate": "1990-05-04",
}


@pytest.fixture
def pool(demo_pool):
    return demo_pool


@pytest.fixture
def portal(demo_portal):
    ValidationDataField.objects.create(portal=demo_portal, name="invite_code", label="Invite code")
    return flows.portal_sync(portal=demo_portal)


def outbox(emulator, username):
    return requests.get(f"{emulator}/_outbox", params={"username": username}, timeout=5).json()


def user_status(emulator, pool, username):
    idp = emulator_client(emulator)
    return idp.admin_get_user(UserPoolId=pool["user_pool_id"], Username=username)["UserStatus"]


def test_the_form_is_built_from_the_emulated_pool(client, portal):
    page = client.get("/signup/demo/").content.decode()
    inputs = re.findall(r'name="([^"]+)"', page)
    for name in (
        "username",
        "password",
        "email",
        "given_name",
        "family_name",
        "phone_number",
        "birthdate",
        "custom_company",
        "custom_employees",
        "custom_newsletter",
        "vd_invite_code",
    ):
        assert name in inputs
    assert portal.snapshot["has_secret"] is True
    assert portal.snapshot["case_sensitive"] is False


def test_a_new_user_signs_up_confirms_with_the_emailed_code_and_is_recorded(client, emulator, pool, portal):
    response = client.post("/signup/demo/?campaign=spring", {**PERSON, "vd_invite_code": "WELCOME"})
    assert response.status_code == 302, response.content.decode()[:2000]
    confirm_url = response["Location"]
    assert "a***@e***" in client.get(confirm_url).content.decode()

    [message] = outbox(emulator, "alice")
    assert message["destination"] == "alice@example.com"
    done = client.post(confirm_url, {"username": "alice", "code": message["code"]})
    assert done.status_code == 302 and "/done/" in done["Location"]

    attempt = SignupAttempt.objects.get()
    assert attempt.status == "succeeded" and attempt.confirmed_at is not None and attempt.user_confirmed
    assert attempt.user_sub and attempt.request_id
    assert attempt.attributes["custom:company"] == "Wonderland Ltd"
    assert attempt.validation_data_names == ["invite_code"]
    assert user_status(emulator, pool, "alice") == "CONFIRMED"
    sent = requests.get(f"{emulator}/_requests", timeout=5).json()
    signup = next(r for r in sent if r["target"].endswith("SignUp"))
    assert signup["body"]["ValidationData"] == [{"Name": "invite_code", "Value": "WELCOME"}]
    assert signup["body"]["Password"] == "***"


def test_a_wrong_code_is_explained_and_a_resent_code_works(client, emulator, portal):
    confirm_url = client.post("/signup/demo/", PERSON)["Location"]
    wrong = client.post(confirm_url, {"username": "alice", "code": "000000"}).content.decode()
    assert "That code is not right" in wrong
    first = outbox(emulator, "alice")[-1]["code"]
    resent = client.post(confirm_url, {"username": "alice", "resend": "1"}).content.decode()
    assert "We sent you a new code" in resent
    second = outbox(emulator, "alice")[-1]["code"]
    assert first != second
    stale = client.post(confirm_url, {"username": "alice", "code": first}).content.decode()
    assert "expired" in stale
    assert client.post(confirm_url, {"username": "alice", "code": second}).status_code == 302
    assert SignupAttempt.objects.get().resend_count == 1


def test_a_user_who_left_can_confirm_later_by_username(client, emulator, portal):
    client.post("/signup/demo/", PERSON)
    code = outbox(emulator, "alice")[-1]["code"]
    # The demo pool is case-insensitive, as Cognito treats it: "Alice" is the same user.
    response = client.post("/signup/demo/confirm/", {"username": "Alice", "code": code})
    assert response.status_code == 302
    assert SignupAttempt.objects.get().confirmed_at is not None


def test_a_taken_username_is_refused_case_insensitively_as_the_pool_says(client, portal):
    assert client.post("/signup/demo/", PERSON).status_code == 302
    page = client.post("/signup/demo/", {**PERSON, "username": "ALICE"}).content.decode()
    assert "already registered" in page
    assert SignupAttempt.objects.filter(status="rejected", error_code="UsernameExistsException").count() == 1


def test_the_emulator_refuses_a_wrong_secret_hash_and_the_visitor_gets_a_clear_message(client, portal, monkeypatch):
    monkeypatch.setenv("WRONG_SECRET", "not-the-secret")
    portal.client_secret_env = "WRONG_SECRET"
    portal.save()
    page = client.post("/signup/demo/", PERSON).content.decode()
    attempt = SignupAttempt.objects.get()
    assert (attempt.status, attempt.error_code) == ("rejected", "NotAuthorizedException")
    assert "Unable to verify secret hash" in attempt.error_message
    assert "Reference:" in page and "secret" not in page.lower()


def test_a_newly_unwritable_attribute_is_caught_by_the_emulator_as_cognito_would(client, emulator, pool, portal):
    # The pool changed after the last sync: the client may no longer write custom:company.
    idp = emulator_client(emulator)
    idp.update_user_pool_client(
        UserPoolId=pool["user_pool_id"],
        ClientId=pool["client_id"],
        WriteAttributes=["email", "given_name", "family_name"],
    )
    page = client.post("/signup/demo/", PERSON).content.decode()
    attempt = SignupAttempt.objects.get()
    assert (attempt.status, attempt.error_code) == ("rejected", "NotAuthorizedException")
    assert "Sign-up was refused" in page
    flows.portal_sync(portal=portal)
    assert 'name="custom_company"' not in client.get("/signup/demo/").content.decode()


def test_the_portal_command_adds_syncs_and_lists(emulator, pool):
    out = io.StringIO()
    call_command(
        "portal",
        "add",
        "cli",
        "--user-pool-id",
        pool["user_pool_id"],
        "--client-id",
        pool["client_id"],
        "--endpoint-url",
        emulator,
        stdout=out,
    )
    assert "Synced cli" in out.getvalue()
    assert Portal.objects.get(slug="cli").snapshot["has_secret"] is True
    out = io.StringIO()
    call_command("portal", "sync", "cli", stdout=out)
    call_command("portal", "list", stdout=out)
    assert "cli\topen\tus-east-1" in out.getvalue()


def test_the_form_still_renders_when_cognito_is_unreachable(client, portal):
    portal.endpoint_url = "http://127.0.0.1:9"  # nothing listens on the discard port
    portal.save()
    assert client.get("/signup/demo/").status_code == 200
    page = client.post("/signup/demo/", PERSON).content.decode()
    assert "Please try again" in page
    assert SignupAttempt.objects.get().status == "failed"
