"""Every user-facing message, keyed by a stable code, and how each Cognito error maps onto them.

Users never see Cognito's own text: it is written for developers, and in English only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from django.utils.translation import gettext_lazy as _

MESSAGES = {
    # Form validation
    "required": _("This field is required."),
    "username_space": _("A username cannot contain spaces or invisible characters."),
    "username_looks_like_email": _("Choose a username that is not an email address; you can add your email below."),
    "username_looks_like_phone": _("Choose a username that is not a phone number; you can add your phone below."),
    "username_not_email_or_phone": _("Enter an email address or a phone number starting with +."),
    "invalid_email": _("Enter a valid email address."),
    "invalid_phone": _("Enter a phone number in international format, e.g. +14155552671."),
    "invalid_date": _("Enter a date as YYYY-MM-DD."),
    "date_in_future": _("This date cannot be in the future."),
    "invalid_url": _("Enter a full web address starting with https://."),
    "invalid_number": _("Enter a whole number."),
    "invalid_locale": _("Enter a language tag such as en-US."),
    "invalid_choice": _("Choose one of the offered values."),
    "value_too_long_bytes": _("This value is too long."),
    "too_short": _("Use at least %(limit_value)s characters."),
    "too_long": _("Use at most %(limit_value)s characters."),
    "too_small": _("Enter %(limit_value)s or more."),
    "too_large": _("Enter %(limit_value)s or less."),
    "control_characters": _("Remove the invisible control characters from this value."),
    "consent_required": _("Please accept the terms and the privacy notice to continue."),
    "password_edge_space": _("The password cannot start or end with a space."),
    "password_too_long": _("Use at most 256 characters."),
    "password_too_short": _("The password is too short."),
    "password_no_upper": _("Add an uppercase letter (A–Z)."),
    "password_no_lower": _("Add a lowercase letter (a–z)."),
    "password_no_number": _("Add a digit (0–9)."),
    "password_no_symbol": _("Add a symbol, such as ! @ # $ % ^ & *."),
    "password_rejected": _("This password does not meet the requirements."),
    # Cognito's answers
    "username_taken": _("This username is already registered. If it is yours, confirm it or sign in."),
    "email_taken": _("An account with this email address already exists."),
    "phone_taken": _("An account with this phone number already exists."),
    "attribute_rejected": _("This value was not accepted."),
    "signup_refused": _("Sign-up was refused by this service's rules."),
    "not_available": _("Sign-up is not available right now. Please try again later."),
    "try_again": _("We could not complete your sign-up. Please try again in a moment."),
    "outcome_unknown": _(
        "We could not tell whether your sign-up went through. Check your email or phone for a code, "
        "or try again in a few minutes."
    ),
    "code_limit": _(
        "Your account may have been created, but no code could be sent right now. Request a new code in a while."
    ),
    # Confirmation
    "code_mismatch": _("That code is not right. Check it and try again."),
    "code_expired": _("That code has expired. Request a new one."),
    "code_format": _("Enter the code exactly as you received it."),
    "too_many_attempts": _("Too many attempts. Please wait a while before trying again."),
    "already_confirmed": _("This account is already confirmed. You can sign in."),
    "user_not_found": _("We could not find a sign-up for this username."),
    "alias_exists": _("This email address or phone number already belongs to another account."),
    "resend_not_possible": _("This account cannot receive confirmation codes."),
    "code_resent": _("We sent you a new code."),
    "form_expired": _("This form has expired. Check the details and send it again."),
    "blocked_honeypot": _("We could not accept this form. Please try again."),
    "blocked_too_fast": _("That was quicker than we expected. Check the details and send the form again."),
    "rate_limited": _(
        "There were too many sign-ups from your connection in a short time. Please wait a few minutes and "
        "send the form again; what you typed is kept."
    ),
    "resend_limit": _(
        "You have asked for several codes in a short time. For your security you can ask for up to five "
        "codes an hour; please try again later."
    ),
    "resend_limit_until": _(
        "You can ask for up to five codes an hour, and you have used them. You can ask again after %(time)s."
    ),
    # The portal's challenge (ALTCHA, Turnstile or hCaptcha) and its rules on who may sign up
    "challenge_missing": _("Complete the check that you are not a robot, then send the form again."),
    "challenge_invalid": _("The check that you are not a robot did not pass. Please do it again."),
    "challenge_expired": _("The check that you are not a robot has expired. Please do it again."),
    "challenge_replayed": _("This check was already used. Please do it again."),
    "challenge_unavailable": _(
        "We could not run the check that you are not a robot just now. Please try again in a moment; what "
        "you typed is kept."
    ),
    "challenge_needs_javascript": _(
        "This form checks that you are not a robot with a small computation in your browser, which needs "
        "JavaScript. Turn JavaScript on to sign up."
    ),
    "email_domain_refused": _("Addresses at this domain cannot sign up here. Use another email address."),
    "disposable_email_refused": _("Disposable email addresses cannot sign up here. Use a permanent address."),
    "phone_region_refused": _("Phone numbers from this country or region cannot sign up here."),
    # The portal's pre sign-up hook: the operator's own texts go on the fields; these are ours
    "pre_signup_refused": _("We cannot accept this sign-up as it is. Check the details and try again."),
    "pre_signup_unavailable": _(
        "We could not check your sign-up just now. Please try again in a moment; what you typed is kept."
    ),
    "embed_token_used": _("This form was already sent or has expired. Check the details and send it again."),
    "embed_forbidden": _("This request did not come from the sign-up form, so it was refused."),
    "confirm_link_invalid": _("This link has expired. Enter your username to continue."),
    # The API's own refusals, before any rule of the form is checked
    "invalid": _("Check the values marked."),
    "not_on_form": _("This portal's form has no such field."),
    "consent_version_changed": _("The terms have changed since they were shown. Show the current ones and ask again."),
    "api_invalid": _("The request's values have the wrong shape. Check the values marked."),
    "api_wrong_type": _("This value has the wrong type."),
    "api_bad_json": _("The body is not a JSON object."),
    "api_json_only": _("Send the body as application/json."),
    "api_body_too_large": _("The body is too large."),
    "api_no_portal": _("There is no such portal."),
    "api_no_route": _("There is no such API address."),
    "api_no_challenge": _("This portal asks for no proof of work: see the form's challenge."),
    "api_bad_key": _("Use printable characters in the Idempotency-Key."),
    "api_key_reused": _("This Idempotency-Key was used with another body. Use a new key for a new request."),
    "api_key_in_progress": _("A request with this Idempotency-Key is still running. Try again in a moment."),
}


def message(code: str) -> str:
    """The message in the active language, now."""
    return str(MESSAGES[code])


def lazy_message(code: str) -> Any:
    """The message, translated when shown: for form fields that are built once and used in every language."""
    return MESSAGES[code]


@dataclass(frozen=True)
class ErrorMapping:
    """What one Cognito error means to us: the attempt's status, the field it concerns, the message code."""

    status: str
    message_code: str
    field: str | None = None


