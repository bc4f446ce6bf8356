"""FMUs inside a running federation: the same results as fmpy, iterate groups, crashes.

The project's FMUs are built from their C sources for this test session (fmus/build.py).
"""

from __future__ import annotations

import math
import os
import signal
import threading
import time
from pathlib import Path

import fmpy
import numpy as np
import pytest

from federation.engine.coordinator import Coordinator, RunOptions
from federation.errors import FederateError, ScenarioError
from federation.scenario.loader import load
from tests.conftest import write_scenario

pytestmark = pytest.mark.timeout(90)


@pytest.fixture(scope="module")
def fmus(shipped_fmus: list[Path]) -> dict[str, Path]:
    """The project's FMUs, as the session built them into fmus/dist (read only: edited copies go to tmp_path)."""
    return {p.stem: p for p in shipped_fmus}


def held(series, times: list[float]) -> list:
    """Sample-and-hold reading of a recorded (changes-only) series at ``times``."""
    out, k, value = [], 0, None
    for t in times:
        while k < len(series.times) and series.times[k] <= t:
            value = series.values[k]
            k += 1
        out.append(value)
    return out


def test_cs_fmu_fed_by_another_federate_matches_fmpy(run_scenario, fmus):
    """FMI 2 CS spillway gate driven through the federation == fmpy.simulate_fmu, bit for bit.

    The run's stop is fmpy's stop_time: both give the values at 3600 s (the run covers stop).
    """
    _, store = run_scenario(f"""
        time: {{stop: 3600, resolution: 1 ms}}
        federates:
          waves: {{type: "{{HELPERS}}:Waves"}}
          gate:
            type: fmu
            params:
              fmu: {fmus['SpillwayGate']}
              parameters: {{kp: 0.8, ki: 0.002, gate_name: main}}
        connections:
          - waves.level -> gate.reservoir_level
          - waves.stage -> gate.downstream_stage
        """)
    times = [10.0 * k for k in range(361)]
    level = [100.0 + 3.5 * math.sin(t / 400.0) for t in times]
    stage = [2.0 + 3.5 * t / 3600.0 for t in times]
    signal_in = np.array(list(zip(times, level, stage)),
                         dtype=[("time", float), ("reservoir_level", float), ("downstream_stage", float)])  # fmt: skip
    ref = fmpy.simulate_fmu(str(fmus["SpillwayGate"]), stop_time=3600, output_interval=10.0, input=signal_in,
                            start_values={"kp": 0.8, "ki": 0.002, "gate_name": "main"},
                            output=["gate_opening", "demand", "mode"])  # fmt: skip
    rows = [int(np.flatnonzero(np.isclose(ref["time"], t, rtol=0, atol=1e-9))[-1]) for t in times]
    assert ref["time"][-1] == 3600.0 and times[-1] == 3600.0
    for name in ("gate_opening", "demand", "mode"):
        assert held(store.series(f"gate.{name}"), times) == ref[name][rows].tolist(), name
    assert store.series("gate.gate_opening").times[-1] == 3600.0  # computed at stop, not held from 3590
    assert set(held(store.series("gate.mode"), times)) == {0, 1}


def _loop(generator: str) -> str:
    return f"""
        time: {{stop: 60, resolution: 1 ms}}
        federates:
          diesel: {generator}
          building: {{type: "{{HELPERS}}:Bus", params: {{base: 200.0, share: 0.5}}}}
        connections:
          - {{from: diesel.power, to: building.power, iterate: site}}
          - {{from: building.load, to: diesel.load, iterate: site}}
        iterate:
          site: {{tolerance: 1.0e-9, max_iterations: 100}}
        events:
          - {{at: 0, set: diesel.grid_available, value: false}}
        """


def test_fmu_in_an_iterate_group_reaches_the_python_twins_fixed_point(run_scenario, fmus):
    """diesel: p = min(load, 500) while running; building: load = 200 + 0.5 p  =>  p = 400 kW."""
    fmu = f"{{type: fmu, period: 10, params: {{fmu: {fmus['DieselGenerator']}, outputs: [power, running]}}}}"
    summary, store = run_scenario(_loop(fmu), name="fmu.yaml")
    twin_summary, twin = run_scenario(_loop('{type: "{HELPERS}:DieselTwin"}'), name="twin.yaml")
    assert store.series("diesel.power").values[-1] == pytest.approx(400.0, abs=1e-8)
    assert held(store.series("diesel.power"), [0, 10, 20, 50]) == pytest.approx(
        held(twin.series("diesel.power"), [0, 10, 20, 50]), abs=1e-8)
    assert summary.grants["diesel"] > 20  # re-stepped from saved FMU states


def test_iterate_group_with_an_fmu_that_cannot_save_state_is_refused(tmp_path, fmus):
    """A clear scenario error when an FMU without get/set FMU state is put in an iterate group."""
    import zipfile

    stateless = tmp_path / "Stateless.fmu"
    with zipfile.ZipFile(fmus["DieselGenerator"]) as src, zipfile.ZipFile(stateless, "w") as dst:
        for item in src.infolist():
            data = src.read(item)
            if item.filename == "modelDescription.xml":
                data = data.replace(b'canGetAndSetFMUState="true"', b'canGetAndSetFMUState="false"')
            dst.writestr(item, data)
    generator = f"{{type: fmu, period: 10, params: {{fmu: {stateless}, outputs: [power, running]}}}}"
    with pytest.raises(ScenarioError, match=r"iterate\.site: member 'diesel' cannot save and restore its state"):
        load(write_scenario(tmp_path, _loop(generator)))


def test_killing_an_fmu_federate_ends_the_run_naming_it(tmp_path, fmus):
    scenario = load(write_scenario(tmp_path, f"""
        time: {{stop: 1000000, resolution: 1 ms}}
        federates:
          waves: {{type: "{{HELPERS}}:Waves"}}
          gate: {{type: fmu, params: {{fmu: {fmus['SpillwayGate']}}}}}
        connections:
          - waves.level -> gate.reservoir_level
        """))
    coordinator = Coordinator(scenario, RunOptions(out=tmp_path / "kill.sqlite"))
    errors: list[BaseException] = []

    def run() -> None:
        try:
            coordinator.run()
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            errors.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while coordinator.scheduler.slots[1].grants < 50 and time.monotonic() < deadline:
        time.sleep(0.01)
    os.kill(coordinator.launcher.children["gate"].process.pid, signal.SIGKILL)
    killed_at = time.monotonic()
    thread.join(30)
    assert isinstance(errors[0], FederateError)
    assert errors[0].federate == "gate"
    assert "process killed by signal 9" in str(errors[0])
    assert time.monotonic() - killed_at < 5
