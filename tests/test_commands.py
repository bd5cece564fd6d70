"""The operator's shell commands that need no emulator of their own."""

import html
import io
import re

import pytest
from django.contrib.auth import authenticate
from django.core.management import call_command
from django.core.management.base import CommandError

from signup.models import Portal
from tests.factories import make_portal

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


# --- The portal's challenge and who may sign up (portal add / update) -----------------------------------


def portal_command(*args: str) -> str:
    out = io.StringIO()
    call_command("portal", *args, stdout=out)
    return out.getvalue()


def stored(slug: str = "acme") -> dict:
    """Every stored value of the portal but the time of its last change."""
    values = Portal.objects.values().get(slug=slug)
    del values["updated_at"]
    return values


@pytest.fixture
def guarded():
    """A portal whose every defence differs from what the options below set."""
    return make_portal(
        challenge="turnstile",
        challenge_site_key="site-key-1",
        challenge_cost=200,
        challenge_secret_env="OLD_SECRET",
        email_domains_allowed=["old.example"],
        email_domains_denied=["bad.example"],
        phone_regions=["US"],
    )


def test_portal_add_asks_for_altcha_unless_told_otherwise():
    text = portal_command("add", "x", "--user-pool-id", "eu-west-1_abc", "--client-id", "c1", "--no-sync")
    portal = Portal.objects.get(slug="x")
    assert (portal.challenge, portal.email_domains_allowed, portal.phone_regions) == ("altcha", [], [])
    assert "ALTCHA proof of work" in text


def test_portal_add_takes_the_defences_normalised():
    portal_command(
        "add", "x", "--user-pool-id", "eu-west-1_abc", "--client-id", "c1", "--no-sync",
        "--challenge", "hcaptcha", "--challenge-site-key", "site-key-1",
        "--deny-email-domain", "@Example.COM", "--allow-phone-country", "de", "--block-disposable-email",
    )  # fmt: skip
    portal = Portal.objects.get(slug="x")
    assert (portal.challenge, portal.challenge_site_key) == ("hcaptcha", "site-key-1")
    assert (portal.email_domains_denied, portal.phone_regions, portal.block_disposable_email) == (
        ["example.com"],
        ["DE"],
        True,
    )


@pytest.mark.parametrize(
    ("options", "changed"),
    [
        (["--challenge", "hcaptcha"], {"challenge": "hcaptcha"}),
        (["--challenge-cost", "5000"], {"challenge_cost": 5000}),
        (["--challenge-site-key", "site-key-2"], {"challenge_site_key": "site-key-2"}),
        (["--challenge-secret-env", "ACME_TURNSTILE"], {"challenge_secret_env": "ACME_TURNSTILE"}),
        (
            ["--allow-email-domain", "Bücher.Example", "@Example.COM", "example.com"],
            {"email_domains_allowed": ["xn--bcher-kva.example", "example.com"]},
        ),
        (["--deny-email-domain", "*.Spam.Example."], {"email_domains_denied": ["spam.example"]}),
        (["--block-disposable-email"], {"block_disposable_email": True}),
        (["--allow-phone-country", "de", " gb "], {"phone_regions": ["DE", "GB"]}),
        (["--no-email-domain-rules"], {"email_domains_allowed": [], "email_domains_denied": []}),
        (["--any-phone-country"], {"phone_regions": []}),
    ],
    ids=lambda value: value[0] if isinstance(value, list) else "",
)
def test_portal_update_changes_exactly_what_each_option_names(guarded, options, changed):
    before = stored()
    text = portal_command("update", "acme", *options)
    assert stored() == {**before, **changed}
    assert text.startswith("Updated acme:")


def test_the_disposable_switch_goes_both_ways_and_not_both_at_once(guarded):
    portal_command("update", "acme", "--block-disposable-email")
    portal_command("update", "acme", "--allow-disposable-email")
    assert Portal.objects.get().block_disposable_email is False
    with pytest.raises(CommandError, match="not allowed with"):
        portal_command("update", "acme", "--block-disposable-email", "--allow-disposable-email")


@pytest.mark.parametrize(
    ("options", "field"),
    [
        (["--allow-email-domain", "example.com", "not a domain"], "email_domains_allowed"),
        (["--deny-email-domain", "192.0.2.1"], "email_domains_denied"),
        (["--allow-phone-country", "DE", "XX"], "phone_regions"),
        (["--challenge-cost", "0"], "challenge_cost"),
        (["--challenge-secret-env", "not a name"], "challenge_secret_env"),
    ],
    ids=["domain", "ip-address", "region", "cost", "secret-env"],
)
def test_a_bad_value_is_an_error_naming_its_field_and_nothing_is_saved(guarded, options, field):
    before = stored()
    with pytest.raises(CommandError, match=rf"^{field}: "):
        portal_command("update", "acme", "--name", "Renamed", *options)
    assert stored() == before


def test_a_provider_needs_its_site_key():
    make_portal(challenge="altcha")
    with pytest.raises(CommandError, match="challenge_site_key: Turnstile and hCaptcha need the site key"):
        portal_command("update", "acme", "--challenge", "turnstile")
    assert Portal.objects.get().challenge == "altcha"
    with pytest.raises(CommandError, match="challenge_site_key"):
        portal_command("add", "y", "--user-pool-id", "p", "--client-id", "c", "--no-sync", "--challenge", "hcaptcha")
    assert not Portal.objects.filter(slug="y").exists()
    portal_command("update", "acme", "--challenge", "turnstile", "--challenge-site-key", "site-key-1")
    assert Portal.objects.get().challenge == "turnstile"


def test_turning_the_challenge_off_takes_the_widget_off_the_page(guarded, client):
    assert 'class="cf-turnstile"' in client.get("/signup/acme/").content.decode()
    text = portal_command("update", "acme", "--challenge", "off")
    assert "no challenge" in text
    response = client.get("/signup/acme/")
    page = response.content.decode()
    assert "cf-turnstile" not in page and "altcha-widget" not in page and 'id="challenge"' not in page
    assert "challenges.cloudflare.com" not in response["Content-Security-Policy"]
