"""python manage.py signup SLUG ...: SignUp through a portal, like `aws cognito-idp sign-up`.

The values go through the portal's own form first, so the command refuses what the page refuses, and
the attempt is recorded (channel `cli`) as the page records it. See signup/cli.py for the conventions.
"""

from __future__ import annotations

from typing import Any

from signup import flows
from signup.cli import (
    PORTAL_REFUSED,
    CliFailure,
    OperationCommand,
    delivery_details,
    failure_for,
    ip_address_warning,
    secret_hash_warning,
    usage_error,
    visitor_from,
)
from signup.flows import Problem, Result
from signup.flows.validation import NON_FIELD
from signup.messages import message
from signup.models import Portal, SignupAttempt
from signup.schema import FormSpec, writable_attributes


class Command(OperationCommand):
    help = "Sign a user up through a portal's app client, like `aws cognito-idp sign-up` (Cognito SignUp)."
    operation = "SignUp"
    sent = {
        "ClientId",
        "SecretHash",
        "Username",
        "Password",
        "UserAttributes",
        "ValidationData",
        "AnalyticsMetadata",
        "UserContextData",
        "ClientMetadata",
    }

    def check_portal(self, portal: Portal) -> None:
        reason = portal.unavailable_reason
        if reason:
            raise CliFailure(f"Portal '{portal.slug}' takes no sign-ups: {reason}.", returncode=PORTAL_REFUSED)

    def run(self, portal: Portal, params: dict[str, Any]) -> None:
        spec = flows.portal_form_spec(portal)
        request = signup_request(portal, spec, params, visitor_from(portal, params, self.command_name))
        outcome = flows.signup_submit(portal=portal, request=request)
        attempt = outcome.attempt
        if outcome.result is Result.INVALID and attempt is not None and attempt.status == SignupAttempt.Status.INVALID:
            raise usage_error(
                "Parameter validation failed:\n"
                + "\n".join(error_lines(spec, outcome.field_errors))
                + f"\nNothing was sent to Cognito; attempt {attempt.reference} is recorded as invalid."
            )
        if attempt is not None and attempt.status == SignupAttempt.Status.BLOCKED:
            # The portal's rules on who may sign up, or its pre sign-up hook (its "no", or no answer).
            said = outcome.explanation or (message(outcome.general_error) if outcome.general_error else "")
            raise CliFailure(
                "The portal refuses this sign-up:\n"
                + "\n".join(([said] if said else []) + error_lines(spec, outcome.field_errors))
                + f"\nNothing was sent to Cognito; attempt {attempt.reference} is recorded as blocked "
                f"({attempt.error_code}).",
                returncode=PORTAL_REFUSED,
            )
        # Said about what was sent: the username as the form normalised it.
        self.warn(secret_hash_warning(portal, outcome.username or request.username, params.get("SecretHash", "")))
        self.warn(ip_address_warning(portal, request.visitor))
        if attempt is None or attempt.status != SignupAttempt.Status.SUCCEEDED:
            code = attempt.error_code if attempt else outcome.error_code
            text = attempt.error_message if attempt else outcome.error_message
            raise failure_for(self.operation, code, text, attempt)
        response: dict[str, Any] = {"UserConfirmed": bool(attempt.user_confirmed), "UserSub": attempt.user_sub}
        if delivery := delivery_details(attempt.code_delivery):
            response["CodeDeliveryDetails"] = delivery
        self.response(response)


def signup_request(
    portal: Portal, spec: FormSpec, params: dict[str, Any], visitor: flows.Visitor
) -> flows.SignupRequest:
    """The parameters as a sign-up request; each name the form has no field for, or given twice, is an
    input error (refused with the form's own, before Cognito)."""
    attributes: dict[str, str] = {}
    validation_data: dict[str, str] = {}
    refusals: list[Problem] = []
    for item in params.get("UserAttributes", []):
        name, value = item["Name"], item.get("Value", "")
        field = spec.for_attribute(name)
        if field is None:
            refusals.append(Problem("not_on_form", f"UserAttributes {name}: {attribute_refusal(portal, name)}"))
        elif name in attributes:
            refusals.append(Problem("given_twice", f"UserAttributes {name}: given twice"))
        elif field.type == "boolean" and value.lower() not in ("true", "false"):
            refusals.append(Problem("invalid_boolean", f"UserAttributes {name}: use true or false"))
        else:
            attributes[name] = value
    declared = {f.data_name for f in spec.fields if f.kind == "validation_data"}
    for item in params.get("ValidationData", []):
        name, value = item["Name"], item.get("Value", "")
        if name not in declared:
            refusals.append(Problem("not_on_form", f"ValidationData {name}: not declared on this portal"))
        elif name in validation_data:
            refusals.append(Problem("given_twice", f"ValidationData {name}: given twice"))
        else:
            validation_data[name] = value
    return flows.SignupRequest(
        username=params.get("Username", ""),
        password=params.get("Password", ""),
        attributes=attributes,
        validation_data=validation_data,
        visitor=visitor,
        input_errors=tuple(refusals),
    )


def attribute_refusal(portal: Portal, name: str) -> str:
    snapshot = portal.snapshot
    if name not in {a["name"] for a in snapshot.get("attributes", [])}:
        return "not an attribute of this user pool"
    if name not in writable_attributes(snapshot):
        return "this app client may not write it"
    return "not on this portal's form (Cognito sets it, it comes from the username, or the portal hides it)"


def error_lines(spec: FormSpec, errors: dict[str, list[Problem]]) -> list[str]:
    """The form's own messages, each under the name the command line used."""
    labels: dict[str, str] = {"username": "Username", "password": "Password", "consent": "Consent"}
    for field in spec.fields:
        if field.kind == "attribute":
            labels[field.name] = f"UserAttributes {field.attribute}"
        elif field.kind == "validation_data":
            labels[field.name] = f"ValidationData {field.data_name}"
    lines = []
    for name, found in errors.items():
        label = "" if name == NON_FIELD else labels.get(name, "")
        lines += [f"{label}: {problem.message}" if label else problem.message for problem in found]
    return lines
