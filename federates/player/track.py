"""One played series: a cursor over its samples, read forward as time goes on.

A track holds only the two samples around the current time, so a series of any length
plays in constant memory.  Between samples a value holds or is interpolated linearly;
before the first sample the first value is played, after the last one the last value holds.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from .spec import Interpolation

__all__ = ["Sample", "Track"]

Sample = tuple[float, Any]  # (simulated seconds, value)


class Track:
    """Values of one series at increasing times (``advance`` never goes back)."""

    __slots__ = ("_after", "_before", "_samples", "interpolate", "name")

    def __init__(self, name: str, samples: Iterator[Sample], interpolate: Interpolation) -> None:
        self.name = name
        self.interpolate = interpolate
        self._samples = samples
        self._before: Sample | None = None  # the last sample at or before the current time
        self._after: Sample | None = next(samples, None)  # the first sample after it

    def advance(self, t: float) -> None:
        """Move the cursor to time ``t``: every sample stamped ``<= t`` is behind it."""
        after = self._after
        while after is not None and after[0] <= t:
            self._before = after
            after = next(self._samples, None)
        self._after = after

    def value(self, t: float) -> Any:
        """The series' value at ``t`` (after :meth:`advance` to ``t``); ``None`` for an empty series."""
        before, after = self._before, self._after
        if before is None:
            return None if after is None else after[1]
        if after is None or self.interpolate is Interpolation.HOLD:
            return before[1]
        t0, v0 = before
        t1, v1 = after
        return v0 + (v1 - v0) * (t - t0) / (t1 - t0)

    def next_time(self) -> float | None:
        """Time of the next sample after the cursor, or ``None`` at the end."""
        return None if self._after is None else self._after[0]

    def __repr__(self) -> str:
        return f"<Track {self.name} {self.interpolate.value} before={self._before} after={self._after}>"
