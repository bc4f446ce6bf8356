"""The command line as a user runs it: subprocesses, exit codes, files written."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from federation.results.store import RunStore
from tests.conftest import ROOT, write_scenario

pytestmark = pytest.mark.timeout(120)

EXAMPLE = ROOT / "scenarios" / "rain-tank.yaml"


def federation(*args: str, cwd: Path | None = None, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "federation.app.cli", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=cwd)  # fmt: skip


def test_run_example_and_summary(tmp_path):
    out = tmp_path / "rt.sqlite"
    result = federation("run", str(EXAMPLE), "--out", str(out), "--until", "6 h", "--set", "tank.area=120")
    assert result.returncode == 0, result.stderr
    assert "rain-tank: completed" in result.stdout
    assert "steps per federate: rain 361, tank 361, control 73" in result.stdout  # 0 .. 6 h, stop included
    with RunStore(out) as store:
        meta = store.metadata()
        assert meta["status"] == "completed" and meta["seed"] == "7"
        assert "tank:" in meta["scenario_text"]


def test_export_and_plot(tmp_path):
    out = tmp_path / "rt.sqlite"
    assert federation("run", str(EXAMPLE), "--out", str(out), "--until", "2 h", "-q").returncode == 0
    result = federation("export", str(out), "--csv", str(tmp_path / "csv"))
    assert result.returncode == 0, result.stderr
    header = (tmp_path / "csv" / "tank.csv").read_text().splitlines()[0]
    assert header == "time_s,level [m],outflow [m3/s]"
    assert (tmp_path / "csv" / "samples.csv").stat().st_size > 1000
    png = tmp_path / "fig.png"
    result = federation("plot", str(out), "tank.level", "control.opening", "-o", str(png))
    assert result.returncode == 0, result.stderr
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    listing = federation("plot", str(out))
    assert "tank.level  [m]  float" in listing.stdout


def test_graph_dot_and_png(tmp_path):
    dot = federation("graph", str(EXAMPLE))
    assert dot.returncode == 0
    assert '"control" -> "tank" [label="opening->opening\\ndelayed", style=dashed]' in dot.stdout
    assert '"control" -> "log" [label="alarms->alarms\\nmessage", style=dotted]' in dot.stdout
    png = tmp_path / "graph.png"
    assert federation("graph", str(EXAMPLE), "-o", str(png)).returncode == 0
    assert png.stat().st_size > 5000


def test_crashing_federate_ends_the_run_with_a_clear_message(tmp_path):
    path = write_scenario(
        tmp_path,
        """
        time: {stop: 10, resolution: 1 s}
        federates:
          clock: {type: "{HELPERS}:Clock"}
          bad: {type: "{HELPERS}:Crasher", params: {at: 3.0, how: raise}}
        """,
    )
    out = tmp_path / "crash.sqlite"
    result = federation("run", str(path), "--out", str(out), "-q")
    assert result.returncode == 1
    assert "federate 'bad' at t=3 s while stepping to t=3 s: ValueError: boom at 3.0" in result.stderr
    assert "Traceback" not in result.stderr
    with RunStore(out) as store:
        assert store.metadata()["status"] == "failed"
        assert "boom" in store.metadata()["reason"]
        assert store.series("bad.y").values == (0.0, 1.0, 2.0)  # recorded data up to the failure is kept


def test_killed_federate_is_named(tmp_path):
    path = write_scenario(
        tmp_path,
        """
        time: {stop: 10, resolution: 1 s}
        federates:
          clock: {type: "{HELPERS}:Clock"}
          bad: {type: "{HELPERS}:Crasher", params: {at: 2.0, how: kill}}
        """,
    )
    result = federation("run", str(path), "--out", str(tmp_path / "k.sqlite"), "-q")
    assert result.returncode == 1
    assert "federate 'bad' at t=2 s while stepping to t=2 s: process killed by signal 9" in result.stderr


def test_invalid_scenario_exits_2_without_traceback(tmp_path):
    path = write_scenario(tmp_path, "time: {stop: 5}\nfederates:\n  a: {type: nope}\n")
    result = federation("run", str(path))
    assert result.returncode == 2
    assert f"{path}:3:7: federates.a.type: unknown federate type 'nope'" in result.stderr
    assert "Traceback" not in result.stderr


LOGGED = """
time: {stop: 3, resolution: 1 s}
federates:
  clock: {type: "{HELPERS}:Clock"}
  probe: {type: "{HELPERS}:Probe"}
connections:
  - clock.y -> probe.u
"""


def test_debug_logs_joins_grants_waits_and_shutdown_beside_the_federates_logs(tmp_path):
    result = federation("--debug", "run", str(write_scenario(tmp_path, LOGGED)), "--out", str(tmp_path / "d.sqlite"), "-q")
    assert result.returncode == 0, result.stderr
    coordinator = (tmp_path / "d.logs" / "coordinator.log").read_text()
    for line in ("INFO federation.engine.coordinator: started federate 'probe' (pid ",
                 "INFO federation.engine.coordinator: federate 'probe' joined (pid ",
                 "INFO federation.engine.coordinator: all 2 federates joined in ",
                 "DEBUG federation.engine.coordinator: probe waits to reach t=0 s on clock (safe until 0 s)",
                 "DEBUG federation.engine.coordinator: grant 'probe' t=2 s: ",
                 "DEBUG federation.engine.coordinator: federate 'clock' done t=2 s: 1 outputs, 0 messages",
                 "INFO federation.engine.coordinator: stopping every federate: end of run",
                 "DEBUG federation.engine.coordinator: federate 'probe' said BYE",
                 "INFO federation.engine.coordinator: run completed after "):  # fmt: skip
        assert line in coordinator, line
    probe = (tmp_path / "d.logs" / "probe.log").read_text()
    for line in ("INFO federation.engine.runtime: joined: period 1 s, heartbeat 0 s",
                 "DEBUG federation.engine.runtime: step to t=2 s: 1 inputs and 0 messages in; 1 outputs and 0 messages out",
                 "INFO federation.engine.runtime: stopped at t=3 s (end of run); finalizing"):  # fmt: skip
        assert line in probe, line
    assert "DEBUG federation.engine.coordinator: grant 'probe' t=2 s" in result.stderr  # --debug shows them on the terminal too


def test_without_debug_the_coordinator_logs_at_info_and_the_terminal_stays_quiet(tmp_path):
    result = federation("run", str(write_scenario(tmp_path, LOGGED)), "--out", str(tmp_path / "i.sqlite"), "-q")
    assert result.returncode == 0, result.stderr
    coordinator = (tmp_path / "i.logs" / "coordinator.log").read_text()
    assert "INFO federation.engine.coordinator: federate 'clock' joined (pid " in coordinator
    assert "INFO federation.engine.coordinator: run completed after " in coordinator
    assert " DEBUG " not in coordinator
    probe = (tmp_path / "i.logs" / "probe.log").read_text()
    assert "INFO federation.engine.runtime: joined: period 1 s" in probe and " DEBUG " not in probe
    assert result.stderr == ""
