"""What every use case returns: one Outcome type, whatever the step and whatever the channel."""

from __future__ import annotations

import enum
import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import ParamSpec

from .. import logs, metrics
from ..cognito import CodeDelivery
from ..messages import message
from ..models import SignupAttempt
from .requests import Problem


class Result(enum.StrEnum):
    """How a step ended, in terms every channel can render (an HTTP status, a page, an exit code)."""

    OK = "ok"  # done: the user was created, confirmed, or sent a code
    INVALID = "invalid"  # the input broke a rule (ours, or Cognito's for a value): nothing created
    BLOCKED = "blocked"  # a guard stopped it before Cognito (form token, honeypot, fill time)
    LIMITED = "limited"  # too many requests: try again later (retry_at says when, where known)
    REJECTED = "rejected"  # Cognito refused it (a taken username, a wrong code, the pool's rules)
    FAILED = "failed"  # Cognito or the way to it failed: nothing was done, try again
    UNKNOWN = "unknown"  # the answer was lost: it may have happened; settled later
    UNAVAILABLE = "unavailable"  # the portal takes no sign-ups now


class NextStep(enum.StrEnum):
    STAY = ""  # show the same step again, with its errors
    CONFIRM = "confirm"  # a code was sent, or may have been: ask for it
    DONE = "done"  # nothing left to do


@dataclass
class Outcome:
    result: Result
    attempt: SignupAttempt | None = None
    next_step: NextStep = NextStep.STAY
    # Input name (the form's; NON_FIELD_ERRORS for the whole form) -> what is wrong with it.
    field_errors: dict[str, list[Problem]] = field(default_factory=dict)
    general_error: str = ""  # a message code, for errors that belong to no field
    explanation: str = ""  # a message with details (when to try again) that replaces general_error's
    retry_at: datetime | None = None
    code_delivery: CodeDelivery | None = None
    already_confirmed: bool = False
    # Cognito's own error code and text (ours when no answer came), for operators and the command line.
    error_code: str = ""
    error_message: str = ""
    username: str = ""  # the username as sent to Cognito (normalised by the form), when one was sent

    @property
    def ok(self) -> bool:
        return self.result is Result.OK

    def add_error(self, field_name: str | None, code: str) -> None:
        """An error on a field when it names one the form has, else a general one."""
        if field_name:
            self.field_errors.setdefault(field_name, []).append(Problem(code, message(code)))
        else:
            self.general_error = code


P = ParamSpec("P")


def polite(step: str) -> Callable[[Callable[P, Outcome]], Callable[P, Outcome]]:
    """A use case's last line of defence: an unexpected error (ours or the SDK's) is logged with its
    traceback and becomes the same polite outcome in every flow and channel, never a 500."""

    def decorate(use_case: Callable[P, Outcome]) -> Callable[P, Outcome]:
        @functools.wraps(use_case)
        def run(*args: P.args, **kwargs: P.kwargs) -> Outcome:
            try:
                outcome = use_case(*args, **kwargs)
            except Exception as error:
                logs.event(f"{step}.error", level=logging.ERROR, exc_info=True)
                # Only the error's type: an SDK's message may quote the values it was given.
                outcome = Outcome(Result.FAILED, general_error="try_again", error_code=type(error).__name__)
            metrics.record_step(step, kwargs.get("portal"), kwargs.get("request"), outcome.result)
            return outcome

        return run

    return decorate
