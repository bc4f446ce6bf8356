"""Wall-clock timestamps of data from outside: ISO-8601 text or POSIX seconds, always UTC.

A timestamp without a zone is taken as UTC (sensors and loggers rarely know better, and a
local zone would make a replay depend on the machine).
"""

from __future__ import annotations

import math
from datetime import datetime, timezone
from typing import Any

__all__ = ["format_iso", "parse_iso", "parse_stamp"]


def parse_iso(text: str) -> float:
    """POSIX seconds of an ISO-8601 date and time; :class:`ValueError` for anything else."""
    cleaned = text.strip()
    if cleaned.endswith(("Z", "z")):  # Python 3.10 reads no "Z"
        cleaned = cleaned[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(cleaned)
    except ValueError:
        raise ValueError(f"{text!r} is not an ISO-8601 time (e.g. 2026-12-02T14:00:00Z)") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()


def parse_stamp(value: Any) -> float:
    """A timestamp as POSIX seconds: a number is taken as POSIX seconds, a string as ISO-8601."""
    if isinstance(value, bool):
        raise ValueError(f"expected a timestamp, got {value!r}")
    if isinstance(value, (int, float)):
        if not math.isfinite(value):
            raise ValueError(f"expected a finite timestamp, got {value!r}")
        return float(value)
    if isinstance(value, str):
        return parse_iso(value)
    raise ValueError(f"expected a timestamp (ISO-8601 text or POSIX seconds), got {value!r}")


def format_iso(posix: float) -> str:
    """``2026-12-02T14:00:00.250Z``: millisecond resolution, UTC."""
    moment = datetime.fromtimestamp(posix, tz=timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
