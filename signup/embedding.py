"""Framing a portal on customer sites: origin allowlists, the cookie-free CSRF gate, single-use tokens.

The design follows docs/cognito.md §10: only the origins a portal lists may frame
/embed/<slug>/ (CSP frame-ancestors), and a POST there must come from our own document
(Sec-Fetch-Site, else an exact Origin) and carry a signed token that is burned on first use.
No cookie is involved, so browsers that block third-party cookies work the same.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings
from django.core import signing
from django.core.cache import cache
from django.http import HttpRequest

MAX_EMBED_ORIGINS = 10
TOKEN_SALT = "signup.embed-form.v1"
DEFAULT_PORTS = {"http": 80, "https": 443}
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "[::1]")


def _is_loopback(host: str) -> bool:
    return host in LOOPBACK_HOSTS or host.startswith("127.") or host.endswith(".localhost")


def normalise_origin(value: str) -> str:
    """`scheme://host[:port]`, lower-case, IDNA, default port dropped; `*.` allowed as a host prefix.

    Anything else (paths, queries, credentials, `*`, separators) is refused: the value goes into a
    response header, so this is also what keeps header and directive injection out.
    """
    raw = value.strip()
    if not raw or any(c in raw for c in " \t\r\n;,'\"\\"):
        raise ValueError("an origin has no spaces, quotes, commas or semicolons")
    if not raw.isprintable():  # urlsplit would quietly drop leading control characters such as NUL
        raise ValueError("an origin has no control or invisible characters")
    parts = urlsplit(raw)
    if parts.scheme not in DEFAULT_PORTS or not parts.netloc:
        raise ValueError("an origin starts with https:// (or http:// for local testing)")
    if parts.path not in ("", "/") or parts.query or parts.fragment or "@" in parts.netloc:
        raise ValueError("an origin has no path, query, fragment or credentials")
    host = parts.hostname or ""
    wildcard = host.startswith("*.")
    bare = host[2:] if wildcard else host
    if not bare or "*" in bare or bare.startswith(".") or ".." in bare:
        raise ValueError("a wildcard may only stand first, as in https://*.example.com")
    try:
        bare = bare.encode("idna").decode("ascii").lower()
    except UnicodeError as error:
        raise ValueError("not a valid host name") from error
    try:
        port = parts.port
    except ValueError as error:
        raise ValueError("not a valid port") from error
    if parts.scheme == "http" and not (_is_loopback(bare) or settings.DEBUG):
        raise ValueError("customer sites must use https://")
    host_part = f"*.{bare}" if wildcard else bare
    if ":" in bare:  # IPv6 literal
        host_part = f"[{bare}]"
    port_part = f":{port}" if port and port != DEFAULT_PORTS[parts.scheme] else ""
    return f"{parts.scheme}://{host_part}{port_part}"


def normalise_origins(values: list[str]) -> list[str]:
    origins = []
    for value in values:
        origin = normalise_origin(value)
        if origin not in origins:
            origins.append(origin)
    if len(origins) > MAX_EMBED_ORIGINS:
        raise ValueError(f"at most {MAX_EMBED_ORIGINS} origins")
    return origins


def origin_allowed(origin: str, allowed: list[str]) -> bool:
    """Match as browsers match frame-ancestors: `*.x` covers subdomains at any depth, never x itself."""
    try:
        candidate = urlsplit(normalise_origin(origin)) if origin else None
    except ValueError:
        return False
    if candidate is None or (candidate.hostname or "").startswith("*."):
        return False
    for pattern in allowed:
        expected = urlsplit(pattern)
        if expected.scheme != candidate.scheme or expected.port != candidate.port:
            continue
        host, wanted = candidate.hostname or "", expected.hostname or ""
        if wanted.startswith("*."):
            if host.endswith(wanted[1:]) and host != wanted[2:]:
                return True
        elif host == wanted:
            return True
    return False


def frame_ancestors(allowed: list[str]) -> str:
    """The CSP directive for an embed page: our own origin (the admin preview) and the listed ones."""
    return "frame-ancestors " + " ".join(["'self'", *allowed])


def own_origin(request: HttpRequest) -> str:
    return getattr(settings, "SIGNUP_PUBLIC_ORIGIN", "") or f"{request.scheme}://{request.get_host()}"


def fetch_metadata_ok(request: HttpRequest) -> bool:
    """Only our own document may post: Sec-Fetch-Site same-origin (or none), else an exact Origin."""
    site = request.META.get("HTTP_SEC_FETCH_SITE")
    if site is not None:
        return site in ("same-origin", "none")
    origin = request.META.get("HTTP_ORIGIN")
    return origin is not None and origin == own_origin(request)


@dataclass(frozen=True)
class EmbedToken:
    portal: str
    nonce: str
    parent: str


def issue_token(portal_slug: str, parent: str) -> str:
    return signing.dumps({"p": portal_slug, "n": secrets.token_urlsafe(16), "o": parent}, salt=TOKEN_SALT)


def consume_token(value: object, portal_slug: str) -> EmbedToken | None:
    """The token's contents if it is ours, fresh, for this portal and not used before; then it is used."""
    if not isinstance(value, str) or not value:
        return None
    try:
        data = signing.loads(value, salt=TOKEN_SALT, max_age=settings.SIGNUP_EMBED_TOKEN_MAX_AGE)
    except signing.BadSignature:
        return None
    if not isinstance(data, dict) or data.get("p") != portal_slug or not isinstance(data.get("n"), str):
        return None
    # cache.add is atomic in Redis and locmem: of two concurrent uses, exactly one wins.
    if not cache.add(f"signup:embed-nonce:{data['n']}", 1, settings.SIGNUP_EMBED_TOKEN_MAX_AGE + 60):
        return None
    return EmbedToken(portal=portal_slug, nonce=data["n"], parent=str(data.get("o", "")))


def loader_url(request: HttpRequest) -> str:
    """The loader's stable address (not the hashed static name, which changes with every deploy)."""
    return f"{own_origin(request)}{settings.STATIC_URL.rstrip('/')}/signup/embed.js"


def snippet(request: HttpRequest, portal_slug: str) -> str:
    return f'<script src="{loader_url(request)}" data-portal="{portal_slug}" async></script>'
