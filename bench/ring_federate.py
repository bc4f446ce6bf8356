"""Federate classes for the benchmarks, referenced from generated scenarios by file path.

``Ring`` is the ring workload's model (see bench/README.md): ``y = a*u + b`` with
a = 0.5, b = 1, u = 0 before any value arrives.  ``Ticker`` is the multi-rate benchmark's
model: ``y = t``, plus an optional wall-clock pause per step that stands for a slow solver.
"""

from __future__ import annotations

import time

from federation import Federate, Input, Output, Parameter


class Ring(Federate):
    """y = a*u + b; time-stepped with a 1 s period."""

    default_period = 1.0
    a = Parameter(0.5)
    b = Parameter(1.0)
    u = Input(default=0.0)
    y = Output()

    def step(self, t: float) -> None:
        self.y = self.a * self.u + self.b


class Ticker(Federate):
    """y = t; sleeps ``pause`` seconds of wall time per step (no CPU used)."""

    default_period = 1.0
    pause = Parameter(0.0, unit="s")
    y = Output(unit="s")

    def step(self, t: float) -> None:
        if self.pause > 0:
            time.sleep(self.pause)
        self.y = t
