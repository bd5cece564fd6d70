"""python manage.py confirm_signup SLUG ...: ConfirmSignUp, like `aws cognito-idp confirm-sign-up`."""

from __future__ import annotations

from typing import Any

from signup import services
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
        outcome = services.signup_confirm(
            portal=portal,
            username=step.username,
            code=step.code,
            context=step.context,
            attempt=step.attempt,
            force_alias_creation=params.get("ForceAliasCreation", False),
        )
        if outcome.error_code or not outcome.ok:
            raise step_failure(self.operation, outcome, step.attempt)
        self.response({})
