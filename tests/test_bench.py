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


def test_the_benchmark_measures_every_figure_against_its_baseline(tmp_path):
    figures = tmp_path / "figures.json"
    completed = subprocess.run(
        [sys.executable, "bench/run.py", "--quick", "--backend", BACKEND, "--json", str(figures)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    [report] = json.loads(figures.read_text())
    assert report["backend"] == BACKEND
    rows = {row["figure"]: row for row in report["rows"]}
    assert rows["1. AWS calls per form view (steady state)"]["verdict"] == "PASS"
    assert rows["3. Requests not answered 302 (either kind)"]["verdict"] == "PASS"
    for prefix in (
        "1. Form page throughput",
        "2. Sign-up overhead, median",
        "2. Sign-up overhead, p99",
        "2. Portal CPU per sign-up",
        "3. Sign-ups/s at 100 ms",
        "3. Sign-up p99 under that load",
        "4. Process start -> first served form",
        "4. First sign-up in each worker",
    ):
        assert any(name.startswith(prefix) for name in rows), prefix
    assert "Targets missed" in completed.stdout
