"""The use cases. Plain values in (flows.requests), one Outcome out (flows.outcome); every channel
(page, frame, command line, API) calls these and renders the outcome its own way."""

from ..caching import form_spec as portal_form_spec
from .challenge import signup_challenge
from .confirmation import signup_confirm, signup_resend
from .outcome import NextStep, Outcome, Result
from .portals import portal_sync
from .requests import BotSignals, Problem, SignupRequest, StepRequest, Visitor
from .signup import signup_submit

__all__ = [
    "BotSignals",
    "NextStep",
    "Outcome",
    "Problem",
    "Result",
    "SignupRequest",
    "StepRequest",
    "Visitor",
    "portal_form_spec",
    "portal_sync",
    "signup_challenge",
    "signup_confirm",
    "signup_resend",
    "signup_submit",
]
