"""Per-signal sample history: what a consumer sees at a tick, and pruning as consumers advance.

Producers may run ahead of their consumers (nobody holds back a federate that does not
depend on them), so the coordinator keeps each signal's recent samples until the
slowest consumer has moved past them.
"""

from __future__ import annotations

from bisect import bisect_right
from typing import Any

__all__ = ["History"]

_MISSING: Any = object()


class History:
    """Samples ``(tick, value)`` of one signal in increasing tick order."""

    __slots__ = ("ticks", "values", "head", "keep")

    def __init__(self, keep: int = 1) -> None:
        self.ticks: list[int] = []
        self.values: list[Any] = []
        self.head = 0
        self.keep = keep  # samples kept at or before a pruning tick (2 for linear extrapolation)

    def append(self, tick: int, value: Any) -> None:
        ticks = self.ticks
        if ticks and ticks[-1] == tick:
            self.values[-1] = value
        else:
            ticks.append(tick)
            self.values.append(value)

    def at(self, tick: int, default: Any) -> Any:
        """Value of the latest sample at or before ``tick`` (``default`` when none)."""
        ticks = self.ticks
        if ticks and ticks[-1] <= tick:  # the common case: the consumer is not behind
            return self.values[-1]
        i = bisect_right(ticks, tick, self.head) - 1
        return self.values[i] if i >= self.head else default

    def next_after(self, tick: int) -> int | None:
        """Tick of the first sample after ``tick`` (None when there is none yet)."""
        ticks = self.ticks
        if not ticks or ticks[-1] <= tick:
            return None
        return ticks[bisect_right(ticks, tick, self.head)]

    def around(self, tick: int) -> tuple[tuple[int, Any] | None, tuple[int, Any] | None]:
        """The samples at-or-before and after ``tick`` (for linear interpolation)."""
        i = bisect_right(self.ticks, tick, self.head)
        before = (self.ticks[i - 1], self.values[i - 1]) if i - 1 >= self.head else None
        after = (self.ticks[i], self.values[i]) if i < len(self.ticks) else None
        return before, after

    def last_two(self, tick: int) -> tuple[tuple[int, Any] | None, tuple[int, Any] | None]:
        """The two latest samples at or before ``tick``, earlier first (for linear extrapolation)."""
        i = bisect_right(self.ticks, tick, self.head) - 1
        latest = (self.ticks[i], self.values[i]) if i >= self.head else None
        previous = (self.ticks[i - 1], self.values[i - 1]) if i - 1 >= self.head else None
        return previous, latest

    def prune(self, tick: int) -> None:
        """Forget samples no consumer can ask for any more (keeps the last ``keep`` ones <= ``tick``)."""
        i = bisect_right(self.ticks, tick, self.head) - self.keep
        if i > self.head:
            self.head = i
            if self.head > 256 and self.head * 2 > len(self.ticks):
                del self.ticks[: self.head]
                del self.values[: self.head]
                self.head = 0

    def __len__(self) -> int:
        return len(self.ticks) - self.head
