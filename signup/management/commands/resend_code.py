"""python manage.py resend_code SLUG ...: ResendConfirmationCode, like `aws cognito-idp resend-confirmation-code`."""

from __future__ import annotations

from typing import Any

from signup import flows
from signup.cli import OperationCommand, delivery_details, step_failure
from signup.models import Portal


class Command(OperationCommand):
    help = (
        "Send a sign-up's confirmation code again, like `aws cognito-idp resend-confirmation-code` "
        "(Cognito ResendConfirmationCode); at most five an hour per username, as on the page."
    )
    operation = "ResendConfirmationCode"
    sent = {"ClientId", "SecretHash", "Username", "ClientMetadata", "AnalyticsMetadata", "UserContextData"}

    def run(self, portal: Portal, params: dict[str, Any]) -> None:
        step = self.step(portal, params, resend=True)
        request = flows.StepRequest(username=step.username, visitor=step.visitor, attempt=step.attempt)
        outcome = flows.signup_resend(portal=portal, request=request)
        if outcome.error_code or not outcome.ok:
            raise step_failure(self.operation, outcome, step.attempt)
        delivery = outcome.code_delivery.as_json() if outcome.code_delivery else {}
        self.response({"CodeDeliveryDetails": delivery_details(delivery)} if delivery else {})