# Statuses: "rejected" = Cognito refused what was sent; "failed" = Cognito or the network failed;
# "unknown" = we cannot tell whether the user exists now.
SIGNUP_ERRORS: dict[str, ErrorMapping] = {
    "InvalidParameterException": ErrorMapping("rejected", "attribute_rejected"),
    "InvalidPasswordException": ErrorMapping("rejected", "password_rejected", "password"),
    "UsernameExistsException": ErrorMapping("rejected", "username_taken", "username"),
    "NotAuthorizedException": ErrorMapping("rejected", "signup_refused"),
    "UserLambdaValidationException": ErrorMapping("rejected", "signup_refused"),
    "ForbiddenException": ErrorMapping("rejected", "signup_refused"),
    "OperationNotEnabledException": ErrorMapping("rejected", "not_available"),
    "ResourceNotFoundException": ErrorMapping("failed", "not_available"),
    "UnexpectedLambdaException": ErrorMapping("failed", "try_again"),
    "InvalidLambdaResponseException": ErrorMapping("failed", "try_again"),
    "CodeDeliveryFailureException": ErrorMapping("failed", "try_again"),
    "InvalidSmsRoleAccessPolicyException": ErrorMapping("failed", "not_available"),
    "InvalidSmsRoleTrustRelationshipException": ErrorMapping("failed", "not_available"),
    "InvalidEmailRoleAccessPolicyException": ErrorMapping("failed", "not_available"),
    "TooManyRequestsException": ErrorMapping("failed", "try_again"),
    # A 500 may come after the user was created (docs/cognito.md §7.1): whether it exists is for
    # reconciliation to find out.
    "InternalErrorException": ErrorMapping("unknown", "outcome_unknown"),
    # The user may already exist, UNCONFIRMED, when a sending quota was hit (docs/cognito.md §7.1): not a plain failure.
    "LimitExceededException": ErrorMapping("unknown", "code_limit"),
}
UNMAPPED_ERROR = ErrorMapping("failed", "try_again")

