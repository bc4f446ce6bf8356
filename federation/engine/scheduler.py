"""Conservative time advance: who may be granted which tick, and with which inputs.

This module is pure logic, free of sockets, so that the time semantics can be tested
directly.  The coordinator feeds it ``DONE`` reports and sends the grants it returns.

Rules (see docs/architecture.md):

* ``safe(q)`` is the earliest tick at which federate ``q`` could still publish something:
  its granted tick while busy; otherwise its next requested tick, lowered -- for a federate
  woken by inputs or messages -- to ``safe(p) + lag`` over its upstream ``p``.
* The run covers ``[start, stop]``: ticks up to and including ``stop`` are granted, so
  every federate whose schedule reaches ``stop`` computes its values at ``stop``.
* ``f`` may be granted its next tick ``t`` when every upstream edge ``(q, lag)`` has
  ``safe(q) + lag > t``: lag 0 for a direct connection or a message route without
  lookahead, 1 tick for a delayed connection, the lookahead for a route.  A linearly
  interpolated input also needs the producer to have published a sample after ``t``.
* An iterate group is granted as one: all members at the same tick, re-granted with the
  previous iteration's values until the change falls below the group's tolerance.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass, field
from typing import Any, Iterable, NamedTuple

from ..errors import ConvergenceError, FederateError
from ..timebase import NEVER, TimeBase
from .history import History

__all__ = ["Scheduler", "FederateSlot", "Grant", "Sample", "SentMessage", "Binding", "GroupSlot", "Shape"]

_MISSING: Any = object()  # no sample yet


class Sample(NamedTuple):
    """A committed output value (a plain tuple: one is made per published change)."""

    tick: int
    federate: int
    output: int
    value: Any


@dataclass(frozen=True)
class SentMessage:
    tick: int  # delivery timestamp
    sender: int
    seq: int
    source: str  # "federate.endpoint"
    target: str  # "federate.endpoint"
    payload: Any
    sent_at: int  # tick of the step that sent it


class Grant:
    """A GRANT to send: federate index, tick, iteration, changed inputs, messages."""

    __slots__ = ("federate", "tick", "iteration", "inputs", "messages")

    def __init__(self, federate: int, tick: int, iteration: int, inputs: dict[int, Any], messages: list[list[Any]]):
        self.federate, self.tick, self.iteration, self.inputs, self.messages = federate, tick, iteration, inputs, messages


class Shape:
    """How a binding turns the producer's samples into the consumer's input when it is more than a
    sample-and-hold: linear interpolation, linear extrapolation, a unit conversion."""

    __slots__ = ("interpolate", "extrapolate", "scale", "offset", "derivative")

    def __init__(self, *, interpolate: bool = False, extrapolate: bool = False, scale: float = 1.0,
                 offset: float = 0.0, derivative: int | None = None) -> None:  # fmt: skip
        self.interpolate, self.extrapolate = interpolate, extrapolate
        self.scale, self.offset = scale, offset
        self.derivative = derivative  # the input key that carries the input's time derivative (per second)

    def convert(self, value: Any) -> Any:
        """``value`` in the consumer's unit (numbers and lists of numbers)."""
        scale, offset = self.scale, self.offset
        if scale == 1.0 and offset == 0.0:
            return value
        if isinstance(value, list):
            return [x * scale + offset for x in value]
        return value * scale + offset


class Binding:
    """Where one input of a federate takes its value from."""

    __slots__ = ("input", "history", "lag", "linear", "default", "producer", "signal", "shape")

    def __init__(self, input: int, history: History, lag: int, linear: bool, default: Any, producer: int, signal: int,
                 shape: Shape | None = None):  # fmt: skip
        self.input, self.history, self.lag, self.linear = input, history, lag, linear
        self.default, self.producer, self.signal = default, producer, signal
        self.shape = shape  # None: sample-and-hold, the fast path


@dataclass
class GroupSlot:
    name: str
    members: list[int]
    tolerance: float
    max_iterations: int
    signals: list[tuple[int, int]]  # (federate, output) carried by the group's connections
    iteration: int = 0
    tick: int = -1
    reported: set[int] = field(default_factory=set)
    values: dict[tuple[int, int], Any] = field(default_factory=dict)
    previous: dict[tuple[int, int], Any] = field(default_factory=dict)
    outputs: dict[int, dict[int, Any]] = field(default_factory=dict)
    messages_in: dict[int, list[list[Any]]] = field(default_factory=dict)  # re-delivered each iteration
    messages_out: dict[int, list[list[Any]]] = field(default_factory=dict)  # the last iteration's
    residual: float = math.inf


