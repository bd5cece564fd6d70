"""What a sign-up's own database and cache work costs, one piece at a time, in one process.

    .venv/bin/python bench/writes.py [--backend sqlite|postgres|both] [--count 500]

bench/run.py measures whole requests; this prints the pieces behind its "overhead" figure, on the
benchmark's stack (perfkit/stack.py: a new database with the benchmark's portal; PostgreSQL with Redis):

- the three writes of a successful sign-up, as flows.signup_submit makes them: the pending attempt
  (an INSERT committed on its own before Cognito is called), its event and its outcome (an UPDATE);
- a database round trip that writes nothing (SELECT 1), and a cache read, for scale;
- what a thread pays the first time it touches the database and the cache (Django keeps both per
  thread): signup.warmup.warm_thread() on a new thread, then again on the same thread.

Wall time and this process's CPU time per operation, medians over `--count` operations after a few
unmeasured ones. The database server's own CPU is not in the CPU column.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.run import SLUG, bench_stack, open_backend, start_cognito  # noqa: E402
from perfkit.stack import Stack, in_django, run_on_stack  # noqa: E402

MEASURE = r"""
import json, statistics, sys, threading, time, uuid
import django
django.setup()
from django.core.cache import cache
from django.db import connection
from signup.models import AttemptEvent, Portal, SignupAttempt
from signup.warmup import warm_thread

slug, count = sys.argv[1], int(sys.argv[2])
portal = Portal.objects.get(slug=slug)
attributes = {"email": "writes@example.com", "given_name": "Bench", "family_name": "Writes"}
figures = {}

def measure(label, operation, n=count):
    for i in range(10):
        operation(i)
    walls, cpus = [], []
    for i in range(n):
        wall, cpu = time.perf_counter(), time.thread_time()
        operation(i)
        cpus.append(time.thread_time() - cpu)
        walls.append(time.perf_counter() - wall)
    figures[label] = (statistics.median(walls) * 1000, statistics.median(cpus) * 1000)

def pending(i):
    return SignupAttempt.objects.create(
        portal=portal, idempotency_key=uuid.uuid4().hex, username=f"writes{i}", attributes=attributes,
        status=SignupAttempt.Status.PENDING, search_text=SignupAttempt.search_text_for(f"writes{i}", attributes),
    )

attempt = pending(-1)
measure("1. pending attempt (INSERT)", pending)
measure("2. its event (INSERT)", lambda i: attempt.record_event(
    AttemptEvent.Kind.SIGNUP, ok=True, detail={"user_confirmed": False, "medium": "EMAIL"}))
measure("3. its outcome (UPDATE)", lambda i: attempt.mark_succeeded(
    user_sub=str(uuid.uuid4()), user_confirmed=False, delivery=None, request_id="bench", latency_ms=20))
def select_one(i):
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
measure("a round trip that writes nothing (SELECT 1)", select_one)
measure("a cache read", lambda i: cache.get("signup:bench:writes"))

first, again = [], []
def probe():
    for into in (first, again):
        wall = time.perf_counter()
        warm_thread()
        into.append(time.perf_counter() - wall)
    connection.close()
for _ in range(min(count, 50)):
    thread = threading.Thread(target=probe)
    thread.start()
    thread.join()
figures["a thread's first warm_thread() (wall only)"] = (statistics.median(first) * 1000, None)
figures["the same thread's second (wall only)"] = (statistics.median(again) * 1000, None)
SignupAttempt.objects.filter(username__startswith="writes").delete()
print(json.dumps(figures))
"""


def measure(stack: Stack, backend: str, count: int) -> str:
    figures = in_django(stack, "the measurement", MEASURE, SLUG, str(count))
    lines = [f"== {backend} ==", f"{'Operation':48} {'wall, median':>14} {'CPU, median':>14}"]
    for label, (wall, cpu) in figures.items():
        cpu_text = f"{cpu:.3f} ms" if cpu is not None else ""
        lines.append(f"{label:48} {wall:11.3f} ms {cpu_text:>14}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--count", type=int, default=500)
    args = parser.parse_args(argv)
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]

    def work(stack: Stack) -> int:
        start_cognito(stack, 0)
        for backend in backends:
            open_backend(stack, backend)
            try:
                print(measure(stack, backend, args.count), flush=True)
            finally:
                for note in stack.close_database():
                    print(note, file=sys.stderr)
        return 0

    return run_on_stack("bench/writes.py", bench_stack(), work)


if __name__ == "__main__":
    sys.exit(main())
