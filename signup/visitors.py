"""Who is visiting, read from an HTTP request, for the browser channels (page and frame) and the API."""

from __future__ import annotations

import ipaddress
from typing import Any

from django.conf import settings
from django.http import HttpRequest
from django.utils.translation import get_language

from .cognito import ANALYTICS_ENDPOINT_ID, MAX_ENCODED_DATA
from .flows import Visitor
from .models import Portal, SignupAttempt

MAX_CLIENT_METADATA_PARAMS = 10
MAX_CLIENT_METADATA_VALUE = 256


def visitor_from(request: HttpRequest, portal: Portal, *, embed_origin: str | None = None) -> Visitor:
    """The visitor of a page (embed_origin None) or of a frame on `embed_origin` ("" when the claimed
    parent is not a listed origin)."""
    framed = embed_origin is not None
    return Visitor(
        channel=SignupAttempt.Channel.EMBED if framed else SignupAttempt.Channel.WEB,
        client_ip=client_ip(request.META),
        user_agent=str(request.META.get("HTTP_USER_AGENT", "")),
        client_metadata=client_metadata_for(portal, request.GET),
        analytics_endpoint_id=analytics_endpoint_id(request.GET),
        encoded_data=encoded_data(portal, request.POST),
        page=embed_origin if embed_origin is not None else request.build_absolute_uri(),
        language=get_language() or "",
        embed_origin=embed_origin or "",
    )


def api_visitor_from(request: HttpRequest, portal: Portal, client_metadata: dict[str, str]) -> Visitor:
    """The visitor of an API call: ClientMetadata from the body (only the names the portal lets through),
    no page and no device data (threat protection's script runs in a page)."""
    return Visitor(
        channel=SignupAttempt.Channel.API,
        client_ip=client_ip(request.META),
        user_agent=str(request.META.get("HTTP_USER_AGENT", "")),
        client_metadata=client_metadata_for(portal, client_metadata),
        page=request.build_absolute_uri(),
        language=get_language() or "",
    )


def client_ip(meta: dict[str, Any]) -> str | None:
    """The visitor's address: X-Forwarded-For only as far as our own trusted proxies wrote it."""
    remote = meta.get("REMOTE_ADDR") or ""
    hops = settings.SIGNUP_TRUSTED_PROXY_COUNT
    candidate = remote
    if hops > 0:
        forwarded = [h.strip() for h in str(meta.get("HTTP_X_FORWARDED_FOR", "")).split(",") if h.strip()]
        # Each trusted proxy appends the address it saw; the one `hops` from the right is the client.
        if len(forwarded) >= hops:
            candidate = forwarded[-hops]
    for value in (candidate, remote):
        try:
            address = ipaddress.ip_address(value)
        except ValueError:
            continue
        # A zone index (fe80::1%eth0) is local to the proxy's host, not the visitor's address.
        if getattr(address, "scope_id", None) is None:
            return str(address)
    return None


def client_metadata_for(portal: Portal, query: Any) -> dict[str, str]:
    """The portal's static ClientMetadata plus the query parameters it lets through, bounded in size."""
    metadata = {str(k): str(v) for k, v in (portal.client_metadata or {}).items()}
    allowed = [p for p in (portal.client_metadata_params or []) if isinstance(p, str)]
    for name in allowed[:MAX_CLIENT_METADATA_PARAMS]:
        value = query.get(name)
        if isinstance(value, str) and value and len(value) <= MAX_CLIENT_METADATA_VALUE and value.isprintable():
            metadata[name] = value
    return metadata


def analytics_endpoint_id(query: Any) -> str:
    value = query.get("analytics_endpoint_id", "")
    return value if isinstance(value, str) and ANALYTICS_ENDPOINT_ID.match(value) else ""


def encoded_data(portal: Portal, post: Any) -> str:
    """The threat-protection script's device data, only where the portal loads that script."""
    value = post.get("user_context_data", "") if portal.advanced_security else ""
    if not isinstance(value, str) or len(value) > MAX_ENCODED_DATA or not value.isprintable():
        return ""
    return value
