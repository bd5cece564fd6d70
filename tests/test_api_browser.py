"""The API's docs page in Debian's Chromium: Swagger UI from our own static files, under our CSP."""

from pathlib import Path

import pytest
import requests

from signup.models import SignupAttempt
from tests.test_browser import browser  # noqa: F401  (the module-scoped Chromium)
from tests.test_embed_browser import Site

EXAMPLE = Path(__file__).resolve().parent.parent / "docs" / "examples" / "api-signup.html"

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_docs_page_renders_every_operation_from_our_own_origin(request, live_server):
    chromium = request.getfixturevalue("browser")
    context = chromium.new_context()
    page = context.new_page()
    requested, refused = [], []
    page.on("request", lambda r: requested.append(r.url))
    page.on("console", lambda m: refused.append(m.text) if "Content Security Policy" in m.text else None)
    page.goto(f"{live_server.url}/api/docs/")
    page.wait_for_selector(".opblock", timeout=15_000)
    assert page.locator(".opblock").count() == 5
    assert requested and all(url.startswith(live_server.url) for url in requested), requested
    assert refused == []
    context.close()


@pytest.mark.parametrize("challenge", ["off", "altcha"])
def test_the_example_page_signs_up_and_confirms_from_another_origin(
    request, live_server, emulator, demo_portal, challenge
):
    """docs/examples/api-signup.html on a second origin, calling the API cross-origin (CORS), and solving
    the portal's proof of work when it has one."""
    site = Site("127.0.0.1")
    try:
        demo_portal.api_origins = [site.origin]
        demo_portal.challenge, demo_portal.challenge_cost = challenge, 20
        demo_portal.save()
        site.pages["/"] = EXAMPLE.read_text()
        context = request.getfixturevalue("browser").new_context()
        page = context.new_page()
        page.goto(f"{site.origin}/?api={live_server.url}&portal=demo")
        page.get_by_label("Username").fill("gryphon")
        page.get_by_label("Password").fill("short")
        page.get_by_role("button", name="Create account").click()
        page.wait_for_selector(".error")  # the API's 400, read across origins, shown by the field
        page.get_by_label("Password").fill("Lobster-Quadrille1")
        page.get_by_label("Email address").fill("gryphon@example.com")
        page.get_by_label("First name").fill("Gryphon")
        page.get_by_label("Last name").fill("Griffin")
        page.get_by_role("button", name="Create account").click()
        page.wait_for_selector("#confirm:not([hidden])")
        assert "g***@e***" in page.locator("#delivery").inner_text()
        code = requests.get(f"{emulator}/_outbox", params={"username": "gryphon"}, timeout=5).json()[-1]["code"]
        page.get_by_label("Confirmation code").fill(code)
        page.get_by_role("button", name="Confirm").click()
        page.wait_for_function("document.getElementById('title').textContent === \"You're all set\"")
        attempt = SignupAttempt.objects.get(username="gryphon", status="succeeded")
        assert attempt.channel == "api" and attempt.confirmed_at is not None
        context.close()
    finally:
        site.close()
