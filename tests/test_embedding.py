"""Embedding: who may frame what, and the cookie-free guard on framed POSTs."""

import io
import re

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.base import CommandError

from signup import embedding
from signup.models import Portal, SignupAttempt
from tests.factories import make_portal

pytestmark = pytest.mark.django_db

HOST = "https://shop.example.com"
GOOD = {"username": "alice", "password": "Str0ng!Passw0rd", "email": "alice@example.com"}
SAME_ORIGIN = {"HTTP_SEC_FETCH_SITE": "same-origin"}


@pytest.mark.parametrize(
    ("raw", "normalised"),
    [
        ("https://Shop.Example.com", "https://shop.example.com"),
        ("https://shop.example.com:443/", "https://shop.example.com"),
        ("https://shop.example.com:8443", "https://shop.example.com:8443"),
        ("https://*.example.com", "https://*.example.com"),
        ("https://bücher.example", "https://xn--bcher-kva.example"),
        ("http://localhost:8000", "http://localhost:8000"),
        ("http://127.0.0.1:9000", "http://127.0.0.1:9000"),
    ],
)
def test_origins_are_stored_normalised(raw, normalised):
    assert embedding.normalise_origin(raw) == normalised


@pytest.mark.parametrize(
    "raw",
    [
        "*",
        "https:",
        "example.com",
        "https://example.com/path",
        "https://example.com?x=1",
        "https://a.example.com; script-src *",
        "https://a.example.com, https://b.example.com",
        "https://user@example.com",
        "https://*",
        "https://a.*.example.com",
        "http://shop.example.com",
        "ftp://example.com",
        "https://example.com:99999",
        "'self'",
        "https://exa mple.com",
        "\x00https://shop.example.com",  # urlsplit drops leading control characters
        "https://shop.example.com\u200b",
    ],
)
def test_anything_but_an_origin_is_refused(raw):
    with pytest.raises(ValueError):
        embedding.normalise_origin(raw)


@pytest.mark.parametrize(
    ("origin", "allowed"),
    [
        ("https://shop.example.com", True),
        ("https://www.example.com", True),
        ("https://a.b.example.com", True),
        ("https://example.com", False),  # a wildcard never covers the apex
        ("http://www.example.com", False),
        ("https://www.example.com:8443", False),
        ("https://example.com.evil.net", False),
        ("https://evilexample.com", False),
        ("null", False),
        ("", False),
    ],
)
def test_parents_match_as_browsers_match_frame_ancestors(origin, allowed):
    assert embedding.origin_allowed(origin, ["https://shop.example.com", "https://*.example.com"]) is allowed


def test_an_embed_page_may_be_framed_only_by_the_listed_sites_and_ourselves(client):
    make_portal(embed_origins=[HOST])
    response = client.get("/embed/acme/")
    assert ancestors(response) == f"frame-ancestors 'self' {HOST}"
    assert response["Cache-Control"] == "no-store"


def test_every_other_page_refuses_all_framing_errors_included(client):
    make_portal(embed_origins=[HOST])
    for url in ("/signup/acme/", "/signup/acme/schema.json", "/admin/login/", "/signup/nope/"):
        response = client.get(url)
        assert ancestors(response) == "frame-ancestors 'none'", url
        assert response["X-Frame-Options"] == "DENY", url


def test_an_embed_error_page_keeps_the_framing_policy(client):
    make_portal(embed_origins=[HOST])
    refused = client.post("/embed/acme/", GOOD)
    assert refused.status_code == 403
    assert ancestors(refused) == f"frame-ancestors 'self' {HOST}"
    assert ancestors(client.get("/embed/nope/")) == "frame-ancestors 'self'"


def ancestors(response):
    """The frame-ancestors directive of a response's Content-Security-Policy."""
    policy = response["Content-Security-Policy"]
    return next(d.strip() for d in policy.split(";") if d.strip().startswith("frame-ancestors"))


def token_of(response):
    return re.search(r'name="embed_token" value="([^"]+)"', response.content.decode()).group(1)


