"""FMI 3 clocks: what the model description declares, and when the importer must activate them.

Kinds (``intervalVariability``, FMI 3.0 §2.2.9 "Clock Types"):

* time-based input clocks, activated by the importer at times the FMU defines:
  ``constant`` (interval and shift in the model description), ``fixed`` (an interval the
  importer may set in initialization mode, or one the FMU reports then), ``tunable``
  (like fixed, but the FMU may report a new interval at any event: it then counts from
  that event), ``changing`` (aperiodic: after each activation the FMU reports the next
  interval) and ``countdown`` (aperiodic: at every event the FMU may report when it is
  to be activated next, or that it does not know yet);
* ``triggered`` input clocks, activated whenever the importer decides (here: a message);
* output clocks (always ``triggered``): activated inside the FMU; the importer asks
  ``fmi3GetClock`` at every event;
* local clocks: the same, for the FMU's own use.

:class:`Timetable` keeps the next activation of every time-based input clock: periodic
ones at ``start + shift + k * interval`` (counted from the last change for a tunable
clock), aperiodic ones at ``event time + reported interval``.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from .errors import FMUError

__all__ = ["ClockCausality", "ClockKind", "FmuClock", "Timetable", "reached"]


def reached(time: float, target: float) -> bool:
    """``time`` is at ``target`` up to rounding."""
    return time >= target or math.isclose(time, target, rel_tol=1e-12, abs_tol=1e-12)


class ClockKind(enum.Enum):
    """A clock's ``intervalVariability``."""

    CONSTANT = "constant"
    FIXED = "fixed"
    TUNABLE = "tunable"
    CHANGING = "changing"
    COUNTDOWN = "countdown"
    TRIGGERED = "triggered"

    @property
    def periodic(self) -> bool:
        return self in {ClockKind.CONSTANT, ClockKind.FIXED, ClockKind.TUNABLE}

    @property
    def time_based(self) -> bool:
        return self is not ClockKind.TRIGGERED


class ClockCausality(enum.Enum):
    """Who activates the clock: the importer (input), or the FMU (output, local)."""

    INPUT = "input"
    OUTPUT = "output"
    LOCAL = "local"


@dataclass(frozen=True)
class FmuClock:
    """A Clock variable of the model description."""

    name: str
    value_reference: int
    causality: str  # a ClockCausality value
    kind: ClockKind
    interval: float | None = None  # intervalDecimal (or intervalCounter / resolution)
    shift: float | None = None  # shiftDecimal (or shiftCounter / resolution); None when not given
    can_be_deactivated: bool = False
    supports_fraction: bool = False
    priority: int | None = None
    description: str = ""

    @classmethod
    def from_attributes(cls, name: str, vr: int, causality: str, attributes: Mapping[str, str],
                        description: str = "") -> FmuClock:  # fmt: skip
        """Build from the XML attributes (``intervalVariability``, ``intervalDecimal``, ...)."""
        try:
            kind = ClockKind(attributes.get("intervalVariability", "triggered"))
        except ValueError:
            raise FMUError(f"clock '{name}' has intervalVariability={attributes.get('intervalVariability')!r}, "
                           f"not one of: {', '.join(k.value for k in ClockKind)}") from None  # fmt: skip
        resolution = float(attributes.get("resolution", "1") or 1)
        interval = _decimal(attributes.get("intervalDecimal"), attributes.get("intervalCounter"), resolution)
        shift = _decimal(attributes.get("shiftDecimal"), attributes.get("shiftCounter"), resolution)
        priority = attributes.get("priority")
        return cls(name, vr, causality, kind, interval, shift, _true(attributes.get("canBeDeactivated")),
                   _true(attributes.get("supportsFraction")), None if priority is None else int(priority),
                   description)  # fmt: skip

    @property
    def role(self) -> ClockCausality:
        try:
            return ClockCausality(self.causality)
        except ValueError:
            return ClockCausality.LOCAL

    @property
    def is_input(self) -> bool:
        return self.role is ClockCausality.INPUT

    @property
    def settable_interval(self) -> bool:
        """A fixed or tunable clock whose interval the importer sets (``intervalDecimal`` given)."""
        return self.kind in {ClockKind.FIXED, ClockKind.TUNABLE} and self.interval is not None

    def timing(self) -> str:
        """When the clock is activated, in words (``federation inspect``)."""
        if not self.is_input:
            return "by the FMU: a message from its endpoint"
        if self.kind is ClockKind.TRIGGERED:
            return "by a message to its endpoint"
        if self.kind is ClockKind.CHANGING:
            return "when the FMU says, after each activation"
        if self.kind is ClockKind.COUNTDOWN:
            return "when the FMU says, at any event"
        if self.interval is None:
            return "periodic, interval from the FMU" + (", which may change it" if self.kind is ClockKind.TUNABLE else "")
        return f"every {self.interval:g} s from {self.shift or 0.0:g} s" + (
            "" if self.kind is ClockKind.CONSTANT else " (params.clocks may change it)")  # fmt: skip


