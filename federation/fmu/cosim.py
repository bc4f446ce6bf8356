"""Stepping a Co-Simulation FMU (FMI 2 or 3) from one communication point to the next.

``advance(t)`` calls ``doStep`` from the FMU's time to ``t`` with the inputs it holds.
An FMI 3 FMU that offers early return (``mightReturnEarlyFromDoStep``) is allowed to stop
at its internal events; the step is then resumed from where it stopped.  One that offers
event mode (``hasEventMode``) is driven through it: after a step that met an event, and
whenever an input changes at a communication point, so that the FMU can update its
discrete states and outputs at once (the federation's "value for time t").
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from .errors import FMUError
from .instance import FmuInstance
from .loader import FmuArchive, InterfaceKind
from .variables import ValueIO

__all__ = ["CoSimulation"]

_MAX_EARLY_RETURNS = 10_000


def reached(time: float, target: float) -> bool:
    """``time`` is at ``target`` up to rounding."""
    return time >= target or math.isclose(time, target, rel_tol=1e-12, abs_tol=1e-12)


class CoSimulation(FmuInstance):
    """A Co-Simulation instance with its time and FMI 3 event handling."""

    def __init__(self, archive: FmuArchive, instance_name: str, *, tolerance: float | None = None) -> None:
        cs = archive.model.coSimulation
        fmi3 = archive.model.fmiMajorVersion == 3
        self.event_mode = fmi3 and bool(cs.hasEventMode)
        self.early_return = fmi3 and bool(cs.mightReturnEarlyFromDoStep)
        self.tolerance = tolerance
        options = {"early_return_allowed": self.early_return, "event_mode_used": self.event_mode} if fmi3 else {}
        super().__init__(archive, InterfaceKind.CO_SIMULATION, instance_name, **options)

    def initialize(self, t0: float, start: Mapping[str, Any], io: ValueIO, inputs: Sequence[Any]) -> None:
        """Set start values and the inputs at ``t0``; leave the FMU ready to step."""
        self.run_initialization(t0, self.tolerance, start, io, inputs)
        if self.event_mode:
            self.update_discrete_states()
            self.call(self.fmu.enterStepMode)

    def advance(self, t: float) -> None:
        """``doStep`` from the FMU's time to ``t``, resuming after early returns."""
        for _ in range(_MAX_EARLY_RETURNS):
            if reached(self.time, t):
                self.time = max(self.time, t)
                return
            self._do_step(t)
        raise FMUError(f"{self.archive.label}: more than {_MAX_EARLY_RETURNS} early returns before t={t:g} s")

    def _do_step(self, t: float) -> None:
        h = t - self.time
        if not self.fmi3:
            self.call(self.fmu.doStep, self.time, h, False)
            self.time = t
            return
        event, terminate, early, last = self.call(self.fmu.doStep, self.time, h, False)
        if terminate:
            raise FMUError(f"{self.archive.label} asked to terminate the simulation at t={last:g} s")
        if early and not self.early_return:
            raise FMUError(f"{self.archive.label} returned early from fmi3DoStep at t={last:g} s "
                           "although early return was not allowed")  # fmt: skip
        self.time = last if early and last < t else t
        if event and self.event_mode:
            self.call(self.fmu.enterEventMode)
            self.update_discrete_states()
            self.call(self.fmu.enterStepMode)

    def set_inputs(self, io: ValueIO, inputs: Sequence[Any], discrete_changed: bool) -> None:
        """Write changed inputs at the current time (through event mode when the FMU has it)."""
        if self.event_mode:
            self.call(self.fmu.enterEventMode)
            self.call(io.write, self.fmu, inputs)
            self.update_discrete_states()
            self.call(self.fmu.enterStepMode)
        else:
            self.call(io.write, self.fmu, inputs)
