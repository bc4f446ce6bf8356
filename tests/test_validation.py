"""`federation validate`: every problem at once, each as FILE:LINE: key.path: message."""

from __future__ import annotations

import subprocess
import sys

import pytest

from federation.errors import ScenarioError
from federation.scenario.loader import load
from tests.conftest import write_scenario

pytestmark = pytest.mark.timeout(60)

BROKEN = """\
time:
  stop: 10
  resolution: 1 ms
federates:
  tank:
    type: tank
    params:
      area: "wide"
      aera: 3
  ctrl:
    type: valve
  ghost:
    type: no_such_type
  cycle_a: {type: "{HELPERS}:Affine"}
  cycle_b: {type: "{HELPERS}:Affine"}
connections:
  - tank.levle -> ctrl.level
  - tank.outflow -> ctrl.level
  - tank.level -> nobody.level
  - cycle_a.y -> cycle_b.u
  - cycle_b.y -> cycle_a.u
"""


def _problems(tmp_path) -> list[str]:
    path = write_scenario(tmp_path, BROKEN)
    with pytest.raises(ScenarioError) as info:
        load(path)
    return [str(p).split(":", 1)[1] for p in info.value.problems]


def test_every_mistake_is_reported_with_its_line_and_column(tmp_path):
    problems = _problems(tmp_path)
    expected = [
        "8:7: federates.tank.params.area: wrong type: expected float, got str 'wide'",
        "9:7: federates.tank.params.aera: federate 'tank' has no parameter 'aera'; did you mean 'area'?",
        "13:5: federates.ghost.type: unknown federate type 'no_such_type'",
        "16:1: connections: cycle of direct connections: cycle_a -> cycle_b -> cycle_a",
        "17:5: connections[0]: federate 'tank' has no output 'levle'; did you mean 'level'?",
        "18:5: connections[1]: units do not convert: tank.outflow is in 'm3/s' but ctrl.level expects 'm' "
        "(cannot convert 'm3/s' to 'm': [length] ** 3 / [time] is not [length])",
        "18:5: connections[1]: input ctrl.level already has a source (connections[0])",
        "19:5: connections[2]: unknown federate 'nobody'",
    ]
    for want in expected:
        assert any(p.startswith(want) for p in problems), f"missing: {want}\ngot:\n" + "\n".join(problems)


def test_missing_required_parameter_and_bad_yaml(tmp_path):
    path = write_scenario(tmp_path, "time: {stop: 5}\nfederates:\n  m: {type: \"{HELPERS}:Pinger\", params: {schedule: 3}}\n")
    column = path.read_text().splitlines()[2].index("schedule") + 1  # after the helpers' path, whatever its length
    with pytest.raises(ScenarioError, match=rf"scenario.yaml:3:{column}: federates.m.params.schedule: wrong type: expected list"):
        load(path)
    bad = write_scenario(tmp_path, "time: {stop: 5\nfederates: {}\n", name="bad.yaml")
    with pytest.raises(ScenarioError, match=r"bad.yaml:2:10: invalid YAML"):
        load(bad)


def test_structure_errors_name_key_and_line(tmp_path):
    path = write_scenario(
        tmp_path,
        """\
        time: {stop: -1, resolution: fast}
        seed: many
        federates:
          a: {type: tank, period: "ten"}
        connections:
          - "a.level => b.x"
        extra: 1
        """,
    )
    with pytest.raises(ScenarioError) as info:
        load(path)
    text = str(info.value)
    for want in [
        "scenario.yaml:1:18: time.resolution: expected a duration",
        "scenario.yaml:1:8: time.stop: must be after start",
        "scenario.yaml:2:1: seed: expected a non-negative integer, got 'many'",
        "scenario.yaml:4:19: federates.a.period: expected a duration",
        "scenario.yaml:6:5: connections[0]: expected 'federate.name -> federate.name'",
        "scenario.yaml:7:1: extra: unknown key",
    ]:
        assert want in text, f"{want!r} not in:\n{text}"


def test_validate_command_prints_all_problems_and_fails(tmp_path):
    path = write_scenario(tmp_path, BROKEN)
    result = subprocess.run([sys.executable, "-m", "federation.app.cli", "validate", str(path)],
                            capture_output=True, text=True, timeout=60)  # fmt: skip
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.startswith(str(path))]
    assert len(lines) >= 8
    assert "Traceback" not in result.stderr


def test_shipped_scenarios_validate(shipped_fmus):
    from pathlib import Path

    for path in sorted(Path(__file__).resolve().parents[1].glob("scenarios/*.yaml")):
        load(path)
