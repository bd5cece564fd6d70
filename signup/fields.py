"""Every type of sign-up field, described once for every channel.

An entry in FIELD_TYPES says how the server builds and checks a field (its Django form field and
widget), which message its "invalid" error shows, whether operators may declare validation data of
that type, which standard attributes have it, and what the browser checks before anything is sent:
plain JSON (patterns with their flags, limits, message codes) in the order the server applies the
same rules, so the page's first submit shows the errors the server would show, on every field at
once. The form, the page's script, schema.json, the command line and the tests all read this table.

A browser rule is {"input", "strip", "required", "checks", ...}; each check names one test
("pattern", "min_length", "max_length", "max_bytes", "min_value", "max_value", "choices", "dates",
"not_after_today" or "password_policy") and the message code it shows. Checks run in order; the
first failing one ends the field's checks, except that consecutive "collect" checks (Django's
validators, which it runs all of) each add their message.
"""

from __future__ import annotations

import re
import unicodedata
import zoneinfo
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal

import phonenumbers
from django import forms
from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator
from django.utils import timezone
from django.utils.formats import get_format, number_format
from django.utils.functional import lazy
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _

from .messages import lazy_message, message

if TYPE_CHECKING:
    from .schema import FieldSpec, FormSpec

SpecType = Literal["string", "number", "boolean", "date", "email", "phone", "url"]
Check = dict[str, Any]

# Cognito's limit for one attribute value, in UTF-8 bytes (docs/cognito.md §4.4).
MAX_ATTRIBUTE_LENGTH = 2048

# --- Patterns ----------------------------------------------------------------------------------
# Written for JavaScript's RegExp, which the page runs. Those the server evaluates as well (see
# `passes`) keep to what Python's re reads the same way.

# What Python's str.isspace() calls space: what Django strips from every text field, and what the
# address and URL checks refuse. The page strips and refuses exactly these.
SPACE = r"\t-\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
# Cognito's Username pattern [\p{L}\p{M}\p{S}\p{N}\p{P}]+: no spaces, controls or format characters.
USERNAME_PATTERN = r"^[\p{L}\p{M}\p{S}\p{N}\p{P}]+$"
USERNAME_CATEGORIES = ("L", "M", "S", "N", "P")
CONTROL_PATTERN = r"(?![\t\n\r])[\p{Cc}\p{Cs}\p{Co}\p{Cn}]"
LOCALE_PATTERN = r"^[A-Za-z]{2,3}(?:-[A-Za-z0-9]{2,8})*$"  # the server's too
WHOLE_NUMBER_PATTERN = r"^[+-]?\p{Nd}{1,30}$"  # Python's \d is any script's digit, as \p{Nd} is
# Django's EmailValidator (5.2) without what AddressValidator refuses: quoted local parts, spaces,
# a domain without a dot. Under the "i" flag [a-z] misses the dotted and dotless i that Python's
# re.IGNORECASE lets in, hence \u0130\u0131.
_LABEL = r"a-z\u00a1-\uffff0-9"
_HOST = (
    rf"[{_LABEL}](?:[{_LABEL}-]{{0,61}}[{_LABEL}])?(?:\.(?!-)[{_LABEL}-]{{1,63}}(?<!-))*"
    r"\.(?!-)(?:[a-z\u00a1-\uffff-]{2,63}|xn--[a-z0-9]{1,59})(?<!-)"
)
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])"
_ATOM = r"[-!#$%&'*+/=?^_`{}|~0-9a-z\u0130\u0131]+"
EMAIL_PATTERN = (
    rf"^(?=[\s\S]{{1,320}}$)(?![\s\S]*[{SPACE}]){_ATOM}(?:\.{_ATOM})*@"
    rf"(?:{_HOST}|\[(?:[0-9a-f:]*:)?{_OCTET}(?:\.{_OCTET}){{3}}\])$"
)
# libphonenumber decides on the server; the page only asks for the leading + and enough digits (or
# letters, which spell digits on a keypad) for the shortest valid number anywhere.
PHONE_MIN_DIGITS = 6
PHONE_PATTERN = rf"^\+(?:[^\p{{Nd}}\p{{L}}]*[\p{{Nd}}\p{{L}}]){{{PHONE_MIN_DIGITS}}}"
# Django's URLValidator (5.2), applied as URLField applies it: after adding a missing scheme.
_URL_OCTET = r"(?:0|25[0-5]|2[0-4][0-9]|1[0-9]?[0-9]?|[1-9][0-9]?)"
URL_PATTERN = (
    rf"^(?=[\s\S]{{0,2048}}$)(?:https?|ftps?)://(?:[^{SPACE}:@/]+(?::[^{SPACE}:@/]*)?@)?"
    rf"(?:{_URL_OCTET}(?:\.{_URL_OCTET}){{3}}|\[[0-9a-f:.]+\]|{_HOST}\.?|localhost)"
    rf"(?::[0-9]{{1,5}})?(?:[/?#][^{SPACE}]*)?$"
)
# How Cognito recognises an email address or a phone number in a username ("Username cannot be of
# email format"); the server applies these very patterns. The username has no space by then.
EMAIL_SHAPE = rf"^[^{SPACE}@]+@[^{SPACE}@]+\.[^{SPACE}@]+$"
PHONE_SHAPE = r"^\+[1-9][0-9]{1,14}$"

