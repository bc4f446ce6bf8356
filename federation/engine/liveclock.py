"""The wall clock as live sources see it: which ticks are past, and the run's epoch.

A run with a pace (``time: {pace: F}``, ``federation run --pace F``) maps wall-clock time to
simulated time: ``sim = start + (wall - wall0 - hold_back) * F``.  A *live source* (a
federate whose data comes from outside, ``live = True``) may publish a sample stamped at
any tick the wall clock has not reached yet, so the coordinator bounds its safe time by
:meth:`LiveClock.open_tick`: its consumers are granted a tick only once the wall clock has
passed it (docs/live.md, "The time rule").  The epoch -- the POSIX time of simulated time
0 on that schedule -- maps sensors' timestamps to simulated seconds: ``stamp = posix - epoch``.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

from ..timebase import TimeBase

__all__ = ["LiveClock", "pace_of"]


@dataclass(frozen=True)
class LiveClock:
    """Wall clock <-> ticks for one run; ``wall0`` is the POSIX time at simulated time ``start``."""

    base: TimeBase
    start: float  # simulated seconds at wall0
    wall0: float  # POSIX seconds
    factor: float  # simulated seconds per wall second
    hold_back: float = 0.0  # wall seconds the federation stays behind the wall clock

    @classmethod
    def now(cls, base: TimeBase, start: float, factor: float, hold_back: float = 0.0) -> LiveClock:
        return cls(base, start, time.time(), factor, hold_back)

    @property
    def epoch(self) -> float:
        """POSIX time of simulated time 0 (timestamps map to stamps as ``posix - epoch``)."""
        return self.wall0 - self.start / self.factor

    def simulated(self, wall: float) -> float:
        """The simulated time the wall clock ``wall`` stands for (hold-back included)."""
        return self.start + (wall - self.wall0 - self.hold_back) * self.factor

    def open_tick(self, wall: float | None = None) -> int:
        """The first tick the wall clock (now, or ``wall``) has not reached: live sources may still publish there."""
        sim = self.simulated(time.time() if wall is None else wall)
        return math.floor(sim / self.base.resolution + 1e-9) + 1

    def wall(self, tick: int) -> float:
        """The POSIX time at which the wall clock reaches ``tick``."""
        return self.wall0 + self.hold_back + (self.base.seconds(tick) - self.start) / self.factor


def pace_of(time_spec: Any, override: float | None = None) -> tuple[float, float] | None:
    """``(factor, hold_back)`` of a run, or ``None`` when it runs as fast as possible.

    ``override`` is ``federation run --pace F``.  The scenario's ``time`` section may give
    ``pace`` as a number or as a mapping-like object with ``factor`` (and ``hold_back``).
    """
    pace = getattr(time_spec, "pace", None)
    hold_back = float(getattr(time_spec, "hold_back", 0.0) or 0.0)
    factor = getattr(pace, "factor", pace)
    hold_back = float(getattr(pace, "hold_back", hold_back) or hold_back)
    if override is not None:
        factor = override
    if factor is None:
        return None
    return float(factor), hold_back
