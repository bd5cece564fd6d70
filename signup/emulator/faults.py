"""Operator-set fault injection for the three sign-up calls: latency, errors, timeouts, drops.

A FaultPlan says how often (`rate`) and which way (`kinds`) the intercepted calls of
`operations` fail, and how slow they are (`latency_ms` +- `latency_jitter_ms`). Faults holds the
current plan, a seeded RNG and the log of injected faults; server.py asks it once per call.

Draws are reproducible: with the same plan (seed included) and the same calls in the same order,
the same calls fail the same way. Each call in the plan's operations draws, in this order, one
number for the fault roll, one for the kind (only when it fails) and one for the jitter (only when
latency_jitter_ms > 0). Concurrent calls draw in the order they reach the emulator.
"""

from __future__ import annotations

import random
import secrets
import threading
from collections import Counter
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

THROTTLE = "throttle"
INTERNAL = "internal"
TIMEOUT = "timeout"
GARBAGE = "garbage"
REFUSE = "refuse"
LIMIT_AFTER_CREATE = "limit_after_create"
ERROR_AFTER_CREATE = "error_after_create"
KINDS = (THROTTLE, INTERNAL, TIMEOUT, GARBAGE, REFUSE, LIMIT_AFTER_CREATE, ERROR_AFTER_CREATE)
SIGN_UP_ONLY = frozenset({LIMIT_AFTER_CREATE})
"""Kinds that only make sense for SignUp; other operations choose among the remaining kinds."""

OPERATIONS = ("SignUp", "ConfirmSignUp", "ResendConfirmationCode")
DEFAULT_TIMEOUT_MS = 15_000.0
MAX_MS = 600_000  # ten minutes: anything longer is a unit mistake and would pin a thread


