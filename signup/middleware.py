"""Request-level behaviour that every portal page shares."""

from __future__ import annotations

import codecs
import re
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import render
from django.utils import translation
from django.utils.cache import patch_vary_headers
from django.utils.http import parse_header_parameters

from . import health
from .embedding import frame_ancestors

EMBED_PATH = re.compile(r"^/embed/(?P<slug>[-\w]+)/")
API_PORTAL_PATH = re.compile(r"^/api/v1/portals/(?P<slug>[-\w]+)/")


class ProbeMiddleware:
    """The load balancer's health checks and the metrics scrape, answered before anything reads the Host
    header. A target group's health check sends an IP address as Host, not the portal's name, and
    ALLOWED_HOSTS rightly does not list it, so CommonMiddleware would answer 400 and every target would look down
    (docs/deploy.md §5). These views build no URL from the host, which is what the host check protects;
    they are exempt from the HTTPS redirect too, so the balancer may probe over plain HTTP."""

    VIEWS = {"/healthz": health.healthz, "/readyz": health.readyz, "/metrics": health.metrics_view}

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        view = self.VIEWS.get(request.path_info)
        if view is None:
            return self.get_response(request)
        response: HttpResponse = view(request)
        return response


def csp_allow(request: HttpRequest, directive: str, source: str) -> None:
    """Let this response's policy allow one more source for a directive (see SecurityHeadersMiddleware)."""
    extra = getattr(request, "csp_extra", None)
    if extra is None:
        extra = {}
        request.csp_extra = extra  # type: ignore[attr-defined]
    extra.setdefault(directive, []).append(source)


PERMISSIONS_POLICY = (
    "accelerometer=(), camera=(), geolocation=(), gyroscope=(), magnetometer=(), microphone=(), "
    "payment=(), usb=(), interest-cohort=()"
)


class SecurityHeadersMiddleware:
    """A strict Content-Security-Policy on every response, and who may frame it.

    No inline script anywhere; styles from our files only (admin keeps Django's inline styles).
    /embed/<slug>/... may be framed by the portal's listed sites, everything else by nobody. It sits
    first in MIDDLEWARE so that error pages (403, 404, 500) carry the policy too: a frame then shows
    our message instead of the browser's "refused to connect". Views add sources they need through
    `request.csp_extra` (e.g. Cognito's threat-protection script, a success redirect's origin).
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request.csp_extra = {}  # type: ignore[attr-defined]
        response = self.get_response(request)
        match = EMBED_PATH.match(request.path_info)
        if match:
            from .caching import portal_by_slug

            portal = portal_by_slug(match["slug"])
            ancestors = frame_ancestors(list(portal.embed_origins if portal else []))
            # Embed pages carry single-use tokens: never from a cache or the back/forward cache.
            response["Cache-Control"] = "no-store"
        else:
            ancestors = "frame-ancestors 'none'"
        extra: dict[str, list[str]] = getattr(request, "csp_extra", {})
        admin = request.path_info.startswith("/admin/")
        directives = {
            "default-src": ["'self'"],
            "script-src": ["'self'", *extra.get("script-src", [])],
            "style-src": ["'self'", "'unsafe-inline'"] if admin else ["'self'", *extra.get("style-src", [])],
            "img-src": ["'self'", "data:", "https:"],
            "connect-src": ["'self'", *extra.get("connect-src", [])],
            "font-src": ["'self'"],
            "frame-src": ["'self'", *extra.get("frame-src", [])],
            "form-action": ["'self'", *extra.get("form-action", [])],
            "object-src": ["'none'"],
            "base-uri": ["'none'"],
        }
        policy = "; ".join(f"{name} {' '.join(sources)}" for name, sources in directives.items())
        response["Content-Security-Policy"] = f"{policy}; {ancestors}"
        response.setdefault("Permissions-Policy", PERMISSIONS_POLICY)
        return response


class AdminLoginRateLimitMiddleware:
    """Password guessing on the admin login is slowed per client address (settings: admin_login_per_ip)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.method == "POST" and request.path_info == "/admin/login/":
            from .abuse import configured, hit
            from .visitors import client_ip

            if not hit("admin-login", client_ip(request.META) or "unknown", configured("admin_login_per_ip")):
                return render(request, "signup/rate_limited.html", {"admin": True}, status=429)
        return self.get_response(request)


