"""Misconfiguration caught at start-up, with stable ids, instead of at request time."""

import os
from typing import Any

from django.conf import settings
from django.contrib.staticfiles.storage import ManifestFilesMixin
from django.core.checks import Error, Warning, register
from django.core.files.storage import storages


@register()
def check_settings(app_configs: Any, **kwargs: Any) -> list[Any]:
    problems: list[Any] = []
    for alias, db in settings.DATABASES.items():
        if db.get("ATOMIC_REQUESTS"):
            problems.append(
                Error(
                    f"DATABASES[{alias!r}]['ATOMIC_REQUESTS'] is on.",
                    hint="Sign-up attempts must be committed before Cognito is called; turn it off.",
                    id="signup.E001",
                )
            )
    if settings.SIGNUP_TRUSTED_PROXY_COUNT < 0:
        problems.append(
            Error("SIGNUP_TRUSTED_PROXY_COUNT is negative.", hint="Use 0 when no proxy is in front.", id="signup.E002")
        )
    if settings.COGNITO_READ_TIMEOUT <= 0 or settings.COGNITO_CONNECT_TIMEOUT <= 0:
        problems.append(
            Error("Cognito timeouts must be positive.", hint="Set COGNITO_*_TIMEOUT in seconds.", id="signup.E003")
        )
    for pattern in settings.SIGNUP_REDIRECT_ALLOWED_HOSTS:
        if "/" in pattern or pattern in ("*", "*."):
            problems.append(
                Warning(
                    f"SIGNUP_REDIRECT_ALLOWED_HOSTS has {pattern!r}, which is not a host name.",
                    hint="List host names such as app.example.com or *.example.com.",
                    id="signup.W001",
                )
            )
    if settings.SIGNUP_RETENTION_MODE not in ("anonymise", "delete"):
        problems.append(
            Error(
                f"SIGNUP_RETENTION_MODE is {settings.SIGNUP_RETENTION_MODE!r}.",
                hint="Use 'anonymise' or 'delete'.",
                id="signup.E004",
            )
        )
    return problems


@register(deploy=True)
def check_shared_cache(app_configs: Any, **kwargs: Any) -> list[Any]:
    """A deployment runs several processes; what must hold across them lives in the cache."""
    backend = settings.CACHES["default"]["BACKEND"]
    if backend.endswith(("LocMemCache", "DummyCache")):
        return [
            Warning(
                "The cache is each process's own memory: rate limits, single-use ALTCHA solutions and API "
                "idempotency keys are not shared between processes or hosts.",
                hint="Set CACHE_URL=redis://host:6379/1 (or REDIS_URL).",
                id="signup.W002",
            )
        ]
    return []


@register(deploy=True)
def check_aws_credentials(app_configs: Any, **kwargs: Any) -> list[Any]:
    """In production the portal's AWS identity should be a role (an ECS task role, an EC2 instance
    profile...), whose keys boto3's standard chain fetches and renews; long-lived keys in the environment
    are the kind that leak and never expire (docs/deploy.md). Keys with a session token are a role's."""
    if not settings.PRODUCTION or not os.environ.get("AWS_ACCESS_KEY_ID") or os.environ.get("AWS_SESSION_TOKEN"):
        return []
    return [
        Warning(
            "AWS_ACCESS_KEY_ID is set without AWS_SESSION_TOKEN: the portal calls AWS with long-lived static keys.",
            hint="Unset AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY and give the task or instance a role with the "
            "policy `python manage.py iam_policy` prints; boto3 finds the role's credentials itself.",
            id="signup.W003",
        )
    ]


# Not tagged "staticfiles": collectstatic runs only those checks, and it is the command that writes the manifest.
@register()
def check_static_manifest(app_configs: Any, **kwargs: Any) -> list[Any]:
    """With DEBUG off a manifest storage looks up every {% static %} URL in the manifest collectstatic writes;
    without that file every page is a 500, so start-up stops here instead. (manifest_strict=False does not
    help: the storage then hashes the file in STATIC_ROOT, which is just as absent before collectstatic.)"""
    if settings.DEBUG:
        return []  # the storage hands out the plain names, and the files are served from the source tree
    storage = storages["staticfiles"]
    if not isinstance(storage, ManifestFilesMixin) or storage.manifest_storage.exists(storage.manifest_name):
        return []
    location = os.path.join(getattr(storage.manifest_storage, "location", None) or "", storage.manifest_name)
    return [
        Error(
            f"The static files manifest {location} is missing, so every page would fail with "
            f'"Missing staticfiles manifest entry" ({settings.STORAGES["staticfiles"]["BACKEND"]}, DEBUG off).',
            hint="Run `python manage.py collectstatic --noinput` with these settings, or set DEBUG=1 in development.",
            id="signup.E005",
        )
    ]
