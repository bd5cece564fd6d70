"""python manage.py signup SLUG ...: SignUp through a portal, like `aws cognito-idp sign-up`.

The values go through the portal's own form first, so the command refuses what the page refuses, and
the attempt is recorded (channel `cli`) as the page records it. See signup/cli.py for the conventions.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError

from signup import services
from signup.cli import (
    PORTAL_REFUSED,
    CliFailure,
    OperationCommand,
    delivery_details,
    failure_for,
    ip_address_warning,
    request_context,
    secret_hash_warning,
    usage_error,
)
from signup.forms import SignupForm, signup_form_class
from signup.models import Portal, SignupAttempt
from signup.schema import FormSpec, input_name, writable_attributes


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
        reason = services.portal_unavailable_reason(portal)
        if reason:
            raise CliFailure(f"Portal '{portal.slug}' takes no sign-ups: {reason}.", returncode=PORTAL_REFUSED)

    def run(self, portal: Portal, params: dict[str, Any]) -> None:
        spec = services.portal_form_spec(portal)
        data, refusals = form_data(portal, spec, params)
        context = request_context(portal, params, self.command_name)
        form = signup_form_class(spec)(data=data)
        form.is_valid()
        for code, text in refusals:
            form.add_error(None, ValidationError(text, code=code))
        if form.errors:
            attempt = services.attempt_record_invalid(portal=portal, form=form, context=context)
            lines = error_lines(portal, spec, form)
            raise usage_error(
                "Parameter validation failed:\n"
                + "\n".join(lines)
                + f"\nNothing was sent to Cognito; attempt {attempt.reference} is recorded as invalid."
            )
        self.warn(secret_hash_warning(portal, form.cleaned_data["username"], params.get("SecretHash", "")))
        self.warn(ip_address_warning(portal, context))
        attempt = services.signup_submit(portal=portal, form=form, context=context).attempt
        if attempt.status != SignupAttempt.Status.SUCCEEDED:
            raise failure_for(self.operation, attempt.error_code, attempt.error_message, attempt)
        response: dict[str, Any] = {"UserConfirmed": bool(attempt.user_confirmed), "UserSub": attempt.user_sub}
        if delivery := delivery_details(attempt.code_delivery):
            response["CodeDeliveryDetails"] = delivery
        self.response(response)


def form_data(portal: Portal, spec: FormSpec, params: dict[str, Any]) -> tuple[dict[str, str], list[tuple[str, str]]]:
    """The form's input names and values, and (code, text) for each name the form has no field for."""
    data = {"username": params.get("Username", ""), "password": params.get("Password", "")}
    refusals: list[tuple[str, str]] = []
    for item in params.get("UserAttributes", []):
        name, value = item["Name"], item.get("Value", "")
        field = spec.for_attribute(name)
        if field is None:
            refusals.append(("not_on_form", f"UserAttributes {name}: {attribute_refusal(portal, name)}"))
        elif field.name in data:
            refusals.append(("given_twice", f"UserAttributes {name}: given twice"))
        elif field.type == "boolean" and value.lower() not in ("true", "false"):
            refusals.append(("invalid_boolean", f"UserAttributes {name}: use true or false"))
        else:
            data[field.name] = value
    declared = {f.name for f in spec.fields if f.kind == "validation_data"}
    for item in params.get("ValidationData", []):
        name, value = item["Name"], item.get("Value", "")
        field_name = f"vd_{input_name(name)}"
        if field_name not in declared:
            refusals.append(("not_on_form", f"ValidationData {name}: not declared on this portal"))
        elif field_name in data:
            refusals.append(("given_twice", f"ValidationData {name}: given twice"))
        else:
            data[field_name] = value
    return data, refusals


def attribute_refusal(portal: Portal, name: str) -> str:
    snapshot = portal.snapshot
    if name not in {a["name"] for a in snapshot.get("attributes", [])}:
        return "not an attribute of this user pool"
    if name not in writable_attributes(snapshot):
        return "this app client may not write it"
    return "not on this portal's form (Cognito sets it, it comes from the username, or the portal hides it)"


def error_lines(portal: Portal, spec: FormSpec, form: SignupForm) -> list[str]:
    """The form's own messages, each under the name the command line used."""
    validation_names = {f"vd_{input_name(v.name)}": v.name for v in portal.validation_fields.all()}
    labels: dict[str, str] = {"username": "Username", "password": "Password", "consent": "Consent"}
    for field in spec.fields:
        if field.kind == "attribute":
            labels[field.name] = f"UserAttributes {field.attribute}"
        elif field.kind == "validation_data":
            labels[field.name] = f"ValidationData {validation_names.get(field.name, field.name)}"
    lines = []
    for name, errors in form.errors.items():
        label = labels.get(name, "")
        lines += [f"{label}: {error}" if label else str(error) for error in errors]
    return lines
