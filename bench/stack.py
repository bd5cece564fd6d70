"""The benchmark's stack on loopback: the fake Cognito, one database (SQLite or PostgreSQL with Redis)
and the Procfile's gunicorn command serving the portal and the baseline views.

The portal is created the honest way: the local Cognito (`manage.py emulator`) creates the demo pool,
its DescribeUserPool and DescribeUserPoolClient answers are recorded, and the fake replays them to
`manage.py portal add`, which syncs the snapshot as it would from AWS. The emulator is stopped before
anything is measured. The client secret reaches the portal through the environment variable the portal
names (`--client-secret-env`), as in production, so no page view or sign-up calls DescribeUserPoolClient.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from loadtest.stack import (
    LISTENING,
    POSTGRES,
    REDIS,
    Process,
    StackError,  # noqa: F401 (bench/run.py and bench/profile.py catch it from here)
    claim_redis_db,
    create_database,
    drop_database,
    flush_redis_db,
    migrate_and_add_portal,
    portal_env,
    run_manage,
    services_required,
    spawn,
    wait_for_log,
    web_argv,
)

ROOT = Path(__file__).resolve().parent.parent
SLUG = "bench"
SECRET_ENV = "BENCH_CLIENT_SECRET"
REDIS_CLAIM_KEY = "signup-bench:claimed-by"
FAKE_LISTENING = re.compile(r"fake Cognito listening on (http://127\.0\.0\.1:\d+)")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
# Changes from production, each because of the benchmark itself (printed with the results).
GUARD_OVERRIDES = {
    # Every client is 127.0.0.1 and posts a form the moment it has it.
    "SIGNUP_MIN_FILL_SECONDS": "0",
    "SIGNUP_RATE_SIGNUP_PER_IP": "100000000/600",
    "SIGNUP_RATE_SIGNUP_PER_PORTAL": "100000000/60",
}


@dataclass
class Pool:
    user_pool_id: str
    client_id: str
    client_secret: str
    describe_file: Path


@dataclass
class Bench:
    """Everything started for one run; close() stops and removes it, also after Ctrl-C."""

    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="signup-bench-")))
    secret_key: str = field(default_factory=lambda: secrets.token_urlsafe(50))
    processes: list[Process] = field(default_factory=list)
    pool: Pool | None = None
    fake_url: str = ""
    fake_pid: int = 0
    # Per backend:
    backend: str = ""
    database_url: str = ""
    cache_url: str = ""
    pg_database: str = ""
    redis_db: int | None = None

    # --- Environment ---------------------------------------------------------------------------

    def env(self, settings: str = "bench.benchsite") -> dict[str, str]:
        env = portal_env(settings=settings, secret_key=self.secret_key)
        env.update(GUARD_OVERRIDES)
        if self.database_url:
            env["DATABASE_URL"] = self.database_url
        if self.cache_url:
            env["CACHE_URL"] = self.cache_url
        if self.pool is not None:
            env[SECRET_ENV] = self.pool.client_secret
            env["BENCH_CLIENT_ID"] = self.pool.client_id
        if self.fake_url:
            env["BENCH_FAKE_URL"] = self.fake_url
        return env

    def manage(self, *args: str, timeout: float = 180) -> str:
        return run_manage(args, self.env("portal.settings"), timeout=timeout)

    def spawn(self, name: str, argv: list[str], env: dict[str, str]) -> Process:
        # Appended: a name started again (the portal, once per backend) keeps the earlier run's lines.
        process = spawn(self.workdir, name, argv, env, append=True)
        self.processes.append(process)
        return process

    def stop(self, process: Process, grace: float = 20) -> None:
        process.stop(grace)
        with contextlib.suppress(ValueError):
            self.processes.remove(process)

    # --- The pool and the fake -------------------------------------------------------------------

    def record_pool(self) -> Pool:
        """Create the demo pool on the local Cognito and record its two Describe answers."""
        from signup.emulator.demo import create_demo_pool, emulator_client

        argv = [sys.executable, "manage.py", "emulator", "--host", "127.0.0.1", "--port", "0"]
        emulator = self.spawn("emulator", argv, self.env("portal.settings"))
        try:
            url = wait_for_log(emulator, LISTENING, 90).group(1)
            ids = create_demo_pool(emulator_client(url))
            recorded = {
                "DescribeUserPool": raw_call(url, "DescribeUserPool", {"UserPoolId": ids["user_pool_id"]}),
                "DescribeUserPoolClient": raw_call(
                    url, "DescribeUserPoolClient", {"UserPoolId": ids["user_pool_id"], "ClientId": ids["client_id"]}
                ),
            }
        finally:
            self.stop(emulator, grace=5)
        describe_file = self.workdir / "describe.json"
        describe_file.write_text(json.dumps(recorded))
        self.pool = Pool(ids["user_pool_id"], ids["client_id"], ids["client_secret"], describe_file)
        return self.pool

    def start_fake(self, latency_ms: float) -> None:
        assert self.pool is not None
        argv = [sys.executable, str(ROOT / "bench" / "fakecognito.py"), "--port", "0"]
        argv += ["--latency-ms", f"{latency_ms:g}", "--describe", str(self.pool.describe_file)]
        argv += ["--secret-env", SECRET_ENV]
        fake = self.spawn("fakecognito", argv, self.env())
        self.fake_url = wait_for_log(fake, FAKE_LISTENING, 30).group(1)
        self.fake_pid = fake.popen.pid

    def fake(self, path: str, payload: dict[str, Any] | None = None) -> dict[str, Any]:
        data = json.dumps(payload).encode() if payload is not None else None
        request = urllib.request.Request(self.fake_url + path, data=data, method="POST" if data else "GET")
        with urllib.request.urlopen(request, timeout=10) as answer:
            result: dict[str, Any] = json.loads(answer.read())
        return result

    # --- Databases -------------------------------------------------------------------------------

    def open_backend(self, backend: str) -> None:
        """A new, migrated database with the benchmark's portal, synced from the fake."""
        assert self.pool is not None
        self.backend = backend
        if backend == "sqlite":
            self.database_url = f"sqlite:///{self.workdir / 'bench.sqlite3'}"
            self.cache_url = ""  # the embedded default: local memory per process
        else:
            with services_required():
                self.redis_db = claim_redis_db(REDIS_CLAIM_KEY)
                self.pg_database = f"signup_bench_{secrets.token_hex(4)}"
                create_database(self.pg_database)
            self.database_url = (
                f"postgres://{POSTGRES['user']}@{POSTGRES['host']}:{POSTGRES['port']}/{self.pg_database}"
            )
            self.cache_url = f"redis://{REDIS['host']}:{REDIS['port']}/{self.redis_db}"
        migrate_and_add_portal(
            self.manage,
            slug=SLUG,
            name="Benchmark",
            user_pool_id=self.pool.user_pool_id,
            client_id=self.pool.client_id,
            endpoint_url=self.fake_url,
            options=["--client-secret-env", SECRET_ENV],
        )

    def close_backend(self) -> list[str]:
        notes: list[str] = []
        if self.pg_database:
            notes += drop_database(self.pg_database)
            self.pg_database = ""
        if self.redis_db is not None:
            notes += flush_redis_db(self.redis_db)
            self.redis_db = None
        self.database_url = self.cache_url = self.backend = ""
        for leftover in self.workdir.glob("bench.sqlite3*"):
            leftover.unlink()
        return notes

    # --- gunicorn ----------------------------------------------------------------------------------

    def start_gunicorn(self, name: str) -> tuple[Process, int, float]:
        """The Procfile's web command as it is, bound to a free loopback port: (process, port, start time)."""
        port = free_port()
        env = self.env()
        env["PORT"] = str(port)
        argv = web_argv(f"127.0.0.1:{port}", self.workdir / f"{name}.ctl")
        started = time.perf_counter()
        return self.spawn(name, argv, env), port, started

    def close(self) -> list[str]:
        notes = []
        for process in sorted(self.processes, key=lambda p: p.name == "fakecognito"):
            process.stop(20)
        self.processes.clear()
        notes += self.close_backend()
        shutil.rmtree(self.workdir, ignore_errors=True)
        return notes


