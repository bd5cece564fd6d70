"""What the run did, read back from the clients, the portals' logs, PostgreSQL and the local Cognito,
and the checks that must hold. Every figure printed comes from one of those sources.
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from loadtest.traffic import SLUG, Sample, TrafficResult, Visit
from perfkit.stack import Stack
from perfkit.stats import percentile

ACCESS_LINE = re.compile(r'^\S+ "(?P<method>[A-Z]+) (?P<path>\S+)" (?P<status>\d{3}) ')
KINDS = ["form", "signup", "repeat", "confirm_page", "confirm"]
STATUS_ORDER = ["succeeded", "unknown", "failed", "rejected", "pending", "invalid", "blocked"]
MEANING = [
    ("succeeded", "the user exists: SignUp answered with a user, or reconcile_attempts found the user"),
    ("unknown", "the user may exist (no usable answer: read timeout, garbage, dropped connection; or"),
    ("", "LimitExceededException, sent after the user was stored): reconcile_attempts asks AdminGetUser"),
    ("", "and settles it as succeeded or failed"),
    ("failed", "no user: Cognito did nothing (e.g. throttled past the retries), or reconcile found none;"),
    ("", "reconcile_attempts never looks again, so a user behind a failed attempt is a bug"),
    ("rejected", "Cognito refused what was sent (e.g. a taken username); this attempt created no user"),
]
EVIDENCE_ROWS = 20


@dataclass
class Check:
    name: str
    ok: bool
    figures: str
    evidence: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Attempt:
    reference: str
    username: str
    status: str
    error_code: str
    idempotency_key: str | None
    confirmed: bool


@dataclass
class Facts:
    traffic: TrafficResult
    before: list[Attempt]  # as the traffic left them
    after: list[Attempt]  # after reconcile_attempts
    throttle_retries: int
    reconcile_notes: Counter[str]
    reconcile_ok: bool
    users: dict[str, str]  # username (lower-cased: the demo pool is case-insensitive) -> status
    fault_log: dict[str, Any]
    plan: dict[str, Any]
    sign_up_faults: dict[str, list[str]]  # username -> the kinds its SignUp calls met, in order
    confirm_faults: dict[str, list[str]]  # username -> the kinds its ConfirmSignUp calls met, in order
    access: Counter[int] = field(default_factory=Counter)
    access_lines: dict[str, int] = field(default_factory=dict)
    log_errors: list[str] = field(default_factory=list)


def read_attempts(stack: Stack) -> tuple[list[Attempt], int]:
    """The load-test portal's attempts, and how many SignUp retries after throttling they record."""
    with stack.connect() as db:
        rows = db.execute(
            "SELECT a.reference::text, a.username, a.status, a.error_code, a.idempotency_key, "
            "a.confirmed_at IS NOT NULL "
            "FROM signup_signupattempt a JOIN signup_portal p ON p.id = a.portal_id WHERE p.slug = %s",
            [SLUG],
        ).fetchall()
        retries = db.execute(
            "SELECT count(*) FROM signup_attemptevent WHERE kind = 'signup' AND NOT ok "
            "AND error_code = 'TooManyRequestsException' AND detail ? 'retry'"
        ).fetchone()
    return [Attempt(*row) for row in rows], int(retries[0]) if retries else 0


def reconcile(stack: Stack) -> tuple[Counter[str], bool]:
    """manage.py reconcile_attempts --older-than-minutes 0: each settled attempt's note, counted."""
    output = stack.manage("reconcile_attempts", "--older-than-minutes", "0", check=False, timeout=300)
    notes: Counter[str] = Counter()
    for line in output.splitlines():
        parts = line.split("\t")
        if len(parts) == 3 and parts[1] == SLUG:
            notes[parts[2]] += 1
    return notes, "could not be reconciled" not in output