CONFIRM_ERRORS: dict[str, ErrorMapping] = {
    "CodeMismatchException": ErrorMapping("rejected", "code_mismatch", "code"),
    "ExpiredCodeException": ErrorMapping("rejected", "code_expired", "code"),
    "TooManyFailedAttemptsException": ErrorMapping("rejected", "too_many_attempts", "code"),
    "LimitExceededException": ErrorMapping("rejected", "too_many_attempts"),
    "AliasExistsException": ErrorMapping("rejected", "alias_exists"),
    "UserNotFoundException": ErrorMapping("rejected", "user_not_found", "username"),
    "InvalidParameterException": ErrorMapping("rejected", "code_format", "code"),
    "NotAuthorizedException": ErrorMapping("rejected", "signup_refused"),
    "UserLambdaValidationException": ErrorMapping("rejected", "signup_refused"),
    "ForbiddenException": ErrorMapping("rejected", "signup_refused"),
    "ResourceNotFoundException": ErrorMapping("failed", "not_available"),
    "UnexpectedLambdaException": ErrorMapping("failed", "try_again"),
    "InvalidLambdaResponseException": ErrorMapping("failed", "try_again"),
    "TooManyRequestsException": ErrorMapping("failed", "try_again"),
    "InternalErrorException": ErrorMapping("failed", "try_again"),
}

RESEND_ERRORS: dict[str, ErrorMapping] = {
    "LimitExceededException": ErrorMapping("rejected", "resend_limit"),
    "UserNotFoundException": ErrorMapping("rejected", "user_not_found", "username"),
    "InvalidParameterException": ErrorMapping("rejected", "resend_not_possible"),
    "CodeDeliveryFailureException": ErrorMapping("failed", "try_again"),
    "NotAuthorizedException": ErrorMapping("rejected", "signup_refused"),
    "UserLambdaValidationException": ErrorMapping("rejected", "signup_refused"),
    "ForbiddenException": ErrorMapping("rejected", "signup_refused"),
    "ResourceNotFoundException": ErrorMapping("failed", "not_available"),
    "UnexpectedLambdaException": ErrorMapping("failed", "try_again"),
    "InvalidLambdaResponseException": ErrorMapping("failed", "try_again"),
    "InvalidSmsRoleAccessPolicyException": ErrorMapping("failed", "not_available"),
    "InvalidSmsRoleTrustRelationshipException": ErrorMapping("failed", "not_available"),
    "InvalidEmailRoleAccessPolicyException": ErrorMapping("failed", "not_available"),
    "TooManyRequestsException": ErrorMapping("failed", "try_again"),
    "InternalErrorException": ErrorMapping("failed", "try_again"),
}

_SCHEMA_ERROR = re.compile(r"Attributes did not conform to the schema: ([^:\s]+(?::[^:\s]+)?):")
_VALUE_AT = re.compile(r"Value at '(\w+)'")


def signup_error(code: str, cognito_message: str, username_attributes: tuple[str, ...] = ()) -> ErrorMapping:
    """Map a SignUp error to our status, field and message, reading Cognito's text only to find the field."""
    mapping = SIGNUP_ERRORS.get(code, UNMAPPED_ERROR)
    text = cognito_message or ""
    if code == "UsernameExistsException":
        if "email" in text:
            return ErrorMapping(mapping.status, "email_taken", "username")
        if "phone" in text:
            return ErrorMapping(mapping.status, "phone_taken", "username")
        return mapping
    if code == "InvalidPasswordException" or (code == "InvalidParameterException" and "'password'" in text):
        return ErrorMapping("rejected", "password_rejected", "password")
    if code != "InvalidParameterException":
        return mapping
    if "Username cannot be of email format" in text:
        return ErrorMapping("rejected", "username_looks_like_email", "username")
    if "Username cannot be of phone number format" in text:
        return ErrorMapping("rejected", "username_looks_like_phone", "username")
    if "Username should be" in text or "'username'" in text:
        return ErrorMapping(
            "rejected", "username_not_email_or_phone" if username_attributes else "username_space", "username"
        )
    if "Invalid email address format" in text:
        return ErrorMapping("rejected", "invalid_email", "username" if "email" in username_attributes else "email")
    if "Invalid phone number format" in text:
        target = "username" if "phone_number" in username_attributes else "phone_number"
        return ErrorMapping("rejected", "invalid_phone", target)
    schema = _SCHEMA_ERROR.search(text)
    if schema:
        return ErrorMapping("rejected", "attribute_rejected", schema.group(1))
    value_at = _VALUE_AT.search(text)
    if value_at and value_at.group(1) in ("username", "password"):
        return ErrorMapping("rejected", "attribute_rejected", value_at.group(1))
    return mapping
