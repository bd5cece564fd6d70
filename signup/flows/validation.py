"""A sign-up request checked against the portal's form: the same rules for every channel.

The generated Django form (forms.py) is the rule book: a channel's plain values are laid out under the
form's input names, checked, and read back as Cognito's attributes and validation data.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django import forms
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.utils.datastructures import MultiValueDict

from ..caching import form_class
from ..forms import SignupForm
from ..schema import FormSpec
from .requests import Problem, SignupRequest


def form_data(spec: FormSpec, request: SignupRequest) -> dict[str, Any]:
    """The request under the form's input names; values the form has no field for are left out (a
    channel that can receive them says so through the request's `input_errors`)."""
    data: dict[str, Any] = {"username": request.username, "password": request.password}
    for field in spec.fields:
        if field.kind == "attribute" and field.attribute in request.attributes:
            data[field.name] = request.attributes[field.attribute]
        elif field.kind == "validation_data" and field.data_name in request.validation_data:
            data[field.name] = request.validation_data[field.data_name]
    if request.consent:
        data["consent"] = "on"
    return data


def values_from_form_data(spec: FormSpec, data: Mapping[str, Any]) -> dict[str, Any]:
    """The other way round, for channels that post the form itself (page, frame): the keyword values of
    a SignupRequest, read from the form's inputs."""
    attributes, validation_data = {}, {}
    for field in spec.fields:
        value = data.get(field.name)
        if field.type == "boolean" and field.kind in ("attribute", "validation_data"):
            # A checkbox left unticked sends nothing, and on a page that is a "no".
            value = "true" if forms.CheckboxInput().value_from_datadict(data, MultiValueDict(), field.name) else "false"
        if not isinstance(value, str):
            continue
        if field.kind == "attribute" and field.attribute:
            attributes[field.attribute] = value
        elif field.kind == "validation_data":
            validation_data[field.data_name] = value
    return {
        "username": text_value(data.get("username")),
        "password": text_value(data.get("password")),
        "attributes": attributes,
        "validation_data": validation_data,
        # As the form's checkbox reads it: "false" or "0" is no consent.
        "consent": bool(forms.CheckboxInput().value_from_datadict(data, MultiValueDict(), "consent")),
    }


def text_value(value: Any) -> str:
    """A posted value as text: "" for a missing one or a list (a name sent twice)."""
    return value if isinstance(value, str) else ""


def checked_form(spec: FormSpec, request: SignupRequest) -> SignupForm:
    """The bound form, checked; what the channel found wrong while reading its input joins its errors."""
    form = form_class(spec)(data=form_data(spec, request))
    form.is_valid()
    for problem in request.input_errors:
        form.add_error(None, ValidationError(problem.message, code=problem.code))
    return form


def problems(form: forms.Form) -> dict[str, list[Problem]]:
    """The form's errors by input name (NON_FIELD_ERRORS for the whole form), each with its code."""
    return {
        name: [Problem(error.code or "invalid", " ".join(error.messages)) for error in errors]
        for name, errors in form.errors.as_data().items()
    }


NON_FIELD = NON_FIELD_ERRORS
