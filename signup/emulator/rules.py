"""What real Cognito checks on SignUp, ConfirmSignUp and ResendConfirmationCode.

Pure functions over plain values: each raises CognitoError carrying Cognito's exception name and
message. "docs/cognito.md §N" points to the project's notes on Cognito sign-up, which say where
each text and rule comes from.
Where Cognito's order of checks is unknown, the order here is a choice, not a fact.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .state import CODE_LIFETIME_SECONDS, PendingCode

ALIAS_EXISTS = "AliasExistsException"
CODE_MISMATCH = "CodeMismatchException"
EXPIRED_CODE = "ExpiredCodeException"
INVALID_PARAMETER = "InvalidParameterException"
INVALID_PASSWORD = "InvalidPasswordException"
LIMIT_EXCEEDED = "LimitExceededException"
NOT_AUTHORIZED = "NotAuthorizedException"
RESOURCE_NOT_FOUND = "ResourceNotFoundException"
SERIALIZATION = "SerializationException"
USERNAME_EXISTS = "UsernameExistsException"
USER_NOT_FOUND = "UserNotFoundException"

USER_NOT_FOUND_MESSAGE = "Username/client id combination not found."
ATTEMPT_LIMIT_MESSAGE = "Attempt limit exceeded, please try after some time."
SCHEMA_PREFIX = "Attributes did not conform to the schema: "

# Per-user quotas (docs/cognito.md §8.2, https://docs.aws.amazon.com/cognito/latest/developerguide/quotas.html).
CONFIRM_ATTEMPTS_PER_HOUR = 15
RESEND_ATTEMPTS_PER_HOUR = 5

# The symbols the password policy accepts; a space counts when it is not leading or trailing
# (docs/cognito.md §3.4).
PASSWORD_SYMBOLS = frozenset("^$*.[]{}()?\"!@#%&/\\,><':;|_~`=+- ")

# Java's \s, which the service model's patterns use: ASCII whitespace only.
_JAVA_WHITESPACE = frozenset(" \t\n\x0b\f\r")
_WORD = re.compile(r"[A-Za-z0-9_+]+")  # Java's [\w+]: ASCII only
_BASE64ISH = re.compile(r"[A-Za-z0-9_+=/]+")
_EMAIL = re.compile(r"[^\s@]+@[^\s@]+\.[^\s@]+")
_E164 = re.compile(r"\+[1-9]\d{1,14}")
_INTEGER = re.compile(r"-?\d+")

# Built-in attributes a client without WriteAttributes cannot write (docs/cognito.md §4.5).
_NOT_WRITABLE_BY_DEFAULT = frozenset({"sub", "identities", "email_verified", "phone_number_verified"})
_DELIVERY = (("phone_number", "SMS"), ("email", "EMAIL"))  # SMS wins when both apply (docs/cognito.md §5.3)


class CognitoError(Exception):
    """An error response: `error_type` is sent as `__type`, `message` as `message`."""

    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(f"{error_type}: {message}")
        self.error_type = error_type
        self.message = message


@dataclass(frozen=True)
class AttributeSpec:
    name: str
    data_type: str
    required: bool = False
    min_length: int | None = None
    max_length: int | None = None
    min_value: int | None = None
    max_value: int | None = None


@dataclass(frozen=True)
class PasswordPolicy:
    minimum_length: int = 8
    require_uppercase: bool = False
    require_lowercase: bool = False
    require_numbers: bool = False
    require_symbols: bool = False


@dataclass(frozen=True)
class PoolRules:
    id: str
    schema: Mapping[str, AttributeSpec]
    password_policy: PasswordPolicy
    username_attributes: frozenset[str] = frozenset()
    alias_attributes: frozenset[str] = frozenset()
    auto_verified_attributes: frozenset[str] = frozenset()
    case_sensitive: bool = True
    admin_create_user_only: bool = False

    def same_name(self, stored: str | None, given: str) -> bool:
        if stored is None:
            return False
        if self.case_sensitive:
            return stored == given
        return stored.lower() == given.lower()


@dataclass(frozen=True)
class ClientRules:
    id: str
    secret: str | None
    write_attributes: frozenset[str] | None


# --- Request shape (the service model's member constraints, docs/cognito.md §2.2, §2.3) ---------


def _is_visible(value: str) -> bool:
    return all(unicodedata.category(char)[0] in "LMSNP" for char in value)


def _is_attribute_name(value: str) -> bool:
    return all(unicodedata.category(char)[0] in "LMSNP" or char in "\t\n\r " for char in value)


def _is_word(value: str) -> bool:
    return _WORD.fullmatch(value) is not None


def _is_secret_hash_shape(value: str) -> bool:
    return _BASE64ISH.fullmatch(value) is not None


def _has_no_whitespace(value: str) -> bool:
    return not _JAVA_WHITESPACE.intersection(value)


def _is_password_shape(value: str) -> bool:
    # The model says [\S]+, the guide allows inner spaces (docs/cognito.md §3.4). We follow the guide:
    # inner spaces pass, leading/trailing spaces and any other whitespace are rejected.
    inner_spaces_removed = value.replace(" ", "")
    return value.strip(" ") == value and _has_no_whitespace(inner_spaces_removed)


@dataclass(frozen=True)
class Member:
    key: str
    label: str
    required: bool
    min_length: int
    max_length: int
    pattern: str
    matches: Callable[[str], bool]


_VISIBLE = r"[\p{L}\p{M}\p{S}\p{N}\p{P}]+"
CLIENT_ID = Member("ClientId", "clientId", True, 1, 128, r"[\w+]+", _is_word)
SECRET_HASH = Member("SecretHash", "secretHash", False, 1, 128, r"[\w+=/]+", _is_secret_hash_shape)
USERNAME = Member("Username", "username", True, 1, 128, _VISIBLE, _is_visible)
PASSWORD = Member("Password", "password", False, 0, 256, r"[\S]+", _is_password_shape)
CONFIRMATION_CODE = Member("ConfirmationCode", "confirmationCode", True, 1, 2048, r"[\S]+", _has_no_whitespace)
_ATTRIBUTE_NAME = Member("Name", "name", True, 1, 32, r"[\p{L}\p{M}\p{S}\p{N}\p{P}\t\n\r ]+", _is_attribute_name)
_ATTRIBUTE_VALUE = Member("Value", "value", False, 0, 2048, "", lambda value: True)


def _string_or_none(key: str, value: Any) -> str | None:
    if value is not None and not isinstance(value, str):
        raise CognitoError(SERIALIZATION, f"Expected a string for {key}")
    return value


def _member_problems(member: Member, value: Any, label: str) -> list[str]:
    # Values are left out of the texts: these members are sensitive, and Cognito omits them too.
    value = _string_or_none(member.key, value)
    if value is None:
        if member.required:
            return [f"Value null at '{label}' failed to satisfy constraint: Member must not be null"]
        return []
    problems = []
    if len(value) < member.min_length:
        problems.append(f"Member must have length greater than or equal to {member.min_length}")
    if len(value) > member.max_length:
        problems.append(f"Member must have length less than or equal to {member.max_length}")
    if value and not member.matches(value):
        problems.append(f"Member must satisfy regular expression pattern: {member.pattern}")
    return [f"Value at '{label}' failed to satisfy constraint: {problem}" for problem in problems]


def _attribute_list_problems(key: str, entries: Any) -> list[str]:
    if entries is None:
        return []
    if not isinstance(entries, list) or not all(isinstance(entry, dict) for entry in entries):
        raise CognitoError(SERIALIZATION, f"Expected a list of Name/Value structures for {key}")
    label = key[0].lower() + key[1:]
    problems = []
    for index, entry in enumerate(entries, start=1):
        for member in (_ATTRIBUTE_NAME, _ATTRIBUTE_VALUE):
            member_label = f"{label}.{index}.member.{member.label}"
            problems += _member_problems(member, entry.get(member.key), member_label)
    return problems


def check_request_shape(
    request: Mapping[str, Any], members: Sequence[Member], attribute_lists: Sequence[str] = ()
) -> None:
    problems = [p for m in members for p in _member_problems(m, request.get(m.key), m.label)]
    for key in attribute_lists:
        problems += _attribute_list_problems(key, request.get(key))
    if problems:
        count = f"{len(problems)} validation error{'s' if len(problems) > 1 else ''}"
        raise CognitoError(INVALID_PARAMETER, f"{count} detected: " + "; ".join(problems))


def attribute_values(entries: list[dict[str, str]] | None) -> dict[str, str]:
    return {entry["Name"]: entry.get("Value") or "" for entry in entries or []}


# --- Client and pool gates ----------------------------------------------------------------------


def secret_hash(username: str, client_id: str, client_secret: str) -> str:
    # UTF-8 on both sides, as AWS's samples do; moto uses Latin-1 (docs/cognito.md §2.4, §2.5).
    message = (username + client_id).encode("utf-8")
    digest = hmac.new(client_secret.encode("utf-8"), message, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def check_secret_hash(client: ClientRules, username: str, sent: str | None) -> None:
    if client.secret is None:
        if sent is not None:
            raise CognitoError(
                INVALID_PARAMETER,
                f"App client {client.id} is not configured for secret but secret hash was received",
            )
        return
    expected = secret_hash(username, client.id, client.secret)
    if sent is None or not hmac.compare_digest(sent.encode(), expected.encode()):
        raise CognitoError(NOT_AUTHORIZED, f"Unable to verify secret hash for client {client.id}")


def check_self_sign_up_allowed(pool: PoolRules) -> None:
    if pool.admin_create_user_only:
        raise CognitoError(NOT_AUTHORIZED, "SignUp is not permitted for this user pool")


# --- Usernames (docs/cognito.md §3.2) -----------------------------------------------------------


def is_email(value: str) -> bool:
    return _EMAIL.fullmatch(value) is not None


def is_phone_number(value: str) -> bool:
    return _E164.fullmatch(value) is not None


def username_attribute(pool: PoolRules, username: str) -> str | None:
    """The attribute a UsernameAttributes pool fills from the username; None in other pools."""
    if not pool.username_attributes:
        _check_not_alias_shaped(pool, username)
        return None
    if "email" in pool.username_attributes and is_email(username):
        return "email"
    if "phone_number" in pool.username_attributes and is_phone_number(username):
        return "phone_number"
    if pool.username_attributes == {"email"}:
        raise CognitoError(INVALID_PARAMETER, "Invalid email address format.")
    if pool.username_attributes == {"phone_number"}:
        raise CognitoError(INVALID_PARAMETER, "Invalid phone number format.")
    raise CognitoError(INVALID_PARAMETER, "Username should be either an email or a phone number.")


def _check_not_alias_shaped(pool: PoolRules, username: str) -> None:
    if "email" in pool.alias_attributes and is_email(username):
        raise CognitoError(
            INVALID_PARAMETER,
            "Username cannot be of email format, since user pool is configured for email alias.",
        )
    if "phone_number" in pool.alias_attributes and is_phone_number(username):
        raise CognitoError(
            INVALID_PARAMETER,
            "Username cannot be of phone number format, since user pool is configured for phone number alias.",
        )


def username_taken() -> CognitoError:
    return CognitoError(USERNAME_EXISTS, "User already exists")


def username_attribute_taken(attribute: str) -> CognitoError:
    return CognitoError(USERNAME_EXISTS, f"An account with the given {attribute} already exists.")


def alias_taken(attribute: str) -> CognitoError:
    return CognitoError(ALIAS_EXISTS, f"An account with the {attribute} already exists.")


# --- Password policy (docs/cognito.md §3.4) -----------------------------------------------------


def check_password(policy: PasswordPolicy, password: str | None) -> None:
    """Cognito names one unmet rule at a time; a missing password is simply too short."""
    password = password or ""
    rules = (
        (True, len(password) >= policy.minimum_length, "Password not long enough"),
        (policy.require_uppercase, _has_any("A-Z", password), _must_have("uppercase")),
        (policy.require_lowercase, _has_any("a-z", password), _must_have("lowercase")),
        (policy.require_numbers, _has_any("0-9", password), _must_have("numeric")),
        (policy.require_symbols, bool(PASSWORD_SYMBOLS & set(password)), _must_have("symbol")),
    )
    for applies, met, reason in rules:
        if applies and not met:
            raise CognitoError(INVALID_PASSWORD, f"Password did not conform with policy: {reason}")


def _has_any(ascii_range: str, password: str) -> bool:
    # Basic Latin only: an accented capital does not count as uppercase (docs/cognito.md §3.4).
    return re.search(f"[{ascii_range}]", password) is not None


def _must_have(kind: str) -> str:
    return f"Password must have {kind} characters"


# --- User attributes (docs/cognito.md §4) -------------------------------------------------------


def writable_attributes(pool: PoolRules, client: ClientRules) -> frozenset[str]:
    if client.write_attributes is not None:
        granted = set(client.write_attributes)
    else:
        granted = {
            name
            for name in pool.schema
            if not name.startswith(("custom:", "dev:")) and name not in _NOT_WRITABLE_BY_DEFAULT
        }
    granted |= {spec.name for spec in pool.schema.values() if spec.required}
    return frozenset(name for name in granted if name != "sub" and not name.startswith("dev:"))


def check_attributes(
    pool: PoolRules, client: ClientRules, written: Mapping[str, str], implied: Mapping[str, str]
) -> None:
    """`written` is what the caller sent; `implied` is what Cognito fills in itself."""
    unknown = [name for name in written if name not in pool.schema]
    if unknown:
        raise _schema_error([f"{name}: Attribute does not exist in the schema." for name in unknown])
    if not set(written) <= writable_attributes(pool, client):
        raise CognitoError(NOT_AUTHORIZED, "A client attempted to write unauthorized attribute")
    attributes = {**written, **implied}
    problems = [
        f"{name}: {problem}"
        for name, value in attributes.items()
        if (problem := _value_problem(pool.schema[name], value))
    ]
    problems += [
        f"{spec.name}: The attribute is required"
        for spec in pool.schema.values()
        if spec.required and spec.name != "sub" and not attributes.get(spec.name)
    ]
    if problems:
        raise _schema_error(problems)
    if "email" in attributes and not is_email(attributes["email"]):
        raise CognitoError(INVALID_PARAMETER, "Invalid email address format.")
    if "phone_number" in attributes and not is_phone_number(attributes["phone_number"]):
        raise CognitoError(INVALID_PARAMETER, "Invalid phone number format.")


def _schema_error(problems: list[str]) -> CognitoError:
    # Real responses list every problem, each followed by a newline (docs/cognito.md §6.3, and the
    # messages quoted in amplify-js/amplify-flutter issues).
    return CognitoError(INVALID_PARAMETER, SCHEMA_PREFIX + "".join(f"{p}\n" for p in problems))


def _value_problem(spec: AttributeSpec, value: str) -> str | None:
    if spec.data_type == "String":
        return _string_problem(spec, value)
    if spec.data_type == "Number":
        return _number_problem(spec, value)
    if spec.data_type == "Boolean" and value not in ("true", "false"):
        return "Boolean must be true or false"
    # DateTime values are not checked: which formats Cognito accepts is undocumented.
    return None


def _string_problem(spec: AttributeSpec, value: str) -> str | None:
    if spec.min_length is not None and len(value) < spec.min_length:
        return f"String must be no shorter than {spec.min_length} characters"
    if spec.max_length is not None and len(value) > spec.max_length:
        return f"String must be no longer than {spec.max_length} characters"
    return None


def _number_problem(spec: AttributeSpec, value: str) -> str | None:
    # Whole numbers only: the portal renders Number attributes as integer fields, and decimals
    # in Number attributes are reported as rejected by Cognito (unverified against real AWS).
    if not _INTEGER.fullmatch(value):
        return "Number must be an integer"
    number = int(value)
    if spec.min_value is not None and number < spec.min_value:
        return f"Number must be no less than {spec.min_value}"
    if spec.max_value is not None and number > spec.max_value:
        return f"Number must be no greater than {spec.max_value}"
    return None


# --- Confirmation codes (docs/cognito.md §5) ----------------------------------------------------


def delivery_attribute(pool: PoolRules, attributes: Mapping[str, str]) -> tuple[str, str] | None:
    """(attribute, medium) a code goes to, or None when Cognito sends nothing."""
    for attribute, medium in _DELIVERY:
        if attribute in pool.auto_verified_attributes and attributes.get(attribute):
            return attribute, medium
    return None


def mask_destination(attribute: str, destination: str) -> str:
    """How Cognito shows a destination: `a***@e***.com`, `+*******1212`."""
    if attribute == "phone_number":
        return "+*******" + destination[-4:]
    local, _, domain = destination.partition("@")
    host, dot, top_level = domain.rpartition(".")
    if not dot:
        host, top_level = domain, ""
    return f"{local[:1]}***@{host[:1]}***{dot}{top_level}"


def check_confirmable(status: str) -> None:
    if status != "UNCONFIRMED":
        raise CognitoError(NOT_AUTHORIZED, f"User cannot be confirmed. Current status is {status}")


def check_confirmation_code(pending: PendingCode | None, code: str, now: float) -> PendingCode:
    """The pending code `code` matches; superseded and day-old codes are expired (docs/cognito.md §5.3)."""
    if pending is not None and code in pending.superseded:
        raise _expired_code()
    if pending is None or not hmac.compare_digest(code.encode(), pending.code.encode()):
        raise CognitoError(CODE_MISMATCH, "Invalid verification code provided, please try again.")
    if now - pending.issued_at > CODE_LIFETIME_SECONDS:
        raise _expired_code()
    return pending


def _expired_code() -> CognitoError:
    return CognitoError(EXPIRED_CODE, "Invalid code provided, please request a code again.")


def check_resendable(status: str, delivery: tuple[str, str] | None) -> tuple[str, str]:
    if status != "UNCONFIRMED":
        raise CognitoError(INVALID_PARAMETER, "User is already confirmed.")
    # A user without the auto-verified attribute gets the same answer here; Cognito's own text
    # for that case is unverified.
    if delivery is None:
        raise CognitoError(INVALID_PARAMETER, "Cannot resend codes. Auto verification not turned on.")
    return delivery


def attempt_limit_exceeded() -> CognitoError:
    return CognitoError(LIMIT_EXCEEDED, ATTEMPT_LIMIT_MESSAGE)


def user_not_found() -> CognitoError:
    return CognitoError(USER_NOT_FOUND, USER_NOT_FOUND_MESSAGE)


def client_not_found(client_id: str) -> CognitoError:
    return CognitoError(RESOURCE_NOT_FOUND, f"User pool client {client_id} does not exist.")
