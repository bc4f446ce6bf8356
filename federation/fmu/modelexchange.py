"""Integrating a Model Exchange FMU (FMI 2 or 3) between communication points.

The FMU's continuous states are integrated by SUNDIALS CVode (through fmpy's wrapper,
:class:`fmpy.sundials.CVodeSolver`) or by :func:`scipy.integrate.solve_ivp`.  Inputs
are held between communication points (zero-order hold).  Events are handled as the FMI
standard prescribes: a state event (an event indicator changes sign; the solvers stop at
the crossing), a time event (the FMU's ``nextEventTime``), or a step event
(``completedIntegratorStep``) each lead to event mode and an event iteration.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable, Mapping, Sequence
from ctypes import POINTER, c_double
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from .cosim import reached
from .errors import FMUError
from .instance import FmuInstance, FmuSnapshot
from .loader import FmuArchive, InterfaceKind
from .variables import ValueIO

__all__ = ["ModelExchange", "SolverKind", "SolverSpec"]

_DOUBLE_P = POINTER(c_double)


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


class _HeldInputs:
    """fmpy's solvers re-apply input signals; here the inputs are held, so there is nothing to do."""

    def apply(self, *args: Any, **kwargs: Any) -> None:
        return None


class _CVode:
    """fmpy's CVode wrapper, reporting (state event?, time reached)."""

    def __init__(self, inst: ModelExchange, rtol: float, max_step: float) -> None:
        from fmpy.sundials import CVodeSolver

        fmu, model = inst.fmu, inst.archive.model
        self.solver = CVodeSolver(
            nx=model.numberOfContinuousStates, nz=model.numberOfEventIndicators,
            get_x=fmu.getContinuousStates, set_x=fmu.setContinuousStates,
            get_dx=fmu.getContinuousStateDerivatives if inst.fmi3 else fmu.getDerivatives,
            get_z=fmu.getEventIndicators, get_nominals=fmu.getNominalsOfContinuousStates,
            set_time=fmu.setTime, input=_HeldInputs(), startTime=inst.time, maxStep=max_step,
            relativeTolerance=rtol, maxNumSteps=100_000,
        )  # fmt: skip

    def integrate(self, t0: float, t1: float) -> tuple[bool, float]:
        event, _roots, time = self.solver.step(t0, t1)
        return bool(event), float(time)

    def reset(self, time: float) -> None:
        self.solver.reset(time)


class _Scipy:
    """:func:`scipy.integrate.solve_ivp` with one terminal event per event indicator."""

    def __init__(self, inst: ModelExchange, method: str, rtol: float, max_step: float) -> None:
        self.inst, self.method, self.rtol, self.max_step = inst, method, rtol, max_step
        model = inst.archive.model
        self.nx, self.nz = model.numberOfContinuousStates, model.numberOfEventIndicators
        self.events = [self._indicator(i) for i in range(self.nz)]

    def _load(self, t: float, x: np.ndarray) -> None:
        fmu = self.inst.fmu
        fmu.setTime(t)
        if self.nx:
            fmu.setContinuousStates(np.ascontiguousarray(x, dtype=float).ctypes.data_as(_double_p()), self.nx)

    def _rhs(self, t: float, x: np.ndarray) -> np.ndarray:
        self._load(t, x)
        dx = np.zeros(self.nx)
        get = self.inst.fmu.getContinuousStateDerivatives if self.inst.fmi3 else self.inst.fmu.getDerivatives
        if self.nx:
            get(dx.ctypes.data_as(_double_p()), self.nx)
        return dx

    def _indicators(self, t: float, x: np.ndarray) -> np.ndarray:
        self._load(t, x)
        z = np.zeros(self.nz)
        self.inst.fmu.getEventIndicators(z.ctypes.data_as(_double_p()), self.nz)
        return z

    def _indicator(self, i: int) -> Callable[[float, np.ndarray], float]:
        def event(t: float, x: np.ndarray) -> float:
            return float(self._indicators(t, x)[i])

        event.terminal = True  # type: ignore[attr-defined]
        return event

    def _states(self) -> np.ndarray:
        x = np.zeros(self.nx)
        if self.nx:
            self.inst.fmu.getContinuousStates(x.ctypes.data_as(_double_p()), self.nx)
        return x

    def integrate(self, t0: float, t1: float) -> tuple[bool, float]:
        from scipy.integrate import solve_ivp

        x0 = self._states()
        if self.nx == 0:
            x0 = np.zeros(1)  # solve_ivp needs a state; the FMU has only discrete ones
        z0 = self._indicators(t0, x0) if self.nz else np.zeros(0)
        sol = solve_ivp(self._rhs if self.nx else (lambda t, x: np.zeros(1)), (t0, t1), x0, method=self.method,
                        rtol=self.rtol, atol=self.rtol, max_step=self.max_step, events=self.events or None,
                        dense_output=True)  # fmt: skip
        if sol.status == -1:
            raise FMUError(f"{self.inst.archive.label}: scipy {self.method} failed at t={sol.t[-1]:g} s: "
                           f"{sol.message}")  # fmt: skip
        if sol.status == 1:
            t_event = min(float(te[0]) for te in sol.t_events if len(te))
            t_event = self._past_crossing(sol, z0, t_event, t1)
            self._load(t_event, sol.sol(t_event))
            return True, t_event
        self._load(t1, sol.y[:, -1])
        return False, t1

    def _past_crossing(self, sol: Any, z0: np.ndarray, t_event: float, t1: float) -> float:
        """Nudge the root found by solve_ivp to where an indicator has really changed sign."""
        nudge = 4 * np.finfo(float).eps * max(1.0, abs(t_event))
        for _ in range(64):
            z = self._indicators(t_event, sol.sol(t_event))
            if np.any(np.sign(z) != np.sign(z0)) or t_event >= t1:
                return min(t_event, t1)
            t_event += nudge
            nudge *= 2
        return min(t_event, t1)

    def reset(self, time: float) -> None:
        return None


