"""The HTML steps of sign-up, shared by the two browser channels: our own page (views.py) and a
customer's frame (embed_views.py), which differ only in layout and in how a POST proves it came from
the form. Each step reads the request into plain values, calls a use case (flows/) and renders its
Outcome; the admin's preview renders the same form page.
"""

from __future__ import annotations

import re
import secrets
import uuid
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlencode, urlsplit

from django.conf import settings
from django.core import signing
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.middleware.csrf import get_token
from django.shortcuts import render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.html import escape
from django.utils.translation import get_language

from . import challenges, embedding, flows, guards, metrics
from .caching import form_class, kept, portal_by_slug
from .fields import client_rules
from .flows import NextStep, Outcome, Result
from .flows.validation import NON_FIELD, text_value, values_from_form_data
from .forms import ConfirmForm, SignupForm
from .messages import message
from .middleware import csp_allow
from .models import Portal, SignupAttempt
from .redirects import is_allowed_redirect
from .schema import FormSpec
from .visitors import visitor_from

CONFIRM_SALT = "signup.confirm"
EMBED_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def portal_or_404(slug: str) -> Portal:
    portal = portal_by_slug(slug)
    if portal is None:
        raise Http404("No such portal.")
    return portal


# --- The frame ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Embed:
    """A page served inside a customer's frame: who frames it and how to talk to them."""

    id: str
    parent: str  # a listed origin, or "" when the claimed parent is not listed (then nothing is posted)
    theme: str = ""
    token: str = ""  # the single-use form token for the next POST
    event: str = ""  # what the page tells the host page on load (no personal data)


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


def _visitor(request: HttpRequest, portal: Portal, embed: Embed | None) -> flows.Visitor:
    return visitor_from(request, portal, embed_origin=embed.parent if embed else None)


# --- Links from step to step ------------------------------------------------------------------------


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


def unavailable(request: HttpRequest, portal: Portal, reason: str, embed: Embed | None = None) -> HttpResponse:
    return render(request, "signup/unavailable.html", {"portal": portal, "reason": reason, "embed": embed})


def finish(request: HttpRequest, portal: Portal, attempt: SignupAttempt | None, embed: Embed | None) -> HttpResponse:
    # Inside a frame the host page decides where to go next (it hears "confirmed"); we never navigate it.
    if embed is None and portal.success_url and is_allowed_redirect(portal.success_url):
        # CSP form-action also governs where a form's POST may redirect to.
        target = urlsplit(portal.success_url)
        csp_allow(request, "form-action", f"{target.scheme}://{target.netloc}")
        return HttpResponseRedirect(portal.success_url)
    return HttpResponseRedirect(step_url(request, "done", portal, attempt, embed))


def done_page(request: HttpRequest, portal: Portal, embed: Embed | None = None) -> HttpResponse:
    return render(request, "signup/done.html", {"portal": portal, "embed": embed})


# --- The sign-up form -------------------------------------------------------------------------------


def form_page(request: HttpRequest, portal: Portal, embed: Embed | None = None) -> HttpResponse:
    """The sign-up form: shown on GET, sent on POST (to SignUp, through the sign-up use case)."""
    reason = portal.unavailable_reason
    if reason:
        return unavailable(request, portal, reason, embed)
    spec = flows.portal_form_spec(portal)
    if request.method != "POST":
        metrics.record_form_view(portal.slug, SignupAttempt.Channel.EMBED if embed else SignupAttempt.Channel.WEB)
        return empty_form_page(request, portal, spec, embed)
    outcome = flows.signup_submit(
        portal=portal,
        request=flows.SignupRequest(
            **values_from_form_data(spec, request.POST),
            visitor=_visitor(request, portal, embed),
            bot_signals=flows.BotSignals(
                form_token=text_value(request.POST.get("form_token")),
                honeypot=text_value(request.POST.get(guards.HONEYPOT_FIELD)),
            ),
            challenge_response=text_value(request.POST.get(challenges.response_field(portal))),
        ),
    )
    if outcome.next_step is NextStep.CONFIRM:
        return HttpResponseRedirect(step_url(request, "confirm", portal, outcome.attempt, embed))
    if outcome.next_step is NextStep.DONE:
        return finish(request, portal, outcome.attempt, embed)
    form = form_class(spec)(request.POST)
    for name, found in outcome.field_errors.items():
        for problem in found:
            if problem.message not in form.errors.get(name, []):
                form.add_error(None if name == NON_FIELD else name, problem.message)
    general_error = outcome.explanation or (message(outcome.general_error) if outcome.general_error else "")
    response = render_form_page(
        request,
        portal,
        spec,
        form,
        general_error=general_error,
        # A reference for what reached the rules or Cognito; a guard's refusal shows only its message.
        attempt=None if outcome.result in (Result.BLOCKED, Result.LIMITED) else outcome.attempt,
        embed=replace(embed, event="error" if general_error else "validation_failed") if embed else None,
    )
    response.status_code = {Result.LIMITED: 429, Result.BLOCKED: 400}.get(outcome.result, 200)
    return response


