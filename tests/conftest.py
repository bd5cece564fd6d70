import os

import pytest
from botocore.stub import Stubber
from django.test import Client
from django.test.client import MULTIPART_CONTENT

from signup import cognito

# Describe calls are signed; the emulator accepts any credentials, and no test may reach AWS.
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")

CLIENT_SECRET = "s3cret-value-for-tests-only"


LOOPBACK_NAMES = {"localhost", "testserver"}


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch):
    """No test may reach past this machine: name lookups for anything but loopback fail at once."""
    import socket

    real = socket.getaddrinfo

    def guarded(host, *args, **kwargs):
        name = host.decode() if isinstance(host, bytes) else str(host)
        if name in LOOPBACK_NAMES or name.startswith("127.") or name in ("::1", "[::1]"):
            return real(host, *args, **kwargs)
        raise socket.gaierror(socket.EAI_NONAME, f"tests stay on loopback, not {name}")

    monkeypatch.setattr(socket, "getaddrinfo", guarded)


@pytest.fixture(autouse=True)
def plain_static_files(settings):
    # The manifest storage needs collectstatic; tests serve the source files as they are.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


@pytest.fixture(autouse=True)
def guards_for_tests(settings):
    """Tests fill forms faster than people and sign up many times from 127.0.0.1; the guards' own
    tests (test_guards.py) set these back."""
    settings.SIGNUP_MIN_FILL_SECONDS = 0
    settings.SIGNUP_RATE_LIMITS = {**settings.SIGNUP_RATE_LIMITS, "signup_per_ip": "10000/60"}


class FormClient(Client):
    """Posts to the sign-up forms carry the form token a browser gets with the page it filled in."""

    def post(self, path, data=None, content_type=MULTIPART_CONTENT, **extra):
        from signup.guards import form_token

        form_path = path.startswith(("/signup/", "/embed/")) and "/confirm/" not in path
        if form_path and isinstance(data, dict) and "form_token" not in data:
            data = {**data, "form_token": form_token()}
        elif form_path and isinstance(data, str) and "form_token=" not in data:
            data = f"{data}&form_token={form_token()}"
        return super().post(path, data, content_type, **extra)


@pytest.fixture
def client():
    return FormClient()


@pytest.fixture
def admin_client(db, admin_user):
    client = FormClient()
    client.force_login(admin_user)
    return client


@pytest.fixture(autouse=True)
def empty_cache():
    from django.core.cache import cache

    from signup import caching

    cache.clear()
    caching.forget()
    yield
    cache.clear()
    caching.forget()


@pytest.fixture(autouse=True)
def default_language():
    """A request leaves its language active in the thread (LocaleMiddleware, ?lang=), as Django does; a
    test that renders or validates outside a request must not inherit the previous test's."""
    from django.utils import translation

    translation.deactivate()
    yield
    translation.deactivate()


@pytest.fixture(autouse=True)
def fresh_clients():
    cognito.forget_clients()
    yield
    cognito.forget_clients()


@pytest.fixture
def client_secret(monkeypatch):
    monkeypatch.setenv("ACME_CLIENT_SECRET", CLIENT_SECRET)
    return CLIENT_SECRET


@pytest.fixture
def stub(client_secret):
    """Stubber on the public (SignUp/Confirm/Resend) client for us-east-1 without an endpoint."""
    client = cognito.client_for("us-east-1", None, public=True)
    with Stubber(client) as stubber:
        yield stubber
        stubber.assert_no_pending_responses()


@pytest.fixture
def captcha_standin(settings):
    """The local stand-in for both CAPTCHA verify APIs (tests/captcha_standin.py), with the verify URLs pointing
    at it and a timeout short enough for its "slow" mode."""
    from tests.captcha_standin import CaptchaStandIn

    with CaptchaStandIn() as standin:
        settings.TURNSTILE_VERIFY_URL = settings.HCAPTCHA_VERIFY_URL = standin.url
        settings.SIGNUP_CAPTCHA_TIMEOUT_SECONDS = 0.5
        yield standin


@pytest.fixture(scope="session")
def emulator():
    """The local Cognito on a free loopback port, for the whole run."""
    from signup.emulator.server import start_in_thread

    server, base_url = start_in_thread("127.0.0.1", 0)
    yield base_url
    server.shutdown()


@pytest.fixture
def aws_iam(emulator):
    """IAM users and enforcement on the local Cognito (tests/aws_iam.py); enforcement is off again after."""
    from tests.aws_iam import IamControl

    control = IamControl(emulator)
    yield control
    control.relax()


@pytest.fixture
def demo_pool(emulator):
    """A fresh demo pool (and app client with a secret) on a reset emulator."""
    import requests

    from signup.emulator.demo import create_demo_pool, emulator_client

    requests.post(f"{emulator}/moto-api/reset", timeout=5)
    return create_demo_pool(emulator_client(emulator))


@pytest.fixture
def demo_portal(emulator, demo_pool):
    """The "demo" portal on the demo pool, synced; its secret comes from DescribeUserPoolClient."""
    from signup import flows
    from tests.factories import emulated_portal

    return flows.portal_sync(portal=emulated_portal("demo", demo_pool, emulator))


@pytest.fixture
def worker_in_this_process(monkeypatch):
    """django-tasks-db's worker loop run inside a test: it closes old database connections between
    tasks, as a long-lived process should, but a test's connection holds the test's transaction (on
    PostgreSQL, closing it ends the test), so here that step does nothing. Workers in their own
    process (the subprocess tests) keep it."""
    from django_tasks_db.management.commands import db_worker

    monkeypatch.setattr(db_worker, "close_old_connections", lambda: None)
