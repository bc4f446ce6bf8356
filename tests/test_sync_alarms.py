"""Residual alarms with a deadband, an on-delay and an off-delay (docs/synchronise.md, "Alarms").

One hand-made measurement series crosses the limit back and forth; four models that stay at 0
(``observe``: the residual is minus the measurement) are paired with it under four alarm rules,
and the alarm / cleared sequence each must give is worked out by hand below, step by step.
"""

from __future__ import annotations

import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from federation.errors import ScenarioError
from federation.scenario.loader import load
from tests.conftest import write_scenario

pytestmark = pytest.mark.timeout(120)

SYNC = str(Path(__file__).with_name("sync_models.py"))

# The measurements, every 10 s; the models stay at 0, so |residual| = |m|.  Signs alternate so that
# the rules are seen to judge |residual|; no two consecutive values are equal (each one is new).
TIMES = list(range(0, 150, 10))
VALUES = [0.5, -1.2, 0.9, -1.3, 1.1, -1.4, 1.2, -0.8, 1.05, -0.5, 0.7, -0.4, 0.3, -1.5, 0.2]
#   t     0    10   20   30   40   50   60   70   80    90   100  110  120  130  140
#  |r|   0.5  1.2  0.9  1.3  1.1  1.4  1.2  0.8  1.05  0.5  0.7  0.4  0.3  1.5  0.2
ACCEPTABLE = 1.0

# plain (acceptable 1.0 alone: every crossing): beyond at 10, back at 20, beyond at 30 until 70,
# beyond at 80, back at 90, beyond at 130, back at 140.
PLAIN = [(10, "residual"), (20, "cleared"), (30, "residual"), (70, "cleared"), (80, "residual"), (90, "cleared"),
         (130, "residual"), (140, "cleared")]  # fmt: skip
# deadband (clear_within 0.6): raised at 10; 0.9 at 20, 0.8 at 70 and 1.05 at 80 are not within 0.6;
# 0.5 at 90 is: cleared.  Raised again at 130, cleared at 140 (0.2).
DEADBAND = [(10, "residual"), (90, "cleared"), (130, "residual"), (140, "cleared")]
# on-delay (alarm_after 20 s): beyond at 10 but back at 20 (10 s < 20 s); beyond from 30 on: 30, 40, 50,
# raised at 50 (50 - 30 = 20 s), since 30; 0.8 at 70 clears (no deadband, no off-delay); beyond at 80 only,
# and at 130 only: too short.
ON_DELAY = [(50, "residual"), (70, "cleared")]
# all three (clear_within 0.6, alarm_after 20 s, clear_after 10 s): raised at 50 since 30 as above; within
# 0.6 at 90 (0.5) but not at 100 (0.7): starts again; within at 110 (0.4) and 120 (0.3): cleared at 120
# (120 - 110 = 10 s), since 110; 1.5 at 130 alone is too short.
ALL = [(50, "residual"), (120, "cleared")]

RULES = {
    "plain": "",
    "deadband": ", clear_within: 0.6",
    "delay": ", alarm_after: 20 s",
    "all": ", clear_within: 0.6, alarm_after: 20 s, clear_after: 10",
}


def _scenario(tmp_path: Path) -> Path:
    (tmp_path / "gauge.csv").write_text("time,x\n" + "".join(f"{t},{v}\n" for t, v in zip(TIMES, VALUES)))
    models = "".join(f'          {name}: {{type: "{SYNC}:Persistence", period: 1}}\n' for name in RULES)
    pairs = "".join(f"          - {{pair: gauge.x -> {name}.x, method: observe, acceptable: {ACCEPTABLE}, "
                    f"alarm: ops.inbox{rule}}}\n" for name, rule in RULES.items())  # fmt: skip
    text = f"""
        time: {{stop: 150, resolution: 1 s}}
        federates:
          gauge: {{type: player, params: {{file: gauge.csv, columns: {{x: null}}}}}}
          ops: {{type: "{{HELPERS}}:Listener"}}
{models}        synchronise:
{pairs}"""
    return write_scenario(tmp_path, text, "alarms.yaml")


def _federation(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "federation.app.cli", *args], capture_output=True, text=True,
                          timeout=100, cwd=cwd)  # fmt: skip


def _alarm_column(db: sqlite3.Connection, model: str) -> list[tuple[float, str]]:
    return db.execute("SELECT s.time, s.alarm FROM synchronisation s JOIN sync_pairs p ON p.id = s.pair "
                      "WHERE p.model = ? AND s.alarm IS NOT NULL ORDER BY s.tick", (f"{model}.x",)).fetchall()  # fmt: skip


