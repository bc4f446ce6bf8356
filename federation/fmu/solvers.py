"""The integrators of Model Exchange FMUs: SUNDIALS CVode (through fmpy) and scipy's solve_ivp.

Both report ``(state event?, time reached)`` from ``integrate(t0, t1)`` and restart on
``reset(time)``; they call the FMU through its binding (:mod:`federation.fmu.binding`), and set
its time through ``set_time`` (which also moves the inputs along their ramps, see ModelExchange).
Imported only when a Model Exchange FMU is stepped: they need NumPy (and SciPy, fmpy).
"""

from __future__ import annotations

from collections.abc import Callable
from ctypes import POINTER, c_double
from typing import Any

import numpy as np

from .errors import FMUError
from .instance import FmuInstance

__all__ = ["CVode", "Scipy"]

_DOUBLE_P = POINTER(c_double)


class _HeldInputs:
    """fmpy's solvers re-apply input signals; here the inputs are held, so there is nothing to do."""

    def apply(self, *args: Any, **kwargs: Any) -> None:
        return None


class CVode:
    """fmpy's CVode wrapper, reporting (state event?, time reached)."""

    def __init__(self, inst: FmuInstance, rtol: float, max_step: float, set_time: Callable[[float], None]) -> None:
        from fmpy.sundials import CVodeSolver

        model, functions = inst.archive.model, inst.api.continuous_functions()
        self.solver = CVodeSolver(
            nx=model.continuous_states, nz=model.event_indicators, get_x=functions["get_x"],
            set_x=functions["set_x"], get_dx=functions["get_dx"], get_z=functions["get_z"],
            get_nominals=functions["get_nominals"], set_time=set_time, input=_HeldInputs(),
            startTime=inst.time, maxStep=max_step, relativeTolerance=rtol, maxNumSteps=100_000,
        )  # fmt: skip

    def integrate(self, t0: float, t1: float) -> tuple[bool, float]:
        event, _roots, time = self.solver.step(t0, t1)
        return bool(event), float(time)

    def reset(self, time: float) -> None:
        self.solver.reset(time)


class Scipy:
    """:func:`scipy.integrate.solve_ivp` with one terminal event per event indicator."""

    def __init__(self, inst: FmuInstance, method: str, rtol: float, max_step: float,
                 set_time: Callable[[float], None]) -> None:  # fmt: skip
        self.inst, self.method, self.rtol, self.max_step = inst, method, rtol, max_step
        self.set_time = set_time
        model = inst.archive.model
        self.nx, self.nz = model.continuous_states, model.event_indicators
        self.events = [self._indicator(i) for i in range(self.nz)]
        self.f = inst.api.continuous_functions()

    def _load(self, t: float, x: np.ndarray) -> None:
        self.set_time(t)
        if self.nx:
            self.f["set_x"](np.ascontiguousarray(x, dtype=float).ctypes.data_as(_double_p()), self.nx)

    def _rhs(self, t: float, x: np.ndarray) -> np.ndarray:
        self._load(t, x)
        dx = np.zeros(self.nx)
        if self.nx:
            self.f["get_dx"](dx.ctypes.data_as(_double_p()), self.nx)
        return dx

    def _indicators(self, t: float, x: np.ndarray) -> np.ndarray:
        self._load(t, x)
        z = np.zeros(self.nz)
        self.f["get_z"](z.ctypes.data_as(_double_p()), self.nz)
        return z

    def _indicator(self, i: int) -> Callable[[float, np.ndarray], float]:
        def event(t: float, x: np.ndarray) -> float:
            return float(self._indicators(t, x)[i])

        event.terminal = True  # type: ignore[attr-defined]
        return event

    def _states(self) -> np.ndarray:
        x = np.zeros(self.nx)
        if self.nx:
            self.f["get_x"](x.ctypes.data_as(_double_p()), self.nx)
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
