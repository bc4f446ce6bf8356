"""Integrating a Model Exchange FMU (FMI 2 or 3) between communication points.

The FMU's continuous states are integrated by SUNDIALS CVode (through fmpy's wrapper,
:class:`fmpy.sundials.CVodeSolver`) or by :func:`scipy.integrate.solve_ivp`.  Inputs
are held between communication points (zero-order hold).  Events are handled as the FMI
standard prescribes: a state event (an event indicator changes sign; the solvers stop at
the crossing), a time event (the FMU's ``nextEventTime``), or a step event
(``completedIntegratorStep``) each lead to event mode and an event iteration.  An FMU with
clocks also stops at each activation time of its time-based input clocks, where they are
activated in event mode (:class:`~federation.fmu.activation.ClockActivation`).
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from .activation import ClockActivation
from .clocks import reached
from .errors import FMUError
from .instance import FmuInstance, FmuSnapshot
from .loader import FmuArchive, InterfaceKind
from .variables import BoundIO

__all__ = ["ModelExchange", "SolverKind", "SolverSpec"]


class SolverKind(enum.Enum):
    CVODE = "cvode"
    SCIPY = "scipy"


@dataclass(frozen=True)
class SolverSpec:
    """``cvode`` (default), ``scipy`` (LSODA) or ``scipy:<method>`` (any solve_ivp method)."""

    kind: SolverKind = SolverKind.CVODE
    method: str = "LSODA"

    @classmethod
    def parse(cls, text: str | None) -> SolverSpec:
        if text is None:
            return cls()
        name, _, method = str(text).partition(":")
        try:
            kind = SolverKind(name.strip().lower())
        except ValueError:
            raise FMUError(f"solver {text!r} is not one of: cvode, scipy, scipy:<method>") from None
        if kind is SolverKind.CVODE and method:
            raise FMUError(f"solver {text!r}: cvode takes no method")
        methods = {"RK45", "RK23", "DOP853", "Radau", "BDF", "LSODA"}
        if kind is SolverKind.SCIPY and method and method not in methods:
            raise FMUError(f"solver {text!r}: method must be one of {', '.join(sorted(methods))}")
        return cls(kind, method or "LSODA")


class _Solver(Protocol):
    def integrate(self, t0: float, t1: float) -> tuple[bool, float]: ...

    def reset(self, time: float) -> None: ...


class ModelExchange(FmuInstance):
    """A Model Exchange instance with its integrator and event handling."""

    def __init__(self, archive: FmuArchive, instance_name: str, *, solver: SolverSpec, tolerance: float | None,
                 max_step: float | None) -> None:  # fmt: skip
        super().__init__(archive, InterfaceKind.MODEL_EXCHANGE, instance_name)
        self.solver_spec = solver
        self.rtol = tolerance or archive.default_tolerance or 1e-6
        self.max_step = max_step if max_step and max_step > 0 else math.inf
        self.next_event: float | None = None
        self.clocks: ClockActivation | None = None
        self._solver: _Solver | None = None
        self._inputs_jumped = False  # the solver must restart: inputs changed since the last advance
        self._step_event = archive.interface(InterfaceKind.MODEL_EXCHANGE).has("needsCompletedIntegratorStep")

    def initialize(self, t0: float, start: Mapping[str, Any], io: BoundIO, inputs: Sequence[Any],
                   triggered: Mapping[str, Mapping[str, Any]] | None = None) -> None:  # fmt: skip
        """Initialize at ``t0`` with the inputs, settle the initial event, start the solver."""
        clocks = self.clocks
        self.run_initialization(t0, None, start, io, inputs, None if clocks is None else lambda: clocks.initialize(t0))
        self.next_event = self._settle(None, triggered)
        self.api.enter_continuous_time_mode()
        self._solver = self._make_solver()

    def _make_solver(self) -> _Solver:
        from .solvers import CVode, Scipy  # NumPy and SciPy only for Model Exchange

        if self.solver_spec.kind is SolverKind.CVODE:
            return CVode(self, self.rtol, self.max_step)
        return Scipy(self, self.solver_spec.method, self.rtol, self.max_step)

    def advance(self, t: float) -> None:
        """Integrate from the FMU's time to ``t``, handling every event on the way."""
        assert self._solver is not None
        if self._inputs_jumped:
            self._solver.reset(self.time)
            self._inputs_jumped = False
        while not reached(self.time, t):
            tick = self.clocks.next_time() if self.clocks is not None else None
            if tick is not None and reached(self.time, tick):  # a clock activation before t, now
                self._event()
                continue
            target = t
            for when in (self.next_event, tick):
                if when is not None and when < target and not reached(when, t):
                    target = max(when, self.time)
            state_event, self.time = self._solver.integrate(self.time, target)
            self.api.set_time(self.time)
            step_event = self._completed_step()
            time_event = self.next_event is not None and reached(self.time, self.next_event)
            if state_event or time_event or step_event:
                self._event()
        self.time = max(self.time, t)

    def _completed_step(self) -> bool:
        if not self._step_event:
            return False
        enter_event, terminate = self.api.completed_integrator_step()
        if terminate:
            raise self.terminated()
        return enter_event

    def _event(self, write: Callable[[], None] | None = None,
               triggered: Mapping[str, Mapping[str, Any]] | None = None) -> None:  # fmt: skip
        self.api.enter_event_mode()
        self.next_event = self._settle(write, triggered)
        self.api.enter_continuous_time_mode()
        assert self._solver is not None
        self._solver.reset(self.time)

    def _settle(self, write: Callable[[], None] | None, triggered: Mapping[str, Mapping[str, Any]] | None) -> float | None:
        """The event iteration (with the clocks, when the FMU has some); the FMU's next time event."""
        if self.clocks is not None:
            return self.clocks.event(self.time, write, triggered).next_event_time
        if write is not None:
            write()
        return self.update_discrete_states().next_event_time

    def set_inputs(self, io: BoundIO, inputs: Sequence[Any], discrete_changed: bool) -> None:
        """Write the inputs at the current time (in event mode when a discrete one changed)."""
        if discrete_changed:
            self._event(lambda: io.write(inputs))
        else:
            io.write(inputs)
            self._inputs_jumped = True

    def instant(self, io: BoundIO, inputs: Sequence[Any] | None, triggered: Mapping[str, Mapping[str, Any]]) -> None:
        """Clocked FMU at a communication point: one event for changed inputs, due and triggered clocks."""
        assert self.clocks is not None
        if inputs is None and not triggered and not self.clocks.timetable.due(self.time):
            return
        self._event(None if inputs is None else (lambda: io.write(inputs)), triggered)

    def set_continuous_state(self, index: int, value: float) -> None:
        """Set element ``index`` of the continuous-state vector (a synchronise: correction); the solver restarts."""
        import ctypes

        n = self.archive.model.continuous_states
        functions = self.api.continuous_functions()
        x = (ctypes.c_double * n)()
        functions["get_x"](x, n)
        x[index] = value
        functions["set_x"](x, n)
        if self._solver is not None:
            self._solver.reset(self.time)

    def save(self, extra: Any = None) -> FmuSnapshot:
        """Snapshot the FMU; the solver restarts here, so a re-step after restore() is identical."""
        snapshot = super().save(extra=(self.next_event, None if self.clocks is None else self.clocks.save()))
        if self._solver is not None:
            self._solver.reset(self.time)
        return snapshot

    def restore(self, snapshot: FmuSnapshot) -> None:
        super().restore(snapshot)
        self.next_event, clocks = snapshot.extra
        if self.clocks is not None:
            self.clocks.restore(clocks)
        if self._solver is not None:
            self._solver.reset(self.time)
