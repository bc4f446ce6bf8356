"""The demo's real world: Riverton's catchment, reservoir and river under the storm that really comes.

It is the flood federate's own physics (its public classes: the catchment's Nash cascade,
the level-pool reservoir with its gated outlet, the Muskingum reaches with their gauges'
ratings), driven by a storm of its own -- heavier and earlier than the rain the twin
forecasts -- and by the gate orders the world receives.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..flood import FloodFederate
from ..flood.basin import Basin
from ..flood.channel import Channel
from ..flood.hydrology import Hyetograph, NashCascade
from ..flood.reservoir import LevelPool

__all__ = ["REAL_STORM", "Readings", "World"]

#: The storm that comes: the twin's forecast (scenarios/riverton.yaml) 30 % heavier and 3 h earlier.
REAL_STORM = ((0, 1.3), (10800, 5.2), (32400, 11.7), (54000, 20.8), (75600, 28.6), (97200, 18.2),
              (118800, 9.1), (162000, 3.9), (205200, 1.3), (248400, 0.0))  # fmt: skip

#: Riverton's basin as scenarios/riverton.yaml sets it up.
RIVERTON = {"catchment_area_km2": 320.0, "runoff_coefficient": 0.65, "reservoir_level_m": 98.0, "bankfull_m3s": 220.0}


@dataclass(frozen=True)
class Readings:
    """What the field instruments would read at ``t`` (simulated seconds)."""

    t: float
    rain_mm_h: float
    reservoir_level_m: float
    release_m3s: float
    gate: float
    stages_m: dict[str, float]


class World:
    """The basin stepped forward in time; :meth:`order` moves the gate (it travels over the next step)."""

    def __init__(self, storm: tuple[tuple[float, float], ...] = REAL_STORM, overrides: dict[str, Any] | None = None,
                 step_s: float = 300.0) -> None:  # fmt: skip
        defaults = {p.name: p.default for p in FloodFederate.declare({}).parameters}
        self.basin = Basin.from_params({**defaults, **RIVERTON, **(overrides or {})}, step_s)
        self.storm = Hyetograph.from_pairs(storm)
        self.cascade = NashCascade(self.basin.catchment)
        self.pool = LevelPool(self.basin.stage_storage, self.basin.outlet, self.basin.initial_level_m)
        self.gate = self.command = 0.0
        self.channel = Channel(self.basin.reaches, self.pool.outflow(self.gate))
        self.t = 0.0

    def order(self, opening: float) -> None:
        if not 0.0 <= opening <= 1.0:
            raise ValueError(f"a gate opening is in [0, 1], got {opening!r}")
        self.command = opening

    def advance(self, t: float) -> Readings:
        """Advance to ``t`` (s) and read the instruments."""
        if t > self.t:
            dt = t - self.t
            rain = self.storm.mean_rate(self.t, t)
            inflow = self.cascade.advance(rain, dt) / dt + self.basin.catchment.baseflow_m3s
            self.pool.route(inflow, dt, self.gate, self.command)
            self.gate = self.command
            self.channel.route(self.pool.outflow(self.gate), dt)
            self.t = t
        stages = {r.reach.gauge: float(r.reach.rating.stage(r.outflow)) for r in self.channel.routers}
        return Readings(self.t, self.storm.rate(self.t), self.pool.level, self.pool.outflow(self.gate), self.gate, stages)
