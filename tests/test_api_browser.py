"""The API's docs page in Debian's Chromium: Swagger UI from our own static files, under our CSP."""

import pytest

from tests.test_browser import browser  # noqa: F401  (the module-scoped Chromium)

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
    assert page.locator(".opblock").count() == 4
    assert requested and all(url.startswith(live_server.url) for url in requested), requested
    assert refused == []
    context.close()
