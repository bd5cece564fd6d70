"""Handing out the portal's proof-of-work challenge, for the form page, the frame and the API alike."""

from __future__ import annotations

from typing import Any

from .. import challenges
from ..models import Challenge, Portal


def signup_challenge(*, portal: Portal) -> dict[str, Any] | None:
    """A new ALTCHA challenge for the portal's sign-up, or None when the portal's check is not ALTCHA
    (none, or a provider's widget, which gets its challenge from the provider)."""
    if portal.challenge != Challenge.ALTCHA or portal.unavailable_reason:
        return None
    return challenges.altcha_challenge(portal)
