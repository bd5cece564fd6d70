"""Structured logs: one JSON object per line, an event name and its fields (attempt id, codes, timings).

Fields never carry personal data, passwords or secrets: callers pass ids, codes and numbers only.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

log = logging.getLogger("signup")


def event(name: str, *, level: int = logging.INFO, exc_info: bool = False, **fields: Any) -> None:
    log.log(level, name, extra={"fields": fields}, exc_info=exc_info)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
        }
        line.update({k: v for k, v in getattr(record, "fields", {}).items() if v is not None})
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str, ensure_ascii=False)
