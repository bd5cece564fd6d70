"""python manage.py confirm_signup SLUG ...: ConfirmSignUp, like `aws cognito-idp confirm-sign-up`."""

from __future__ import annotations

from typing import Any

from signup import flows
from signup.cli import OperationCommand, step_failure
from signup.models import Portal


class Command(OperationCommand):
    help = "Confirm a sign-up with its code, like `aws cognito-idp confirm-sign-up` (Cognito ConfirmSignUp)."
    operation = "ConfirmSignUp"
    # Session (from a SignUp that starts a sign-in) is refused: the portal signs nobody in.
    sent = {
        "ClientId",
        "SecretHash",
        "Username",
        "ConfirmationCode",
        "ForceAliasCreation",
        "ClientMetadata",
        "AnalyticsMetadata",
        "UserContextData",
    }

    def run(self, portal: Portal, params: dict[str, Any]) -> None:
        step = self.step(portal, params, resend=False)
        request = flows.StepRequest(
            username=step.username,
            code=step.code,
            visitor=step.visitor,
            attempt=step.attempt,
            force_alias_creation=params.get("ForceAliasCreation", False),
        )
        outcome = flows.signup_confirm(portal=portal, request=request)
        if outcome.error_code or not outcome.ok:
            raise step_failure(self.operation, outcome, step.attempt)
        self.response({})
