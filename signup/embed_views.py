"""The frame channel: /embed/<slug>/..., the same steps as /signup/<slug>/ laid out for a customer's frame.

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

from . import embedding, pages

Step = Callable[..., HttpResponse]


def _guarded(request: HttpRequest, slug: str, step: Step, refused: Step) -> HttpResponse:
    portal = pages.portal_or_404(slug)
    embed = pages.embed_for(request, portal)
    if request.method != "POST":
        return step(request, portal, embed)
    if not embedding.fetch_metadata_ok(request):
        # Another site's page, or no browser at all: nothing to show back.
        response = render(request, "signup/embed_refused.html", {"portal": portal, "embed": embed})
        response.status_code = 403
        return response
    if embedding.consume_token(request.POST.get("embed_token"), portal.slug) is None:
        # Our own page sent an old or already used form (Back, reload, double send): show it again.
        return refused(request, portal, embed, "embed_token_used")
    return step(request, portal, embed)


@csrf_exempt
@require_http_methods(["GET", "POST"])
def embed_form(request: HttpRequest, slug: str) -> HttpResponse:
    return _guarded(request, slug, pages.form_page, pages.form_refused)


@csrf_exempt
@require_http_methods(["GET", "POST"])
def embed_confirm(request: HttpRequest, slug: str) -> HttpResponse:
    return _guarded(request, slug, pages.confirm_page, pages.confirm_refused)


@require_GET
def embed_done(request: HttpRequest, slug: str) -> HttpResponse:
    portal = pages.portal_or_404(slug)
    return pages.done_page(request, portal, pages.embed_for(request, portal, "confirmed"))
