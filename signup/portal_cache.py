"""Portals as the public pages read them: kept per process for a few seconds, so a form view or a
sign-up runs no query for the portal, its overrides, translations or validation-data fields.

A change saved in this process (admin, `manage.py portal`) drops the copies at once; other processes
load the new one when theirs expires (SIGNUP_PORTAL_CACHE_SECONDS, 5 s by default; 0 turns this off).
Unknown slugs are never kept, so guessing slugs cannot grow the cache.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from django.conf import settings
from django.db.models.signals import post_delete, post_save

from .models import FieldOverride, FieldTranslation, Portal, ValidationDataField

MAX_PORTALS = 1000

_entries: dict[str, tuple[float, Portal]] = {}
_lock = threading.Lock()


def portal_by_slug(slug: str) -> Portal | None:
    """The portal with its overrides, translations and validation fields loaded (prefetched), or None."""
    now = time.monotonic()
    entry = _entries.get(slug)
    if entry is not None and entry[0] > now:
        return entry[1]
    portal = (
        Portal.objects.filter(slug=slug)
        .prefetch_related("field_overrides", "field_translations", "validation_fields")
        .first()
    )
    seconds = settings.SIGNUP_PORTAL_CACHE_SECONDS
    if portal is not None and seconds > 0:
        with _lock:
            if len(_entries) >= MAX_PORTALS:
                _entries.clear()
            _entries[slug] = (now + seconds, portal)
    return portal


def forget(**_: Any) -> None:
    """Drop every kept portal (any portal's change: they are few, and changes are rare)."""
    with _lock:
        _entries.clear()


for _model in (Portal, FieldOverride, FieldTranslation, ValidationDataField):
    post_save.connect(forget, sender=_model, dispatch_uid=f"signup.portal_cache.{_model.__name__}.save")
    post_delete.connect(forget, sender=_model, dispatch_uid=f"signup.portal_cache.{_model.__name__}.delete")
