"""Pacing a run to the wall clock: no tick is granted before its wall-clock instant.

A paced run (``time: {pace: F}``, ``federation run --pace F``) gives every tick ``t`` an
instant on the wall clock, ``origin + t / F + hold_back`` (``origin``: the epoch when the run
has one, ``time: {start: now | ISO}``, else the moment stepping begins).  The scheduler is a
:class:`PacedScheduler`: it grants nothing past the *limit*, the last tick whose instant has
passed.  The coordinator loop (:class:`PacedLoop`, a part of the coordinator) moves the limit
as the clock goes on, waits on its socket -- never in a sleep -- until the next instant a
federate waits for, and records for every grant instant how late it was (:class:`Pacer`).
Behind its schedule, the federation catches up at full speed; with ``max_lag`` a run held
further behind fails, naming the federate that held it.

An unpaced run uses none of this: the plain scheduler and the coordinator's own loop.
See docs/live.md, "Pacing".
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from typing import Callable, Protocol

from ..errors import FederateError, FederationError
from ..scenario.model import TimeSpec
from ..timebase import NEVER, TimeBase
from .health import Health
from .member import Member
from .plan import Plan
from .priority import realtime
from .recorder import Recorder
from .scheduler import FederateSlot, Grant, Scheduler

__all__ = ["PacedLoop", "PacedScheduler", "Pacer", "PacingHost", "PacingSummary", "Schedule"]

log = logging.getLogger("federation.engine.coordinator")


class PacedScheduler(Scheduler):
    """A scheduler that grants no tick past ``limit`` and remembers the earliest tick it held back."""

    limit = -1  # the last tick whose wall-clock instant has passed
    deferred = NEVER  # the earliest tick a federate was ready for but the clock was not

    def ready(self, slot: FederateSlot, safe: list[int] | None) -> bool:
        t = slot.next
        if self.limit < t <= self.stop and not slot.busy:
            self.deferred = min(self.deferred, t)
            return False
        return super().ready(slot, safe)

    def release(self) -> list[Grant]:
        """Every grant the clock now allows (after ``limit`` moved past ``deferred``)."""
        self.deferred = NEVER
        return self.grant_ready(range(len(self.slots)))

    @property
    def waiting(self) -> bool:
        """Whether some federate waits for the clock (not for another federate)."""
        return self.limit < self.deferred <= self.stop


class Schedule:
    """The wall-clock instant of every tick, on the monotonic clock: ``origin + t / factor + hold_back``."""

    __slots__ = ("base", "factor", "hold_back", "offset", "origin")

    def __init__(self, base: TimeBase, factor: float, hold_back: float, origin: float, offset: float) -> None:
        self.base, self.factor, self.hold_back = base, factor, hold_back
        self.origin = origin  # monotonic seconds of simulated time 0 (before the hold-back)
        self.offset = offset  # POSIX minus monotonic seconds: to record instants as UTC

    @classmethod
    def starting(cls, spec: TimeSpec, factor: float, *, mono: float, posix: float) -> Schedule:
        """The schedule of a run whose stepping begins now (``mono``/``posix``): tied to its epoch when it has one."""
        offset = posix - mono
        origin = spec.epoch - offset if spec.epoch is not None else mono - spec.start / factor
        return cls(spec.base, factor, spec.hold_back, origin, offset)

    def instant(self, tick: int) -> float:
        """Monotonic seconds before which ``tick`` is not granted."""
        return self.origin + self.base.seconds(tick) / self.factor + self.hold_back

    def limit(self, now: float) -> int:
        """The last tick whose instant is at or before ``now`` (monotonic seconds)."""
        tick = math.floor((now - self.origin - self.hold_back) * self.factor / self.base.resolution)
        while self.instant(tick + 1) <= now:  # float rounding: at most a step or two either way
            tick += 1
        while self.instant(tick) > now:
            tick -= 1
        return tick

    def posix(self, mono: float) -> float:
        return mono + self.offset


@dataclass(frozen=True)
class PacingSummary:
    """How well a paced run kept to its schedule (wall seconds; ``lag`` is a grant's lateness)."""

    factor: float
    hold_back: float
    max_lag: float | None
    grants: int  # grant instants measured (those of the start-up catch-up aside)
    catch_up: int  # grant instants scheduled before stepping began (start: now, an epoch in the past)
    p50: float
    p99: float
    max: float
    jitter: float  # standard deviation of the lag
    realtime: int | None = None  # the coordinator's SCHED_FIFO priority, when it had one

    def line(self) -> str:
        """One line for the run's summary."""
        parts = []
        if self.grants:
            parts.append(f"grant lag p50 {_ms(self.p50)}, p99 {_ms(self.p99)}, max {_ms(self.max)}, "
                         f"jitter {_ms(self.jitter)} ({self.grants:,} grants)")  # fmt: skip
        if self.catch_up:
            parts.append(f"caught up {self.catch_up:,} grants scheduled before stepping began")
        priority = f" (real-time priority {self.realtime})" if self.realtime is not None else ""
        return f"paced {self.factor:g}x{priority}: " + ("; ".join(parts) or "nothing granted")

    def meta(self) -> dict[str, str]:
        """The figures as the run store's ``run`` table keeps them."""
        return {"pacing_grants": str(self.grants), "pacing_catch_up": str(self.catch_up),
                "pacing_lag_p50": repr(self.p50), "pacing_lag_p99": repr(self.p99),
                "pacing_lag_max": repr(self.max), "pacing_jitter": repr(self.jitter)}  # fmt: skip


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms" if seconds < 1 else f"{seconds:.2f} s"


class Pacer:
    """The schedule of a paced run and the record of how late each grant instant was.

    ``rows`` are the ``pacing`` table's: (tick, time, scheduled, granted, lag, grants) -- the
    simulated time, the scheduled and actual wall-clock instants (POSIX seconds, UTC), the
    lateness (wall seconds) and how many federates were granted then.
    """

    def __init__(self, spec: TimeSpec) -> None:
        assert spec.pace is not None
        self.spec = spec
        self.factor = spec.pace.factor
        self.max_lag = spec.pace.max_lag
        self.schedule: Schedule | None = None
        self.began = 0.0  # monotonic seconds when stepping began
        self.rows: list[tuple[int, float, float, float, float, int]] = []
        self.lags: list[float] = []  # of the grant instants measured
        self.catch_up = 0
        self.last_lag: float | None = None  # of the latest grant instant (the status line shows it)
        if spec.pace.realtime is not None:
            realtime(spec.pace.realtime, check=True)  # refused before any federate is started

    def __repr__(self) -> str:
        return f"<Pacer {self.factor:g}x hold_back={self.spec.hold_back:g} s grants={len(self.lags)}>"

    def begin(self, mono: float, posix: float) -> Schedule:
        priority = self.spec.pace.realtime if self.spec.pace is not None else None
        if priority is not None:
            threads = realtime(priority)
            log.info("real-time priority %d (SCHED_FIFO) for the coordinator's %d threads", priority, threads)
        self.began = mono
        self.schedule = Schedule.starting(self.spec, self.factor, mono=mono, posix=posix)
        return self.schedule

    def granted(self, grants: list[Grant], now: float) -> tuple[float, int]:
        """Record ``grants`` sent at ``now`` (monotonic); return the worst measured lag and its tick."""
        if len(grants) == 1:  # the common case when catching up: one federate released by a DONE
            g = grants[0]
            return self._row(g.tick, 1, now) if not g.iteration else (0.0, -1)
        counts: dict[int, int] = {}
        for g in grants:
            if not g.iteration:  # an iterate group's re-grants are not new instants
                counts[g.tick] = counts.get(g.tick, 0) + 1
        worst, worst_tick = 0.0, -1
        for tick, count in sorted(counts.items()):
            lag, _ = self._row(tick, count, now)
            if lag > worst:
                worst, worst_tick = lag, tick
        return worst, worst_tick

    def _row(self, tick: int, count: int, now: float) -> tuple[float, int]:
        schedule = self.schedule
        assert schedule is not None
        instant = schedule.instant(tick)
        lag = now - instant
        offset = schedule.offset
        self.rows.append((tick, schedule.base.seconds(tick), instant + offset, now + offset, lag, count))
        self.last_lag = lag
        if instant < self.began:
            self.catch_up += 1  # its instant passed before the federates were even stepping
            return 0.0, -1
        self.lags.append(lag)
        return lag, tick

    def take_rows(self) -> list[tuple[int, float, float, float, float, int]]:
        rows, self.rows = self.rows, []
        return rows

    def summary(self) -> PacingSummary:
        lags = sorted(self.lags)
        n = len(lags)
        if n:
            mean = sum(lags) / n
            jitter = math.sqrt(sum((x - mean) ** 2 for x in lags) / n)
            p50, p99, top = _quantile(lags, 0.5), _quantile(lags, 0.99), lags[-1]
        else:
            jitter = p50 = p99 = top = 0.0
        figures = (p50, p99, top, jitter)
        return PacingSummary(self.factor, self.spec.hold_back, self.max_lag, n, self.catch_up, *figures,
                             realtime=self.spec.pace.realtime if self.spec.pace else None)


def _quantile(ordered: list[float], q: float) -> float:
    """The ``q`` quantile of sorted values (nearest rank)."""
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


class PacingHost(Protocol):
    """What the paced loop needs of the coordinator."""

    wait_ms: int  # how long the next turn of the loop may wait for a frame

    @property
    def recorder(self) -> Recorder | None: ...

    def pump(self) -> None:
        """One turn of the unpaced loop: wait up to ``wait_ms`` for a frame, then the periodic checks."""


class PacedLoop:
    """The coordinator's paced loop: a part of :class:`federation.engine.coordinator.Coordinator`.

    Only a paced run has one (the coordinator's ``paced`` is None otherwise), so the
    as-fast-as-possible loop pays nothing for it.  :meth:`start` takes the coordinator's way
    of sending grants and returns the paced one, which records each grant instant's lag first.
    """

    def __init__(self, host: PacingHost, pacer: Pacer, scheduler: PacedScheduler, plan: Plan, members: list[Member],
                 health: Health, *, liveness: float) -> None:  # fmt: skip
        self.host, self.pacer, self.scheduler, self.plan, self.members = host, pacer, scheduler, plan, members
        self.health = health  # waiting for the clock is not a stall: the paced loop says so
        self.liveness = liveness
        self._liveness_ms = int(liveness * 1000)
        self._send_unpaced: Callable[[list[Grant]], None] = _unstarted

    def __repr__(self) -> str:
        return f"<PacedLoop {self.pacer!r} limit={self.scheduler.limit}>"

    @property
    def recorder(self) -> Recorder | None:
        return self.host.recorder

    def start(self, send: Callable[[list[Grant]], None]) -> Callable[[list[Grant]], None]:
        """Just before the first grants: fix the schedule and the limit; ``send`` sends grants, the paced way is
        returned: the coordinator sends every grant through it."""
        pacer = self.pacer
        schedule = pacer.begin(time.monotonic(), time.time())
        self._send_unpaced = send
        self.scheduler.limit = schedule.limit(time.monotonic())
        self._next_instant = schedule.instant(self.scheduler.limit + 1)
        if pacer.max_lag is not None:
            self._lag_deadline = time.monotonic()
        first = schedule.instant(self.plan.start)
        log.info("paced %gx: t=%g s is granted at %s (UTC)%s", pacer.factor, self.plan.base.seconds(self.plan.start),
                 _utc(schedule.posix(first)), f", {pacer.spec.hold_back:g} s behind the wall clock"
                 if pacer.spec.hold_back else "")  # fmt: skip
        return self._send_paced

    def pump(self) -> None:
        """One turn of the paced loop: grant what the clock allows, then wait for a frame or the next instant."""
        pacer, sched = self.pacer, self.scheduler
        assert pacer.schedule is not None
        now = time.monotonic()
        if now >= self._next_instant:  # the limit moves: one more tick's instant has passed
            schedule = pacer.schedule
            sched.limit = limit = schedule.limit(now)
            self._next_instant = schedule.instant(limit + 1)
            if limit >= sched.deferred:
                grants = sched.release()
                if grants:
                    self._send_paced(grants, clock=True)
        wait = self._liveness_ms
        if now >= self._lag_deadline:
            self._lag_deadline = self._check_lag(now)
        if self._lag_deadline - now < wait / 1000:
            wait = max(0, math.ceil((self._lag_deadline - now) * 1000))
        if sched.waiting:
            until = pacer.schedule.instant(sched.deferred) - time.monotonic()
            wait = max(0, min(wait, math.ceil(until * 1000)))  # never early: an instant is a lower bound
            if not sched.busy:  # waiting for the clock is not a stall
                self.health.stall_since = self.health.stall_told = now
        self.host.wait_ms = wait
        self.host.pump()

    def _send_paced(self, grants: list[Grant], clock: bool = False) -> None:
        pacer = self.pacer
        lag, tick = pacer.granted(grants, time.monotonic())
        if pacer.max_lag is not None and lag > pacer.max_lag:
            held = [] if clock else [max(self.members, key=lambda m: m.last_heard)]  # whose DONE released it
            self._held_too_long(held, lag, tick, stepping=False)
        self._send_unpaced(grants)

    QUIET_BEFORE = 0.05  # seconds before a paced instant in which housekeeping waits

    def instant_near(self, now: float, last_check: float) -> bool:
        """Whether the periodic housekeeping (process checks, the store's commit) should wait a little.

        A commit can take tens of milliseconds (a WAL checkpoint); done just before a tick's
        instant it would make that tick's grants late.  Done just after the grants, it costs
        nothing.  It waits at most 2 * QUIET_BEFORE past its due time, so a fast pace (instants
        closer than that) does not put it off for ever.  The unpaced loop never waits.
        """
        ahead = self._next_instant - now
        return 0.0 < ahead < self.QUIET_BEFORE and now - last_check < self.liveness + 2 * self.QUIET_BEFORE

    _lag_deadline = math.inf  # monotonic seconds of the next max_lag check
    _next_instant = -math.inf  # monotonic seconds when the limit moves next

    def record(self) -> None:
        """Every liveness interval (a coordinator hook): the lag rows into the store."""
        pacer = self.pacer
        if self.recorder is not None and pacer.rows:
            self.recorder.pacing(pacer.take_rows())

    def _check_lag(self, now: float) -> float:
        """Fail when the earliest tick not granted yet is overdue by more than max_lag; return when to look again."""
        pacer = self.pacer
        assert pacer.schedule is not None and pacer.max_lag is not None
        schedule, sched = pacer.schedule, self.scheduler
        due = NEVER  # the earliest tick a federate waits to be granted (a busy one's next, if periodic)
        for slot in sched.slots:
            if not slot.busy:
                due = min(due, slot.next)
            elif slot.period is not None:
                due = min(due, slot.granted + slot.period)
        if due > sched.stop:
            return math.inf
        instant = schedule.instant(due)
        if instant < pacer.began:  # its instant passed before stepping began: caught up, not held
            return now + self._liveness_ms / 1000
        lag = now - instant
        if lag > pacer.max_lag and due <= sched.limit:
            busy = [m for m in self.members if sched.slots[m.index].busy]
            first = min((sched.slots[m.index].granted for m in busy), default=NEVER)
            slowest = [m for m in busy if sched.slots[m.index].granted == first]
            self._held_too_long(slowest, lag, due, stepping=True)
        return instant + pacer.max_lag + 1e-4  # when this tick would be too late (it may be granted before)

    def _held_too_long(self, held: list[Member], lag: float, tick: int, *, stepping: bool) -> None:
        """Fail the run: ``held`` (members) kept tick ``tick`` waiting ``lag`` s; ``stepping``: they still are."""
        pacer = self.pacer
        t = self.plan.base.seconds(tick)
        behind = (f"{lag:.3g} s behind the wall clock at t={t:g} s (time.pace.max_lag {pacer.max_lag:g} s, "
                  f"pace {pacer.factor:g}x)")  # fmt: skip
        if not held:
            raise FederationError(f"the run fell {behind}: the coordinator itself was late (host overloaded?)")
        if len(held) > 1:
            names = ", ".join(repr(m.name) for m in held)
            raise FederationError(f"federates {names} held the federation {behind}")
        member = held[0]
        since = time.monotonic() - member.granted_at
        step = f"its step has taken {since:.3g} s so far" if stepping else f"its step took {since:.3g} s"
        at = member.last_grant.tick if member.last_grant is not None else self.plan.start
        raise FederateError(member.name, f"held the federation {behind}; {step}", time=self.plan.base.seconds(at),
                            doing=member.doing if stepping else "")  # fmt: skip

    @property
    def waiting(self) -> bool:
        """Whether everyone waits for the clock (then no federate busy is no deadlock)."""
        return self.scheduler.waiting

    def close(self) -> PacingSummary | None:
        """At the end of the run: the last rows and the summary figures into the store."""
        pacer = self.pacer
        if pacer.schedule is None:
            return None
        summary = pacer.summary()
        if self.recorder is not None and self.recorder.db is not None:
            self.recorder.pacing(pacer.take_rows())
            self.recorder.meta(**summary.meta())
        log.info("%s", summary.line())
        return summary



def _unstarted(grants: list[Grant]) -> None:
    raise AssertionError("PacedLoop.start() was not called")


def _utc(posix: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(posix)) + f".{int(posix % 1 * 1000):03d}Z"
