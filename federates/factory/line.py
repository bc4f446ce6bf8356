"""A serial production line: machines joined by finite buffers, with its bookkeeping.

``M1 -> B1 -> M2 -> ... -> B(n-1) -> Mn``.  Each buffer is a :class:`simpy.Store` of
capacity B, or with B = 0 a :class:`~.handoff.Handoff` (the part passes straight from
one machine to the next, the upstream machine blocked until then).  Without an arrival rate the first machine is never starved (raw material
is always there); with one, parts arrive as a Poisson stream into an unlimited input
queue in front of the first machine (an open line, for validation against queueing
networks).  The last machine is never blocked.

The line counts parts in and out, integrates the work in process (WIP), the WIP of
each stage and each machine's busy time, and turns those into the federate's outputs.
Stage i holds the parts machine i has still to finish: those waiting in front of it
(its buffer, or the input queue) and the one it works on.  A finished part blocked on
machine i already belongs to stage i + 1, so for i >= 1 stage i is the state of the
two-machine chain around buffer i: buffer contents + the part on machine i + a part
blocked on machine i - 1 (Gershwin 1994, ch. 3).  The stages add up to the WIP.
"""

from __future__ import annotations

import collections
from collections.abc import Generator
from typing import TYPE_CHECKING

import simpy

from ..meter import Meter
from .config import LineConfig
from .handoff import Handoff
from .machine import Buffer, Hold, Machine, Part
from .outage import Outage

if TYPE_CHECKING:
    import numpy as np

__all__ = ["Line"]


class Line:
    """The line's SimPy model; the federate drives it with :meth:`set_power` and :meth:`set_flood_depth`."""

    def __init__(self, env: simpy.Environment, config: LineConfig, rng: np.random.Generator) -> None:
        self.config = config
        self.parts_produced = 0
        self.wip = Meter(env.now)  # level: parts in the line, input queue included
        self.stages = [Meter(env.now) for _ in config.machines]  # level: parts machine i has to finish
        self.energized = Meter(env.now, 1.0)  # level: 1 while the supply bus is energized
        self.time_in_line = 0.0  # sum over produced parts of their time in the line (s)
        self.start = env.now
        self._env = env
        self._rng = rng
        self._finished: collections.deque[float] = collections.deque()  # completion times
        count = len(config.machines)
        self.input_queue = simpy.Store(env) if config.arrival_rate > 0 else None
        self.buffers = [self._buffer(env, config.buffer_capacity) for _ in range(count - 1)]
        stores: list[Buffer | None] = [self.input_queue, *self.buffers, None]
        self.machines = [
            Machine(env, i, m, config.processing, rng, stores[i], stores[i + 1], self)
            for i, m in enumerate(config.machines)
        ]
        self._power = Outage(env, self.machines, Hold.POWER, config.restart_delay)
        self._floods = [Outage(env, [m], Hold.FLOOD, config.flood_repair_time) for m in self.machines]
        if self.input_queue is not None:
            env.process(self._arrivals(self.input_queue))

    @staticmethod
    def _buffer(env: simpy.Environment, capacity: float) -> Buffer:
        return Handoff(env) if capacity == 0 else simpy.Store(env, capacity=capacity)

    # ------------------------------------------------------------------ ledger
    def enter(self) -> Part:
        """A part enters the line now."""
        self.wip.add(self._env.now, 1.0)
        self.stages[0].add(self._env.now, 1.0)
        return Part(self._env.now)

    def completed(self, machine: int) -> None:
        """Machine ``machine`` finished processing a part now: the part moves to the next stage."""
        self.stages[machine].add(self._env.now, -1.0)
        if machine + 1 < len(self.stages):
            self.stages[machine + 1].add(self._env.now, 1.0)

    def leave(self, part: Part) -> None:
        """A finished part leaves the last machine now."""
        now = self._env.now
        self.parts_produced += 1
        self.wip.add(now, -1.0)
        self.time_in_line += now - part.entered
        self._finished.append(now)

    def _arrivals(self, queue: simpy.Store) -> Generator[simpy.Event, object, None]:
        mean_gap = 1.0 / self.config.arrival_rate
        while True:
            yield self._env.timeout(self._rng.exponential(mean_gap))
            yield queue.put(self.enter())

    # ------------------------------------------------------------------ dependencies
    def set_power(self, energized: bool) -> None:
        """The supply bus is (de-)energized now; the line restarts a delay after power returns."""
        self.energized.set(self._env.now, 1.0 if energized else 0.0)
        self._power.update(active=not energized)

    def set_flood_depth(self, depth: float) -> None:
        """Water depth (m) at the plant now; machines above their threshold go out."""
        for machine, outage in zip(self.machines, self._floods):
            outage.update(active=depth > machine.config.flood_threshold)

    @property
    def running(self) -> bool:
        """True when energized and past the restart delay."""
        return not self._power.holding

    # ------------------------------------------------------------------ observations
    def energy_kws(self, now: float) -> float:
        """Electric energy drawn from the start to ``now`` (kW x s)."""
        base = self.config.base_load_kw * self.energized.reading(now)
        return base + sum(m.config.power_kw * m.busy.reading(now) for m in self.machines)

    def demand_kw(self) -> float:
        """Electric draw at this instant (kW)."""
        base = self.config.base_load_kw * self.energized.level
        return base + sum(m.config.power_kw * m.busy.level for m in self.machines)

    def throughput(self, now: float, window: float) -> float:
        """Parts/s finished over the last ``window`` seconds (over the elapsed time if shorter)."""
        while self._finished and self._finished[0] <= now - window:
            self._finished.popleft()
        span = min(window, now - self.start)
        return len(self._finished) / span if span > 0 else 0.0

    def buffer_levels(self) -> list[float]:
        return [float(len(b.items)) for b in self.buffers]

    def stage_wip(self) -> list[float]:
        """Parts each machine has still to finish (see the module docstring); they add up to the WIP."""
        return [stage.level for stage in self.stages]

    def machines_down(self) -> int:
        return sum(1 for m in self.machines if m.down)

    def __repr__(self) -> str:
        return f"<Line {len(self.machines)} machines produced={self.parts_produced} wip={self.wip.level:g}>"