LOCALE_TAG = re.compile(LOCALE_PATTERN)
E164 = re.compile(r"^\+[1-9]\d{1,14}$")
WHOLE_NUMBER = re.compile(r"^[+-]?\d{1,30}$")


def check(code: str, *, collect: bool = False, negate: bool = False, **test: Any) -> Check:
    """One browser check: its test, the message code it shows, and how it chains (see the docstring)."""
    result: Check = {**test, "message": code}
    if negate:
        result["negate"] = True
    if collect:
        result["collect"] = True
    return result


def pattern(code: str, source: str, flags: str = "u", **how: Any) -> Check:
    return check(code, pattern=source, flags=flags, **how)


def passes(rule: Check, value: str) -> bool:
    """The server's reading of a check written in what both engines share: the password policy and
    the username shapes Cognito refuses are checked by the same words on both sides."""
    if "pattern" in rule:
        flags = re.IGNORECASE if "i" in rule.get("flags", "") else 0
        return (re.search(rule["pattern"], value, flags) is not None) != rule.get("negate", False)
    if "min_length" in rule:
        return len(value) >= rule["min_length"]
    if "max_length" in rule:
        return len(value) <= rule["max_length"]
    raise ValueError(f"the server does not evaluate {rule}")


def character_class(characters: str) -> str:
    """A [...] class matching exactly `characters`, escaped so both engines (JavaScript in its "u"
    mode, which refuses needless escapes) read it alike."""
    return "[" + "".join("\\" + c if c in "\\]^-[/$*.+?(){}|" else c for c in characters) + "]"


# --- What the server checks by itself ------------------------------------------------------------


def is_cognito_username(value: str) -> bool:
    """Cognito's Username pattern [\\p{L}\\p{M}\\p{S}\\p{N}\\p{P}]+: no spaces, controls or format characters."""
    return bool(value) and all(unicodedata.category(c)[0] in USERNAME_CATEGORIES for c in value)


def has_control_characters(value: str) -> bool:
    return any(unicodedata.category(c) in ("Cc", "Cs", "Co", "Cn") and c not in "\t\n\r" for c in value)


class AddressValidator(EmailValidator):
    """An address Cognito takes: Django's rules without what only mail servers love (found by the
    property tests): quoted local parts (which let spaces, control characters and @ in), and hosts
    without a dot such as localhost."""

    def __init__(self) -> None:
        super().__init__(allowlist=[])

    def __call__(self, value: str | None) -> None:
        super().__call__(value)
        local, _, domain = str(value).rpartition("@")
        if '"' in local or "\\" in local or any(c.isspace() for c in str(value)) or "." not in domain:
            raise ValidationError(self.message, code=self.code, params={"value": value})


validate_address = AddressValidator()


def looks_like_email(value: str) -> bool:
    try:
        validate_address(value)
    except ValidationError:
        return False
    return True


def normalise_phone(value: str) -> str | None:
    """E.164 for a number that libphonenumber says is possible and valid, else None."""
    if not value.strip().startswith("+"):
        return None
    try:
        number = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    formatted = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return formatted if E164.match(formatted) else None


