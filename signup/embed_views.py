"""/embed/<slug>/...: the same flow as /signup/<slug>/, laid out for a customer's frame.

Django's CSRF check needs a cookie, which a framed page may not get (third-party cookies
blocked), so these views replace it with two cookie-free layers (embedding.py): only our own
document may post (Sec-Fetch-Site / Origin), and each POST spends a signed single-use token.
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods

from . import embedding
from .models import Portal
from .views import Embed, _portal, confirm_flow, embed_for, form_flow

Flow = Callable[..., HttpResponse]


def _refused(request: HttpRequest, portal: Portal) -> HttpResponse:
    response = render(request, "signup/embed_refused.html", {"portal": portal, "embed": embed_for(request, portal)})
    response.status_code = 403
    return response


def _guarded(request: HttpRequest, slug: str, flow: Flow) -> HttpResponse:
    portal = _portal(slug)
    embed: Embed = embed_for(request, portal)
    if request.method != "POST":
        return flow(request, portal, embed)
    if not embedding.fetch_metadata_ok(request):
        return _refused(request, portal)  # another site's page, or no browser at all: nothing to show back
    token = embedding.consume_token(request.POST.get("embed_token"), portal.slug)
    if token is None:
        # Our own page sent an old or already used form (Back, reload, double send): show it again.
        return flow(request, portal, embed, refusal="embed_token_used")
    return flow(request, portal, embed)


@csrf_exempt
@require_http_methods(["GET", "POST"])
def embed_form(request: HttpRequest, slug: str) -> HttpResponse:
    return _guarded(request, slug, form_flow)


@csrf_exempt
@require_http_methods(["GET", "POST"])
def embed_confirm(request: HttpRequest, slug: str) -> HttpResponse:
    return _guarded(request, slug, confirm_flow)


@require_GET
def embed_done(request: HttpRequest, slug: str) -> HttpResponse:
    portal = _portal(slug)
    return render(request, "signup/done.html", {"portal": portal, "embed": embed_for(request, portal, "confirmed")})
