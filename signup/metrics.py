"""Prometheus metrics: what the portal counts, and GET /metrics (docs/observability.md).

Every label value comes from a closed set (a result, an outcome, a channel) or is a slug or a code of
ours or Cognito's, bounded in length: never a username, an address, a value a visitor typed or a secret.

Under gunicorn each worker is its own process: with PROMETHEUS_MULTIPROC_DIR set (before
prometheus_client is imported, which the environment does), every worker writes its samples to files
there and /metrics adds up all of them, those of workers that have since exited included, so a counter
survives a worker's restart. gunicorn.conf.py empties the directory when the server starts.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Callable
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest, multiprocess
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4

MAX_LABEL = 64
_SAFE = re.compile(r"[^A-Za-z0-9_.:-]")

ATTEMPTS = Counter(
    "signup_attempts_total",
    "Sign-up submissions by how they ended (the Outcome's result).",
    ["portal", "channel", "status"],
)
COGNITO_CALLS = Histogram(
    "signup_cognito_call_duration_seconds",
    "Cognito calls by operation and outcome (ok, error, unreachable, no_answer), and how long each took.",
    ["operation", "outcome"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
COGNITO_ERRORS = Counter(
    "signup_cognito_errors_total", "Failed Cognito calls by operation and error code.", ["operation", "code"]
)
GUARD_REFUSALS = Counter(
    "signup_guard_refusals_total",
    "Submissions a guard stopped before Cognito, by reason (guards.BLOCK_CODES).",
    ["reason"],
)
CONFIRMATIONS = Counter("signup_confirmations_total", "ConfirmSignUp steps by outcome.", ["outcome"])
RESENDS = Counter("signup_code_resends_total", "Requests for a new confirmation code by outcome.", ["outcome"])
WEBHOOK_DELIVERIES = Counter(
    "signup_webhook_deliveries_total",
    "Webhook delivery tries by outcome (delivered, retrying, failed, disabled).",
    ["outcome"],
)
FORM_VIEWS = Counter(
    "signup_form_views_total", "Empty sign-up forms served, by portal and channel.", ["portal", "channel"]
)
RECONCILIATIONS = Counter(
    "signup_reconciliations_total",
    "Pending or unknown attempts reconciled, by result (found, not_found, error).",
    ["result"],
)

# Every metric family this module exposes (the dashboard's test checks its queries against these).
NAMES = {
    "signup_attempts_total",
    "signup_cognito_call_duration_seconds",
    "signup_cognito_errors_total",
    "signup_guard_refusals_total",
    "signup_confirmations_total",
    "signup_code_resends_total",
    "signup_webhook_deliveries_total",
    "signup_form_views_total",
    "signup_reconciliations_total",
}
# Cognito's failures in cognito.py, by class name (this module sits beside cognito.py, never above it).
_CALL_OUTCOMES = {"CognitoError": "error", "CognitoUnreachable": "unreachable", "CognitoNoAnswer": "no_answer"}
_STEPS = {"signup.confirm": CONFIRMATIONS, "signup.resend": RESENDS}


def label(value: object) -> str:
    """A code or slug as a label value: bounded, and only characters a code has."""
    return _SAFE.sub("_", str(value or "none"))[:MAX_LABEL]


# --- What the code calls -----------------------------------------------------------------------------


def record_step(step: str, portal: Any, request: Any, result: str) -> None:
    """A use case's outcome (flows.outcome.polite): a sign-up attempt, a confirmation or a resend."""
    if step == "signup":
        channel = getattr(getattr(request, "visitor", None), "channel", "")
        ATTEMPTS.labels(label(getattr(portal, "slug", "")), label(channel), label(result)).inc()
    elif step in _STEPS:
        _STEPS[step].labels(label(result)).inc()


def record_guard_refusal(reason: str) -> None:
    GUARD_REFUSALS.labels(label(reason)).inc()


def record_form_view(portal_slug: str, channel: str) -> None:
    FORM_VIEWS.labels(label(portal_slug), label(channel)).inc()


def record_webhook_delivery(outcome: str) -> None:
    WEBHOOK_DELIVERIES.labels(label(outcome)).inc()


def record_reconciliation(result: str) -> None:
    RECONCILIATIONS.labels(label(result)).inc()


def record_cognito_call(operation: str, outcome: str, latency_ms: int | None, code: str = "") -> None:
    if latency_ms is not None:
        COGNITO_CALLS.labels(label(operation), label(outcome)).observe(latency_ms / 1000)
    if outcome != "ok":
        COGNITO_ERRORS.labels(label(operation), label(code)).inc()


CallFunction = Callable[..., tuple[dict[str, Any], int]]


def cognito_call(call: CallFunction) -> CallFunction:
    """Around cognito._call, the one path of every Cognito call: its operation, outcome and latency (the
    latency _call measures, from its result or its failure), and a failure's code."""

    @functools.wraps(call)
    def counted(client: Any, operation: str, **params: Any) -> tuple[dict[str, Any], int]:
        try:
            response, latency_ms = call(client, operation, **params)
        except Exception as error:
            outcome = _CALL_OUTCOMES.get(type(error).__name__, "failed")
            record_cognito_call(operation, outcome, getattr(error, "latency_ms", None), getattr(error, "code", ""))
            raise
        record_cognito_call(operation, "ok", latency_ms)
        return response, latency_ms

    return counted


# --- The exposition (served by health.metrics_view) ---------------------------------------------------


def exposition() -> tuple[bytes, str]:
    """The text and its content type: every worker's samples in multiprocess mode, else this process's."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    return generate_latest(registry), CONTENT_TYPE_PLAIN_0_0_4