def fail(code: str) -> ValidationError:
    return ValidationError(message(code), code=code)


# --- Django form fields ---------------------------------------------------------------------------


class TextValueField(forms.CharField):
    """A string attribute: no control characters, and at most 2,048 UTF-8 bytes (the quota counts bytes)."""

    def validate(self, value: Any) -> None:
        super().validate(value)
        if value and has_control_characters(value):
            raise fail("control_characters")
        if value and len(value.encode("utf-8")) > MAX_ATTRIBUTE_LENGTH:
            raise fail("value_too_long_bytes")


class PhoneField(TextValueField):
    def to_python(self, value: Any) -> str:
        value = super().to_python(value)
        if not value:
            return value
        phone = normalise_phone(value)
        if phone is None:
            raise fail("invalid_phone")
        return phone


class LocaleField(TextValueField):
    def validate(self, value: Any) -> None:
        super().validate(value)
        if value and not LOCALE_TAG.match(value):
            raise fail("invalid_locale")


def date_input_formats() -> list[str]:
    """ISO dates (what a date picker sends), then the reader's own ways of writing a date."""
    return ["%Y-%m-%d", *get_format("DATE_INPUT_FORMATS")]


class BirthdateField(forms.DateField):
    """ISO dates (what a date picker sends), and the reader's own way of writing a date."""

    def to_python(self, value: Any) -> date | None:
        # The instance's own copy: form fields are deep-copied per form, and the language is per request.
        self.input_formats = date_input_formats()
        return super().to_python(value)

    def validate(self, value: Any) -> None:
        super().validate(value)
        if value and value > timezone.localdate():
            raise fail("date_in_future")


def _localised(limit: str | Decimal) -> str:
    return number_format(Decimal(limit), force_grouping=True)


def _out_of_range(message_code: str, code: str, limit: Decimal) -> ValidationError:
    return ValidationError(message(message_code), code=code, params={"limit_value": _localised(limit)})


class CognitoNumberField(forms.CharField):
    """Numbers travel as strings; keep the user's digits, but check they are a number in range."""

    def __init__(self, *, min_value: str | None, max_value: str | None, **kwargs: Any):
        self.min_value = Decimal(min_value) if min_value is not None else None
        self.max_value = Decimal(max_value) if max_value is not None else None
        super().__init__(**kwargs)

    def to_python(self, value: Any) -> str:
        value = super().to_python(value)
        if not value:
            return value
        # Whole numbers only: what the local Cognito accepts; decimals in Number attributes are unverified.
        if not WHOLE_NUMBER.match(value):
            raise fail("invalid_number")
        number = Decimal(value)
        if self.min_value is not None and number < self.min_value:
            raise _out_of_range("too_small", "min_value", self.min_value)
        if self.max_value is not None and number > self.max_value:
            raise _out_of_range("too_large", "max_value", self.max_value)
        return str(int(number))

    def widget_attrs(self, widget: forms.Widget) -> dict[str, Any]:
        attrs = super().widget_attrs(widget)
        attrs["inputmode"] = "numeric"
        if self.min_value is not None:
            attrs["min"] = str(self.min_value)
        if self.max_value is not None:
            attrs["max"] = str(self.max_value)
        return attrs


class FixedChoiceField(forms.ChoiceField):
    """Choices that come from the spec and never change: every form instance shares them. Django
    deep-copies a ChoiceField's choices for each form, which for the ~550 time zones was a
    millisecond of every page view and sign-up."""

    def __deepcopy__(self, memo: dict[int, Any]) -> FixedChoiceField:
        result: FixedChoiceField = forms.Field.__deepcopy__(self, memo)  # not ChoiceField's: it copies choices
        result._choices = self._choices  # type: ignore[attr-defined]
        return result


def within_attribute_bytes(value: str) -> None:
    # Cognito's limit is 2,048 bytes, not characters (docs/cognito.md §4.4).
    if value and len(value.encode("utf-8", "surrogatepass")) > MAX_ATTRIBUTE_LENGTH:
        raise fail("value_too_long_bytes")


