"""Signing up as a new user would, in Debian's Chromium, against the local Cognito."""

import os
import re
from pathlib import Path

import pytest
import requests
from django.contrib.auth import get_user_model

from signup.models import Portal, SignupAttempt

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


def open_page(browser, settings, **context_options):
    # As in the demo: plain-HTTP cookies on loopback.
    settings.SESSION_COOKIE_SECURE = settings.CSRF_COOKIE_SECURE = False
    context = browser.new_context(**context_options)
    return context, context.new_page()


@pytest.fixture
def page(browser, settings):
    context, page = open_page(browser, settings)
    yield page
    context.close()


@pytest.fixture
def page_without_js(browser, settings):
    context, page = open_page(browser, settings, java_script_enabled=False)
    yield page
    context.close()


def assert_accessible(page):
    """axe-core (the copy bundled with axe-playwright-python, not a CDN) finds no violation at all."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    assert results.violations_count == 0, results.generate_report()


def field(page, label):
    """The input labelled exactly `label`, whatever required/optional marker follows it."""
    return page.get_by_label(re.compile(rf"^{re.escape(label)}(\s*\*|\s*\(optional\))?$"))


def fill(page, values):
    for label, value in values.items():
        field(page, label).fill(value)


def shot(page, name):
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def test_a_new_user_signs_up_and_confirms_in_a_real_browser(page, live_server, emulator, demo_portal):
    page.goto(f"{live_server.url}/signup/demo/")
    shot(page, "01-form")
    assert_accessible(page)
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
    assert_accessible(page)

    code = requests.get(f"{emulator}/_outbox", params={"username": "dinah"}, timeout=5).json()[-1]["code"]
    field(page, "Confirmation code").fill(code)
    page.get_by_role("button", name="Confirm").click()
    page.wait_for_url("**/signup/demo/done/**")
    shot(page, "03-done")
    assert page.locator("h1").inner_text() == "You're all set"
    assert_accessible(page)

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


def test_without_javascript_the_whole_sign_up_still_works(page_without_js, live_server, emulator, demo_portal):
    page = page_without_js
    page.goto(f"{live_server.url}/signup/demo/")
    fill(
        page,
        {
            "Username": "queen",
            "Password": "OffWithHeads!1",
            "Email address": "queen@example.com",
            "First name": "Queen",
            "Last name": "Hearts",
        },
    )
    page.get_by_role("button", name="Create account").click()
    page.wait_for_url("**/signup/demo/confirm/**")
    shot(page, "06-confirm-no-js")
    code = requests.get(f"{emulator}/_outbox", params={"username": "queen"}, timeout=5).json()[-1]["code"]
    field(page, "Confirmation code").fill(code)
    page.get_by_role("button", name="Confirm").click()
    page.wait_for_url("**/signup/demo/done/**")
    assert SignupAttempt.objects.get().confirmed_at is not None


def test_without_javascript_a_refused_password_shows_which_rules_failed(
    page_without_js, live_server, emulator, demo_portal
):
    page = page_without_js
    page.goto(f"{live_server.url}/signup/demo/")
    fill(
        page,
        {
            "Username": "knave",
            "Password": "tarts",
            "Email address": "knave@example.com",
            "First name": "Knave",
            "Last name": "Hearts",
        },
    )
    page.get_by_role("button", name="Create account").click()
    page.wait_for_load_state()
    shot(page, "07-form-errors-no-js")
    states = {li.get_attribute("data-rule"): li.get_attribute("class") for li in page.locator(".policy li").all()}
    assert states == {
        "password_too_short": "unmet",
        "password_no_upper": "unmet",
        "password_no_lower": "met",
        "password_no_number": "unmet",
        "password_no_symbol": "unmet",
    }
    assert SignupAttempt.objects.get().status == "invalid"


def test_the_checklist_ticks_live_with_the_servers_rules(page, live_server, emulator, demo_portal):
    from signup.flows import portal_form_spec

    page.goto(f"{live_server.url}/signup/demo/")
    password = field(page, "Password")
    password.press_sequentially("abc")
    met = page.locator(".policy li.met")
    assert [li.get_attribute("data-rule") for li in met.all()] == ["password_no_lower"]
    shot(page, "08-checklist-typing")
    password.fill("")
    password.press_sequentially("Abcdefgh1!")
    assert page.locator(".policy li.unmet").count() == 0
    assert page.locator(".policy li.met").count() == 5
    policy = portal_form_spec(Portal.objects.get(slug="demo")).password_policy
    samples = [
        "",
        "a",
        " Abcdefgh1!",
        "Abcdefgh1! ",
        "ABCDEFGH1!",
        "abcdefgh1!",
        "Abcdefghij!",
        "Abcdefghi1",
        "Abcd efgh1",
        "Ab1!" + "x" * 253,
        "Ábcdefgh1!",
        "Abcdefgh1=",
        "Abcdefgh1€",
        "Abcdefgh1\\",
    ]
    for sample in samples:
        assert page.evaluate("p => signupPasswordFailures(p)", sample) == policy.failures(sample), sample


def test_a_refused_submit_summarises_the_errors_and_is_accessible(page, live_server, emulator, demo_portal):
    page.goto(f"{live_server.url}/signup/demo/")
    fill(page, {"Username": "tweedle", "Password": "dum", "Email address": "not-an-email"})
    page.get_by_role("button", name="Create account").click()
    summary = page.locator("#error-summary")
    assert summary.is_visible()
    assert page.evaluate("document.activeElement.id") == "error-summary"
    assert field(page, "Email address").get_attribute("aria-invalid") == "true"
    shot(page, "09-form-errors-js")
    assert_accessible(page)
    assert SignupAttempt.objects.count() == 0  # refused in the browser: nothing was sent anywhere


def test_server_side_errors_are_accessible_and_focused(page, live_server, emulator, demo_portal):
    page.goto(f"{live_server.url}/signup/demo/")
    fill(
        page,
        {
            "Username": "alice",
            "Password": "Cheshire!Cat42",
            "Email address": "alice@example.com",
            "First name": "Alice",
            "Last name": "Liddell",
        },
    )
    page.get_by_role("button", name="Create account").click()
    page.wait_for_url("**/confirm/**")
    page.goto(f"{live_server.url}/signup/demo/")
    fill(
        page,
        {
            "Username": "ALICE",
            "Password": "Cheshire!Cat42",
            "Email address": "alice2@example.com",
            "First name": "Alice",
            "Last name": "Again",
        },
    )
    page.get_by_role("button", name="Create account").click()
    page.wait_for_selector("#error-summary")
    assert "already registered" in page.locator("#error-summary").inner_text()
    assert page.evaluate("document.activeElement.id") == "error-summary"
    shot(page, "10-form-taken-username")
    assert_accessible(page)


def test_a_double_click_sends_one_sign_up(page, live_server, emulator, demo_portal):
    page.goto(f"{live_server.url}/signup/demo/")
    fill(
        page,
        {
            "Username": "dormouse",
            "Password": "Treacle-Well9",
            "Email address": "dormouse@example.com",
            "First name": "Dor",
            "Last name": "Mouse",
        },
    )
    page.get_by_role("button", name="Create account").dblclick()
    page.wait_for_url("**/confirm/**")
    sent = requests.get(f"{emulator}/_requests", timeout=5).json()
    assert [r["target"] for r in sent].count("SignUp") == 1
    assert SignupAttempt.objects.count() == 1


def test_the_password_can_be_shown_and_hidden(page, live_server, emulator, demo_portal):
    page.goto(f"{live_server.url}/signup/demo/")
    password = field(page, "Password")
    password.fill("Secret!123abc")
    toggle = page.get_by_role("button", name="Show password")
    toggle.click()
    assert password.get_attribute("type") == "text"
    assert page.get_by_role("button", name="Hide password").get_attribute("aria-pressed") == "true"
    page.get_by_role("button", name="Hide password").click()
    assert password.get_attribute("type") == "password"


def test_on_a_phone_the_password_input_keeps_the_full_width(browser, settings, live_server, emulator, demo_portal):
    context, page = open_page(browser, settings, viewport={"width": 390, "height": 844})
    try:
        page.goto(f"{live_server.url}/signup/demo/")
        toggle = page.get_by_role("button", name="Show password")
        toggle.wait_for()  # the script un-hides it; it must not take room from the input
        shot(page, "12-form-390px")
        password = field(page, "Password").bounding_box()
        username = field(page, "Username").bounding_box()
        email = field(page, "Email address").bounding_box()
        form = page.locator("#signup-form").bounding_box()
        button = toggle.bounding_box()
    finally:
        context.close()
    assert abs(password["width"] - username["width"]) <= 1 and abs(password["width"] - email["width"]) <= 1
    assert password["width"] >= 0.9 * form["width"]
    # Below the input, not over it.
    assert button["y"] >= password["y"] + password["height"]


def test_the_abandoned_confirmation_can_be_finished_later(page, live_server, emulator, demo_portal):
    page.goto(f"{live_server.url}/signup/demo/")
    fill(
        page,
        {
            "Username": "hatter",
            "Password": "Tea-Party!2026",
            "Email address": "hatter@example.com",
            "First name": "Mad",
            "Last name": "Hatter",
        },
    )
    page.get_by_role("button", name="Create account").click()
    page.wait_for_url("**/confirm/**")
    page.goto(f"{live_server.url}/signup/demo/confirm/")  # a new visit, without the link
    assert_accessible(page)
    field(page, "Username").fill("hatter")
    page.get_by_role("button", name="Send the code again").click()
    page.wait_for_selector("text=We sent you a new code")
    shot(page, "11-confirm-resent")
    code = requests.get(f"{emulator}/_outbox", params={"username": "hatter"}, timeout=5).json()[-1]["code"]
    field(page, "Username").fill("hatter")
    field(page, "Confirmation code").fill(code)
    page.get_by_role("button", name="Confirm").click()
    page.wait_for_url("**/done/**")
    assert SignupAttempt.objects.get().resend_count == 1


def test_the_form_can_be_filled_and_sent_with_the_keyboard_alone(page, live_server, emulator, demo_portal):
    page.goto(f"{live_server.url}/signup/demo/")
    page.keyboard.press("Tab")  # the first focusable control is the username
    for value in ["cheshire", "Grin-Without-Cat1"]:
        page.keyboard.type(value)
        page.keyboard.press("Tab")
    page.keyboard.press("Tab")  # past the show-password button
    for value in ["Cheshire", "Cat", "cheshire@example.com"]:
        page.keyboard.type(value)
        page.keyboard.press("Tab")
    focused = page.evaluate("document.activeElement.name")
    assert focused == "birthdate"
    page.keyboard.press("Enter")  # submits the form from any text field
    page.wait_for_url("**/confirm/**")
    assert SignupAttempt.objects.get().username == "cheshire"
