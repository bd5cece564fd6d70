"""A cheap HTTP/1.1 keep-alive load generator on asyncio streams.

The load generator shares the two CPUs with everything it measures, so it does the least it can: each
client keeps one connection, sends a request built as bytes, reads the status line, the headers and the
body (Content-Length or chunked) and records the latency. A request whose reused connection is closed
before any answer (gunicorn closes idle kept-alive connections) is sent once more on a new connection,
as browsers do, and counted.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlencode


@dataclass(frozen=True)
class Response:
    status: int
    headers: dict[str, str]
    body: bytes


class ConnectionLost(Exception):
    """The server closed the connection before answering."""


class Connection:
    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.resent = 0

    async def request(self, raw: bytes) -> Response:
        reused = self.writer is not None
        try:
            return await self._exchange(raw)
        except (ConnectionLost, ConnectionResetError, BrokenPipeError):
            self.close()
            if not reused:
                raise
        self.resent += 1
        return await self._exchange(raw)

    async def _exchange(self, raw: bytes) -> Response:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        self.writer.write(raw)
        try:
            head = await self.reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError as error:
            if not error.partial:
                raise ConnectionLost from error
            raise
        lines = head[:-4].decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            name = name.strip().lower()
            value = value.strip()
            # Set-Cookie may repeat; the benchmark needs only the last of each name.
            headers[name] = f"{headers[name]}\n{value}" if name == "set-cookie" and name in headers else value
        if "content-length" in headers:
            body = await self.reader.readexactly(int(headers["content-length"]))
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            body = await self._chunked()
        else:
            body = await self.reader.read()
            self.close()
        if headers.get("connection", "").lower() == "close":
            self.close()
        return Response(status, headers, body)

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


def get(host: str, port: int, path: str, cookie: str = "") -> bytes:
    cookie_line = f"Cookie: {cookie}\r\n" if cookie else ""
    return (
        f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUser-Agent: signup-bench\r\n"
        f"Accept: text/html\r\nAccept-Language: en\r\n{cookie_line}\r\n"
    ).encode("latin-1")


def post_form(host: str, port: int, path: str, fields: dict[str, str], cookie: str = "") -> bytes:
    body = urlencode(fields).encode("ascii")
    cookie_line = f"Cookie: {cookie}\r\n" if cookie else ""
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUser-Agent: signup-bench\r\n"
        f"Accept: text/html\r\nAccept-Language: en\r\n{cookie_line}"
        f"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode("latin-1") + body


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
        return statistics.median(self.latencies_ms) if self.latencies_ms else float("nan")

    def p99(self) -> float:
        return percentile(self.latencies_ms, 99)


def percentile(values: list[float], share: float) -> float:
    """The nearest-rank percentile: the value at or below which `share` % of the samples lie."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * share // 100))
    return ordered[int(rank) - 1]


async def send(connection: Connection, raw: bytes, since: float, result: LoadResult) -> None:
    """One request: its status and its latency counted from `since` go into `result`, or, when no answer
    came, the failure (and the connection is closed, to be opened afresh by the next request)."""
    try:
        response = await connection.request(raw)
    except (OSError, asyncio.IncompleteReadError, ConnectionLost, ValueError) as error:
        result.failures[type(error).__name__] += 1
        connection.close()
        return
    result.latencies_ms.append((time.perf_counter() - since) * 1000)
    result.statuses[response.status] += 1


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
