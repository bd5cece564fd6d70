"""The stack bench/ and loadtest/ run on, all on loopback: a Cognito (the local emulator, with faults if asked,
or the fake that replays its answers), a database (SQLite, or a new PostgreSQL database with an empty Redis
database) and the Procfile's `web:` command serving the portal.

The portal is created the honest way: the local Cognito (`manage.py emulator --demo`) creates the demo pool
and `manage.py portal add` syncs the portal from whichever Cognito runs, as it would from AWS. Everything
started here is stopped here, by process group; a database created here is dropped and a Redis database
claimed here is flushed, unless kept.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import runpy
import secrets
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import psycopg
import redis

from perfkit.client import call_json, status_of

ROOT = Path(__file__).resolve().parent.parent
POSTGRES = {"host": "127.0.0.1", "port": 5432, "user": "postgres"}
REDIS = {"host": "127.0.0.1", "port": 6379}
# Databases 0 (the default) and 1 (make test-postgres) belong to others; a run takes an empty one.
REDIS_CANDIDATES = range(15, 1, -1)
EMULATOR_LISTENING = re.compile(r"Cognito emulator listening on (http://127\.0\.0\.1:\d+)")
FAKE_LISTENING = re.compile(r"fake Cognito listening on (http://127\.0\.0\.1:\d+)")
GUNICORN_LISTENING = re.compile(r"Listening at: http://127\.0\.0\.1:(\d+)")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
# Changes from production, each because of the load itself: every client is 127.0.0.1 and posts a form the
# moment it has it. The guards still run on every POST (printed with the results).
GUARD_OVERRIDES = {
    "SIGNUP_MIN_FILL_SECONDS": "0",
    "SIGNUP_RATE_SIGNUP_PER_IP": "100000000/600",
    "SIGNUP_RATE_SIGNUP_PER_PORTAL": "100000000/60",
    "SIGNUP_RATE_SIGNUP_PER_USERNAME": "100000000/60",
}


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


@dataclass(frozen=True)
class Pool:
    user_pool_id: str
    client_id: str
    client_secret: str


@dataclass
class Process:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path
    offset: int = 0  # where this run's lines start in a log that an earlier run of the same name began

    def output(self) -> str:
        """What this run wrote to its log (not an earlier run's lines above it)."""
        try:
            with self.log.open("rb") as log:
                log.seek(self.offset)
                return log.read().decode(errors="replace")
        except OSError:
            return ""

    def tail(self, lines: int = 30) -> str:
        return "\n".join(self.output().splitlines()[-lines:])

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
    """Everything one run starts; close() stops and removes it, also after Ctrl-C and from a watchdog."""

    name: str  # "bench", "loadtest": names the work directory, the PostgreSQL database and the Redis claim
    slug: str  # the portal's
    settings: str = "portal.settings"  # the portals' DJANGO_SETTINGS_MODULE (manage.py runs the portal's own)
    extra_env: dict[str, str] = field(default_factory=dict)  # the portals' environment beyond portal_env()
    secret_env: str = ""  # the variable the portal reads the client secret from; "" : DescribeUserPoolClient
    keep: bool = False  # leave the database, the Redis database and the logs for a look afterwards
    workdir: Path = field(init=False)
    secret_key: str = field(default_factory=lambda: secrets.token_urlsafe(50))
    processes: list[Process] = field(default_factory=list)
    pool: Pool | None = None
    cognito_url: str = ""
    cognito_pid: int = 0
    portal_urls: list[str] = field(default_factory=list)  # the portals started ready, in order
    backend: str = ""  # sqlite | postgres, while a database is open
    database_url: str = ""
    cache_url: str = ""
    database: str = ""  # the PostgreSQL database created here
    redis_db: int | None = None  # the Redis database claimed here
    _closed: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.workdir = Path(tempfile.mkdtemp(prefix=f"signup-{self.name}-"))

    # --- Environment ---------------------------------------------------------------------------

    def env(self, settings: str | None = None) -> dict[str, str]:
        env = portal_env(settings=settings or self.settings, secret_key=self.secret_key)
        env.update(GUARD_OVERRIDES)
        env.update(self.extra_env)
        if self.database_url:
            env["DATABASE_URL"] = self.database_url
        if self.cache_url:
            env["CACHE_URL"] = self.cache_url
        if self.pool is not None and self.secret_env:
            env[self.secret_env] = self.pool.client_secret
        return env

    def manage(self, *args: str, check: bool = True, timeout: float = 180) -> str:
        """Run manage.py against this stack's database; its output, or StackError if it fails and `check`."""
        return run_manage(args, self.env("portal.settings"), timeout=timeout, check=check)

    def spawn(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> Process:
        # Appended: a name started again (the portal, once per backend) keeps the earlier run's lines.
        process = spawn(self.workdir, name, argv, self.env() if env is None else env, append=True)
        self.processes.append(process)
        return process

    def stop(self, process: Process, grace: float = 20) -> None:
        process.stop(grace)
        with contextlib.suppress(ValueError):
            self.processes.remove(process)

    # --- Cognito -------------------------------------------------------------------------------

    def start_emulator(self, faults: FaultOptions | None = None) -> Process:
        """The local Cognito with the demo pool (and `faults` from the start); its URL and the pool are kept."""
        ids_file = self.workdir / "demo-pool.json"
        argv = [sys.executable, "manage.py", "emulator", "--host", "127.0.0.1", "--port", "0"]
        argv += ["--demo", "--demo-output", str(ids_file)]
        if faults is not None:
            argv += ["--fault-rate", f"{faults.rate:g}", "--fault-timeout-ms", f"{faults.timeout_ms:g}"]
            argv += ["--latency-ms", f"{faults.latency_ms:g}", "--latency-jitter-ms", f"{faults.latency_jitter_ms:g}"]
            if faults.kinds:
                argv += ["--fault-kinds", ",".join(faults.kinds)]
            if faults.seed is not None:
                argv += ["--fault-seed", str(faults.seed)]
        process = self.spawn("emulator", argv, self.env("portal.settings"))
        self.cognito_url = wait_for_log(process, EMULATOR_LISTENING, 90).group(1)
        self.cognito_pid = process.popen.pid
        deadline = time.monotonic() + 30
        while not ids_file.exists() or not ids_file.read_text().strip():
            if time.monotonic() > deadline or process.popen.poll() is not None:
                raise StackError(f"the emulator wrote no demo pool; last lines of {process.log}:\n{process.tail()}")
            time.sleep(0.1)
        ids = json.loads(ids_file.read_text())
        described = self.cognito_call(
            "DescribeUserPoolClient", UserPoolId=ids["user_pool_id"], ClientId=ids["client_id"]
        )
        secret = str(described["UserPoolClient"].get("ClientSecret", ""))
        self.pool = Pool(ids["user_pool_id"], ids["client_id"], secret)
        return process

    def record_pool(self) -> Path:
        """Create the demo pool on the local Cognito, record its two Describe answers for the fake to replay,
        and stop the emulator (so nothing measured later runs beside it)."""
        emulator = self.start_emulator()
        try:
            assert self.pool is not None
            recorded = {
                "DescribeUserPool": self.cognito_call("DescribeUserPool", UserPoolId=self.pool.user_pool_id),
                "DescribeUserPoolClient": self.cognito_call(
                    "DescribeUserPoolClient", UserPoolId=self.pool.user_pool_id, ClientId=self.pool.client_id
                ),
            }
        finally:
            self.stop(emulator, grace=5)
            self.cognito_url, self.cognito_pid = "", 0
        describe_file = self.workdir / "describe.json"
        describe_file.write_text(json.dumps(recorded))
        return describe_file

    def start_fake(self, latency_ms: float, describe_file: Path) -> Process:
        """perfkit/fakecognito.py, replaying the recorded Describe answers, after `latency_ms` per call."""
        argv = [sys.executable, "-m", "perfkit.fakecognito", "--port", "0", "--latency-ms", f"{latency_ms:g}"]
        argv += ["--describe", str(describe_file)]
        if self.secret_env:
            argv += ["--secret-env", self.secret_env]
        process = self.spawn("fakecognito", argv)
        self.cognito_url = wait_for_log(process, FAKE_LISTENING, 30).group(1)
        self.cognito_pid = process.popen.pid
        return process

    def cognito_call(self, operation: str, **params: Any) -> dict[str, Any]:
        """One Cognito call as raw JSON 1.1, so the answer can be replayed as it was."""
        headers = {
            "Content-Type": "application/x-amz-json-1.1",
            "X-Amz-Target": f"AWSCognitoIdentityProviderService.{operation}",
        }
        result: dict[str, Any] = call_json(self.cognito_url, params, headers=headers)
        return result

    def cognito_json(self, path: str, payload: Any = None, **query: str) -> Any:
        """A control endpoint of the running Cognito (the emulator's /_users, the fake's /_counts, ...)."""
        url = self.cognito_url + path + (f"?{urlencode(query)}" if query else "")
        return call_json(url, payload)

    # --- Databases -------------------------------------------------------------------------------

    def open_database(self, backend: str, redis_db: int | None = None) -> None:
        """A new database: a SQLite file with the local-memory cache (the embedded default), or a PostgreSQL
        database with an empty Redis database (`redis_db`, or one found empty among 2 to 15)."""
        self.backend = backend
        if backend == "sqlite":
            self.database_url = f"sqlite:///{self.workdir / f'{self.name}.sqlite3'}"
            self.cache_url = ""
            return
        with services_required():
            candidates = REDIS_CANDIDATES if redis_db is None else [redis_db]
            self.redis_db = claim_redis_db(f"signup-{self.name}:claimed-by", candidates)
            self.database = f"signup_{self.name}_{secrets.token_hex(4)}"
            create_database(self.database)
        self.database_url = f"postgres://{POSTGRES['user']}@{POSTGRES['host']}:{POSTGRES['port']}/{self.database}"
        self.cache_url = f"redis://{REDIS['host']}:{REDIS['port']}/{self.redis_db}"

    def add_portal(self, name: str) -> None:
        """Migrate the database, then add the portal, synced from the running Cognito."""
        assert self.pool is not None and self.cognito_url
        self.manage("migrate", "--noinput")
        argv = ["portal", "add", self.slug, "--name", name, "--user-pool-id", self.pool.user_pool_id]
        argv += ["--client-id", self.pool.client_id, "--endpoint-url", self.cognito_url]
        # The clients here are the load, not browsers: they would spend the run on proofs of work. What the
        # check costs the server is its own figure (bench/challenge.py).
        argv += ["--challenge", "off"]
        if self.secret_env:
            argv += ["--client-secret-env", self.secret_env]
        added = self.manage(*argv)
        if f"Synced {self.slug}" not in added:
            raise StackError(f"portal add did not sync the portal:\n{added}")

    def connect(self) -> psycopg.Connection[tuple[object, ...]]:
        return psycopg.connect(dbname=self.database, autocommit=True, connect_timeout=5, **POSTGRES)

    def close_database(self) -> list[str]:
        """Drop the PostgreSQL database and flush the Redis database (unless kept); notes on what could not be."""
        notes: list[str] = []
        if self.keep and (self.database or self.redis_db is not None):
            notes.append(f"kept: database {self.database}, Redis db {self.redis_db}")
            notes.append(f"  drop later: psql -h 127.0.0.1 -U postgres -c 'DROP DATABASE \"{self.database}\"'")
            notes.append(f"              redis-cli -n {self.redis_db} flushdb")
        else:
            if self.database:
                notes += drop_database(self.database)
            if self.redis_db is not None:
                notes += flush_redis_db(self.redis_db)
            for leftover in self.workdir.glob(f"{self.name}.sqlite3*"):
                leftover.unlink()
        self.database, self.redis_db = "", None
        self.database_url = self.cache_url = self.backend = ""
        return notes

    # --- Portals ---------------------------------------------------------------------------------

    def start_portal(self, name: str, *, ready: bool = True) -> tuple[Process, int, float]:
        """The Procfile's web command as it is, bound to a free loopback port (not 0.0.0.0:$PORT):
        (process, port, when it was started). With `ready`, once /readyz answers 200 (in portal_urls)."""
        env = self.env()
        env["PORT"] = "0"
        argv = web_argv("127.0.0.1:0", self.workdir / f"{name}.ctl")
        started = time.perf_counter()
        process = self.spawn(name, argv, env)
        port = int(wait_for_log(process, GUNICORN_LISTENING, 60).group(1))
        if ready:
            url = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 60
            while asyncio.run(status_of(f"{url}/readyz")) != 200:
                if time.monotonic() > deadline or process.popen.poll() is not None:
                    raise StackError(f"{name} is not ready; last lines of {process.log}:\n{process.tail()}")
                time.sleep(0.2)
            self.portal_urls.append(url)
        return process, port, started

    def portal_logs(self, prefix: str) -> list[Path]:
        return [p.log for p in self.processes if p.name.startswith(prefix)]

    # --- Tear down -------------------------------------------------------------------------------

    def stop_processes(self) -> None:
        """The portals first (gunicorn's graceful stop), then the Cognito they call."""
        cognito = ("emulator", "fakecognito")
        for process in sorted(self.processes, key=lambda p: p.name in cognito):
            process.stop(grace=5 if process.name in cognito else 25)

    def close(self, *, keep_logs: bool = False) -> list[str]:
        """Stop everything; drop and flush unless kept. Safe to call twice and from a watchdog thread."""
        with self._lock:
            if self._closed:
                return []
            self._closed = True
            self.stop_processes()
            notes = self.close_database()
            if self.keep or keep_logs:
                notes.append(f"logs kept in {self.workdir}")
            else:
                shutil.rmtree(self.workdir, ignore_errors=True)
            return notes


# --- A command's life on a stack ---------------------------------------------------------------------


def run_on_stack(command: str, stack: Stack, work: Callable[[Stack], int]) -> int:
    """work(stack)'s exit status; 2 when the stack could not be set up, 130 on Ctrl-C or SIGTERM, 1 on a
    crash. The stack is taken down whatever happens; its logs are kept unless the status is 0."""

    def terminate(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, terminate)
    status = 1
    try:
        status = work(stack)
    except StackError as error:
        print(f"{command}: the stack could not be set up: {error}", file=sys.stderr)
        status = 2
    except KeyboardInterrupt:
        print(f"{command}: interrupted; stopping everything", file=sys.stderr)
        status = 130
    except Exception:
        traceback.print_exc()
        status = 1
    finally:
        for note in stack.close(keep_logs=status != 0):
            print(note, file=sys.stderr, flush=True)
        signal.signal(signal.SIGTERM, previous)
    return status


# --- Processes, manage.py and gunicorn -----------------------------------------------------------


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


def in_django(stack: Stack, what: str, script: str, *args: str, timeout: float = 600) -> Any:
    """Run a Python script in a fresh process with the portals' settings and database; the JSON it prints last."""
    completed = subprocess.run(
        [sys.executable, "-c", script, *args],
        cwd=ROOT,
        env=stack.env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if completed.returncode != 0:
        raise StackError(f"{what} failed:\n{completed.stderr[-3000:]}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def spawn(workdir: Path, name: str, argv: list[str], env: dict[str, str], *, append: bool = False) -> Process:
    """Start `argv` in the repository as the leader of a new process group (Process.stop ends the group), its
    output in <workdir>/<name>.log: appended to an earlier run's if `append`, else replacing it."""
    log = workdir / f"{name}.log"
    offset = log.stat().st_size if append and log.exists() else 0
    with log.open("ab" if append else "wb") as output:
        popen = subprocess.Popen(
            argv, cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
        )
    return Process(name, popen, log, offset)


def wait_for_log(process: Process, pattern: re.Pattern[str], seconds: float) -> re.Match[str]:
    """The first match of `pattern` in what this run of the process logged (a name started again, the
    portal once per backend, appends to one log: the earlier run's port is not this one's); StackError if
    it exits or `seconds` pass first."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = pattern.search(process.output())
        if found:
            return found
        if process.popen.poll() is not None:
            break
        time.sleep(0.05)
    raise StackError(f"{process.name} did not start; last lines of {process.log}:\n{process.tail()}")


def gunicorn_settings(env: dict[str, str]) -> dict[str, Any]:
    """What gunicorn.conf.py evaluates to in `env` (read, never changed)."""
    saved = dict(os.environ)
    try:
        os.environ.clear()
        os.environ.update(env)
        values = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return {k: v for k, v in values.items() if not k.startswith("__") and isinstance(v, str | int | float)}


# --- CPU time, from /proc ------------------------------------------------------------------------


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


# --- PostgreSQL and Redis ------------------------------------------------------------------------


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