def form_refused(request: HttpRequest, portal: Portal, embed: Embed, reason: str) -> HttpResponse:
    """A framed POST that may not be sent (its single-use token is spent): shown back, not sent."""
    unavailable_reason = portal.unavailable_reason
    if unavailable_reason:
        return unavailable(request, portal, unavailable_reason, embed)
    spec = flows.portal_form_spec(portal)
    response = render_form_page(
        request,
        portal,
        spec,
        form_class(spec)(request.POST),
        general_error=message(reason),
        embed=replace(embed, event="error"),
    )
    response.status_code = 403
    return response


def render_form_page(
    request: HttpRequest, portal: Portal, spec: FormSpec, form: SignupForm, **extra: Any
) -> HttpResponse:
    """The sign-up page; the admin's preview renders the same page with preview=True."""
    _allow_portal_scripts(request, portal)
    context = form_page_context(
        portal,
        spec,
        form,
        form_token=guards.form_token(),
        confirm_url=step_url(request, "confirm", portal, embed=extra.get("embed")),
        **extra,
    )
    return render(request, "signup/form.html", context)


def policy_rules(spec: FormSpec, form: SignupForm) -> list[dict[str, Any]]:
    """The password checklist; after a refused password each rule says whether it was met."""
    failed: set[str] | None = None
    if form.is_bound and "password" in form.errors:
        failed = {e.code or "" for e in form.errors.as_data()["password"]}
    return [
        {"code": code, "text": text, "state": "" if failed is None else ("unmet" if code in failed else "met")}
        for code, text in spec.password_policy.rules()
    ]


def form_page_context(
    portal: Portal, spec: FormSpec, form: SignupForm, *, form_token: str, confirm_url: str, **extra: Any
) -> dict[str, Any]:
    rules = policy_rules(spec, form)
    language = get_language() or ""
    return {
        "portal": portal,
        "form": form,
        # The empty form's inputs are the same on every first visit; rendering each widget through its
        # templates was most of a form view's CPU time (docs/performance.md).
        "fields_html": ""
        if form.is_bound
        else kept(
            ("fields_html", spec, language),
            lambda: render_to_string("signup/fields.html", {"form": form, "policy_rules": rules}),
        ),
        "form_token": form_token,
        "honeypot_field": guards.HONEYPOT_FIELD,
        "policy_rules": rules,
        "consent": spec.consent,
        "advanced_security_script": _advanced_security_script(portal),
        "challenge": challenges.widget(portal),
        "challenge_notice": message("challenge_needs_javascript"),
        # The widget's own language file, where there is one (its English is built in).
        "challenge_language": {"de": "de", "es": "es-es"}.get(language, ""),
        "client_rules": kept(("client_rules", spec, language), lambda: client_rules(spec)),
        "confirm_url": confirm_url,
        **extra,
    }


# Stand-ins for what differs between two first visits, unguessable so no content can contain them.
SLOTS = {
    name: f"signup-slot-{secrets.token_hex(16)}"
    for name in ("csrf_token", "form_token", "confirm_url", "embed_id", "embed_parent", "embed_token")
}


def empty_form_page(request: HttpRequest, portal: Portal, spec: FormSpec, embed: Embed | None = None) -> HttpResponse:
    """A first visit's page (no values, no errors): rendered once per portal change, language and, in
    a frame, theme, with stand-ins for what each visit fills in (the CSRF token, or in a frame the
    frame's id, its parent and the single-use embed token; the form token; the confirm link). The same
    page render_form_page gives, for a fraction of its CPU: docs/performance.md has the figures (0.39 ->
    0.81 x the trivial view for the framed page) that keep this over a plain render."""
    _allow_portal_scripts(request, portal)
    language = get_language() or ""
    key = ("empty_page", portal.pk, portal.synced_at, portal.updated_at, language, embed.theme if embed else None)
    page = kept(key, lambda: _render_empty_page(portal, spec, embed))
    if embed is None:
        page = page.replace(SLOTS["csrf_token"], escape(get_token(request)))  # get_token also sets the cookie
    else:  # a frame posts with its embed token, never a cookie
        page = page.replace(SLOTS["embed_id"], escape(embed.id)).replace(SLOTS["embed_parent"], escape(embed.parent))
        page = page.replace(SLOTS["embed_token"], escape(embed.token))
    page = page.replace(SLOTS["form_token"], escape(guards.form_token()))
    page = page.replace(SLOTS["confirm_url"], escape(step_url(request, "confirm", portal, embed=embed)))
    return HttpResponse(page)


def _render_empty_page(portal: Portal, spec: FormSpec, embed: Embed | None) -> str:
    stand_in = None
    if embed is not None:
        stand_in = replace(
            embed, id=SLOTS["embed_id"], parent=SLOTS["embed_parent"], token=SLOTS["embed_token"], event=""
        )
    context = form_page_context(
        portal,
        spec,
        form_class(spec)(),
        form_token=SLOTS["form_token"],
        confirm_url=SLOTS["confirm_url"],
        csrf_token=SLOTS["csrf_token"],
        embed=stand_in,
    )
    return render_to_string("signup/form.html", context)