def raw_call(url: str, operation: str, params: dict[str, Any]) -> dict[str, Any]:
    """One Cognito call as raw JSON 1.1, so the fake can replay the exact answer."""
    request = urllib.request.Request(
        url,
        data=json.dumps(params).encode(),
        headers={
            "Content-Type": "application/x-amz-json-1.1",
            "X-Amz-Target": f"AWSCognitoIdentityProviderService.{operation}",
        },
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        result: dict[str, Any] = json.loads(answer.read())
    return result


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def children(pid: int) -> list[int]:
    """The processes whose parent is `pid` (gunicorn's workers)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                stat = (entry / "stat").read_text()
                if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry.name))
    return sorted(found)


def cpu_seconds(pids: list[int]) -> float:
    """User plus system CPU time of the processes (all their threads), from /proc."""
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return total / CLOCK_TICKS


def machine_cpu_seconds() -> float:
    """CPU time spent by the whole machine (every core, not idle or iowait), from /proc/stat."""
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields[:8]
    return (user + nice + system + irq + softirq + steal) / CLOCK_TICKS


def gunicorn_settings(env: dict[str, str]) -> dict[str, Any]:
    """What gunicorn.conf.py evaluates to in `env` (read, never changed)."""
    import runpy

    saved = dict(os.environ)
    try:
        os.environ.clear()
        os.environ.update(env)
        values = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return {k: v for k, v in values.items() if not k.startswith("__") and isinstance(v, str | int | float)}


def in_django(bench: Bench, what: str, script: str, *args: str, timeout: float = 600) -> Any:
    """Run a Python script in a fresh process with the portal's settings for this stack; the JSON it
    prints last."""
    completed = subprocess.run(
        [sys.executable, "-c", script, *args],
        cwd=ROOT,
        env=bench.env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if completed.returncode != 0:
        raise StackError(f"{what} failed:\n{completed.stderr[-3000:]}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def main_on_stack(name: str, work: Callable[[Bench], None]) -> int:
    """A command's life on a new stack: 0 when `work` is done, 2 when the stack could not be set up, 130
    on Ctrl-C; the stack is taken down whatever happens."""
    bench = Bench()
    try:
        work(bench)
        return 0
    except StackError as error:
        print(f"{name}: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    finally:
        for note in bench.close():
            print(note, file=sys.stderr)
