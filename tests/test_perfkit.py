"""perfkit, the toolkit bench/ and loadtest/ share: its statistics and its HTTP client, on their own (the
scripts' own tests run them end to end)."""

import asyncio
import math

import pytest

from perfkit.client import Connection, Response, get, paced
from perfkit.stats import median, percentile


def test_a_percentile_is_the_nearest_ranked_sample():
    values = [float(n) for n in range(100, 0, -1)]  # 1..100, unordered
    assert percentile(values, 99) == 99.0
    assert percentile(values, 95) == 95.0
    assert percentile(values, 100) == 100.0
    assert percentile(values, 0) == 1.0
    assert percentile([3.0, 1.0, 2.0], 50) == 2.0
    assert percentile([5.0], 99) == 5.0
    assert percentile(range(1, 21), 99) == 20  # 19.8 ranks up to the 20th sample


def test_the_median_is_the_fiftieth_percentile_the_lower_middle_of_an_even_count():
    assert median([4.0, 1.0, 3.0, 2.0]) == 2.0
    assert median([1.0, 2.0, 3.0]) == 2.0


def test_no_samples_have_no_percentile_and_fail_every_target():
    assert math.isnan(percentile([], 99))
    assert math.isnan(median([]))
    assert not percentile([], 99) < 200  # a run that measured nothing never passes "p99 under 200 ms"


def test_a_percentile_outside_0_to_100_is_refused():
    with pytest.raises(ValueError):
        percentile([1.0], 101)
    with pytest.raises(ValueError):
        percentile([1.0], -1)


def test_a_response_reads_every_cookie_it_sets():
    headers = {"set-cookie": "csrftoken=abc; Path=/; SameSite=Lax\nsessionid=xyz; HttpOnly"}
    assert Response(200, headers, b"").cookies() == {"csrftoken": "abc", "sessionid": "xyz"}
    assert Response(200, {}, b"").cookies() == {}


def serve(handle):
    return asyncio.start_server(handle, "127.0.0.1", 0)


def two_requests(handle) -> tuple[list[Response], int]:
    """Two GETs on one Connection to a loopback server that `handle` runs: the answers, and how many
    requests the connection sent again."""

    async def run():
        server = await serve(handle)
        port = server.sockets[0].getsockname()[1]
        async with server:
            connection = Connection("127.0.0.1", port)
            try:
                answers = [await connection.request(get("127.0.0.1", port, "/")) for _ in range(2)]
            finally:
                connection.close()
            return answers, connection.resent

    return asyncio.run(run())


def test_a_request_on_a_kept_alive_connection_closed_unanswered_is_sent_again_once_and_counted():
    served = []

    async def handle(reader, writer):
        await reader.readuntil(b"\r\n\r\n")
        served.append(1)
        if len(served) == 1:  # answer, keep the connection, then close it as gunicorn's keepalive does
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            await writer.drain()
            await reader.read(1)  # the next request arrives and is never read
        else:
            writer.write(b"HTTP/1.1 302 Found\r\nContent-Length: 0\r\n\r\n")
            await writer.drain()
        writer.close()

    (first, second), resent = two_requests(handle)
    assert (first.status, first.body, second.status, resent) == (200, b"ok", 302, 1)


def test_an_http_1_0_answer_closes_the_connection_so_the_next_request_opens_a_new_one():
    async def handle(reader, writer):
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok")
        await writer.drain()
        writer.close()

    answers, resent = two_requests(handle)
    assert ([a.status for a in answers], resent) == ([200, 200], 0)


def serve_slowly(seconds: float):
    """A loopback HTTP/1.1 server that answers every request after `seconds`, one at a time per connection."""

    async def handle(reader, writer):
        try:
            while await reader.readuntil(b"\r\n\r\n"):
                await asyncio.sleep(seconds)
                writer.write(b"HTTP/1.1 302 Found\r\nContent-Length: 0\r\n\r\n")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    return serve(handle)


def paced_against_slow_server(rate: float, seconds: float, connections: int):
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


def test_a_process_started_again_under_its_name_reads_only_its_own_log(tmp_path):
    """The portal is started once per backend under one name: the second run must find its own port,
    not the first run's (its log is appended to the first's)."""
    import re
    import sys

    from perfkit.stack import spawn, wait_for_log

    listening = re.compile(r"Listening at: (\d+)")
    ports = []
    for port in (1111, 2222):
        process = spawn(tmp_path, "portal", [sys.executable, "-c", f"print('Listening at: {port}')"], {}, append=True)
        process.popen.wait(10)
        ports.append(int(wait_for_log(process, listening, 5).group(1)))
        assert str(port) in process.tail() and ("1111" in process.tail()) == (port == 1111)
    assert ports == [1111, 2222]
    assert (tmp_path / "portal.log").read_text().count("Listening at") == 2  # both runs' lines are kept