def _range_hint(spec: FieldSpec) -> Any:
    """ "Between 1 and 100,000." in the reader's language and number format, decided at render time."""
    localised = lazy(_localised, str)
    if spec.min_value is not None and spec.max_value is not None:
        return format_lazy(
            _("Between {low} and {high}."), low=localised(spec.min_value), high=localised(spec.max_value)
        )
    if spec.min_value is not None:
        return format_lazy(_("At least {low}."), low=localised(spec.min_value))
    if spec.max_value is not None:
        return format_lazy(_("At most {high}."), high=localised(spec.max_value))
    return ""


# --- Builders: one Django field per spec -----------------------------------------------------------
# Each takes the spec, the keyword arguments every field gets (label, help, our messages) and the
# widget's attributes, whose "type" is the entry's input type.


def _text_kwargs(spec: FieldSpec, common: dict[str, Any]) -> dict[str, Any]:
    return {
        **common,
        "min_length": spec.min_length,
        "max_length": spec.max_length,
        "validators": [within_attribute_bytes],
    }


def _build_text(spec: FieldSpec, common: dict[str, Any], attrs: dict[str, str]) -> forms.Field:
    return TextValueField(widget=forms.TextInput(attrs=attrs), **_text_kwargs(spec, common))


def _build_locale(spec: FieldSpec, common: dict[str, Any], attrs: dict[str, str]) -> forms.Field:
    return LocaleField(widget=forms.TextInput(attrs=attrs), **_text_kwargs(spec, common))


def _build_phone(spec: FieldSpec, common: dict[str, Any], attrs: dict[str, str]) -> forms.Field:
    return PhoneField(widget=forms.TextInput(attrs=attrs), **_text_kwargs(spec, common))


def _build_email(spec: FieldSpec, common: dict[str, Any], attrs: dict[str, str]) -> forms.Field:
    field = forms.EmailField(widget=forms.EmailInput(attrs=attrs), **_text_kwargs(spec, common))
    field.validators = [v for v in field.validators if not isinstance(v, EmailValidator)] + [validate_address]
    return field


def _build_url(spec: FieldSpec, common: dict[str, Any], attrs: dict[str, str]) -> forms.Field:
    return forms.URLField(widget=forms.URLInput(attrs=attrs), assume_scheme="https", **_text_kwargs(spec, common))


def _build_number(spec: FieldSpec, common: dict[str, Any], attrs: dict[str, str]) -> forms.Field:
    return CognitoNumberField(
        min_value=spec.min_value, max_value=spec.max_value, widget=forms.NumberInput(attrs=attrs), **common
    )


def _build_date(spec: FieldSpec, common: dict[str, Any], attrs: dict[str, str]) -> forms.Field:
    return BirthdateField(widget=forms.DateInput(attrs=attrs), **common)


def _build_boolean(spec: FieldSpec, common: dict[str, Any], attrs: dict[str, str]) -> forms.Field:
    return forms.BooleanField(**{**common, "required": False})


def _select(choices: Iterable[str], common: dict[str, Any], attrs: dict[str, str]) -> forms.Field:
    return FixedChoiceField(choices=[("", "—")] + [(c, c) for c in choices], widget=forms.Select(attrs=attrs), **common)


def _build_choice(spec: FieldSpec, common: dict[str, Any], attrs: dict[str, str]) -> forms.Field:
    return _select(spec.choices or (), common, attrs)


def _build_zoneinfo(spec: FieldSpec, common: dict[str, Any], attrs: dict[str, str]) -> forms.Field:
    # The tz database also lists aliases such as "localtime" and "posixrules", which are not zones.
    return _select(sorted(z for z in zoneinfo.available_timezones() if "/" in z or z == "UTC"), common, attrs)


def _build_password(spec: FieldSpec, common: dict[str, Any], attrs: dict[str, str]) -> forms.Field:
    # The policy check reports every broken rule itself; Django's length checks would hide them.
    widget = forms.PasswordInput(attrs={**attrs, "maxlength": str(spec.max_length)})
    return forms.CharField(strip=False, widget=widget, **common)


# --- Browser checks, in the order the matching Django field applies its rules -------------------
# Django runs a field's to_python and validate (the first error ends them), then every validator
# (each adds its error), then the form's clean_<name> if the field had no error.

