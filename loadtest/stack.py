"""The real stack on loopback: a fresh PostgreSQL database, a Redis database, the local Cognito and
two portal processes started as the Procfile's `web:` line starts them. Everything started here is
stopped here, by process group id; the database is dropped and the Redis database flushed unless kept.
The module-level helpers at the end (processes, manage.py, PostgreSQL, Redis) also serve bench/stack.py.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import redis
import requests

ROOT = Path(__file__).resolve().parent.parent
POSTGRES = {"host": "127.0.0.1", "port": 5432, "user": "postgres"}
REDIS = {"host": "127.0.0.1", "port": 6379}
# Databases 0 (the default) and 1 (make test-postgres) belong to others; the load test takes an empty one.
REDIS_CANDIDATES = range(15, 1, -1)
REDIS_CLAIM_KEY = "signup-loadtest:claimed-by"
SLUG = "loadtest"
LISTENING = re.compile(r"Cognito emulator listening on (http://127\.0\.0\.1:\d+)")
GUNICORN_LISTENING = re.compile(r"Listening at: (http://127\.0\.0\.1:\d+)")


class StackError(RuntimeError):
    """The stack could not be set up; the message says which part and where its log is."""


@dataclass(frozen=True)
class FaultOptions:
    """The emulator's start-up fault plan (manage.py emulator --fault-*); kinds None: every kind."""

    rate: float
    kinds: tuple[str, ...] | None
    timeout_ms: float
    latency_ms: float
    latency_jitter_ms: float
    seed: int | None


