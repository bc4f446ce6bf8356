"""The factory-line federate: a SimPy serial line exposed to the federation.

Inputs: ``power`` (the supply bus is energized) and ``flood_depth`` (m at the plant).
Outputs: throughput, parts produced, WIP, buffer levels, electric demand and the
production lost against the plan.  See ``docs/federates/factory.md``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from federation import Declaration, Input, Output, Parameter, SimPyFederate

from .config import ProcessingTime, line_config
from .line import Line

__all__ = ["FactoryFederate"]

_LIST = (list, tuple, float, int)


class FactoryFederate(SimPyFederate):
    """A serial production line with finite buffers, failures, power and flood dependencies."""

    default_period = 60.0

    processing_times: Parameter[list[float]] = Parameter(
        (60.0, 60.0, 60.0),
        unit="s",
        type=(list, tuple),
        doc="mean processing time of each machine (sets their number)",
    )
    processing: Parameter[str] = Parameter(
        ProcessingTime.DETERMINISTIC.value,
        type=str,
        choices=tuple(p.value for p in ProcessingTime),
        doc="processing-time distribution around the mean",
    )
    buffer_capacity: Parameter[float] = Parameter(
        10, unit="parts", type=(int, float), finite=False,
        doc="capacity B of each buffer; 0 = no buffer (blocking after service); inf = unlimited"
    )
    mtbf: Parameter[list[float] | float] = Parameter(
        28800.0,
        unit="s",
        type=_LIST,
        finite=False,
        doc="mean processing time between failures (per machine or one for all); inf = reliable",
    )
    mttr: Parameter[list[float] | float] = Parameter(
        1800.0, unit="s", type=_LIST, doc="mean time to repair a failure (per machine or one for all)"
    )
    machine_power: Parameter[list[float] | float] = Parameter(
        150.0, unit="kW", type=_LIST, doc="electric draw of a machine while processing"
    )
    base_load: Parameter[float] = Parameter(
        300.0, unit="kW", type=(int, float), doc="plant draw whenever energized (lighting, HVAC, air)"
    )
    flood_thresholds: Parameter[list[float] | float] = Parameter(
        0.3, unit="m", type=_LIST, doc="water depth that puts a machine out (per machine or one for all)"
    )
    flood_repair_time: Parameter[float] = Parameter(
        86400.0, unit="s", type=(int, float), doc="time to repair a flooded machine once the water recedes"
    )
    restart_delay: Parameter[float] = Parameter(
        1800.0, unit="s", type=(int, float), doc="time from power restoration to restart of the line"
    )
    arrival_rate: Parameter[float] = Parameter(
        0.0, unit="parts/h", type=(int, float), doc="Poisson arrivals into an input queue; 0 = never starved"
    )
    planned_rate: Parameter[float] = Parameter(
        0.0, unit="parts/h", type=(int, float), doc="planned output; 0 = the bottleneck's isolated rate"
    )
    throughput_window: Parameter[float] = Parameter(
        3600.0, unit="s", type=(int, float), doc="trailing window of the throughput output"
    )

    power = Input(default=True, type=bool, doc="the plant's supply bus is energized")
    flood_depth = Input(unit="m", default=0.0, doc="water depth at the plant")

    throughput = Output(unit="parts/h", default=0.0, doc="parts finished over the trailing window")
    parts_produced = Output(unit="parts", default=0, type=int, doc="parts finished since the start")
    wip = Output(unit="parts", default=0, type=int, doc="parts in the line (input queue included)")
    buffer_levels = Output(unit="parts", default=[], type=list, doc="parts in each inter-machine buffer")
    stage_wip = Output(
        unit="parts", default=[], type=list,
        doc="per machine: parts waiting in front of it plus the one it has not finished; sums to wip")
    machines_down = Output(default=0, type=int, doc="machines failed, unpowered or flooded")
    demand = Output(unit="MW", default=0.0, doc="electric draw, averaged over the last step")
    production_lost = Output(unit="parts", default=0.0, doc="shortfall of parts produced against the plan")

    @classmethod
    def declare(cls, params: Mapping[str, Any]) -> Declaration:
        """The fixed interface; also checks the parameters so that ``federation validate`` reports bad ones."""
        declaration = super().declare(params)
        line_config(_with_defaults(declaration, params))
        return declaration

    def setup(self) -> None:
        self.line = Line(self.env, line_config(self.params), self.rng)
        self._last_reading = (self.env.now, 0.0)  # (time, energy kW.s) at the last publish

    def react(self, t: float) -> None:
        self.line.set_power(bool(self.inputs["power"]))
        depth = float(self.inputs["flood_depth"])
        if math.isnan(depth):
            raise ValueError(f"factory input 'flood_depth' is NaN at t={t:g} s")
        self.line.set_flood_depth(depth)

    def publish(self, t: float) -> None:
        line = self.line
        self.outputs["throughput"] = 3600.0 * line.throughput(t, line.config.throughput_window)
        self.outputs["parts_produced"] = line.parts_produced
        self.outputs["wip"] = int(line.wip.level)
        self.outputs["buffer_levels"] = line.buffer_levels()
        self.outputs["stage_wip"] = line.stage_wip()
        self.outputs["machines_down"] = line.machines_down()
        self.outputs["demand"] = self._average_demand_kw(t) / 1000.0
        planned = line.config.planned_rate * (t - line.start)
        self.outputs["production_lost"] = max(0.0, planned - line.parts_produced)

    def _average_demand_kw(self, t: float) -> float:
        before, energy_before = self._last_reading
        energy = self.line.energy_kws(t)
        self._last_reading = (t, energy)
        if t <= before:
            return self.line.demand_kw()
        return (energy - energy_before) / (t - before)


def _with_defaults(declaration: Declaration, params: Mapping[str, Any]) -> dict[str, Any]:
    return {**{p.name: p.default for p in declaration.parameters}, **params}
