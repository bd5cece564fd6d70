"""Request-level behaviour that every portal page shares."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils import translation


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
