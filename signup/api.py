"""The API channel: JSON in, JSON out, for single-page and mobile apps that keep their own screens.

Like every channel it only parses, calls a use case (flows/) and renders the Outcome: here as an HTTP
status and a JSON body, errors as RFC 9457 problem details keyed by Cognito's attribute names. The
OpenAPI document is generated from this module (django-ninja), so it cannot drift from what it serves.
No cookies are read or set, so there is no CSRF token to ask for.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from collections.abc import Callable
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.crypto import salted_hmac
from django.utils.translation import get_language
from django.views.decorators.csrf import csrf_exempt
from ninja import Header, NinjaAPI, Schema
from ninja.errors import HttpError, ValidationError
from ninja.openapi.docs import Swagger
from ninja.parser import Parser
from pydantic import BaseModel, ConfigDict, Field

from . import captcha, challenges, flows, logs, metrics
from .caching import portal_by_slug
from .flows import NextStep, Outcome, Problem, Result
from .flows.validation import NON_FIELD
from .messages import message
from .models import Challenge, Portal
from .schema import FormSpec
from .visitors import api_visitor_from

PROBLEM_JSON = "application/problem+json"
MAX_BODY_BYTES = 64 * 1024  # a sign-up is a few hundred bytes; Cognito takes at most 2048 per value
IDEMPOTENCY_SECONDS = 24 * 3600
# A first request still running holds its key this long at most: a process that died mid-request does
# not lock the key for a day. A sign-up's own wait for Cognito is bounded well within it.
IDEMPOTENCY_PENDING_SECONDS = 60
MAX_IDEMPOTENCY_KEY = 255


# --- Problems (RFC 9457) ---------------------------------------------------------------------------


class ApiProblem(Exception):
    """A refusal before any use case runs (unknown portal, unreadable body): rendered as a problem."""

    def __init__(self, status: int, code: str, errors: dict[str, list[Problem]] | None = None, **extra: Any):
        super().__init__(code)
        self.status, self.code, self.errors, self.extra = status, code, errors or {}, extra


TITLES = {
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    413: "Content Too Large",
    415: "Unsupported Media Type",
    422: "Unprocessable Content",
    429: "Too Many Requests",
    503: "Service Unavailable",
}


def problem(
    status: int,
    code: str,
    *,
    detail: str = "",
    errors: dict[str, list[Problem]] | None = None,
    retry_at: datetime | None = None,
    **extra: Any,
) -> HttpResponse:
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": TITLES.get(status, "Error"),
        "status": status,
        "code": code,
        "detail": detail or message(code),
        **{name: value for name, value in extra.items() if value is not None},
    }
    if errors:
        body["errors"] = {
            name: [{"code": p.code, "message": p.message} for p in found] for name, found in errors.items()
        }
    response = HttpResponse(json.dumps(body, ensure_ascii=False), status=status, content_type=PROBLEM_JSON)
    if status in (429, 503):
        response["Retry-After"] = str(_seconds_until(retry_at))
    return response


def _seconds_until(when: datetime | None) -> int:
    if when is None:
        return 60
    return max(1, math.ceil((when - timezone.now()).total_seconds()))


class JsonOnly(Parser):
    """Bodies are JSON (or a +json type), small, and an object; anything else is refused before parsing."""

    def parse_body(self, request: HttpRequest) -> Any:
        media_type = (request.content_type or "").lower()
        if media_type != "application/json" and not media_type.endswith("+json"):
            raise ApiProblem(415, "api_json_only")
        length = request.META.get("CONTENT_LENGTH") or "0"
        if not length.isdigit() or int(length) > MAX_BODY_BYTES:
            raise ApiProblem(413, "api_body_too_large")
        try:
            raw = request.body
        except RequestDataTooBig:
            raise ApiProblem(413, "api_body_too_large") from None
        if len(raw) > MAX_BODY_BYTES:
            raise ApiProblem(413, "api_body_too_large")
        try:
            data = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            raise ApiProblem(400, "api_bad_json") from None
        if not isinstance(data, dict):
            raise ApiProblem(400, "api_bad_json")
        return data


class Api(NinjaAPI):
    def get_openapi_schema(self, *args: Any, **kwargs: Any) -> Any:
        """Error answers are problem details (RFC 9457): say so in the document, as they are served."""
        schema = super().get_openapi_schema(*args, **kwargs)
        for operations in schema.get("paths", {}).values():
            for operation in operations.values():
                for status, answer in operation.get("responses", {}).items():
                    content = answer.get("content", {})
                    if int(status) >= 400 and "application/json" in content:
                        answer["content"] = {PROBLEM_JSON: content.pop("application/json")}
                    if int(status) in (429, 503):
                        answer["headers"] = {
                            "Retry-After": {
                                "description": "Seconds to wait before trying again.",
                                "schema": {"type": "integer", "minimum": 1},
                            }
                        }
        return schema


api = Api(
    title="Sign-up portal API",
    version="1",
    description=(
        "Sign users up to a portal's Amazon Cognito user pool from your own screens: read the generated "
        "form, send a sign-up, confirm it with the code. Errors are RFC 9457 problem details; messages "
        "follow Accept-Language (en, es, de). No cookies and no CSRF token are needed."
    ),
    urls_namespace="api",
    docs=Swagger(settings={"validatorUrl": None}),  # its default badge would call swagger.io
    docs_url="/docs/",
    openapi_url="/openapi.json",
    parser=JsonOnly(),
)


@api.exception_handler(ApiProblem)
def _api_problem(request: HttpRequest, error: ApiProblem) -> HttpResponse:
    return problem(error.status, error.code, errors=error.errors, **error.extra)


@api.exception_handler(ValidationError)
def _invalid_body(request: HttpRequest, error: ValidationError) -> HttpResponse:
    """Wrong shapes and types (pydantic's findings), keyed like the form's errors: by attribute name."""
    errors: dict[str, list[Problem]] = {}
    for found in error.errors:
        location = [str(part) for part in found.get("loc", ()) if part not in ("body", "payload", "header")]
        if location and location[0] in ("attributes", "validation_data", "client_metadata") and len(location) > 1:
            location = location[1:]
        name = location[0] if location else NON_FIELD
        code = {
            "missing": "required",
            "string_too_long": "too_long",
            "string_too_short": "required",
            "extra_forbidden": "not_on_form",
        }.get(found.get("type", ""), "api_wrong_type")
        text = message(code) % {"limit_value": (found.get("ctx") or {}).get("max_length", "")}
        errors.setdefault(name, []).append(Problem(code, text))
    return problem(400, "api_invalid", errors=errors)


@api.exception_handler(HttpError)
def _http_error(request: HttpRequest, error: HttpError) -> HttpResponse:
    # django-ninja wraps whatever its parser raises as "Cannot parse request body": ours says why.
    if isinstance(error.__cause__, ApiProblem):
        return _api_problem(request, error.__cause__)
    return problem(error.status_code, "api_invalid", detail=str(error))


@api.exception_handler(RequestDataTooBig)
def _too_big(request: HttpRequest, error: RequestDataTooBig) -> HttpResponse:
    # Django's own bound (DATA_UPLOAD_MAX_MEMORY_SIZE), met when django-ninja first reads the body.
    return problem(413, "api_body_too_large")


@api.exception_handler(Exception)
def _unexpected(request: HttpRequest, error: Exception) -> HttpResponse:
    # The use cases are polite already (flows.outcome.polite); this is for a fault in the channel itself.
    logs.event("api.error", level=logging.ERROR, exc_info=True)
    return problem(503, "try_again")


@csrf_exempt  # no cookies in the API, so nothing for CSRF to protect: a POST here is told it is lost
def not_found(request: HttpRequest, rest: str = "") -> HttpResponse:
    """Any other path under /api/: a problem like the API's own 404s, not the site's HTML page."""
    return problem(404, "api_no_route")


# --- Shapes ------------------------------------------------------------------------------------------


class ProblemItem(Schema):
    code: str = Field(description="A stable code, e.g. invalid, required, too_long, not_on_form, code_mismatch.")
    message: str = Field(description="The problem in the request's language.")


class ProblemOut(Schema):
    type: str = "about:blank"
    title: str
    status: int
    code: str = Field(description="A stable code for what went wrong, e.g. `username_taken`.")
    detail: str = Field(description="What went wrong, in the request's language.")
    errors: dict[str, list[ProblemItem]] | None = Field(
        None, description="Problems by Cognito attribute name (or username, password, code, consent, __all__)."
    )
    reference: str | None = None
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "type": "about:blank",
                    "title": "Bad Request",
                    "status": 400,
                    "code": "invalid",
                    "detail": "Check the values marked.",
                    "errors": {"email": [{"code": "invalid_email", "message": "Enter a valid email address."}]},
                }
            ]
        }
    )


class ConsentIn(BaseModel):  # not a ninja Schema: that would read "yes" as an object with defaults
    accepted: bool = False
    version: str | None = Field(None, max_length=64, description="The consent version shown (from the form).")


class SignupIn(Schema):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "username": "alice",
                    "password": "Str0ng!Passw0rd",
                    "attributes": {"email": "alice@example.com", "custom:company": "Wonderland Ltd"},
                    "validation_data": {"invite_code": "WELCOME"},
                    "client_metadata": {"campaign": "spring"},
                    "consent": {"accepted": True, "version": "2024-01"},
                    "altcha": "eyJjaGFsbGVuZ2UiOnsicGFyYW1ldGVycyI6ey4uLn19fQ==",
                }
            ]
        },
    )
    # Cognito's own bounds (docs/cognito.md §2.2): a longer value could never be sent.
    username: str = Field(max_length=128)
    password: str = Field("", max_length=256)
    attributes: dict[str, str] = Field(default_factory=dict, description="By Cognito name, e.g. custom:company.")
    validation_data: dict[str, str] = Field(default_factory=dict)
    client_metadata: dict[str, str] = Field(default_factory=dict, description="Only the portal's listed names.")
    consent: ConsentIn | None = None
    # The portal's challenge (GET .../form says which): required unless it is "off".
    altcha: str | None = Field(
        None,
        max_length=challenges.MAX_RESPONSE_CHARS,
        description="ALTCHA portals: the solved challenge from GET .../challenge, base64, as ALTCHA's widget "
        "or libraries give it (the widget's `altcha` field). Each is accepted once.",
    )
    captcha_token: str | None = Field(
        None,
        max_length=max(provider.max_token_length for provider in captcha.PROVIDERS.values()),
        description="Turnstile or hCaptcha portals: the token the provider's widget gave (form.challenge.site_key).",
    )


class ConfirmIn(Schema):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"username": "alice", "code": "123456"}]})
    username: str = Field(min_length=1, max_length=128)  # docs/cognito.md §2.2, as for sign-up
    code: str = Field(min_length=1, max_length=2048)


class ResendIn(Schema):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"username": "alice"}]})
    username: str = Field(min_length=1, max_length=128)


class CodeDeliveryOut(Schema):
    destination: str = Field(description="Masked, as Cognito gives it: a***@e***.")
    medium: str
    attribute: str


class StepOut(Schema):
    reference: str | None = Field(None, description="The attempt's reference, for support.")
    next_step: str = Field(description="confirm: ask for the code; done: nothing left to do.")
    code_delivery: CodeDeliveryOut | None = None
    detail: str = ""
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "reference": "0b5e6c3e-8f0e-4f51-9d7b-1c2a3b4c5d6e",
                    "next_step": "confirm",
                    "code_delivery": {"destination": "a***@e***", "medium": "EMAIL", "attribute": "email"},
                    "detail": "",
                }
            ]
        }
    )


class ChallengeInfo(Schema):
    type: str = Field(description="altcha, turnstile or hcaptcha.")
    url: str = Field("", description="ALTCHA: where to get a challenge (GET), an absolute URL.")
    site_key: str = Field("", description="Turnstile or hCaptcha: the site key for the provider's widget.")


class ChallengeOut(Schema):
    """An ALTCHA challenge, as ALTCHA's widget and libraries read it (protocol v2, PBKDF2/SHA-256)."""

    parameters: dict[str, Any]
    signature: str


class FormOut(Schema):
    portal: str
    available: bool
    reason: str = ""
    language: str
    languages: list[str]
    username_mode: str | None = None
    fields: list[dict[str, Any]] = Field(description="Each input: name, attribute, type, rules, label.")
    password_policy: dict[str, Any] | None = None
    consent: dict[str, Any] | None = None
    challenge: ChallengeInfo | None = Field(None, description="What a sign-up must pass; none when null.")


ERRORS = {400: ProblemOut, 404: ProblemOut, 413: ProblemOut, 415: ProblemOut, 422: ProblemOut}
STEP_ERRORS = {**ERRORS, 409: ProblemOut, 429: ProblemOut, 503: ProblemOut}
CHALLENGE_INPUTS = {"altcha", "captcha_token"}
CHALLENGE_REFUSALS = {challenges.MISSING, challenges.INVALID, challenges.EXPIRED, challenges.REPLAYED}
IDEMPOTENCY_KEY = Header(
    None,
    alias="Idempotency-Key",
    max_length=MAX_IDEMPOTENCY_KEY,
    description="Send a retry with the same key: the first answer comes back, and Cognito is called once.",
)


# --- Operations --------------------------------------------------------------------------------------


def _portal(slug: str) -> Portal:
    portal = portal_by_slug(slug)
    if portal is None:
        raise ApiProblem(404, "api_no_portal")
    return portal


@api.get("/v1/portals/{slug}/form", response={200: FormOut, 404: ProblemOut}, summary="The portal's form")
def form(request: HttpRequest, slug: str) -> Any:
    portal = _portal(slug)
    metrics.record_form_view(portal.slug, "api")
    base = {"portal": portal.slug, "language": get_language() or "", "languages": _languages()}
    reason = portal.unavailable_reason
    if reason:
        return {**base, "available": False, "reason": reason, "fields": []}
    return {
        **base,
        "available": True,
        **flows.portal_form_spec(portal).as_json(),
        "challenge": _challenge_info(request, portal),
    }


def _challenge_info(request: HttpRequest, portal: Portal) -> dict[str, str] | None:
    widget = challenges.widget(portal)
    if widget is None:
        return None
    if widget.kind == Challenge.ALTCHA:
        # Absolute: the app that reads it runs on another origin, or none (a phone).
        return {"type": widget.kind, "url": request.build_absolute_uri(reverse("api:challenge", args=[portal.slug]))}
    return {"type": widget.kind, "site_key": widget.site_key}


@api.get(
    "/v1/portals/{slug}/challenge",
    response={200: ChallengeOut, 404: ProblemOut},
    summary="A proof-of-work challenge",
    url_name="challenge",
    description=(
        "For portals whose form.challenge.type is altcha: solve it (ALTCHA's widget or libraries) and send "
        "the solution as `altcha` with the sign-up, within its expiry. Each solution is accepted once. "
        "404 when the portal asks for no proof of work."
    ),
)
def challenge(request: HttpRequest, slug: str) -> Any:
    issued = flows.signup_challenge(portal=_portal(slug))
    if issued is None:
        raise ApiProblem(404, "api_no_challenge")
    return issued


def _languages() -> list[str]:
    return [code for code, _ in settings.LANGUAGES]


@api.post(
    "/v1/portals/{slug}/signups",
    response={201: StepOut, 202: StepOut, **STEP_ERRORS},
    summary="Sign up",
    description=(
        "201: created (next_step confirm or done). 202: Cognito's answer was lost; the attempt is settled "
        "later, ask for the code. 400: the values break the form's rules; Cognito was not called. 409: the "
        "username is taken (on a portal that hides existing accounts, the same 201 as a new one)."
    ),
)
def signups(
    request: HttpRequest, slug: str, payload: SignupIn, idempotency_key: str | None = IDEMPOTENCY_KEY
) -> HttpResponse:
    portal = _portal(slug)

    def run(flow_key: str | None) -> HttpResponse:
        spec = flows.portal_form_spec(portal)
        signup, named = _signup_request(request, portal, spec, payload, flow_key)
        outcome = flows.signup_submit(portal=portal, request=signup)
        return _render(portal, spec, outcome, created=201, named=named)

    return _idempotent(portal, "signups", idempotency_key, payload, run)


@api.post("/v1/portals/{slug}/confirmations", response={200: StepOut, 202: StepOut, **STEP_ERRORS}, summary="Confirm")
def confirmations(
    request: HttpRequest, slug: str, payload: ConfirmIn, idempotency_key: str | None = IDEMPOTENCY_KEY
) -> HttpResponse:
    portal = _portal(slug)

    def run(_: str | None) -> HttpResponse:
        step = flows.StepRequest(
            username=payload.username, code=payload.code, visitor=api_visitor_from(request, portal, {})
        )
        return _render(portal, None, flows.signup_confirm(portal=portal, request=step), created=200)

    return _idempotent(portal, "confirmations", idempotency_key, payload, run)


@api.post(
    "/v1/portals/{slug}/code-resends", response={200: StepOut, 202: StepOut, **STEP_ERRORS}, summary="Send a new code"
)
def code_resends(
    request: HttpRequest, slug: str, payload: ResendIn, idempotency_key: str | None = IDEMPOTENCY_KEY
) -> HttpResponse:
    portal = _portal(slug)

    def run(_: str | None) -> HttpResponse:
        step = flows.StepRequest(username=payload.username, visitor=api_visitor_from(request, portal, {}))
        return _render(portal, None, flows.signup_resend(portal=portal, request=step), created=200)

    return _idempotent(portal, "code-resends", idempotency_key, payload, run)


def _signup_request(
    request: HttpRequest, portal: Portal, spec: FormSpec, payload: SignupIn, flow_key: str | None
) -> tuple[flows.SignupRequest, dict[Problem, str]]:
    """The body as a sign-up request. A name the form has no field for is an input error, refused with
    the form's own before Cognito; `named` says which name each such problem belongs to."""
    declared = {f.data_name for f in spec.fields if f.kind == "validation_data"}
    unknown = [name for name in payload.attributes if spec.for_attribute(name) is None]
    unknown += [name for name in payload.validation_data if name not in declared]
    # The text names the field, so each unknown name's problem is its own (and found again by it).
    named = {Problem("not_on_form", f"{name}: {message('not_on_form')}"): name for name in unknown}
    # The attempt records the portal's current version as accepted: it must be the one the app showed.
    consent = payload.consent
    if consent and consent.accepted and consent.version and spec.consent and consent.version != spec.consent.version:
        named[Problem("consent_version_changed", message("consent_version_changed"))] = "consent"
    attributes = {name: value for name, value in payload.attributes.items() if name not in unknown}
    signup = flows.SignupRequest(
        username=payload.username,
        password=payload.password,
        attributes=attributes,
        validation_data={k: v for k, v in payload.validation_data.items() if k in declared},
        consent=bool(payload.consent and payload.consent.accepted),
        visitor=api_visitor_from(request, portal, payload.client_metadata),
        bot_signals=None,
        challenge_response=(payload.altcha if portal.challenge == Challenge.ALTCHA else payload.captcha_token) or "",
        idempotency_key=flow_key,
        input_errors=tuple(named),
    )
    return signup, named


# --- Outcomes as answers -------------------------------------------------------------------------------


def _render(
    portal: Portal, spec: FormSpec | None, outcome: Outcome, *, created: int, named: dict[Problem, str] | None = None
) -> HttpResponse:
    reference = str(outcome.attempt.reference) if outcome.attempt else None
    if outcome.result is Result.OK:
        hidden = portal.hide_existing_accounts  # where a code went tells a new account from a taken one
        delivery = outcome.code_delivery.as_json() if outcome.code_delivery and not hidden else None
        body = {
            "reference": reference,
            "next_step": str(outcome.next_step or NextStep.DONE),
            "code_delivery": delivery,
            "detail": message(outcome.general_error) if outcome.general_error else "",
        }
        return _json(created, body)
    if outcome.result is Result.UNKNOWN:
        body = {
            "reference": reference,
            "next_step": "confirm",
            "code_delivery": None,
            "detail": message("outcome_unknown"),
        }
        return _json(202, body)
    status = {
        Result.INVALID: 400,
        Result.BLOCKED: 400,
        Result.REJECTED: 409 if outcome.error_code == "UsernameExistsException" else 400,
        Result.LIMITED: 429,
        Result.FAILED: 503,
        Result.UNAVAILABLE: 503,
    }[outcome.result]
    # A form's refusal names its fields in `errors`; Cognito's refusal (a wrong code) has one cause.
    code = outcome.general_error or (_first_code(outcome) if outcome.result is not Result.INVALID else "") or "invalid"
    response = problem(
        status,
        code,
        detail=outcome.explanation or message(code),
        errors=_by_attribute(spec, outcome.field_errors, named or {}),
        retry_at=outcome.retry_at,
        reference=reference if outcome.result is not Result.LIMITED else None,
    )
    if code in CHALLENGE_REFUSALS:  # the retry brings a new solution: the key is not spent
        response.retry_with_same_key = True  # type: ignore[attr-defined]
    return response


def _first_code(outcome: Outcome) -> str:
    return next((p.code for found in outcome.field_errors.values() for p in found), "")


def _by_attribute(
    spec: FormSpec | None, field_errors: dict[str, list[Problem]], named: dict[Problem, str]
) -> dict[str, list[Problem]]:
    """The form's input names as the API's: Cognito attribute names, validation-data names, or the
    request's own keys (username, password, code, consent); an unknown name's problem under that name."""
    errors: dict[str, list[Problem]] = {}
    for input_name, found in field_errors.items():
        for item in found:
            errors.setdefault(named.get(item) or _api_name(spec, input_name), []).append(item)
    return errors


def _api_name(spec: FormSpec | None, input_name: str) -> str:
    if spec is None or input_name in ("username", "password", "consent", NON_FIELD):
        return input_name
    field = next((f for f in spec.fields if f.name == input_name), None)
    if field is None:
        return input_name
    if field.kind == "validation_data":
        return field.data_name
    return field.attribute or input_name


def _json(status: int, body: dict[str, Any]) -> HttpResponse:
    return HttpResponse(json.dumps(body, ensure_ascii=False), status=status, content_type="application/json")


# --- Idempotency ----------------------------------------------------------------------------------------


def _idempotent(
    portal: Portal, operation: str, key: str | None, payload: Schema, run: Callable[[str | None], HttpResponse]
) -> HttpResponse:
    """One key, one call to Cognito: a repeat with the same body answers the first answer, another body
    is a 422. A client that lost our answer cannot tell whether SignUp ran, and a blind second SignUp
    would meet UsernameExistsException for its own user (docs/cognito.md §7.1).

    The answer is kept in Django's cache (Redis in production, shared by every process, as the rate
    limits are), because a confirmation or a new code has no row of its own to hold a key. For a
    sign-up the attempt's unique idempotency_key column holds the key as well, so even a key the cache
    has lost cannot make a second SignUp: the flow then answers the first attempt's outcome. A 429 or
    503 is not kept (nothing was done, or it may be tried again with the same key).
    """
    if key is None:
        return run(None)
    if not key or not key.isprintable():
        raise ApiProblem(400, "api_invalid", {"Idempotency-Key": [Problem("invalid", message("api_bad_key"))]})
    digest = hashlib.sha256(f"{portal.pk}\0{operation}\0{key}".encode()).hexdigest()
    # Keyed with the secret key: a body holds the password or the code, which a plain hash in the cache
    # would let anyone who reads the cache guess offline (a six-digit code in a million tries).
    # A retry carries a new solution of the challenge (each is accepted once): it is the same request.
    canonical = json.dumps(payload.model_dump(mode="json", exclude=CHALLENGE_INPUTS), sort_keys=True)
    body = salted_hmac("signup.api.idempotency", canonical, algorithm="sha256").hexdigest()
    cache_key = f"signup:api:idempotency:{digest}"
    if not cache.add(cache_key, {"body": body, "answer": None}, IDEMPOTENCY_PENDING_SECONDS):
        kept = cache.get(cache_key)
        if kept is not None:
            if kept["body"] != body:
                return problem(422, "api_key_reused")
            if kept["answer"] is None:  # the first request is still running
                return problem(409, "api_key_in_progress")
            status, content, content_type = kept["answer"]
            response = HttpResponse(content, status=status, content_type=content_type)
            response["Idempotent-Replayed"] = "true"
            return response
    # The attempt's own key names the body too: once the cache has forgotten a key, another client's
    # different body under the same key is a new sign-up, never a replay of someone else's answer.
    response = run("api:" + hashlib.sha256(f"{digest}\0{body}".encode()).hexdigest()[:60])
    if response.status_code in (429, 503) or getattr(response, "retry_with_same_key", False):
        # Nothing was done, or it may be tried again (after a refused challenge, with a new solution)
        cache.delete(cache_key)
    else:
        answer = (response.status_code, response.content, response["Content-Type"])
        cache.set(cache_key, {"body": body, "answer": answer}, IDEMPOTENCY_SECONDS)
    return response
