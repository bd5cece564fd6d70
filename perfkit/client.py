"""The one HTTP client of bench/ and loadtest/: HTTP/1.1 keep-alive on asyncio streams, cheap enough to load
the portal from the same two CPUs it runs on.

A Connection sends a request built as bytes and reads the status line, the headers and the body
(Content-Length, chunked, or up to the close). A request whose reused connection is closed before any
answer (gunicorn closes idle kept-alive connections, even as a request arrives) is sent once more on a new
connection, as browsers do, and counted. `load` (closed loop) and `paced` (open loop) drive many
connections; `fetch_json` and `call_json` are the one-off calls to the Cognito's control endpoints and the
portal's /readyz, so everything on the wire goes through the same code.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit

from perfkit.stats import median, percentile

USER_AGENT = "signup-perfkit"


@dataclass(frozen=True)
class Response:
    status: int
    headers: dict[str, str]  # lower-cased names; repeated Set-Cookie headers joined by newlines
    body: bytes

    def cookies(self) -> dict[str, str]:
        """The cookies it sets, name -> value."""
        jar = {}
        for line in self.headers.get("set-cookie", "").split("\n"):
            name, equals, value = line.split(";", 1)[0].strip().partition("=")
            if equals:
                jar[name] = value
        return jar

    def json(self) -> Any:
        return json.loads(self.body)


class ConnectionLost(Exception):
    """The server closed the connection before answering."""


class Connection:
    def __init__(self, host: str, port: int, *, timeout: float | None = None) -> None:
        self.host, self.port, self.timeout = host, port, timeout
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.resent = 0

    async def open(self) -> None:
        if self.writer is None:
            opening = asyncio.open_connection(self.host, self.port)
            self.reader, self.writer = await asyncio.wait_for(opening, self.timeout)

    async def request(self, raw: bytes) -> Response:
        reused = self.writer is not None
        try:
            return await asyncio.wait_for(self._exchange(raw), self.timeout)
        except (ConnectionLost, ConnectionResetError, BrokenPipeError):
            self.close()
            if not reused:
                raise
        self.resent += 1
        return await asyncio.wait_for(self._exchange(raw), self.timeout)

    async def _exchange(self, raw: bytes) -> Response:
        await self.open()
        assert self.reader is not None and self.writer is not None
        self.writer.write(raw)
        try:
            head = await self.reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError as error:
            if not error.partial:
                raise ConnectionLost from error
            raise
        lines = head[:-4].decode("latin-1").split("\r\n")
        version, status = lines[0].split(" ", 2)[:2]
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            name = name.strip().lower()
            value = value.strip()
            headers[name] = f"{headers[name]}\n{value}" if name == "set-cookie" and name in headers else value
        if "content-length" in headers:
            body = await self.reader.readexactly(int(headers["content-length"]))
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            body = await self._chunked()
        else:
            body = await self.reader.read()
            self.close()
        # HTTP/1.1 keeps the connection unless told otherwise; HTTP/1.0 closes it unless told otherwise.
        keep = headers.get("connection", "").lower()
        if keep == "close" or (version == "HTTP/1.0" and keep != "keep-alive"):
            self.close()
        return Response(int(status), headers, body)

    async def _chunked(self) -> bytes:
        assert self.reader is not None
        parts = []
        while True:
            size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                await self.reader.readuntil(b"\r\n")
                return b"".join(parts)
            parts.append(await self.reader.readexactly(size))
            await self.reader.readexactly(2)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


# Failures that leave no answer: refused, reset twice, timed out (TimeoutError is an OSError), garbled.
NO_ANSWER = (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionLost, ValueError)


async def attempt(connection: Connection, raw: bytes) -> Response | BaseException:
    """The answer to `raw`, or the failure that left none (the connection is then closed, to be opened
    afresh by the next request)."""
    try:
        return await connection.request(raw)
    except NO_ANSWER as error:
        connection.close()
        return error


# --- Requests as bytes ---------------------------------------------------------------------------


def build(
    method: str,
    host: str,
    port: int,
    path: str,
    *,
    body: bytes = b"",
    content_type: str = "",
    cookie: str = "",
    headers: Mapping[str, str] | None = None,
) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}:{port}", f"User-Agent: {USER_AGENT}"]
    lines += ["Accept: text/html", "Accept-Language: en"]
    if cookie:
        lines.append(f"Cookie: {cookie}")
    if content_type:
        lines.append(f"Content-Type: {content_type}")
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    if body or method not in ("GET", "HEAD"):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def get(host: str, port: int, path: str, cookie: str = "") -> bytes:
    return build("GET", host, port, path, cookie=cookie)


def post_form(host: str, port: int, path: str, fields: Mapping[str, str], cookie: str = "") -> bytes:
    body = urlencode(fields).encode("ascii")
    return build("POST", host, port, path, body=body, content_type="application/x-www-form-urlencoded", cookie=cookie)


def cookie_header(jar: Mapping[str, str]) -> str:
    return "; ".join(f"{name}={value}" for name, value in jar.items())


def host_port(url: str) -> tuple[str, int]:
    """("127.0.0.1", 8000) from "http://127.0.0.1:8000/…"."""
    parts = urlsplit(url)
    assert parts.hostname is not None and parts.port is not None, url
    return parts.hostname, parts.port


# --- One-off calls -------------------------------------------------------------------------------


async def fetch_json(
    url: str, payload: Any = None, *, headers: Mapping[str, str] | None = None, timeout: float = 30
) -> Any:
    """GET `url` (POST `payload` as JSON when given) on a new connection; the JSON answer. ValueError for any
    status but 200."""
    host, port = host_port(url)
    parts = urlsplit(url)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    if payload is None:
        raw = build("GET", host, port, path, headers=headers)
    else:
        headers = {"Content-Type": "application/json", **(headers or {})}
        raw = build("POST", host, port, path, body=json.dumps(payload).encode(), headers=headers)
    connection = Connection(host, port, timeout=timeout)
    try:
        answer = await connection.request(raw)
    finally:
        connection.close()
    if answer.status != 200:
        raise ValueError(f"{url} answered HTTP {answer.status}: {answer.body[:500]!r}")
    return answer.json()


def call_json(url: str, payload: Any = None, **options: Any) -> Any:
    """fetch_json for code that runs outside an event loop (setting up, reading back)."""
    return asyncio.run(fetch_json(url, payload, **options))


async def status_of(url: str, timeout: float = 5) -> int | None:
    """The status `url` answers a GET with on a new connection; None if it does not answer."""
    host, port = host_port(url)
    connection = Connection(host, port, timeout=timeout)
    try:
        answer = await attempt(connection, get(host, port, urlsplit(url).path or "/"))
    finally:
        connection.close()
    return answer.status if isinstance(answer, Response) else None


# --- Load ----------------------------------------------------------------------------------------


@dataclass
class LoadResult:
    latencies_ms: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    failures: Counter[str] = field(default_factory=Counter)  # no answer at all, by exception
    seconds: float = 0.0
    resent: int = 0

    @property
    def completed(self) -> int:
        return sum(self.statuses.values())

    @property
    def rate(self) -> float:
        return self.completed / self.seconds if self.seconds else 0.0

    def unexpected(self, expected: int) -> int:
        return self.completed - self.statuses[expected] + sum(self.failures.values())

    def median(self) -> float:
        return median(self.latencies_ms)

    def p99(self) -> float:
        return percentile(self.latencies_ms, 99)

    def merge(self, part: LoadResult) -> None:
        self.latencies_ms += part.latencies_ms
        self.statuses.update(part.statuses)
        self.failures.update(part.failures)
        self.seconds += part.seconds
        self.resent += part.resent


async def send(connection: Connection, raw: bytes, since: float, result: LoadResult) -> None:
    """One request: its status and its latency counted from `since` go into `result`, or, when no answer
    came, the failure."""
    answer = await attempt(connection, raw)
    if isinstance(answer, BaseException):
        result.failures[type(answer).__name__] += 1
        return
    result.latencies_ms.append((time.perf_counter() - since) * 1000)
    result.statuses[answer.status] += 1


async def load(
    host: str,
    port: int,
    build: Callable[[], bytes],
    *,
    clients: int,
    seconds: float | None = None,
    requests: int | None = None,
) -> LoadResult:
    """`clients` connections each sending build() requests back to back, for `seconds` or `requests` in all."""
    result = LoadResult()
    deadline = time.perf_counter() + seconds if seconds is not None else float("inf")
    remaining = [requests if requests is not None else -1]

    async def client() -> None:
        connection = Connection(host, port)
        try:
            while time.perf_counter() < deadline:
                if remaining[0] == 0:
                    return
                remaining[0] -= 1
                raw = build()
                await send(connection, raw, time.perf_counter(), result)
        finally:
            result.resent += connection.resent
            connection.close()

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    result.seconds = time.perf_counter() - started
    return result


async def paced(
    host: str, port: int, build: Callable[[], bytes], *, rate: float, seconds: float, connections: int
) -> LoadResult:
    """Open loop: a request every 1/`rate` s whether or not earlier ones were answered, as independent
    visitors arrive, over at most `connections` kept-alive connections (a request that finds none free
    waits for one). Latency counts from the moment the request was due, so a server that falls behind
    shows it in every later request (no coordinated omission)."""
    result = LoadResult()
    free: asyncio.Queue[Connection] = asyncio.Queue()
    pool = [Connection(host, port) for _ in range(connections)]
    for connection in pool:
        free.put_nowait(connection)

    async def one(due: float) -> None:
        connection = await free.get()
        try:
            await send(connection, build(), due, result)
        finally:
            free.put_nowait(connection)

    started = time.perf_counter()
    tasks = []
    for index in range(round(rate * seconds)):
        due = started + index / rate
        wait = due - time.perf_counter()
        if wait > 0:
            await asyncio.sleep(wait)
        tasks.append(asyncio.ensure_future(one(due)))
    await asyncio.gather(*tasks)
    result.seconds = time.perf_counter() - started
    for connection in pool:
        result.resent += connection.resent
        connection.close()
    return result
