"""A pool of beds (ward, ICU): a SimPy resource fed by Poisson admissions.

Patients arrive as a Poisson stream whose rate is piecewise constant: it changes only
when :meth:`BedPool.set_rate` is called (the arrival process is interrupted and,
the exponential law being memoryless, draws its next gap afresh).  An arriving
patient asks the pool's :class:`simpy.PriorityResource` for a bed:

* policy ``divert`` (a loss system): no free bed, the patient is turned away;
* policy ``queue``: the patient waits, first come first served.

Capacity can be lowered at run time (the ICU when it loses power).  The pool then takes
beds out of service with *blocker* requests of higher priority than patients' and, if
more patients are in bed than the new capacity, discharges the most recently admitted
ones for transfer.  Raising capacity releases the blockers.
"""

from __future__ import annotations

import enum
from collections.abc import Generator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import simpy
from simpy.resources.resource import PriorityRequest

from ..meter import Meter
from .stay import Stay

if TYPE_CHECKING:
    import numpy as np

__all__ = ["BedPool", "Policy", "PoolConfig", "PoolKind", "PoolStats"]

_BLOCKER = 0  # priority of a bed taken out of service (smaller = served first)
_PATIENT = 1


class PoolKind(str, enum.Enum):
    """The bed pools of a hospital."""

    WARD = "ward"
    ICU = "icu"


class Policy(str, enum.Enum):
    """What happens to a patient who finds every bed taken."""

    DIVERT = "divert"  # turned away (loss system)
    QUEUE = "queue"  # waits for a bed


@dataclass(frozen=True)
class PoolConfig:
    """One pool: rates per second, stays in seconds, power in kW."""

    kind: PoolKind
    beds: int
    rate: float  # baseline admissions per second
    stay: Stay
    policy: Policy
    initial: int  # patients in bed at the start (remaining stays drawn at steady state)
    bed_power_kw: float  # electric draw per occupied bed


@dataclass
class PoolStats:
    """Counters since the start of the run."""

    arrivals: int = 0  # patients who asked for a bed (transfers in included)
    admitted: int = 0  # patients who got a bed
    turned_away: int = 0  # diverted because the pool was full
    waited: int = 0  # admitted after a positive wait
    wait_total: float = 0.0  # s, summed over admitted patients
    transferred_out: int = 0  # discharged for transfer when capacity dropped
    received: int = 0  # transfers in (also counted in arrivals)
    corrected: int = 0  # patients added (+) or removed (-) by measured occupancy (docs/synchronise.md)


