"""Field specs -> Django forms. Validation and normalisation only: no I/O.

Everything Cognito would reject is rejected here first, with a message on the field concerned,
so no request is wasted and nobody sees Cognito's raw text.
"""

from __future__ import annotations

import functools
import re
import unicodedata
import zoneinfo
from datetime import date
from decimal import Decimal
from typing import Any

import phonenumbers
from django import forms
from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator
from django.utils import timezone
from django.utils.formats import get_format, number_format
from django.utils.functional import lazy
from django.utils.text import format_lazy
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from .messages import lazy_message, message
from .schema import MAX_ATTRIBUTE_LENGTH, FieldSpec, FormSpec

LOCALE_TAG = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$")
# Cognito's Username pattern allows letters, marks, symbols, numbers and punctuation only (docs/cognito.md §3.1).
# (ClientId has a different pattern, ASCII word characters and +: docs/cognito.md §2.2.)
USERNAME_CATEGORIES = ("L", "M", "S", "N", "P")
E164 = re.compile(r"^\+[1-9]\d{1,14}$")
WHOLE_NUMBER = re.compile(r"^[+-]?\d{1,30}$")


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


COUNTRY_BY_LANGUAGE = {"en": "US", "es": "ES", "de": "DE"}


def phone_hint() -> str:
    """An example of the expected form, with the country code of the reader's language."""
    region = COUNTRY_BY_LANGUAGE.get((get_language() or "en")[:2], "US")
    example = phonenumbers.example_number_for_type(region, phonenumbers.PhoneNumberType.MOBILE)
    formatted = phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164) if example else "+14155552671"
    return str(_("Start with + and your country code, e.g. %(example)s.") % {"example": formatted})


def fail(code: str) -> ValidationError:
    return ValidationError(message(code), code=code)


# --- Field builders: one Django field per spec -------------------------------------------------


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


class BirthdateField(forms.DateField):
    """ISO dates (what a date picker sends), and the reader's own way of writing a date."""

    def to_python(self, value: Any) -> date | None:
        # The instance's own copy: form fields are deep-copied per form, and the language is per request.
        self.input_formats = ["%Y-%m-%d", *get_format("DATE_INPUT_FORMATS")]
        return super().to_python(value)

    def validate(self, value: Any) -> None:
        super().validate(value)
        if value and value > timezone.localdate():
            raise fail("date_in_future")


def _out_of_range(message_code: str, code: str, limit: Decimal) -> ValidationError:
    localised = number_format(limit, force_grouping=True)
    return ValidationError(message(message_code), code=code, params={"limit_value": localised})


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


def _range_hint(spec: FieldSpec) -> Any:
    """ "Between 1 and 100,000." in the reader's language and number format, decided at render time."""
    localised = lazy(lambda value: number_format(Decimal(value), force_grouping=True), str)
    if spec.min_value is not None and spec.max_value is not None:
        return format_lazy(
            _("Between {low} and {high}."), low=localised(spec.min_value), high=localised(spec.max_value)
        )
    if spec.min_value is not None:
        return format_lazy(_("At least {low}."), low=localised(spec.min_value))
    if spec.max_value is not None:
        return format_lazy(_("At most {high}."), high=localised(spec.max_value))
    return ""


INVALID_BY_TYPE = {"email": "invalid_email", "url": "invalid_url", "date": "invalid_date", "phone": "invalid_phone"}


def _common(spec: FieldSpec) -> dict[str, Any]:
    """Label, help and our own messages: Django's built-in ones would differ in tone and language."""
    help_text = spec.help or (_range_hint(spec) if spec.type == "number" else "")
    error_messages = {
        "required": lazy_message("required"),
        "min_length": lazy_message("too_short"),
        "max_length": lazy_message("too_long"),
        "invalid_choice": lazy_message("invalid_choice"),
    }
    if spec.type in INVALID_BY_TYPE:
        error_messages["invalid"] = lazy_message(INVALID_BY_TYPE[spec.type])
    return {"required": spec.required, "label": spec.label, "help_text": help_text, "error_messages": error_messages}


