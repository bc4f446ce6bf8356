"""Federates used by the tests, referenced from scenarios as ``{HELPERS}:Class``."""

from __future__ import annotations

import math
import os
import signal
import time

from federation import Endpoint, Federate, Input, Output, Parameter, PayloadField


class Clock(Federate):
    """y = t (seconds); time-stepped."""

    default_period = 1.0
    scale = Parameter(1.0)
    y = Output(unit="s")

    def step(self, t: float) -> None:
        self.y = self.scale * t


class Affine(Federate):
    """y = a*u + b (the ring benchmark model)."""

    default_period = 1.0
    a = Parameter(0.5)
    b = Parameter(1.0)
    u = Input(default=0.0)
    y = Output()

    def step(self, t: float) -> None:
        self.y = self.a * self.u + self.b


class Probe(Federate):
    """Publishes [t, u] at every step so the store shows what it saw and when."""

    default_period = 1.0
    u = Input(unit="s", default=-1.0)
    obs = Output(type=list, default=[])

    def step(self, t: float) -> None:
        self.obs = [t, self.u]


class Pinger(Federate):
    """Sends messages: ``schedule`` is a list of [send_time, stamp_time, payload]."""

    default_period = 1.0
    schedule = Parameter([], type=list)
    out = Endpoint()

    def step(self, t: float) -> None:
        for send_at, stamp, payload in self.schedule:
            if send_at == t:
                self.send("out", payload, at=stamp)


class Listener(Federate):
    """Event-driven: publishes [t, [message times], [payloads]] whenever it is woken."""

    inbox_ep = Endpoint(name="inbox")
    u = Input(unit="s", default=0.0)
    log = Output(type=list, default=[])
    wakes = Output(type=int, default=0)

    def step(self, t: float) -> None:
        self.wakes += 1
        self.log = [t, [m.time for m in self.inbox], [m.payload for m in self.inbox], self.u]
        return None


class Noisy(Federate):
    """Random walk from self.rng and self.random: for determinism tests."""

    default_period = 1.0
    y = Output()
    z = Output()

    def step(self, t: float) -> None:
        self.y = self.y + float(self.rng.normal())
        self.z = self.random.random()


class Loop(Federate):
    """x_out = gain * x_in + bias: two of these form a fixed point x = g1*(g2*x + b2) + b1."""

    default_period = 1.0
    gain = Parameter(0.5)
    bias = Parameter(1.0)
    x_in = Input(default=0.0)
    x_out = Output()
    calls = Output(type=int, default=0)

    def setup(self) -> None:
        self.count = 0

    def step(self, t: float) -> None:
        self.count += 1  # restored by the iterate snapshot, so counts committed steps
        self.x_out = self.gain * self.x_in + self.bias
        self.calls = self.count


class Crasher(Federate):
    """Raises, exits or kills itself at ``at`` seconds (``how``: raise, exit, kill, hang)."""

    default_period = 1.0
    at = Parameter(3.0)
    how = Parameter("raise", type=str)
    y = Output()

    def step(self, t: float) -> None:
        if t >= self.at:
            if self.how == "raise":
                raise ValueError(f"boom at {t}")
            if self.how == "exit":
                os._exit(7)
            if self.how == "kill":
                os.kill(os.getpid(), signal.SIGKILL)
            if self.how == "hang":
                time.sleep(3600)
        self.y = t


class Sine(Federate):
    default_period = 1.0
    y = Output()

    def step(self, t: float) -> None:
        self.y = math.sin(t)


class Proposer(Federate):
    """Proposes a new setting ``{"value": v}`` at the times of ``plan`` ([[t, v], ...])."""

    default_period = 1.0
    plan = Parameter([], type=list)
    setting = Endpoint(fields={"value": PayloadField(float, low=0.0, high=1.0)})

    def step(self, t: float) -> None:
        for when, value in self.plan:
            if when == t:
                self.send("setting", {"value": value, "reason": "test"})


class Actuator(Federate):
    """Applies settings received as messages; publishes the current one."""

    default_period = 1.0
    setting = Endpoint()
    value = Output(default=0.0)

    def step(self, t: float) -> None:
        for message in self.inbox:
            self.value = float(message.payload["value"])


class Waves(Federate):
    """Reservoir level and downstream stage as known functions of time (FMU test input)."""

    default_period = 10.0
    level = Output(unit="m")
    stage = Output(unit="m")

    def step(self, t: float) -> None:
        self.level = 100.0 + 3.5 * math.sin(t / 400.0)
        self.stage = 2.0 + 3.5 * t / 3600.0


class Bus(Federate):
    """A building whose load grows with the power delivered to it: load = base + share * power."""

    default_period = 10.0
    base = Parameter(200.0, unit="kW")
    share = Parameter(0.5)
    power = Input(unit="kW", default=0.0)
    load = Output(unit="kW")

    def step(self, t: float) -> None:
        self.load = self.base + self.share * self.power


class DieselTwin(Federate):
    """Python twin of the DieselGenerator FMU's power law while running: min(load, rated)."""

    default_period = 10.0
    rated_power = Parameter(500.0, unit="kW")
    start_delay = Parameter(10.0, unit="s")
    load = Input(unit="kW", default=0.0)
    grid_available = Input(type=bool, default=True)
    power = Output(unit="kW")

    def setup(self) -> None:
        self.down_since = None

    def step(self, t: float) -> None:
        if not self.grid_available and self.down_since is None:
            self.down_since = t
        running = self.down_since is not None and t - self.down_since >= self.start_delay
        self.power = min(self.load, self.rated_power) if running else 0.0


class CrashOnce(Federate):
    """y = t; dies at ``at`` the first time only (a marker file remembers), for restart tests."""

    default_period = 1.0
    at = Parameter(3.0)
    marker = Parameter("", type=str)
    y = Output()
    starts = Output(type=int, default=0)

    def setup(self) -> None:
        self.starts = 1

    def step(self, t: float) -> None:
        if t >= self.at and not os.path.exists(self.marker):
            open(self.marker, "w").close()
            os._exit(9)
        self.y = t


class CrashingWalk(CrashOnce):
    """A random walk (self.rng) and a step count, dying at ``at`` the first time only: a restart from scratch
    would start both again, a restart from a checkpoint continues them exactly."""

    walk = Output(default=0.0)
    count = Output(type=int, default=0)

    def step(self, t: float) -> None:
        super().step(t)
        self.walk = self.walk + float(self.rng.normal())
        self.count = self.count + 1


class Words(Federate):
    """A text signal and a 2 x 2 array signal, both changing at every step (for plots)."""

    default_period = 1.0
    word = Output(type=str, default="")
    grid = Output(type=list, default=[])

    def step(self, t: float) -> None:
        self.word = f"t={t:g}"
        self.grid = [[t, 2 * t], [3 * t, 4 * t]]


class Slow(Federate):
    """y = t; the step at ``at`` seconds takes ``pause`` wall seconds (a slow computation, for pacing tests)."""

    default_period = 1.0
    at = Parameter(-1.0)
    pause = Parameter(0.0)
    y = Output(unit="s")

    def step(self, t: float) -> None:
        if t == self.at:
            time.sleep(self.pause)
        self.y = t


class Epoch(Federate):
    """Publishes the run's epoch as its runtime gave it (``Context.epoch``; -1 when the run has none)."""

    default_period = 1.0
    epoch = Output(default=-1.0)

    def step(self, t: float) -> None:
        self.epoch = self.context.epoch if self.context.epoch is not None else -1.0
