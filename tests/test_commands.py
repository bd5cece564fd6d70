"""The operator's shell commands that need no emulator of their own."""

import html
import io
import re

import pytest
from django.contrib.auth import authenticate
from django.core.management import call_command
from django.core.management.base import CommandError

from signup.models import Portal

pytestmark = pytest.mark.django_db


def test_demo_sets_up_a_synced_portal_and_an_admin_login_it_prints():
    out = io.StringIO()
    call_command("demo", "--no-serve", "--emulator-port", "0", stdout=out)
    text = out.getvalue()
    portal = Portal.objects.get(slug="demo")
    assert portal.is_synced and portal.snapshot["has_secret"]
    assert portal.validation_fields.get().name == "invite_code"
    login = next(line for line in text.splitlines() if line.startswith("Admin:"))
    password = login.rsplit(" / ", 1)[1]
    assert authenticate(username="admin", password=password) is not None
    assert "/signup/demo/" in text and "/_outbox" in text


OPERATOR_WORDS = re.compile(r"validationdata|trigger|pool|cognito|lambda|attribute", re.IGNORECASE)


def test_the_demo_forms_help_texts_speak_to_the_person_signing_up(client):
    call_command("demo", "--no-serve", "--emulator-port", "0", stdout=io.StringIO())
    page = client.get("/signup/demo/").content.decode()
    helps = {
        name: html.unescape(text)
        for name, text in re.findall(r'<p class="help" id="id_(\w+)_helptext">(.*?)</p>', page)
    }
    assert {"phone_number", "custom_employees", "vd_invite_code"} <= helps.keys()
    assert [text for text in helps.values() if OPERATOR_WORDS.search(text)] == []
    assert "invite code" in helps["vd_invite_code"].lower()


def test_demo_can_be_run_again_and_repoints_the_same_portal():
    call_command("demo", "--no-serve", "--emulator-port", "0", stdout=io.StringIO())
    first = Portal.objects.get(slug="demo").user_pool_id
    call_command("demo", "--no-serve", "--emulator-port", "0", stdout=io.StringIO())
    portal = Portal.objects.get()
    assert portal.user_pool_id != first  # the emulator starts empty, so the pool is new
    assert portal.validation_fields.count() == 1


def test_portal_add_refuses_a_duplicate_slug_and_bad_values():
    call_command(
        "portal", "add", "x", "--user-pool-id", "eu-west-1_abc", "--client-id", "c1", "--no-sync", stdout=io.StringIO()
    )
    assert Portal.objects.get(slug="x").region == "eu-west-1"
    with pytest.raises(CommandError, match="exists already"):
        call_command("portal", "add", "x", "--user-pool-id", "p", "--client-id", "c", "--no-sync")
    with pytest.raises(CommandError, match="client_secret_env"):
        call_command(
            "portal",
            "add",
            "y",
            "--user-pool-id",
            "p",
            "--client-id",
            "c",
            "--no-sync",
            "--client-secret-env",
            "not a name",
        )


def test_portal_sync_reports_an_unreachable_cognito_without_a_traceback():
    call_command(
        "portal",
        "add",
        "x",
        "--user-pool-id",
        "us-east-1_abc",
        "--client-id",
        "c1",
        "--no-sync",
        "--endpoint-url",
        "http://127.0.0.1:9",
        stdout=io.StringIO(),
    )
    err = io.StringIO()
    with pytest.raises(CommandError, match="could not be synced"):
        call_command("portal", "sync", stderr=err, stdout=io.StringIO())
    assert "x: sync failed" in err.getvalue()
