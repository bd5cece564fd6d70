"""The portal's pre sign-up hook: before SignUp, the operator's URL is asked whether this sign-up may go on.

The body is the submission as it would go to Cognito, never the password, signed as the webhooks are
(Standard Webhooks: webhook-id, webhook-timestamp, webhook-signature), and sent once with a short timeout
(settings.PRE_SIGNUP_HOOK_TIMEOUT_SECONDS) to an address checked just then (signup/webhooks.py). The
answer is {"allow": true}, or {"allow": false, "errors": {attribute: message}, "message": text}. Anything
else (no answer in time, a non-2xx, not JSON, the wrong shapes, too large) makes the hook unavailable,
and the portal's choice says whether the sign-up goes on (fail open) or is refused politely (fail closed).

The operator's texts are shown to visitors: they are bounded and stripped of control and format
characters here, and escaped where they are shown, like every other value.
"""

from __future__ import annotations

import enum
import json
import logging
import re
import time
import unicodedata
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.utils import timezone

from . import logs, webhooks

if TYPE_CHECKING:
    from .models import Portal

EVENT_TYPE = "signup.pre"
MAX_ANSWER_BYTES = 16 * 1024
MAX_ERRORS = 20  # field errors taken from one answer; the rest are ignored
MAX_NAME = 128  # an attribute or field name in `errors`
MAX_ERROR_TEXT = 200  # one field's message
MAX_MESSAGE = 500  # the message above the form


class Decision(enum.StrEnum):
    ALLOWED = "allowed"
    DENIED = "denied"
    UNAVAILABLE = "unavailable"  # no usable answer: the portal's fail-open choice decides


@dataclass(frozen=True)
class Verdict:
    decision: Decision
    # When denied: attribute (Cognito name), "username" or a validation-data name -> the operator's text.
    errors: dict[str, str] = field(default_factory=dict)
    message: str = ""  # when denied: the operator's text for the whole form ("" for none)
    reason: str = ""  # when unavailable: why, for the log (never shown to visitors)

    @property
    def allowed(self) -> bool:
        return self.decision is Decision.ALLOWED

    @property
    def denied(self) -> bool:
        return self.decision is Decision.DENIED


def unavailable(reason: str) -> Verdict:
    return Verdict(Decision.UNAVAILABLE, reason=reason)


def configured(portal: Portal) -> bool:
    return bool(portal.pre_signup_hook_url)


def secret_of(portal: Portal) -> str:
    """The hook's signing secret: from the named environment variable (or its _FILE), else the generated one."""
    return webhooks.signing_secret(portal.pre_signup_hook_secret_env, portal.pre_signup_hook_secret)


def ensure_secret(portal: Portal, *, renew: bool = False) -> str:
    """Give a portal with a hook URL and no secret variable a generated secret (a new one with `renew`).
    Returns the secret when one was generated now, for the operator to see once, else ""."""
    if renew:
        portal.pre_signup_hook_secret_env = ""
    elif not portal.pre_signup_hook_url or portal.pre_signup_hook_secret_env or portal.pre_signup_hook_secret:
        return ""
    portal.pre_signup_hook_secret = webhooks.new_secret()
    return portal.pre_signup_hook_secret


def ask(
    portal: Portal,
    *,
    username: str,
    attributes: dict[str, str],
    validation_data: dict[str, str],
    channel: str,
    client_ip: str | None = None,
) -> Verdict:
    """Ask the portal's hook about one sign-up; never raises (whatever fails is `unavailable`).

    The body is the submission as Cognito would get it, never the password. Validation data goes too:
    its fields are the operator's own, asked for their own checks."""
    data: dict[str, Any] = {
        "portal": portal.slug,
        "channel": channel,
        "username": username,
        "attributes": dict(attributes),
        "validation_data": dict(validation_data),
        "client_ip": client_ip,
    }
    body = {"type": EVENT_TYPE, "timestamp": timezone.now().isoformat(timespec="milliseconds"), "data": data}
    started = time.monotonic()
    try:
        verdict = _ask(portal, json.dumps(body, ensure_ascii=False, separators=(",", ":")))
    except Exception as error:  # a bug of ours, or a URL that cannot even be parsed: not the visitor's fault
        logs.event("presignup.error", level=logging.ERROR, exc_info=True, portal=portal.slug)
        verdict = unavailable(type(error).__name__)
    logs.event(
        "presignup.answered",
        level=logging.WARNING if verdict.decision is Decision.UNAVAILABLE else logging.INFO,
        portal=portal.slug,
        decision=str(verdict.decision),
        reason=verdict.reason or None,
        fail_open=portal.pre_signup_hook_fail_open if verdict.decision is Decision.UNAVAILABLE else None,
        ms=round((time.monotonic() - started) * 1000),
    )
    return verdict


def _ask(portal: Portal, body: str) -> Verdict:
    secret = secret_of(portal)
    if not secret:
        return unavailable(f"no signing secret ({portal.pre_signup_hook_secret_env or 'none generated'})")
    headers = webhooks.signature_headers(secret, f"msg_{uuid.uuid4().hex}", body)
    answer = webhooks.post(portal.pre_signup_hook_url, body, headers, timeout=settings.PRE_SIGNUP_HOOK_TIMEOUT_SECONDS)
    if not answer.delivered:
        return unavailable(answer.error or f"HTTP {answer.status}")
    return verdict_of(answer.body)


def verdict_of(content: bytes) -> Verdict:
    """The hook's answer read strictly: anything but the documented shapes is no answer."""
    if len(content) > MAX_ANSWER_BYTES:
        return unavailable("the answer is too large")
    try:
        answer = json.loads(content.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return unavailable("the answer is not JSON")
    if not isinstance(answer, dict) or not isinstance(answer.get("allow"), bool):
        return unavailable('the answer has no boolean "allow"')
    if answer["allow"]:
        return Verdict(Decision.ALLOWED)
    errors, text = answer.get("errors", {}), answer.get("message", "")
    if errors is None:
        errors = {}
    if not isinstance(errors, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in errors.items()):
        return unavailable('"errors" is not an object of strings')
    if text is None:
        text = ""
    if not isinstance(text, str):
        return unavailable('"message" is not a string')
    shown: dict[str, str] = {}
    for name, value in list(errors.items())[:MAX_ERRORS]:
        key = name.strip()[:MAX_NAME]
        if key and key not in shown:
            shown[key] = shown_text(value, MAX_ERROR_TEXT)
    return Verdict(Decision.DENIED, errors=shown, message=shown_text(text, MAX_MESSAGE))


_SPACES = re.compile(r"\s+")


def shown_text(value: str, limit: int) -> str:
    """Text fit to show a visitor: no control, format (bidirectional overrides, zero-width) or unassigned
    characters, whitespace runs as one space, at most `limit` characters. Escaping is the template's."""
    kept = "".join(
        " " if c.isspace() else c for c in value[: limit * 4] if c.isspace() or not _hidden(unicodedata.category(c))
    )
    text = _SPACES.sub(" ", kept).strip()
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _hidden(category: str) -> bool:
    return category in ("Cc", "Cf", "Cs", "Co", "Cn")