NO_CONTROLS = pattern("control_characters", CONTROL_PATTERN, negate=True)
# Django's ProhibitNullCharactersValidator, which every CharField has; a TextValueField's own check
# for control characters comes first.
NO_NUL = pattern("control_characters", r"\x00", negate=True, collect=True)
NUL_FIRST = {**NO_NUL, "collect": False}
WITHIN_BYTES = check("value_too_long_bytes", max_bytes=MAX_ATTRIBUTE_LENGTH)
WITHIN_BYTES_TOO = {**WITHIN_BYTES, "collect": True}  # as a validator, beside the others


def _lengths(spec: FieldSpec) -> list[Check]:
    """Django's MinLengthValidator and MaxLengthValidator: characters (code points), not UTF-16 units."""
    limits = (("too_short", "min_length", spec.min_length), ("too_long", "max_length", spec.max_length))
    return [
        {test: limit, **check(code, collect=True, params={"limit_value": str(limit)})}
        for code, test, limit in limits
        if limit is not None
    ]


def _text_checks(spec: FieldSpec) -> list[Check]:
    return [NO_CONTROLS, WITHIN_BYTES, *_lengths(spec)]


def _locale_checks(spec: FieldSpec) -> list[Check]:
    return [NO_CONTROLS, WITHIN_BYTES, pattern("invalid_locale", LOCALE_PATTERN), *_lengths(spec)]


def _email_checks(spec: FieldSpec) -> list[Check]:
    # EmailField checks nothing before its validators: bytes, lengths, then the address, all reported.
    return [WITHIN_BYTES_TOO, *_lengths(spec), NO_NUL, pattern("invalid_email", EMAIL_PATTERN, "iu", collect=True)]


def _phone_checks(spec: FieldSpec) -> list[Check]:
    return [pattern("invalid_phone", PHONE_PATTERN)]  # lengths: see FieldType.normalises


def _url_checks(spec: FieldSpec) -> list[Check]:
    return [pattern("invalid_url", URL_PATTERN, "iu", collect=True), WITHIN_BYTES_TOO, *_lengths(spec), NO_NUL]


def _number_checks(spec: FieldSpec) -> list[Check]:
    checks = [pattern("invalid_number", WHOLE_NUMBER_PATTERN)]
    if spec.min_value is not None:
        checks.append(check("too_small", min_value=spec.min_value, params={"limit_value": _localised(spec.min_value)}))
    if spec.max_value is not None:
        checks.append(check("too_large", max_value=spec.max_value, params={"limit_value": _localised(spec.max_value)}))
    return checks


# strptime's own patterns for the directives dates use; a match then must be a real date. A format
# with any other directive (%b, %y: month names, two-digit years) is only matched for its shape.
STRPTIME_PATTERNS = {
    "Y": r"(?<Y>\p{Nd}{4})",
    "m": r"(?<m>1[0-2]|0[1-9]|[1-9])",
    "d": r"(?<d>3[01]|[12]\p{Nd}|0[1-9]|[1-9]| [1-9])",
    "y": r"\p{Nd}{2}",
    "%": "%",
}


def strptime_pattern(fmt: str) -> str:
    """A strptime format as the pattern strptime itself matches (letters in any case, digits in any script)."""
    parts = []
    position = 0
    while position < len(fmt):
        char = fmt[position]
        if char == "%" and position + 1 < len(fmt):
            parts.append(STRPTIME_PATTERNS.get(fmt[position + 1], r"\p{L}+"))
            position += 2
            continue
        if char.isspace():
            if not parts or parts[-1] != rf"[{SPACE}]+":
                parts.append(rf"[{SPACE}]+")
        else:
            parts.append("\\" + char if char in "\\^$.*+?()[]{}|/" else char)
        position += 1
    return "^" + "".join(parts) + "$"


def _date_checks(spec: FieldSpec) -> list[Check]:
    formats = [{"pattern": strptime_pattern(f), "flags": "iu"} for f in dict.fromkeys(date_input_formats())]
    return [check("invalid_date", dates=formats), check("date_in_future", not_after_today=True)]


def _choice_checks(spec: FieldSpec) -> list[Check]:
    return [check("invalid_choice", choices=list(spec.choices or ()))]


def _no_checks(spec: FieldSpec) -> list[Check]:
    return []


