"""Federates of the synchronisation tests (tests/test_synchronise.py), referenced as ``{SYNC}:Class``."""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any, Mapping

from federation import Declaration, Federate, Input, Output, Parameter, State


class LinearReservoir(Federate):
    """dS/dt = I - k S, stepped with its exact solution over each step (no time-discretisation error).

    ``S(t + dt) = I/k + (S(t) - I/k) exp(-k dt)``: the linear reservoir of hydrology
    (Chow, Maidment & Mays, *Applied Hydrology*, 1988, ch. 8; Nash 1957).
    """

    default_period = 10.0
    k = Parameter(1.0 / 3600.0, unit="1/s", doc="runoff coefficient")
    inflow = Parameter(1.0, unit="m3/s")
    storage0 = Parameter(0.0, unit="m3")
    storage = State(unit="m3")
    reading = Input(unit="m3", default=0.0, doc="not used by the model: bench/synchronise.py connects it for a "
                                                "run with the same dependency as a synchronised one")

    def setup(self) -> None:
        self.storage = self.storage0
        self.last = self.context.start

    def step(self, t: float) -> None:
        dt, self.last = t - self.last, t
        equilibrium = self.inflow / self.k
        self.storage = equilibrium + (self.storage - equilibrium) * math.exp(-self.k * dt)


class Persistence(Federate):
    """The best forecast of a random walk: the state stays as it is (corrected by measurements)."""

    default_period = 1.0
    x = State(default=0.0)

    def step(self, t: float) -> None:
        pass


class Silent(Federate):
    """A sensor that never has a value (publishes None)."""

    default_period = 10.0
    value = Output(unit="m3", default=None, type=object)

    def step(self, t: float) -> None:
        self.value = None


class Sensor(Federate):
    """Plays ``values`` at ``times`` (seconds), in ``unit``; after the last time it holds (no new value)."""

    times = Parameter([], type=list)
    values = Parameter([], type=list)
    unit = Parameter("m3", type=str)
    value = Output(unit="m3", default=None, type=object)

    @classmethod
    def declare(cls, params: Mapping[str, Any]) -> Declaration:
        decl = super().declare(params)
        unit = params.get("unit", "m3")
        return replace(decl, outputs=(Output(name="value", unit=unit, default=None, type=object),))

    def step(self, t: float) -> float | None:
        for at, v in zip(self.times, self.values):
            if at == t:
                self.value = v
        later = [at for at in self.times if at > t]
        return min(later) if later else None


class Level(Federate):
    """A plain output, not a correctable state (for the validation tests)."""

    default_period = 10.0
    level = Output(unit="m")
    rain = Input(unit="mm/h")

    def step(self, t: float) -> None:
        pass
