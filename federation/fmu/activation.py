"""Clock activation: what the importer does in event mode for an FMI 3 FMU with clocks.

:class:`ClockActivation` runs one event (FMI 3.0 §2.3.5 "Event Mode") of an FMU with
clocks, for Co-Simulation with event mode and for Model Exchange alike; the caller has
entered event mode and leaves it afterwards.  Each super-dense instant of the event:

1. the clocks due now are activated together with ``fmi3SetClock``: the time-based input
   clocks whose time has come (:class:`~federation.fmu.clocks.Timetable`) and the triggered
   input clocks a message asked for (first instant only);
2. the clocked inputs of each activated clock are set: the federation's input signals
   bound to them, then the values a triggering message carries;
3. the outputs of the active partitions are read while their clocks are active (that is
   when they are defined): the clocked outputs the federation reads are held until their
   clock's next activation;
4. ``fmi3GetClock`` asks which output (and local) clocks the FMU activated; each active
   output clock becomes a :class:`ClockTick` (a message) with its partition's outputs;
5. ``fmi3UpdateDiscreteStates`` closes the instant (the FMU deactivates its clocks);
6. ``fmi3GetIntervalDecimal`` tells the next activation of the aperiodic clocks (after
   their activation for ``changing``, in every event for ``countdown``) and the new
   interval of a ``tunable`` clock whose interval the FMU computes.

Another instant follows while the FMU asks for one, or while an aperiodic clock reported an
interval of 0 s.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .binding import IntervalQualifier
from .clocks import ClockCausality, ClockKind, FmuClock, Timetable
from .errors import FMUError
from .instance import MAX_EVENT_ITERATIONS, EventUpdate, FmuInstance
from .variables import Binding, BoundIO, FmuVariable, ValueIO, check_value

__all__ = ["ClockActivation", "ClockSetting", "ClockTick"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ClockSetting:
    """What the scenario sets for a fixed or tunable clock with ``intervalDecimal``: interval and shift."""

    interval: float | None = None
    shift: float | None = None


@dataclass(frozen=True)
class ClockTick:
    """An output clock's activation: a message from the endpoint named after the clock."""

    clock: str
    time: float
    values: dict[str, Any] = field(default_factory=dict)


