"""The check a visitor's browser passes before a sign-up reaches Cognito: which one a portal uses, what its
page needs, and whether a response passes.

ALTCHA, the default, is a proof of work with no third party and no cookie, so it works in a frame whose
third-party cookies are blocked. We hand out a challenge signed with a key derived from SECRET_KEY,
bound to the portal and expiring in minutes; the browser spends about a second finding the counter we
chose at random; the answer is checked with one HMAC (the key we expect is signed into the challenge),
and then remembered in the shared cache until the challenge expires, so each one is accepted once
across every process (Redis in production).

Turnstile and hCaptcha are for operators who already use one: the provider's widget gives a token, which
signup/captcha.py checks against the provider's verify API. When that API cannot be asked, the
sign-up is refused (fail closed) with a polite "try again".
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass
from typing import Any

import altcha
from django.conf import settings
from django.core.cache import cache
from django.utils.crypto import salted_hmac

from . import captcha
from .models import Challenge, Portal

ALGORITHM = "PBKDF2/SHA-256"  # the widget solves it with the browser's own crypto; no WebAssembly
ALTCHA_FIELD = "altcha"  # the widget's default input name
MAX_RESPONSE_CHARS = 4096  # an ALTCHA solution is under 1 KB; anything much longer is not one

# Why a response did not pass (message codes in signup/messages.py).
MISSING = "challenge_missing"
INVALID = "challenge_invalid"
EXPIRED = "challenge_expired"
REPLAYED = "challenge_replayed"
UNAVAILABLE = "challenge_unavailable"


def _key(purpose: str) -> str:
    return salted_hmac(f"signup.altcha.{purpose}", "", algorithm="sha256").hexdigest()


def altcha_challenge(portal: Portal) -> dict[str, Any]:
    """A new signed challenge for this portal, as the widget reads it."""
    low, high = settings.SIGNUP_ALTCHA_COUNTER
    challenge = altcha.create_challenge(
        ALGORITHM,
        portal.challenge_cost,
        counter=low + secrets.randbelow(high - low + 1),
        expires_at=int(time.time() + settings.SIGNUP_CHALLENGE_MAX_AGE),
        data={"portal": portal.slug},
        hmac_secret=_key("challenge"),
        hmac_key_secret=_key("key"),
    )
    return challenge.to_dict()


def response_field(portal: Portal) -> str:
    """The form field the portal's widget posts its response in."""
    provider = captcha.PROVIDERS.get(portal.challenge)
    return provider.response_field if provider else ALTCHA_FIELD


def required(portal: Portal) -> bool:
    return portal.challenge != Challenge.OFF


def check(portal: Portal, response: str, client_ip: str | None) -> str:
    """An empty string when the response passes the portal's challenge, else why not."""
    if not required(portal):
        return ""
    if not response:
        return MISSING
    provider = captcha.PROVIDERS.get(portal.challenge)
    if provider is not None:  # bounded by the provider's own token length (hCaptcha's run past 4,000)
        return _provider_check(portal, provider, response, client_ip)
    if len(response) > MAX_RESPONSE_CHARS:
        return INVALID
    return _altcha_check(portal, response)


def _altcha_check(portal: Portal, response: str) -> str:
    try:
        payload = altcha.Payload.from_base64(response)
        verified = altcha.verify_solution(payload, _key("challenge"), hmac_key_secret=_key("key"))
    except (ValueError, TypeError, KeyError, AttributeError):  # not base64, not JSON, not the right shape
        return INVALID
    if verified.expired:
        return EXPIRED
    if not verified.verified:
        return INVALID
    data = payload.challenge.parameters.data
    if not isinstance(data, dict) or data.get("portal") != portal.slug:
        return INVALID  # another portal's challenge: it may have cost less
    # Accepted once: the first process to add the key wins; it is kept until the challenge expires.
    seen = "signup:altcha:used:" + hashlib.sha256(str(payload.challenge.signature).encode()).hexdigest()
    expires_at = payload.challenge.parameters.expires_at or time.time() + settings.SIGNUP_CHALLENGE_MAX_AGE
    if not cache.add(seen, 1, timeout=max(1, int(float(expires_at) - time.time()) + 1)):
        return REPLAYED
    return ""


def _provider_check(portal: Portal, provider: captcha.Provider, token: str, client_ip: str | None) -> str:
    secret = captcha.secret_for(provider, portal.challenge_secret_env)
    if not secret:
        return UNAVAILABLE
    result = captcha.verify(provider, token, secret=secret, remote_ip=client_ip, site_key=portal.challenge_site_key)
    return {captcha.Verdict.PASSED: "", captcha.Verdict.FAILED: INVALID}.get(result.verdict, UNAVAILABLE)


@dataclass(frozen=True)
class Widget:
    """What the form page shows for the portal's challenge."""

    kind: str  # "altcha", "turnstile" or "hcaptcha"
    field: str  # the input the response comes back in
    script: str = ""  # a provider's script URL (ALTCHA's files are ours, under static/)
    site_key: str = ""
    widget_class: str = ""


def widget(portal: Portal) -> Widget | None:
    if not required(portal):
        return None
    provider = captcha.PROVIDERS.get(portal.challenge)
    if provider is None:
        return Widget(kind=Challenge.ALTCHA, field=ALTCHA_FIELD)
    return Widget(
        kind=provider.name,
        field=provider.response_field,
        script=provider.script_url,
        site_key=portal.challenge_site_key,
        widget_class=provider.widget_class,
    )


def csp_sources(portal: Portal) -> dict[str, tuple[str, ...]]:
    """What the page's Content-Security-Policy must add for the portal's challenge: a provider's hosts
    only on portals that use it; ALTCHA needs none (its script and worker are ours)."""
    provider = captcha.PROVIDERS.get(portal.challenge)
    return dict(provider.csp) if provider else {}
