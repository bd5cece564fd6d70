"""The benchmark harness works on this run's backend (SQLite, or PostgreSQL and Redis): every figure is
measured and the portal answered every request as it should. Its targets are the benchmark's business
(docs/performance.md); a timed test would only measure how busy the machine is."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BACKEND = "postgres" if os.environ.get("DATABASE_URL", "").startswith("postgres") else "sqlite"


def run_script(*argv: str) -> subprocess.CompletedProcess[str]:
    completed = subprocess.run(
        [sys.executable, *argv], cwd=ROOT, capture_output=True, text=True, timeout=300, check=False
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    return completed


def test_the_benchmark_measures_every_figure_against_its_baseline(tmp_path):
    figures = tmp_path / "figures.json"
    completed = run_script("bench/run.py", "--quick", "--backend", BACKEND, "--json", str(figures))
    [report] = json.loads(figures.read_text())
    assert report["backend"] == BACKEND
    rows = {row["figure"]: row for row in report["rows"]}
    assert rows["1. AWS calls per form view (steady state)"]["verdict"] == "PASS"
    assert rows["3. Requests not answered 302 (either kind)"]["verdict"] == "PASS"
    assert rows["4. Schema reads (Describe calls) from start to the end of the run"]["verdict"] == "PASS"
    for prefix in (
        "1. Form page throughput",
        "1. Framed form page throughput",
        "2. Sign-up overhead, median",
        "2. Sign-up overhead, p99",
        "2. Portal CPU per sign-up",
        "3. Sign-ups/s at 100 ms",
        "3. Sign-up p99 under that load",
        "3. At an offered 300 sign-ups/s",
        "4. Process start -> first served form",
        "4. First sign-up in each worker",
    ):
        assert any(name.startswith(prefix) for name in rows), prefix
    assert "Targets missed" in completed.stdout


def test_the_write_costs_are_measured_on_this_runs_backend():
    completed = run_script("bench/writes.py", "--backend", BACKEND, "--count", "20")
    assert f"== {BACKEND} ==" in completed.stdout
    for row in ("1. pending attempt (INSERT)", "2. its event (INSERT)", "3. its outcome (UPDATE)", "first warm_thread"):
        assert row in completed.stdout, row


def serve_slowly(seconds: float):
    """A loopback HTTP/1.1 server that answers every request after `seconds`, one at a time per connection."""
    import asyncio

    async def handle(reader, writer):
        try:
            while await reader.readuntil(b"\r\n\r\n"):
                await asyncio.sleep(seconds)
                writer.write(b"HTTP/1.1 302 Found\r\nContent-Length: 0\r\n\r\n")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    return asyncio.start_server(handle, "127.0.0.1", 0)


def paced_against_slow_server(rate: float, seconds: float, connections: int):
    import asyncio

    from bench.client import get, paced

    async def run():
        server = await serve_slowly(0.02)
        port = server.sockets[0].getsockname()[1]
        async with server:
            return await paced(
                "127.0.0.1",
                port,
                lambda: get("127.0.0.1", port, "/"),
                rate=rate,
                seconds=seconds,
                connections=connections,
            )

    return asyncio.run(run())


def test_the_open_loop_keeps_its_pace_when_the_server_keeps_up():
    result = paced_against_slow_server(rate=50, seconds=0.4, connections=4)
    assert result.statuses[302] == 20 and not result.failures
    assert 20 <= result.median() < 100


def test_the_open_loop_counts_the_wait_of_requests_the_server_falls_behind_on():
    # One connection answers 50 requests a second; 100 a second are due, so each waits longer than the last.
    result = paced_against_slow_server(rate=100, seconds=0.3, connections=1)
    assert result.statuses[302] == 30
    ordered = result.latencies_ms
    assert ordered[-1] > ordered[0] + 200  # the last was due at 0.29 s and answered after about 0.6 s
