"""The flood federate: a river basin with a dam above a city.

rain -> catchment (Nash cascade) -> reservoir (level pool, gated) -> river (Muskingum
reaches to gauges) -> overbank flow onto the city's floodplain (1-D shallow water) ->
depth of water at each named asset.

Timing: at ``step(t)`` the model is advanced from the previous granted time to ``t``,
then the inputs read at ``t`` take effect for the *next* interval:

* ``rain`` is held constant over the next interval (zero-order hold); when the
  ``rainfall`` parameter is given instead, the series' exact mean over each interval is
  used and the ``rain`` input does not exist (connecting it is a scenario error);
* ``gate`` is the commanded opening; the gate travels linearly from its position to the
  command over the next interval, so the release is continuous in time and the effect
  of a decision shows in the release one step later.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from federation import Context, Declaration, Endpoint, Federate, Input, Output, Parameter, State

from .basin import Basin
from .channel import Channel
from .floodplain import Floodplain
from .hydrology import NashCascade
from .reservoir import LevelPool

__all__ = ["FloodFederate"]

DEFAULT_RESERVOIR_TABLE = [
    [80.0, 0.0],
    [85.0, 1.5e6],
    [90.0, 6.0e6],
    [95.0, 15.0e6],
    [100.0, 30.0e6],
    [105.0, 52.0e6],
    [110.0, 80.0e6],
]
DEFAULT_REACHES = [
    {
        "gauge": "bridge",
        "k_s": 2700.0,
        "x": 0.2,
        "width_m": 50.0,
        "slope": 0.0015,
        "manning_n": 0.035,
        "datum_m": 70.0,
    },
    {
        "gauge": "city",
        "k_s": 3600.0,
        "x": 0.25,
        "width_m": 60.0,
        "slope": 0.001,
        "manning_n": 0.035,
        "datum_m": 50.0,
    },
]
DEFAULT_PROFILE = [[0.0, 50.0], [1200.0, 48.8], [1500.0, 48.3], [1800.0, 48.5], [4000.0, 46.3]]
DEFAULT_ASSETS: dict[str, Any] = {
    "substation_a": {"chainage_m": 500.0, "ground_m": 49.8},
    "factory": 1500.0,
    "hospital_a": {"chainage_m": 2400.0, "ground_m": 49.5},
    "telecom_a": 3000.0,
    "substation_b": {"chainage_m": 3600.0, "ground_m": 47.2},
    "hospital_b": {"chainage_m": 3900.0, "ground_m": 47.5},
}


class FloodFederate(Federate):
    """River basin with a gated dam above a city; publishes water depths at assets."""

    default_period: ClassVar[float | None] = 300.0

    # -- catchment
    catchment_area_km2 = Parameter(250.0, unit="km2", doc="area draining into the reservoir")
    runoff_coefficient = Parameter(0.6, unit="-", doc="fraction of rainfall that becomes runoff")
    catchment_k_s = Parameter(
        5400.0, unit="s", doc="storage constant of each linear reservoir of the cascade"
    )
    catchment_reservoirs = Parameter(
        2, unit="-", type=int, doc="reservoirs in the Nash cascade (1 = linear reservoir)"
    )
    baseflow_m3s = Parameter(8.0, unit="m3/s", doc="constant baseflow into the reservoir")
    rainfall = Parameter(
        None,
        unit="[[s, mm/h], ...]",
        type=object,
        doc="rainfall series (piecewise constant); when given, replaces the 'rain' input",
    )
    # -- reservoir
    reservoir_table = Parameter(
        DEFAULT_RESERVOIR_TABLE, unit="[[m, m3], ...]", type=list, doc="stage-storage table"
    )
    reservoir_level_m = Parameter(99.0, unit="m", doc="initial pool elevation")
    spillway_crest_m = Parameter(101.0, unit="m", doc="ungated spillway crest elevation")
    spillway_width_m = Parameter(50.0, unit="m", doc="spillway crest length")
    spillway_coefficient = Parameter(2.0, unit="m0.5/s", doc="weir coefficient C in Q = C L H^1.5")
    gate_sill_m = Parameter(82.0, unit="m", doc="sill elevation of the bottom sluice gate")
    gate_width_m = Parameter(5.0, unit="m", doc="gate width")
    gate_height_m = Parameter(4.0, unit="m", doc="gate height (opening 1.0 = fully open)")
    gate_coefficient = Parameter(0.6, unit="-", doc="orifice discharge coefficient of the gate")
    # -- river
    reaches = Parameter(
        DEFAULT_REACHES,
        unit="list",
        type=list,
        doc="Muskingum reaches below the dam, upstream first: {gauge, k_s, x, [subreaches], "
        "[width_m, slope, manning_n, datum_m] of the gauge's Manning rating}",
    )
    bankfull_m3s = Parameter(
        250.0, unit="m3/s", doc="channel capacity at the floodplain; the excess goes overbank"
    )
    floodplain_gauge = Parameter("", unit="-", type=str, doc="gauge feeding the floodplain ('' = the last)")
    # -- floodplain
    floodplain_profile = Parameter(
        DEFAULT_PROFILE, unit="[[m, m], ...]", type=list, doc="[chainage, bed elevation]"
    )
    floodplain_width_m = Parameter(300.0, unit="m", doc="width of the floodplain strip")
    floodplain_cells = Parameter(80, unit="-", type=int, doc="finite-volume cells along the profile")
    floodplain_manning_n = Parameter(0.06, unit="s/m^(1/3)", doc="Manning roughness of the floodplain")
    assets = Parameter(
        DEFAULT_ASSETS,
        unit="{name: m}",
        type=dict,
        doc="assets on the floodplain: name -> chainage_m, or name -> {chainage_m, ground_m}",
    )
    wet_depth_m = Parameter(0.05, unit="m", doc="depth above which a cell counts as flooded")
    cfl = Parameter(0.9, unit="-", doc="Courant number of the shallow-water solver (<= 0.5 for order 2)")
    floodplain_order = Parameter(
        1, unit="-", type=int, choices=(1, 2), doc="shallow-water scheme order: 1 or 2 (MUSCL + Heun)"
    )

    # -- interface
    gate = Input(unit="-", default=0.0, doc="commanded gate opening, 0 (closed) .. 1 (fully open)")
    gate_orders = Endpoint(doc="gate orders {opening: 0..1} (e.g. approved decisions); the latest order or "
                               "change of the gate input wins")
    rain_rate = Output(unit="mm/h", default=0.0, doc="rain rate in force from now on (input or series)")
    runoff = Output(unit="m3/s", default=0.0, doc="catchment runoff into the reservoir, baseflow included")
    reservoir_level = State(unit="m", default=0.0, doc="pool elevation (correctable: sets the stored volume)")
    reservoir_storage = Output(unit="m3", default=0.0, doc="stored volume")
    reservoir_release = Output(unit="m3/s", default=0.0, doc="total release: spillway + gate")
    spillway_flow = Output(unit="m3/s", default=0.0, doc="part of the release over the spillway")
    gate_position = Output(unit="-", default=0.0, doc="actual gate opening (lags the command by one step)")
    overbank_flow = Output(unit="m3/s", default=0.0, doc="flow onto the floodplain")
    flooded_area = Output(unit="m2", default=0.0, doc="floodplain area deeper than wet_depth_m")
    flood_volume = Output(unit="m3", default=0.0, doc="water on the floodplain")

    def __init__(self, params: Mapping[str, Any], context: Context) -> None:
        super().__init__(params, context)
        period = context.period or self.default_period or 300.0
        self.basin = Basin.from_params(self.params, period)

    @classmethod
    def declare(cls, params: Mapping[str, Any]) -> Declaration:
        decl = super().declare(params)
        merged = {p.name: p.default for p in decl.parameters} | dict(params)
        basin = Basin.from_params(merged, cls.default_period or 300.0)
        if basin.rainfall is None:
            decl = decl.with_inputs(Input(name="rain", unit="mm/h", default=0.0, doc="rainfall rate"))
        for gauge in basin.gauges:
            decl = decl.with_outputs(
                State(name=f"stage.{gauge}", unit="m", default=0.0, doc=f"water level at gauge {gauge}"),
                State(
                    name=f"discharge.{gauge}", unit="m3/s", default=0.0, doc=f"discharge at gauge {gauge}"
                ),
            )
        return decl.with_outputs(
            *(
                Output(name=f"depth.{a}", unit="m", default=0.0, doc=f"water depth at {a}")
                for a in basin.assets
            )
        )

    # ------------------------------------------------------------------ life cycle
    def setup(self) -> None:
        basin = self.basin
        self.cascade = NashCascade(basin.catchment)
        self.pool = LevelPool(basin.stage_storage, basin.outlet, basin.initial_level_m)
        self.floodplain = Floodplain(basin.floodplain)
        self._fp_index = basin.gauges.index(basin.floodplain_gauge)
        self.channel: Channel | None = None
        self._gate_position = 0.0
        self._gate_command = 0.0
        self._rain = 0.0
        self._last_t: float | None = None
        self._gate_input: float | None = None
        self._gate_command = 0.0

    def step(self, t: float) -> float | None:
        if self._last_t is None:
            self._gate_command = self._read_gate()
            self._start()
        elif t > self._last_t:
            self._advance(self._last_t, t)
        self._gate_command = self._read_gate()
        self._last_t = t
        self._rain = self._read_rain(t)
        self._publish()
        return None

    # ------------------------------------------------------------------ synchronisation
    def correct(self, state: str, value: float) -> None:
        """Correct the pool level, or a gauge's discharge or stage, from a measurement (docs/synchronise.md).

        The level sets the stored volume (stage-storage table); a discharge shifts the outflows of the
        gauge's reach (every subreach by the same amount, none below zero) and becomes the next reach's
        inflow; a stage is turned into a discharge by the gauge's rating.
        """
        assert self.channel is not None, "corrections come after a step"
        if state == "reservoir_level":
            self.pool.storage = max(float(self.pool.table.storage(value)), 0.0)
        else:
            kind, _, gauge = state.partition(".")
            i = self.basin.gauges.index(gauge)
            router = self.channel.routers[i]
            target = router.reach.rating.discharge(value) if kind == "stage" else max(value, 0.0)
            shifted = router.outflows + (target - router.outflow)  # a ratio would blow up a near-dry reach
            router.outflows[:] = np.maximum(shifted, 0.0)
            router.outflows[-1] = target
            if i + 1 < len(self.channel.routers):
                self.channel.routers[i + 1].inflow = target
        self._publish()

    # ------------------------------------------------------------------ model
    def _start(self) -> None:
        """First grant: the gate stands at its first command; the river is in steady state."""
        self._gate_position = self._gate_command
        self.channel = Channel(self.basin.reaches, self.pool.outflow(self._gate_position))

    def _advance(self, t0: float, t1: float) -> None:
        assert self.channel is not None
        dt = t1 - t0
        rainfall = self.basin.rainfall
        rain = rainfall.mean_rate(t0, t1) if rainfall is not None else self._rain
        inflow = self.cascade.advance(rain, dt) / dt + self.basin.catchment.baseflow_m3s
        self.pool.route(inflow, dt, self._gate_position, self._gate_command)
        self._gate_position = self._gate_command
        overbank_start = self._overbank()
        self.channel.route(self.pool.outflow(self._gate_position), dt)
        self.floodplain.advance(dt, overbank_start, self._overbank())

    def _overbank(self) -> float:
        assert self.channel is not None
        return max(self.channel.discharges[self._fp_index] - self.basin.bankfull_m3s, 0.0)

    # ------------------------------------------------------------------ signals
    def _read_gate(self) -> float:
        """The commanded opening: a change of the ``gate`` input, then any ``gate_orders`` message."""
        value = self.inputs["gate"]
        if not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
            raise ValueError(f"input 'gate' must be an opening in [0, 1], got {value!r}")
        command = self._gate_command
        if value != self._gate_input:
            self._gate_input = command = float(value)
        for message in self.inbox:
            if message.endpoint == "gate_orders":
                command = _opening(message.payload, message.sender)
        return command

    def _read_rain(self, t: float) -> float:
        """Rain rate in force from ``t`` on (mm/h): the series' or the input's."""
        if self.basin.rainfall is not None:
            return self.basin.rainfall.rate(t)
        value = self.inputs["rain"]
        if not isinstance(value, (int, float)) or not (value >= 0.0 and math.isfinite(value)):
            raise ValueError(f"input 'rain' must be a finite rate >= 0 mm/h, got {value!r}")
        return float(value)

    def _publish(self) -> None:
        assert self.channel is not None
        out = self.outputs
        level = self.pool.level
        out["rain_rate"] = self._rain
        out["runoff"] = self.cascade.outflow
        out["reservoir_level"] = level
        out["reservoir_storage"] = self.pool.storage
        out["reservoir_release"] = self.pool.outflow(self._gate_position)
        out["spillway_flow"] = float(self.basin.outlet.spillway.discharge(np.asarray(level)))
        out["gate_position"] = self._gate_position
        for router in self.channel.routers:
            gauge, q = router.reach.gauge, router.outflow
            out[f"discharge.{gauge}"] = q
            out[f"stage.{gauge}"] = router.reach.rating.stage(q)
        for name, depth in self.floodplain.asset_depths().items():
            out[f"depth.{name}"] = depth
        out["overbank_flow"] = self._overbank()
        out["flooded_area"] = self.floodplain.flooded_area
        out["flood_volume"] = self.floodplain.volume


def _opening(payload: Any, sender: str) -> float:
    opening = payload.get("opening") if isinstance(payload, dict) else None
    if isinstance(opening, bool) or not isinstance(opening, (int, float)) or not 0.0 <= opening <= 1.0:
        raise ValueError(f"gate order from {sender}: expected {{opening: 0..1}}, got {payload!r}")
    return float(opening)
