"""Stepping a Co-Simulation FMU (FMI 2 or 3) from one communication point to the next.

``advance(t)`` calls ``doStep`` from the FMU's time to ``t`` with the inputs it holds.
An FMI 3 FMU that offers early return (``mightReturnEarlyFromDoStep``) is allowed to stop
at its internal events; the step is then resumed from where it stopped.  One that offers
event mode (``hasEventMode``) is driven through it: after a step that met an event, at the
time events it announces (``nextEventTime`` of ``fmi3UpdateDiscreteStates``: a step ends
there), and whenever an input changes at a communication point, so that the FMU can update
its discrete states and outputs at once (the federation's "value for time t").

An FMU with clocks (which FMI 3 allows only with event mode) is also stepped to each
activation time of its time-based input clocks, where the clocks are activated in event
mode (:class:`~federation.fmu.activation.ClockActivation`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from .activation import ClockActivation
from .clocks import reached
from .errors import FMUError
from .instance import FmuInstance
from .loader import FmuArchive, InterfaceKind
from .variables import BoundIO

__all__ = ["CoSimulation", "reached"]

_MAX_EARLY_RETURNS = 10_000


class CoSimulation(FmuInstance):
    """A Co-Simulation instance with its time and FMI 3 event handling."""

    def __init__(self, archive: FmuArchive, instance_name: str, *, tolerance: float | None = None) -> None:
        cs = archive.interface(InterfaceKind.CO_SIMULATION)
        self.event_mode = archive.fmi3 and cs.has("hasEventMode")
        self.early_return = archive.fmi3 and cs.has("mightReturnEarlyFromDoStep")
        self.interpolates = not archive.fmi3 and cs.has("canInterpolateInputs")  # FMI 2 input derivatives
        self.tolerance = tolerance
        self.clocks: ClockActivation | None = None
        self.next_event: float | None = None  # the FMU's next time event (event mode)
        super().__init__(archive, InterfaceKind.CO_SIMULATION, instance_name, event_mode=self.event_mode,
                         early_return=self.early_return)  # fmt: skip
        self._step = self.api.step_function()

    def initialize(self, t0: float, start: Mapping[str, Any], io: BoundIO, inputs: Sequence[Any],
                   triggered: Mapping[str, Mapping[str, Any]] | None = None) -> None:  # fmt: skip
        """Set start values and the inputs at ``t0``; leave the FMU ready to step."""
        clocks = self.clocks
        self.run_initialization(t0, self.tolerance, start, io, inputs,
                                None if clocks is None else lambda: clocks.initialize(t0))  # fmt: skip
        if self.event_mode:
            self._settle(triggered=triggered)
            self.api.enter_step_mode()

    def advance(self, t: float) -> None:
        """``doStep`` from the FMU's time to ``t``, resuming after early returns and stopping at clock activations."""
        clocks = self.clocks
        for _ in range(_MAX_EARLY_RETURNS):
            if reached(self.time, t):
                self.time = max(self.time, t)
                return
            target = t
            for when in (None if clocks is None else clocks.next_time(), self.next_event):
                if when is None:
                    continue
                if reached(self.time, when):  # a clock activation or time event before t, now
                    target = self.time
                    break
                if when < target and not reached(when, t):
                    target = when
            if target == self.time:
                self._event()
                continue
            self._do_step(target)
            if self.next_event is not None and reached(self.time, self.next_event) and reached(self.time, t):
                self._event()  # a time event at t: the outputs of t show it
        raise FMUError(f"{self.archive.label}: more than {_MAX_EARLY_RETURNS} early returns before t={t:g} s")

    def _do_step(self, t: float) -> None:
        event, terminate, early, last = self._step(self.time, t - self.time)
        if not self.fmi3:
            self.time = t
            return
        if terminate:
            raise self.terminated(last)
        if early and not self.early_return:
            raise FMUError(f"{self.archive.label} returned early from fmi3DoStep at t={last:g} s "
                           "although early return was not allowed")  # fmt: skip
        self.time = last if early and last < t else t
        if event and self.event_mode:
            self._event()

    def _event(self, write: Callable[[], None] | None = None,
               triggered: Mapping[str, Mapping[str, Any]] | None = None) -> None:  # fmt: skip
        self.api.enter_event_mode()
        self._settle(write, triggered)
        self.api.enter_step_mode()

    def _settle(self, write: Callable[[], None] | None = None,
                triggered: Mapping[str, Mapping[str, Any]] | None = None) -> None:  # fmt: skip
        """The event iteration (with the clocks, when the FMU has some)."""
        if self.clocks is not None:
            update = self.clocks.event(self.time, write, triggered)
        else:
            if write is not None:
                write()
            update = self.update_discrete_states()
        when = update.next_event_time
        self.next_event = when if when is not None and when > self.time and not reached(self.time, when) else None

    def set_inputs(self, io: BoundIO, inputs: Sequence[Any], jumped: bool) -> None:
        """Write changed inputs at the current time (through event mode when the FMU has it)."""
        if self.event_mode:
            self._event(lambda: io.write(inputs))
        else:
            io.write(inputs)

    def ramp(self, vrs: Sequence[int], slopes: Sequence[float]) -> None:
        """Give an FMU that interpolates its inputs (FMI 2 ``canInterpolateInputs``) their slopes over the next
        step (``fmi2SetRealInputDerivatives``); any other FMU holds them."""
        if self.interpolates and vrs:
            self.api.set_input_derivatives(vrs, slopes)  # type: ignore[union-attr]

    def instant(self, io: BoundIO, inputs: Sequence[Any] | None, triggered: Mapping[str, Mapping[str, Any]]) -> None:
        """Clocked FMU at a communication point: one event for changed inputs, due and triggered clocks."""
        assert self.clocks is not None
        if inputs is None and not triggered and not self.clocks.timetable.due(self.time):
            return
        self._event(None if inputs is None else (lambda: io.write(inputs)), triggered)

    def save(self, extra: Any = None) -> Any:
        return super().save(extra=(self.next_event, None if self.clocks is None else self.clocks.save()))

    def restore(self, snapshot: Any) -> None:
        super().restore(snapshot)
        self.next_event, clocks = snapshot.extra
        if self.clocks is not None:
            self.clocks.restore(clocks)
