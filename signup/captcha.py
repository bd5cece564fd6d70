"""Server-side checks of a CAPTCHA token with Cloudflare Turnstile or hCaptcha, for operators who already use one.

The widget in the page only hands the visitor a token; whether it is good is for the provider's verify API to
say, asked with the portal's secret. Every way that answer can fail to come (no secret, a timeout, a refused
connection, an error status, something that is not the provider's JSON) is UNAVAILABLE, which the caller treats
as a refusal with a polite "try again": a CAPTCHA that fails open protects nothing. Nothing here logs or raises
the secret or the token; the caller logs the verdict with `error_codes` and `reason`.
"""

from __future__ import annotations

import enum
import http.client
import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from django.conf import settings

from . import environment

# An answer is a few hundred bytes; anything far larger is not the verify API talking.
MAX_ANSWER_BYTES = 64 * 1024


@dataclass(frozen=True)
class Provider:
    name: str
    response_field: str  # the form field the widget fills with the token
    script_url: str
    widget_class: str  # the element the script renders the widget into
    csp: Mapping[str, tuple[str, ...]] = field(hash=False)  # directive -> sources the widget needs
    verify_url_setting: str
    secret_env_default: str
    max_token_length: int
    sends_site_key: bool = False  # the verify API also checks the token was issued for this site key

    def __post_init__(self) -> None:
        # Read-only, so that no caller can widen every portal's policy by editing the one shared provider.
        object.__setattr__(self, "csp", MappingProxyType(dict(self.csp)))


# Sources, from each provider's documentation:
# - Cloudflare, Turnstile "Content Security Policy" reference: scripts and frames from challenges.cloudflare.com.
#   (It prefers a nonce on the api.js tag, with which strict-dynamic works; connect-src 'self' is only for
#   pre-clearance mode, which a sign-up form does not use.)
# - hCaptcha developer guide, "Content-Security-Policy Settings": hcaptcha.com and every subdomain for scripts,
#   frames, styles and connections. It asks for the wildcard rather than named subdomains, since the asset
#   hosts it uses change over time and between regions.
# Token lengths: Cloudflare's "Validate the token" page says a Turnstile token has at most 2048 characters.
# hCaptcha documents none, and its tokens run past 2048 (reports of 2,500 and of over 4,000 characters), so
# its bound is only a generous ceiling that keeps junk from being posted on to the provider.
TURNSTILE = Provider(
    name="turnstile",
    response_field="cf-turnstile-response",
    script_url="https://challenges.cloudflare.com/turnstile/v0/api.js",
    widget_class="cf-turnstile",
    csp={"script-src": ("https://challenges.cloudflare.com",), "frame-src": ("https://challenges.cloudflare.com",)},
    verify_url_setting="TURNSTILE_VERIFY_URL",
    secret_env_default="TURNSTILE_SECRET_KEY",
    max_token_length=2048,
)
_HCAPTCHA_HOSTS = ("https://hcaptcha.com", "https://*.hcaptcha.com")
HCAPTCHA = Provider(
    name="hcaptcha",
    response_field="h-captcha-response",
    script_url="https://js.hcaptcha.com/1/api.js",
    widget_class="h-captcha",
    csp={directive: _HCAPTCHA_HOSTS for directive in ("script-src", "frame-src", "style-src", "connect-src")},
    verify_url_setting="HCAPTCHA_VERIFY_URL",
    secret_env_default="HCAPTCHA_SECRET_KEY",
    max_token_length=32768,
    sends_site_key=True,
)
PROVIDERS: dict[str, Provider] = {provider.name: provider for provider in (TURNSTILE, HCAPTCHA)}

# Codes that say our side of the request is wrong (secret, site key, the request itself) or the provider
# failed, not that the visitor's token is bad: no visitor can pass until someone acts, so these are
# UNAVAILABLE, an outage of the check, rather than FAILED, which would read as a bot in the numbers and tell
# the visitor to try a challenge that cannot succeed.
NOT_THE_VISITORS_FAULT = frozenset(
    {
        "missing-input-secret",
        "invalid-input-secret",
        "sitekey-secret-mismatch",  # hCaptcha
        "not-using-dummy-passcode",  # hCaptcha: a test site key with a real secret, or the other way round
        "missing-remoteip",  # hCaptcha
        "invalid-remoteip",  # hCaptcha
        "bad-request",
        "internal-error",  # Turnstile: may be retried
    }
)


