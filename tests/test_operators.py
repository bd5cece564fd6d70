"""Operators' tools against the local Cognito: attempt story, stuck users, reconciliation, export, retention, drift."""

import csv
import io
from datetime import timedelta

import pytest
import requests
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from signup import flows, operators
from signup.emulator.demo import emulator_client
from signup.models import AttemptEvent, SignupAttempt
from tests.factories import make_portal

pytestmark = pytest.mark.django_db

PERSON = {
    "username": "alice",
    "password": "Str0ng!Passw0rd",
    "email": "alice@example.com",
    "given_name": "Alice",
    "family_name": "Liddell",
    "custom_company": "Wonderland Ltd",
}


def sign_up(client, username="alice", **extra):
    data = {**PERSON, "username": username, "email": f"{username}@example.com", **extra}
    response = client.post("/signup/demo/", data)
    assert response.status_code == 302, response.content.decode()[:500]
    return SignupAttempt.objects.get(username=username)


def live_status(emulator, pool, username):
    return emulator_client(emulator).admin_get_user(UserPoolId=pool["user_pool_id"], Username=username)["UserStatus"]


def run_action(admin_client, action, attempts):
    return admin_client.post(
        "/admin/signup/stuckuser/",
        {"action": action, "_selected_action": [a.pk for a in attempts]},
        follow=True,
    )


def messages_of(response):
    return [str(m) for m in response.context["messages"]]


def test_the_attempt_page_tells_the_whole_story_without_the_password(admin_client, client, demo_portal):
    demo_portal.sensitive_attributes = ["email"]
    demo_portal.save()
    attempt = sign_up(client)
    client.post("/signup/demo/confirm/?t=x", {"username": "alice", "code": "000000"})
    page = admin_client.get(f"/admin/signup/signupattempt/{attempt.pk}/change/").content.decode()
    assert "Wonderland Ltd" in page and "a***@e***.com" in page and "alice@example.com" not in page
    assert attempt.request_id in page
    assert "CodeMismatchException" in page  # the failed confirmation is part of the story
    assert PERSON["password"] not in page
    kinds = list(attempt.events.values_list("kind", "ok"))
    assert kinds == [("signup", True), ("confirm", False)]


def test_attempts_can_be_found_by_attribute_values_and_filtered_by_confirmation(admin_client, client, demo_portal):
    sign_up(client, "alice")
    sign_up(client, "bob", custom_company="Looking Glass")
    found = admin_client.get("/admin/signup/signupattempt/?q=looking+glass").content.decode()
    assert ">bob<" in found and ">alice<" not in found
    unconfirmed = admin_client.get("/admin/signup/signupattempt/?confirmed=no").content.decode()
    assert ">bob<" in unconfirmed
    assert ">bob<" not in admin_client.get("/admin/signup/signupattempt/?confirmed=yes").content.decode()


def test_stuck_users_are_listed_oldest_first(admin_client, client, demo_portal):
    old = sign_up(client, "old")
    SignupAttempt.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=3))
    sign_up(client, "new")
    done = sign_up(client, "done")
    SignupAttempt.objects.filter(pk=done.pk).update(confirmed_at=timezone.now())
    page = admin_client.get("/admin/signup/stuckuser/").content.decode()
    assert page.index(">old<") < page.index(">new<")
    assert ">done<" not in page


def test_operators_look_up_resend_and_confirm_stuck_users(admin_client, client, emulator, demo_pool, demo_portal):
    alice = sign_up(client, "alice")
    looked = run_action(admin_client, "look_up", [alice])
    assert "alice: UNCONFIRMED" in messages_of(looked)

    before = len(requests.get(f"{emulator}/_outbox", params={"username": "alice"}, timeout=5).json())
    resent = run_action(admin_client, "resend_code", [alice])
    assert "Sent 1 code." in messages_of(resent)
    assert len(requests.get(f"{emulator}/_outbox", params={"username": "alice"}, timeout=5).json()) == before + 1

    confirmed = run_action(admin_client, "confirm_users", [alice])
    assert "Confirmed 1 user." in messages_of(confirmed)
    assert live_status(emulator, demo_pool, "alice") == "CONFIRMED"
    alice.refresh_from_db()
    assert alice.confirmed_at is not None and alice.resend_count == 1
    actors = set(alice.events.exclude(kind="signup").values_list("actor", flat=True))
    assert actors == {"admin"}


