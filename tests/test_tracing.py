"""OpenTelemetry traces (signup/tracing.py), read from the SDK's in-memory exporter: a request span named by
its route, the Cognito call as its child with the operation and outcome, the attempt's reference on the
request; nothing personal anywhere in a span; and nothing of OpenTelemetry loaded when it is not asked for."""

import json
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from signup import tracing
from signup.models import SignupAttempt
from tests.conftest import CLIENT_SECRET, FormClient
from tests.factories import make_portal
from tests.test_api import DELIVERY, post, signed_up

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parent.parent
USERNAME, EMAIL, PASSWORD, CODE = "tracedalice", "traced.alice@example.com", "Tr4ced!Passw0rd", "482913"
GOOD = {"username": USERNAME, "password": PASSWORD, "email": EMAIL}
SIGN_UP, CONFIRM = "Cognito Identity Provider.SignUp", "Cognito Identity Provider.ConfirmSignUp"


@pytest.fixture
def spans(client_secret):
    """Tracing on, to memory, for this test only: the instrumentations are global, so they come off after."""
    memory = InMemorySpanExporter()
    assert tracing.configure(exporter=memory)
    yield memory
    tracing.stop()
    assert not tracing.enabled()


def named(memory, name):
    found = [span for span in memory.get_finished_spans() if span.name == name]
    assert len(found) == 1, [span.name for span in memory.get_finished_spans()]
    return found[0]


def page_sign_up(stub):
    make_portal()
    signed_up(stub, CodeDeliveryDetails=DELIVERY)
    response = FormClient().post("/signup/acme/?lang=es", GOOD)
    assert response.status_code == 302 and "/confirm/?" in response["Location"] and "t=" in response["Location"]
    return response["Location"]


def test_a_page_sign_up_is_a_request_span_with_the_cognito_call_as_its_child(spans, stub):
    page_sign_up(stub)
    request, call = named(spans, "POST signup/<slug:slug>/"), named(spans, SIGN_UP)
    assert call.parent.span_id == request.context.span_id and call.context.trace_id == request.context.trace_id
    assert call.attributes["rpc.method"] == "SignUp" and call.attributes["rpc.service"] == "Cognito Identity Provider"
    assert call.attributes["signup.cognito.outcome"] == "ok"
    assert request.attributes["signup.attempt.reference"] == str(SignupAttempt.objects.get().reference)
    assert request.attributes["http.route"] == "signup/<slug:slug>/"


def test_a_refused_call_records_cognitos_error_code_as_its_outcome(spans, stub):
    make_portal()
    stub.add_client_error("sign_up", service_error_code="InvalidPasswordException", service_message=PASSWORD)
    FormClient().post("/signup/acme/", GOOD)
    call = named(spans, SIGN_UP)
    assert call.attributes["signup.cognito.outcome"] == "InvalidPasswordException"
    assert call.status.description is None  # botocore puts Cognito's message there; it may quote a value


def test_an_unanswered_call_records_what_went_wrong(spans, settings):
    make_portal(endpoint_url="http://127.0.0.1:9")  # nothing listens on the discard port
    FormClient().post("/signup/acme/", GOOD)
    call = named(spans, SIGN_UP)
    assert call.attributes["signup.cognito.outcome"] == "EndpointConnectionError"
    assert {event.name for event in call.events} <= {"exception"}
    assert all(set(event.attributes) <= {"exception.type"} for event in call.events)


def test_the_confirm_steps_token_and_language_stay_out_of_every_span(spans, stub):
    confirm_url = page_sign_up(stub)
    stub.add_response("confirm_sign_up", {})
    token = parse_qs(urlsplit(confirm_url).query)["t"][0]
    assert "lang=es" in confirm_url
    done = FormClient().post(confirm_url, {"username": USERNAME, "code": CODE})
    assert done.status_code == 302
    confirm = named(spans, "POST signup/<slug:slug>/confirm/")
    assert confirm.attributes["signup.attempt.reference"] == str(SignupAttempt.objects.get().reference)
    assert named(spans, CONFIRM).parent.span_id == confirm.context.span_id
    seen = everything_in(spans)
    assert token not in seen and token[:20] not in seen
    assert "lang=" not in seen and "t=" not in seen and "?" not in seen


