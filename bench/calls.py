"""What one form view and one sign-up cost in one process, in figures that do not move with the load:
Python function calls (cProfile) per first-visit form page, per framed form page and per sign-up POST,
plus the CPU time per sign-up POST. Django's test client, a new SQLite file, Cognito stubbed.

    .venv/bin/python bench/calls.py [--root DIR] [--views 200] [--signups 300] [--trace]

--root measures another checkout of the portal (an earlier commit, with `git worktree add`) with this
Python, so two versions of the code compare on one machine in one minute; bench/run.py measures the
whole stack under load. --trace measures with OpenTelemetry's traces on (signup/tracing.py), every span
kept in memory rather than sent, so the figure is the instrumentation's and the scrubber's own cost.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# bench/profile.py would stand in for the standard library's `profile`, which cProfile imports.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
CLIENT_SECRET = "s3cret-value-for-tests-only"  # what tests.factories.make_portal's secret variable holds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=ROOT, help="the checkout to measure (default: this one)")
    parser.add_argument("--views", type=int, default=200)
    parser.add_argument("--signups", type=int, default=300)
    parser.add_argument("--trace", action="store_true", help="with traces on, to an in-memory exporter")
    args = parser.parse_args()
    root = args.root.resolve()
    sys.path.insert(0, str(root))
    os.chdir(root)
    in_new_django("signup-calls-")
    if args.trace:  # before the first Client: Django's instrumentation adds a middleware
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

        from signup import tracing

        tracing.configure(exporter=InMemorySpanExporter())
    from botocore.stub import Stubber
    from django.test import Client

    from signup import cognito, guards
    from tests.factories import make_portal

    make_portal(embed_origins=["https://shop.example.com"])
    print(f"code measured: {root}{' (traced)' if args.trace else ''}")
    for label, path in (
        ("form page", "/signup/acme/"),
        ("framed form page", "/embed/acme/?parent=https://shop.example.com"),
    ):
        browser = Client()
        for _ in range(20):
            browser.get(path)
        calls = profiled(lambda browser=browser, path=path: [browser.get(path) for _ in range(args.views)])
        print(f"{label}: {calls / args.views:,.0f} function calls per view")

    browser = Client()
    browser.get("/signup/acme/")
    stub = Stubber(cognito.client_for("us-east-1", None, public=True))
    stub.activate()
    counter = iter(range(10**9))

    def sign_up() -> None:
        n = next(counter)
        stub.add_response("sign_up", {"UserConfirmed": False, "UserSub": f"sub-{n}"})
        data = {
            "username": f"user{n}",
            "password": "Str0ng!Passw0rd",
            "email": f"user{n}@example.com",
            "form_token": guards.form_token(),
        }
        answer = browser.post("/signup/acme/", data)
        if answer.status_code != 302:
            raise SystemExit(f"a sign-up answered {answer.status_code}, not the redirect to the confirm step")

    for _ in range(30):
        sign_up()
    started = time.process_time()
    for _ in range(args.signups):
        sign_up()
    cpu = (time.process_time() - started) / args.signups * 1000
    calls = profiled(lambda: [sign_up() for _ in range(args.signups)])
    print(f"sign-up POST: {calls / args.signups:,.0f} function calls, {cpu:.2f} ms CPU (unprofiled)")


def in_new_django(prefix: str) -> None:
    """Django set up in this process on a new, migrated SQLite file, with the guards' limits out of the
    way and the secret make_portal's portals read: what every one-process figure here starts from."""
    database = Path(tempfile.mkdtemp(prefix=prefix)) / "db.sqlite3"
    os.environ.update(
        DJANGO_SETTINGS_MODULE="portal.settings",
        DATABASE_URL=f"sqlite:///{database}",
        DEBUG="1",
        SIGNUP_MIN_FILL_SECONDS="0",
        SIGNUP_RATE_SIGNUP_PER_IP="100000000/600",
        SIGNUP_RATE_SIGNUP_PER_PORTAL="100000000/60",
        SIGNUP_RATE_SIGNUP_PER_USERNAME="100000000/60",
        AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench",
        ACME_CLIENT_SECRET=CLIENT_SECRET,
    )
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    settings.ALLOWED_HOSTS = ["*"]
    call_command("migrate", verbosity=0)


def profiled(action: object) -> int:
    import cProfile
    import pstats

    profile = cProfile.Profile()
    profile.enable()
    action()  # type: ignore[operator]
    profile.disable()
    return pstats.Stats(profile).total_calls  # type: ignore[attr-defined, no-any-return]


if __name__ == "__main__":
    main()
