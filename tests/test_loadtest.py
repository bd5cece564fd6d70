"""loadtest/run.py on a small scale: the same code path as the full run (the local Cognito with faults,
two gunicorn portal processes on a fresh PostgreSQL database and Redis), with every check it prints."""

import socket
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SMALL_RUN = ["--signups", "60", "--concurrency", "8", "--fault-rate", "0.2", "--max-seconds", "90"]


def answers(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    except OSError:
        return False
    return True


def test_a_small_load_test_passes_every_check():
    if not (answers(5432) and answers(6379)):
        subprocess.run(["bash", "scripts/ensure-services"], cwd=ROOT, check=True, timeout=120)
    run = subprocess.run(
        [sys.executable, "loadtest/run.py", *SMALL_RUN],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=150,
        check=False,
    )
    output = run.stdout + run.stderr
    assert run.returncode == 0, output
    assert "RESULT: all 11 checks passed" in output
    assert "PASS  no 5xx answer" in output
