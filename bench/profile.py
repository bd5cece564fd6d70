"""Where the portal spends CPU per form page view and per sign-up.

    .venv/bin/python bench/profile.py [--backend sqlite|postgres] [--seconds 15] [--top 15]

Two parts, on the benchmark's stack (perfkit/stack.py: the Procfile's gunicorn, the fake Cognito):

1. py-spy samples every gunicorn worker (`record --subprocesses`) while clients load one kind of
   request: the form page, then sign-up POSTs; twice each: `--gil` (only the thread holding the GIL:
   Python CPU, what limits a worker) and without it (every non-idle thread: also the waits py-spy does
   not recognise as idle, such as SQLite's busy wait for the write lock). The collapsed stacks go to
   bench/results/<backend>-<kind>-<gil|active>.collapsed (open them in speedscope or flamegraph.pl);
   the summary (top functions by own and by total share) to bench/results/summary-*.txt and the console.
2. A census in one process through Django's test client, against the same database and fake: SQL
   queries, cache calls, boto3 clients built and form specs built, for the first request of each kind
   and per request in steady state.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.run import FORM_PATH, HOST, SLUG, Visitor, bench_stack, first_answer, open_backend, start_cognito  # noqa: E402
from perfkit.client import get, load  # noqa: E402
from perfkit.stack import Stack, StackError, in_django, run_on_stack  # noqa: E402

RESULTS = ROOT / "bench" / "results"
PROJECT_PREFIXES = ("signup/", "portal/", "bench/")
PLUMBING = 0.8  # gunicorn's and Django's frames every request passes through


def summarise(collapsed: Path, top: int, full: bool = True) -> str:
    """Top functions by own samples (the frame running) and by total samples (anywhere on the stack)."""
    own: Counter[str] = Counter()
    total: Counter[str] = Counter()
    project: Counter[str] = Counter()
    samples = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack:
            continue
        count = int(count_text)
        frames = [f for f in stack.split(";") if not f.startswith("process ") and not f.startswith("thread ")]
        if not frames:
            continue
        samples += count
        own[frames[-1]] += count
        for frame in set(frames):
            total[frame] += count
            if any(f"({prefix}" in frame for prefix in PROJECT_PREFIXES):
                project[frame] += count
    if not samples:
        return f"{collapsed.name}: no samples\n"

    def table(title: str, counter: Counter[str]) -> list[str]:
        rows = [f"  {title}"]
        rows += [f"  {100 * n / samples:5.1f}%  {frame}" for frame, n in counter.most_common(top)]
        return rows

    what = "holding the GIL (Python CPU)" if full else "of non-idle threads (CPU, and waits py-spy sees as busy)"
    lines = [f"{collapsed.name}: {samples} samples {what}"]
    lines += table("own (the function itself was running)", own)
    if full:
        below = Counter({frame: n for frame, n in total.items() if n < PLUMBING * samples})
        lines += table(f"total, below the request plumbing (frames on < {PLUMBING:.0%} of samples)", below)
        lines += table("total, project code only", project)
    return "\n".join(lines) + "\n"


async def spy_on(master: int, port: int, build: object, clients: int, seconds: float, output: Path, gil: bool) -> None:
    """py-spy on every worker for `seconds` while `clients` send build() requests."""
    spy = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")
    if spy is None:
        raise StackError("py-spy is not installed: .venv/bin/pip install -r requirements-dev.txt")
    traffic = asyncio.create_task(load(HOST, port, build, clients=clients, seconds=seconds + 3))  # type: ignore[arg-type]
    await asyncio.sleep(1)
    argv = [spy, "record", "--pid", str(master), "--subprocesses", "--function", "--format", "raw"]
    argv += ["--rate", "200", "--duration", f"{seconds:g}", "--output", str(output)] + (["--gil"] if gil else [])
    process = await asyncio.create_subprocess_exec(*argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, errors = await process.communicate()
    result = await traffic
    if process.returncode != 0:
        raise StackError(f"py-spy failed: {errors.decode(errors='replace')[-2000:]}")
    print(f"{output.name}: {result.completed} requests, {dict(result.statuses)}", file=sys.stderr)


async def profile(stack: Stack, backend: str, seconds: float, clients: int, top: int) -> str:
    process, port, started = stack.start_portal("portal", ready=False)
    try:
        page = await first_answer(port, FORM_PATH, started, process)
        visitor = Visitor.from_page(port, page, stack.secret_key, "prof")
        visitor.prefix = f"p{os.getpid() % 10000}{backend[0]}"
        for build in (lambda: get(HOST, port, FORM_PATH), visitor.signup):
            await load(HOST, port, build, clients=8, seconds=3)
        report = ""
        for kind, build in (("form", lambda: get(HOST, port, FORM_PATH)), ("signup", visitor.signup)):
            for mode in ("gil", "active"):
                output = RESULTS / f"{backend}-{kind}-{mode}.collapsed"
                await spy_on(process.popen.pid, port, build, clients, seconds, output, gil=mode == "gil")
                report += summarise(output, top, full=mode == "gil") + "\n"
        return report
    finally:
        stack.stop(process)


CENSUS = r"""
import json, sys
import django
django.setup()
from unittest import mock
import botocore.session
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from signup import schema
from perfkit.forms import HONEYPOT_FIELD, person
import re

