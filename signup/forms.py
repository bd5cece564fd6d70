"""Field specs -> Django forms. Validation and normalisation only: no I/O.

Everything Cognito would reject is rejected here first, with a message on the field concerned,
so no request is wasted and nobody sees Cognito's raw text. Each field is built by its type's entry
in fields.FIELD_TYPES, which also tells the page's script the same rules.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import phonenumbers
from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from .fields import (
    FIELD_TYPES,
    FixedChoiceField,
    build_field,
    fail,
    has_control_characters,
    is_cognito_username,
    looks_like_email,
    normalise_phone,
    passes,
)
from .messages import lazy_message
from .schema import FieldSpec, FormSpec

# Other modules take these from here.
__all__ = [
    "ConfirmForm",
    "FixedChoiceField",
    "SignupForm",
    "has_control_characters",
    "is_cognito_username",
    "looks_like_email",
    "normalise_phone",
    "phone_hint",
    "signup_form_class",
]

COUNTRY_BY_LANGUAGE = {"en": "US", "es": "ES", "de": "DE"}


def phone_hint() -> str:
    """An example of the expected form, with the country code of the reader's language."""
    region = COUNTRY_BY_LANGUAGE.get((get_language() or "en")[:2], "US")
    example = phonenumbers.example_number_for_type(region, phonenumbers.PhoneNumberType.MOBILE)
    formatted = phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164) if example else "+14155552671"
    return str(_("Start with + and your country code, e.g. %(example)s.") % {"example": formatted})


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
        for name in self.spec.field("username").unlike:
            shape = FIELD_TYPES[name].shape
            if shape is not None and not passes(shape, username):
                raise fail(shape["message"])
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
            for spec in self.spec.fields:
                if spec.required_unless_username and spec.attribute != typed and not cleaned.get(spec.name):
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
            if spec.kind != "attribute" or spec.attribute == typed or not self._given(spec):
                continue
            value = to_cognito_value(spec, self.cleaned_data.get(spec.name))
            if value is not None:
                pairs.append((spec.attribute or spec.name, value))
        return pairs

    def validation_data(self) -> list[tuple[str, str]]:
        pairs = []
        for spec in self.spec.fields:
            if spec.kind != "validation_data" or not self._given(spec):
                continue
            value = to_cognito_value(spec, self.cleaned_data.get(spec.name))
            if value is not None:
                pairs.append((spec.data_name, value))
        return pairs

    def _given(self, spec: FieldSpec) -> bool:
        """A yes/no value is sent only when the request gave one: a channel's "not given" is not a "no"
        (a page's unticked checkbox is a "no", and the page says so: flows/validation.py)."""
        return spec.type != "boolean" or spec.name in self.data

    def submitted_attributes(self) -> dict[str, str]:
        """What the user typed, for the attempt record when the form refuses it (never the password)."""
        recorded = {}
        for spec in self.spec.fields:
            if spec.kind == "attribute":
                raw = self.data.get(spec.name)
                if isinstance(raw, str) and raw:
                    recorded[spec.attribute or spec.name] = raw
        return recorded


def signup_form_class(spec: FormSpec) -> type[SignupForm]:
    """The form class for a spec; caching.form_class keeps one per distinct spec."""
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
