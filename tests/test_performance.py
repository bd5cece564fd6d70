"""What keeps the portal off the critical path (bench/ measures it; these check the mechanisms):
no query and no AWS call per form view, few queries per sign-up, portals kept per process but never
stale in the process that changed them, and a worker warmed up before its first visitor."""

import re
import threading

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import translation

from signup import caching, cognito, flows, pages, schema, warmup
from signup.caching import form_class
from signup.flows.attempts import hand_back_connection
from signup.models import FieldOverride, Portal
from tests.factories import make_portal

pytestmark = pytest.mark.django_db

GOOD = {"username": "alice", "password": "Str0ng!Passw0rd", "email": "alice@example.com"}


def queries_during(action):
    with CaptureQueriesContext(connection) as captured:
        response = action()
    return response, [q["sql"] for q in captured.captured_queries]


def test_a_form_view_runs_no_query_once_the_portal_is_loaded(client):
    make_portal()
    first, first_queries = queries_during(lambda: client.get("/signup/acme/"))
    again, queries = queries_during(lambda: client.get("/signup/acme/"))
    assert first.status_code == again.status_code == 200
    # The portal, then its overrides, translations, validation fields and webhook endpoints.
    assert len(first_queries) == 5
    assert queries == []
    assert again.content.count(b'name="username"') == 1


def test_a_sign_up_writes_the_attempt_and_its_outcome_and_reads_nothing(client, stub):
    make_portal()
    client.get("/signup/acme/")
    stub.add_response("sign_up", {"UserConfirmed": False, "UserSub": "s1"})
    response, queries = queries_during(lambda: client.post("/signup/acme/", GOOD))
    assert response.status_code == 302
    statements = [sql.split()[0] for sql in queries if not sql.startswith(("SAVEPOINT", "RELEASE"))]
    assert statements == ["INSERT", "INSERT", "UPDATE"]  # attempt (pending), its event, its outcome


def test_a_change_saved_in_this_process_shows_at_once(client):
    portal = make_portal()
    assert "Sign up" in client.get("/signup/acme/").content.decode()
    FieldOverride.objects.create(portal=portal, attribute="email", label="Work email")
    assert "Work email" in client.get("/signup/acme/").content.decode()
    portal.is_open = False
    portal.save()
    assert "Sign-up is closed" in client.get("/signup/acme/").content.decode()


def test_a_change_made_by_another_process_shows_when_the_copy_expires(client, settings, monkeypatch):
    settings.SIGNUP_PORTAL_CACHE_SECONDS = 5
    make_portal()
    clock = [1000.0]
    monkeypatch.setattr(caching.time, "monotonic", lambda: clock[0])
    client.get("/signup/acme/")
    Portal.objects.filter(slug="acme").update(is_open=False)  # no signal: as if another process saved it
    clock[0] += 4.9
    assert 'name="password"' in client.get("/signup/acme/").content.decode()
    clock[0] += 0.2
    assert "Sign-up is closed" in client.get("/signup/acme/").content.decode()


def test_an_override_changed_by_another_process_shows_when_the_copy_expires(client, settings, monkeypatch):
    from django.utils import timezone

    settings.SIGNUP_PORTAL_CACHE_SECONDS = 5
    portal = make_portal()
    before = Portal.objects.get().updated_at
    FieldOverride.objects.create(portal=portal, attribute="given_name", label="Forename")
    assert Portal.objects.get().updated_at > before  # an override's change is the portal's change
    clock = [1000.0]
    monkeypatch.setattr(caching.time, "monotonic", lambda: clock[0])
    assert "Forename" in client.get("/signup/acme/").content.decode()
    # Another process saves a new label: no signal here, only what its save wrote to the database.
    FieldOverride.objects.filter(portal=portal).update(label="Given name (as on your passport)")
    Portal.objects.filter(pk=portal.pk).update(updated_at=timezone.now())
    assert "Forename" in client.get("/signup/acme/").content.decode()  # this process's copy, for now
    clock[0] += 5.1
    assert "as on your passport" in client.get("/signup/acme/").content.decode()


def test_unknown_slugs_are_not_kept(client):
    for number in range(20):
        assert client.get(f"/signup/nope-{number}/").status_code == 404
    assert caching.kept_portal_slugs() == set()


def test_zero_seconds_reads_the_portal_on_every_request(client, settings):
    settings.SIGNUP_PORTAL_CACHE_SECONDS = 0
    make_portal()
    client.get("/signup/acme/")
    _, queries = queries_during(lambda: client.get("/signup/acme/"))
    assert len(queries) == 5  # the portal and its four prefetched sets