def test_the_framed_form_sets_no_cookie_and_carries_a_token(client):
    make_portal(embed_origins=[HOST])
    response = client.get(f"/embed/acme/?parent={HOST}&embed=e1")
    assert not response.cookies
    assert "csrfmiddlewaretoken" not in response.content.decode()
    assert token_of(response)
    assert 'data-parent="https://shop.example.com"' in response.content.decode()


def test_a_parent_that_is_not_listed_gets_no_messages(client):
    make_portal(embed_origins=[HOST])
    page = client.get("/embed/acme/?parent=https://evil.example.net&embed=e1").content.decode()
    assert 'data-parent=""' in page


@pytest.mark.parametrize(
    "headers",
    [
        {"HTTP_SEC_FETCH_SITE": "cross-site"},
        {"HTTP_SEC_FETCH_SITE": "same-site"},
        {"HTTP_ORIGIN": "https://evil.example.net"},
        {"HTTP_ORIGIN": "null"},
        {},
    ],
)
def test_forged_posts_are_refused_even_with_a_valid_token(client, headers):
    make_portal(embed_origins=[HOST])
    token = token_of(client.get(f"/embed/acme/?parent={HOST}"))
    response = client.post(f"/embed/acme/?parent={HOST}", {**GOOD, "embed_token": token}, **headers)
    assert response.status_code == 403
    assert "did not come from the sign-up form" in response.content.decode()
    assert not SignupAttempt.objects.exists()


def test_an_exact_origin_is_accepted_when_the_browser_sends_no_fetch_metadata(client, stub):
    make_portal(embed_origins=[HOST])
    stub.add_response("sign_up", {"UserConfirmed": False, "UserSub": "s1"})
    token = token_of(client.get(f"/embed/acme/?parent={HOST}"))
    response = client.post(
        f"/embed/acme/?parent={HOST}", {**GOOD, "embed_token": token}, HTTP_ORIGIN="http://testserver"
    )
    assert response.status_code == 302


def test_a_framed_sign_up_is_recorded_with_its_channel_and_host_and_stays_in_the_frame(client, stub):
    make_portal(embed_origins=[HOST], require_consent=True, consent_version="v2", terms_url=f"{HOST}/terms")
    stub.add_response(
        "sign_up",
        {
            "UserConfirmed": False,
            "UserSub": "s1",
            "CodeDeliveryDetails": {"Destination": "a***@e***", "DeliveryMedium": "EMAIL", "AttributeName": "email"},
        },
    )
    token = token_of(client.get(f"/embed/acme/?parent={HOST}&embed=e1&lang=de"))
    response = client.post(
        f"/embed/acme/?parent={HOST}&embed=e1&lang=de", {**GOOD, "consent": "on", "embed_token": token}, **SAME_ORIGIN
    )
    assert response.status_code == 302
    location = response["Location"]
    assert location.startswith("/embed/acme/confirm/?") and "embed=e1" in location and "lang=de" in location
    assert not response.cookies
    attempt = SignupAttempt.objects.get()
    assert (attempt.channel, attempt.embed_origin) == ("embed", HOST)
    assert (attempt.consent_version, attempt.consent_source) == ("v2", HOST)
    confirm = client.get(location).content.decode()
    assert 'data-event="code_sent"' in confirm and 'name="embed_token"' in confirm


@pytest.mark.parametrize(
    ("claimed", "recorded"),
    [("HTTPS://Shop.Example.com:443", HOST), ("%00" + HOST, ""), (HOST + "/", HOST)],
)
def test_the_parent_is_recorded_as_the_origin_it_matched_or_not_at_all(client, stub, claimed, recorded):
    make_portal(embed_origins=[HOST])
    stub.add_response("sign_up", {"UserConfirmed": False, "UserSub": "s1"})
    token = token_of(client.get(f"/embed/acme/?parent={claimed}"))
    response = client.post(f"/embed/acme/?parent={claimed}", {**GOOD, "embed_token": token}, **SAME_ORIGIN)
    assert response.status_code == 302
    assert SignupAttempt.objects.get().embed_origin == recorded