@dataclass
class Process:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self, grace: float) -> None:
        """SIGTERM to the process group we created for it, SIGKILL after `grace` seconds."""
        if self.popen.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signal.SIGTERM)
        try:
            self.popen.wait(grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait(5)


@dataclass
class Stack:
    faults: FaultOptions
    read_timeout: float
    keep: bool = False
    redis_db: int | None = None
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="signup-loadtest-")))
    secret_key: str = field(default_factory=lambda: secrets.token_urlsafe(50))
    database: str = field(default_factory=lambda: f"signup_loadtest_{os.getpid()}")
    processes: list[Process] = field(default_factory=list)
    emulator_url: str = ""
    user_pool_id: str = ""
    client_id: str = ""
    portal_urls: list[str] = field(default_factory=list)
    _database_created: bool = False
    _redis_claimed: bool = False
    _closed: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # --- Set up --------------------------------------------------------------------------------

    def start(self, portals: int = 2) -> None:
        with services_required():
            candidates = REDIS_CANDIDATES if self.redis_db is None else [self.redis_db]
            self.redis_db, self._redis_claimed = claim_redis_db(REDIS_CLAIM_KEY, candidates), True
            create_database(self.database)
            self._database_created = True
        self._start_emulator()
        migrate_and_add_portal(
            self.manage,
            slug=SLUG,
            name="Load test",
            user_pool_id=self.user_pool_id,
            client_id=self.client_id,
            endpoint_url=self.emulator_url,
        )
        for number in range(1, portals + 1):
            self._start_portal(number)

    def env(self) -> dict[str, str]:
        """The portals' environment: production-like, except loopback HTTP and guards opened for one IP."""
        env = portal_env(settings="portal.settings", secret_key=self.secret_key)
        env.update(
            {
                "DATABASE_URL": f"postgres://{POSTGRES['user']}@{POSTGRES['host']}:{POSTGRES['port']}/{self.database}",
                "CACHE_URL": f"redis://{REDIS['host']}:{REDIS['port']}/{self.redis_db}",
                # Every client comes from 127.0.0.1 and fills the form at once.
                "SIGNUP_MIN_FILL_SECONDS": "0",
                "SIGNUP_RATE_SIGNUP_PER_IP": "1000000/600",
                "SIGNUP_RATE_SIGNUP_PER_PORTAL": "1000000/60",
                # Shorter than the emulator's held answer, so `timeout` faults really time out.
                "COGNITO_READ_TIMEOUT": f"{self.read_timeout:g}",
            }
        )
        return env

    def manage(self, *args: str, check: bool = True, timeout: float = 120) -> str:
        """Run manage.py against the load-test database; its output, or StackError if it fails."""
        return run_manage(args, self.env(), timeout=timeout, check=check)

    def _spawn(self, name: str, argv: list[str], env: dict[str, str]) -> Process:
        process = spawn(self.workdir, name, argv, env)
        self.processes.append(process)
        return process

    def _start_emulator(self) -> None:
        ids_file = self.workdir / "demo-pool.json"
        faults = self.faults
        argv = [sys.executable, "manage.py", "emulator", "--host", "127.0.0.1", "--port", "0"]
        argv += ["--demo", "--demo-output", str(ids_file), "--fault-rate", f"{faults.rate:g}"]
        argv += ["--fault-timeout-ms", f"{faults.timeout_ms:g}", "--latency-ms", f"{faults.latency_ms:g}"]
        argv += ["--latency-jitter-ms", f"{faults.latency_jitter_ms:g}"]
        if faults.kinds:
            argv += ["--fault-kinds", ",".join(faults.kinds)]
        if faults.seed is not None:
            argv += ["--fault-seed", str(faults.seed)]
        process = self._spawn("emulator", argv, self.env())
        self.emulator_url = wait_for_log(process, LISTENING, 60).group(1)
        deadline = time.monotonic() + 30
        while not ids_file.exists() or not ids_file.read_text().strip():
            if time.monotonic() > deadline or process.popen.poll() is not None:
                raise StackError(f"the emulator wrote no demo pool; last lines of {process.log}:\n{process.tail()}")
            time.sleep(0.1)
        ids = json.loads(ids_file.read_text())
        self.user_pool_id, self.client_id = ids["user_pool_id"], ids["client_id"]

    def _start_portal(self, number: int) -> None:
        """The Procfile's web command as it is, bound to a free loopback port (not 0.0.0.0:$PORT)."""
        env = self.env()
        env["PORT"] = "0"
        argv = web_argv("127.0.0.1:0", self.workdir / f"portal-{number}.ctl")
        process = self._spawn(f"portal-{number}", argv, env)
        url = wait_for_log(process, GUNICORN_LISTENING, 60).group(1)
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(requests.RequestException):
                if requests.get(f"{url}/readyz", timeout=5).status_code == 200:
                    break
            if time.monotonic() > deadline or process.popen.poll() is not None:
                raise StackError(f"{process.name} is not ready; last lines of {process.log}:\n{process.tail()}")
            time.sleep(0.2)
        self.portal_urls.append(url)

    # --- Read back -----------------------------------------------------------------------------

    def connect(self) -> psycopg.Connection[tuple[object, ...]]:
        return psycopg.connect(dbname=self.database, autocommit=True, connect_timeout=5, **POSTGRES)

    def emulator_json(self, path: str, **params: str) -> dict[str, Any]:
        response = requests.get(f"{self.emulator_url}{path}", params=params, timeout=30)
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    def portal_logs(self) -> list[Path]:
        return [p.log for p in self.processes if p.name.startswith("portal-")]

    # --- Tear down -----------------------------------------------------------------------------

    def stop_processes(self) -> None:
        # Portals first (gunicorn's graceful stop), then the Cognito they call.
        for process in sorted(self.processes, key=lambda p: p.name == "emulator"):
            process.stop(grace=25 if process.name.startswith("portal-") else 5)

    def close(self, *, keep_logs: bool = False) -> list[str]:
        """Stop everything; drop and flush unless kept. Safe to call twice and from the watchdog."""
        notes: list[str] = []
        with self._lock:
            if self._closed:
                return notes
            self._closed = True
            self.stop_processes()
            if self.keep:
                notes.append(f"kept: database {self.database}, Redis db {self.redis_db}, logs in {self.workdir}")
                notes.append(f"  drop later: psql -h 127.0.0.1 -U postgres -c 'DROP DATABASE \"{self.database}\"'")
                notes.append(f"              redis-cli -n {self.redis_db} flushdb")
                return notes
            if self._database_created:
                notes += drop_database(self.database)
            if self._redis_claimed and self.redis_db is not None:
                notes += flush_redis_db(self.redis_db)
            if keep_logs:
                notes.append(f"logs kept in {self.workdir}")
            else:
                shutil.rmtree(self.workdir, ignore_errors=True)
        return notes


def procfile_command(process_type: str) -> str:
    for line in (ROOT / "Procfile").read_text().splitlines():
        name, _, command = line.partition(":")
        if name.strip() == process_type:
            return command.strip()
    raise StackError(f"the Procfile has no {process_type}: line")


def web_argv(bind: str, control_socket: Path) -> list[str]:
    """The Procfile's web command as it is, bound to `bind` (not 0.0.0.0:$PORT)."""
    argv = [os.path.expandvars(word) for word in shlex.split(procfile_command("web"))]
    # gunicorn 27's control socket defaults to ~/.gunicorn/gunicorn.ctl: one per server, so each gets its own.
    return argv + ["--bind", bind, "--control-socket", str(control_socket)]


