"""OpenTelemetry traces, only when OTEL_EXPORTER_OTLP_ENDPOINT is set (docs/observability.md, Traces).

Each request is a span of Django's instrumentation, named by its route ("POST signup/<slug:slug>/"), and
each Cognito call a child span of botocore's ("Cognito Identity Provider.SignUp") with `rpc.method` and
`signup.cognito.outcome` (ok, or the error code). The attempt's reference goes on the request span.

Nothing personal leaves the process: every span passes through `_Scrubbed` on its way to the exporter,
which keeps only the attributes on `ALLOWED` (an allow list, so an instrumentation that starts recording
something new, such as a header or the full URL, records it for nobody), drops the status description
(botocore puts Cognito's error message there, and Cognito's messages can quote the values sent) and keeps
of an exception event only its type.

Unset, `configure` imports nothing of OpenTelemetry, and `note` costs one comparison.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable
from typing import Any

# What a span may carry out of the process. Django's instrumentation (both semantic-convention
# generations) and botocore's, minus the URL, target, query, peer address, user agent and headers.
ALLOWED = frozenset(
    {
        # the request: method, route (a pattern such as signup/<slug:slug>/confirm/), status, protocol
        "http.method",
        "http.request.method",
        "http.route",
        "http.status_code",
        "http.response.status_code",
        "http.scheme",
        "url.scheme",
        "http.flavor",
        "network.protocol.version",
        "error.type",
        # the Cognito call: which operation where, Cognito's request id and status, and how it ended
        "rpc.system",
        "rpc.service",
        "rpc.method",
        "cloud.region",
        "server.address",
        "server.port",
        "aws.request_id",
        "retry_attempts",
        # ours
        "signup.attempt.reference",
        "signup.cognito.outcome",
    }
)
REFERENCE = "signup.attempt.reference"
OUTCOME = "signup.cognito.outcome"
DEFAULT_SERVICE_NAME = "cognito-signup-portal"

_lock = threading.Lock()
_configured = False
# Set once tracing is on: opentelemetry.trace.get_current_span. None means `note` does nothing.
_current_span: Callable[[], Any] | None = None


def enabled() -> bool:
    return _current_span is not None


def note(name: str, value: str) -> None:
    """An attribute on the current span (the request's, in a flow); nothing when tracing is off."""
    if _current_span is not None:
        _current_span().set_attribute(name, value)


def note_reference(reference: object) -> None:
    """The attempt's reference (a UUID, nothing personal) on the request's span."""
    if _current_span is not None and reference:
        _current_span().set_attribute(REFERENCE, str(reference))


def configure(*, exporter: Any = None) -> bool:
    """Trace this process's requests and Cognito calls, once. Without `exporter`, only when
    OTEL_EXPORTER_OTLP_ENDPOINT is set, through a batch processor and OTLP over HTTP (which reads the
    OTEL_EXPORTER_OTLP_* variables itself); with one (tests, the benchmark), synchronously to it.
    Returns whether tracing is on. Call it in the process that serves (a gunicorn worker, not the master:
    the batch processor's thread does not survive a fork)."""
    global _configured
    if exporter is None and not os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        return False
    with _lock:
        if _configured:
            return True
        _start(exporter)
        _configured = True
    return True


def _start(exporter: Any) -> None:
    global _current_span
    from opentelemetry import trace
    from opentelemetry.instrumentation.botocore import BotocoreInstrumentor
    from opentelemetry.instrumentation.django import DjangoInstrumentor
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

    resource = Resource.create({SERVICE_NAME: os.environ.get("OTEL_SERVICE_NAME") or DEFAULT_SERVICE_NAME})
    provider = TracerProvider(resource=resource)
    if exporter is None:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(_scrubbed(OTLPSpanExporter())))
        trace.set_tracer_provider(provider)  # once per process; tests pass their provider instead
    else:
        provider.add_span_processor(SimpleSpanProcessor(_scrubbed(exporter)))
    DjangoInstrumentor().instrument(tracer_provider=provider)
    BotocoreInstrumentor().instrument(tracer_provider=provider, response_hook=_cognito_outcome)
    _current_span = trace.get_current_span


def stop() -> None:
    """Undo `configure` (tests): the instrumentations are global, so other tests must not inherit them."""
    global _configured, _current_span
    with _lock:
        if not _configured:
            return
        from opentelemetry.instrumentation.botocore import BotocoreInstrumentor
        from opentelemetry.instrumentation.django import DjangoInstrumentor

        DjangoInstrumentor().uninstrument()
        BotocoreInstrumentor().uninstrument()
        _configured, _current_span = False, None


def _cognito_outcome(span: Any, service_name: str, operation_name: str, result: Any) -> None:
    """botocore's response hook: "ok", Cognito's error code, or (no answer at all) the exception's type,
    which is in flight while the instrumentation calls this hook from its `finally`."""
    if result is None:
        error = sys.exc_info()[1]
        outcome = type(error).__name__ if error is not None else "NoAnswer"
    elif isinstance(result, dict) and "Error" in result:
        outcome = str(result["Error"].get("Code") or "Unknown")
    else:
        outcome = "ok"
    span.set_attribute(OUTCOME, outcome)


def _scrubbed(exporter: Any) -> Any:
    from opentelemetry.sdk.trace import Event, ReadableSpan
    from opentelemetry.sdk.trace.export import SpanExporter
    from opentelemetry.trace import Link, Status

    def scrub(span: ReadableSpan) -> ReadableSpan:
        attributes = {k: v for k, v in (span.attributes or {}).items() if k in ALLOWED}
        events = [
            Event(event.name, {"exception.type": event.attributes["exception.type"]}, event.timestamp)
            if event.attributes and "exception.type" in event.attributes
            else Event(event.name, None, event.timestamp)
            for event in span.events
        ]
        return ReadableSpan(
            name=span.name,
            context=span.context,
            parent=span.parent,
            resource=span.resource,
            attributes=attributes,
            events=events,
            links=[Link(link.context) for link in span.links],
            kind=span.kind,
            status=Status(span.status.status_code),
            start_time=span.start_time,
            end_time=span.end_time,
            instrumentation_scope=span.instrumentation_scope,
        )

    class Scrubbed(SpanExporter):
        """The one door out of the process for spans: only allowed attributes pass."""

        def export(self, spans: Any) -> Any:
            return exporter.export([scrub(span) for span in spans])

        def shutdown(self) -> None:
            exporter.shutdown()

        def force_flush(self, timeout_millis: int = 30000) -> bool:
            return bool(exporter.force_flush(timeout_millis))

    return Scrubbed()