def _double_p() -> Any:
    return _DOUBLE_P


class ModelExchange(FmuInstance):
    """A Model Exchange instance with its integrator and event handling."""

    def __init__(self, archive: FmuArchive, instance_name: str, *, solver: SolverSpec, tolerance: float | None,
                 max_step: float | None) -> None:  # fmt: skip
        super().__init__(archive, InterfaceKind.MODEL_EXCHANGE, instance_name)
        self.solver_spec = solver
        self.rtol = tolerance or archive.default_tolerance or 1e-6
        self.max_step = max_step if max_step and max_step > 0 else math.inf
        self.next_event: float | None = None
        self._solver: _Solver | None = None
        self._inputs_jumped = False  # the solver must restart: inputs changed since the last advance
        self._step_event = bool(archive.model.modelExchange.needsCompletedIntegratorStep)

    def initialize(self, t0: float, start: Mapping[str, Any], io: ValueIO, inputs: Sequence[Any]) -> None:
        """Initialize at ``t0`` with the inputs, settle the initial event, start the solver."""
        self.run_initialization(t0, None, start, io, inputs)
        self.next_event = self.update_discrete_states().next_event_time
        self.call(self.fmu.enterContinuousTimeMode)
        self._solver = self._make_solver()

    def _make_solver(self) -> _Solver:
        if self.solver_spec.kind is SolverKind.CVODE:
            return self.call(_CVode, self, self.rtol, self.max_step)
        return _Scipy(self, self.solver_spec.method, self.rtol, self.max_step)

    def advance(self, t: float) -> None:
        """Integrate from the FMU's time to ``t``, handling every event on the way."""
        assert self._solver is not None
        if self._inputs_jumped:
            self._solver.reset(self.time)
            self._inputs_jumped = False
        while not reached(self.time, t):
            target = t
            if self.next_event is not None and self.next_event < t and not reached(self.next_event, t):
                target = max(self.next_event, self.time)
            state_event, self.time = self.call(self._solver.integrate, self.time, target)
            self.call(self.fmu.setTime, self.time)
            step_event = self._completed_step()
            time_event = self.next_event is not None and reached(self.time, self.next_event)
            if state_event or time_event or step_event:
                self._event()
        self.time = max(self.time, t)

    def _completed_step(self) -> bool:
        if not self._step_event:
            return False
        enter_event, terminate = self.call(self.fmu.completedIntegratorStep)
        if terminate:
            raise FMUError(f"{self.archive.label} asked to terminate the simulation at t={self.time:g} s")
        return bool(enter_event)

    def _event(self, write: Callable[[], None] | None = None) -> None:
        self.call(self.fmu.enterEventMode)
        if write is not None:
            write()
        self.next_event = self.update_discrete_states().next_event_time
        self.call(self.fmu.enterContinuousTimeMode)
        assert self._solver is not None
        self._solver.reset(self.time)

    def set_inputs(self, io: ValueIO, inputs: Sequence[Any], discrete_changed: bool) -> None:
        """Write the inputs at the current time (in event mode when a discrete one changed)."""
        if discrete_changed:
            self._event(lambda: self.call(io.write, self.fmu, inputs))
        else:
            self.call(io.write, self.fmu, inputs)
            self._inputs_jumped = True

    def save(self, extra: Any = None) -> FmuSnapshot:
        """Snapshot the FMU; the solver restarts here, so a re-step after restore() is identical."""
        snapshot = super().save(extra=self.next_event)
        if self._solver is not None:
            self._solver.reset(self.time)
        return snapshot

    def restore(self, snapshot: FmuSnapshot) -> None:
        super().restore(snapshot)
        self.next_event = snapshot.extra
        if self._solver is not None:
            self._solver.reset(self.time)
