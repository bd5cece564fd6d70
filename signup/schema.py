"""Pool and client descriptions -> a snapshot -> frozen field specs for the sign-up form.

Pure functions: nothing here touches the network or the database. The rules follow
docs/cognito.md §3 (username models, password policy), §4 (the schema) and §4.5
(what a client may write).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal

from django.utils.functional import Promise
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _

from . import fields
from .fields import MAX_ATTRIBUTE_LENGTH, SPACE, SpecType, character_class, check, pattern

SNAPSHOT_VERSION = 1
MAX_PASSWORD_LENGTH = 256
MAX_USERNAME_LENGTH = 128
# Cognito's accepted password symbols (developer guide, "password policies"); an inner space counts too.
PASSWORD_SYMBOLS = "^$*.[]{}()?\"!@#%&/\\,><':;|_~`=+-"

NEVER_IN_FORM = {"sub", "identities", "email_verified", "phone_number_verified", "updated_at"}
VERIFIED_FLAGS = {"email_verified", "phone_number_verified"}
PASSWORDLESS_FACTORS = {"EMAIL_OTP", "SMS_OTP", "WEB_AUTHN"}

FieldKind = Literal["username", "password", "attribute", "validation_data"]

STANDARD_LABELS = {
    "name": _("Full name"),
    "given_name": _("First name"),
    "family_name": _("Last name"),
    "middle_name": _("Middle name"),
    "nickname": _("Nickname"),
    "preferred_username": _("Preferred username"),
    "profile": _("Profile page"),
    "picture": _("Picture URL"),
    "website": _("Website"),
    "email": _("Email address"),
    "gender": _("Gender"),
    "birthdate": _("Date of birth"),
    "zoneinfo": _("Time zone"),
    "locale": _("Language and region"),
    "phone_number": _("Phone number"),
    "address": _("Address"),
}
STANDARD_HELP = {
    "phone_number": _("In international format, starting with + and the country code, e.g. +14155552671."),
    "locale": _("A language tag such as en-US or de-DE."),
}
AUTOCOMPLETE = {
    "name": "name",
    "given_name": "given-name",
    "family_name": "family-name",
    "middle_name": "additional-name",
    "nickname": "nickname",
    "email": "email",
    "phone_number": "tel",
    "birthdate": "bday",
    "website": "url",
    "address": "street-address",
    "gender": "sex",
    "locale": "language",
}


# --- The snapshot: what the form needs from DescribeUserPool and DescribeUserPoolClient --------


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _number_or_none(value: Any) -> str | None:
    try:
        float(value)
    except (TypeError, ValueError):
        return None
    return str(value)


def _attribute_snapshot(raw: dict[str, Any]) -> dict[str, Any]:
    strings = raw.get("StringAttributeConstraints") or {}
    numbers = raw.get("NumberAttributeConstraints") or {}
    return {
        "name": raw["Name"],
        "type": raw.get("AttributeDataType", "String"),
        "required": bool(raw.get("Required", False)),
        "mutable": bool(raw.get("Mutable", True)),
        "developer_only": bool(raw.get("DeveloperOnlyAttribute", False)) or raw["Name"].startswith("dev:"),
        "min_length": _int_or_none(strings.get("MinLength")),
        "max_length": _int_or_none(strings.get("MaxLength")),
        "min_value": _number_or_none(numbers.get("MinValue")),
        "max_value": _number_or_none(numbers.get("MaxValue")),
    }


def snapshot_from_descriptions(pool: dict[str, Any], client: dict[str, Any]) -> dict[str, Any]:
    """Keep exactly what page views need, so they never call AWS. Never keeps the client secret."""
    policies = pool.get("Policies") or {}
    password = policies.get("PasswordPolicy") or {}
    sign_in = policies.get("SignInPolicy") or {}
    username_config = pool.get("UsernameConfiguration")
    return {
        "version": SNAPSHOT_VERSION,
        "pool_name": pool.get("Name", ""),
        # For the IAM policy's resources (permissions.pool_arn): the account id is in no other answer.
        "pool_arn": pool.get("Arn", ""),
        "client_name": client.get("ClientName", ""),
        "attributes": [_attribute_snapshot(a) for a in pool.get("SchemaAttributes", [])],
        # Absent WriteAttributes means "the default set", which is not "everything" (docs/cognito.md §4.5).
        "write_attributes": client.get("WriteAttributes"),
        "username_attributes": list(pool.get("UsernameAttributes") or []),
        "alias_attributes": list(pool.get("AliasAttributes") or []),
        # The API default when UsernameConfiguration is absent is case-sensitive (docs/cognito.md §3.3).
        "case_sensitive": bool(username_config.get("CaseSensitive", True)) if username_config else True,
        "auto_verified": list(pool.get("AutoVerifiedAttributes") or []),
        "password_policy": {
            "minimum_length": int(password.get("MinimumLength", 8)),
            "require_uppercase": bool(password.get("RequireUppercase", False)),
            "require_lowercase": bool(password.get("RequireLowercase", False)),
            "require_numbers": bool(password.get("RequireNumbers", False)),
            "require_symbols": bool(password.get("RequireSymbols", False)),
        },
        "first_auth_factors": list(sign_in.get("AllowedFirstAuthFactors") or ["PASSWORD"]),
        "admin_create_only": bool((pool.get("AdminCreateUserConfig") or {}).get("AllowAdminCreateUserOnly")),
        "has_secret": bool(client.get("ClientSecret")),
        "propagate_user_context": bool(client.get("EnablePropagateAdditionalUserContextData")),
        "advanced_security_mode": (pool.get("UserPoolAddOns") or {}).get("AdvancedSecurityMode", "OFF"),
        "analytics": bool(client.get("AnalyticsConfiguration")),
    }


# --- Field specs --------------------------------------------------------------------------------


@dataclass(frozen=True)
class PasswordPolicy:
    minimum_length: int = 8
    require_uppercase: bool = True
    require_lowercase: bool = True
    require_numbers: bool = True
    require_symbols: bool = True
    optional: bool = False

    def rules(self) -> list[tuple[str, Any]]:
        """(code, message) pairs in the order Cognito checks them, shown to users before they type."""
        rules: list[tuple[str, Any]] = [
            ("password_too_short", _("At least %(n)d characters") % {"n": self.minimum_length})
        ]
        if self.require_uppercase:
            rules.append(("password_no_upper", _("An uppercase letter (A–Z)")))
        if self.require_lowercase:
            rules.append(("password_no_lower", _("A lowercase letter (a–z)")))
        if self.require_numbers:
            rules.append(("password_no_number", _("A digit (0–9)")))
        if self.require_symbols:
            rules.append(("password_no_symbol", _("A symbol, such as ! @ # $ % ^ & *")))
        return rules

    def checks(self) -> list[dict[str, Any]]:
        """The policy as browser checks, in the order Cognito applies it. The server reads the very same
        checks (`failures`), so the page's checklist and the server never disagree."""
        checks = [
            pattern("password_edge_space", f"^[{SPACE}]|[{SPACE}]$", negate=True, collect=True),
            check("password_too_long", max_length=MAX_PASSWORD_LENGTH, collect=True),
            check("password_too_short", min_length=self.minimum_length, collect=True),
        ]
        if self.require_uppercase:
            checks.append(pattern("password_no_upper", "[A-Z]", collect=True))
        if self.require_lowercase:
            checks.append(pattern("password_no_lower", "[a-z]", collect=True))
        if self.require_numbers:
            checks.append(pattern("password_no_number", "[0-9]", collect=True))
        if self.require_symbols:
            # A listed symbol anywhere, or a space with something other than space on both sides of it.
            symbol = rf"{character_class(PASSWORD_SYMBOLS)}|[^{SPACE}][\s\S]* [\s\S]*[^{SPACE}]"
            checks.append(pattern("password_no_symbol", symbol, collect=True))
        return checks

    def failures(self, password: str) -> list[str]:
        """Message codes for every rule the password breaks (Cognito reports one; we show all)."""
        return [rule["message"] for rule in self.checks() if not fields.passes(rule, password)]

    def as_json(self) -> dict[str, Any]:
        return {
            "minimum_length": self.minimum_length,
            "maximum_length": MAX_PASSWORD_LENGTH,
            "require_uppercase": self.require_uppercase,
            "require_lowercase": self.require_lowercase,
            "require_numbers": self.require_numbers,
            "require_symbols": self.require_symbols,
            "symbols": PASSWORD_SYMBOLS,
            "optional": self.optional,
            "checks": self.checks(),
        }