class FaultPlanError(ValueError):
    def __init__(self, problems: list[str]) -> None:
        super().__init__("Invalid fault plan: " + "; ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class FaultPlan:
    rate: float = 0.0
    latency_ms: float = 0.0
    latency_jitter_ms: float = 0.0
    kinds: tuple[str, ...] = KINDS
    operations: tuple[str, ...] = OPERATIONS
    seed: int | None = None
    timeout_ms: float = DEFAULT_TIMEOUT_MS

    @classmethod
    def from_json(cls, payload: Any) -> FaultPlan:
        """The plan a POST /_faults body describes; keys left out take the defaults above."""
        if not isinstance(payload, Mapping):
            raise FaultPlanError(["send a JSON object"])
        problems = [f"unknown key {key!r}" for key in payload if key not in _FIELDS]
        values: dict[str, Any] = {}
        for key in ("latency_ms", "latency_jitter_ms", "timeout_ms"):
            if key in payload:
                values[key] = _milliseconds(key, payload[key], problems)
        if "rate" in payload:
            rate = payload["rate"]
            if _is_number(rate) and 0 <= rate <= 1:
                values["rate"] = float(rate)
            else:
                problems.append("rate must be a number from 0 to 1")
        if "kinds" in payload:
            values["kinds"] = _names("kinds", payload["kinds"], KINDS, problems)
        if "operations" in payload:
            values["operations"] = _names("operations", payload["operations"], OPERATIONS, problems)
        if "seed" in payload:
            seed = payload["seed"]
            if seed is None or (isinstance(seed, int) and not isinstance(seed, bool)):
                values["seed"] = seed
            else:
                problems.append("seed must be an integer or null")
        if problems:
            raise FaultPlanError(problems)
        plan = cls(**values)
        plan._check_consistent()
        return plan

    def _check_consistent(self) -> None:
        problems = []
        if self.latency_jitter_ms > self.latency_ms:
            problems.append("latency_jitter_ms must not exceed latency_ms (the sleep is latency +- jitter)")
        if not any(self.kinds_for(operation) for operation in self.operations):
            problems.append(f"{', '.join(SIGN_UP_ONLY)} applies to SignUp only, which operations leaves out")
        if problems:
            raise FaultPlanError(problems)

    def seeded(self) -> FaultPlan:
        """This plan, with a random seed if it has none and does anything (so a run can be replayed)."""
        if self.seed is None and self.active:
            return replace(self, seed=secrets.randbits(32))
        return self

    def describe(self) -> str:
        """One line for the operator."""
        if not self.active:
            return "no faults, no added latency"
        jitter = f" +- {self.latency_jitter_ms:g}" if self.latency_jitter_ms else ""
        return (
            f"rate {self.rate:g} of {', '.join(self.operations)} "
            f"as {', '.join(self.kinds)}; latency {self.latency_ms:g}{jitter} ms; "
            f"timeout {self.timeout_ms:g} ms; seed {self.seed}"
        )

    def kinds_for(self, operation: str) -> tuple[str, ...]:
        return tuple(kind for kind in self.kinds if operation == "SignUp" or kind not in SIGN_UP_ONLY)

    @property
    def active(self) -> bool:
        return self.rate > 0 or self.latency_ms > 0

    def to_json(self) -> dict[str, Any]:
        described = asdict(self)
        described["kinds"] = list(self.kinds)
        described["operations"] = list(self.operations)
        described["active"] = self.active
        return described


_FIELDS = frozenset(FaultPlan.__dataclass_fields__)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value == value  # not NaN


def _milliseconds(key: str, value: Any, problems: list[str]) -> float:
    if _is_number(value) and 0 <= value <= MAX_MS:
        return float(value)
    problems.append(f"{key} must be a number of milliseconds from 0 to {MAX_MS}")
    return 0.0


def _names(key: str, value: Any, allowed: tuple[str, ...], problems: list[str]) -> tuple[str, ...]:
    choices = ", ".join(allowed)
    if not isinstance(value, list) or not value or not all(isinstance(name, str) for name in value):
        problems.append(f"{key} must be a non-empty list of: {choices}")
        return ()
    problems += [f"{key}: unknown {name!r} (choose from {choices})" for name in value if name not in allowed]
    problems += [f"{key}: {name!r} is listed twice" for name, count in Counter(value).items() if count > 1]
    return tuple(value)


@dataclass(frozen=True)
class Draw:
    """What one intercepted call gets: a delay before anything happens, and maybe a fault."""

    latency_seconds: float = 0.0
    kind: str | None = None
    timeout_seconds: float = 0.0


@dataclass
class FaultRecord:
    seq: int
    at: str
    operation: str
    kind: str
    username: str | None
    client_id: str | None
    created: bool
    """SignUp stored the user (it exists in the pool whatever the client was told)."""
    completed: bool
    """The operation did its work: user created (SignUp), confirmed (ConfirmSignUp), code sent (Resend)."""
    status: int | None
    """HTTP status sent; None when the connection was dropped without an answer."""
    answer: str
    """The error type sent, "ok" for the normal answer, "garbage" or "dropped"."""
    user_sub: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class _Log:
    records: list[FaultRecord] = field(default_factory=list)
    calls: Counter[str] = field(default_factory=Counter)


class Faults:
    """The current plan, its RNG and the log; thread-safe."""

    def __init__(self, plan: FaultPlan | None = None) -> None:
        self._lock = threading.Lock()
        self._plan = FaultPlan()
        self._random = random.Random()
        self._wake = threading.Event()
        self._log = _Log()
        self.set_plan(plan or FaultPlan())

    def plan(self) -> FaultPlan:
        with self._lock:
            return self._plan

    def set_plan(self, plan: FaultPlan) -> FaultPlan:
        """Replace the plan and restart its RNG; a plan without seed gets a random one, shown by plan()."""
        plan = plan.seeded()
        with self._lock:
            self._plan = plan
            self._random = random.Random(plan.seed)
            self._wake_sleepers()
            return plan

    def clear_plan(self) -> None:
        """No more faults or latency; the log stays (GET /_faults/log after a load test)."""
        self.set_plan(FaultPlan())

    def clear_log(self) -> None:
        with self._lock:
            self._log = _Log()

    def reset(self) -> None:
        with self._lock:
            self._plan = FaultPlan()
            self._random = random.Random()
            self._log = _Log()
            self._wake_sleepers()

    def draw(self, operation: str) -> Draw:
        with self._lock:
            self._log.calls[operation] += 1
            plan = self._plan
            if operation not in plan.operations or not plan.active:
                return Draw()
            kind = None
            kinds = plan.kinds_for(operation)
            if self._random.random() < plan.rate and kinds:
                kind = self._random.choice(kinds)
            latency_ms = plan.latency_ms
            if plan.latency_jitter_ms > 0:
                latency_ms += self._random.uniform(-plan.latency_jitter_ms, plan.latency_jitter_ms)
            return Draw(max(latency_ms, 0.0) / 1000, kind, plan.timeout_ms / 1000)

    def sleep(self, seconds: float) -> None:
        """Sleep, cut short when the plan changes or is cleared (so tests never wait out a timeout)."""
        if seconds <= 0:
            return
        with self._lock:
            wake = self._wake
        wake.wait(seconds)

    def _wake_sleepers(self) -> None:
        self._wake.set()
        self._wake = threading.Event()

    def record(self, operation: str, kind: str, body: Mapping[str, Any], **outcome: Any) -> FaultRecord:
        username, client_id = body.get("Username"), body.get("ClientId")
        with self._lock:
            record = FaultRecord(
                seq=len(self._log.records) + 1,
                at=datetime.now(UTC).isoformat(),
                operation=operation,
                kind=kind,
                username=username if isinstance(username, str) else None,
                client_id=client_id if isinstance(client_id, str) else None,
                **outcome,
            )
            self._log.records.append(record)
            return record

    def log_json(self) -> dict[str, Any]:
        with self._lock:
            records = list(self._log.records)
            calls = dict(self._log.calls)
        return {
            "total": len(records),
            "counts": dict(Counter(record.kind for record in records)),
            "users_created": sum(record.created for record in records),
            "calls": calls,
            "faults": [record.to_json() for record in records],
        }
