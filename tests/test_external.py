"""A federate started by hand (`federation join`) takes its place under its scenario name."""

from __future__ import annotations

import subprocess
import sys
import threading

import pytest

from federation.engine.coordinator import Coordinator, RunOptions
from federation.errors import FederateError
from federation.results.store import RunStore
from federation.scenario.loader import load
from tests.conftest import write_scenario

pytestmark = pytest.mark.timeout(60)

SCENARIO = """
time: {stop: 5, resolution: 1 s}
federates:
  clock: {type: "{HELPERS}:Clock"}
  probe: {type: "{HELPERS}:Probe", external: true}
connections:
  - clock.y -> probe.u
"""


def test_join_from_the_command_line(tmp_path):
    scenario = load(write_scenario(tmp_path, SCENARIO))
    coordinator = Coordinator(scenario, RunOptions(out=tmp_path / "ext.sqlite", join_timeout=30))
    result: dict = {}
    thread = threading.Thread(target=lambda: result.setdefault("summary", coordinator.run()), daemon=True)
    thread.start()
    joined = subprocess.run(
        [sys.executable, "-m", "federation.app.cli", "join", "--coordinator", coordinator.address, "--federate", "probe",
         "--token", coordinator.join_token("probe")],
        capture_output=True, text=True, timeout=45,
    )  # fmt: skip
    thread.join(30)
    assert joined.returncode == 0, joined.stderr
    assert result["summary"].status == "completed"
    with RunStore(tmp_path / "ext.sqlite") as store:
        assert list(store.series("probe.obs").values) == [[t, t] for t in (0.0, 1.0, 2.0, 3.0, 4.0, 5.0)]


def test_missing_external_federate_times_out_with_a_hint(tmp_path):
    scenario = load(write_scenario(tmp_path, SCENARIO))
    with pytest.raises(FederateError, match=r"federate 'probe' while joining: did not join within 1 s \(start it with: federation join --coordinator tcp://127.0.0.1:\d+ --federate probe --token TOKEN, TOKEN as printed when the run started\)"):
        Coordinator(scenario, RunOptions(out=tmp_path / "ext.sqlite", join_timeout=1.0)).run()