@dataclass(frozen=True)
class Override:
    """An operator's presentation choices for one field (admin: FieldOverride)."""

    attribute: str
    label: str = ""
    help_text: str = ""
    placeholder: str = ""
    order: int | None = None
    hidden: bool = False
    choices: tuple[str, ...] = ()


@dataclass(frozen=True)
class ValidationDataSpec:
    name: str
    label: str
    type: str = "string"
    required: bool = False
    help_text: str = ""
    max_length: int = 256
    order: int = 1000


@dataclass(frozen=True)
class ConsentSpec:
    """Terms and privacy acceptance a portal requires; never sent to Cognito."""

    version: str
    terms_url: str = ""
    privacy_url: str = ""

    def as_json(self) -> dict[str, Any]:
        return {
            "required": True,
            "version": self.version,
            "terms_url": self.terms_url,
            "privacy_url": self.privacy_url,
            "browser": fields.consent_rule(),
        }


@dataclass(frozen=True)
class FieldSpec:
    name: str
    kind: FieldKind
    attribute: str | None
    type: SpecType
    required: bool
    label: str | Promise
    help: str | Promise = ""
    placeholder: str = ""
    min_length: int | None = None
    max_length: int | None = None
    min_value: str | None = None
    max_value: str | None = None
    choices: tuple[str, ...] | None = None
    format: str = ""  # finer meaning inside a type: "locale", "zoneinfo", "email_or_phone"
    data_name: str = ""  # a validation-data field's own name (its input name is HTML-safe)
    autocomplete: str = ""
    order: int = 0
    # Registry types (fields.FIELD_TYPES) whose shape the value must not have: a username in a pool
    # where email or phone_number is an alias, which Cognito refuses when it looks like one.
    unlike: tuple[str, ...] = ()
    # With both email and phone as username: this attribute is needed unless the username is one.
    required_unless_username: bool = False

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "attribute": self.attribute,
            "type": self.type,
            "format": self.format or None,
            "required": self.required,
            "min_length": self.min_length,
            "max_length": self.max_length,
            "min_value": self.min_value,
            "max_value": self.max_value,
            "choices": list(self.choices) if self.choices is not None else None,
            "label": str(self.label),
            "help": str(self.help),
            "placeholder": self.placeholder,
            "browser": fields.browser_rule(self),
        }