def test_the_empty_form_is_rendered_once_per_spec_and_language(client):
    from django.test.signals import template_rendered

    make_portal()
    rendered = []

    def note(sender, template, **kwargs):
        if template.name in ("signup/fields.html", "signup/form.html"):
            rendered.append(template.name)

    template_rendered.connect(note)
    try:
        english = client.get("/signup/acme/").content.decode()
        assert client.get("/signup/acme/").content.decode().count('name="email"') == 1
        spanish = client.get("/signup/acme/?lang=es").content.decode()
    finally:
        template_rendered.disconnect(note)
    assert rendered == ["signup/fields.html", "signup/form.html"] * 2  # once per language, not per visit
    assert "(optional)" in english and "(opcional)" in spanish and "(optional)" not in spanish


@pytest.mark.parametrize(
    ("fields", "query"),
    [
        ({}, ""),
        ({}, "?lang=de&campaign=spring&analytics_endpoint_id=abc"),
        (
            {
                "require_consent": True,
                "consent_version": "v2",
                "terms_url": "https://example.com/terms",
                "heading": "Join <Acme> & co",
                "intro": "Line one\nline two",
                "footer_text": "Acme Inc.",
                "logo_url": "https://example.com/logo.png",
                "advanced_security": True,
                "client_metadata_params": ["campaign"],
            },
            "?lang=es&campaign=a%26b%22c",
        ),
    ],
    ids=["plain", "carried-query", "everything"],
)
def test_the_kept_empty_page_is_the_page_rendered_in_full(client, rf, fields, query):
    from django.utils import translation

    make_portal(**fields)
    kept = client.get(f"/signup/acme/{query}")
    assert client.get(f"/signup/acme/{query}").status_code == 200  # served from the kept page
    request = rf.get(f"/signup/acme/{query}")
    request.csp_extra = {}
    language = {"": "en", "?lang=de": "de"}.get(query[:8], "es" if "lang=es" in query else "en")
    with translation.override(language):
        portal = caching.portal_by_slug("acme")
        spec = flows.portal_form_spec(portal)
        full = pages.render_form_page(request, portal, spec, form_class(spec)())
    tokens = re.compile(r'(name="(?:csrfmiddlewaretoken|form_token)" value=")[^"]+"')
    assert tokens.sub(r'\1…"', kept.content.decode()) == tokens.sub(r'\1…"', full.content.decode())
    assert kept["Content-Security-Policy"].count("amazoncognito.com") == int("advanced_security" in fields)
    assert "csrftoken" in kept.cookies
    assert "signup-slot-" not in kept.content.decode()


@pytest.mark.parametrize(
    ("fields", "query"),
    [
        ({}, ""),
        ({}, "?parent=https://shop.example.com&embed=frame-1&theme=dark&lang=de&campaign=spring"),
        ({}, "?parent=https://elsewhere.example.net&embed=frame-2"),  # not listed: no parent to talk to
        (
            {"advanced_security": True, "require_consent": True, "consent_version": "v1"},
            "?parent=https://shop.example.com&theme=light",
        ),
    ],
    ids=["bare", "listed-parent", "unlisted-parent", "everything"],
)
def test_the_kept_framed_page_is_the_framed_page_rendered_in_full(client, rf, fields, query):
    make_portal(embed_origins=["https://shop.example.com"], client_metadata_params=["campaign"], **fields)
    kept = client.get(f"/embed/acme/{query}")
    again = client.get(f"/embed/acme/{query}")  # served from the kept page
    request = rf.get(f"/embed/acme/{query}")
    request.csp_extra = {}
    language = "de" if "lang=de" in query else "en"
    with translation.override(language):
        portal = caching.portal_by_slug("acme")
        spec = flows.portal_form_spec(portal)
        full = pages.render_form_page(request, portal, spec, form_class(spec)(), embed=pages.embed_for(request, portal))
    tokens = re.compile(r'(name="(?:form_token|embed_token)" value=")[^"]+"')
    for page in (kept, again):
        assert page.status_code == 200 and "signup-slot-" not in page.content.decode()
        assert tokens.sub(r'\1…"', page.content.decode()) == tokens.sub(r'\1…"', full.content.decode())
        assert "csrftoken" not in page.cookies  # a frame never gets the CSRF cookie
    assert kept["Content-Security-Policy"] == again["Content-Security-Policy"]
    assert "frame-ancestors" in kept["Content-Security-Policy"]


