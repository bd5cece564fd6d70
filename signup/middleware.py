"""Request-level behaviour that every portal page shares."""

from __future__ import annotations

import re
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils import translation

from .embedding import frame_ancestors

EMBED_PATH = re.compile(r"^/embed/(?P<slug>[-\w]+)/")


class FramingPolicyMiddleware:
    """Who may frame a response: for /embed/<slug>/... the portal's listed sites, for anything else nobody.

    It sits first in MIDDLEWARE so that error pages (403, 404, 500) carry the policy too: a frame
    then shows our message instead of the browser's "refused to connect".
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        match = EMBED_PATH.match(request.path_info)
        if match:
            from .models import Portal

            origins = Portal.objects.filter(slug=match["slug"]).values_list("embed_origins", flat=True).first()
            directive = frame_ancestors(list(origins or []))
            # Embed pages carry single-use tokens: never from a cache or the back/forward cache.
            response["Cache-Control"] = "no-store"
        else:
            directive = "frame-ancestors 'none'"
        policy = response.get("Content-Security-Policy")
        response["Content-Security-Policy"] = f"{policy}; {directive}" if policy else directive
        return response


class QueryLanguageMiddleware:
    """`?lang=de` picks the page's language over Accept-Language (for links and embeds).

    Sits after LocaleMiddleware, which has already chosen from the browser's preferences.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response
        self.languages = {code for code, _ in settings.LANGUAGES}

    def __call__(self, request: HttpRequest) -> HttpResponse:
        requested = request.GET.get("lang", "")
        if requested in self.languages:
            translation.activate(requested)
            request.LANGUAGE_CODE = requested
        return self.get_response(request)