def _widget_attrs(spec: FieldSpec) -> dict[str, str]:
    attrs = {}
    if spec.placeholder:
        attrs["placeholder"] = spec.placeholder
    if spec.autocomplete:
        attrs["autocomplete"] = spec.autocomplete
    return attrs


def within_attribute_bytes(value: str) -> None:
    # Cognito's limit is 2,048 bytes, not characters (docs/cognito.md §4.4).
    if value and len(value.encode("utf-8", "surrogatepass")) > MAX_ATTRIBUTE_LENGTH:
        raise fail("value_too_long_bytes")


def _text_kwargs(spec: FieldSpec) -> dict[str, Any]:
    return {
        **_common(spec),
        "min_length": spec.min_length,
        "max_length": spec.max_length,
        "validators": [within_attribute_bytes],
    }


class FixedChoiceField(forms.ChoiceField):
    """Choices that come from the spec and never change: every form instance shares them. Django
    deep-copies a ChoiceField's choices for each form, which for the ~550 time zones was a
    millisecond of every page view and sign-up."""

    def __deepcopy__(self, memo: dict[int, Any]) -> FixedChoiceField:
        result: FixedChoiceField = forms.Field.__deepcopy__(self, memo)  # not ChoiceField's: it copies choices
        result._choices = self._choices  # type: ignore[attr-defined]
        return result


def build_field(spec: FieldSpec) -> forms.Field:
    attrs = _widget_attrs(spec)
    if spec.kind == "password":
        # The policy check reports every broken rule itself; Django's length checks would hide them.
        return forms.CharField(
            strip=False,
            widget=forms.PasswordInput(attrs={**attrs, "maxlength": str(spec.max_length)}),
            **_common(spec),
        )
    if spec.choices is not None:
        choices = [("", "—")] + [(c, c) for c in spec.choices]
        return FixedChoiceField(choices=choices, widget=forms.Select(attrs=attrs), **_common(spec))
    if spec.type == "boolean":
        return forms.BooleanField(**{**_common(spec), "required": False})
    if spec.type == "number":
        return CognitoNumberField(
            min_value=spec.min_value, max_value=spec.max_value, widget=forms.NumberInput(attrs=attrs), **_common(spec)
        )
    if spec.type == "date":
        return BirthdateField(widget=forms.DateInput(attrs={**attrs, "type": "date"}), **_common(spec))
    if spec.type == "email":
        field = forms.EmailField(widget=forms.EmailInput(attrs=attrs), **_text_kwargs(spec))
        field.validators = [v for v in field.validators if not isinstance(v, EmailValidator)] + [validate_address]
        return field
    if spec.type == "phone":
        return PhoneField(widget=forms.TextInput(attrs={**attrs, "type": "tel"}), **_text_kwargs(spec))
    if spec.type == "url":
        return forms.URLField(widget=forms.URLInput(attrs=attrs), assume_scheme="https", **_text_kwargs(spec))
    if spec.format == "zoneinfo":
        # The tz database also lists aliases such as "localtime" and "posixrules", which are not zones.
        zones = sorted(z for z in zoneinfo.available_timezones() if "/" in z or z == "UTC")
        return FixedChoiceField(
            choices=[("", "—")] + [(z, z) for z in zones], widget=forms.Select(attrs=attrs), **_common(spec)
        )
    if spec.format == "locale":
        return LocaleField(widget=forms.TextInput(attrs=attrs), **_text_kwargs(spec))
    return TextValueField(widget=forms.TextInput(attrs=attrs), **_text_kwargs(spec))


def to_cognito_value(spec: FieldSpec, value: Any) -> str | None:
    """The string Cognito stores, or None to leave the attribute out."""
    if spec.type == "boolean":
        return "true" if value else "false"
    if value in (None, ""):
        return None
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


# --- The sign-up form ------------------------------------------------------------------------


