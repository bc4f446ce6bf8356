"""Durations in a scenario: ``3600``, ``"1 h"``, ``"10 min"``, and the word that says "no limit".

The lowest module of the scenario language: the model, the reader and every section's
parser use it, and it uses nothing of theirs.
"""

from __future__ import annotations

import math
import re
from typing import Any

__all__ = ["DURATION_UNITS", "parse_duration", "is_no_limit"]

DURATION_UNITS = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0, "sec": 1.0, "min": 60.0, "h": 3600.0, "hour": 3600.0, "d": 86400.0, "day": 86400.0}
_DURATION = re.compile(r"^\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*([a-z]*)\s*$")


def parse_duration(value: Any, unit: str = "s") -> float:
    """Seconds from ``3600``, ``"1 h"``, ``"10 min"``, ``"0.5 s"``; numbers are in ``unit``."""
    try:
        seconds = _seconds(value, unit)
    except OverflowError:  # an integer too large for a float
        seconds = math.inf
    if not math.isfinite(seconds):
        raise ValueError(f"expected a finite duration, got {value!r:.40}")
    return seconds


def is_no_limit(value: Any) -> bool:
    """Whether a limit in a scenario or on the command line says "no limit" (``none``, or YAML null)."""
    return value is None or (isinstance(value, str) and value.strip().lower() == "none")


def _seconds(value: Any, unit: str) -> float:
    if isinstance(value, bool):
        raise ValueError(f"expected a duration, got {value!r}")
    if isinstance(value, (int, float)):
        return float(value) * DURATION_UNITS[unit]
    if isinstance(value, str):
        match = _DURATION.match(value)
        if match:
            number, suffix = match.groups()
            scale = DURATION_UNITS.get(suffix or unit)
            if scale is not None:
                return float(number) * scale
    raise ValueError(f"expected a duration such as 3600, '60 min' or '1 h', got {value!r:.40}")
