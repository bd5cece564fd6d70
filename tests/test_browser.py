"""Signing up as a new user would, in Debian's Chromium, against the local Cognito."""

import os
from pathlib import Path

import pytest
import requests
from django.contrib.auth import get_user_model

from signup.models import SignupAttempt

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
# Chromium must not reach for Google's services: this machine's network is closed.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture(scope="module")
def browser():
    # Playwright's sync API keeps an event loop on this thread; the test's own ORM calls are still
    # synchronous, so Django's async-safety guard would refuse them.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    if not CHROMIUM.exists():
        pytest.fail("Debian's Chromium is missing: `make test` installs it (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()
    del os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"]


@pytest.fixture
def page(browser, settings):
    # As in the demo: plain-HTTP cookies on loopback.
    settings.SESSION_COOKIE_SECURE = settings.CSRF_COOKIE_SECURE = False
    context = browser.new_context()
    page = context.new_page()
    yield page
    context.close()


def fill(page, values):
    for label, value in values.items():
        page.get_by_label(label).fill(value)


def shot(page, name):
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def test_a_new_user_signs_up_and_confirms_in_a_real_browser(page, live_server, emulator, demo_portal):
    page.goto(f"{live_server.url}/signup/demo/")
    shot(page, "01-form")
    fill(
        page,
        {
            "Username": "dinah",
            "Password": "Cheshire!Cat42",
            "Email address": "dinah@example.com",
            "First name": "Dinah",
            "Last name": "Liddell",
            "Company": "Wonderland Ltd",
        },
    )
    page.get_by_role("button", name="Create account").click()
    page.wait_for_url("**/signup/demo/confirm/**")
    shot(page, "02-confirm")
    assert "d***@e***" in page.content()

    code = requests.get(f"{emulator}/_outbox", params={"username": "dinah"}, timeout=5).json()[-1]["code"]
    page.get_by_label("Confirmation code").fill(code)
    page.get_by_role("button", name="Confirm").click()
    page.wait_for_url("**/signup/demo/done/**")
    shot(page, "03-done")
    assert "You're all set" in page.content() or "You&#x27;re all set" in page.content()

    get_user_model().objects.create_superuser("operator", "op@example.com", "operator-Pass-123")
    page.goto(f"{live_server.url}/admin/login/")
    page.get_by_label("Username").fill("operator")
    page.get_by_label("Password").fill("operator-Pass-123")
    page.get_by_role("button", name="Log in").click()
    attempt = SignupAttempt.objects.get()
    page.goto(f"{live_server.url}/admin/signup/signupattempt/")
    shot(page, "04-admin-attempts")
    row = page.locator("#result_list tbody tr").first
    assert "dinah" in row.inner_text() and "succeeded" in row.inner_text()
    assert attempt.status == "succeeded" and attempt.confirmed_at is not None


def test_a_weak_password_is_refused_on_its_field_without_calling_cognito(page, live_server, emulator, demo_portal):
    page.goto(f"{live_server.url}/signup/demo/")
    fill(
        page,
        {
            "Username": "bill",
            "Password": "lizard",
            "Email address": "bill@example.com",
            "First name": "Bill",
            "Last name": "Lizard",
        },
    )
    page.get_by_role("button", name="Create account").click()
    page.wait_for_load_state()
    shot(page, "05-form-errors")
    assert page.locator(".has-error #id_password").count() == 1
    assert "Add an uppercase letter" in page.content()
    assert SignupAttempt.objects.get().status == "invalid"
    assert requests.get(f"{emulator}/_outbox", timeout=5).json() == []
