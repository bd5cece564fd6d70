"""The one seam for speed: what a process keeps so that form views and sign-ups do not redo work.

Two stores, one invalidation:
- portals by slug, with their overrides, translations, validation-data fields and webhook endpoints
  loaded, kept for
  SIGNUP_PORTAL_CACHE_SECONDS (5 s by default; 0 turns this off), so a form view or a sign-up runs no
  query for them. Unknown slugs are never kept, so guessing slugs cannot grow the store.
- values derived from a portal (its form spec, the form class, rendered fragments and first-visit
  pages), kept under keys made of what they are built from, so two processes, or one portal loaded
  twice, agree without talking to each other.

A change saved in this process (admin, `manage.py portal`) drops both stores at once (`forget`, wired
to the models' save and delete signals); other processes load the new portal when theirs expires, and
its new content makes new keys. docs/performance.md gives the figure behind each kept value.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

from django.conf import settings
from django.db.models.signals import post_delete, post_save
from django.utils.translation import get_language

from . import schema
from .forms import SignupForm, signup_form_class
from .models import FieldOverride, FieldTranslation, Portal, ValidationDataField, WebhookEndpoint

MAX_PORTALS = 1000
MAX_VALUES = 2048

T = TypeVar("T")

_portals: dict[str, tuple[float, Portal]] = {}
_values: dict[Hashable, Any] = {}
_lock = threading.Lock()


def portal_by_slug(slug: str) -> Portal | None:
    """The portal with its overrides, translations, validation fields and webhook endpoints loaded
    (prefetched), or None."""
    now = time.monotonic()
    entry = _portals.get(slug)
    if entry is not None and entry[0] > now:
        return entry[1]
    portal = (
        Portal.objects.filter(slug=slug)
        .prefetch_related("field_overrides", "field_translations", "validation_fields", "webhook_endpoints")
        .first()
    )
    seconds = settings.SIGNUP_PORTAL_CACHE_SECONDS
    if portal is not None and seconds > 0:
        with _lock:
            if len(_portals) >= MAX_PORTALS:
                _portals.clear()
            _portals[slug] = (now + seconds, portal)
    return portal


def kept(key: Hashable, build: Callable[[], T]) -> T:
    """The value kept under `key`, built once by `build`. A key names everything the value depends on
    (a spec, a language, a portal's last change), so a kept value is never stale, only unused."""
    try:
        return _values[key]
    except KeyError:
        pass
    value = build()
    with _lock:
        if len(_values) >= MAX_VALUES:
            _values.clear()
        _values[key] = value
    return value


def form_spec(portal: Portal, language: str = "") -> schema.FormSpec:
    """The portal's form in `language` (the active one by default), from its stored snapshot and the
    operator's overrides; no AWS call, built once per portal change (a change to its overrides,
    translations or validation-data fields is one too: models.py) and language."""
    language = language or get_language() or settings.LANGUAGE_CODE
    key = ("spec", portal.pk, portal.synced_at, portal.updated_at, language)
    return kept(key, lambda: schema.form_spec(portal.snapshot, *portal.form_inputs(language)))


def form_class(spec: schema.FormSpec) -> type[SignupForm]:
    """The Django form for a spec, one class per distinct spec."""
    return kept(("form_class", spec), lambda: signup_form_class(spec))


def forget(**_: Any) -> None:
    """Drop every kept portal and value (any portal's change: they are few, and changes are rare)."""
    with _lock:
        _portals.clear()
        _values.clear()


def kept_portal_slugs() -> set[str]:
    return set(_portals)


for _model in (Portal, FieldOverride, FieldTranslation, ValidationDataField, WebhookEndpoint):
    post_save.connect(forget, sender=_model, dispatch_uid=f"signup.caching.{_model.__name__}.save")
    post_delete.connect(forget, sender=_model, dispatch_uid=f"signup.caching.{_model.__name__}.delete")
