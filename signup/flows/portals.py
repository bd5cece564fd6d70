"""Use cases on portals: read a pool's schema from Cognito, and the form it gives."""

from __future__ import annotations

from dataclasses import replace

from django.conf import settings
from django.utils import timezone
from django.utils.translation import get_language

from .. import cognito, logs
from ..caching import kept
from ..models import Portal
from ..schema import ConsentSpec, FormSpec, Override, ValidationDataSpec, form_spec, snapshot_from_descriptions


def portal_sync(*, portal: Portal) -> Portal:
    """Read the pool and client from Cognito and keep what the form needs (never the secret)."""
    pool, client = cognito.describe(portal.target)
    portal.snapshot = snapshot_from_descriptions(pool, client)
    portal.synced_at = timezone.now()
    portal.save(update_fields=["snapshot", "synced_at"])
    logs.event("portal.synced", portal=portal.slug, attributes=len(portal.snapshot["attributes"]))
    return portal


def portal_form_spec(portal: Portal, language: str = "") -> FormSpec:
    """The portal's form in `language` (the active one by default), from its stored snapshot and the
    operator's overrides; no AWS call. Kept under everything it is built from (caching.py)."""
    language = language or get_language() or settings.LANGUAGE_CODE
    overrides = _overrides(portal, language)
    validation = tuple(
        ValidationDataSpec(
            name=v.name,
            label=v.label,
            type=v.type,
            required=v.required,
            help_text=v.help_text,
            max_length=v.max_length,
            order=v.order,
        )
        for v in portal.validation_fields.all()
    )
    consent = (
        ConsentSpec(portal.consent_version, portal.terms_url, portal.privacy_url) if portal.require_consent else None
    )
    key = ("spec", portal.pk, portal.synced_at, language, overrides, validation, consent)
    return kept(key, lambda: form_spec(portal.snapshot, overrides, validation, consent))


def _overrides(portal: Portal, language: str) -> tuple[Override, ...]:
    """The operator's overrides, with the texts of `language` where a translation gives them."""
    translations = {t.attribute: t for t in portal.field_translations.all() if t.language == language}
    overrides = {
        o.attribute: Override(
            attribute=o.attribute,
            label=o.label,
            help_text=o.help_text,
            placeholder=o.placeholder,
            order=o.order,
            hidden=o.hidden,
            choices=tuple(o.choice_list()),
        )
        for o in portal.field_overrides.all()
    }
    for attribute, translation in translations.items():
        base = overrides.get(attribute, Override(attribute=attribute))
        overrides[attribute] = replace(
            base,
            label=translation.label or base.label,
            help_text=translation.help_text or base.help_text,
            placeholder=translation.placeholder or base.placeholder,
        )
    return tuple(sorted(overrides.values(), key=lambda o: o.attribute))
