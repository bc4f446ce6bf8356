"""The hospital federate: bed pools, admissions, backup power and patient transfers.

Inputs: ``power`` (grid supply) and ``surge`` (disaster casualties, patients/h).
Endpoints: ``transfers`` (patients sent to and received from other hospitals) and
``fuel`` (deliveries for the backup generator).  See ``docs/federates/hospital.md``.
"""

from __future__ import annotations

from collections.abc import Generator, Mapping
from typing import Any

import simpy

from federation import Declaration, Endpoint, Input, Message, Output, Parameter, SimPyFederate, State

from .config import HospitalConfig, hospital_config
from .generator import BackupGenerator
from .pool import BedPool, Policy, PoolKind
from .stay import StayDistribution

__all__ = ["HospitalFederate"]

_POLICIES = tuple(p.value for p in Policy)
_STAYS = tuple(s.value for s in StayDistribution)


class HospitalFederate(SimPyFederate):
    """A hospital with a ward and an ICU, a backup generator, and patient transfers."""

    default_period = 300.0

    ward_beds: Parameter[int] = Parameter(200, unit="beds", type=int, doc="beds in the ward")
    ward_rate: Parameter[float] = Parameter(
        1.5, unit="patients/h", doc="baseline Poisson admissions to the ward"
    )
    ward_stay: Parameter[float] = Parameter(108.0, unit="h", doc="mean length of stay in the ward")
    ward_stay_distribution: Parameter[str] = Parameter(
        "lognormal", type=str, choices=_STAYS, doc="length-of-stay law"
    )
    ward_stay_cv: Parameter[float] = Parameter(1.0, doc="coefficient of variation of a lognormal stay")
    ward_policy: Parameter[str] = Parameter(
        "queue", type=str, choices=_POLICIES, doc="when full: queue or divert (loss)"
    )
    ward_initial: Parameter[int | None] = Parameter(
        None, unit="patients", type=(int, type(None)), doc="in bed at start; None = rate x stay"
    )
    ward_bed_power: Parameter[float] = Parameter(1.0, unit="kW", doc="electric draw per occupied ward bed")
    icu_beds: Parameter[int] = Parameter(20, unit="beds", type=int, doc="beds in the ICU")
    icu_rate: Parameter[float] = Parameter(
        0.2, unit="patients/h", doc="baseline Poisson admissions to the ICU"
    )
    icu_stay: Parameter[float] = Parameter(72.0, unit="h", doc="mean length of stay in the ICU")
    icu_stay_distribution: Parameter[str] = Parameter(
        "lognormal", type=str, choices=_STAYS, doc="length-of-stay law"
    )
    icu_stay_cv: Parameter[float] = Parameter(1.0, doc="coefficient of variation of a lognormal stay")
    icu_policy: Parameter[str] = Parameter(
        "divert", type=str, choices=_POLICIES, doc="when full: queue or divert (loss)"
    )
    icu_initial: Parameter[int | None] = Parameter(
        None, unit="patients", type=(int, type(None)), doc="in bed at start; None = rate x stay"
    )
    icu_bed_power: Parameter[float] = Parameter(8.0, unit="kW", doc="electric draw per occupied ICU bed")
    icu_beds_blackout: Parameter[int] = Parameter(
        0, unit="beds", type=int, doc="ICU beds usable with neither grid nor generator"
    )
    surge_icu_fraction: Parameter[float] = Parameter(0.15, doc="share of surge patients who need an ICU bed")
    generator_autonomy: Parameter[float] = Parameter(
        48.0, unit="h", doc="backup generator running time on a full tank (full at start)"
    )
    refuel_schedule: Parameter[list[list[float]]] = Parameter(
        (), type=(list, tuple), doc="scheduled deliveries: [[time_s, hours], ...]"
    )
    base_load: Parameter[float] = Parameter(1500.0, unit="kW", doc="electric draw of the building itself")
    transfer_delay: Parameter[float] = Parameter(
        1800.0, unit="s", doc="transfer messages are stamped this long after the step that sends them"
    )

    power = Input(default=True, type=bool, doc="the grid supplies the hospital")
    surge = Input(unit="patients/h", default=0.0, doc="disaster casualties arriving on top of the baseline")

    transfers = Endpoint(doc='patients sent/received: {"pool": "icu", "patients": n, "from": name}')
    fuel = Endpoint(doc='generator fuel deliveries: {"hours": h}')

    ward_occupancy = State(unit="patients", default=0, type=int, doc="patients in ward beds (correctable)")
    icu_occupancy = State(unit="patients", default=0, type=int, doc="patients in ICU beds (correctable)")
    ward_queue = Output(unit="patients", default=0, type=int, doc="patients waiting for a ward bed")
    icu_queue = Output(unit="patients", default=0, type=int, doc="patients waiting for an ICU bed")
    icu_capacity = Output(unit="beds", default=0, type=int, doc="ICU beds in service")
    turned_away = Output(unit="patients", default=0, type=int, doc="diverted because full, since the start")
    transferred = Output(unit="patients", default=0, type=int, doc="sent to other hospitals, since the start")
    transfers_received = Output(unit="patients", default=0, type=int, doc="received from other hospitals")
    generator_running = Output(default=False, type=bool, doc="the backup generator is running")
    fuel_left = Output(unit="h", default=0.0, doc="generator autonomy left")
    demand = Output(unit="MW", default=0.0, doc="electric draw from the grid (0 while the grid is out)")

    @classmethod
    def declare(cls, params: Mapping[str, Any]) -> Declaration:
        """The fixed interface; also checks the parameters so that ``federation validate`` reports bad ones."""
        declaration = super().declare(params)
        hospital_config({**{p.name: p.default for p in declaration.parameters}, **params})
        return declaration

    def setup(self) -> None:
        self.config: HospitalConfig = hospital_config(self.params)
        self.pools = {kind: BedPool(self.env, self.config.pool(kind), self.rng) for kind in PoolKind}
        self.generator = BackupGenerator(self.env, self.config.generator_autonomy, self._update_power)
        self._grid = True
        self._granted = self.context.start  # the time of the step in progress
        if self.config.refuel_schedule:
            self.env.process(self._scheduled_deliveries())

    # ------------------------------------------------------------------ inputs and messages
    def step(self, t: float) -> float | None:
        self._granted = t
        return super().step(t)

    def react(self, t: float) -> None:
        surge = float(self.inputs["surge"])
        if not surge >= 0:
            raise ValueError(f"hospital input 'surge' must be >= 0 patients/h, got {surge!r} at t={t:g} s")
        share = self.config.surge_icu_fraction
        for kind, extra in ((PoolKind.WARD, 1.0 - share), (PoolKind.ICU, share)):
            pool = self.pools[kind]
            pool.set_rate(pool.config.rate + extra * surge / 3600.0)
        for message in self.inbox:
            self._receive(message)
        self._grid = bool(self.inputs["power"])
        self._update_power()

    def _receive(self, message: Message) -> None:
        if message.endpoint == "fuel":
            self.generator.refuel(_fuel_hours(message))
            self._update_power()
        elif message.endpoint == "transfers":
            kind, patients, origin = _transfer(message)
            if origin != self.name:
                self.pools[kind].receive(patients)

    def _scheduled_deliveries(self) -> Generator[simpy.Event, object, None]:
        for time, hours in self.config.refuel_schedule:
            if time > self.env.now:
                yield self.env.timeout(time - self.env.now)
            self.generator.refuel(hours)
            self._update_power()

    # ------------------------------------------------------------------ synchronisation
    def correct(self, state: str, value: float) -> None:
        """Measured bed occupancy (docs/synchronise.md): the pool admits or discharges patients to match it.

        The value is rounded to whole patients and bounded by the beds in service; patients added
        get stays drawn from the pool's residual law, those removed are the latest admitted.
        """
        kind = PoolKind.WARD if state == "ward_occupancy" else PoolKind.ICU
        self.pools[kind].set_occupancy(round(value))
        t = self._granted
        while self.env.peek() <= t:  # the admitted patients take their beds now
            self.env.step()
        self.publish(t)

    # ------------------------------------------------------------------ power
    def _update_power(self) -> None:
        """Run the generator while the grid is out; cut ICU beds when both are out."""
        if self._grid:
            self.generator.stop()
        else:
            self.generator.start()
        powered = self._grid or self.generator.running
        icu = self.pools[PoolKind.ICU]
        beds = icu.config.beds if powered else self.config.icu_beds_blackout
        if beds != icu.capacity:
            moved = icu.set_capacity(beds)
            if moved:
                payload = {"pool": PoolKind.ICU.value, "patients": moved, "from": self.name}
                self.send("transfers", payload, at=self._granted + self.config.transfer_delay)

    # ------------------------------------------------------------------ outputs
    def publish(self, t: float) -> None:
        ward, icu = self.pools[PoolKind.WARD], self.pools[PoolKind.ICU]
        out = self.outputs
        out["ward_occupancy"], out["icu_occupancy"] = ward.occupancy, icu.occupancy
        out["ward_queue"], out["icu_queue"] = ward.queue, icu.queue
        out["icu_capacity"] = icu.capacity
        out["turned_away"] = ward.stats.turned_away + icu.stats.turned_away
        out["transferred"] = ward.stats.transferred_out + icu.stats.transferred_out
        out["transfers_received"] = ward.stats.received + icu.stats.received
        out["generator_running"] = self.generator.running
        out["fuel_left"] = self.generator.fuel
        out["demand"] = self._demand_kw() / 1000.0

    def _demand_kw(self) -> float:
        if not self._grid:
            return 0.0
        beds = sum(p.occupancy * p.config.bed_power_kw for p in self.pools.values())
        return self.config.base_load_kw + beds


