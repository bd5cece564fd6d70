"""What the emulator remembers besides moto's users: codes, the outbox, attempts, requests.

One EmulatorState per app. The server is threaded, so every method takes `lock`; callers that
must check-then-act across several calls (SignUp's "is the name free? then create") hold it too.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

# Codes are valid 24 h (docs/cognito.md §5.3); attempt quotas count per hour (docs/cognito.md §8.2).
CODE_LIFETIME_SECONDS = 24 * 3600
ATTEMPT_WINDOW_SECONDS = 3600
_REDACTED_MEMBERS = ("Password", "SecretHash")

UserKey = tuple[str, str]
"""(user pool id, username) of a moto user."""


@dataclass(frozen=True)
class SentCode:
    """One confirmation message, as the outbox shows it (destination unmasked)."""

    username: str
    code: str
    destination: str
    medium: str
    attribute: str
    client_id: str
    user_pool_id: str
    sent_at: str

    def to_json(self) -> dict[str, str]:
        return asdict(self)


@dataclass
class PendingCode:
    code: str
    attribute: str
    issued_at: float
    superseded: set[str] = field(default_factory=set)


class EmulatorState:
    def __init__(
        self,
        on_send: Callable[[SentCode], None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.lock = threading.RLock()
        self._on_send = on_send
        self._clock = clock
        self._offset_seconds = 0.0
        self._codes: dict[UserKey, PendingCode] = {}
        self._outbox: list[SentCode] = []
        self._attempts: dict[tuple[UserKey, str], list[float]] = {}
        self._requests: list[dict[str, Any]] = []

    def now(self) -> float:
        with self.lock:
            return self._clock() + self._offset_seconds

    def advance_clock(self, seconds: float) -> float:
        """Move the emulator's clock forward, so tests can expire codes and quotas."""
        with self.lock:
            self._offset_seconds += seconds
            return self._offset_seconds

    def issue_code(
        self,
        user: UserKey,
        *,
        destination: str,
        medium: str,
        attribute: str,
        client_id: str,
    ) -> SentCode:
        """Send a fresh code; any earlier code for this user becomes superseded."""
        with self.lock:
            previous = self._codes.get(user)
            used = previous.superseded | {previous.code} if previous else set()
            code = _new_code(avoiding=used)
            issued_at = self.now()
            self._codes[user] = PendingCode(code, attribute, issued_at, used)
            sent = SentCode(
                username=user[1],
                code=code,
                destination=destination,
                medium=medium,
                attribute=attribute,
                client_id=client_id,
                user_pool_id=user[0],
                sent_at=datetime.fromtimestamp(issued_at, UTC).isoformat(),
            )
            self._outbox.append(sent)
            if self._on_send:
                self._on_send(sent)
            return sent

    def pending_code(self, user: UserKey) -> PendingCode | None:
        with self.lock:
            return self._codes.get(user)

    def forget_codes(self, user: UserKey) -> None:
        with self.lock:
            self._codes.pop(user, None)

    def allow_attempt(self, user: UserKey, action: str, limit: int) -> bool:
        """Count one call of `action` for `user`; False once the hourly limit is passed."""
        with self.lock:
            now = self.now()
            recent = [
                moment for moment in self._attempts.get((user, action), []) if now - moment < ATTEMPT_WINDOW_SECONDS
            ]
            recent.append(now)
            self._attempts[(user, action)] = recent
            return len(recent) <= limit

    def outbox(self, *, username: str | None = None, destination: str | None = None) -> list[SentCode]:
        with self.lock:
            return [
                sent
                for sent in self._outbox
                if username in (None, sent.username) and destination in (None, sent.destination)
            ]

    def clear_outbox(self) -> None:
        with self.lock:
            self._outbox.clear()

    def record_request(self, target: str, body: dict[str, Any]) -> None:
        redacted = {key: "***" if key in _REDACTED_MEMBERS else value for key, value in body.items()}
        with self.lock:
            self._requests.append({"target": target, "body": redacted})

    def requests(self) -> list[dict[str, Any]]:
        with self.lock:
            return list(self._requests)

    def reset(self) -> None:
        with self.lock:
            self._offset_seconds = 0.0
            self._codes.clear()
            self._outbox.clear()
            self._attempts.clear()
            self._requests.clear()


def _new_code(avoiding: set[str]) -> str:
    # Never reuse an earlier code of the same user, so "superseded" is never ambiguous.
    while (code := f"{secrets.randbelow(1_000_000):06d}") in avoiding:
        pass
    return code