def portal_env(*, settings: str, secret_key: str) -> dict[str, str]:
    """A portal's environment on loopback, production-like but for plain HTTP and no collectstatic. The caller
    adds its database, its cache and its guard overrides; none is inherited from the shell."""
    env = dict(os.environ)
    for name in ("DATABASE_URL", "CACHE_URL", "REDIS_URL", "SIGNUP_TRUSTED_PROXY_COUNT"):
        env.pop(name, None)
    env.update(
        {
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
            "PYTHONUNBUFFERED": "1",
            "DJANGO_SETTINGS_MODULE": settings,
            "SECRET_KEY": secret_key,
            "DEBUG": "0",
            "PORTAL_ENV": "development",
            "ALLOWED_HOSTS": "127.0.0.1",
            "SECURE_COOKIES": "0",  # plain HTTP on loopback
            "STATICFILES_BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage",  # no collectstatic
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
        }
    )
    return env


def run_manage(args: Sequence[str], env: dict[str, str], *, timeout: float, check: bool = True) -> str:
    """Run manage.py in the repository; its output, or StackError if it fails and `check`."""
    completed = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    output = completed.stdout + completed.stderr
    if check and completed.returncode != 0:
        raise StackError(f"manage.py {' '.join(args)} exited {completed.returncode}:\n{output[-3000:]}")
    return output


def migrate_and_add_portal(
    manage: Callable[..., str],
    *,
    slug: str,
    name: str,
    user_pool_id: str,
    client_id: str,
    endpoint_url: str,
    options: Sequence[str] = (),
) -> None:
    """Migrate the database `manage` runs against, then add the portal, synced from the Cognito at `endpoint_url`."""
    manage("migrate", "--noinput")
    added = manage(
        "portal",
        "add",
        slug,
        "--name",
        name,
        "--user-pool-id",
        user_pool_id,
        "--client-id",
        client_id,
        "--endpoint-url",
        endpoint_url,
        *options,
    )
    if f"Synced {slug}" not in added:
        raise StackError(f"portal add did not sync the portal:\n{added}")


def spawn(workdir: Path, name: str, argv: list[str], env: dict[str, str], *, append: bool = False) -> Process:
    """Start `argv` in the repository as the leader of a new process group (Process.stop ends the group), its
    output in <workdir>/<name>.log: appended to an earlier run's if `append`, else replacing it."""
    log = workdir / f"{name}.log"
    with log.open("ab" if append else "wb") as output:
        popen = subprocess.Popen(
            argv, cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
        )
    return Process(name, popen, log)


def wait_for_log(process: Process, pattern: re.Pattern[str], seconds: float) -> re.Match[str]:
    """The first match of `pattern` in the process's log; StackError if it exits or `seconds` pass first."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = pattern.search(process.log.read_text(errors="replace"))
        if found:
            return found
        if process.popen.poll() is not None:
            break
        time.sleep(0.05)
    raise StackError(f"{process.name} did not start; last lines of {process.log}:\n{process.tail()}")


@contextlib.contextmanager
def services_required() -> Iterator[None]:
    """PostgreSQL or Redis not answering becomes a StackError that says how to start them."""
    try:
        yield
    except (psycopg.OperationalError, redis.ConnectionError) as error:
        raise StackError(f"{error}\nPostgreSQL and Redis must run on loopback: bash scripts/ensure-services") from error


def claim_redis_db(claim_key: str, candidates: Iterable[int] = REDIS_CANDIDATES) -> int:
    """The number of an empty Redis database among `candidates`, marked with `claim_key` so that a run starting
    at the same time passes it over."""
    candidates = list(candidates)
    for number in candidates:
        client = redis.Redis(db=number, socket_timeout=5, **REDIS)
        if client.dbsize() == 0 and client.set(claim_key, str(os.getpid()), nx=True):
            if client.dbsize() == 1:
                return number
            client.delete(claim_key)
    raise StackError(f"no empty Redis database among {candidates}: the one taken is flushed after the run")


def flush_redis_db(number: int) -> list[str]:
    """Empty the Redis database; a note if it could not be."""
    try:
        redis.Redis(db=number, socket_timeout=5, **REDIS).flushdb()
    except redis.RedisError as error:
        return [f"could not flush Redis db {number}: {error}"]
    return []


def create_database(name: str) -> None:
    with psycopg.connect(dbname="postgres", autocommit=True, connect_timeout=5, **POSTGRES) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')


def drop_database(name: str) -> list[str]:
    """Drop the database, connections and all; a note if it could not be."""
    try:
        with psycopg.connect(dbname="postgres", autocommit=True, connect_timeout=5, **POSTGRES) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    except psycopg.Error as error:
        return [f"could not drop database {name}: {error}"]
    return []