def test_delete_removes_only_unconfirmed_users_and_reports_each_row(
    admin_client, client, emulator, demo_pool, demo_portal
):
    alice, bob = sign_up(client, "alice"), sign_up(client, "bob")
    emulator_client(emulator).admin_confirm_sign_up(UserPoolId=demo_pool["user_pool_id"], Username="bob")
    response = run_action(admin_client, "delete_unconfirmed", [alice, bob])
    shown = messages_of(response)
    assert "Deleted 1 unconfirmed user." in shown
    assert "bob: not deleted: the user is CONFIRMED" in shown
    with pytest.raises(Exception, match="UserNotFoundException"):
        live_status(emulator, demo_pool, "alice")
    assert live_status(emulator, demo_pool, "bob") == "CONFIRMED"
    assert AttemptEvent.objects.filter(kind="admin_delete", ok=True, attempt=alice).exists()


def test_an_unreachable_cognito_is_reported_per_row(admin_client):
    portal = make_portal(endpoint_url="http://127.0.0.1:9")
    attempt = SignupAttempt.objects.create(portal=portal, username="carol", status="succeeded")
    response = run_action(admin_client, "look_up", [attempt])
    assert "carol: EndpointConnectionError" in messages_of(response)


def test_reconcile_settles_old_pending_and_unknown_attempts(client, emulator, demo_pool, demo_portal):
    emulator_client(emulator).admin_create_user(UserPoolId=demo_pool["user_pool_id"], Username="created")
    old = timezone.now() - timedelta(hours=1)
    exists = SignupAttempt.objects.create(portal=demo_portal, username="created", status="unknown")
    missing = SignupAttempt.objects.create(portal=demo_portal, username="never", status="pending")
    recent = SignupAttempt.objects.create(portal=demo_portal, username="recent", status="pending")
    SignupAttempt.objects.filter(pk__in=[exists.pk, missing.pk]).update(created_at=old)
    out = io.StringIO()
    call_command("reconcile_attempts", "--older-than-minutes", "15", stdout=out)
    exists.refresh_from_db(), missing.refresh_from_db(), recent.refresh_from_db()
    assert (exists.status, exists.user_sub != "") == ("succeeded", True)
    assert (missing.status, missing.error_code) == ("failed", "UserNotFoundException")
    assert recent.status == "pending"
    assert exists.events.get().kind == "reconcile"


def test_reconcile_leaves_attempts_alone_when_cognito_cannot_answer():
    portal = make_portal(endpoint_url="http://127.0.0.1:9")
    attempt = SignupAttempt.objects.create(portal=portal, username="dan", status="unknown")
    SignupAttempt.objects.filter(pk=attempt.pk).update(created_at=timezone.now() - timedelta(hours=1))
    with pytest.raises(CommandError, match="could not be reconciled"):
        call_command("reconcile_attempts", stdout=io.StringIO())
    attempt.refresh_from_db()
    assert attempt.status == "unknown"


def read_csv(response):
    assert response["Content-Type"].startswith("text/csv")
    body = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(body)))


