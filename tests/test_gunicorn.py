"""The shipped gunicorn configuration, served for real: what a load balancer in front of it relies on."""

import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
HELLO = """
def app(environ, start_response):
    start_response("200 OK", [("Content-Length", "2")])
    return [b"ok"]
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def gunicorn(tmp_path):
    (tmp_path / "hello.py").write_text(HELLO)
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--config", str(ROOT / "gunicorn.conf.py"), "--chdir", str(tmp_path)]
        + ["hello:app"],
        env={"PATH": "/usr/bin:/bin", "PORT": str(port), "WEB_CONCURRENCY": "1"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 20
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            assert time.monotonic() < deadline and server.poll() is None, "gunicorn did not start"
            time.sleep(0.1)
    yield port
    server.terminate()
    server.wait(timeout=20)


def ask(connection: socket.socket) -> bytes:
    connection.sendall(b"GET / HTTP/1.1\r\nHost: portal\r\n\r\n")
    answer = b""
    while not answer.endswith(b"\r\n\r\nok"):
        chunk = connection.recv(4096)
        if not chunk:
            break
        answer += chunk
    return answer


def test_an_idle_kept_alive_connection_outlives_the_old_five_seconds(gunicorn):
    # A load balancer reuses idle connections for up to its own idle timeout (60 s on an AWS ALB); if
    # gunicorn closed them first, the request that raced the close would be reset. 5 s was the old value.
    with socket.create_connection(("127.0.0.1", gunicorn), timeout=5) as connection:
        assert ask(connection).startswith(b"HTTP/1.1 200")
        time.sleep(6.5)
        assert ask(connection).startswith(b"HTTP/1.1 200")


def test_the_keepalive_outlasts_a_load_balancers_idle_timeout():
    from gunicorn.config import Config

    config = Config()
    namespace: dict = {}
    exec(compile((ROOT / "gunicorn.conf.py").read_text(), "gunicorn.conf.py", "exec"), namespace)
    for name in ("worker_class", "keepalive"):
        config.set(name, namespace[name])
    assert config.worker_class_str == "gthread"
    assert config.keepalive > 60