class Verdict(enum.StrEnum):
    PASSED = "passed"
    FAILED = "failed"  # the provider said no, or the token was missing or too long to be one
    UNAVAILABLE = "unavailable"  # no usable answer: the caller refuses and asks the visitor to try again


@dataclass(frozen=True)
class Check:
    verdict: Verdict
    error_codes: tuple[str, ...] = ()  # the provider's, as it sent them
    reason: str = ""  # ours, when no answer decided: "timeout", "http 500", "no secret", ...


def secret_for(provider: Provider, env_name: str = "") -> str:
    """The portal's secret from the environment variable, else from the file <NAME>_FILE names; "" if neither
    gives one (or the file cannot be read), which `verify` turns into UNAVAILABLE."""
    try:
        return environment.secret(env_name or provider.secret_env_default).strip()
    except OSError:
        return ""


# HTTP(S) without following redirects: the verify API answers where it is asked, so a redirect means a wrong
# setting, UNAVAILABLE rather than followed. Proxies from the environment still apply.
_opener = urllib.request.OpenerDirector()
for _handler in (
    urllib.request.ProxyHandler(),
    urllib.request.HTTPHandler(),
    urllib.request.HTTPSHandler(),
    urllib.request.HTTPDefaultErrorHandler(),
    urllib.request.HTTPErrorProcessor(),
):
    _opener.add_handler(_handler)


def verify(provider: Provider, token: str, *, secret: str, remote_ip: str | None, site_key: str = "") -> Check:
    """Ask the provider's verify API whether `token` is good, within SIGNUP_CAPTCHA_TIMEOUT_SECONDS.

    A missing or oversized token is FAILED and no secret is UNAVAILABLE, both without a request."""
    if not secret:
        return Check(Verdict.UNAVAILABLE, reason="no secret")
    if not token:
        return Check(Verdict.FAILED, reason="no token")
    if len(token) > provider.max_token_length:
        return Check(Verdict.FAILED, reason="token too long")
    url = getattr(settings, provider.verify_url_setting)
    if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
        return Check(Verdict.UNAVAILABLE, reason="verify URL not http(s)")
    fields = {"secret": secret, "response": token}
    if remote_ip:
        fields["remoteip"] = remote_ip
    if site_key and provider.sends_site_key:
        fields["sitekey"] = site_key
    try:
        request = urllib.request.Request(
            url,
            data=urllib.parse.urlencode(fields).encode("ascii"),
            headers={"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"},
            method="POST",
        )
        # The timeout bounds each wait on the socket (connect, each read); the answer is one small read.
        with _opener.open(request, timeout=settings.SIGNUP_CAPTCHA_TIMEOUT_SECONDS) as response:
            raw = response.read(MAX_ANSWER_BYTES + 1)
    except urllib.error.HTTPError as error:
        error.close()
        return Check(Verdict.UNAVAILABLE, reason=f"http {error.code}")
    except urllib.error.URLError as error:  # before any answer: the connection, or a connect timeout
        return Check(Verdict.UNAVAILABLE, reason="timeout" if isinstance(error.reason, TimeoutError) else "unreachable")
    except TimeoutError:  # the answer did not come in time
        return Check(Verdict.UNAVAILABLE, reason="timeout")
    except (OSError, http.client.HTTPException, ValueError):  # cut off, garbled, or a URL without a host
        return Check(Verdict.UNAVAILABLE, reason="no answer")
    return _read_answer(raw)


def _read_answer(raw: bytes) -> Check:
    if len(raw) > MAX_ANSWER_BYTES:
        return Check(Verdict.UNAVAILABLE, reason="answer too long")
    try:
        answer = json.loads(raw)
    except (ValueError, RecursionError):
        return Check(Verdict.UNAVAILABLE, reason="not json")
    if not isinstance(answer, dict) or not isinstance(answer.get("success"), bool):
        return Check(Verdict.UNAVAILABLE, reason="not a verify answer")
    codes = answer.get("error-codes")
    error_codes = tuple(code for code in codes if isinstance(code, str)) if isinstance(codes, list) else ()
    if answer["success"]:
        return Check(Verdict.PASSED, error_codes)
    if NOT_THE_VISITORS_FAULT.intersection(error_codes):
        return Check(Verdict.UNAVAILABLE, error_codes)
    return Check(Verdict.FAILED, error_codes)
