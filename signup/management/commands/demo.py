"""python manage.py demo: the local Cognito, a demo pool and portal, an admin login, the portal itself, and
the webhook worker next to it (as the Procfile's `worker:`)."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import IO, Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser

from signup import flows, webhooks
from signup.emulator.demo import create_demo_pool, emulator_client
from signup.emulator.server import start_in_thread
from signup.models import Challenge, Portal, ValidationDataField

# What the Procfile's worker runs; no autoreload, so stopping the process stops the worker.
WORKER_ARGS = ["db_worker", "--queue-name", webhooks.QUEUE, "--no-reload"]
WORKER_PREFIX = "worker | "


@dataclass
class Worker:
    process: subprocess.Popen[str]
    relay: threading.Thread

    def stop(self, timeout: float = 5.0) -> int:
        """Ask it to finish (SIGTERM: db_worker ends its task first), then insist."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.relay.join(timeout)
        return self.process.returncode


def start_worker(
    write: Callable[[str], Any],
    *,
    extra: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    popen: Callable[..., subprocess.Popen[str]] = subprocess.Popen,
) -> Worker:
    """`manage.py db_worker` for the webhooks queue in a process of its own, each line of its output
    written with a "worker | " prefix."""
    process = popen(
        [sys.executable, str(settings.BASE_DIR / "manage.py"), *WORKER_ARGS, *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
    )
    relay = threading.Thread(target=_relay, args=(process.stdout, write), name="demo-worker-output", daemon=True)
    relay.start()
    return Worker(process, relay)


def _relay(lines: IO[str] | Iterable[str] | None, write: Callable[[str], Any]) -> None:
    for line in lines or ():
        write(WORKER_PREFIX + line.rstrip("\n"))


class Command(BaseCommand):
    help = "Start the local Cognito with a demo pool, point the 'demo' portal at it, and serve the portal."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--emulator-port", type=int, default=9229)
        parser.add_argument("--no-serve", action="store_true", help="Set everything up, then stop (for tests).")

    def handle(self, *args: Any, **options: Any) -> None:
        server, base_url = start_in_thread("127.0.0.1", options["emulator_port"])
        try:
            portal = self._demo_portal(base_url)
            login, password = self._admin_login()
            site = f"http://127.0.0.1:{options['port']}"
            self.stdout.write(
                "\n".join(
                    [
                        "",
                        f"Local Cognito:     {base_url}  (confirmation codes: {base_url}/_outbox)",
                        f"Sign-up form:      {site}/signup/{portal.slug}/",
                        f"Confirm step:      {site}/signup/{portal.slug}/confirm/",
                        f"Form schema:       {site}/signup/{portal.slug}/schema.json",
                        f"Admin:             {site}/admin/  login {login} / {password}",
                        "Webhook worker:    manage.py db_worker (output behind 'worker | '; add an endpoint in admin)",
                        "Ctrl-C stops everything.",
                        "",
                    ]
                )
            )
            if not options["no_serve"]:
                webhooks.requeue_stranded()  # what an earlier demo's worker left when it was stopped mid-try
                worker = start_worker(self.stdout.write)
                try:
                    call_command("runserver", f"127.0.0.1:{options['port']}", use_reloader=False)
                finally:
                    worker.stop()
        finally:
            server.shutdown()

    def _demo_portal(self, base_url: str) -> Portal:
        # The emulator keeps its state in memory, so every start makes a new pool and re-points the portal.
        ids = create_demo_pool(emulator_client(base_url))
        portal, _ = Portal.objects.update_or_create(
            slug="demo",
            defaults={
                "name": "Demo",
                "region": "us-east-1",
                "user_pool_id": ids["user_pool_id"],
                "client_id": ids["client_id"],
                "endpoint_url": base_url,
                "client_secret_env": "",
                "is_open": True,
                "challenge": Challenge.ALTCHA,  # what a new portal gets: the demo shows it
            },
        )
        ValidationDataField.objects.update_or_create(
            portal=portal,
            name="invite_code",
            defaults={
                "label": "Invite code",
                # Shown under the field on the public form: it speaks to the person signing up, not to operators.
                "help_text": "The invite code from your welcome email, if you have one.",
                "required": False,
            },
        )
        flows.portal_sync(portal=portal)
        return portal

    def _admin_login(self) -> tuple[str, str]:
        password = secrets.token_urlsafe(12)
        user, _ = get_user_model().objects.get_or_create(username="admin", defaults={"email": "admin@example.com"})
        user.is_staff = user.is_superuser = True
        user.set_password(password)
        user.save()
        return "admin", password
