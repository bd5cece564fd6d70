"""Thin views: load the portal, build the form, call a service, show the outcome."""

from __future__ import annotations

import re
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlencode, urlsplit

from django.conf import settings
from django.core import signing
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.middleware.csrf import get_token
from django.shortcuts import render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.html import escape
from django.utils.http import http_date
from django.utils.translation import get_language
from django.views.decorators.http import require_GET, require_http_methods

from . import embedding, guards, services
from .branding import theme_css
from .fields import client_rules
from .forms import ConfirmForm, SignupForm, signup_form_class
from .messages import message
from .middleware import csp_allow
from .models import Portal, SignupAttempt
from .portal_cache import portal_by_slug
from .redirects import is_allowed_redirect
from .schema import FormSpec

CONFIRM_SALT = "signup.confirm"


def _portal(slug: str) -> Portal:
    portal = portal_by_slug(slug)
    if portal is None:
        raise Http404("No such portal.")
    return portal


@dataclass(frozen=True)
class Embed:
    """A page served inside a customer's frame: who frames it and how to talk to them."""

    id: str
    parent: str  # a listed origin, or "" when the claimed parent is not listed (then nothing is posted)
    theme: str = ""
    token: str = ""  # the single-use form token for the next POST
    event: str = ""  # what the page tells the host page on load (no personal data)


EMBED_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def embed_for(request: HttpRequest, portal: Portal, event: str = "") -> Embed:
    parent = request.GET.get("parent", "")
    embed_id = request.GET.get("embed", "")
    theme = request.GET.get("theme", "")
    return Embed(
        id=embed_id if EMBED_ID.match(embed_id) else "",
        parent=listed_parent(request, portal, parent),
        theme=theme if theme in ("light", "dark") else "",
        token=embedding.issue_token(portal.slug, parent),
        event=event,
    )


def listed_parent(request: HttpRequest, portal: Portal, parent: str) -> str:
    """The claimed parent as an origin (`scheme://host[:port]`) when it may frame the form, else ""."""
    # Our own origin hosts the admin's live preview; any other parent must be listed.
    if parent and parent == embedding.own_origin(request):
        return parent
    if not embedding.origin_allowed(parent, portal.embed_origins):
        return ""
    return embedding.normalise_origin(parent)


def request_context(request: HttpRequest, portal: Portal, embed: Embed | None = None) -> services.RequestContext:
    return services.RequestContext(
        channel=SignupAttempt.Channel.EMBED if embed else SignupAttempt.Channel.WEB,
        client_ip=services.client_ip(request.META),
        user_agent=str(request.META.get("HTTP_USER_AGENT", "")),
        client_metadata=services.client_metadata_for(portal, request.GET),
        analytics_endpoint_id=services.analytics_endpoint_id(request.GET),
        encoded_data=services.encoded_data(portal, request.POST),
        page=embed.parent if embed else request.build_absolute_uri(),
        language=get_language() or "",
        embed_origin=embed.parent if embed else "",
    )


def confirm_token(portal: Portal, attempt: SignupAttempt) -> str:
    return signing.dumps({"p": portal.slug, "a": str(attempt.reference), "u": attempt.username}, salt=CONFIRM_SALT)


def read_confirm_token(portal: Portal, token: str) -> tuple[SignupAttempt | None, str]:
    """The attempt and username a confirm link was issued for, or (None, "") when it is bad or old."""
    if not token:
        return None, ""
    try:
        data = signing.loads(token, salt=CONFIRM_SALT, max_age=settings.SIGNUP_CONFIRM_TOKEN_MAX_AGE)
    except signing.BadSignature:
        return None, ""
    if not isinstance(data, dict) or data.get("p") != portal.slug:
        return None, ""
    try:
        reference = uuid.UUID(str(data.get("a")))
    except ValueError:
        return None, ""
    attempt = SignupAttempt.objects.filter(portal=portal, reference=reference).first()
    return attempt, str(data.get("u", ""))


def carried_query(request: HttpRequest, portal: Portal) -> dict[str, str]:
    """The query parameters that follow the visitor from step to step: language and ClientMetadata."""
    names = ["lang", "analytics_endpoint_id", "parent", "embed", "theme", *portal.client_metadata_params]
    return {n: v for n in names if isinstance(v := request.GET.get(n), str) and v}