slug, count = sys.argv[1], int(sys.argv[2])
counts = {"clients": 0, "specs": 0, "cache": 0}
real_create = botocore.session.Session.create_client
real_spec = schema.form_spec
def create_client(self, *a, **k):
    counts["clients"] += 1
    return real_create(self, *a, **k)
def form_spec(*a, **k):
    counts["specs"] += 1
    return real_spec(*a, **k)
from django.core.cache import caches
backend = caches["default"]
def counting(method):
    def counted(*a, **k):
        counts["cache"] += 1
        return method(*a, **k)
    return counted
for name in ("get", "set", "add", "incr", "decr", "delete", "get_many", "set_many", "delete_many", "has_key", "touch"):
    setattr(backend, name, counting(getattr(backend, name)))
hidden = re.compile(r'<input type="hidden" name="(csrfmiddlewaretoken|form_token)" value="([^"]+)"')
results = {}
with mock.patch.object(botocore.session.Session, "create_client", create_client), \
        mock.patch.object(schema, "form_spec", form_spec):
    browser = Client(enforce_csrf_checks=True, REMOTE_ADDR="127.0.0.1", HTTP_HOST="127.0.0.1")
    def measure(label, n, send):
        for key in counts: counts[key] = 0
        with CaptureQueriesContext(connection) as queries:
            statuses = [send(i) for i in range(n)]
        results[label] = {"requests": n, "statuses": sorted(set(statuses)),
            "sql": len(queries) / n, "cache": counts["cache"] / n,
            "boto3_clients_built": counts["clients"] / n, "form_specs_built": counts["specs"] / n,
            "sql_kinds": sorted({q["sql"].split()[0] for q in queries.captured_queries})}
    state = {}
    def form(i):
        response = browser.get(f"/signup/{slug}/")
        state.update(dict(hidden.findall(response.content.decode())))
        return response.status_code
    def signup(i):
        form(i)
        username = f"census{i:05d}x{sys.argv[3]}"
        data = {**state, **person(i, username), HONEYPOT_FIELD: ""}
        for key in counts: counts[key] = 0  # the GET before it is counted apart
        with CaptureQueriesContext(connection) as queries:
            status = browser.post(f"/signup/{slug}/", data).status_code
        signup.sql += len(queries); signup.clients += counts["clients"]; signup.specs += counts["specs"]
        signup.cache += counts["cache"]
        return status
    measure("first form GET", 1, form)
    measure("steady form GET", count, form)
    for label, n in (("first sign-up POST", 1), ("steady sign-up POST", count)):  # each after a form GET
        signup.sql = signup.clients = signup.specs = signup.cache = 0
        statuses = [signup(i + (0 if n == 1 else 1)) for i in range(n)]
        results[label] = {"requests": n, "statuses": sorted(set(statuses)), "sql": signup.sql / n,
            "cache": signup.cache / n, "boto3_clients_built": signup.clients / n, "form_specs_built": signup.specs / n}
print(json.dumps(results))
"""


def census(stack: Stack, count: int) -> str:
    """SQL queries, cache calls, boto3 clients and form specs built per request, in one fresh process."""
    results = in_django(stack, "the census", CENSUS, SLUG, str(count), str(os.getpid()), timeout=300)
    lines = ["Census (one fresh process, Django test client; each sign-up POST follows a form GET, not counted):"]
    for label, figures in results.items():
        lines.append(
            f"  {label:20} SQL {figures['sql']:.1f}, cache calls {figures['cache']:.1f}, boto3 clients built "
            f"{figures['boto3_clients_built']:.2f}, form specs built {figures['form_specs_built']:.2f}"
            f"  (HTTP {figures['statuses']})"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--seconds", type=float, default=15.0, help="sampling time per kind of request")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--top", type=int, default=15)
    parser.add_argument("--census-requests", type=int, default=20)
    args = parser.parse_args(argv)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / ".gitignore").write_text("*\n")

    def work(stack: Stack) -> int:
        start_cognito(stack, args.latency_ms)
        open_backend(stack, args.backend)
        text = census(stack, args.census_requests) + "\n"
        text += asyncio.run(profile(stack, args.backend, args.seconds, args.clients, args.top))
        stamp = time.strftime("%Y%m%d-%H%M%S")
        (RESULTS / f"summary-{args.backend}-{stamp}.txt").write_text(text)
        print(text)
        return 0

    return run_on_stack("bench/profile.py", bench_stack(), work)


if __name__ == "__main__":
    sys.exit(main())
