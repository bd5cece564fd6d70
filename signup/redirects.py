"""The allowlist for post-sign-up redirects: an open redirect would let anyone borrow our domain."""

from urllib.parse import urlsplit

from django.conf import settings


def host_matches(host: str, pattern: str) -> bool:
    host, pattern = host.lower(), pattern.lower()
    if pattern.startswith("*."):
        return host.endswith(pattern[1:]) and host != pattern[2:]
    return host == pattern


def is_allowed_redirect(url: str) -> bool:
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        return False
    if parts.scheme == "http" and not settings.DEBUG:
        return False
    return any(host_matches(parts.hostname, pattern) for pattern in settings.SIGNUP_REDIRECT_ALLOWED_HOSTS)