def _decimal(decimal: str | None, counter: str | None, resolution: float) -> float | None:
    if decimal is not None:
        return float(decimal)
    if counter is not None:
        return float(counter) / resolution
    return None


def _true(text: str | None) -> bool:
    return (text or "").strip().lower() in {"true", "1"}


class Timetable:
    """The next activation time of each time-based input clock (``None``: not scheduled)."""

    def __init__(self, clocks: Iterable[FmuClock]) -> None:
        self._next: dict[str, float | None] = {}
        self._base: dict[str, float] = {}  # periodic: the time of activation 0 of the current interval
        self._interval: dict[str, float] = {}
        self._count: dict[str, int] = {}
        self.clocks = {c.name: c for c in clocks if c.is_input and c.kind.time_based}
        for name in self.clocks:
            self._next[name] = None

    # ------------------------------------------------------------------ scheduling
    def periodic(self, name: str, first: float, interval: float) -> None:
        """Activations at ``first + k * interval``, k = 0, 1, ..."""
        if not interval > 0 or not math.isfinite(interval):
            raise FMUError(f"clock '{name}': interval {interval!r} s is not a positive number of seconds")
        self._base[name], self._interval[name], self._count[name] = first, interval, 0
        self._next[name] = first

    def after(self, name: str, time: float, interval: float) -> None:
        """The next activation is ``interval`` after ``time`` (an aperiodic clock, or a new tunable interval)."""
        if not interval >= 0 or not math.isfinite(interval):
            raise FMUError(f"clock '{name}': interval {interval!r} s is not a non-negative number of seconds")
        if self.clocks[name].kind.periodic:
            if interval == 0:
                raise FMUError(f"clock '{name}': a periodic clock reported an interval of 0 s")
            self._base[name], self._interval[name], self._count[name] = time, interval, 1
        self._next[name] = time + interval

    def cancel(self, name: str) -> None:
        self._next[name] = None

    def activated(self, name: str) -> None:
        """The clock was activated at its scheduled time: schedule the next periodic activation."""
        if self.clocks[name].kind.periodic:
            self._count[name] += 1
            self._next[name] = self._base[name] + self._count[name] * self._interval[name]
        else:
            self._next[name] = None  # the FMU says when, after the activation

    # ------------------------------------------------------------------ queries
    def due(self, time: float) -> list[FmuClock]:
        """Clocks whose next activation is at or before ``time``."""
        return [self.clocks[n] for n, t in self._next.items() if t is not None and reached(time, t)]

    def next_time(self) -> float | None:
        times = [t for t in self._next.values() if t is not None]
        return min(times) if times else None

    def next_of(self, name: str) -> float | None:
        return self._next[name]

    def interval_of(self, name: str) -> float | None:
        return self._interval.get(name)

    # ------------------------------------------------------------------ snapshots (iterate groups)
    def save(self) -> tuple[dict[str, float | None], dict[str, float], dict[str, float], dict[str, int]]:
        return dict(self._next), dict(self._base), dict(self._interval), dict(self._count)

    def restore(self, saved: tuple[dict[str, float | None], dict[str, float], dict[str, float], dict[str, int]]) -> None:
        self._next, self._base, self._interval, self._count = (dict(part) for part in saved)  # type: ignore[assignment]