def collect(stack: Stack, traffic: TrafficResult) -> Facts:
    """Everything but the portals' logs, while the stack still runs (reconcile_attempts needs Cognito)."""
    before, retries = read_attempts(stack)
    notes, reconciled = reconcile(stack)
    after, _ = read_attempts(stack)
    assert stack.pool is not None
    pool = stack.cognito_json("/_users", user_pool_id=stack.pool.user_pool_id)
    fault_log = stack.cognito_json("/_faults/log")
    # Kept with the logs when a check fails: the evidence behind the figures.
    (stack.workdir / "users.json").write_text(json.dumps(pool, indent=1))
    (stack.workdir / "faults-log.json").write_text(json.dumps(fault_log, indent=1))
    met: dict[str, dict[str, list[str]]] = {"SignUp": defaultdict(list), "ConfirmSignUp": defaultdict(list)}
    for record in fault_log["faults"]:
        if record["operation"] in met and record["username"]:
            met[record["operation"]][record["username"].lower()].append(record["kind"])
    return Facts(
        traffic=traffic,
        before=before,
        after=after,
        throttle_retries=retries,
        reconcile_notes=notes,
        reconcile_ok=reconciled,
        users={user["username"].lower(): user["status"] for user in pool["users"]},
        fault_log=fault_log,
        plan=stack.cognito_json("/_faults"),
        sign_up_faults=dict(met["SignUp"]),
        confirm_faults=dict(met["ConfirmSignUp"]),
    )


def read_logs(facts: Facts, paths: Iterable[Path]) -> None:
    """The portals' access-log statuses for the load-test pages, lines per process, and every error
    they logged (JSON lines at error level, gunicorn's own errors). Read once gunicorn has stopped."""
    for path in paths:
        count = 0
        for line in path.read_text(errors="replace").splitlines():
            access = ACCESS_LINE.match(line)
            if access:
                if access["path"].startswith(f"/signup/{SLUG}/"):  # not the /readyz probes
                    facts.access[int(access["status"])] += 1
                    count += 1
            elif line.startswith("{"):
                try:
                    level = json.loads(line).get("level")
                except ValueError:
                    level = None
                if level in ("error", "critical"):
                    facts.log_errors.append(f"{path.stem}: {line[:300]}")
            elif "[ERROR]" in line or "[CRITICAL]" in line:
                facts.log_errors.append(f"{path.stem}: {line[:300]}")
        facts.access_lines[path.stem] = count


# --- Checks ------------------------------------------------------------------------------------


def checks(facts: Facts, signups: int) -> list[Check]:
    traffic = facts.traffic
    posted = [v for v in traffic.visits if v.posts > 0]
    answers = Counter(s.status for s in traffic.samples)
    server_errors = sum(n for status, n in answers.items() if status is not None and status >= 500)
    logged_5xx = sum(n for status, n in facts.access.items() if status >= 500)
    unanswered = [s for s in traffic.samples if s.status is None]
    answered, logged = len(traffic.samples) - len(unanswered), sum(facts.access_lines.values())
    resets = sum(s.resets for s in traffic.samples)
    repeated = [v for v in posted if v.repeat]
    differing = [v for v in repeated if len(set(v.outcomes)) > 1]
    pending_before = [a for a in facts.before if a.status == "pending"]
    pending_after = [a for a in facts.after if a.status == "pending"]
    unsettled = [a for a in facts.after if a.status in ("pending", "unknown")]
    return [
        Check(
            f"all {signups} sign-ups sent within the time cap",
            not traffic.stopped_early and not traffic.client_errors,
            f"{len(traffic.visits)} forms opened, {len(posted)} posted; {len(traffic.client_errors)} client errors",
            traffic.client_errors,
        ),
        Check(
            "no 5xx answer",
            server_errors == 0 and logged_5xx == 0,
            f"clients saw {server_errors}, the portals' access logs show {logged_5xx}",
        ),
        Check(
            "every request answered, and logged once by one portal",
            not unanswered and answered == logged,
            f"{answered} of {len(traffic.samples)} answered ({resets} re-sent once after a reset); "
            f"{logged} in the access logs",
            [f"{s.kind} to portal-{s.portal + 1}: {s.error} after {s.ms:.0f} ms" for s in unanswered],
        ),
        recorded_once(facts, posted),
        one_sign_up_per_form(facts, posted),
        Check(
            "a repeated POST gets the first POST's answer",
            not differing,
            f"{len(repeated) - len(differing)} of {len(repeated)} repeated forms answered alike",
            [f"{v.username} ({v.repeat}): {' | '.join(v.outcomes)}" for v in differing],
        ),
        Check(
            "no attempt left pending",
            not pending_before and not pending_after,
            f"{len(pending_before)} after the traffic, {len(pending_after)} after reconcile_attempts",
            [describe(a, facts) for a in pending_before],
        ),
        Check(
            "reconcile_attempts settles every unknown attempt",
            not unsettled and facts.reconcile_ok,
            f"{sum(facts.reconcile_notes.values())} settled, {len(unsettled)} left",
            [describe(a, facts) for a in unsettled],
        ),
        succeeded_equals_users(facts),
        confirmed_means_confirmed(facts),
        Check(
            "no error in the portals' logs", not facts.log_errors, f"{len(facts.log_errors)} lines", facts.log_errors
        ),
    ]