def everything_in(memory) -> str:
    """Every span's name, attribute values, event names and attributes, status and resource, as one text."""
    parts = []
    for span in memory.get_finished_spans():
        parts += [span.name, str(span.status.description)]
        parts += [json.dumps(dict(span.attributes), default=str), json.dumps(dict(span.resource.attributes))]
        for event in span.events:
            parts += [event.name, json.dumps(dict(event.attributes or {}), default=str)]
        for link in span.links:
            parts.append(json.dumps(dict(link.attributes or {}), default=str))
    return "\n".join(parts)


def test_nothing_personal_is_in_any_span_of_a_page_sign_up_an_api_sign_up_and_a_confirm(spans, stub):
    confirm_url = page_sign_up(stub)
    # Cognito's messages may quote what was sent: botocore puts them in the status and an exception event.
    stub.add_client_error("confirm_sign_up", service_error_code="CodeMismatchException", service_message=USERNAME)
    stub.add_response("confirm_sign_up", {})
    FormClient().post(confirm_url, {"username": USERNAME, "code": "111111"})
    FormClient().post(confirm_url, {"username": USERNAME, "code": CODE})
    other, other_email = "tracedbob", "traced.bob@example.com"
    signed_up(stub)
    body = {"username": other, "password": PASSWORD, "attributes": {"email": other_email}}
    created = post(FormClient(), "/api/v1/portals/acme/signups", body, HTTP_USER_AGENT=f"agent {EMAIL}")
    assert created.status_code == 201, created.content
    names = {span.name for span in spans.get_finished_spans()}
    assert {SIGN_UP, CONFIRM, "POST signup/<slug:slug>/", "POST signup/<slug:slug>/confirm/"} <= names
    assert "POST api/v1/portals/<slug>/signups" in names  # the route, not the path
    assert len([s for s in spans.get_finished_spans() if s.name == SIGN_UP]) == 2
    seen = everything_in(spans).lower()
    for personal in (USERNAME, EMAIL, PASSWORD, CLIENT_SECRET, CODE, other, other_email, "alice", "bob"):
        assert personal.lower() not in seen, personal
    for key in ("username", "password", "secrethash", "userattributes", "confirmationcode", "clientmetadata"):
        assert key not in seen, key


def test_without_the_endpoint_nothing_of_opentelemetry_is_loaded():
    script = """
import json, sys
import django
django.setup()
from portal.wsgi import application
import portal.urls
from signup import tracing
loaded = sorted(m for m in sys.modules if m.startswith("opentelemetry"))
print(json.dumps({"on": tracing.configure(), "loaded": loaded}))
"""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    environment["DJANGO_SETTINGS_MODULE"] = "portal.settings"
    ran = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=120
    )
    assert ran.returncode == 0, ran.stderr
    assert json.loads(ran.stdout.strip().splitlines()[-1]) == {"on": False, "loaded": []}


def test_with_the_endpoint_the_portal_exports_over_otlp(tmp_path):
    """The production path, in its own process: a batch processor over OTLP/HTTP, named by OTEL_SERVICE_NAME."""
    script = """
import json, sys
import django
django.setup()
from portal.wsgi import application
from opentelemetry import trace
from signup import tracing
provider = trace.get_tracer_provider()
processors = provider._active_span_processor._span_processors
print(json.dumps({
    "on": tracing.enabled(),
    "service": provider.resource.attributes["service.name"],
    "processors": [type(p).__name__ for p in processors],
    "middleware": any("opentelemetry" in m for m in __import__("django.conf").conf.settings.MIDDLEWARE),
}))
"""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    environment.update(
        DJANGO_SETTINGS_MODULE="portal.settings",
        OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:9",
        OTEL_SERVICE_NAME="signup-test",
        OTEL_BSP_SCHEDULE_DELAY="60000",
    )
    ran = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=120
    )
    assert ran.returncode == 0, ran.stderr
    found = json.loads(ran.stdout.strip().splitlines()[-1])
    assert found == {"on": True, "service": "signup-test", "processors": ["BatchSpanProcessor"], "middleware": True}
