"""What a visitor meets on the page: checklist state, accessible errors, branding, consent, resend limits."""

import re

import pytest
from django.core.exceptions import ValidationError

from signup import abuse
from signup.models import SignupAttempt
from tests.factories import make_portal

pytestmark = pytest.mark.django_db

GOOD = {"username": "alice", "password": "Str0ng!Passw0rd", "email": "alice@example.com"}


def rule_states(page):
    return dict(re.findall(r'<li data-rule="(\w+)" class="(\w*)"', page))


def test_the_checklist_starts_neutral_and_shows_each_rule_after_a_refused_password(client):
    make_portal()
    assert set(rule_states(client.get("/signup/acme/").content.decode()).values()) == {""}
    page = client.post("/signup/acme/", {**GOOD, "password": "lowercase-only"}).content.decode()
    assert rule_states(page) == {
        "password_too_short": "met",
        "password_no_upper": "unmet",
        "password_no_lower": "met",
        "password_no_number": "unmet",
        "password_no_symbol": "met",
    }


def test_each_error_is_tied_to_its_input_and_the_summary_takes_focus(client):
    make_portal()
    page = client.post("/signup/acme/", {**GOOD, "email": "nope"}).content.decode()
    email_input = re.search(r"<input[^>]*name=\"email\"[^>]*>", page).group(0)
    assert 'aria-invalid="true"' in email_input
    assert "id_email_error1" in re.search(r'aria-describedby="([^"]+)"', email_input).group(1)
    assert 'id="id_email_error1"' in page
    assert re.search(r'<div class="errors" role="alert" id="error-summary" tabindex="-1" autofocus', page)
    assert '<a href="#id_email">' in page
    password_input = re.search(r"<input[^>]*name=\"password\"[^>]*>", page).group(0)
    assert "id_password_policy" in password_input


def test_the_page_title_says_when_there_are_errors(client):
    make_portal()
    assert "<title>Error:" in client.post("/signup/acme/", {}).content.decode()
    assert "<title>Error:" not in client.get("/signup/acme/").content.decode()


def test_branding_reaches_the_page_through_a_stylesheet(client):
    make_portal(
        heading="Join Acme",
        footer_text="Acme Ltd · Imprint",
        logo_url="https://cdn.example.com/logo.png",
        brand_colour="#004488",
    )
    page = client.get("/signup/acme/").content.decode()
    assert "<h1>Join Acme</h1>" in page and "Acme Ltd · Imprint" in page
    assert '<img class="logo" src="https://cdn.example.com/logo.png" alt="Acme">' in page
    assert "<style" not in page and "style=" not in page
    css = client.get("/signup/acme/theme.css")
    assert css["Content-Type"].startswith("text/css")
    assert "--brand: #004488;" in css.content.decode()


@pytest.mark.parametrize(
    ("colours", "field"),
    [
        ({"brand_colour": "#ffff00", "brand_text_colour": "#ffffff"}, "brand_text_colour"),
        ({"text_colour": "#999999"}, "text_colour"),
        ({"brand_colour": "red"}, "brand_colour"),
        ({"brand_colour": "#000000;}body{display:none"}, "brand_colour"),
    ],
)
def test_unreadable_or_malformed_colours_are_refused(colours, field):
    portal = make_portal()
    for name, value in colours.items():
        setattr(portal, name, value)
    with pytest.raises(ValidationError) as raised:
        portal.full_clean()
    assert field in raised.value.message_dict


def test_the_default_palette_passes_wcag_aa():
    make_portal().full_clean()


