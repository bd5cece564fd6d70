"""Load-balancer probes and the scrape: /healthz says the process answers, /readyz that its database and
cache do, /metrics (behind METRICS_TOKEN) what it counted (signup/metrics.py)."""

from __future__ import annotations

import hmac
import uuid

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from . import metrics


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


@never_cache
@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    checks = {"database": _database(), "cache": _cache()}
    ready = all(checks.values())
    return JsonResponse(
        {
            "status": "ok" if ready else "unavailable",
            "checks": {k: "ok" if v else "failing" for k, v in checks.items()},
        },
        status=200 if ready else 503,
    )


def _database() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            return cursor.fetchone() == (1,)
    except Exception:  # any failure means not ready; the probe must answer, not crash
        return False


def _cache() -> bool:
    key = f"signup:readyz:{uuid.uuid4().hex}"
    try:
        cache.set(key, "1", 5)
        ok = cache.get(key) == "1"
        cache.delete(key)
        return ok
    except Exception:  # as above
        return False


@never_cache
@require_GET
def metrics_view(request: HttpRequest) -> HttpResponse:
    """GET /metrics: off (404) without METRICS_TOKEN; 401 and nothing else without the right bearer token."""
    token = settings.METRICS_TOKEN
    if not token:
        raise Http404
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), token.encode()):
        response = HttpResponse(status=401)
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    content, content_type = metrics.exposition()
    return HttpResponse(content, content_type=content_type)