class FederateSlot:
    """The scheduler's view of one federate."""

    __slots__ = (
        "name", "index", "period", "offset", "wakeable", "upstream", "affects", "bindings",
        "last_sent", "next", "busy", "granted", "done", "pending", "timers", "group", "grants",
        "routes", "endpoints", "outputs", "output_names", "history", "record", "seq", "sampled", "live",
    )  # fmt: skip

    def __init__(self, name: str, index: int, period: int | None, offset: int) -> None:
        self.name, self.index, self.period, self.offset = name, index, period, offset
        self.wakeable = period is None
        self.upstream: list[tuple[int, int, bool]] = []  # (producer, lag, linear)
        self.affects: list[int] = []  # federates whose grant test depends on this one's state
        self.bindings: list[Binding] = []
        self.last_sent: dict[int, Any] = {}
        self.next = NEVER
        self.busy = False
        self.granted = -1
        self.done = -1
        self.pending: list[tuple[int, int, int, str, str, Any, Any]] = []  # heap (tick, sender, seq, src, ep, payload, decision)
        self.group: GroupSlot | None = None
        self.grants = 0
        self.routes: dict[str, list[tuple[int, str, int]]] = {}  # endpoint -> [(receiver, endpoint, lookahead)]
        self.endpoints: set[str] = set()
        self.outputs: list[Any] = []  # latest committed value per output
        self.output_names: list[str] = []
        self.history: list[History | None] = []  # per output; None when nobody consumes it
        self.record: list[bool] = []
        self.seq = 0
        self.sampled: list[int] = []  # outputs read by linear interpolation: every step is a sample
        self.live = False  # a live source: woken by WAKE frames, never stepped before its open tick

    def __repr__(self) -> str:
        state = "BUSY" if self.busy else "IDLE"
        return f"<FederateSlot {self.name} {state} granted={self.granted} next={self.next}>"


