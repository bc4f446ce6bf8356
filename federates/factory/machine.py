"""A machine of the line: a SimPy process that takes, processes and passes on parts.

The cycle is *take* (from the upstream buffer; the first machine of a saturated line is
never starved) -> *process* -> *deliver* (into the downstream buffer, waiting on the
machine while it is full: blocking after service; the last machine is never blocked).

Processing advances only while the machine is *operable*: not failed and not held.

* Failures are operation dependent: the time to failure is exponential with mean
  ``mtbf`` and counts processing time only.  Repair is exponential with mean ``mttr``;
  the interrupted part then resumes where it stopped.
* Holds come from outside (the line's power supply, flooding of the machine's site).
  A hold interrupts processing at once; the part resumes when every hold is released.

Moving a part between a machine and a buffer is instantaneous and is not affected by
holds: a held machine can still receive a part, it just does not process it.  With no
buffer (a :class:`~.handoff.Handoff`), *deliver* waits until the next machine takes the part.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Generator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, cast

import simpy

from ..meter import Meter
from .config import MachineConfig, ProcessingTime
from .handoff import Handoff

if TYPE_CHECKING:
    import numpy as np

__all__ = ["Activity", "Buffer", "Hold", "Ledger", "Machine", "Part"]

Buffer = simpy.Store | Handoff


class Hold(enum.Enum):
    """Why a machine is held from outside."""

    POWER = "power"
    FLOOD = "flood"


class Activity(str, enum.Enum):
    """What a machine is doing."""

    STARVED = "starved"  # waiting for a part
    WORKING = "working"  # processing a part
    FAILED = "failed"  # under repair after an operation-dependent failure
    HALTED = "halted"  # holding a part but held (power, flood)
    BLOCKED = "blocked"  # holding a finished part, downstream buffer full


@dataclass(frozen=True)
class Part:
    """A part in the line; ``entered`` is the time it entered the line (s)."""

    entered: float


class Ledger(Protocol):
    """Where parts enter, complete a machine and leave the line (the line's own bookkeeping)."""

    def enter(self) -> Part: ...

    def completed(self, machine: int) -> None: ...

    def leave(self, part: Part) -> None: ...


class Machine:
    """One station of the line; see the module docstring for its behaviour."""

    def __init__(
        self,
        env: simpy.Environment,
        index: int,
        config: MachineConfig,
        processing: ProcessingTime,
        rng: np.random.Generator,
        inbound: Buffer | None,
        outbound: Buffer | None,
        ledger: Ledger,
    ) -> None:
        self.index = index
        self.config = config
        self.busy = Meter(env.now)  # 1 while processing: utilisation and energy
        self.activity = Activity.STARVED
        self.failures = 0
        self._env = env
        self._processing = processing
        self._rng = rng
        self._inbound = inbound
        self._outbound = outbound
        self._ledger = ledger
        self._holds: set[Hold] = set()
        self._failed = False
        self._to_failure = self._draw_time_to_failure()
        self._up: simpy.Event | None = None
        self._process = env.process(self._run())

    @property
    def down(self) -> bool:
        """True while failed or held: the machine could not process a part now."""
        return self._failed or bool(self._holds)

    @property
    def holds(self) -> frozenset[Hold]:
        return frozenset(self._holds)

    def hold(self, reason: Hold) -> None:
        """Stop processing for ``reason``; the current part keeps its remaining time."""
        self._holds.add(reason)
        if self.activity is Activity.WORKING:
            self.activity = Activity.HALTED
            self._process.interrupt(reason)

    def release(self, reason: Hold) -> None:
        """Lift the hold for ``reason``; processing resumes when no hold is left."""
        self._holds.discard(reason)
        if not self._holds and self._up is not None and not self._up.triggered:
            self._up.succeed()

    # ------------------------------------------------------------------ process
    def _run(self) -> Generator[simpy.Event, object, None]:
        while True:
            if self._inbound is None:
                part = self._ledger.enter()
            else:
                self.activity = Activity.STARVED
                part = cast(Part, (yield self._inbound.get()))
            yield from self._work(self._draw_processing_time())
            self._ledger.completed(self.index)
            if self._outbound is None:
                self._ledger.leave(part)
            else:
                self.activity = Activity.BLOCKED
                yield self._outbound.put(part)

    def _work(self, duration: float) -> Generator[simpy.Event, object, None]:
        """Accumulate ``duration`` seconds of processing, through holds and failures."""
        remaining = duration
        while remaining > 0.0:
            while self._holds:
                self.activity = Activity.HALTED
                self._up = self._env.event()
                yield self._up
                self._up = None
            fails = self._to_failure < remaining
            done = self._to_failure if fails else remaining
            self.activity = Activity.WORKING
            start = self._env.now
            self.busy.set(start, 1.0)
            try:
                yield self._env.timeout(done)
            except simpy.Interrupt:
                done, fails = self._env.now - start, False
            self.busy.set(self._env.now, 0.0)
            remaining -= done
            self._to_failure = max(0.0, self._to_failure - done)
            if fails:
                yield from self._repair()

    def _repair(self) -> Generator[simpy.Event, object, None]:
        self._failed = True
        self.failures += 1
        self.activity = Activity.FAILED
        yield self._env.timeout(self._rng.exponential(self.config.mttr) if self.config.mttr > 0 else 0.0)
        self._failed = False
        self._to_failure = self._draw_time_to_failure()

    # ------------------------------------------------------------------ draws
    def _draw_processing_time(self) -> float:
        mean = self.config.processing_time
        if self._processing is ProcessingTime.EXPONENTIAL:
            return float(self._rng.exponential(mean))
        return mean

    def _draw_time_to_failure(self) -> float:
        if math.isinf(self.config.mtbf):
            return math.inf
        return float(self._rng.exponential(self.config.mtbf))

    def __repr__(self) -> str:
        return f"<Machine {self.index} {self.activity.value} holds={sorted(h.value for h in self._holds)}>"