UsernameMode = Literal["username", "email", "phone", "email_or_phone"]


@dataclass(frozen=True)
class FormSpec:
    fields: tuple[FieldSpec, ...]
    password_policy: PasswordPolicy
    username_mode: UsernameMode
    alias_attributes: tuple[str, ...] = ()
    case_sensitive: bool = True
    # Attributes Cognito fills from the username: when the username is an email, "email", and so on.
    username_copies: tuple[str, ...] = field(default=())
    # Of those, the ones the pool requires: with both email and phone as username, the one not typed.
    required_copies: tuple[str, ...] = field(default=())
    consent: ConsentSpec | None = None

    def __hash__(self) -> int:
        # Kept values are keyed by their spec (caching.py); hashing every field's lazy texts on each
        # look-up would cost more than the look-up saves, so a spec hashes once.
        try:
            return self.__dict__["_hash"]
        except KeyError:
            value = hash(tuple(getattr(self, f.name) for f in dataclasses.fields(self)))
            object.__setattr__(self, "_hash", value)
            return value

    def field(self, name: str) -> FieldSpec:
        return next(f for f in self.fields if f.name == name)

    def for_attribute(self, attribute: str) -> FieldSpec | None:
        return next((f for f in self.fields if f.attribute == attribute), None)

    def as_json(self) -> dict[str, Any]:
        """The form as schema.json describes it: what a front end needs to show and check it."""
        return {
            "username_mode": self.username_mode,
            "fields": [f.as_json() for f in self.fields],
            "password_policy": self.password_policy.as_json(),
            "consent": self.consent.as_json() if self.consent else None,
        }


