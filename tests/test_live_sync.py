"""The live demo with and without synchronisation (issue 15 item 6), end to end through the command line.

`federation demo-sensors` (the real world: a storm heavier and earlier than the twin's forecast,
over a real Mosquitto) and `federation run scenarios/riverton-live.yaml` (the twin: `flood` nudged
to the measured reservoir level and city stage, `drift` the same model only observed), paced;
then `federation replay` of the recorded live run gives the same figures bit for bit.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from federates.timestamps import format_iso

ROOT = Path(__file__).resolve().parent.parent
PACE = "600"  # the demo's pace (a late reading: 20 simulated minutes); 7.5 simulated hours in 45 wall seconds: the drift passes its limit, the gate order (8 h) is not reached
CLI = [sys.executable, "-m", "federation.app.cli"]


def figures(store: Path) -> dict[str, float]:
    with sqlite3.connect(store) as db:
        return dict(db.execute("SELECT name, value FROM kpis WHERE name LIKE 'sync.%'"))


def table(store: Path, query: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(store) as db:
        return db.execute(query).fetchall()


@pytest.mark.timeout(240)
def test_the_drifting_twin_raises_alarms_and_the_synchronised_one_stays_within(mosquitto, tmp_path: Path) -> None:
    broker = mosquitto()
    start = format_iso(float(int(time.time()) + 5))  # one epoch for the field and the twin, a little ahead
    text = (ROOT / "scenarios" / "riverton-live.yaml").read_text()
    scenario = tmp_path / "riverton-live.yaml"
    scenario.write_text(text.replace("  start: now ", f"  start: {start} ", 1))
    sensors = subprocess.Popen([*CLI, "demo-sensors", "--broker", f"127.0.0.1:{broker.port}", "--pace", PACE,
                                "--until", "8 h", "--seed", "3", "--start", start], cwd=tmp_path, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, start_new_session=True)  # fmt: skip
    try:
        assert sensors.stdout is not None
        first = sensors.stdout.readline()  # connected: it publishes from the epoch on
        assert first.startswith("publishing riverton/"), first
        store = tmp_path / "live.sqlite"
        twin = subprocess.run([*CLI, "run", str(scenario), "--out", str(store),
                               "--until", "7.5 h", "--pace", PACE, "--autonomy", "full", "-q",
                               "--set", f"sensors.broker.port={broker.port}", "--set", f"field.broker.port={broker.port}"],
                              cwd=tmp_path, capture_output=True, text=True, timeout=120)  # fmt: skip
        assert twin.returncode == 0, twin.stderr
        sensors.wait(60)
    finally:
        if sensors.poll() is None:
            sensors.kill()
            sensors.wait(10)
    live = figures(store)
    for state in ("reservoir_level", "stage.city"):
        assert live[f"sync.flood.{state}.alarms"] == 0, live  # synchronised: within the limit throughout
    # the city stage stays at its base until the river rises (after 8 h): before, both residuals are the noise
    assert live["sync.flood.reservoir_level.rmse"] < live["sync.drift.reservoir_level.rmse"] / 2, live
    assert live["sync.drift.reservoir_level.alarms"] >= 1, live  # left alone: past the limit, the alarm fires
    assert live["sync.flood.reservoir_level.max"] < 0.2 < live["sync.drift.reservoir_level.max"], live  # the limit
    alarms = table(store, "SELECT source, target FROM messages WHERE target = 'ops.alarms'")
    assert alarms and {source for source, _ in alarms} == {"drift.~alarms"}  # the messages, to the named endpoint

    replayed = tmp_path / "replay.sqlite"
    done = subprocess.run([*CLI, "replay", str(store), "--out", str(replayed)], cwd=tmp_path, capture_output=True,
                          text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert figures(replayed) == live  # the figures are the recorded run's, bit for bit
    query = "SELECT tick, pair, status, measurement, before, after, residual, alarm FROM synchronisation ORDER BY rowid"
    assert table(replayed, query) == table(store, query)
