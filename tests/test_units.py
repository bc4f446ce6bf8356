"""Unit conversion on connections: kW into MW, degrees Celsius into kelvin, an FMU's own unit definitions.

The conversion is worked out once per connection when the run is planned (pint, or the FMU's
``unitDefinitions``) and applied by the coordinator as ``value * scale + offset``; incompatible
dimensions are a scenario error that names the connection's line and both units.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from federation.errors import ScenarioError
from federation.scenario.loader import load
from federation.units import UnitDefinition, conversion
from tests.conftest import write_scenario

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def fmus(shipped_fmus: list[Path]) -> dict[str, Path]:
    """The project's FMUs, as the session built them into fmus/dist (read only)."""
    return {p.stem: p for p in shipped_fmus}

SOURCE = '{type: formula, period: 1, params: {outputs: {p: {expr: "1500 + 250 * t", unit: kW}, temp: {expr: "20 + t", unit: degC}}}}'


def test_connected_signals_are_converted_into_the_consumers_units(run_scenario):
    _, store = run_scenario(f"""
time: {{stop: 3, resolution: 1 ms}}
federates:
  source: {SOURCE}
  sink:
    type: formula
    period: 1
    params:
      inputs: {{p: {{unit: MW, default: 0.0}}, temp: {{unit: K, default: 0.0}}}}
      outputs: {{p_seen: {{expr: p, unit: MW}}, temp_seen: {{expr: temp, unit: K}}}}
connections:
  - source.p -> sink.p
  - {{from: source.temp, to: sink.temp, delay: true}}
""")
    assert store.series("sink.p_seen").values == pytest.approx([1.5, 1.75, 2.0, 2.25], rel=1e-15)
    assert store.series("source.p").values == (1500.0, 1750.0, 2000.0, 2250.0)  # recorded in the producer's unit
    temp = store.series("sink.temp_seen")
    assert temp.values == pytest.approx([0.0, 293.15, 294.15, 295.15], rel=1e-15)  # the default is not converted


def test_an_fmu_converts_with_its_own_unit_definitions(run_scenario, fmus):
    """DieselGenerator defines kW (kg m2 s-3, factor 1000); a load in MW goes in, its power comes out in W."""
    _, store = run_scenario(f"""
time: {{stop: 20, resolution: 1 ms}}
federates:
  demand: {{type: formula, period: 10, params: {{outputs: {{load: {{expr: "0.3 + 0.001 * t", unit: MW}}}}}}}}
  diesel: {{type: fmu, period: 10, params: {{fmu: {fmus['DieselGenerator']}, outputs: [power]}}}}
  meter:
    type: formula
    params:
      inputs: {{power: {{unit: W, default: 0.0}}}}
      outputs: {{watts: {{expr: power, unit: W}}}}
connections:
  - demand.load -> diesel.load
  - diesel.power -> meter.power
events:
  - {{at: 0, set: diesel.grid_available, value: false}}
""")
    assert store.series("diesel.power").values[-1] == pytest.approx(320.0, rel=1e-12)  # kW
    assert store.series("meter.watts").values[-1] == pytest.approx(320_000.0, rel=1e-12)


def test_incompatible_dimensions_are_an_error_naming_the_connection_and_both_units(tmp_path):
    path = write_scenario(tmp_path, f"""
time: {{stop: 3}}
federates:
  source: {SOURCE}
  sink: {{type: formula, params: {{inputs: {{x: {{unit: m}}}}, outputs: {{y: {{expr: x, unit: m}}}}}}}}
connections:
  - source.p -> sink.x
""")
    with pytest.raises(ScenarioError) as err:
        load(path)
    assert f"{path}:7:5: connections[0]: units do not convert: source.p is in 'kW' but sink.x expects 'm' " in str(err.value)


def test_fmi_unit_definitions_and_pint_units_convert_into_each_other():
    litres_per_hour = UnitDefinition("L/h", (0, 3, -1, 0, 0, 0, 0, 0), 1e-3 / 3600)
    kelvin_named_degc = UnitDefinition("degC", (0, 0, 0, 0, 1, 0, 0, 0), 1.0, 273.15)
    assert conversion("L/h", "m3/s", {"L/h": litres_per_hour}).scale == pytest.approx(1e-3 / 3600, rel=1e-15)
    assert conversion("L/h", "L/h", {"L/h": litres_per_hour}).identity
    to_f = conversion("degC", "degF", {"degC": kelvin_named_degc})
    assert (to_f(0.0), to_f(100.0)) == pytest.approx((32.0, 212.0), rel=1e-12)
    with pytest.raises(ValueError, match=r"cannot convert 'L/h' to 'kW': m\^3·s\^-1 is not kg·m\^2·s\^-3"):
        conversion("L/h", "kW", {"L/h": litres_per_hour})