class Scheduler:
    """Grants time to federates; see the module docstring for the rules."""

    def __init__(self, slots: list[FederateSlot], groups: list[GroupSlot], base: TimeBase, start: int, stop: int):
        self.slots = slots
        self.groups = groups
        self.base = base
        self.start, self.stop = start, stop
        self.samples: list[Sample] = []  # committed, not yet flushed to the recorder
        self.messages: list[SentMessage] = []
        self.any_wakeable = any(s.wakeable and s.upstream for s in slots)
        self.rejected: list[tuple[int, str]] = []  # (federate, why) for items refused in a DONE
        self.busy = 0  # federates granted and not yet done
        self.consumers: dict[int, list[tuple[FederateSlot, int]]] = {}  # id(history) -> [(consumer, lag)]
        for slot in slots:
            for b in slot.bindings:
                self.consumers.setdefault(id(b.history), []).append((slot, b.lag))
        self.live: list[int] = []  # live sources (set_live); empty in an ordinary run
        self.batch_end: dict[int, int] = {}  # federate -> last tick of the STEPS frame it is computing (extend)

    # ------------------------------------------------------------------ set-up
    def begin(self) -> list[Grant]:
        """First grants, once every federate has joined."""
        for slot in self.slots:
            slot.next = self.start + slot.offset if slot.period is not None else self.start
        return self.grant_ready(range(len(self.slots)))

    # ------------------------------------------------------------------ safe times
    limit = NEVER  # the last tick the wall clock allows (a paced run's PacedScheduler moves it)
    barrier = NEVER  # no tick at or after it is granted: the cut of the next checkpoint (engine/checkpoint.py)

    def safe_times(self) -> list[int]:
        slots = self.slots
        own = [s.granted if s.busy else s.next for s in slots]
        if self.live:  # an idle live source may yet publish at any tick the clock has not reached
            bound = self.limit + 1
            for i in self.live:
                if own[i] > bound and not slots[i].busy:
                    own[i] = bound
        if not self.any_wakeable:
            return own
        dist = list(own)
        heap = [(d, i) for i, d in enumerate(dist)]
        heapq.heapify(heap)
        downstream = self._wake_edges()
        while heap:
            d, i = heapq.heappop(heap)
            if d > dist[i]:
                continue
            for j, lag in downstream[i]:
                nd = d + lag
                if nd < dist[j] and not slots[j].busy:
                    dist[j] = nd
                    heapq.heappush(heap, (nd, j))
        return dist

    def _wake_edges(self) -> list[list[tuple[int, int]]]:
        edges: list[list[tuple[int, int]]] = [[] for _ in self.slots]
        for slot in self.slots:
            if slot.wakeable:
                for producer, lag, _ in slot.upstream:
                    edges[producer].append((slot.index, lag))
        return edges

    def gvt(self) -> int:
        """Global lower bound: nothing will ever be published before this tick."""
        return min(self.safe_times(), default=NEVER)

    @property
    def finished(self) -> bool:
        """Nothing is left to grant: the run covers [start, stop], stop included."""
        return self.gvt() > self.stop

    # ------------------------------------------------------------------ granting
    def ready(self, slot: FederateSlot, safe: list[int] | None) -> bool:
        """Whether ``slot`` may be granted its next tick; ``safe`` None: safe times are local."""
        t = slot.next
        if slot.busy or t > self.stop or t >= self.barrier:  # the stop tick itself is granted: the run ends with values at stop
            return False
        group = slot.group
        slots = self.slots
        for producer, lag, linear in slot.upstream:
            p = slots[producer]
            if group is not None and p.group is group:
                continue
            s = (p.granted if p.busy else p.next) if safe is None else safe[producer]
            if s + lag <= t:
                return False
            if linear and p.done <= t and s <= self.stop:
                return False
        return True

    def grant_ready(self, candidates: Iterable[int]) -> list[Grant]:
        safe = self.safe_times() if self.any_wakeable else None
        grants: list[Grant] = []
        slots, ready, grant = self.slots, self.ready, self._grant_one
        for i in candidates:
            slot = slots[i]
            if not ready(slot, safe):
                continue
            group = slot.group
            if group is None:
                grants.append(grant(slot, slot.next))
            elif all(self.ready(slots[m], safe) and slots[m].next == slot.next for m in group.members):
                group.tick, group.iteration, group.reported = slot.next, 0, set()
                group.previous = {(f, o): slots[f].outputs[o] for f, o in group.signals}
                group.values = dict(group.previous)
                grants.extend(self._grant(slots[m], slot.next, 0) for m in group.members)
        return grants

    def _grant(self, slot: FederateSlot, tick: int, iteration: int) -> Grant:
        if not slot.busy:
            self.busy += 1
        slot.busy = True
        slot.granted = tick
        slot.grants += 1
        inputs: dict[int, Any] = {}
        last = slot.last_sent
        group = slot.group
        prune = iteration == 0 and not slot.grants & 15  # history is pruned every 16th grant: it is cheap to keep
        for b in slot.bindings:
            if group is not None and iteration > 0 and (b.producer, b.signal) in group.values:
                value = group.values[(b.producer, b.signal)]
                if b.shape is not None:
                    value = self._iterated(b, tick, value, last, inputs)
            elif b.shape is not None:
                value = self._shaped(b, tick, last, inputs)
            else:
                value = b.history.at(tick - b.lag, b.default)
            if b.input not in last or last[b.input] != value:
                inputs[b.input] = value
                last[b.input] = value
            if prune:
                self._prune(b.history)
        messages: list[list[Any]] = []
        pending = slot.pending
        while pending and pending[0][0] <= tick:
            m_tick, _, _, source, endpoint, payload, decision = heapq.heappop(pending)
            messages.append([m_tick, source, endpoint, payload] if decision is None
                            else [m_tick, source, endpoint, payload, decision])  # fmt: skip
        if group is not None and iteration == 0:
            group.messages_in[slot.index] = messages
        elif group is not None:
            messages = group.messages_in.get(slot.index, [])
        return Grant(slot.index, tick, iteration, inputs, messages)

    def _grant_one(self, slot: FederateSlot, tick: int) -> Grant:
        """:meth:`_grant` of iteration 0 to a federate outside any iterate group (the common grant), written out."""
        if not slot.busy:
            self.busy += 1
        slot.busy = True
        slot.granted = tick
        slot.grants = count = slot.grants + 1
        inputs: dict[int, Any] = {}
        if slot.bindings:
            last = slot.last_sent
            prune = not count & 15  # history is pruned every 16th grant: it is cheap to keep
            for b in slot.bindings:
                if b.shape is not None:
                    value = self._shaped(b, tick, last, inputs)
                else:
                    history, at = b.history, tick - b.lag
                    ticks = history.ticks
                    value = history.values[-1] if ticks and ticks[-1] <= at else history.at(at, b.default)  # History.at
                key = b.input
                if key not in last or last[key] != value:
                    inputs[key] = last[key] = value
                if prune:
                    self._prune(b.history)
        messages: list[list[Any]] = []
        pending = slot.pending
        while pending and pending[0][0] <= tick:
            m_tick, _, _, source, endpoint, payload, decision = heapq.heappop(pending)
            messages.append([m_tick, source, endpoint, payload] if decision is None
                            else [m_tick, source, endpoint, payload, decision])  # fmt: skip
        return Grant(slot.index, tick, 0, inputs, messages)

    # ------------------------------------------------------------------ several steps per grant
    def extend(self, grant: Grant, most: int) -> list[Grant]:
        """The steps after ``grant`` that may go out with it in one STEPS frame (up to ``most`` in all).

        A step at ``t`` joins when the federate would be granted ``t`` right after the step
        before it, whatever the others do meanwhile -- so its inputs and messages are already
        final, and what it computes is what it would compute granted one step at a time:

        * the federate is time-stepped (a period), not in an iterate group, not a live source,
          and the run is not paced;
        * every producer (connection or message route) is safe past ``t`` now (``ready`` at
          ``t``): nothing it does later can reach ``t``; a linearly interpolated input has its
          sample after ``t``.

        And no consumer of its outputs or messages is event-driven (one woken by each output
        should not wait for a whole batch).  A time-stepped consumer waits for the batch and is
        then ready for as many steps itself: the chain runs as a pipeline of batches, the
        results unchanged (``tests/test_steps_per_grant.py``).  While the steps run, the
        federate's safe time stays the first step's tick.  The extra steps are granted here (their inputs and
        messages taken, counted as grants); :meth:`done_steps` takes their reports.
        """
        slot = self.slots[grant.federate]
        period = slot.period
        if most <= 1 or period is None or grant.iteration or not self.may_extend(grant.federate):
            return []
        safe = self.safe_times() if self.any_wakeable and slot.upstream else None  # no inputs: nothing to wait for
        more: list[Grant] = []
        t = grant.tick + period
        while len(more) + 1 < most and t <= self.stop and t < self.barrier and self._ready_at(slot, t, safe):
            more.append(self._grant_step(slot, t))
            t += period
        if more:
            self.batch_end[slot.index] = more[-1].tick
        return more

    def may_extend(self, index: int) -> bool:
        """Whether the federate's grants may ever be extended (:meth:`extend`, the conditions that do not change)."""
        slot, slots = self.slots[index], self.slots
        return (slot.period is not None and slot.group is None and not slot.live and not self.live
                and self.limit >= NEVER  # not paced
                and not any(slots[j].wakeable for j in slot.affects))  # fmt: skip  # an event-driven consumer
        # is woken by each output: it should not wait for a whole batch

    def _ready_at(self, slot: FederateSlot, t: int, safe: list[int] | None) -> bool:
        """``ready`` for a later tick ``t`` of a federate that is busy with the steps before it."""
        slots = self.slots
        for producer, lag, linear in slot.upstream:
            p = slots[producer]
            s = (p.granted if p.busy else p.next) if safe is None else safe[producer]
            if s + lag <= t or (linear and p.done <= t and s <= self.stop):
                return False
        return True

    def _grant_step(self, slot: FederateSlot, tick: int) -> Grant:
        """A further step of a federate already granted (``_grant`` without the busy bookkeeping)."""
        slot.grants += 1
        inputs: dict[int, Any] = {}
        last = slot.last_sent
        for b in slot.bindings:
            value = self._shaped(b, tick, last, inputs) if b.shape is not None else b.history.at(tick - b.lag, b.default)
            if b.input not in last or last[b.input] != value:
                inputs[b.input] = last[b.input] = value
        messages: list[list[Any]] = []
        pending = slot.pending
        while pending and pending[0][0] <= tick:
            m_tick, _, _, source, endpoint, payload, decision = heapq.heappop(pending)
            messages.append([m_tick, source, endpoint, payload] if decision is None
                            else [m_tick, source, endpoint, payload, decision])  # fmt: skip
        return Grant(slot.index, tick, 0, inputs, messages)

    def done_steps(self, index: int, ticks: list[int], reports: list[list[Any]]) -> list[Grant]:
        """Take the reports ``[tick, outputs, messages, next_tick]`` of the steps granted at ``ticks``, in order."""
        slot = self.slots[index]
        got = [r[0] for r in reports]
        if not slot.busy or got != ticks:
            raise FederateError(slot.name, f"STEPS_DONE for ticks {got[:3]}... out of turn (granted {ticks[:3]}...)",
                                time=self.base.seconds(max(slot.granted, 0)))  # fmt: skip
        for tick, outputs, messages, _ in reports:
            for key in outputs:
                if not 0 <= key < len(slot.outputs):
                    raise FederateError(slot.name, f"STEPS_DONE names output index {key}; it declared "
                                                   f"{len(slot.outputs)} outputs", time=self.base.seconds(tick))  # fmt: skip
            self._commit(slot, tick, outputs, messages)
        self.batch_end.pop(index, None)
        return self._finish(slot, ticks[-1], None)

    def regrant(self, index: int, previous: Grant) -> Grant:
        """The same grant again, with every input, for a federate restarted mid-step."""
        slot = self.slots[index]
        slot.last_sent.clear()
        inputs: dict[int, Any] = {}
        for b in slot.bindings:
            if b.shape is not None:
                value = self._shaped(b, previous.tick, slot.last_sent, inputs)
            else:
                value = b.history.at(previous.tick - b.lag, b.default)
            inputs[b.input] = slot.last_sent[b.input] = value
        return Grant(index, previous.tick, previous.iteration, inputs, previous.messages)

    def _shaped(self, b: Binding, tick: int, last: dict[int, Any], inputs: dict[int, Any]) -> Any:
        """The value of a shaped binding at ``tick``; its derivative, when the consumer takes it, goes to ``inputs``."""
        shape = b.shape
        assert shape is not None
        slope = 0.0
        if shape.interpolate:
            value, slope = self._interpolate(b, tick, _MISSING)
        elif shape.extrapolate:
            value, slope = self._extrapolate(b, tick)
        else:
            value = b.history.at(tick - b.lag, _MISSING)
        if value is _MISSING:  # before the producer's first sample: the input's own default, unconverted
            value, slope = b.default, 0.0
        else:
            value = shape.convert(value)
            slope *= shape.scale
        key = shape.derivative
        if key is not None and (key not in last or last[key] != slope):
            inputs[key] = last[key] = slope
        return value

    def _iterated(self, b: Binding, tick: int, value: Any, last: dict[int, Any], inputs: dict[int, Any]) -> Any:
        """A shaped binding inside an iterate group, with the group's current ``value`` for ``tick``: a linear
        extrapolation runs through the producer's latest committed sample and this value."""
        shape = b.shape
        assert shape is not None
        if shape.derivative is not None:
            _, latest = b.history.last_two(tick - 1)
            slope = 0.0 if latest is None else (value - latest[1]) / self.base.seconds(tick - latest[0])
            slope *= shape.scale
            if last.get(shape.derivative, _MISSING) != slope:
                inputs[shape.derivative] = last[shape.derivative] = slope
        return shape.convert(value)

    def _extrapolate(self, b: Binding, tick: int) -> tuple[Any, float]:
        """The line through the producer's two latest samples (at or before ``tick - lag``): its value at ``tick``
        and its slope per second (the latest sample and 0 while there is only one)."""
        previous, latest = b.history.last_two(tick - b.lag)
        if latest is None:
            return _MISSING, 0.0
        t1, v1 = latest
        if previous is None:
            return v1, 0.0
        t0, v0 = previous
        seconds = self.base.seconds
        slope = (v1 - v0) / seconds(t1 - t0)
        return v1 + slope * seconds(tick - t1), slope

    def _interpolate(self, b: Binding, tick: int, default: Any) -> tuple[Any, float]:
        """The value between the producer's samples around ``tick``, and the slope (per second) of that segment."""
        before, after = b.history.around(tick)
        if before is None:
            return (default if after is None else after[1]), 0.0
        if after is None:
            return before[1], 0.0
        (t0, v0), (t1, v1) = before, after
        slope = (v1 - v0) / self.base.seconds(t1 - t0)
        if t0 == tick:
            return v0, slope
        return v0 + (v1 - v0) * ((tick - t0) / (t1 - t0)), slope

    def _prune(self, history: History) -> None:
        consumers = self.consumers.get(id(history), ())
        if len(consumers) == 1:
            consumer, lag = consumers[0]
            history.prune(consumer.granted - lag - 1)
            return
        floor = min((c.granted - lag for c, lag in consumers), default=NEVER)
        history.prune(floor - 1)

    # ------------------------------------------------------------------ live sources
    def set_live(self, indices: Iterable[int]) -> None:
        """Mark live sources (their DECLARE said so).  A run with one is paced: its clock bounds every grant."""
        for i in indices:
            if i not in self.live:
                self.live.append(i)
                self.slots[i].live = True

    def open_tick(self, slot: FederateSlot) -> int:
        """The first tick at which ``slot`` may still publish without rewriting anyone's past.

        After its own last step, and after every tick granted to a federate its outputs
        reach (directly, or through event-driven federates it wakes).
        """
        first = max(slot.done + 1, self.start)
        slots = self.slots
        for j in slot.affects:
            if slots[j].granted >= first:
                first = slots[j].granted + 1
        return first

    def _live_next(self, slot: FederateSlot, nxt: int) -> int:
        """A live source's next tick: never before its open tick (a sample that came late waits for it)."""
        return nxt if nxt >= NEVER else max(nxt, self.open_tick(slot))

    def wake(self, index: int, tick: int) -> list[Grant]:
        """A live source's WAKE: a sample waits for ``tick``; return the grants that makes possible.

        A sample stamped before the source's open tick is late: it is applied at the open
        tick.  A busy source is left alone: its DONE tells its next tick anyway.
        """
        slot = self.slots[index]
        if slot.busy or not slot.live or slot.period is not None:  # a time-stepped source reads its feed each step
            return []
        tick = max(tick, self.open_tick(slot))
        if tick >= slot.next:
            return []
        slot.next = tick
        return self.grant_ready([index])

    # ------------------------------------------------------------------ reports
    def done(self, index: int, tick: int, iteration: int, outputs: dict[int, Any],
             messages: list[list[Any]], next_tick: int | None) -> list[Grant]:  # fmt: skip
        """Take a DONE report; return the grants it makes possible."""
        slot = self.slots[index]
        if not slot.busy or tick != slot.granted:
            raise FederateError(slot.name, f"DONE for tick {tick} out of turn (granted {slot.granted}, busy={slot.busy})",
                                time=self.base.seconds(max(slot.granted, 0)))  # fmt: skip
        for key in outputs:
            if not 0 <= key < len(slot.outputs):
                raise FederateError(slot.name, f"DONE names output index {key}; it declared {len(slot.outputs)} outputs",
                                    time=self.base.seconds(tick))  # fmt: skip
        if slot.group is not None:
            return self._group_done(slot, tick, iteration, outputs, messages, next_tick)
        self._commit(slot, tick, outputs, messages)
        return self._finish(slot, tick, next_tick)

    def _finish(self, slot: FederateSlot, tick: int, next_tick: int | None) -> list[Grant]:
        slot.busy = False
        self.busy -= 1
        slot.done = tick
        slot.next = tick + slot.period if slot.period is not None else self._next_event(slot, tick, next_tick)
        return self.grant_ready([slot.index, *slot.affects])

    def _next_event(self, slot: FederateSlot, tick: int, next_tick: int | None) -> int:
        """An event-driven federate's next tick after its step at ``tick``: the one it asked for, or earlier
        its first waiting message or input change."""
        if next_tick is not None and next_tick <= tick:
            raise FederateError(slot.name, f"asked for next time {self.base.seconds(next_tick):g} s, "
                                           "which is not after the granted time", time=self.base.seconds(tick))  # fmt: skip
        nxt = NEVER if next_tick is None else next_tick
        if slot.pending:
            nxt = min(nxt, slot.pending[0][0])
        for b in slot.bindings:  # the first input change after this step wakes it
            change = b.history.next_after(tick - b.lag)
            if change is not None and change + b.lag < nxt:
                nxt = change + b.lag
        if slot.live:
            nxt = self._live_next(slot, nxt)
        return nxt

    def done_many(self, reports: list[list[Any]]) -> list[Grant]:
        """Take the DONE reports of one DONES frame, ``[federate, tick, iteration, outputs, messages, next_tick]``
        each, in order; return the grants they make possible.

        The same as :meth:`done` for each report in turn, except that the grants are looked for once, after
        the last report, among the federates any of them may have unblocked.  That finds the same grants:
        granting is conservative, so a federate ready after one report is still ready, with the same tick,
        inputs and messages, after the others (they only complete steps; none can reach into the granted
        tick).  A report of an iterate group's member or of a federate whose outputs are interpolated goes
        through :meth:`done`.  The bookkeeping of :meth:`_commit` and :meth:`_finish` is inlined: this is
        the coordinator's work per grouped federate step (docs/performance.md, "At scale").
        """
        slots, samples, base = self.slots, self.samples, self.base
        grants: list[Grant] = []
        candidates: dict[int, None] = {}  # an ordered set: the order of the reports
        for index, tick, iteration, outputs, messages, next_tick in reports:
            slot = slots[index]
            if slot.group is not None or slot.sampled or iteration:
                grants.extend(self.done(index, tick, iteration, outputs, messages, next_tick))
                continue
            if not slot.busy or tick != slot.granted:
                raise FederateError(slot.name, f"DONE for tick {tick} out of turn (granted {slot.granted}, "
                                               f"busy={slot.busy})", time=base.seconds(max(slot.granted, 0)))  # fmt: skip
            if outputs:
                values, count = slot.outputs, len(slot.outputs)
                for key in outputs:
                    if not 0 <= key < count:
                        raise FederateError(slot.name, f"DONE names output index {key}; it declared {count} outputs",
                                            time=base.seconds(tick))  # fmt: skip
                history, record = slot.history, slot.record
                for key, value in outputs.items():
                    values[key] = value
                    h = history[key]
                    if h is not None:
                        h.append(tick, value)
                    if record[key]:
                        samples.append((tick, index, key, value))  # type: ignore[arg-type]  # a bare-tuple Sample
                if slot.affects:
                    self._wake_consumers(slot, tick, outputs)
            for message in messages:
                self._route(slot, tick, message)
            slot.busy = False
            self.busy -= 1
            slot.done = tick
            slot.next = tick + slot.period if slot.period is not None else self._next_event(slot, tick, next_tick)
            candidates[index] = None
            for j in slot.affects:
                candidates[j] = None
        if candidates:
            grants.extend(self.grant_ready(candidates))
        return grants

    def _commit(self, slot: FederateSlot, tick: int, outputs: dict[int, Any], messages: list[list[Any]]) -> None:
        for key in slot.sampled:  # an unchanged value is still a sample to interpolate from
            if key not in outputs:
                slot.history[key].append(tick, slot.outputs[key])  # type: ignore[union-attr]
        for key, value in outputs.items():
            slot.outputs[key] = value
            history = slot.history[key]
            if history is not None:
                history.append(tick, value)
            if slot.record[key]:
                self.samples.append((tick, slot.index, key, value))  # type: ignore[arg-type]  # a bare-tuple Sample
        if outputs and slot.affects:
            self._wake_consumers(slot, tick, outputs)
        for message in messages:
            self._route(slot, tick, message)

    def _wake_consumers(self, slot: FederateSlot, tick: int, outputs: dict[int, Any]) -> None:
        for j in slot.affects:
            consumer = self.slots[j]
            if not consumer.wakeable:
                continue
            for b in consumer.bindings:
                if b.producer == slot.index and b.signal in outputs:
                    wake = tick + b.lag  # a busy consumer finds it in the history when it finishes
                    if not consumer.busy and wake < consumer.next:
                        consumer.next = wake

    def _route(self, slot: FederateSlot, tick: int, message: list[Any]) -> None:
        if len(message) == 4:
            endpoint, payload, at, to = message
            decision = None
        else:  # a message that passed a decision gate carries its record (a map)
            endpoint, payload, at, to, decision = message
        routes = slot.routes.get(endpoint)
        if routes is None:
            why = "is not declared" if endpoint not in slot.endpoints else "has no route in the scenario"
            self.rejected.append((slot.index, f"endpoint '{endpoint}' {why}; message dropped"))
            return
        sent = False
        for receiver, target_ep, lookahead in routes:
            stamp = tick + lookahead if at is None else at  # unstamped: as early as the route allows
            target = self.slots[receiver]
            label = f"{target.name}.{target_ep}"
            if to is not None and to != label and to != target.name:
                continue
            if stamp < tick + lookahead:
                self.rejected.append((slot.index, f"message on '{endpoint}' stamped {self.base.seconds(stamp):g} s, before "
                                                  f"now + lookahead ({self.base.seconds(tick + lookahead):g} s); dropped"))
                return
            slot.seq += 1
            source = f"{slot.name}.{endpoint}"
            self.deliver(target, stamp, slot.index, slot.seq, source, target_ep, payload, tick, decision)
            sent = True
        if not sent:
            self.rejected.append((slot.index, f"message on '{endpoint}' addressed to '{to}', which the scenario "
                                              "does not route to; dropped"))

    def deliver(self, target: FederateSlot, at: int, sender: int, seq: int, source: str, endpoint: str,
                payload: Any, sent_at: int, decision: Any = None) -> None:  # fmt: skip
        self.messages.append(SentMessage(at, sender, seq, source, f"{target.name}.{endpoint}", payload, sent_at))
        if at > self.stop:
            return
        heapq.heappush(target.pending, (at, sender, seq, source, endpoint, payload, decision))
        if target.wakeable and at < target.next and not target.busy:
            target.next = at

    # ------------------------------------------------------------------ iterate groups
    def _group_done(self, slot: FederateSlot, tick: int, iteration: int, outputs: dict[int, Any],
                    messages: list[list[Any]], next_tick: int | None) -> list[Grant]:  # fmt: skip
        group = slot.group
        assert group is not None
        if iteration != group.iteration:
            raise FederateError(slot.name, f"DONE for iteration {iteration}, expected {group.iteration}",
                                time=self.base.seconds(tick))  # fmt: skip
        group.reported.add(slot.index)
        group.outputs[slot.index] = {**group.outputs.get(slot.index, {}), **outputs} if iteration else dict(outputs)
        group.messages_out[slot.index] = messages
        if len(group.reported) < len(group.members):
            return []
        residual, worst = 0.0, ""
        for f, o in group.signals:
            new = group.outputs[f].get(o, group.values[(f, o)])
            change = _distance(new, group.values[(f, o)])
            if change > residual or not worst:
                residual, worst = change, f"{self.slots[f].name}.{self.slots[f].output_names[o]}"
            group.values[(f, o)] = new
        group.residual = residual
        if residual <= group.tolerance:
            grants: list[Grant] = []
            for m in group.members:
                member = self.slots[m]
                first = member.done < 0  # a first step commits every output, like any federate's first DONE
                changed = {k: v for k, v in group.outputs[m].items() if first or member.outputs[k] != v}
                self._commit(member, tick, changed, group.messages_out[m])
            group.outputs, group.messages_in, group.messages_out = {}, {}, {}
            for m in group.members:
                grants.extend(self._finish(self.slots[m], tick, None))
            return grants
        if group.iteration + 1 >= group.max_iterations:
            raise ConvergenceError(group.name, self.base.seconds(tick), residual, worst, group.iteration + 1)
        group.iteration += 1
        group.reported = set()
        for m in group.members:
            self.slots[m].busy = False
            self.busy -= 1
        return [self._grant(self.slots[m], tick, group.iteration) for m in group.members]

    # ------------------------------------------------------------------ draining
    def take_final(self) -> tuple[list[Sample], list[SentMessage]]:
        """Samples and messages that can no longer change, in a deterministic order."""
        horizon = self.gvt()
        samples = [s for s in self.samples if s[0] < horizon]
        messages = [m for m in self.messages if m.tick < horizon]
        if len(samples) < len(self.samples):
            self.samples = [s for s in self.samples if s[0] >= horizon]
        else:
            self.samples = []
        if len(messages) < len(self.messages):
            self.messages = [m for m in self.messages if m.tick >= horizon]
        else:
            self.messages = []
        samples.sort(key=_sample_order)
        messages.sort(key=lambda m: (m.tick, m.sender, m.seq, m.target))
        return samples, messages

    def take_all(self) -> tuple[list[Sample], list[SentMessage]]:
        """Everything still buffered (end of run, or failure: keep what was recorded)."""
        samples = sorted(self.samples, key=_sample_order)
        messages = sorted(self.messages, key=lambda m: (m.tick, m.sender, m.seq, m.target))
        self.samples, self.messages = [], []
        return samples, messages

    def waits(self) -> list[str]:
        """Who waits on whom (for deadlock explanations and hang reports)."""
        safe = self.safe_times()
        return [text for text in (self._wait(slot, safe) for slot in self.slots) if text]

    def wait(self, index: int) -> str:
        """What federate ``index`` is doing or waiting on ("" when it waits on nobody)."""
        return self._wait(self.slots[index], self.safe_times())

    def _wait(self, slot: FederateSlot, safe: list[int]) -> str:
        if slot.busy:
            return f"{slot.name} is computing t={self.base.seconds(slot.granted):g} s"
        if slot.next > self.stop:
            return ""
        blockers = [f"{self.slots[p].name} (safe until {self.base.seconds(safe[p]):g} s)"
                    for p, lag, _ in slot.upstream if safe[p] + lag <= slot.next]  # fmt: skip
        if not blockers:
            return ""
        return f"{slot.name} waits to reach t={self.base.seconds(slot.next):g} s on " + ", ".join(blockers)


def _sample_order(s: tuple[int, int, int, Any]) -> tuple[int, int, int]:
    return s[0], s[1], s[2]


def _distance(a: Any, b: Any) -> float:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return abs(float(a) - float(b))
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)) and len(a) == len(b):
        return max((_distance(x, y) for x, y in zip(a, b)), default=0.0)
    return 0.0 if a == b else math.inf
