"""Load test: thousands of sign-ups through the real stack, on loopback, bounded in count and time.

    .venv/bin/python loadtest/run.py [--signups 2000] [--concurrency 64] [--fault-rate 0.05]
                                     [--max-seconds 600] [--keep]

Starts the local Cognito with injected faults, a fresh PostgreSQL database and an empty Redis database,
two portal processes as the Procfile's web line runs them, drives the sign-ups over both, settles
what is unknown with reconcile_attempts and checks what was recorded against what Cognito holds.
Exit status: 0 every check passed, 1 a check failed, 2 the stack could not be set up, 3 the time cap
ran out, 130 interrupted. loadtest/README.md explains the figures.
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
import threading
import time
from pathlib import Path
from typing import NoReturn

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

try:
    from loadtest.report import checks, collect, read_logs, render
    from loadtest.traffic import SLUG, Traffic
    from perfkit.stack import FaultOptions, Stack, procfile_command, run_on_stack
except ImportError as error:  # Django, psycopg and redis come with the project's venv
    sys.exit(f"{error}: run it with the project's venv: .venv/bin/python loadtest/run.py")

PORTALS = 2


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    add = parser.add_argument
    add("--signups", type=int, default=2000, help="sign-up forms to post (default 2000)")
    add("--concurrency", type=int, default=64, help="concurrent clients (default 64)")
    add("--fault-rate", type=float, default=0.05, help="share of Cognito sign-up calls that fail (default 0.05)")
    add("--fault-kinds", help="comma-separated fault kinds (default: every kind the emulator has)")
    add("--fault-timeout-ms", type=float, default=3000, help="how long a 'timeout' fault holds the answer (3000)")
    add("--read-timeout", type=float, default=2.0, help="the portals' COGNITO_READ_TIMEOUT in seconds (2)")
    add("--latency-ms", type=float, default=30, help="latency added to each Cognito sign-up call (30)")
    add("--latency-jitter-ms", type=float, default=20, help="the latency varies by +- this (20)")
    add("--seed", type=int, help="seed of the faults and of the clients' plan (default random, printed)")
    add("--repeat-share", type=float, default=0.05, help="share of forms posted twice (default 0.05)")
    add("--confirm-share", type=float, default=0.1, help="share of sign-ups confirmed with the code (0.1)")
    add("--max-seconds", type=float, default=600, help="wall-clock cap for the whole run (default 600)")
    add("--redis-db", type=int, help="Redis database to use and flush (default: an empty one of 2-15)")
    add("--keep", action="store_true", help="keep the database, the Redis database and the logs")
    args = parser.parse_args(argv)
    if args.signups < 1 or args.concurrency < 1 or args.max_seconds <= 0:
        parser.error("--signups, --concurrency and --max-seconds must be positive")
    if args.read_timeout * 1000 >= args.fault_timeout_ms:
        parser.error("--fault-timeout-ms must exceed --read-timeout, or 'timeout' faults never time out")
    if args.fault_kinds is not None:
        args.fault_kinds = tuple(kind.strip() for kind in args.fault_kinds.split(",") if kind.strip())
    if args.seed is None:
        args.seed = secrets.randbits(32)
    return args


def watchdog(stack: Stack, seconds: float) -> threading.Timer:
    """The time cap holds even if something hangs: stop everything, clean up, exit 3."""

    def expire() -> NoReturn:
        print(f"\nThe time cap of {seconds:g} s ran out: stopping everything.", file=sys.stderr, flush=True)
        for note in stack.close(keep_logs=True):
            print(note, file=sys.stderr, flush=True)
        os._exit(3)

    timer = threading.Timer(seconds, expire)
    timer.daemon = True
    timer.start()
    return timer


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    started = time.monotonic()
    faults = FaultOptions(
        rate=args.fault_rate,
        kinds=args.fault_kinds,
        timeout_ms=args.fault_timeout_ms,
        latency_ms=args.latency_ms,
        latency_jitter_ms=args.latency_jitter_ms,
        seed=args.seed,
    )
    # Shorter than the emulator's held answer, so `timeout` faults really time out.
    read_timeout = {"COGNITO_READ_TIMEOUT": f"{args.read_timeout:g}"}
    stack = Stack("loadtest", SLUG, extra_env=read_timeout, keep=args.keep)

    def work(stack: Stack) -> int:
        print(f"Setting up in {stack.workdir} (seed {args.seed}) ...", flush=True)
        stack.open_database("postgres", redis_db=args.redis_db)
        stack.start_emulator(faults)
        stack.add_portal("Load test")
        for number in range(1, PORTALS + 1):
            stack.start_portal(f"portal-{number}")
        # New visitors stop coming in time for the last answers, the checks and the clean-up.
        deadline = started + args.max_seconds - min(90.0, args.max_seconds / 4)
        urls = ", ".join(stack.portal_urls)
        print(f"Driving {args.signups} sign-ups with {args.concurrency} clients over {urls} ...", flush=True)
        result = Traffic(
            stack.portal_urls,
            stack.cognito_url,
            signups=args.signups,
            concurrency=args.concurrency,
            deadline=deadline,
            repeat_share=args.repeat_share,
            confirm_share=args.confirm_share,
            seed=args.seed,
        ).run()
        print("Reading back and reconciling ...", flush=True)
        facts = collect(stack, result)
        stack.stop_processes()  # gunicorn has written every log line once it has stopped
        read_logs(facts, stack.portal_logs("portal-"))
        results = checks(facts, args.signups)
        print(render(facts, results, stack, {**vars(args), "web": procfile_command("web")}), flush=True)
        return 0 if all(check.ok for check in results) else 1

    timer = watchdog(stack, args.max_seconds)
    try:
        return run_on_stack("loadtest/run.py", stack, work)
    finally:
        timer.cancel()
        print(f"Total {time.monotonic() - started:.0f} s.", flush=True)


if __name__ == "__main__":
    sys.exit(main())
