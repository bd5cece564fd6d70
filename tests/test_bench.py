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


def test_the_call_census_counts_a_form_view_and_a_sign_up():
    import re

    completed = run_script("bench/calls.py", "--views", "5", "--signups", "5")
    counts = {
        label: int(number.replace(",", ""))
        for label, number in re.findall(
            r"^(form page|framed form page|sign-up POST): ([\d,]+) function calls", completed.stdout, re.M
        )
    }
    assert set(counts) == {"form page", "framed form page", "sign-up POST"}, completed.stdout
    assert counts["sign-up POST"] > counts["form page"] > 0  # a sign-up validates, writes and calls Cognito