ACCEPTED_CHARSETS = {"utf-8", "ascii", "latin-1", "iso8859-15", "cp1252"}
REFUSED_CHARSET = "signup.refused_charset"


def set_aside_unusable_charset(environ: dict[str, Any], **_: Any) -> None:
    """request_started receiver: take a charset no browser sends out of CONTENT_TYPE, noted in the environ.

    Django adopts any charset `codecs` knows while it builds the request, before any middleware runs, and
    decodes the query string with it: rot13 or punycode there is an exception, and the visitor a 500.
    Without it Django decodes as UTF-8; RequestCharsetMiddleware then refuses a body sent in it.
    """
    content_type = environ.get("CONTENT_TYPE", "")
    if "charset" not in content_type.lower():
        return
    media_type, params = parse_header_parameters(content_type)
    charset = params.pop("charset", None)
    if charset is None or _charset_name(charset) in ACCEPTED_CHARSETS:
        return
    environ[REFUSED_CHARSET] = charset
    quoted = {name: value.replace("\\", "\\\\").replace('"', '\\"') for name, value in params.items()}
    environ["CONTENT_TYPE"] = media_type + "".join(f'; {name}="{value}"' for name, value in quoted.items())


def _charset_name(charset: str) -> str:
    try:
        return codecs.lookup(charset).name
    except (LookupError, ValueError):
        return ""


class RequestCharsetMiddleware:
    """A body declared in a charset no browser sends (rot13, punycode, ...) is refused with a 400; see
    set_aside_unusable_charset, which took that charset away before Django could try to decode with it."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.method == "POST" and REFUSED_CHARSET in request.META:
            return HttpResponseBadRequest("Send the form as UTF-8.", content_type="text/plain; charset=utf-8")
        return self.get_response(request)


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


API_METHODS = ("GET", "POST")
API_REQUEST_HEADERS = ("content-type", "idempotency-key", "accept-language")


class ApiCorsMiddleware:
    """Cross-origin calls to a portal's JSON API from the sites the portal lists (Portal.api_origins).

    A preflight from a listed origin is answered here, before CSRF (the API uses no cookies); one from
    any other origin gets no CORS headers, so the browser keeps the answer from the page. Credentials
    are never allowed: a request carrying cookies is no more trusted than one without.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        match = API_PORTAL_PATH.match(request.path_info)
        if match is None:
            return self.get_response(request)
        origin = self._allowed_origin(request, match["slug"])
        if request.method == "OPTIONS" and "HTTP_ACCESS_CONTROL_REQUEST_METHOD" in request.META:
            asked = request.META.get("HTTP_ACCESS_CONTROL_REQUEST_HEADERS", "")
            headers = {h.strip().lower() for h in asked.split(",") if h.strip()}
            method = request.META["HTTP_ACCESS_CONTROL_REQUEST_METHOD"]
            if not (method in API_METHODS and headers <= set(API_REQUEST_HEADERS)):
                origin = ""
            response = HttpResponse(status=204 if origin else 403)
            if origin:
                response["Access-Control-Allow-Methods"] = ", ".join(API_METHODS)
                response["Access-Control-Allow-Headers"] = ", ".join(API_REQUEST_HEADERS)
                response["Access-Control-Max-Age"] = "600"
        else:
            response = self.get_response(request)
            if origin:
                response["Access-Control-Expose-Headers"] = "Retry-After, Idempotent-Replayed"
        if origin:
            response["Access-Control-Allow-Origin"] = origin
        patch_vary_headers(response, ("Origin",))
        return response

    @staticmethod
    def _allowed_origin(request: HttpRequest, slug: str) -> str:
        from .caching import portal_by_slug
        from .embedding import normalise_origin, origin_allowed

        origin = request.META.get("HTTP_ORIGIN", "")
        portal = portal_by_slug(slug) if origin else None
        if portal is None or not origin_allowed(origin, list(portal.api_origins)):
            return ""
        return normalise_origin(origin)