def test_each_framed_visit_gets_its_own_embed_token_and_keeps_its_theme(client):
    make_portal(embed_origins=["https://shop.example.com"])
    pages = [
        client.get(f"/embed/acme/?parent=https://shop.example.com&theme={t}").content.decode()
        for t in ("dark", "light", "dark")
    ]
    embed_tokens = [re.search(r'name="embed_token" value="([^"]+)"', page).group(1) for page in pages]
    assert len(set(embed_tokens)) == 3
    assert "theme-dark" in pages[0] and "theme-light" in pages[1] and "theme-dark" in pages[2]
    assert "theme-dark" not in pages[1]


def test_each_visit_gets_its_own_tokens(client):
    make_portal()
    first, second = (client_of_its_own().get("/signup/acme/").content.decode() for _ in range(2))
    pattern = re.compile(r'name="form_token" value="([^"]+)"')
    assert pattern.search(first)[1] != pattern.search(second)[1]


def client_of_its_own():
    from django.test import Client

    return Client()


def test_a_form_shown_again_with_errors_is_rendered_for_its_values(client):
    make_portal()
    client.get("/signup/acme/")
    page = client.post("/signup/acme/", {**GOOD, "email": "not-an-email"}).content.decode()
    assert 'value="not-an-email"' in page and 'aria-invalid="true"' in page


def test_warm_up_builds_the_client_and_reads_the_portals_before_any_visitor(monkeypatch, client, client_secret):
    from botocore.stub import Stubber

    make_portal()
    make_portal("closed", is_open=False)
    warmup.warm_up()
    assert caching.kept_portal_slugs() == {"acme"}
    warmed = cognito.client_for("us-east-1", None, public=True)
    built = []
    monkeypatch.setattr(cognito.boto3.session.Session, "client", lambda *a, **k: built.append(a))
    monkeypatch.setattr(schema, "form_spec", lambda *a: pytest.fail("the spec was built again"))
    with Stubber(warmed) as stubber:
        stubber.add_response("sign_up", {"UserConfirmed": False, "UserSub": "s1"})
        assert client.post("/signup/acme/", GOOD).status_code == 302
    assert built == []


def test_warm_up_rehearses_a_sign_up_without_sending_or_keeping_anything(monkeypatch, caplog):
    from botocore.httpsession import URLLib3Session

    from signup.models import AttemptEvent, SignupAttempt

    make_portal()
    answered = []
    client = cognito.client_for("us-east-1", None, public=True)  # the one the warm-up rehearses with
    record = lambda model, http_response, **k: answered.append((model.name, http_response.status_code))  # noqa: E731
    client.meta.events.register("after-call.cognito-identity-provider", record, unique_id="test.answered")
    monkeypatch.setattr(URLLib3Session, "send", lambda *a, **k: pytest.fail("a rehearsal went to the network"))
    try:
        warmup.warm_up()
    finally:
        client.meta.events.unregister("after-call.cognito-identity-provider", unique_id="test.answered")
    assert "worker.warm_up_failed" not in caplog.text
    assert answered == [("SignUp", 200), ("ConfirmSignUp", 200), ("ResendConfirmationCode", 200)]
    assert SignupAttempt.objects.count() == 0 and AttemptEvent.objects.count() == 0


def test_warm_up_rehearses_each_client_once_and_the_writes_once(monkeypatch):
    make_portal()
    make_portal("beta")  # same region and endpoint as acme: the same client
    make_portal("gamma", region="eu-west-1")
    calls = {"rehearse": [], "writes": []}
    monkeypatch.setattr(warmup, "rehearse_calls", lambda region, endpoint, client_id: calls["rehearse"].append(region))
    monkeypatch.setattr(warmup, "rehearse_attempt_writes", lambda portal: calls["writes"].append(portal.slug))
    warmup.warm_up()
    assert sorted(calls["rehearse"]) == ["eu-west-1", "us-east-1"]
    assert len(calls["writes"]) == 1


def test_after_the_rehearsal_calls_go_to_cognito_again(monkeypatch):
    from botocore.httpsession import URLLib3Session

    class Sent(Exception):
        pass

    def send(*args, **kwargs):
        raise Sent

    make_portal()
    warmup.warm_up()
    monkeypatch.setattr(URLLib3Session, "send", send)
    client = cognito.client_for("us-east-1", None, public=True)
    with pytest.raises(Sent):
        client.sign_up(ClientId="c", Username="u", Password="Str0ng!Passw0rd")


def test_only_the_thread_inside_answered_locally_is_answered_here(monkeypatch):
    from botocore.httpsession import URLLib3Session

    class Sent(Exception):
        pass

    def send(*args, **kwargs):
        raise Sent

    monkeypatch.setattr(URLLib3Session, "send", send)
    client = cognito.client_for("us-east-1", None, public=True)
    call = {"ClientId": "c", "Username": "u", "ConfirmationCode": "1"}
    other = []
    with cognito.answered_locally(client, {"ConfirmSignUp": {}}):
        assert client.confirm_sign_up(**call)["ResponseMetadata"]["RequestId"] == "local"
        thread = threading.Thread(target=lambda: other.append(_outcome(lambda: client.confirm_sign_up(**call))))
        thread.start()
        thread.join()
    assert other == ["sent"]


