"""Start-up checks: a misconfigured portal stops with the fix in hand before a visitor meets a 500."""

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from django.core import checks
from django.core.management import call_command

from tests.factories import make_portal

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parent.parent
MANIFEST_STORAGES = [
    "whitenoise.storage.CompressedManifestStaticFilesStorage",  # the default with DEBUG off
    "django.contrib.staticfiles.storage.ManifestStaticFilesStorage",
]


def manage(*args, timeout=120, **env):
    """manage.py in its own process with the production defaults: nothing of DEBUG, the key, the static
    files storage or AWS keys is inherited from this shell (production takes AWS credentials from a role)."""
    inherited = ("SECRET_KEY", "DEBUG", "PORTAL_ENV", "STATICFILES_BACKEND", "STATIC_ROOT", "AWS_ACCESS_KEY_ID")
    inherited += ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")
    base = {k: v for k, v in os.environ.items() if not k.startswith(inherited)}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.fixture(scope="module")
def collected_static(tmp_path_factory):
    """A STATIC_ROOT that collectstatic filled, as a release does, with the default storage."""
    root = tmp_path_factory.mktemp("static")
    result = manage("collectstatic", "--noinput", "-v0", STATIC_ROOT=str(root))
    assert result.returncode == 0, result.stdout + result.stderr
    return root


def static_storage(settings, backend, root, debug=False):
    settings.DEBUG = debug
    settings.STATIC_ROOT = str(root)
    settings.STORAGES = {**settings.STORAGES, "staticfiles": {"BACKEND": backend}}


def manifest_errors():
    return [message for message in checks.run_checks() if message.id == "signup.E005"]


@pytest.mark.parametrize("backend", MANIFEST_STORAGES)
def test_without_collectstatic_the_check_stops_what_would_be_a_500_on_every_page(client, settings, tmp_path, backend):
    make_portal()
    static_storage(settings, backend, tmp_path)
    with pytest.raises(ValueError, match="Missing staticfiles manifest entry for 'signup/portal.css'"):
        client.get("/signup/acme/")
    [error] = manifest_errors()
    assert error.level == checks.ERROR
    assert str(tmp_path / "staticfiles.json") in error.msg
    assert "python manage.py collectstatic" in error.hint


@pytest.mark.parametrize("backend", MANIFEST_STORAGES)
def test_after_collectstatic_the_check_passes_and_pages_use_the_hashed_names(client, settings, tmp_path, backend):
    make_portal()
    static_storage(settings, backend, tmp_path)
    call_command("collectstatic", "--noinput", verbosity=0)
    assert manifest_errors() == []
    page = client.get("/signup/acme/").content.decode()
    assert re.search(r'href="/static/signup/portal\.[0-9a-f]{12}\.css"', page)


def test_with_debug_on_or_a_plain_storage_no_manifest_is_needed(client, settings, tmp_path):
    make_portal()
    static_storage(settings, MANIFEST_STORAGES[0], tmp_path, debug=True)
    assert manifest_errors() == []
    assert 'href="/static/signup/portal.css"' in client.get("/signup/acme/").content.decode()
    static_storage(settings, "django.contrib.staticfiles.storage.StaticFilesStorage", tmp_path)
    assert manifest_errors() == []
    assert client.get("/signup/acme/").status_code == 200


def test_manage_py_check_refuses_until_collectstatic_has_run(tmp_path, collected_static):
    refused = manage("check", STATIC_ROOT=str(tmp_path))
    assert refused.returncode != 0
    assert "signup.E005" in refused.stderr and "python manage.py collectstatic" in refused.stderr
    assert manage("check", STATIC_ROOT=str(collected_static)).returncode == 0


def test_runserver_with_debug_unset_refuses_to_start_instead_of_serving_500s(tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # Before the check this served (every page a 500) until the timeout.
    result = manage(
        "runserver",
        "--noreload",
        f"127.0.0.1:{port}",
        timeout=60,
        STATIC_ROOT=str(tmp_path / "static"),
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
    )
    assert result.returncode != 0
    assert "signup.E005" in result.stderr and "collectstatic" in result.stderr