def recorded_once(facts: Facts, posted: list[Visit]) -> Check:
    """One attempt per rendered form, whatever the number of POSTs: by form key and by username."""
    by_key = Counter(a.idempotency_key for a in facts.before)
    by_name = Counter(a.username.lower() for a in facts.before)
    evidence = [
        f"{v.username}: {by_key[v.form_key]} attempts for its form, {by_name[v.username]} for its username"
        for v in posted
        if by_key[v.form_key] != 1 or by_name[v.username] != 1
    ]
    keys = {v.form_key for v in posted}
    evidence += [
        f"{describe(a, facts)} belongs to no posted form" for a in facts.before if a.idempotency_key not in keys
    ]
    repeats = sum(v.posts - 1 for v in posted)
    ok = not evidence and len(facts.before) == len(posted)
    return Check(
        "every form recorded exactly once",
        ok,
        f"{len(facts.before)} attempts for {len(posted)} forms; {repeats} repeated POSTs "
        + ("added none" if ok else "sent"),
        evidence,
    )


def one_sign_up_per_form(facts: Facts, posted: list[Visit]) -> Check:
    calls = int(facts.fault_log["calls"].get("SignUp", 0))
    expected = len(posted) + facts.throttle_retries
    return Check(
        "one SignUp call per form (plus retries after throttling)",
        calls == expected,
        f"Cognito saw {calls} SignUp calls; {len(posted)} forms + {facts.throttle_retries} retries = {expected}",
    )


def succeeded_equals_users(facts: Facts) -> Check:
    succeeded = {a.username.lower() for a in facts.after if a.status == "succeeded"}
    evidence = [
        f"{describe(a, facts)}: its user exists ({facts.users[a.username.lower()]})"
        for a in facts.after
        if a.username.lower() in facts.users and a.username.lower() not in succeeded
    ]
    evidence += [
        f"{describe(a, facts)}: the pool has no such user"
        for a in facts.after
        if a.status == "succeeded" and a.username.lower() not in facts.users
    ]
    ours = {a.username.lower() for a in facts.after}
    evidence += [f"user {name} ({status}) has no attempt" for name, status in facts.users.items() if name not in ours]
    return Check(
        "succeeded attempts == users in the pool",
        len(succeeded) == len(facts.users) and not evidence,
        f"{len(succeeded)} succeeded, {len(facts.users)} users",
        evidence,
    )