def _outcome(action):
    try:
        action()
    except Exception as error:
        return "sent" if type(error).__name__ == "Sent" else repr(error)
    return "answered"


@pytest.mark.django_db(transaction=True)
def test_every_thread_of_a_worker_pool_starts_with_its_connections():
    from concurrent.futures import ThreadPoolExecutor

    from django.core.cache import caches
    from django.db import connections

    def state():
        barrier.wait()  # one task per thread
        pooled = getattr(connections["default"], "pool", None) is not None
        cached = getattr(caches._connections, "default", None) is not None  # this thread's own backend
        return threading.get_ident(), pooled or connections["default"].connection is not None, cached

    with ThreadPoolExecutor(max_workers=4) as pool:
        assert warmup.warm_threads(pool, 4) == 4
        barrier = threading.Barrier(4, timeout=10)
        seen = [future.result() for future in [pool.submit(state) for _ in range(4)]]
        barrier = threading.Barrier(4, timeout=10)
        for future in [pool.submit(lambda: (barrier.wait(), connections.close_all())) for _ in range(4)]:
            future.result()
    assert len({ident for ident, _, _ in seen}) == 4  # four threads, started by the warm-up
    assert all(connected for _, connected, _ in seen)
    assert all(cached for _, _, cached in seen)


def test_a_pool_smaller_than_asked_is_warmed_as_far_as_it_goes():
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=2) as pool:
        assert warmup.warm_threads(pool, 3, timeout=0.5) == 2


def test_warm_up_never_stops_a_worker_from_starting(monkeypatch, caplog):
    monkeypatch.setattr(warmup.Portal.objects, "filter", lambda **k: 1 / 0)
    warmup.warm_up()
    assert "worker.warm_up_failed" in caplog.text


@pytest.mark.django_db(transaction=True)
def test_a_pooled_connection_is_handed_back_while_cognito_answers(monkeypatch):
    closed = []
    monkeypatch.setattr(type(connection), "pool", object(), raising=False)
    monkeypatch.setattr(connection, "close", lambda: closed.append(True))
    hand_back_connection()
    assert closed == [True]


def test_without_a_pool_or_inside_a_transaction_the_connection_is_kept(monkeypatch):
    closed = []
    monkeypatch.setattr(connection, "close", lambda: closed.append(True))
    hand_back_connection()  # inside the test's transaction, whatever the backend
    assert closed == []


def test_forms_share_their_fixed_choices_instead_of_copying_them():
    from signup.forms import FixedChoiceField

    make_portal()
    spec = flows.portal_form_spec(Portal.objects.get())
    first, second = form_class(spec)(), form_class(spec)()
    assert isinstance(first.fields["zoneinfo"], FixedChoiceField)
    assert first.fields["zoneinfo"].choices is second.fields["zoneinfo"].choices
    assert len(first.fields["zoneinfo"].choices) > 400
    first.fields["zoneinfo"].choices = [("", "—"), ("UTC", "UTC")]  # a new list for one form only
    assert len(second.fields["zoneinfo"].choices) > 400
    assert form_class(spec)(data={"zoneinfo": "Europe/Berlin"}).has_error("zoneinfo") is False


def test_sqlite_connections_take_turns_for_writes_and_no_other_backend_does():
    from signup import sqlite

    connection.ensure_connection()
    assert (sqlite.take_turns in connection.execute_wrappers) == (connection.vendor == "sqlite")


@pytest.mark.parametrize(
    ("sql", "in_transaction", "takes_turn"),
    [
        ("INSERT INTO t VALUES (1)", False, True),
        ("  update t SET a = 1", False, True),
        ("DELETE FROM t", False, True),
        ("SELECT * FROM t", False, False),
        ("INSERT INTO t VALUES (1)", True, False),  # its transaction may hold SQLite's lock already
    ],
)
def test_a_write_outside_a_transaction_holds_the_turn_only_while_it_runs(sql, in_transaction, takes_turn):
    from types import SimpleNamespace

    from signup import sqlite

    seen = []
    context = {"connection": SimpleNamespace(in_atomic_block=in_transaction)}
    sqlite.take_turns(lambda *args: seen.append(sqlite._turn.locked()), sql, None, False, context)
    assert seen == [takes_turn]
    assert not sqlite._turn.locked()
