"""The embed in Chromium: a host site frames the portal from another site, third-party cookies blocked."""

import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from signup.models import SignupAttempt
from tests.test_browser import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, field

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

EVENT_TYPES = ["ready", "resized", "validation_failed", "submitted", "code_sent", "confirmed", "error"]
EVENT_LOG = """<script>
window.events = [];
TYPES.forEach(function (type) {
  document.addEventListener("signup:" + type, function (e) {
    window.events.push({type: type, detail: e.detail, fromScriptTag: e.target.tagName === "SCRIPT"});
  });
});
</script>""".replace("TYPES", json.dumps(EVENT_TYPES))


class Site:
    """A tiny web site on a loopback address, serving the pages a test gives it."""

    def __init__(self, host):
        pages = self.pages = {}

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                body = pages.get(self.path.split("?")[0], "not found").encode()
                self.send_response(200 if self.path.split("?")[0] in pages else 404)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer((host, 0), Handler)
        self.origin = f"http://{host}:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()


@pytest.fixture
def host_site():
    site = Site("127.0.0.1")
    yield site
    site.close()


@pytest.fixture
def attacker_site():
    site = Site("127.0.0.2")
    yield site
    site.close()


@pytest.fixture(scope="module")
def playwright_instance():
    from playwright.sync_api import sync_playwright

    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_playwright() as playwright:
        yield playwright
    del os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"]


@pytest.fixture
def page(playwright_instance, tmp_path):
    """A Chromium profile that blocks third-party cookies, set explicitly rather than trusting a default."""
    if not CHROMIUM.exists():
        pytest.fail("Debian's Chromium is missing: `make test` installs it (apt-get install chromium)")
    profile = tmp_path / "profile"
    (profile / "Default").mkdir(parents=True)
    (profile / "Default" / "Preferences").write_text(json.dumps({"profile": {"cookie_controls_mode": 1}}))
    context = playwright_instance.chromium.launch_persistent_context(
        str(profile), executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
    )
    page = context.pages[0] if context.pages else context.new_page()
    yield page
    context.close()


@pytest.fixture
def embeddable(demo_portal, host_site):
    demo_portal.embed_origins = [host_site.origin]
    demo_portal.save()
    return demo_portal


def host_page(portal_url, *tags):
    """A customer's page with one loader tag per entry of `tags` (its extra attributes)."""
    scripts = "".join(
        f'<script src="{portal_url}/static/signup/embed.js" data-portal="demo" {extra} async></script>'
        for extra in tags or ("",)
    )
    head = "<!doctype html><html lang=en><head><title>Host</title></head>"
    return f"{head}<body><h1>Shop</h1>{EVENT_LOG}{scripts}</body></html>"


def events(page):
    return page.evaluate("window.events")


def wait_for_event(page, kind, count=1):
    page.wait_for_function(
        "([kind, count]) => window.events.filter(e => e.type === kind).length >= count", arg=[kind, count]
    )


def test_a_visitor_signs_up_inside_a_customer_page_without_third_party_cookies(
    page, live_server, emulator, embeddable, host_site
):
    host_site.pages["/"] = host_page(live_server.url, 'data-title="Demo sign-up form" data-lang="en"')
    page.goto(f"{host_site.origin}/")
    frame_element = page.locator("iframe")
    assert frame_element.get_attribute("title") == "Demo sign-up form"
    wait_for_event(page, "ready")
    wait_for_event(page, "resized")
    frame = page.frame_locator("iframe")
    fill_frame = {
        "Username": "mockturtle",
        "Password": "Lobster-Quadrille1",
        "Email address": "turtle@example.com",
        "First name": "Mock",
        "Last name": "Turtle",
    }
    for label, value in fill_frame.items():
        field(frame, label).fill(value)
    frame.get_by_role("button", name="Create account").click()
    wait_for_event(page, "code_sent")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "20-embed-confirm.png"), full_page=True)
    code = requests.get(f"{emulator}/_outbox", params={"username": "mockturtle"}, timeout=5).json()[-1]["code"]
    field(frame, "Confirmation code").fill(code)
    frame.get_by_role("button", name="Confirm").click()
    wait_for_event(page, "confirmed")
    page.screenshot(path=str(ARTIFACTS / "21-embed-done.png"), full_page=True)

    seen = events(page)
    kinds = [e["type"] for e in seen]
    assert kinds.index("ready") < kinds.index("submitted") < kinds.index("code_sent") < kinds.index("confirmed")
    for event in seen:
        assert event["fromScriptTag"]
        assert set(event["detail"]) <= {"type", "portal", "embed", "height"}  # never personal data
        assert "turtle" not in json.dumps(event["detail"])
    heights = [e["detail"]["height"] for e in seen if e["type"] == "resized"]
    assert heights and frame_element.evaluate("f => f.getBoundingClientRect().height") == heights[-1]
    assert frame_element.evaluate("f => f.contentWindow.length") == 0
    assert page.context.cookies() == []  # the whole flow ran without any cookie

    attempt = SignupAttempt.objects.get()
    assert (attempt.status, attempt.channel, attempt.embed_origin) == ("succeeded", "embed", host_site.origin)
    assert attempt.confirmed_at is not None


