"""Rendering helpers that tie each input to its help, policy and errors for assistive technology."""

from __future__ import annotations

from typing import Any

from django import template
from django.forms import BoundField
from django.utils.safestring import SafeString

register = template.Library()


@register.simple_tag
def accessible_widget(field: BoundField, *described_by: str) -> SafeString:
    """The widget with aria-describedby (help, extra ids, every error) and aria-invalid when it has errors."""
    ids = [i for i in described_by if i]
    if field.help_text:
        ids.append(f"{field.auto_id}_helptext")
    ids.extend(f"{field.auto_id}_error{n}" for n in range(1, len(field.errors) + 1))
    attrs: dict[str, Any] = {}
    if ids:
        attrs["aria-describedby"] = " ".join(ids)
    if field.errors:
        attrs["aria-invalid"] = "true"
    return field.as_widget(attrs=attrs)