def test_a_replayed_token_is_refused_and_the_form_comes_back_filled(client, stub):
    make_portal(embed_origins=[HOST])
    stub.add_response("sign_up", {"UserConfirmed": False, "UserSub": "s1"})
    token = token_of(client.get(f"/embed/acme/?parent={HOST}"))
    first = client.post(f"/embed/acme/?parent={HOST}", {**GOOD, "embed_token": token}, **SAME_ORIGIN)
    assert first.status_code == 302
    replay = client.post(f"/embed/acme/?parent={HOST}", {**GOOD, "embed_token": token}, **SAME_ORIGIN)
    assert replay.status_code == 403
    page = replay.content.decode()
    assert "already sent or has expired" in page
    assert 'value="alice@example.com"' in page and GOOD["password"] not in page
    assert token_of(replay) != token
    assert SignupAttempt.objects.count() == 1


def test_a_token_is_bound_to_its_portal(client):
    make_portal(embed_origins=[HOST])
    make_portal("other", embed_origins=[HOST])
    token = token_of(client.get(f"/embed/other/?parent={HOST}"))
    response = client.post(f"/embed/acme/?parent={HOST}", {**GOOD, "embed_token": token}, **SAME_ORIGIN)
    assert response.status_code == 403


def test_the_rest_of_the_site_keeps_djangos_csrf_check():
    from django.test import Client

    make_portal(embed_origins=[HOST])
    strict = Client(enforce_csrf_checks=True)
    assert strict.post("/signup/acme/", GOOD, **SAME_ORIGIN).status_code == 403


def test_the_embedded_done_page_tells_the_host_it_is_confirmed(client):
    make_portal(embed_origins=[HOST])
    page = client.get(f"/embed/acme/done/?parent={HOST}&embed=e1").content.decode()
    assert 'data-event="confirmed"' in page


def test_admin_validates_origins_and_shows_the_snippet(admin_client):
    portal = make_portal()
    portal.embed_origins = ["https://Shop.example.com/", "https://shop.example.com"]
    portal.full_clean()
    assert portal.embed_origins == [HOST]
    portal.embed_origins = ["https://shop.example.com/checkout"]
    with pytest.raises(ValidationError):
        portal.full_clean()
    page = admin_client.get(f"/admin/signup/portal/{portal.pk}/change/").content.decode()
    assert "http://testserver/static/signup/embed.js" in page and "data-portal=&quot;acme&quot;" in page
    preview = admin_client.get(f"/admin/signup/portal/{portal.pk}/embed-preview/").content.decode()
    assert '<script src="http://testserver/static/signup/embed.js" data-portal="acme" async></script>' in preview


def test_the_portal_commands_set_and_replace_embed_origins():
    call_command(
        "portal",
        "add",
        "shop",
        "--user-pool-id",
        "us-east-1_x",
        "--client-id",
        "c",
        "--no-sync",
        "--embed-origin",
        "https://Shop.example.com",
        "--embed-origin",
        "https://*.example.com",
        stdout=io.StringIO(),
    )
    assert Portal.objects.get(slug="shop").embed_origins == [HOST, "https://*.example.com"]
    out = io.StringIO()
    call_command("portal", "update", "shop", "--embed-origin", "https://www.example.org", "--closed", stdout=out)
    portal = Portal.objects.get(slug="shop")
    assert (portal.embed_origins, portal.is_open) == (["https://www.example.org"], False)
    assert "may be framed by https://www.example.org" in out.getvalue()
    with pytest.raises(CommandError, match="embed_origins"):
        call_command("portal", "update", "shop", "--embed-origin", "https://x.example.org/path")
    call_command("portal", "update", "shop", "--no-embed-origins", stdout=io.StringIO())
    assert Portal.objects.get(slug="shop").embed_origins == []