def _password_checks(spec: FieldSpec) -> list[Check]:
    # The form's clean_password reports the whole policy, once the field itself found nothing.
    return [NUL_FIRST, check("password_rejected", collect=True, password_policy=True)]


# --- The registry ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class FieldType:
    """One type of field, as every channel handles it."""

    name: str  # the spec's format where it has one, else its type
    spec_type: SpecType  # FieldSpec.type: what schema.json calls the value
    build: Callable[[FieldSpec, dict[str, Any], dict[str, str]], forms.Field]
    checks: Callable[[FieldSpec], list[Check]]
    input: str = "text"  # the HTML input type, or "select"
    invalid: str = ""  # the message code for Django's "invalid" error
    validation_data: Any = None  # the label operators choose it by for validation data; None: not offered
    attributes: frozenset[str] = frozenset()  # standard attributes of this type
    cognito_type: str = ""  # the AttributeDataType that always means this type
    lengths: bool = True  # Cognito's MinLength/MaxLength apply
    can_require: bool = True  # an unticked checkbox is an answer ("false"), never a missing one
    strip: bool = True  # leading and trailing space is dropped, as Django's CharField does
    assume_scheme: str = ""  # a URL without a scheme gets this one, as URLField does
    username_checks: tuple[Check, ...] = ()  # what clean_username adds when this is the username's type
    shape: Check | None = None  # a username of this shape is refused where this is an alias (Cognito's rule)
    # The server checks the rest (lengths, the username's pattern) on a form of the value the page cannot
    # make (E.164), which passes them; the page leaves them out.
    normalises: bool = False

    @property
    def format(self) -> str:
        return "" if self.name == self.spec_type else self.name


FIELD_TYPES: dict[str, FieldType] = {
    entry.name: entry
    for entry in (
        FieldType("string", "string", _build_text, _text_checks, validation_data=_("text")),
        FieldType(
            "number",
            "number",
            _build_number,
            _number_checks,
            input="number",
            validation_data=_("number"),
            cognito_type="Number",
            lengths=False,
        ),
        FieldType(
            "email",
            "email",
            _build_email,
            _email_checks,
            input="email",
            invalid="invalid_email",
            validation_data=_("email"),
            attributes=frozenset({"email"}),
            shape=pattern("username_looks_like_email", EMAIL_SHAPE, negate=True),
        ),
        FieldType(
            "boolean",
            "boolean",
            _build_boolean,
            _no_checks,
            input="checkbox",
            validation_data=_("checkbox"),
            cognito_type="Boolean",
            lengths=False,
            can_require=False,
        ),
        FieldType(
            "date",
            "date",
            _build_date,
            _date_checks,
            input="date",
            invalid="invalid_date",
            attributes=frozenset({"birthdate"}),
            lengths=False,  # a date widget; the 10-character YYYY-MM-DD form is ours to produce
        ),
        FieldType(
            "phone",
            "phone",
            _build_phone,
            _phone_checks,
            input="tel",
            invalid="invalid_phone",
            attributes=frozenset({"phone_number"}),
            shape=pattern("username_looks_like_phone", PHONE_SHAPE, negate=True),
            normalises=True,
        ),
        FieldType(
            "url",
            "url",
            _build_url,
            _url_checks,
            input="url",
            invalid="invalid_url",
            attributes=frozenset({"website", "profile", "picture"}),
            assume_scheme="https",
        ),
        FieldType("locale", "string", _build_locale, _locale_checks, attributes=frozenset({"locale"})),
        FieldType(
            "zoneinfo", "string", _build_zoneinfo, _no_checks, input="select", attributes=frozenset({"zoneinfo"})
        ),
        FieldType(
            "email_or_phone",
            "string",
            _build_text,
            _text_checks,
            username_checks=(pattern("username_not_email_or_phone", f"(?:{EMAIL_PATTERN})|(?:{PHONE_PATTERN})", "iu"),),
        ),
        # An operator's fixed list of values for a string attribute.
        FieldType("choice", "string", _build_choice, _choice_checks, input="select"),
        FieldType("password", "string", _build_password, _password_checks, input="password", strip=False),
    )
}
STRING = FIELD_TYPES["string"]