def confirmed_means_confirmed(facts: Facts) -> Check:
    """An attempt marked confirmed drops out of the stuck-user queue: its user must really be CONFIRMED.
    (The other way round is allowed: a confirmation whose answer was lost is marked when the visitor
    confirms again, or when an operator looks the user up.)"""
    marked = [a for a in facts.after if a.confirmed]
    false = [a for a in marked if facts.users.get(a.username.lower()) != "CONFIRMED"]
    confirmed = sum(status == "CONFIRMED" for status in facts.users.values())
    return Check(
        "an attempt marked confirmed has a CONFIRMED user",
        not false,
        f"{len(marked) - len(false)} of {len(marked)} marked attempts; {confirmed} users CONFIRMED in the pool",
        [f"{describe(a, facts)}: its user is {facts.users.get(a.username.lower(), 'missing')}" for a in false],
    )


def describe(attempt: Attempt, facts: Facts) -> str:
    name = attempt.username.lower()
    code = f" {attempt.error_code}" if attempt.error_code else ""
    confirm = facts.confirm_faults.get(name)
    return (
        f"{attempt.username} (attempt {attempt.reference}, {attempt.status}{code}; "
        f"SignUp faults: {'+'.join(facts.sign_up_faults.get(name, [])) or 'none'}"
        + (f"; ConfirmSignUp faults: {'+'.join(confirm)}" if confirm else "")
        + ")"
    )


# --- Printing ----------------------------------------------------------------------------------


def status_counts(statuses: Iterable[str]) -> str:
    counts = Counter(statuses)
    order = [s for s in STATUS_ORDER if s in counts] + sorted(s for s in counts if s not in STATUS_ORDER)
    return ", ".join(f"{s} {counts[s]}" for s in order) or "none"


def request_table(samples: list[Sample]) -> list[str]:
    lines = [f"  {'request':<13}{'count':>7}  {'p50 ms':>7}{'p95 ms':>8}{'p99 ms':>8}{'max ms':>8}  statuses"]
    for kind in [*KINDS, "all"]:
        chosen = [s for s in samples if kind in ("all", s.kind)]
        if not chosen:
            continue
        times = [s.ms for s in chosen]
        statuses = Counter("no answer" if s.status is None else str(s.status) for s in chosen)
        lines.append(
            f"  {kind:<13}{len(chosen):>7}  {percentile(times, 50):>7.0f}{percentile(times, 95):>8.0f}"
            f"{percentile(times, 99):>8.0f}{max(times):>8.0f}  "
            + ", ".join(f"{k}: {v}" for k, v in sorted(statuses.items()))
        )
    return lines


def fault_lines(log: dict[str, Any]) -> list[str]:
    by_operation: dict[str, Counter[str]] = defaultdict(Counter)
    created: Counter[str] = Counter()
    for record in log["faults"]:
        by_operation[record["operation"]][record["kind"]] += 1
        created[record["operation"]] += bool(record["created"])
    lines = []
    for operation, calls in log["calls"].items():
        kinds = by_operation[operation]
        detail = ", ".join(f"{kind} {n}" for kind, n in sorted(kinds.items())) or "none"
        extra = f"; users stored by faulted calls {created[operation]}" if operation == "SignUp" else ""
        lines.append(f"  {operation}: {calls} calls, {sum(kinds.values())} faults ({detail}){extra}")
    return lines


def outcome_table(facts: Facts) -> list[str]:
    """Per fault path: the SignUp faults met, the status before and after reconcile, whether the user exists."""
    after = {a.reference: a.status for a in facts.after}
    rows: Counter[tuple[str, str, str, str]] = Counter()
    for attempt in facts.before:
        kinds = "+".join(facts.sign_up_faults.get(attempt.username.lower(), [])) or "none"
        exists = "yes" if attempt.username.lower() in facts.users else "no"
        rows[(kinds, attempt.status, after.get(attempt.reference, "?"), exists)] += 1
    lines = [f"  {'SignUp faults met':<30}{'before':<11}{'after':<11}{'user':<6}attempts"]
    for (kinds, before, later, exists), count in sorted(rows.items(), key=lambda row: (-row[1], row[0])):
        flag = "" if (later == "succeeded") == (exists == "yes") else "   <- mismatch"
        lines.append(f"  {kinds:<30}{before:<11}{later:<11}{exists:<6}{count:>8}{flag}")
    return lines