def test_consent_is_required_and_recorded_with_version_time_and_page(client, stub):
    make_portal(require_consent=True, consent_version="2026-11", terms_url="https://acme.example/terms")
    page = client.post("/signup/acme/?lang=en", GOOD).content.decode()
    assert "Please accept the terms" in page
    assert 'href="https://acme.example/terms"' in page
    assert SignupAttempt.objects.get().consent_version == ""
    # A checkbox sent as "false" is no consent, as the form's own checkbox reads it.
    assert (
        "Please accept the terms" in client.post("/signup/acme/?lang=en", {**GOOD, "consent": "false"}).content.decode()
    )
    assert not SignupAttempt.objects.exclude(consent_version="").exists()
    stub.add_response("sign_up", {"UserConfirmed": False, "UserSub": "s"})
    client.post("/signup/acme/?lang=en", {**GOOD, "consent": "on"})
    attempt = SignupAttempt.objects.get(status="succeeded")
    assert attempt.consent_version == "2026-11"
    assert attempt.consent_accepted_at is not None
    assert attempt.consent_source == "http://testserver/signup/acme/?lang=en"


def test_a_portal_cannot_require_consent_without_a_version_and_a_text():
    portal = make_portal(require_consent=True)
    with pytest.raises(ValidationError):
        portal.full_clean()


def test_the_sixth_resend_in_an_hour_is_explained_and_not_sent(client, stub):
    make_portal()
    delivery = {
        "CodeDeliveryDetails": {"Destination": "a***@e***", "DeliveryMedium": "EMAIL", "AttributeName": "email"}
    }
    for _ in range(abuse.configured("resend_per_username").count):
        stub.add_response("resend_confirmation_code", delivery)
        assert (
            "We sent you a new code"
            in client.post("/signup/acme/confirm/", {"username": "bob", "resend": "1"}).content.decode()
        )
    page = client.post("/signup/acme/confirm/", {"username": "bob", "resend": "1"}).content.decode()
    assert "up to five codes an hour" in page and "You can ask again after" in page


def test_cognitos_own_resend_limit_is_explained(client, stub):
    make_portal()
    stub.add_client_error(
        "resend_confirmation_code",
        service_error_code="LimitExceededException",
        service_message="Attempt limit exceeded, please try after some time.",
    )
    page = client.post("/signup/acme/confirm/", {"username": "bob", "resend": "1"}).content.decode()
    assert "up to five codes an hour" in page


def test_the_language_follows_the_visitor_to_the_confirm_step(client, stub):
    make_portal()
    stub.add_response("sign_up", {"UserConfirmed": False, "UserSub": "s"})
    location = client.post("/signup/acme/?lang=de", GOOD)["Location"]
    assert "lang=de" in location
    assert '<html lang="de">' in client.get(location).content.decode()


def test_operators_preview_the_form_from_the_snapshot(admin_client, client):
    portal = make_portal(heading="Preview me")
    page = admin_client.get(f"/admin/signup/portal/{portal.pk}/preview/?lang=en").content.decode()
    assert "Preview me" in page and 'name="custom_company"' in page
    assert re.search(r'<button type="submit" class="primary" disabled>', page)
    assert client.get(f"/admin/signup/portal/{portal.pk}/preview/").status_code == 302
    change = admin_client.get(f"/admin/signup/portal/{portal.pk}/change/").content.decode()
    assert f"/admin/signup/portal/{portal.pk}/preview/?lang=de" in change


def test_the_admin_names_the_product_not_django(admin_client):
    index = admin_client.get("/admin/").content.decode()
    assert "<title>Portal administration | Cognito sign-up portal</title>" in index
    assert '<div id="site-name"><a href="/admin/">Cognito sign-up portal</a></div>' in index
    assert "<h1>Portal administration</h1>" in index
    portals = admin_client.get("/admin/signup/portal/").content.decode()
    assert re.search(r"<title>[^<]* \| Cognito sign-up portal</title>", portals)
    assert "Django administration" not in index + portals and "Django site admin" not in index + portals
    german = admin_client.get("/admin/", HTTP_ACCEPT_LANGUAGE="de").content.decode()
    assert "<title>Portalverwaltung | Cognito-Registrierungsportal</title>" in german
