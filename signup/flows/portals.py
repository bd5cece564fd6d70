"""Use cases on portals: read a pool's schema from Cognito (the form it gives is caching.form_spec)."""

from __future__ import annotations

from django.utils import timezone

from .. import cognito, logs
from ..models import Portal
from ..schema import snapshot_from_descriptions


def portal_sync(*, portal: Portal) -> Portal:
    """Read the pool and client from Cognito and keep what the form needs (never the secret)."""
    pool, client = cognito.describe(portal.target)
    portal.snapshot = snapshot_from_descriptions(pool, client)
    portal.synced_at = timezone.now()
    portal.save(update_fields=["snapshot", "synced_at"])
    logs.event("portal.synced", portal=portal.slug, attributes=len(portal.snapshot["attributes"]))
    return portal
