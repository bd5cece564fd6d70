"""python manage.py emulator: the local Cognito (moto's server plus real sign-up checks).

Fault injection can be set at start with --fault-rate, --latency-ms ... or the EMULATOR_* variables
of FAULT_OPTIONS (an option given on the command line wins), and changed later with POST /_faults.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from signup.emulator.demo import create_demo_pool, emulator_client
from signup.emulator.faults import KINDS, OPERATIONS, FaultPlan, FaultPlanError
from signup.emulator.server import DEFAULT_PORT, require_loopback, serve_forever


def _names(text: str) -> list[str]:
    return [name.strip() for name in text.split(",") if name.strip()]


# option dest -> (fault plan key, environment variable, parse)
FAULT_OPTIONS: dict[str, tuple[str, str, Callable[[str], Any]]] = {
    "fault_rate": ("rate", "EMULATOR_FAULT_RATE", float),
    "latency_ms": ("latency_ms", "EMULATOR_LATENCY_MS", float),
    "latency_jitter_ms": ("latency_jitter_ms", "EMULATOR_LATENCY_JITTER_MS", float),
    "fault_kinds": ("kinds", "EMULATOR_FAULT_KINDS", _names),
    "fault_operations": ("operations", "EMULATOR_FAULT_OPERATIONS", _names),
    "fault_seed": ("seed", "EMULATOR_FAULT_SEED", int),
    "fault_timeout_ms": ("timeout_ms", "EMULATOR_FAULT_TIMEOUT_MS", float),
}


def fault_plan_from_options(options: Mapping[str, Any], environ: Mapping[str, str] = os.environ) -> FaultPlan | None:
    """The start-up fault plan the options (else the environment) describe; None if neither sets any."""
    payload: dict[str, Any] = {}
    for dest, (key, variable, parse) in FAULT_OPTIONS.items():
        value = options.get(dest)
        if value is None and environ.get(variable, "").strip():
            try:
                value = parse(environ[variable].strip())
            except ValueError as error:
                raise CommandError(f"{variable}={environ[variable]!r} is not valid: {error}") from error
        if value is not None:
            payload[key] = value
    if not payload:
        return None
    try:
        return FaultPlan.from_json(payload).seeded()
    except FaultPlanError as error:
        raise CommandError(str(error)) from error


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
        faults = parser.add_argument_group(
            "fault injection", "for SignUp, ConfirmSignUp and ResendConfirmationCode only; see POST /_faults"
        )
        faults.add_argument("--fault-rate", type=float, metavar="P", help="share of calls that fail, 0 to 1")
        faults.add_argument("--latency-ms", type=float, metavar="MS", help="delay before every answer")
        faults.add_argument("--latency-jitter-ms", type=float, metavar="MS", help="latency varies by +- this")
        faults.add_argument(
            "--fault-kinds", type=_names, metavar="K,K", help=f"comma-separated, from {','.join(KINDS)} (default all)"
        )
        faults.add_argument(
            "--fault-operations", type=_names, metavar="OP,OP", help=f"comma-separated, from {','.join(OPERATIONS)}"
        )
        faults.add_argument("--fault-seed", type=int, metavar="N", help="seed, to replay a run (default random)")
        faults.add_argument("--fault-timeout-ms", type=float, metavar="MS", help="how long 'timeout' holds the answer")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            require_loopback(options["host"])
        except ValueError as error:
            raise CommandError(str(error)) from error
        plan = fault_plan_from_options(options)

        def on_ready(base_url: str) -> None:
            self.stdout.write(f"Cognito emulator listening on {base_url} (Ctrl-C to stop)")
            if plan is not None:
                self.stdout.write(f"Fault injection: {plan.describe()} (GET/POST/DELETE {base_url}/_faults)")
            if options["demo"]:
                self._create_demo_pool(base_url, options["demo_output"])

        try:
            serve_forever(options["host"], options["port"], on_ready=on_ready, faults=plan)
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
