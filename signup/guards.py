"""What stands between a POST and Cognito: a token per rendered form, a honeypot, a minimum fill
time, rate limits, the portal's challenge (signup/challenges.py) and its rules on who may sign up
(signup/admission.py). A submission they stop is recorded as `blocked` with its reason, and Cognito is
not called.

The form token is signed, so it needs no server state: it names the rendered form (the idempotency
key that makes a repeated POST show the first outcome) and says when the form was shown.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.core import signing

from . import abuse, admission, challenges
from .models import Portal

FORM_TOKEN_SALT = "signup.form.v1"
FORM_TOKEN_MAX_AGE = 24 * 3600
HONEYPOT_FIELD = "contact_preference_note"  # a name bots like to fill; people never see the field


def form_token() -> str:
    return signing.dumps({"k": secrets.token_urlsafe(18), "t": time.time()}, salt=FORM_TOKEN_SALT)


@dataclass(frozen=True)
class Check:
    key: str | None  # the idempotency key of the rendered form, when its token is good
    block: str = ""  # why the submission is stopped: "" or a message code
    retry_at: datetime | None = None  # when a rate-limited caller may try again


def submission_check(
    *, portal: Portal, form_token: str | None, honeypot: str, client_ip: str | None, username: str
) -> Check:
    """The guards, cheapest first. Rate limits count only submissions that got that far.

    `form_token` None: a channel with no rendered form (the API), where only the rate limits apply."""
    key = None
    if form_token is not None:
        try:
            token = signing.loads(form_token, salt=FORM_TOKEN_SALT, max_age=FORM_TOKEN_MAX_AGE)
            key, shown_at = str(token["k"]), float(token["t"])
        except (signing.BadSignature, KeyError, TypeError, ValueError):
            return Check(key=None, block="form_expired")
        if honeypot:
            return Check(key, "blocked_honeypot")
        if time.time() - shown_at < settings.SIGNUP_MIN_FILL_SECONDS:
            return Check(key, "blocked_too_fast")
    limits = [
        ("signup-ip", f"{portal.pk}:{client_ip}", portal.rate_limit("signup_per_ip")),
        # One username tried from many addresses (someone probing which accounts exist, or hammering one).
        ("signup-username", f"{portal.pk}:{portal.username_key(username)}", portal.rate_limit("signup_per_username")),
        # Counted only when the address and the username are within theirs: they cannot use up the portal's.
        ("signup-portal", str(portal.pk), portal.rate_limit("signup_per_portal")),
    ]
    over = abuse.first_exceeded(limits)
    if over is not None:
        return Check(key, "rate_limited", retry_at=abuse.window_end(limits[over][2]))
    return Check(key)


def challenge_check(portal: Portal, response: str, client_ip: str | None) -> str:
    """An empty string when the response passes the portal's challenge (or it has none), else a message code."""
    return challenges.check(portal, response, client_ip)


def admission_check(portal: Portal, username: str, attributes: dict[str, str]) -> list[tuple[str, str]]:
    """Every (Cognito field, message code) the portal's rules refuse: e-mail domains and disposable
    addresses for `email` and an e-mail username, calling regions for `phone_number` and a phone
    username. Checked on the form's cleaned values, so an address or number is already well formed."""
    emails = [("email", attributes.get("email", ""))]
    phones = [("phone_number", attributes.get("phone_number", ""))]
    if "email" in portal.username_attributes and "@" in username:
        emails.append(("username", username))
    elif "phone_number" in portal.username_attributes and username.startswith("+"):
        phones.append(("username", username))
    refusals = []
    for name, value in emails:
        reason = value and admission.email_refusal(
            value,
            allow=portal.email_domains_allowed,
            deny=portal.email_domains_denied,
            block_disposable=portal.block_disposable_email,
        )
        if reason:
            refusals.append((name, ADMISSION_MESSAGES[reason]))
    for name, value in phones:
        reason = value and admission.phone_refusal(value, regions=portal.phone_regions)
        if reason:
            refusals.append((name, ADMISSION_MESSAGES[reason]))
    return refusals


ADMISSION_MESSAGES = {
    admission.EMAIL_DOMAIN: "email_domain_refused",
    admission.DISPOSABLE_EMAIL: "disposable_email_refused",
    admission.PHONE_REGION: "phone_region_refused",
}

# The portal's pre sign-up hook (signup/presignup.py): it said no, or gave no usable answer (fail closed).
PRE_SIGNUP_REFUSED = "pre_signup_refused"
PRE_SIGNUP_UNAVAILABLE = "pre_signup_unavailable"

# The attempt's error code (the dashboard's reason) for each guard's refusal.
BLOCK_CODES = {
    "form_expired": "FormExpired",
    "blocked_honeypot": "Honeypot",
    "blocked_too_fast": "TooFast",
    "rate_limited": "RateLimited",
    challenges.MISSING: "ChallengeMissing",
    challenges.INVALID: "ChallengeInvalid",
    challenges.EXPIRED: "ChallengeExpired",
    challenges.REPLAYED: "ChallengeReplayed",
    challenges.UNAVAILABLE: "ChallengeUnavailable",
    "email_domain_refused": "EmailDomain",
    "disposable_email_refused": "DisposableEmail",
    "phone_region_refused": "PhoneRegion",
    PRE_SIGNUP_REFUSED: "PreSignupHook",
    PRE_SIGNUP_UNAVAILABLE: "PreSignupHookUnavailable",
}
