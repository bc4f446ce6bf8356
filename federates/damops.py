"""Dam operations: watches the reservoir and the river, proposes gate orders.

The operator combines three things each step:

* the automatic gate controller's recommendation (e.g. the project's SpillwayGate FMU,
  a PI controller holding the pool at its target), converted from metres of opening to
  a fraction of the gate height;
* a *pre-release* rule: when the inflow forecast -- the current inflow extrapolated
  along its trend over ``horizon_h`` -- would lift the pool above
  ``crest_m - freeboard_m``, open at least ``prerelease_opening``, until the forecast
  and the pool are ``hysteresis_m`` below that trigger again;
* a *downstream limit*: while the city gauge is above ``stage_limit_m``, do not open
  further than ``limited_opening`` (unless the pool is above the crest: dam safety first).

When the result differs from the last order by ``min_change`` or more, it is sent on the
``orders`` endpoint as ``{"opening": x, "reason": ...}``.  Scenarios usually route it to
the flood federate's ``gate_orders`` and declare ``damops.orders`` as needing approval,
so that a human (level 4) or a policy (level 5) confirms each order before it acts.
"""

from __future__ import annotations

from federation import Endpoint, Federate, Input, Output, Parameter, PayloadField

__all__ = ["DamOperations"]


class DamOperations(Federate):
    default_period = 300.0

    gate_height_m = Parameter(4.0, unit="m", doc="gate height: converts the controller's opening to a fraction")
    crest_m = Parameter(101.0, unit="m", doc="spillway crest elevation")
    freeboard_m = Parameter(0.5, unit="m", doc="margin below the crest that triggers pre-release")
    surface_km2 = Parameter(4.4, unit="km2", doc="reservoir surface area near the crest (for the forecast)")
    horizon_h = Parameter(6.0, unit="h", doc="look-ahead of the inflow forecast")
    prerelease_opening = Parameter(0.6, doc="gate fraction opened when the forecast threatens the crest")
    stage_limit_m = Parameter(4.0, unit="m", doc="city gauge stage above which the gate is not opened further")
    limited_opening = Parameter(0.3, doc="largest opening while the city gauge is above its limit")
    min_change = Parameter(0.05, doc="smallest change of opening worth an order")
    hysteresis_m = Parameter(1.0, unit="m", doc="pre-release ends when the forecast is this far below its trigger")

    reservoir_level = Input(unit="m", default=0.0, doc="pool elevation")
    inflow = Input(unit="m3/s", default=0.0, doc="inflow into the reservoir")
    release = Input(unit="m3/s", default=0.0, doc="current release")
    downstream_stage = Input(unit="m", default=0.0, doc="stage at the city gauge")
    recommended_opening = Input(unit="m", default=0.0, doc="the automatic controller's gate opening")

    forecast_level = Output(unit="m", doc="pool level the forecast expects at the horizon")
    proposed_opening = Output(doc="last opening proposed (0..1)")
    orders_sent = Output(type=int, default=0, doc="orders proposed so far")
    orders = Endpoint(doc="gate orders {opening, reason, level, forecast}", fields={
        "opening": PayloadField(float, low=0.0, high=1.0, doc="gate fraction to open"),
        "reason": PayloadField(str, doc="why the order is given"),
        "level": PayloadField(float, doc="pool elevation when the order was given (m)"),
        "forecast": PayloadField(float, doc="pool level the forecast expects at the horizon (m)"),
    })  # fmt: skip

    def setup(self) -> None:
        self._last_inflow: float | None = None
        self._last_t = self.context.start
        self._ordered: float | None = None
        self._prereleasing = False

    def step(self, t: float) -> None:
        forecast = self._forecast(t)
        self.forecast_level = forecast
        opening, reason = self._decide(forecast)
        if self._ordered is None or abs(opening - self._ordered) >= self.min_change:
            self._ordered = opening
            self.proposed_opening = opening
            self.orders_sent += 1
            self.send("orders", {"opening": round(opening, 3), "reason": reason,
                                 "level": round(self.reservoir_level, 3), "forecast": round(forecast, 3)})  # fmt: skip
        return None

    def _forecast(self, t: float) -> float:
        """Pool level after the horizon if inflow follows its trend and the release stays."""
        dt = t - self._last_t
        trend = (self.inflow - self._last_inflow) / dt if self._last_inflow is not None and dt > 0 else 0.0
        self._last_inflow, self._last_t = self.inflow, t
        horizon = self.horizon_h * 3600.0
        mean_inflow = max(0.0, self.inflow + 0.5 * trend * horizon)
        return self.reservoir_level + (mean_inflow - self.release) * horizon / (self.surface_km2 * 1e6)

    def _decide(self, forecast: float) -> tuple[float, str]:
        opening = min(max(self.recommended_opening / self.gate_height_m, 0.0), 1.0)
        reason = "controller"
        trigger = self.crest_m - self.freeboard_m
        if forecast > trigger:
            self._prereleasing = True
        elif forecast < trigger - self.hysteresis_m and self.reservoir_level < trigger:
            self._prereleasing = False
        if self._prereleasing and opening < self.prerelease_opening:
            opening, reason = self.prerelease_opening, f"pre-release: forecast {forecast:.2f} m"
        safety = self.reservoir_level > self.crest_m
        if self.downstream_stage > self.stage_limit_m and opening > self.limited_opening and not safety:
            opening, reason = self.limited_opening, f"city gauge at {self.downstream_stage:.2f} m"
        return opening, reason
