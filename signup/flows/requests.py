"""What the use cases take: plain values, the same from a page, a frame, the command line or an API."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..models import SignupAttempt


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the input: a message code (signup/messages.py) and its text, in the active
    language, with any limits filled in."""

    code: str
    message: str


@dataclass(frozen=True)
class Visitor:
    """Who is asking and from where: what Cognito hears about the visitor, and what the attempt records."""

    channel: str = SignupAttempt.Channel.WEB
    client_ip: str | None = None
    user_agent: str = ""
    client_metadata: dict[str, str] = field(default_factory=dict)  # for the pool's triggers
    analytics_endpoint_id: str = ""
    encoded_data: str = ""  # threat protection's device data (UserContextData.EncodedData)
    page: str = ""  # where the form was: our page URL, or the embedding site's origin
    language: str = ""
    embed_origin: str = ""


@dataclass(frozen=True)
class BotSignals:
    """What the browser channels send for the guards: the rendered form's signed token (its identity and
    when it was shown) and the honeypot field's value. Channels without a rendered form send none."""

    form_token: str = ""
    honeypot: str = ""


@dataclass(frozen=True)
class SignupRequest:
    """A sign-up as typed: values are raw strings, checked by the flow against the portal's form."""

    username: str = ""
    password: str = field(default="", repr=False)
    attributes: dict[str, str] = field(default_factory=dict)  # by Cognito name: "email", "custom:company"
    validation_data: dict[str, str] = field(default_factory=dict)  # by the operator's field name
    consent: bool = False
    visitor: Visitor = field(default_factory=Visitor)
    bot_signals: BotSignals | None = None  # None: a channel the bot guards do not apply to (the CLI)
    # What the visitor's browser (or app) gave for the portal's challenge: an ALTCHA solution or a
    # Turnstile/hCaptcha token. Every channel but the command line must pass the challenge.
    challenge_response: str = field(default="", repr=False)
    idempotency_key: str | None = None  # one key, one SignUp: a repeat answers the first one's outcome
    # What the channel found wrong while reading its input (a name the form does not have, a value given
    # twice): refused with the form's own errors, and Cognito is not called.
    input_errors: tuple[Problem, ...] = ()


@dataclass(frozen=True)
class StepRequest:
    """A confirmation (with its code) or a request for a new code (without), for one username."""

    username: str
    code: str = field(default="", repr=False)
    visitor: Visitor = field(default_factory=Visitor)
    force_alias_creation: bool = False
    # The attempt the visitor's signed link names, when it has one: else the username's latest.
    attempt: SignupAttempt | None = None