class SignupForm(forms.Form):
    spec: FormSpec

    def clean_username(self) -> str:
        username: str = self.cleaned_data["username"]
        mode = self.spec.username_mode
        if not is_cognito_username(username):
            raise fail("username_space")
        if mode == "email":
            return username  # already an EmailField
        if mode == "phone":
            return username  # already normalised by PhoneField
        if mode == "email_or_phone":
            if looks_like_email(username):
                return username
            phone = normalise_phone(username)
            if phone is None:
                raise fail("username_not_email_or_phone")
            return phone
        if "email" in self.spec.alias_attributes and looks_like_email(username):
            raise fail("username_looks_like_email")
        if "phone_number" in self.spec.alias_attributes and normalise_phone(username):
            raise fail("username_looks_like_phone")
        return username

    def clean_password(self) -> str:
        password: str = self.cleaned_data.get("password") or ""
        if not password and self.spec.password_policy.optional:
            return ""
        failures = self.spec.password_policy.failures(password)
        if failures:
            raise ValidationError([fail(code) for code in failures])
        return password

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        username = cleaned.get("username")
        if self.spec.username_mode == "email_or_phone" and username:
            # The attribute the user did not give as username may be required by the pool.
            typed = "email" if looks_like_email(username) else "phone_number"
            for attribute in self.spec.username_copies:
                spec = self.spec.for_attribute(attribute)
                if spec is None or attribute == typed:
                    continue
                if attribute in self.spec.required_copies and not cleaned.get(spec.name):
                    self.add_error(spec.name, fail("required"))
        return cleaned

    def attributes(self) -> list[tuple[str, str]]:
        """UserAttributes: every filled attribute field, plus no copy of the username's attribute."""
        pairs = []
        username = self.cleaned_data.get("username", "")
        typed = None
        if self.spec.username_mode == "email_or_phone":
            typed = "email" if looks_like_email(username) else "phone_number"
        for spec in self.spec.fields:
            if spec.kind != "attribute" or spec.attribute == typed:
                continue
            value = to_cognito_value(spec, self.cleaned_data.get(spec.name))
            if value is not None:
                pairs.append((spec.attribute or spec.name, value))
        return pairs

    def validation_data(self) -> list[tuple[str, str]]:
        pairs = []
        for spec in self.spec.fields:
            if spec.kind != "validation_data":
                continue
            value = to_cognito_value(spec, self.cleaned_data.get(spec.name))
            if value is not None:
                pairs.append((spec.data_name, value))
        return pairs

    def submitted_attributes(self) -> dict[str, str]:
        """What the user typed, for the attempt record when the form refuses it (never the password)."""
        recorded = {}
        for spec in self.spec.fields:
            if spec.kind == "attribute":
                raw = self.data.get(spec.name)
                if isinstance(raw, str) and raw:
                    recorded[spec.attribute or spec.name] = raw
        return recorded


@functools.lru_cache(maxsize=256)
def signup_form_class(spec: FormSpec) -> type[SignupForm]:
    """One form class per distinct spec: built once, reused by every page view."""
    fields = {f.name: build_field(f) for f in spec.fields}
    if spec.consent is not None:
        fields["consent"] = forms.BooleanField(
            required=True,
            label=_("I accept the terms and the privacy notice"),
            error_messages={"required": lazy_message("consent_required")},
        )
    return type("GeneratedSignupForm", (SignupForm,), {**fields, "spec": spec})


# --- Confirmation --------------------------------------------------------------------------------


class ConfirmForm(forms.Form):
    username = forms.CharField(max_length=128, required=True)
    code = forms.CharField(
        label=_("Confirmation code"),
        max_length=64,
        required=True,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}),
    )

    def __init__(self, *args: Any, username_label: str = "", resend: bool = False, **kwargs: Any):
        super().__init__(*args, **kwargs)
        if username_label:
            self.fields["username"].label = username_label
        self.fields["code"].error_messages["required"] = lazy_message("required")
        # Asking for a new code needs no code; the field stays required for confirming.
        self.fields["code"].required = not resend

    def clean_username(self) -> str:
        username: str = self.cleaned_data["username"].strip()
        if not is_cognito_username(username):
            raise fail("username_space")
        return username

    def clean_code(self) -> str:
        code: str = "".join(self.cleaned_data.get("code", "").split())
        if code and (len(code) > 64 or has_control_characters(code)):
            raise fail("code_format")
        return code