def step_url(
    request: HttpRequest, step: str, portal: Portal, attempt: SignupAttempt | None = None, embed: Embed | None = None
) -> str:
    """The next step's URL, in the same channel (page or frame), carrying what the visitor came with."""
    query = carried_query(request, portal)
    if attempt is not None:
        query["t"] = confirm_token(portal, attempt)
    url = reverse(f"{'embed' if embed else 'signup'}:{step}", kwargs={"slug": portal.slug})
    return f"{url}?{urlencode(query)}" if query else url


def _unavailable(request: HttpRequest, portal: Portal, reason: str, embed: Embed | None = None) -> HttpResponse:
    context = {"portal": portal, "reason": reason, "embed": embed}
    return render(request, "signup/unavailable.html", context, status=200)


def policy_rules(spec: FormSpec, form: SignupForm) -> list[dict[str, Any]]:
    """The password checklist; after a refused password each rule says whether it was met."""
    failed: set[str] | None = None
    if form.is_bound and "password" in form.errors:
        failed = {e.code or "" for e in form.errors.as_data()["password"]}
    return [
        {"code": code, "text": text, "state": "" if failed is None else ("unmet" if code in failed else "met")}
        for code, text in spec.password_policy.rules()
    ]


@require_http_methods(["GET", "POST"])
def signup_form(request: HttpRequest, slug: str) -> HttpResponse:
    return form_flow(request, _portal(slug), embed=None)


def form_flow(request: HttpRequest, portal: Portal, embed: Embed | None, refusal: str = "") -> HttpResponse:
    """The sign-up form, on a page or in a frame. With a refusal, a POST is shown back, not sent."""
    reason = services.portal_unavailable_reason(portal)
    if reason:
        return _unavailable(request, portal, reason, embed)
    spec = services.portal_form_spec(portal)
    form_class = signup_form_class(spec)
    general_error, attempt, event, status = "", None, "", 200
    if request.method == "POST" and refusal:
        form = form_class(request.POST)
        general_error, event = message(refusal), "error"
    elif request.method == "POST":
        form = form_class(request.POST)
        context = request_context(request, portal, embed)
        check = guards.submission_check(portal=portal, data=request.POST, context=context)
        if check.block:
            guards.attempt_record_blocked(portal=portal, form=form, context=context, reason=check.block)
            general_error, event = message(check.block), "error"
            status = 429 if check.block == "rate_limited" else 400
        elif not form.is_valid():
            services.attempt_record_invalid(portal=portal, form=form, context=context)
            event = "validation_failed"
        else:
            context = replace(context, idempotency_key=check.key)
            outcome = services.signup_submit(portal=portal, form=form, context=context)
            attempt = outcome.attempt
            if outcome.next_step == "confirm":
                return HttpResponseRedirect(step_url(request, "confirm", portal, attempt, embed))
            if outcome.next_step == "done":
                return _finish(request, portal, attempt, embed)
            for name, code in outcome.field_errors.items():
                form.add_error(name, message(code))
            general_error = message(outcome.general_error) if outcome.general_error else ""
            event = "error" if general_error else "validation_failed"
    else:
        return empty_form_page(request, portal, spec, embed)
    if embed is not None:
        embed = replace(embed, event=event)
    response = render_form_page(request, portal, spec, form, general_error=general_error, attempt=attempt, embed=embed)
    response.status_code = 403 if refusal else status
    return response


def render_form_page(
    request: HttpRequest, portal: Portal, spec: FormSpec, form: SignupForm, **extra: Any
) -> HttpResponse:
    """The sign-up page; the admin's preview renders the same page with preview=True."""
    _allow_advanced_security(request, portal)
    context = form_page_context(
        portal,
        spec,
        form,
        form_token=guards.form_token(),
        confirm_url=step_url(request, "confirm", portal, embed=extra.get("embed")),
        **extra,
    )
    return render(request, "signup/form.html", context)


