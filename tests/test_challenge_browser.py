"""ALTCHA's widget in Chromium: solved in a customer's frame with third-party cookies blocked, accessible,
in the page's language, under the page's own Content-Security-Policy, and honest without JavaScript."""

import json

import pytest
import requests

from signup.models import SignupAttempt
from tests.test_browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    assert_accessible,
    browser,  # noqa: F401  (the module-scoped Chromium)
    field,
    fill,
    open_page,
    shot,
)
from tests.test_embed_browser import Site, host_page, wait_for_event

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def page(browser, settings):  # noqa: F811
    context, page = open_page(browser, settings)
    yield page
    context.close()


@pytest.fixture
def page_without_js(browser, settings):  # noqa: F811
    context, page = open_page(browser, settings, java_script_enabled=False)
    yield page
    context.close()


@pytest.fixture
def cookieless_page(browser, tmp_path):  # noqa: F811
    """A profile that blocks third-party cookies, as in tests/test_embed_browser.py."""
    profile = tmp_path / "profile"
    (profile / "Default").mkdir(parents=True)
    (profile / "Default" / "Preferences").write_text(json.dumps({"profile": {"cookie_controls_mode": 1}}))
    context = browser.browser_type.launch_persistent_context(
        str(profile), executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
    )
    yield context.pages[0] if context.pages else context.new_page()
    context.close()


@pytest.fixture
def host_site():
    site = Site("127.0.0.1")
    yield site
    site.close()


PERSON = {"Email address": "turtle@example.com", "First name": "Mock", "Last name": "Turtle"}


@pytest.fixture
def challenged(demo_portal):
    # A light cost: the browser's guesses take well under a second on this machine.
    demo_portal.challenge, demo_portal.challenge_cost = "altcha", 50
    demo_portal.save()
    return demo_portal


def watch_for_policy_breaches(page, portal_url):
    """Console errors (a script, style or worker the policy refuses shows up there) and the portal's
    failed answers; a host site's missing favicon is not ours."""
    errors = []
    page.on(
        "console",
        lambda message: (
            errors.append(message.text)
            if message.type == "error" and not message.text.startswith("Failed to load resource")
            else None
        ),
    )
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on(
        "response",
        lambda response: (
            errors.append(f"{response.status} {response.url}")
            if response.url.startswith(portal_url) and response.status >= 400
            else None
        ),
    )
    return errors


def test_a_framed_form_solves_the_challenge_and_signs_up_without_any_cookie(
    cookieless_page, live_server, emulator, challenged, host_site
):
    page = cookieless_page
    challenged.embed_origins = [host_site.origin]
    challenged.save()
    errors = watch_for_policy_breaches(page, live_server.url)
    host_site.pages["/"] = host_page(live_server.url, 'data-title="Demo sign-up form" data-lang="en"')
    page.goto(f"{host_site.origin}/")
    wait_for_event(page, "ready")
    frame = page.frame_locator("iframe")
    fill(frame, {"Username": "mockturtle", "Password": "Lobster-Quadrille1", **PERSON})
    # Sent at once: the submit waits for the proof of work the first focus started, then goes.
    frame.get_by_role("button", name="Create account").click()
    wait_for_event(page, "code_sent")
    shot(page, "30-challenge-embed-sent")
    assert page.context.cookies() == []
    attempt = SignupAttempt.objects.get()
    assert (attempt.status, attempt.channel) == ("succeeded", "embed")
    assert errors == []
    code = requests.get(f"{emulator}/_outbox", params={"username": "mockturtle"}, timeout=5).json()[-1]["code"]
    field(frame, "Confirmation code").fill(code)
    frame.get_by_role("button", name="Confirm").click()
    wait_for_event(page, "confirmed")


def test_the_form_with_the_widget_is_accessible_before_and_after_the_check(page, live_server, challenged):
    errors = watch_for_policy_breaches(page, live_server.url)
    page.goto(f"{live_server.url}/signup/demo/")
    widget = page.locator("altcha-widget")
    widget.get_by_role("checkbox", name="I'm not a robot").wait_for()
    assert_accessible(page)
    widget.get_by_text("I'm not a robot").click()  # as a person does: on the label
    widget.locator('.altcha[data-state="verified"]').wait_for()  # (wait_for_function would need eval)
    assert page.locator("input[name=altcha]").input_value()  # the solution, in the widget's default field
    assert_accessible(page)
    shot(page, "31-challenge-verified")
    assert errors == []


@pytest.mark.parametrize(("language", "label"), [("de", "Ich bin kein Roboter"), ("es", "No soy un robot")])
def test_the_widget_speaks_the_pages_language(page, live_server, challenged, language, label):
    page.goto(f"{live_server.url}/signup/demo/?lang={language}")
    page.locator("altcha-widget").get_by_text(label).wait_for()


def test_without_javascript_the_page_says_why_and_keeps_what_was_typed(page_without_js, live_server, challenged):
    page = page_without_js
    page.goto(f"{live_server.url}/signup/demo/")
    notice = page.locator("#challenge .notice")  # inside <noscript>, which Playwright's text search skips
    assert notice.is_visible() and "needs JavaScript" in notice.inner_text()
    fill(page, {"Username": "mockturtle", "Password": "Lobster-Quadrille1", **PERSON})
    page.get_by_role("button", name="Create account").click()
    assert "Complete the check that you are not a robot" in page.content()
    assert field(page, "Email address").input_value() == "turtle@example.com"
    assert SignupAttempt.objects.get().error_code == "ChallengeMissing"