class BedPool:
    """Beds of one kind; see the module docstring."""

    def __init__(self, env: simpy.Environment, config: PoolConfig, rng: np.random.Generator) -> None:
        self.config = config
        self.stats = PoolStats()
        self.occupied = Meter(env.now)  # level: patients in bed
        self._env = env
        self._rng = rng
        self._beds = simpy.PriorityResource(env, capacity=config.beds)
        self._occupants: dict[simpy.Process, None] = {}  # patients in bed, in admission order
        self._blockers: list[PriorityRequest] = []
        self._rate = config.rate
        for _ in range(config.initial):
            self._request(config.stay.sample_residual(rng), counted=False)
        self._arrivals = env.process(self._arrive_forever())

    # ------------------------------------------------------------------ state
    @property
    def occupancy(self) -> int:
        """Patients in bed now."""
        return len(self._occupants)

    @property
    def queue(self) -> int:
        """Patients waiting for a bed now."""
        return sum(1 for r in self._beds.queue if r.priority == _PATIENT)

    @property
    def capacity(self) -> int:
        """Beds in service now."""
        return self.config.beds - len(self._blockers)

    @property
    def rate(self) -> float:
        """Admission rate now (patients/s)."""
        return self._rate

    # ------------------------------------------------------------------ commands
    def set_rate(self, rate: float) -> None:
        """Change the Poisson admission rate (patients/s) from now on."""
        if rate < 0:
            raise ValueError(f"{self.config.kind.value} admission rate must be >= 0, got {rate!r} /s")
        if rate != self._rate:
            self._rate = rate
            self._arrivals.interrupt()

    def receive(self, patients: int) -> None:
        """Patients transferred in from another hospital ask for beds now."""
        self.stats.received += patients
        for _ in range(patients):
            self._arrive()

    def set_capacity(self, beds: int) -> int:
        """Keep ``beds`` beds in service; return how many patients must be transferred out."""
        if not 0 <= beds <= self.config.beds:
            raise ValueError(
                f"{self.config.kind.value} capacity must be in 0..{self.config.beds}, got {beds!r}"
            )
        while len(self._blockers) > self.config.beds - beds:
            blocker = self._blockers.pop()
            if blocker.triggered:
                self._beds.release(blocker)
            else:
                blocker.cancel()
        while len(self._blockers) < self.config.beds - beds:
            self._blockers.append(self._beds.request(priority=_BLOCKER))
        excess = max(0, self.occupancy - beds)
        for patient in list(self._occupants)[len(self._occupants) - excess :]:
            del self._occupants[patient]
            patient.interrupt()
        self.stats.transferred_out += excess
        self.occupied.add(self._env.now, -excess)
        return excess

    def set_occupancy(self, patients: int) -> int:
        """Match a measured occupancy (bounded by the beds in service); return the change in patients.

        Patients added ask for free beds with stays drawn from the residual law (as at the start); those
        removed are the most recently admitted.  Queued patients are not touched.
        """
        target = max(0, min(patients, self.capacity))
        change = target - self.occupancy
        if change < 0:
            for patient in list(self._occupants)[change:]:
                del self._occupants[patient]
                patient.interrupt()
            self.occupied.add(self._env.now, float(change))
        else:
            free = self.capacity - self.occupancy - sum(1 for r in self._beds.queue if r.priority == _PATIENT)
            change = max(0, min(change, free))
            for _ in range(change):
                self._request(self.config.stay.sample_residual(self._rng), counted=False)
        self.stats.corrected += change
        return change

    # ------------------------------------------------------------------ processes
    def _arrive_forever(self) -> Generator[simpy.Event, object, None]:
        while True:
            try:
                if self._rate > 0:
                    yield self._env.timeout(self._rng.exponential(1.0 / self._rate))
                else:
                    yield self._env.event()  # never fires: wait for a rate change
            except simpy.Interrupt:
                continue
            self._arrive()

    def _arrive(self) -> None:
        self.stats.arrivals += 1
        self._request(self.config.stay.sample(self._rng), counted=True)

    def _request(self, stay: float, *, counted: bool) -> None:
        request = self._beds.request(priority=_PATIENT)
        if not request.triggered and self.config.policy is Policy.DIVERT:
            request.cancel()
            self.stats.turned_away += 1
            return
        self._env.process(self._stay(request, stay, counted))

    def _stay(
        self, request: PriorityRequest, stay: float, counted: bool
    ) -> Generator[simpy.Event, object, None]:
        arrived = self._env.now
        yield request
        me = self._env.active_process
        assert me is not None
        self._occupants[me] = None
        self.occupied.add(self._env.now, 1.0)
        if counted:
            self._count_admission(self._env.now - arrived)
        try:
            yield self._env.timeout(stay)
        except simpy.Interrupt:
            pass  # transferred out: set_capacity already took it off the books
        else:
            del self._occupants[me]
            self.occupied.add(self._env.now, -1.0)
        finally:
            self._beds.release(request)

    def _count_admission(self, wait: float) -> None:
        self.stats.admitted += 1
        self.stats.wait_total += wait
        if wait > 0:
            self.stats.waited += 1

    def __repr__(self) -> str:
        return (
            f"<BedPool {self.config.kind.value} {self.occupancy}/{self.capacity} beds "
            f"queue={self.queue} rate={self._rate * 3600:g}/h>"
        )