def field_type(spec: FieldSpec) -> FieldType:
    """The entry a field spec is built and checked by."""
    if spec.kind == "password":
        return FIELD_TYPES["password"]
    if spec.choices is not None:
        return FIELD_TYPES["choice"]
    return FIELD_TYPES[spec.format or spec.type]


def attribute_type(name: str, data_type: str) -> FieldType:
    """A pool attribute's entry: by its data type where that decides, else by its standard name."""
    for entry in FIELD_TYPES.values():
        if entry.cognito_type == data_type or (not entry.cognito_type and name in entry.attributes):
            return entry
    return STRING


def validation_data_type(name: str) -> FieldType:
    entry = FIELD_TYPES.get(name)
    return entry if entry is not None and entry.validation_data is not None else STRING


def validation_data_choices() -> list[tuple[str, Any]]:
    """ValidationDataField.type's choices: the migrations name this function, not the list."""
    return [(e.name, e.validation_data) for e in FIELD_TYPES.values() if e.validation_data is not None]


def build_field(spec: FieldSpec) -> forms.Field:
    entry = field_type(spec)
    help_text = spec.help or (_range_hint(spec) if entry.spec_type == "number" else "")
    # Our own messages: Django's built-in ones would differ in tone and language.
    error_messages = {
        "required": lazy_message("required"),
        "min_length": lazy_message("too_short"),
        "max_length": lazy_message("too_long"),
        "invalid_choice": lazy_message("invalid_choice"),
        "null_characters_not_allowed": lazy_message("control_characters"),
    }
    if entry.invalid:
        error_messages["invalid"] = lazy_message(entry.invalid)
    common = {"required": spec.required, "label": spec.label, "help_text": help_text, "error_messages": error_messages}
    attrs = {}
    if spec.placeholder:
        attrs["placeholder"] = spec.placeholder
    if spec.autocomplete:
        attrs["autocomplete"] = spec.autocomplete
    if entry.input not in ("select", "checkbox"):
        attrs["type"] = entry.input  # the rendered input's type is the one schema.json states
    return entry.build(spec, common, attrs)


# --- What the page's script checks ----------------------------------------------------------------


def browser_rule(spec: FieldSpec) -> dict[str, Any]:
    """Everything the server checks about this field's value that the browser can check, as data."""
    entry = field_type(spec)
    checks = entry.checks(spec)
    if spec.kind == "username" and not entry.normalises:
        checks = [*checks, pattern("username_space", USERNAME_PATTERN), *entry.username_checks]
        checks += [shape for name in spec.unlike if (shape := FIELD_TYPES[name].shape) is not None]
    rule: dict[str, Any] = {
        "input": entry.input,
        "strip": SPACE if entry.strip else None,
        "required": "required",
        "checks": checks,
    }
    if entry.assume_scheme:
        rule["assume_scheme"] = entry.assume_scheme
    if spec.required_unless_username:
        # Needed unless the username was given as this very attribute (Cognito copies it then).
        # A check on the username's value: when it passes, this field may stay empty.
        rule["required_unless_username"] = {
            "pattern": EMAIL_PATTERN,
            "flags": "iu",
            "negate": spec.attribute != "email",
        }
    return rule


def consent_rule() -> dict[str, Any]:
    return {"input": "checkbox", "strip": None, "required": "consent_required", "checks": []}


# Text of the page itself, beside the field messages.
PAGE_TEXT = {
    "busy": _("Creating your account…"),
    "summary_title": _("Please correct the following"),
    "show_password": _("Show password"),
    "hide_password": _("Hide password"),
    "rule_met": _("(done)"),
    "rule_unmet": _("(missing)"),
}


def _message_codes(value: Any) -> Iterable[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            if key in ("message", "required") and isinstance(item, str):
                yield item
            else:
                yield from _message_codes(item)
    elif isinstance(value, list):
        for item in value:
            yield from _message_codes(item)


def client_rules(spec: FormSpec) -> dict[str, Any]:
    """What the page carries for its script: schema.json's description of the form (with each field's
    browser rule) and every message those rules show, in the page's language."""
    data = spec.as_json()
    codes = sorted(set(_message_codes(data)))
    data["messages"] = {code: message(code) for code in codes} | {k: str(v) for k, v in PAGE_TEXT.items()}
    return data
