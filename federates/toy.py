"""Small models for the example scenario and the tests: rain, a tank, a valve controller, a log.

They are deliberately simple; the domain federates (flood, grid, ...) are the real ones.
"""

from __future__ import annotations

import math

from federation import Endpoint, Federate, Input, Output, Parameter, State


class Rain(Federate):
    """Rain intensity over a catchment: a base rate plus random showers (mm/h)."""

    default_period = 60.0
    base = Parameter(2.0, unit="mm/h", doc="mean rain intensity")
    shower = Parameter(20.0, unit="mm/h", doc="extra intensity during a shower")
    shower_probability = Parameter(0.05, doc="chance per step that a shower starts")
    shower_steps = Parameter(10, type=int, doc="length of a shower in steps")
    intensity = Output(unit="mm/h", doc="rain intensity")

    def setup(self) -> None:
        self.left = 0

    def step(self, t: float) -> None:
        if self.left == 0 and self.random.random() < self.shower_probability:
            self.left = self.shower_steps
        extra = self.shower if self.left > 0 else 0.0
        self.left = max(0, self.left - 1)
        self.intensity = self.base + extra
        return None


class Tank(Federate):
    """A storage tank fed by rain on its catchment and drained through a valve.

    dV/dt = A_c * r - c * u * sqrt(h),  h = V / A  (explicit Euler over the step)
    """

    default_period = 60.0
    catchment = Parameter(5000.0, unit="m2", doc="catchment area draining into the tank")
    area = Parameter(100.0, unit="m2", doc="tank surface area")
    outlet = Parameter(0.05, unit="m2.5/s", doc="outlet coefficient c (flow = c * opening * sqrt(h))")
    level0 = Parameter(1.0, unit="m", doc="initial level")
    rain = Input(unit="mm/h", default=0.0, doc="rain intensity")
    opening = Input(unit="1", default=0.0, doc="valve opening 0..1")
    level = State(unit="m", doc="water level (correctable by a measured level)")
    outflow = Output(unit="m3/s", doc="flow through the valve")

    def setup(self) -> None:
        self.h = self.level0
        self.last = self.context.start
        self.level = self.h

    def step(self, t: float) -> None:
        dt = t - self.last
        self.last = t
        q_out = self.outlet * min(max(self.opening, 0.0), 1.0) * math.sqrt(max(self.h, 0.0))
        q_in = self.catchment * self.rain / 1000.0 / 3600.0
        self.h = max(0.0, self.h + dt * (q_in - q_out) / self.area)
        self.level = self.h
        self.outflow = q_out
        return None

    def correct(self, state: str, value: float) -> None:
        """A measured level replaces the model's (docs/synchronise.md)."""
        self.h = max(0.0, value)
        self.level = self.h


class ValveController(Federate):
    """Opens the valve in proportion to the level above a set point; sends alarms."""

    default_period = 60.0
    setpoint = Parameter(1.5, unit="m", doc="level the controller aims for")
    gain = Parameter(2.0, unit="1/m", doc="opening per metre above the set point")
    alarm_level = Parameter(2.0, unit="m", doc="level above which an alarm message is sent")
    level = Input(unit="m", default=0.0)
    opening = Output(unit="1", doc="valve opening 0..1")
    alarms = Endpoint(doc="sends {'level': h} when the level crosses alarm_level")

    def setup(self) -> None:
        self.alarmed = False

    def step(self, t: float) -> None:
        self.opening = min(1.0, max(0.0, self.gain * (self.level - self.setpoint)))
        high = self.level > self.alarm_level
        if high and not self.alarmed:
            self.send("alarms", {"level": self.level, "kind": "high"})
        self.alarmed = high
        return None


class AlarmLog(Federate):
    """Event-driven: wakes only when an alarm message arrives and counts them."""

    alarms = Endpoint(doc="alarm messages")
    count = Output(type=int, default=0, doc="alarms received")
    last_level = Output(unit="m", default=0.0, doc="level reported by the last alarm")

    def step(self, t: float) -> None:
        for message in self.inbox:
            self.count += 1
            self.last_level = float(message.payload.get("level", math.nan))
        return None
