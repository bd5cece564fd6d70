"""The page channel: /signup/<slug>/... on our own site. The steps themselves are in pages.py."""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.utils.http import http_date
from django.utils.translation import get_language
from django.views.decorators.http import require_GET, require_http_methods

from . import flows, pages
from .branding import theme_css


@require_http_methods(["GET", "POST"])
def signup_form(request: HttpRequest, slug: str) -> HttpResponse:
    return pages.form_page(request, pages.portal_or_404(slug))


@require_http_methods(["GET", "POST"])
def confirm(request: HttpRequest, slug: str) -> HttpResponse:
    return pages.confirm_page(request, pages.portal_or_404(slug))


@require_GET
def done(request: HttpRequest, slug: str) -> HttpResponse:
    return pages.done_page(request, pages.portal_or_404(slug))


@require_GET
def challenge(request: HttpRequest, slug: str) -> HttpResponse:
    """A new ALTCHA challenge for the form's widget, on our page and in a frame (same origin, no cookie)."""
    issued = flows.signup_challenge(portal=pages.portal_or_404(slug))
    if issued is None:
        raise Http404("This portal asks for no proof of work.")
    response = JsonResponse(issued)
    response["Cache-Control"] = "no-store"  # each visit solves its own
    return response


@require_GET
def theme(request: HttpRequest, slug: str) -> HttpResponse:
    portal = pages.portal_or_404(slug)
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
    portal = pages.portal_or_404(slug)
    reason = portal.unavailable_reason
    if reason:
        return JsonResponse({"portal": portal.slug, "available": False, "reason": reason, "fields": []})
    spec = flows.portal_form_spec(portal)
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
