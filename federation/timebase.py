"""Federation time: integer ticks of a scenario-set resolution; the API speaks seconds."""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

__all__ = ["TimeBase", "NEVER", "format_time"]

NEVER = 2**62
"""A tick later than any real time (an event-driven federate with nothing scheduled)."""


@dataclass(frozen=True)
class TimeBase:
    """Converts between seconds and ticks.  ``resolution`` is seconds per tick.

    When ``1/resolution`` is an integer, ticks convert to seconds by division, so that
    ``tick 3`` at ``resolution 0.1`` is exactly ``0.3``.
    """

    resolution: float = 1e-3

    def __post_init__(self) -> None:
        if not (self.resolution > 0 and math.isfinite(self.resolution)):
            raise ValueError(f"time resolution must be a positive number of seconds, got {self.resolution!r}")

    @cached_property  # frozen: computed once (it is on the coordinator's per-step path)
    def per_second(self) -> float | None:
        inv = 1.0 / self.resolution
        return float(round(inv)) if abs(inv - round(inv)) < 1e-9 * inv and inv >= 1 else None

    def ticks(self, seconds: float) -> int:
        """Nearest tick to ``seconds``."""
        per = self.per_second
        return int(round(seconds * per)) if per is not None else int(round(seconds / self.resolution))

    def seconds(self, ticks: int) -> float:
        per = self.per_second
        return ticks / per if per is not None else ticks * self.resolution

    def exact(self, seconds: float) -> bool:
        """Whether ``seconds`` is a whole number of ticks (to 1e-9 of a tick)."""
        per = self.per_second
        x = seconds * per if per is not None else seconds / self.resolution
        return abs(x - round(x)) <= 1e-9 * max(1.0, abs(x))


_UNITS = (("d", 86400), ("h", 3600), ("min", 60))


def format_time(seconds: float) -> str:
    """A time for people, exact to the microsecond: ``309360`` -> ``3 d 13 h 56 min``, ``630.5`` -> ``10 min 30.5 s``.

    Zero parts are left out; the units are those of scenario durations (``docs/scenarios.md``).
    """
    if not math.isfinite(seconds):
        return f"{seconds} s"
    rest = round(abs(seconds), 6)
    parts = []
    for unit, size in _UNITS:
        whole = int(rest // size)
        if whole:
            parts.append(f"{whole} {unit}")
            rest = round(rest - whole * size, 6)
    if rest or not parts:
        parts.append(f"{rest:.6f}".rstrip("0").rstrip(".") + " s")
    return ("-" if seconds < 0 else "") + " ".join(parts)