class ClockActivation:
    """The clocks of one instance: their timetable, partitions and held clocked outputs."""

    def __init__(self, instance: FmuInstance, clocks: Sequence[FmuClock], variables: Mapping[str, FmuVariable],
                 inputs: Sequence[Binding], settings: Mapping[str, ClockSetting]) -> None:  # fmt: skip
        self.instance = instance
        self.clocks = {c.name: c for c in clocks}
        self.settings = dict(settings)
        self.timetable = Timetable(clocks)
        self.polled = [c for c in clocks if not c.is_input]  # output and local clocks: fmi3GetClock
        self._outputs: dict[str, list[FmuVariable]] = {}  # clock -> outputs of its partition
        self._inputs: dict[str, dict[str, FmuVariable]] = {}  # input clock -> its clocked inputs
        for v in variables.values():
            for name in v.clocks:
                if name not in self.clocks or v.is_clock:
                    continue
                if v.causality == "output":
                    self._outputs.setdefault(name, []).append(v)
                elif v.causality == "input":
                    self._inputs.setdefault(name, {})[v.name] = v
        self._reads = {k: ValueIO(vs, True) for k, vs in self._outputs.items()}
        self._bound_reads: dict[str, BoundIO] = {}
        self._signals: dict[str, list[Binding]] = {}  # input clock -> bound clocked input signals
        for b in inputs:
            for name in b.variable.clocks:
                self._signals.setdefault(name, []).append(b)
        self.held: dict[str, Any] = {v.name: v.default() for vs in self._outputs.values() for v in vs}
        self.ticks: list[ClockTick] = []
        self._ignored: set[tuple[str, str]] = set()  # (clock, payload key) already reported
        self.signal_values: Callable[[], Mapping[str, Any]] = dict

    # ------------------------------------------------------------------ set-up
    def attach(self) -> None:
        """Bind the partition reads to the (new) instance."""
        self._bound_reads = {k: io.attach(self.instance.api) for k, io in self._reads.items()}

    def initialize(self, start: float) -> None:
        """In initialization mode: set the intervals the scenario gives, ask the FMU for the others."""
        api = self.instance.api
        for clock in self.timetable.clocks.values():
            setting = self.settings.get(clock.name, ClockSetting())
            if clock.kind.periodic:
                self._first_periodic(api, clock, setting, start)
            else:  # changing, countdown: the first interval is counted from the start
                (interval, qualifier), = api.get_intervals([clock.value_reference])
                if qualifier is IntervalQualifier.CHANGED:
                    self.timetable.after(clock.name, start, interval)

    def _first_periodic(self, api: Any, clock: FmuClock, setting: ClockSetting, start: float) -> None:
        vr = clock.value_reference
        if clock.settable_interval:
            interval = setting.interval if setting.interval is not None else clock.interval
            shift = setting.shift if setting.shift is not None else (clock.shift or 0.0)
            if setting.interval is not None:
                api.set_intervals([vr], [interval])
            if setting.shift is not None:
                api.set_shifts([vr], [shift])
        elif clock.kind is ClockKind.CONSTANT and clock.interval is not None:
            interval, shift = clock.interval, clock.shift or 0.0
        else:  # fixed or tunable whose interval the FMU computes from its parameters
            (interval, _), = api.get_intervals([vr])
            shift, = api.get_shifts([vr])
        assert interval is not None
        self.timetable.periodic(clock.name, start + shift, interval)

    # ------------------------------------------------------------------ the event
    def next_time(self) -> float | None:
        return self.timetable.next_time()

    def event(self, time: float, write: Callable[[], None] | None = None,
              triggered: Mapping[str, Mapping[str, Any]] | None = None) -> EventUpdate:  # fmt: skip
        """One event at ``time`` (the FMU is in event mode): instants until nothing more is due."""
        changed, pending = False, dict(triggered or {})
        if write is not None:
            write()
        for _ in range(MAX_EVENT_ITERATIONS):
            due = [c.name for c in self.timetable.due(time)]
            activate = due + [name for name in pending if name not in due]
            self._activate(time, activate, pending)
            for name in due:
                self.timetable.activated(name)
            pending = {}
            self._poll(time, activate)
            need, terminate, values_changed, next_time = self.instance.api.update_discrete_states()
            changed = changed or values_changed
            if terminate:
                raise self.instance.terminated(time)
            self._intervals(time, activate)
            if not need and not self.timetable.due(time):
                return EventUpdate(next_time, changed)
        raise FMUError(f"{self.instance.archive.label}: event iteration with clocks did not settle after "
                       f"{MAX_EVENT_ITERATIONS} rounds at t={time:g} s")  # fmt: skip

    def _activate(self, time: float, names: list[str], payloads: Mapping[str, Mapping[str, Any]]) -> None:
        if not names:
            return
        api = self.instance.api
        api.set_clocks([self.clocks[n].value_reference for n in names])
        log.debug("%s: clocks %s active at t=%g s", self.instance.archive.name, ", ".join(names), time)
        signals = None
        for name in names:
            bound = self._signals.get(name)
            if bound:
                signals = self.signal_values() if signals is None else signals
                ValueIO([b.variable for b in bound], True).attach(api).write([signals[b.signal] for b in bound])
            payload = payloads.get(name)
            if payload:
                variables = [self._inputs[name][key] for key in payload]
                ValueIO(variables, True).attach(api).write(list(payload.values()))

    def _poll(self, time: float, activated: list[str]) -> None:
        """Read the active partitions; turn active output clocks into ticks."""
        active = [name for name in activated if name in self._bound_reads]
        if self.polled:
            states = self.instance.api.get_clocks([c.value_reference for c in self.polled])
            ticking = [c.name for c, on in zip(self.polled, states) if on]
            active += [name for name in ticking if name in self._bound_reads]
        else:
            ticking = []
        for name in active:
            values = self._bound_reads[name].read()
            for variable, value in zip(self._outputs[name], values):
                self.held[variable.name] = value
        for name in ticking:
            if self.clocks[name].role is ClockCausality.OUTPUT:
                self.ticks.append(ClockTick(name, time, {v.name: self.held[v.name] for v in self._outputs.get(name, ())}))

    def _intervals(self, time: float, activated: list[str]) -> None:
        """After ``fmi3UpdateDiscreteStates``: the next activation of aperiodic and FMU-timed tunable clocks."""
        asked = [c for c in self.timetable.clocks.values()
                 if (c.kind is ClockKind.CHANGING and c.name in activated) or c.kind is ClockKind.COUNTDOWN
                 or (c.kind is ClockKind.TUNABLE and not c.settable_interval)]  # fmt: skip
        if not asked:
            return
        answers = self.instance.api.get_intervals([c.value_reference for c in asked])
        for clock, (interval, qualifier) in zip(asked, answers):
            if qualifier is IntervalQualifier.CHANGED:
                self.timetable.after(clock.name, time, interval)
            elif qualifier is IntervalQualifier.NOT_YET_KNOWN and clock.kind is ClockKind.COUNTDOWN:
                self.timetable.cancel(clock.name)

    # ------------------------------------------------------------------ messages in
    def payload(self, clock: str, payload: Any, sender: str, time: float) -> dict[str, Any]:
        """The inputs a message to a triggered input clock sets: the payload's keys that are inputs of the clock.

        Other keys are ignored (an output clock's message carries its own partition's names), and said
        once per clock and key in the log; a value of the wrong type is an error.
        """
        label = self.instance.archive.label
        if payload is None or not isinstance(payload, Mapping):
            return {}
        inputs = self._inputs.get(clock, {})
        out = {}
        for key, value in payload.items():
            variable = inputs.get(str(key))
            if variable is None:
                if (clock, str(key)) not in self._ignored:
                    self._ignored.add((clock, str(key)))
                    log.warning("%s: message from %s to clock '%s': '%s' is not an input clocked by it (its clocked "
                                "inputs: %s); ignored", label, sender, clock, key, ", ".join(sorted(inputs)) or "none")
                continue
            bad = check_value(variable, value)
            if bad:
                raise FMUError(f"{label}: message from {sender} at t={time:g} s to clock '{clock}': {key}: {bad}")
            out[variable.name] = value
        return out

    # ------------------------------------------------------------------ snapshots
    def save(self) -> Any:
        return self.timetable.save(), dict(self.held)

    def restore(self, saved: Any) -> None:
        timetable, held = saved
        self.timetable.restore(timetable)
        self.held = dict(held)
        self.ticks = []