def form_page_context(
    portal: Portal, spec: FormSpec, form: SignupForm, *, form_token: str, confirm_url: str, **extra: Any
) -> dict[str, Any]:
    rules = policy_rules(spec, form)
    return {
        "portal": portal,
        "form": form,
        # The empty form's inputs are the same on every first visit; rendering each widget through its
        # templates was most of a form view's CPU time.
        "fields_html": ""
        if form.is_bound
        else per_spec(
            "fields", spec, lambda: render_to_string("signup/fields.html", {"form": form, "policy_rules": rules})
        ),
        "form_token": form_token,
        "honeypot_field": guards.HONEYPOT_FIELD,
        "policy_rules": rules,
        "consent": spec.consent,
        "advanced_security_script": _advanced_security_script(portal),
        "client_rules": per_spec("rules", spec, lambda: client_rules(spec)),
        "confirm_url": confirm_url,
        **extra,
    }


# Stand-ins for what differs between two first visits, unguessable so no content can contain them.
SLOTS = {
    name: f"signup-slot-{secrets.token_hex(16)}"
    for name in ("csrf_token", "form_token", "confirm_url", "embed_id", "embed_parent", "embed_token")
}


def empty_form_page(request: HttpRequest, portal: Portal, spec: FormSpec, embed: Embed | None = None) -> HttpResponse:
    """A first visit's page (no values, no errors): rendered once per portal as loaded, language and,
    in a frame, theme, with stand-ins for what each visit fills in (the CSRF token, or in a frame the
    frame's id, its parent and the single-use embed token; the form token; the confirm link). The same
    page render_form_page gives, for a fraction of its CPU."""
    _allow_advanced_security(request, portal)
    pages: dict[tuple[str, int, str | None], str] = portal.__dict__.setdefault("_empty_pages", {})
    key = (get_language() or "", id(spec), embed.theme if embed else None)
    page = pages.get(key)
    if page is None:
        stand_in = None
        if embed is not None:
            stand_in = replace(
                embed, id=SLOTS["embed_id"], parent=SLOTS["embed_parent"], token=SLOTS["embed_token"], event=""
            )
        context = form_page_context(
            portal,
            spec,
            signup_form_class(spec)(),
            form_token=SLOTS["form_token"],
            confirm_url=SLOTS["confirm_url"],
            csrf_token=SLOTS["csrf_token"],
            embed=stand_in,
        )
        page = pages[key] = render_to_string("signup/form.html", context)
    if embed is None:
        page = page.replace(SLOTS["csrf_token"], escape(get_token(request)))  # get_token also sets the cookie
    else:  # a frame posts with its embed token, never a cookie
        page = page.replace(SLOTS["embed_id"], escape(embed.id)).replace(SLOTS["embed_parent"], escape(embed.parent))
        page = page.replace(SLOTS["embed_token"], escape(embed.token))
    page = page.replace(SLOTS["form_token"], escape(guards.form_token()))
    page = page.replace(SLOTS["confirm_url"], escape(step_url(request, "confirm", portal, embed=embed)))
    return HttpResponse(page)


def _allow_advanced_security(request: HttpRequest, portal: Portal) -> None:
    if portal.advanced_security:
        csp_allow(request, "script-src", f"https://amazon-cognito-assets.{portal.region}.amazoncognito.com")


_per_spec: dict[tuple[str, int, str], tuple[FormSpec, Any]] = {}


def per_spec(kind: str, spec: FormSpec, build: Callable[[], Any]) -> Any:
    """What depends only on the form spec and the language, built once per process: the spec is kept
    per portal and language (services.portal_form_spec), so a first visit's page repeats these."""
    key = (kind, id(spec), get_language() or "")
    known = _per_spec.get(key)
    if known is not None and known[0] is spec:  # the id of a spec that is gone may be reused
        return known[1]
    value = build()
    if len(_per_spec) > 1024:
        _per_spec.clear()
    _per_spec[key] = (spec, value)
    return value


def _advanced_security_script(portal: Portal) -> str:
    if not portal.advanced_security:
        return ""
    return (
        f"https://amazon-cognito-assets.{portal.region}.amazoncognito.com/amazon-cognito-advanced-security-data.min.js"
    )


def _finish(
    request: HttpRequest, portal: Portal, attempt: SignupAttempt | None, embed: Embed | None = None
) -> HttpResponse:
    # Inside a frame the host page decides where to go next (it hears "confirmed"); we never navigate it.
    if embed is None and portal.success_url and is_allowed_redirect(portal.success_url):
        # CSP form-action also governs where a form's POST may redirect to.
        target = urlsplit(portal.success_url)
        csp_allow(request, "form-action", f"{target.scheme}://{target.netloc}")
        return HttpResponseRedirect(portal.success_url)
    return HttpResponseRedirect(step_url(request, "done", portal, attempt, embed))