def input_name(attribute: str) -> str:
    """HTML-friendly input name: custom:company -> custom_company (standard names never start so)."""
    return attribute.replace(":", "_")


def writable_attributes(snapshot: dict[str, Any]) -> set[str]:
    """The client's effective write set (docs/cognito.md §4.5): required attributes are always writable."""
    attributes = snapshot["attributes"]
    required = {a["name"] for a in attributes if a["required"]}
    if snapshot.get("write_attributes") is not None:
        return set(snapshot["write_attributes"]) | required
    standard = {
        a["name"]
        for a in attributes
        if not a["name"].startswith(("custom:", "dev:")) and a["name"] not in VERIFIED_FLAGS
    }
    return standard | required


def username_mode(snapshot: dict[str, Any]) -> UsernameMode:
    modes = set(snapshot.get("username_attributes") or [])
    if modes == {"email", "phone_number"}:
        return "email_or_phone"
    if modes == {"email"}:
        return "email"
    if modes == {"phone_number"}:
        return "phone"
    return "username"


def password_policy(snapshot: dict[str, Any]) -> PasswordPolicy:
    policy = snapshot["password_policy"]
    return PasswordPolicy(
        minimum_length=policy["minimum_length"],
        require_uppercase=policy["require_uppercase"],
        require_lowercase=policy["require_lowercase"],
        require_numbers=policy["require_numbers"],
        require_symbols=policy["require_symbols"],
        # A pool whose sign-in policy offers another first factor lets users omit the password (docs/cognito.md §3.4).
        optional=bool(PASSWORDLESS_FACTORS & set(snapshot.get("first_auth_factors") or [])),
    )


def _humanize(attribute: str) -> str:
    bare = attribute.split(":", 1)[-1]
    return capfirst(bare.replace("_", " ").replace("-", " "))


def _attribute_field(attribute: dict[str, Any], required: bool) -> FieldSpec:
    name = attribute["name"]
    entry = fields.attribute_type(name, attribute["type"])
    return FieldSpec(
        name=input_name(name),
        kind="attribute",
        attribute=name,
        type=entry.spec_type,
        format=entry.format,
        required=required and entry.can_require,
        label=STANDARD_LABELS.get(name) or _humanize(name),
        help=STANDARD_HELP.get(name, ""),
        autocomplete=AUTOCOMPLETE.get(name, ""),
        min_length=(attribute["min_length"] or None) if entry.lengths else None,
        max_length=min(attribute["max_length"] or MAX_ATTRIBUTE_LENGTH, MAX_ATTRIBUTE_LENGTH)
        if entry.lengths
        else None,
        min_value=attribute["min_value"],
        max_value=attribute["max_value"],
    )


def _username_field(mode: UsernameMode, aliases: tuple[str, ...]) -> FieldSpec:
    by_mode: dict[str, tuple[str, Any, str]] = {
        "username": ("string", _("Username"), "username"),
        "email": ("email", _("Email address"), "email"),
        "phone": ("phone", _("Phone number"), "tel"),
        "email_or_phone": ("email_or_phone", _("Email address or phone number"), "username"),
    }
    type_name, label, autocomplete = by_mode[mode]
    entry = fields.FIELD_TYPES[type_name]
    return FieldSpec(
        name="username",
        kind="username",
        attribute=None,
        type=entry.spec_type,
        required=True,
        label=label,
        help=STANDARD_HELP["phone_number"] if mode == "phone" else "",
        min_length=1,
        max_length=MAX_USERNAME_LENGTH,
        format=entry.format,
        autocomplete=autocomplete,
        # Where email or phone_number is an alias, Cognito refuses a username that looks like one (§3.5).
        unlike=tuple(e.name for e in fields.FIELD_TYPES.values() if e.shape and e.attributes & set(aliases))
        if mode == "username"
        else (),
    )