def test_export_streams_the_filtered_attempts_masked(admin_client):
    portal = make_portal(sensitive_attributes=["email"])
    other = make_portal("other")
    SignupAttempt.objects.create(
        portal=portal,
        username="alice",
        status="succeeded",
        attributes={"email": "alice@example.com", "custom:company": "=HYPERLINK(1)"},
    )
    SignupAttempt.objects.create(portal=portal, username="bob", status="rejected", error_code="UsernameExistsException")
    SignupAttempt.objects.create(portal=other, username="carol", status="succeeded")
    rows = read_csv(admin_client.get(f"/admin/signup/signupattempt/export.csv?portal__id__exact={portal.pk}"))
    assert [r["username"] for r in rows] == ["bob", "alice"]
    assert "alice@example.com" not in rows[1]["attributes"] and "a***@e***.com" in rows[1]["attributes"]
    assert rows[1]["attributes"].startswith("{")  # JSON, not a formula
    rows = read_csv(admin_client.get("/admin/signup/signupattempt/export.csv?status__exact=rejected"))
    assert [r["error_code"] for r in rows] == ["UsernameExistsException"]


def test_export_of_a_hundred_thousand_attempts_streams(admin_client, django_assert_max_num_queries):
    portal = make_portal()
    SignupAttempt.objects.bulk_create(
        (SignupAttempt(portal=portal, username=f"user{i}", status="succeeded") for i in range(100_000)),
        batch_size=5000,
    )
    response = admin_client.get("/admin/signup/signupattempt/export.csv")
    with django_assert_max_num_queries(60):
        lines = sum(1 for chunk in response.streaming_content for _ in chunk.splitlines())
    assert lines == 100_001


def test_purge_anonymises_old_attempts_and_keeps_their_outcome():
    portal = make_portal()
    old = SignupAttempt.objects.create(
        portal=portal,
        username="alice",
        status="succeeded",
        client_ip="203.0.113.9",
        attributes={"email": "a@example.com"},
        search_text="alice a@example.com",
    )
    new = SignupAttempt.objects.create(portal=portal, username="bob", status="succeeded")
    SignupAttempt.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=400))
    out = io.StringIO()
    call_command("purge_attempts", "--older-than", "365", "--dry-run", stdout=out)
    assert "1 attempt(s)" in out.getvalue() and SignupAttempt.objects.get(pk=old.pk).username == "alice"
    call_command("purge_attempts", "--older-than", "365", stdout=out)
    old.refresh_from_db()
    assert (old.username, old.attributes, old.client_ip, old.search_text) == ("", {}, None, "")
    assert old.status == "succeeded" and old.anonymised_at is not None
    assert SignupAttempt.objects.get(pk=new.pk).username == "bob"
    call_command("purge_attempts", "--older-than", "365", "--mode", "delete", stdout=out)
    assert not SignupAttempt.objects.filter(pk=old.pk).exists()


def test_admin_shows_schema_drift_and_resyncs(admin_client, emulator, demo_pool, demo_portal):
    page = admin_client.get(f"/admin/signup/portal/{demo_portal.pk}/change/").content.decode()
    assert "None: the form matches the pool and client." in page
    idp = emulator_client(emulator)
    idp.add_custom_attributes(
        UserPoolId=demo_pool["user_pool_id"],
        CustomAttributes=[{"Name": "team", "AttributeDataType": "String", "Mutable": True}],
    )
    idp.update_user_pool_client(
        UserPoolId=demo_pool["user_pool_id"],
        ClientId=demo_pool["client_id"],
        WriteAttributes=["email", "given_name", "family_name", "custom:team"],
    )
    drift = operators.portal_drift(portal=demo_portal, fresh=True)
    assert "new attribute custom:team" in drift.changes
    assert "client may now write custom:team" in drift.changes
    assert any(c.startswith("client may no longer write") and "custom:company" in c for c in drift.changes)
    resync = admin_client.get(f"/admin/signup/portal/{demo_portal.pk}/resync/").content.decode()
    assert "new attribute custom:team" in resync
    admin_client.post(f"/admin/signup/portal/{demo_portal.pk}/resync/")
    demo_portal.refresh_from_db()
    assert "custom:team" in demo_portal.snapshot["write_attributes"]
    assert flows.portal_form_spec(demo_portal).for_attribute("custom:team") is not None
