"""A meter: the running time integral of a piecewise-constant level.

Discrete-event models change a level (parts in process, beds occupied, a machine's
power draw) at event times and hold it in between.  A :class:`Meter` keeps the exact
integral of such a level, the way an energy meter integrates power, so that time
averages over any interval are the difference of two readings divided by its length.
"""

from __future__ import annotations

__all__ = ["Meter"]


class Meter:
    """Integral of a level that is constant between calls to :meth:`set` or :meth:`add`.

    ``now`` must never decrease from one call to the next.
    """

    __slots__ = ("_area", "_level", "_since")

    def __init__(self, start: float, level: float = 0.0) -> None:
        self._area = 0.0
        self._since = start
        self._level = level

    @property
    def level(self) -> float:
        """The current level."""
        return self._level

    def set(self, now: float, level: float) -> None:
        """Change the level to ``level`` at time ``now``."""
        if now < self._since:
            raise ValueError(f"meter read backwards in time: {now} < {self._since}")
        self._area += self._level * (now - self._since)
        self._since = now
        self._level = level

    def add(self, now: float, delta: float) -> None:
        """Change the level by ``delta`` at time ``now``."""
        self.set(now, self._level + delta)

    def reading(self, now: float) -> float:
        """The integral of the level from the start to ``now`` (level x seconds)."""
        if now < self._since:
            raise ValueError(f"meter read backwards in time: {now} < {self._since}")
        return self._area + self._level * (now - self._since)

    def __repr__(self) -> str:
        return f"<Meter level={self._level:g} since={self._since:g}>"