def _password_field(policy: PasswordPolicy) -> FieldSpec:
    return FieldSpec(
        name="password",
        kind="password",
        attribute=None,
        type="string",
        required=not policy.optional,
        label=_("Password"),
        help=_("Leave empty to sign in with a one-time code instead.") if policy.optional else "",
        min_length=policy.minimum_length,
        max_length=MAX_PASSWORD_LENGTH,
        autocomplete="new-password",
    )


def _validation_field(spec: ValidationDataSpec) -> FieldSpec:
    entry = fields.validation_data_type(spec.type)
    return FieldSpec(
        name=f"vd_{input_name(spec.name)}",
        data_name=spec.name,
        kind="validation_data",
        attribute=None,
        type=entry.spec_type,
        format=entry.format,
        required=spec.required and entry.can_require,
        label=spec.label,
        help=spec.help_text,
        max_length=min(spec.max_length, MAX_ATTRIBUTE_LENGTH) if entry.lengths else None,
        order=spec.order,
    )


def _apply_override(spec: FieldSpec, override: Override | None, default_order: int) -> FieldSpec | None:
    if override is None:
        return FieldSpec(**{**spec.__dict__, "order": default_order})
    if override.hidden and not spec.required:
        return None
    changes: dict[str, Any] = {"order": override.order if override.order is not None else default_order}
    if override.label:
        changes["label"] = override.label
    if override.help_text:
        changes["help"] = override.help_text
    if override.placeholder:
        changes["placeholder"] = override.placeholder
    if override.choices and spec.type == "string" and spec.kind == "attribute":
        changes["choices"] = override.choices
    return FieldSpec(**{**spec.__dict__, **changes})


def form_spec(
    snapshot: dict[str, Any],
    overrides: tuple[Override, ...] = (),
    validation_fields: tuple[ValidationDataSpec, ...] = (),
    consent: ConsentSpec | None = None,
) -> FormSpec:
    """Which fields the sign-up form has, in order, with every constraint the pool enforces (docs/cognito.md §4.6)."""
    mode = username_mode(snapshot)
    policy = password_policy(snapshot)
    aliases = tuple(snapshot.get("alias_attributes") or ())
    copies = tuple(snapshot.get("username_attributes") or ())
    writable = writable_attributes(snapshot)

    attribute_specs = []
    for attribute in snapshot["attributes"]:
        name = attribute["name"]
        if name in NEVER_IN_FORM or attribute["developer_only"] or name not in writable:
            continue
        if name == "preferred_username" and "preferred_username" in aliases:
            continue  # an alias preferred_username can only be set after confirmation (docs/cognito.md §3.2)
        if name in copies and mode != "email_or_phone":
            continue  # Cognito copies it from the username: asking twice would only let them differ
        # With both email and phone as username, the one the user typed is copied and the other
        # stays a field; a required one is checked by the form once it knows which was typed.
        spec = _attribute_field(attribute, attribute["required"] and name not in copies)
        if attribute["required"] and name in copies:
            spec = FieldSpec(**{**spec.__dict__, "required_unless_username": True})
        attribute_specs.append(spec)
    # Required fields first, then optional ones, each in the pool's order.
    attribute_specs.sort(key=lambda f: not f.required)

    by_attribute = {o.attribute: o for o in overrides}
    ordered = [_username_field(mode, aliases), _password_field(policy), *attribute_specs]
    fields = []
    for index, spec in enumerate(ordered):
        key = spec.attribute or spec.name
        # Password stays right after the username unless the operator moves it.
        default_order = index * 10 if spec.kind != "password" else 5
        adjusted = _apply_override(spec, by_attribute.get(key), default_order)
        if adjusted is not None:
            fields.append(adjusted)
    for validation in validation_fields:
        spec = _validation_field(validation)
        adjusted = _apply_override(spec, by_attribute.get(spec.name), spec.order)
        if adjusted is not None:
            fields.append(adjusted)
    fields.sort(key=lambda f: f.order)
    return FormSpec(
        fields=tuple(fields),
        password_policy=policy,
        username_mode=mode,
        alias_attributes=aliases,
        case_sensitive=snapshot.get("case_sensitive", True),
        username_copies=copies,
        required_copies=tuple(a["name"] for a in snapshot["attributes"] if a["name"] in copies and a["required"]),
        consent=consent,
    )
