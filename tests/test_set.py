"""``--set`` reaches every key under a federate's ``params:``, and its mistakes are blamed on it.

The rules (``federation/scenario/overrides.py``): FED.NAME sets a parameter; what follows NAME names an
entry in the parameter's mapping (created when missing), going into nested mappings only
where the scenario has them, else taken as one name (Modelica's ``J1.J``); a "quoted"
segment keeps its dots.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from federation.errors import ScenarioError
from federation.results.store import RunStore
from federation.scenario.loader import load
from federation.scenario.overrides import Override
from tests.conftest import write_scenario

pytestmark = pytest.mark.timeout(60)

MODELS = """
from federation import Federate, Output, Parameter


class Model(Federate):
    default_period = 1.0
    gain = Parameter(1.0)
    count = Parameter(3, type=int)
    parameters = Parameter(None, type=(dict, type(None)))
    y = Output()

    def step(self, t):
        self.y = self.gain * sum((self.parameters or {}).values())
"""


def scenario(tmp_path: Path, params: str = "{}") -> Path:
    (tmp_path / "models.py").write_text(MODELS)
    return write_scenario(tmp_path, f"""\
        time: {{stop: 2, resolution: 1 s}}
        federates:
          m:
            type: models.py:Model
            params: {params}
          bare: {{type: models.py:Model}}
        """)


def params_after(path: Path, *assignments: str) -> dict[str, object]:
    return dict(load(path, overrides=[Override.assignment(a) for a in assignments]).federates["m"].params)


def test_dotted_names_and_missing_mappings(tmp_path):
    path = scenario(tmp_path)
    assert params_after(path, "m.parameters.J1.J=3", "m.parameters.T2=0.7") == {"parameters": {"J1.J": 3, "T2": 0.7}}
    assert params_after(path, 'm.parameters."J1.J"=3') == {"parameters": {"J1.J": 3}}
    assert params_after(path, "m.parameters=null", "m.parameters.a=1") == {"parameters": {"a": 1}}
    bare = load(path, overrides=[Override.assignment("bare.parameters.x.y=2")]).federates["bare"].params
    assert bare == {"parameters": {"x.y": 2}}  # the file has no params: for it at all


def test_a_dot_goes_into_a_nested_mapping_only_where_the_file_has_one(tmp_path):
    path = scenario(tmp_path, "{parameters: {J1: {J: 1.0}, K: 2.0}}")
    assert params_after(path, "m.parameters.J1.J=3") == {"parameters": {"J1": {"J": 3}, "K": 2.0}}
    assert params_after(path, "m.parameters.K.x=3") == {"parameters": {"J1": {"J": 1.0}, "K": 2.0, "K.x": 3}}
    assert params_after(path, 'm.parameters."J1.J"=3') == {"parameters": {"J1": {"J": 1.0}, "K": 2.0, "J1.J": 3}}


def test_an_fmu_parameter_is_set_in_a_file_without_parameters(tmp_path):
    path = write_scenario(tmp_path, "time: {stop: 20}\nfederates:\n  pump: {type: fmu, params: {fmu: model.fmu}}\n")
    (tmp_path / "model.fmu").symlink_to(Path(__file__).resolve().parents[1] / "fmus" / "dist" / "PumpStation.fmu")
    spec = load(path, overrides=[Override.assignment("pump.parameters.area=30")]).federates["pump"]
    assert spec.params == {"fmu": "model.fmu", "parameters": {"area": 30}}


def problems(path: Path, *assignments: str) -> list[str]:
    with pytest.raises(ScenarioError) as info:
        load(path, overrides=[Override.assignment(a) for a in assignments])
    return [str(p) for p in info.value.problems]


def test_mistakes_in_set_values_are_blamed_on_the_command_line(tmp_path):
    path = scenario(tmp_path, "{gain: 2.0, count: 3}")
    assert problems(path, "m.gian=1", "m.gain=wide", "m.count.x=1", "m.count=100000000000000000000", "nobody.x=1",
                    'm."gain.x"=1', 'm.parameters.name="\\ud800"') == [  # fmt: skip
        "--set m.\"gain.x\"=1: federate 'm' has no parameter 'gain.x'; did you mean 'gain'?",
        "--set m.count.x=1: parameter 'count' holds int 3, not a mapping of entries; set it whole",
        "--set m.count=100000000000000000000: 100000000000000000000 is outside the range of 64-bit integers, "
        "the widest the wire carries (-2**63 to 2**64-1)",
        "--set m.gain=wide: wrong type: expected float, got str 'wide'",
        "--set m.gian=1: federate 'm' has no parameter 'gian'; did you mean 'gain'?",
        "--set m.parameters.name=\"\\ud800\": '\\ud800' is not valid Unicode text: lone surrogate U+D800",
        "--set nobody.x=1: no federate 'nobody'",
    ]


@pytest.mark.parametrize("text, message", [
    ("tank=1", "expected FED.PARAM=VALUE, got 'tank'"),
    ("tank.area", "expected FED.PARAM=VALUE, got 'tank.area'"),
    ("tank..area=1", "empty name in 'tank..area'"),
    ('tank."area=1', "expected FED.PARAM=VALUE"),
    ('tank."area"x=1', "expected a dot after 'area'"),
    ("tank.area=[1", "cannot read the value '[1' as YAML"),
    ("time.start=2026-12-02T25:00:00Z", r"cannot read the value '2026-12-02T25:00:00Z' as YAML \(hour must be in 0..23\)"),
])  # fmt: skip
def test_malformed_assignments_are_refused(text, message):
    with pytest.raises(ValueError, match=message.replace("[", r"\[")):
        Override.assignment(text)


def federation(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "federation.app.cli", *args], capture_output=True, text=True,
                          timeout=60, cwd=cwd)  # fmt: skip


def test_set_through_the_command_line(tmp_path):
    path = scenario(tmp_path, "{gain: 2.0}")
    out = tmp_path / "run.sqlite"
    result = federation("run", str(path), "--set", "m.gian=1", "--out", str(out), cwd=tmp_path)
    assert (result.returncode, result.stderr) == (2, "--set m.gian=1: federate 'm' has no parameter 'gian'; "
                                                     "did you mean 'gain'?\n")  # fmt: skip
    result = federation("run", str(path), "--out", str(out), "-q", "--set", "m.parameters.J1.J=3",
                        "--set", 'm.parameters."T2"=0.5', cwd=tmp_path)  # fmt: skip
    assert result.returncode == 0, result.stderr
    with RunStore(out) as store:
        assert store.series("m.y").values == (7.0,)


# ---------------------------------------------------------------------------- --set time.start
CLOCK = """\
    time: {%sstop: 3 h, resolution: 1 s}
    federates:
      m: {type: models.py:Model, period: 1 h}
    """


def clock(tmp_path: Path, start: str = "") -> Path:
    (tmp_path / "models.py").write_text(MODELS)
    return write_scenario(tmp_path, CLOCK % (f"start: {start}, " if start else ""), f"clock{len(start)}.yaml")


def loaded_time(path: Path, *assignments: str) -> tuple[float, float | None, bool]:
    spec = load(path, overrides=[Override.assignment(a) for a in assignments]).time
    return spec.start, spec.epoch, spec.start_now


@pytest.mark.parametrize("value", ["90", "90 min", "now", "2026-12-02T14:00:00Z", "2026-12-02T15:00:00+01:00"])
def test_set_time_start_is_read_as_the_scenario_key(tmp_path, value):
    """A duration, now, or an ISO-8601 instant: the same start, epoch and start_now as the key in the file."""
    assert loaded_time(clock(tmp_path), f"time.start={value}") == loaded_time(clock(tmp_path, value))


@pytest.mark.parametrize("value", ["soon", "nou", "-3", "2026-12-02", "[1, 2]"])
def test_a_bad_set_time_start_has_the_file_key_s_message_blamed_on_the_argument(tmp_path, value):
    (in_file,) = problems(clock(tmp_path, value))
    (by_set,) = problems(clock(tmp_path), f"time.start={value}")
    assert in_file.startswith(f"{tmp_path / f'clock{len(value)}.yaml'}:1:") and ": time.start: " in in_file
    assert by_set == f"--set time.start={value}: " + in_file.split(": time.start: ", 1)[1]


def test_a_quoted_time_segment_is_a_federate_named_time(tmp_path):
    assert problems(clock(tmp_path), '"time".start=5') == ["--set \"time\".start=5: no federate 'time'"]


def test_set_time_start_through_the_command_line(tmp_path):
    """The run starts at the --set start (its first step, its store's start); a fork refuses it."""
    out = tmp_path / "run.sqlite"
    result = federation("run", str(clock(tmp_path)), "--set", "time.start=2 h", "--out", str(out), "-q", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    with RunStore(out) as store:
        assert store.series("m.y").times == (7200.0,)  # its first step; the stop (3 h) is not stepped
        assert float(store.metadata()["start"]) == 7200.0
    result = federation("run", str(clock(tmp_path)), "--set", "time.start=4 h", "--out", str(out), cwd=tmp_path)
    assert result.returncode == 2 and "time.stop: must be after start (14400 s), got 10800 s" in result.stderr
    result = federation("fork", str(out), "--at", "2.5 h", "--set", "time.start=0", "--out", str(tmp_path / "f.sqlite"),
                        cwd=tmp_path)  # fmt: skip
    assert result.returncode == 2
    assert "--set time.start=0: a fork keeps its parent's time.start; it diverges at --at" in result.stderr
