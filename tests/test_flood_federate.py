"""The flood federate on its own: interface, a storm through the basin, determinism."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import pytest

from federates.flood import FloodFederate
from federation.api.federate import Context

PERIOD = 300.0
HOUR = 3600.0
STORM = [[1 * HOUR, 25.0], [7 * HOUR, 0.0]]  # 25 mm/h for 6 h


def make(params: dict[str, Any] | None = None, stop: float = 24 * HOUR) -> FloodFederate:
    context = Context(name="flood", seed=7, start=0.0, stop=stop, resolution=1e-3, period=PERIOD)
    federate = FloodFederate(params or {}, context)
    federate.setup()
    return federate


def run(
    federate: FloodFederate, hours: float, gate: Callable[[float], float] = lambda t: 0.2
) -> list[dict[str, Any]]:
    history = []
    for k in range(int(hours * HOUR / PERIOD) + 1):
        t = k * PERIOD
        federate.inputs["gate"] = gate(t)
        federate.step(t)
        history.append({"t": t, **federate.outputs})
    return history


def open_at_ten(t: float) -> float:
    return 1.0 if t >= 10 * HOUR else 0.2


def test_declaration_has_an_output_per_asset_and_gauge() -> None:
    decl = FloodFederate.declare({})
    outputs = {o.name: o.unit for o in decl.outputs}
    for asset in ("substation_a", "substation_b", "factory", "hospital_a", "hospital_b", "telecom_a"):
        assert outputs[f"depth.{asset}"] == "m"
    for gauge in ("bridge", "city"):
        assert outputs[f"stage.{gauge}"] == "m"
        assert outputs[f"discharge.{gauge}"] == "m3/s"
    assert outputs["reservoir_level"] == "m" and outputs["flooded_area"] == "m2"
    assert {i.name for i in decl.inputs} == {"gate", "rain"}
    assert FloodFederate.default_period == 300.0


def test_a_rainfall_series_replaces_the_rain_input() -> None:
    """The documented rule: with 'rainfall' given, there is no 'rain' input to connect."""
    decl = FloodFederate.declare({"rainfall": STORM, "assets": {"clinic": 100.0}})
    assert {i.name for i in decl.inputs} == {"gate"}
    assert [o.name for o in decl.outputs if o.name.startswith("depth.")] == ["depth.clinic"]


def test_rain_input_and_rainfall_series_give_the_same_run() -> None:
    """The rain input at t is held over [t, t + period]; the series is averaged over the
    same interval: a step-wise storm on either path gives bit-identical outputs."""
    series = make({"rainfall": [[0.0, 20.0], [3 * HOUR, 0.0]]})
    fed_input = make()
    for k in range(int(6 * HOUR / PERIOD) + 1):
        t = k * PERIOD
        fed_input.inputs["rain"] = 20.0 if t < 3 * HOUR else 0.0
        series.step(t)
        fed_input.step(t)
        assert series.outputs == fed_input.outputs
    assert fed_input.outputs["runoff"] > 100.0


def test_storm_fills_the_reservoir_and_floods_the_city() -> None:
    """A 6 h, 25 mm/h storm: the pool rises over the spillway crest, the routed flood
    exceeds bankfull at the city, and low-lying assets get wet while the hospital on
    higher ground stays dry."""
    history = run(make({"rainfall": STORM}), 24, open_at_ten)
    at = {round(h["t"] / HOUR, 4): h for h in history}
    assert max(h["reservoir_level"] for h in history) > 102.5 > at[0.0]["reservoir_level"]
    assert max(h["spillway_flow"] for h in history) > 200.0
    assert all(at[6.0][f"depth.{a}"] == 0.0 for a in ("factory", "telecom_a", "substation_b"))
    peak = {
        a: max(h[f"depth.{a}"] for h in history)
        for a in ("factory", "telecom_a", "substation_b", "hospital_a")
    }
    assert peak["factory"] > 1.0 and peak["telecom_a"] > 1.0 and peak["substation_b"] > 0.5, peak
    assert peak["hospital_a"] == 0.0, peak
    assert max(h["flooded_area"] for h in history) > 0.5e6
    assert max(h["discharge.city"] for h in history) > 400.0
    stage = max(h["stage.city"] for h in history)
    assert stage > at[0.0]["stage.city"] + 1.5


def test_opening_the_gate_increases_the_release_one_step_later() -> None:
    """The gate travels to the commanded opening over the next step: the release and the
    reported gate position change one period after the command."""
    history = run(make({"rainfall": STORM}), 11, open_at_ten)
    k = int(10 * HOUR / PERIOD)
    before, after = history[k], history[k + 1]
    assert before["gate_position"] == 0.2 and after["gate_position"] == 1.0
    assert after["reservoir_release"] - after["spillway_flow"] > 3 * (
        before["reservoir_release"] - before["spillway_flow"]
    )
    assert after["reservoir_release"] > before["reservoir_release"] + 100.0
    kept = run(make({"rainfall": STORM}), 11)
    assert kept[k + 1]["reservoir_release"] < after["reservoir_release"] - 100.0


def test_the_basin_conserves_water() -> None:
    """Rain excess + baseflow = water in catchment, reservoir and river + what passed the
    last gauge (trapezoidal volumes between steps), to 1e-9 of the storm volume."""
    federate = make({"rainfall": STORM})
    storage0 = federate.pool.storage
    history = run(federate, 24, open_at_ten)
    assert federate.channel is not None
    passed = sum(
        0.5 * PERIOD * (a["discharge.city"] + b["discharge.city"]) for a, b in itertools.pairwise(history)
    )
    channel0 = 0.0  # initial steady state: storage K * Q0 per reach
    for router in federate.channel.routers:
        channel0 += router.reach.k_s * history[0]["reservoir_release"]
    catchment = federate.basin.catchment
    rain = (
        catchment.runoff_coefficient
        * catchment.area_km2
        * 1e6
        * federate.basin.rainfall.depth(24 * HOUR)
        / 1e3
    )
    volume_in = rain + catchment.baseflow_m3s * 24 * HOUR
    held = (
        federate.cascade.volume + (federate.pool.storage - storage0) + (federate.channel.storage - channel0)
    )
    assert held + passed == pytest.approx(volume_in, rel=1e-9)


def test_runs_are_deterministic() -> None:
    """Same parameters, same inputs: bit-identical outputs."""
    assert run(make({"rainfall": STORM}), 14, open_at_ten) == run(make({"rainfall": STORM}), 14, open_at_ten)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"assets": {"depot": 9000.0}}, "'assets.depot': chainage 9000 m is outside"),
        ({"assets": {"bad name": 100.0}}, "must be an identifier"),
        ({"reaches": [{"gauge": "a", "x": 0.2}]}, "'reaches\\[0\\]': missing key 'k_s'"),
        ({"reaches": [{"gauge": "a", "k_s": "1h", "x": 0.2}]}, "'reaches\\[0\\].k_s': must be a finite number"),
        ({"catchment_area_km2": "big"}, "'catchment_area_km2': must be a finite number, got 'big'"),
        ({"floodplain_gauge": "nowhere"}, "'floodplain_gauge': 'nowhere' is not one of the gauges"),
        ({"reservoir_level_m": 200.0}, "'reservoir_level_m': level 200.0 m is outside"),
    ],
)
def test_bad_parameters_name_the_parameter(params: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make(params)


def test_gate_outside_zero_one_is_an_error() -> None:
    federate = make()
    federate.inputs["gate"] = 1.5
    with pytest.raises(ValueError, match="input 'gate' must be an opening in \\[0, 1\\], got 1.5"):
        federate.step(0.0)
