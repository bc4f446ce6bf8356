"""Two masses on springs and dampers, split into two federates (a classic co-simulation test).

Monolithic system::

    m1 x1'' = -k1 x1 - d1 x1' + F
    m2 x2'' = -k2 x2 - d2 x2' - F,      F = kc (x2 - x1) + dc (x2' - x1')

:class:`Mass` integrates mass 1 with the coupling force ``F`` as input; :class:`CoupledMass`
integrates mass 2 with the coupling spring, taking ``x1, v1`` as inputs and returning ``F``.
Each step integrates exactly (matrix exponential) with the inputs held over the step, so
every error left is the coupling error of the co-simulation.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy.linalg import expm

from federation import Federate, Input, Output, Parameter

__all__ = ["Mass", "CoupledMass", "zoh"]


@lru_cache(maxsize=64)
def zoh(a: tuple[tuple[float, ...], ...], b: tuple[tuple[float, ...], ...], dt: float) -> tuple[np.ndarray, np.ndarray]:
    """Exact discretization of x' = A x + B u with u held over ``dt``: (Phi, Gamma)."""
    n, m = len(a), len(b[0])
    big = np.zeros((n + m, n + m))
    big[:n, :n] = a
    big[:n, n:] = b
    e = expm(big * dt)
    return e[:n, :n], e[:n, n:]


class Mass(Federate):
    """Mass 1: spring and damper to the wall, an external force as input."""

    mass = Parameter(1.0, unit="kg")
    stiffness = Parameter(10.0, unit="N/m")
    damping = Parameter(1.0, unit="N.s/m")
    x0 = Parameter(0.1, unit="m", doc="initial position")
    v0 = Parameter(0.0, unit="m/s", doc="initial velocity")
    force = Input(unit="N", default=0.0, doc="coupling force acting on this mass")
    position = Output(unit="m")
    velocity = Output(unit="m/s")

    def setup(self) -> None:
        self.state = np.array([self.x0, self.v0])
        self.last = self.context.start
        m, k, d = self.mass, self.stiffness, self.damping
        self.a = ((0.0, 1.0), (-k / m, -d / m))
        self.b = ((0.0,), (1.0 / m,))
        self.position, self.velocity = float(self.state[0]), float(self.state[1])

    def step(self, t: float) -> None:
        dt = t - self.last
        if dt > 0:
            phi, gamma = zoh(self.a, self.b, round(dt, 9))
            self.state = phi @ self.state + gamma[:, 0] * self.force
            self.last = t
        self.position, self.velocity = float(self.state[0]), float(self.state[1])
        return None


class CoupledMass(Federate):
    """Mass 2 with the coupling spring and damper; returns the force on mass 1."""

    mass = Parameter(1.0, unit="kg")
    stiffness = Parameter(10.0, unit="N/m")
    damping = Parameter(1.0, unit="N.s/m")
    coupling_stiffness = Parameter(100.0, unit="N/m")
    coupling_damping = Parameter(1.0, unit="N.s/m")
    x0 = Parameter(0.0, unit="m")
    v0 = Parameter(0.0, unit="m/s")
    other_position = Input(unit="m", default=0.0)
    other_velocity = Input(unit="m/s", default=0.0)
    force = Output(unit="N", doc="coupling force on the other mass")
    position = Output(unit="m")
    velocity = Output(unit="m/s")

    def setup(self) -> None:
        self.state = np.array([self.x0, self.v0])
        self.last = self.context.start
        m, k, d = self.mass, self.stiffness, self.damping
        kc, dc = self.coupling_stiffness, self.coupling_damping
        self.a = ((0.0, 1.0), (-(k + kc) / m, -(d + dc) / m))
        self.b = ((0.0, 0.0), (kc / m, dc / m))
        self._publish()

    def _publish(self) -> None:
        x2, v2 = float(self.state[0]), float(self.state[1])
        self.position, self.velocity = x2, v2
        self.force = self.coupling_stiffness * (x2 - self.other_position) + self.coupling_damping * (
            v2 - self.other_velocity
        )

    def step(self, t: float) -> None:
        dt = t - self.last
        if dt > 0:
            phi, gamma = zoh(self.a, self.b, round(dt, 9))
            self.state = phi @ self.state + gamma @ np.array([self.other_position, self.other_velocity])
            self.last = t
        self._publish()
        return None
