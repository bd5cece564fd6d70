"""SQLite (the embedded default): a process's threads take turns for each write statement.

SQLite lets one connection write at a time. Another writer waits in SQLite's busy handler, which sleeps
in growing steps (1, 2, 5, 10 … 100 ms) instead of waking when the lock is free; under load a few
unlucky sign-ups slept for most of a second. Here a thread about to run a write statement outside a
transaction first takes a lock of the process, held only while SQLite runs the statement (Python
releases the GIL meanwhile, and the ORM has already built the SQL), so the next writer starts the moment
the last one ends and only the few worker processes ever meet in the busy handler. Statements inside a
transaction never take it: their transaction may already hold SQLite's lock, and the turn would then
wait on it.
"""

from __future__ import annotations

import threading
from typing import Any

from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.signals import connection_created

WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE")

_turn = threading.Lock()


def take_turns(execute: Any, sql: str, params: Any, many: bool, context: dict[str, Any]) -> Any:
    connection = context["connection"]
    if connection.in_atomic_block or not sql.lstrip()[:7].upper().startswith(WRITES):
        return execute(sql, params, many, context)
    with _turn:
        return execute(sql, params, many, context)


def install(sender: Any, connection: BaseDatabaseWrapper, **_: Any) -> None:
    if connection.vendor == "sqlite" and take_turns not in connection.execute_wrappers:
        connection.execute_wrappers.append(take_turns)


connection_created.connect(install, dispatch_uid="signup.sqlite.take_turns")
