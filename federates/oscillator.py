"""Two masses on springs and dampers, split into two federates (a classic co-simulation test).

Monolithic system (the two-mass oscillator of the co-simulation literature, e.g. Schweizer,
Li & Lu, J. Comput. Nonlinear Dynam. 10 (2015) 051007, with force/displacement coupling)::

    m1 x1'' = -k1 x1 - d1 x1' + F
    m2 x2'' = -k2 x2 - d2 x2' - F,      F = kc (x2 - x1) + dc (x2' - x1')

:class:`Mass` integrates mass 1 with the coupling force ``F`` as input; :class:`CoupledMass`
integrates mass 2 with the coupling spring, taking ``x1, v1`` as inputs and returning ``F``
(a direct feed-through: ``F`` at ``t`` depends on the inputs at ``t``).

Both behave as an FMI Co-Simulation slave does under a master: at a communication point
``t`` the outputs are computed from the state at ``t`` and the inputs at ``t``; the inputs
seen at ``t`` are then held over the macro step ``[t, t+H)`` -- or, when the connection
extrapolates linearly (``extrapolate: linear``), followed along the ramp
``u(t) + u'(t) (s - t)`` (FMI's input derivatives).  Since a federate only hears of ``t+H``
at its next step, the integration over ``[t, t+H]`` is done then, before its outputs at
``t+H`` are computed.  Each integration is exact (the matrix exponential of the subsystem
with its input polynomial), so every error left is the coupling error of the co-simulation.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy.linalg import expm

from federation import Federate, Input, Output, Parameter

__all__ = ["CoupledMass", "Mass", "first_order_hold"]

Matrix = tuple[tuple[float, ...], ...]


@lru_cache(maxsize=64)
def first_order_hold(a: Matrix, b: Matrix, dt: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Exact discretization of ``x' = A x + B (u + d s)`` over ``0 <= s <= dt``: ``(Phi, Gamma0, Gamma1)``
    with ``x(dt) = Phi x(0) + Gamma0 u + Gamma1 d`` (``d = 0``: a zero-order hold)."""
    n, m = len(a), len(b[0])
    big = np.zeros((n + 2 * m, n + 2 * m))
    big[:n, :n] = a
    big[:n, n : n + m] = b
    big[n : n + m, n + m :] = np.eye(m)
    e = expm(big * dt)
    return e[:n, :n], e[:n, n : n + m], e[:n, n + m :]


class _Subsystem(Federate):
    """One linear subsystem ``x' = A x + B u`` stepped FMI-style (see the module docstring)."""

    input_names: tuple[str, ...] = ()

    def begin(self, state: tuple[float, float], a: Matrix, b: Matrix) -> None:
        self.state = np.array(state)
        self.a, self.b = a, b
        self.last = self.context.start
        self.held = self.held_slopes = np.zeros(len(self.input_names))

    def advance(self, t: float) -> None:
        """Integrate from the previous communication point to ``t`` with the inputs held (or ramped) there,
        then take the inputs seen now as those of the next macro step."""
        dt = t - self.last
        if dt > 0:
            phi, gamma0, gamma1 = first_order_hold(self.a, self.b, round(dt, 12))
            self.state = phi @ self.state + gamma0 @ self.held + gamma1 @ self.held_slopes
            self.last = t
        self.held = np.array([float(self.inputs[n]) for n in self.input_names])
        self.held_slopes = np.array([self.derivative(n) for n in self.input_names])


class Mass(_Subsystem):
    """Mass 1: spring and damper to the wall, an external force as input."""

    mass = Parameter(1.0, unit="kg")
    stiffness = Parameter(10.0, unit="N/m")
    damping = Parameter(1.0, unit="N.s/m")
    x0 = Parameter(0.1, unit="m", doc="initial position")
    v0 = Parameter(0.0, unit="m/s", doc="initial velocity")
    force = Input(unit="N", default=0.0, doc="coupling force acting on this mass")
    position = Output(unit="m")
    velocity = Output(unit="m/s")
    input_names = ("force",)

    def setup(self) -> None:
        m, k, d = self.mass, self.stiffness, self.damping
        self.begin((self.x0, self.v0), ((0.0, 1.0), (-k / m, -d / m)), ((0.0,), (1.0 / m,)))
        self.position, self.velocity = self.x0, self.v0

    def step(self, t: float) -> None:
        self.advance(t)
        self.position, self.velocity = float(self.state[0]), float(self.state[1])


class CoupledMass(_Subsystem):
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
    input_names = ("other_position", "other_velocity")

    def setup(self) -> None:
        m, k, d = self.mass, self.stiffness, self.damping
        kc, dc = self.coupling_stiffness, self.coupling_damping
        self.begin((self.x0, self.v0), ((0.0, 1.0), (-(k + kc) / m, -(d + dc) / m)), ((0.0, 0.0), (kc / m, dc / m)))
        self._publish()

    def _publish(self) -> None:
        x2, v2 = float(self.state[0]), float(self.state[1])
        self.position, self.velocity = x2, v2
        self.force = self.coupling_stiffness * (x2 - self.other_position) + self.coupling_damping * (
            v2 - self.other_velocity
        )

    def step(self, t: float) -> None:
        self.advance(t)
        self._publish()  # the feed-through: F at t from the state at t and the inputs at t