@require_http_methods(["GET", "POST"])
def confirm(request: HttpRequest, slug: str) -> HttpResponse:
    return confirm_flow(request, _portal(slug), embed=None)


def confirm_flow(request: HttpRequest, portal: Portal, embed: Embed | None, refusal: str = "") -> HttpResponse:
    if not portal.is_open or not portal.is_synced:
        return _unavailable(request, portal, services.portal_unavailable_reason(portal) or "closed", embed)
    token = request.GET.get("t", "")
    attempt, username = read_confirm_token(portal, token)
    spec = services.portal_form_spec(portal)
    username_label = str(spec.field("username").label)
    notice, error = "", ""
    event = "code_sent" if attempt is not None and attempt.code_delivery and request.method == "GET" else ""
    if token and attempt is None:
        notice = message("confirm_link_invalid")
    form = ConfirmForm(
        request.POST or None,
        initial={"username": username},
        username_label=username_label,
        resend="resend" in request.POST,
    )
    delivery: dict[str, Any] = dict(attempt.code_delivery) if attempt else {}
    if portal.hide_existing_accounts:
        delivery = {}  # where a code went would tell a new account from a taken username
    _allow_advanced_security(request, portal)
    if request.method == "POST" and refusal:
        error = message(refusal)
    elif request.method == "POST" and form.is_valid():
        username = form.cleaned_data["username"]
        if attempt is not None and not services.same_username(portal, attempt.username, username):
            attempt = None
        context = request_context(request, portal, embed)
        outcome: services.StepOutcome | None = None
        if "resend" in request.POST:
            outcome = services.signup_resend(portal=portal, username=username, context=context, attempt=attempt)
            if outcome.ok and not outcome.already_confirmed:
                delivery = outcome.code_delivery.as_json() if outcome.code_delivery else delivery
                notice = message("code_resent")
                event = "code_sent"
        else:
            outcome = services.signup_confirm(
                portal=portal, username=username, code=form.cleaned_data["code"], context=context, attempt=attempt
            )
            if outcome.ok:
                return _finish(request, portal, attempt, embed)
        if outcome is not None and outcome.already_confirmed:
            return _finish(request, portal, attempt, embed)
        if outcome is not None and not outcome.ok:
            text = outcome.explanation or message(outcome.message_code)
            if outcome.field and outcome.field in form.fields:
                form.add_error(outcome.field, text)
            else:
                error = text
    if form.errors and not event:
        event = "validation_failed"
    if error:
        event = "error"
    return render(
        request,
        "signup/confirm.html",
        status=403 if refusal else 200,
        context={
            "portal": portal,
            "form": form,
            "delivery": delivery,
            "notice": notice,
            "error": error,
            "username_known": bool(attempt and username),
            "username": username,
            "embed": replace(embed, event=event) if embed else None,
            "advanced_security_script": _advanced_security_script(portal),
        },
    )


@require_GET
def done(request: HttpRequest, slug: str) -> HttpResponse:
    return render(request, "signup/done.html", {"portal": _portal(slug)})


@require_GET
def theme(request: HttpRequest, slug: str) -> HttpResponse:
    portal = _portal(slug)
    css = theme_css(
        brand=portal.brand_colour,
        brand_text=portal.brand_text_colour,
        background=portal.background_colour,
        text=portal.text_colour,
    )
    response = HttpResponse(css, content_type="text/css; charset=utf-8")
    response["Last-Modified"] = http_date(portal.updated_at.timestamp())
    response["Cache-Control"] = "public, max-age=300"
    return response


@require_GET
def schema_json(request: HttpRequest, slug: str) -> HttpResponse:
    portal = _portal(slug)
    reason = services.portal_unavailable_reason(portal)
    if reason:
        return JsonResponse({"portal": portal.slug, "available": False, "reason": reason, "fields": []})
    spec = services.portal_form_spec(portal)
    return JsonResponse(
        {
            "portal": portal.slug,
            "available": True,
            "language": get_language(),
            "username_mode": spec.username_mode,
            "fields": [f.as_json() for f in spec.fields],
            "password_policy": spec.password_policy.as_json(),
            "consent": spec.consent.as_json() if spec.consent else None,
        },
        json_dumps_params={"ensure_ascii": False},
    )