def render(facts: Facts, results: list[Check], stack: Stack, options: dict[str, Any]) -> str:
    traffic, plan = facts.traffic, facts.plan
    posted = [v for v in traffic.visits if v.posts > 0]
    repeats = Counter(v.repeat for v in posted if v.repeat)
    confirmations = [v for v in posted if v.confirmed is not None]
    seconds = max(traffic.seconds, 1e-9)
    failed = [c for c in results if not c.ok]
    out = [
        f"== Load test: {options['signups']} sign-ups, {options['concurrency']} clients, "
        f"{options['fault_rate']:.0%} Cognito faults, {os.cpu_count()} CPUs ==",
        f"portals     {len(stack.portal_urls)} processes of `{options['web']}` on {', '.join(stack.portal_urls)}",
        f"            PostgreSQL {stack.database}, Redis db {stack.redis_db}; "
        f"COGNITO_READ_TIMEOUT {options['read_timeout']:g} s",
        f"cognito     {stack.cognito_url}, pool {stack.pool.user_pool_id if stack.pool else ''}",
        f"            faults: rate {plan['rate']:g} of {', '.join(plan['operations'])} as {', '.join(plan['kinds'])};",
        f"            timeout holds the answer {plan['timeout_ms']:g} ms; latency {plan['latency_ms']:g} +- "
        f"{plan['latency_jitter_ms']:g} ms; seed {plan['seed']}",
        f"traffic     {len(posted)} forms posted in {traffic.seconds:.1f} s: {len(posted) / seconds:.1f} sign-ups/s, "
        f"{len(traffic.samples)} requests ({len(traffic.samples) / seconds:.1f}/s)",
        f"            repeated POSTs of a form: {repeats['concurrent']} at once (double click), {repeats['after']} "
        f"after the answer; {len(confirmations)} confirmations tried, "
        f"{sum(bool(v.confirmed) for v in confirmations)} confirmed",
        f"            {sum(s.resets for s in traffic.samples)} requests re-sent once after gunicorn reset a kept-alive "
        "connection",
        *request_table(traffic.samples),
        f"portal logs {sum(facts.access_lines.values())} access-log lines ("
        + ", ".join(f"{name} {n}" for name, n in sorted(facts.access_lines.items()))
        + "), statuses "
        + ", ".join(f"{status}: {n}" for status, n in sorted(facts.access.items()))
        + f"; {len(facts.log_errors)} error lines",
        "faults      GET /_faults/log",
        *fault_lines(facts.fault_log),
        f"attempts    after the traffic: {status_counts(a.status for a in facts.before)}",
        "reconcile   reconcile_attempts --older-than-minutes 0: "
        + (", ".join(f"{n} {note}" for note, n in sorted(facts.reconcile_notes.items())) or "nothing to settle"),
        f"attempts    after reconcile:   {status_counts(a.status for a in facts.after)}",
        f"pool        {len(facts.users)} users ({status_counts(facts.users.values())}), GET /_users; "
        f"{sum(a.confirmed for a in facts.after)} attempts marked confirmed",
        "statuses    what each says about the pool:",
        *[f"  {name:<10}{text}" for name, text in MEANING],
        "outcomes    per attempt: the faults its SignUp calls met, its status, whether its user exists",
        *outcome_table(facts),
        "checks",
    ]
    for check in results:
        out.append(f"  {'PASS' if check.ok else 'FAIL'}  {check.name}: {check.figures}")
        if not check.ok:
            out += [f"          {line}" for line in check.evidence[:EVIDENCE_ROWS]]
            if len(check.evidence) > EVIDENCE_ROWS:
                out.append(f"          ... and {len(check.evidence) - EVIDENCE_ROWS} more")
    out.append(
        f"RESULT: {len(failed)} of {len(results)} checks failed"
        if failed
        else f"RESULT: all {len(results)} checks passed"
    )
    return "\n".join(out)