def test_several_forms_on_one_page_each_get_their_own_events(page, live_server, emulator, embeddable, host_site):
    host_site.pages["/"] = host_page(live_server.url, 'data-lang="en"', 'data-lang="de" data-theme="dark"')
    page.goto(f"{host_site.origin}/")
    wait_for_event(page, "ready", 2)
    frames = page.locator("iframe")
    assert frames.count() == 2
    embeds = {e["detail"]["embed"] for e in events(page) if e["type"] == "ready"}
    assert len(embeds) == 2
    german = page.frame_locator("iframe").nth(1)
    assert german.get_by_role("button", name="Konto erstellen").is_visible()


def test_a_site_that_is_not_listed_cannot_frame_the_form(page, live_server, embeddable, attacker_site):
    attacker_site.pages["/"] = host_page(live_server.url)
    with page.expect_console_message(lambda m: "frame-ancestors" in m.text) as refusal:
        page.goto(f"{attacker_site.origin}/")
    assert attacker_site.origin not in refusal.value.text.split("frame-ancestors", 1)[1]
    assert page.locator("iframe").count() == 1
    page.frames[1].wait_for_url("chrome-error://**")
    assert events(page) == []


def test_stock_pages_refuse_to_be_framed_even_by_a_listed_site(page, live_server, embeddable, host_site):
    host_site.pages["/"] = f'<iframe src="{live_server.url}/signup/demo/" title="x"></iframe>'
    with page.expect_console_message(lambda m: "frame-ancestors 'none'" in m.text):
        page.goto(f"{host_site.origin}/")
    page.frames[1].wait_for_url("chrome-error://**")


def test_a_forged_post_from_another_site_is_refused_even_with_a_fresh_token(
    page, live_server, embeddable, attacker_site
):
    # An attacker can always fetch a valid token; only the browser's own headers tell the sites apart.
    html = requests.get(f"{live_server.url}/embed/demo/", timeout=5).text
    token = html.split('name="embed_token" value="')[1].split('"')[0]
    attacker_site.pages["/"] = (
        f'<form id="f" method="post" action="{live_server.url}/embed/demo/">'
        f'<input name="embed_token" value="{token}"><input name="username" value="victim">'
        '<input name="password" value="Forged-Pass1!"><input name="email" value="v@example.com"></form>'
        '<script>document.getElementById("f").submit()</script>'
    )
    with page.expect_response(lambda r: r.url.startswith(f"{live_server.url}/embed/demo/")) as response:
        page.goto(f"{attacker_site.origin}/")
    assert response.value.status == 403
    assert SignupAttempt.objects.count() == 0


def test_a_replayed_form_is_refused_in_the_frame_and_comes_back_to_fix(
    page, live_server, emulator, embeddable, host_site
):
    host_site.pages["/"] = host_page(live_server.url)
    page.goto(f"{host_site.origin}/")
    wait_for_event(page, "ready")
    frame = page.frame_locator("iframe")
    field(frame, "Username").fill("caterpillar")
    field(frame, "Password").fill("Hookah-Smoke42")
    field(frame, "Email address").fill("cat@example.com")
    field(frame, "First name").fill("Cater")
    field(frame, "Last name").fill("Pillar")
    inner = page.frames[1]
    token = inner.locator("input[name=embed_token]").input_value()
    frame.get_by_role("button", name="Create account").click()
    wait_for_event(page, "code_sent")
    # The same token again, from the frame's own document (same-origin): spent, so refused.
    status = page.frames[1].evaluate(
        """async token => {
            const body = new URLSearchParams({embed_token: token, username: "caterpillar2"});
            const response = await fetch(location.pathname.replace("confirm/", ""), {method: "POST", body});
            return response.status;
        }""",
        token,
    )
    assert status == 403
    assert SignupAttempt.objects.count() == 1


def test_the_admin_live_preview_hosts_the_snippet_and_lists_its_events(page, live_server, embeddable):
    from django.contrib.auth import get_user_model

    get_user_model().objects.create_superuser("operator", "op@example.com", "operator-Pass-123")
    page.goto(f"{live_server.url}/admin/login/")
    page.get_by_label("Username").fill("operator")
    page.get_by_label("Password").fill("operator-Pass-123")
    page.get_by_role("button", name="Log in").click()
    page.goto(f"{live_server.url}/admin/signup/portal/{embeddable.pk}/embed-preview/")
    page.wait_for_selector("#embed-events li")
    assert '"type":"ready"' in page.locator("#embed-events").inner_text()
    assert page.frame_locator("iframe").get_by_role("button", name="Create account").is_visible()
