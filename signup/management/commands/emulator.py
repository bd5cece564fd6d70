"""python manage.py emulator: the local Cognito (moto's server plus real sign-up checks)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from signup.emulator.demo import create_demo_pool, emulator_client
from signup.emulator.server import DEFAULT_PORT, require_loopback, serve_forever


class Command(BaseCommand):
    help = "Run the local Cognito emulator on a loopback address until Ctrl-C."
    # A development tool that needs neither the database nor the project's checks.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1", help="loopback address to bind")
        parser.add_argument("--port", type=int, default=DEFAULT_PORT)
        parser.add_argument("--demo", action="store_true", help='create the "demo" pool and print its ids')
        parser.add_argument(
            "--demo-output",
            type=Path,
            metavar="PATH",
            help="with --demo, also write the ids (never the secret) to PATH as JSON",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            require_loopback(options["host"])
        except ValueError as error:
            raise CommandError(str(error)) from error

        def on_ready(base_url: str) -> None:
            self.stdout.write(f"Cognito emulator listening on {base_url} (Ctrl-C to stop)")
            if options["demo"]:
                self._create_demo_pool(base_url, options["demo_output"])

        try:
            serve_forever(options["host"], options["port"], on_ready=on_ready)
        except KeyboardInterrupt:
            self.stdout.write("Cognito emulator stopped.")

    def _create_demo_pool(self, base_url: str, output: Path | None) -> None:
        demo = create_demo_pool(emulator_client(base_url))
        ids = {"user_pool_id": demo["user_pool_id"], "client_id": demo["client_id"]}
        self.stdout.write(f"Demo pool {ids['user_pool_id']}, app client {ids['client_id']}")
        self.stdout.write("Read the client secret with DescribeUserPoolClient.")
        if output is not None:
            output.write_text(json.dumps(ids, indent=2) + "\n")
            self.stdout.write(f"Demo ids written to {output}")