def _fuel_hours(message: Message) -> float:
    payload: Any = message.payload
    hours = payload.get("hours") if isinstance(payload, dict) else None
    if isinstance(hours, bool) or not isinstance(hours, (int, float)) or not hours >= 0:
        raise ValueError(
            f"fuel message from {message.sender!r} at t={message.time:g} s needs "
            f'{{"hours": number >= 0}}, got {payload!r}'
        )
    return float(hours)


def _transfer(message: Message) -> tuple[PoolKind, int, str]:
    """Check a transfer payload ``{"pool": ..., "patients": n, "from": name}``."""
    payload: Any = message.payload
    fields: dict[str, Any] = payload if isinstance(payload, dict) else {}
    problem = f"transfer message from {message.sender!r} at t={message.time:g} s"
    pools = {k.value: k for k in PoolKind}
    if fields.get("pool") not in pools:
        raise ValueError(
            f"{problem}: 'pool' must be one of {', '.join(map(repr, pools))}; payload {payload!r}"
        )
    patients = fields.get("patients")
    if isinstance(patients, bool) or not isinstance(patients, int) or patients < 0:
        raise ValueError(f"{problem}: 'patients' must be an integer >= 0; payload {payload!r}")
    origin = fields.get("from")
    if not isinstance(origin, str) or not origin:
        raise ValueError(f"{problem}: 'from' must be the sending hospital's name; payload {payload!r}")
    return pools[fields["pool"]], patients, origin