def test_deadband_and_delays_give_the_hand_computed_sequences(run_scenario, tmp_path):
    path = _scenario(tmp_path)
    summary, store = run_scenario(path.read_text(), "alarms.yaml")
    assert summary.status == "completed", summary
    db = sqlite3.connect(tmp_path / "alarms.sqlite")
    try:
        table = {name: _alarm_column(db, name) for name in RULES}
    finally:
        db.close()
    assert table == {"plain": PLAIN, "deadband": DEADBAND, "delay": ON_DELAY, "all": ALL}
    kpis = {name: value for name, value, _, _ in store.kpis()}
    assert [kpis[f"sync.{name}.x.alarms"] for name in RULES] == [4, 2, 1, 1]
    messages = {name: [(t, p["alarm"]) for t, _, _, p in store.messages() if p["state"] == f"{name}.x"] for name in RULES}
    assert messages == {"plain": PLAIN, "deadband": DEADBAND, "delay": ON_DELAY, "all": ALL}
    payloads = {(p["state"], p["alarm"]): p for _, _, _, p in store.messages()}
    # a delayed change says since when; the pair's rules travel with the message, none are added without them
    assert payloads["delay.x", "residual"]["since"] == 30.0 and payloads["delay.x", "residual"]["alarm_after"] == 20.0
    assert "since" not in payloads["delay.x", "cleared"]  # no clear_after: not a delayed change
    assert payloads["all.x", "cleared"]["since"] == 110.0 and payloads["all.x", "cleared"]["clear_within"] == 0.6
    assert payloads["deadband.x", "residual"]["clear_within"] == 0.6 and "since" not in payloads["deadband.x", "residual"]
    plain = payloads["plain.x", "residual"]
    assert set(plain) == {"alarm", "pair", "state", "time", "residual", "model", "measurement", "acceptable"}
    assert plain["residual"] == -VALUES[-2]  # the last raise: 0 - (-1.5) at 130 s


@pytest.mark.parametrize(("rule", "key", "message"), [
    ("acceptable: 1.0, clear_within: 1.5", "clear_within", "synchronise[0].clear_within: must not exceed acceptable (1), got 1.5"),
    ("acceptable: 1.0, clear_within: -0.1", "clear_within", "synchronise[0].clear_within: must be at least 0, got -0.1"),
    ("acceptable: 1.0, alarm_after: -5 s", "alarm_after", "synchronise[0].alarm_after: must be at least 0, got '-5 s'"),
    ("acceptable: 1.0, clear_after: soon", "clear_after", "synchronise[0].clear_after: expected a duration such as 3600"),
    ("clear_within: 0.5", "clear_within", "synchronise[0].clear_within: 'clear_within' needs 'acceptable'"),
    ("alarm_after: 1 min", "alarm_after", "synchronise[0].alarm_after: 'alarm_after' needs 'acceptable'"),
    ("acceptable: 1.0, alarm_afte: 1 min", "alarm_afte", "unknown key; did you mean 'alarm_after'"),
])  # fmt: skip
def test_bad_alarm_rules_name_file_line_and_column(tmp_path, rule, key, message):
    path = tmp_path / "bad.yaml"
    path.write_text(f"""time: {{stop: 10, resolution: 1 s}}
federates:
  gauge: {{type: "{SYNC}:Sensor", params: {{unit: ""}}}}
  model: {{type: "{SYNC}:Persistence"}}
synchronise:
  - {{pair: gauge.value -> model.x, {rule}}}
""")
    with pytest.raises(ScenarioError) as info:
        load(path)
    text = str(info.value)
    column = 1 + len("  - {pair: gauge.value -> model.x, ") + rule.index(key)  # the key's
    assert f"{path}:6:{column}: " in text and message in text, text


def test_through_the_command_line_twice_the_stores_are_identical(tmp_path):
    """``federation run`` in separate processes: the alarms as computed by hand, and bit-identical stores."""
    path = _scenario(tmp_path)
    tables = []
    for name in ("first", "second"):
        result = _federation("run", str(path), "--out", f"{name}.sqlite", cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        assert re.search(r"^sync\.deadband\.x\.alarms +2 ", result.stdout, re.M), result.stdout
        db = sqlite3.connect(tmp_path / f"{name}.sqlite")
        try:
            assert _alarm_column(db, "all") == ALL
            tables.append([db.execute(f"SELECT * FROM {table} ORDER BY rowid").fetchall()
                           for table in ("synchronisation", "messages", "samples", "sync_pairs", "kpis")])
        finally:
            db.close()
    assert tables[0][0] and tables[0][1] and tables[0] == tables[1]


def test_validate_reports_a_bad_rule_through_the_command_line(tmp_path):
    path = _scenario(tmp_path)
    path.write_text(path.read_text().replace("clear_within: 0.6, alarm_after", "clear_within: 2, alarm_after"))
    result = _federation("validate", str(path), cwd=tmp_path)
    assert result.returncode != 0
    assert f"{path}:" in result.stderr + result.stdout
    assert "synchronise[3].clear_within: must not exceed acceptable (1), got 2" in result.stderr + result.stdout