def _allow_advanced_security(request: HttpRequest, portal: Portal) -> None:
    if portal.advanced_security:
        csp_allow(request, "script-src", f"https://amazon-cognito-assets.{portal.region}.amazoncognito.com")


def _allow_portal_scripts(request: HttpRequest, portal: Portal) -> None:
    """The outside scripts this portal's form loads, and nothing for portals that load none: Cognito's
    threat-protection script, and a Turnstile or hCaptcha widget."""
    _allow_advanced_security(request, portal)
    for directive, sources in challenges.csp_sources(portal).items():
        for source in sources:
            csp_allow(request, directive, source)


def _advanced_security_script(portal: Portal) -> str:
    if not portal.advanced_security:
        return ""
    return (
        f"https://amazon-cognito-assets.{portal.region}.amazoncognito.com/amazon-cognito-advanced-security-data.min.js"
    )


# --- Confirmation ---------------------------------------------------------------------------------------


def confirm_page(request: HttpRequest, portal: Portal, embed: Embed | None = None) -> HttpResponse:
    """Enter the code (ConfirmSignUp), or ask for a new one (ResendConfirmationCode)."""
    reason = portal.confirmation_unavailable_reason
    if reason:
        return unavailable(request, portal, reason, embed)
    step = _ConfirmStep(request, portal, embed)
    if request.method == "POST" and step.form.is_valid():
        outcome = step.send()
        if outcome.next_step is NextStep.DONE:
            return finish(request, portal, step.attempt, embed)
        step.show(outcome)
    return step.render()


def confirm_refused(request: HttpRequest, portal: Portal, embed: Embed, reason: str) -> HttpResponse:
    """A framed POST that may not be sent (its single-use token is spent): shown back, not sent."""
    unavailable_reason = portal.confirmation_unavailable_reason
    if unavailable_reason:
        return unavailable(request, portal, unavailable_reason, embed)
    step = _ConfirmStep(request, portal, embed)
    step.error = message(reason)
    return step.render(status=403)


class _ConfirmStep:
    """The confirm page's state for one request: the link's attempt, the form, what to tell the visitor."""

    def __init__(self, request: HttpRequest, portal: Portal, embed: Embed | None):
        self.request, self.portal, self.embed = request, portal, embed
        token = request.GET.get("t", "")
        self.attempt, self.username = read_confirm_token(portal, token)
        self.notice = message("confirm_link_invalid") if token and self.attempt is None else ""
        self.error = ""
        has_delivery = self.attempt is not None and self.attempt.code_delivery
        self.event = "code_sent" if has_delivery and request.method == "GET" else ""
        self.resend = "resend" in request.POST
        spec = flows.portal_form_spec(portal)
        self.form = ConfirmForm(
            request.POST or None,
            initial={"username": self.username},
            username_label=str(spec.field("username").label),
            resend=self.resend,
        )
        # Where a code went would tell a new account from a taken username on a portal that hides them.
        hidden = portal.hide_existing_accounts
        self.delivery: dict[str, Any] = dict(self.attempt.code_delivery) if self.attempt and not hidden else {}

    def send(self) -> Outcome:
        self.username = self.form.cleaned_data["username"]
        if self.attempt is not None and not self.portal.same_username(self.attempt.username, self.username):
            self.attempt = None  # the link was for someone else: the username typed decides
        request = flows.StepRequest(
            username=self.username,
            code=self.form.cleaned_data.get("code", ""),
            visitor=_visitor(self.request, self.portal, self.embed),
            attempt=self.attempt,
        )
        if self.resend:
            return flows.signup_resend(portal=self.portal, request=request)
        return flows.signup_confirm(portal=self.portal, request=request)

    def show(self, outcome: Outcome) -> None:
        if outcome.ok:  # a new code went out
            if outcome.code_delivery and not self.portal.hide_existing_accounts:
                self.delivery = outcome.code_delivery.as_json()
            self.notice, self.event = message("code_resent"), "code_sent"
            return
        text = outcome.explanation or (message(outcome.general_error) if outcome.general_error else "")
        for name, found in outcome.field_errors.items():
            for problem in found:
                if name in self.form.fields:
                    self.form.add_error(name, problem.message)
                else:
                    text = text or problem.message
        self.error = text

    def render(self, status: int = 200) -> HttpResponse:
        event = self.event or ("validation_failed" if self.form.errors else "")
        if self.error:
            event = "error"
        _allow_advanced_security(self.request, self.portal)
        return render(
            self.request,
            "signup/confirm.html",
            status=status,
            context={
                "portal": self.portal,
                "form": self.form,
                "delivery": self.delivery,
                "notice": self.notice,
                "error": self.error,
                "username_known": bool(self.attempt and self.username),
                "username": self.username,
                "embed": replace(self.embed, event=event) if self.embed else None,
                "advanced_security_script": _advanced_security_script(self.portal),
            },
        )
