"""Bad parameter values: every one reported at once, each at the line of its parameter."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from federation import ParameterCheck, ParameterError
from tests.conftest import write_scenario

pytestmark = pytest.mark.timeout(120)

DOMAIN = """\
time: {stop: 1 h, resolution: 1 s}
federates:
  hospital:
    type: hospital
    params:
      ward_beds: 0
      icu_stay: -3
      surge_icu_fraction: 2
  plant:
    type: factory
    params:
      processing_times: [60.0, -1.0]
      mtbf: [100.0]
      restart_delay: -5
  grid:
    type: grid
    params:
      substations:
        north: {buses: [16], threshold_m: -1}
      load_inputs: [99]
      load_power_factor: 0
  flood:
    type: flood
    params:
      catchment_area_km2: -5
      reaches:
        - {gauge: bridge, k_s: 0, x: 0.2}
      assets: {depot: 9000.0}
  cyber:
    type: cyber
    params:
      substations: [north, south]
      beta: -1
      entry_points: [nobody]
"""

EXPECTED = [
    ("6:7", "federates.hospital.params.ward_beds", "must be an integer >= 1, got 0"),
    ("7:7", "federates.hospital.params.icu_stay", "must be > 0 and finite, got -3"),
    ("8:7", "federates.hospital.params.surge_icu_fraction", "must be in [0, 1], got 2"),
    ("12:7", "federates.plant.params.processing_times", "must be > 0 for every machine, got [60.0, -1.0]"),
    ("13:7", "federates.plant.params.mtbf", "has 1 values for 2 machines: [100.0]"),
    ("14:7", "federates.plant.params.restart_delay", "must be >= 0, got -5"),
    ("19:30", "federates.grid.params.substations.north.threshold_m", "expected a depth >= 0 in m, got -1"),
    ("20:7", "federates.grid.params.load_inputs", "bus 99 is not in case39"),
    ("21:7", "federates.grid.params.load_power_factor", "expected 0 < pf <= 1, got 0"),
    ("25:7", "federates.flood.params.catchment_area_km2", "must be > 0, got -5"),
    ("27:27", "federates.flood.params.reaches[0].k_s", "must be > 0 s, got 0"),
    ("28:16", "federates.flood.params.assets.depot", "chainage 9000 m is outside the floodplain profile [0, 4000] m"),
    ("33:7", "federates.cyber.params.beta", "expected a finite rate >= 0 (1/s), got -1"),
    ("34:7", "federates.cyber.params.entry_points", "unknown node 'nobody'"),
]


def validate(scenario: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "federation.app.cli", "validate", str(scenario)], capture_output=True,
                          text=True, timeout=90, cwd=scenario.parent)  # fmt: skip


def test_the_domain_federates_report_every_bad_parameter_each_at_its_own_line(tmp_path):
    scenario = write_scenario(tmp_path, DOMAIN)
    result = validate(scenario)
    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stderr.splitlines()
    for line, path, message in EXPECTED:
        assert f"{scenario}:{line}: {path}: {message}" in lines, (path, result.stderr)
    assert lines[-1] == f"{scenario}: {len(EXPECTED)} problem(s)"
    assert "parameter '" not in result.stderr  # the location names the parameter; the message does not repeat it


def test_a_federate_s_own_problems_come_with_the_framework_s_type_and_name_checks(tmp_path):
    """A user federate refusing values through ParameterCheck; a typo and a wrong type are reported too."""
    (tmp_path / "pump.py").write_text('''
from federation import Federate, Output, Parameter, ParameterCheck


class Pump(Federate):
    default_period = 60.0
    capacity = Parameter(1.0, unit="m3/s")
    head = Parameter(10.0, unit="m")
    stages = Parameter(1, type=int)
    flow = Output(unit="m3/s")

    @classmethod
    def declare(cls, params):
        check = ParameterCheck()
        for name in ("capacity", "head"):
            value = params.get(name, 1.0)
            if isinstance(value, (int, float)) and value <= 0:
                check.fail(name, f"must be > 0, got {value!r}")
        check.done()
        return super().declare(params)

    def step(self, t):
        self.flow = self.capacity
''')
    scenario = write_scenario(tmp_path, """
        time: {stop: 1 h, resolution: 1 s}
        federates:
          pump:
            type: "pump.py:Pump"
            params:
              capacity: -1.0
              head: 0
              stages: two
              stagez: 2
        """)
    result = validate(scenario)
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.splitlines() == [
        f"{scenario}:7:7: federates.pump.params.capacity: must be > 0, got -1.0",
        f"{scenario}:8:7: federates.pump.params.head: must be > 0, got 0",
        f"{scenario}:9:7: federates.pump.params.stages: wrong type: expected int, got str 'two'",
        f"{scenario}:10:7: federates.pump.params.stagez: federate 'pump' has no parameter 'stagez'; did you mean 'stages'?",
        f"{scenario}: 4 problem(s)",
    ]


def test_a_check_places_the_problems_of_a_nested_part_inside_its_key():
    def entry(value: object) -> float:
        inner = ParameterCheck()
        inner.fail("k_s", f"must be > 0, got {value!r}")
        inner.done()
        return 0.0

    check = ParameterCheck()
    assert check.build(("reaches", 2), entry, -1) is None
    assert check.build("rainfall", lambda: float("x")) is None  # a plain ValueError lands at the key
    assert not check.ok("reaches") and not check.ok(("reaches", 2)) and check.ok(("reaches", 1), "cfl")
    with pytest.raises(ParameterError) as info:
        check.done()
    assert [(p.key, p.message) for p in info.value.problems] == [
        (("reaches", 2, "k_s"), "must be > 0, got -1"),
        (("rainfall",), "could not convert string to float: 'x'"),
    ]
    assert str(info.value) == ("parameter 'reaches[2].k_s': must be > 0, got -1; "
                               "parameter 'rainfall': could not convert string to float: 'x'")  # fmt: skip


def test_a_grid_case_file_is_read_beside_the_scenario_when_its_buses_are_checked(tmp_path):
    """declare() now loads the case to check bus numbers, so a relative case path must not depend on the cwd."""
    from federates.grid.case import DATA_DIR

    folder = tmp_path / "scenario"
    folder.mkdir()
    (folder / "mycase.m").write_text((DATA_DIR / "case14.m").read_text())
    scenario = write_scenario(folder, """
        time: {stop: 1 h, resolution: 1 s}
        federates:
          grid: {type: grid, params: {case: mycase.m, load_inputs: [14, 99]}}
        """)
    result = subprocess.run([sys.executable, "-m", "federation.app.cli", "validate", str(scenario)], capture_output=True,
                            text=True, timeout=90, cwd=tmp_path)  # fmt: skip
    assert result.returncode == 2 and "federates.grid.params.load_inputs: bus 99 is not in" in result.stderr, \
        result.stderr  # fmt: skip
    assert "cannot read case file" not in result.stderr
