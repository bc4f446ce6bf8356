"""The `player` federate: a CSV file or an earlier run's store played as outputs.

The expected values are computed by hand from the small tables written here.
"""

from __future__ import annotations

import subprocess
import sys
import tracemalloc

import pytest

from federates.player import Player
from federation import Context
from federation.errors import FederateError, ScenarioError
from federation.scenario.loader import load
from tests.conftest import write_scenario

pytestmark = pytest.mark.timeout(90)

GAUGES = """\
time,level_cm,rain,pump
0,100,2.0,false
30,160,,true
60,130,5.0,
90,,0.0,false
"""

PLAYER = """
    time: {{stop: 120, resolution: 1 s}}
    federates:
      feed:
        type: player
        {period}
        params:
          file: gauges.csv
          columns:
            level_cm: {{output: level, unit: m, source_unit: cm, interpolate: linear}}
            rain: {{unit: mm/h}}
            pump: {{type: bool}}
      double:
        type: formula
        params:
          inputs: {{level: {{unit: m}}}}
          outputs: {{twice: {{expr: "2 * level", unit: m}}}}
    connections:
      - feed.level -> double.level
"""


def series(store, name):
    s = store.series(name)
    return list(zip(s.times, s.values))


def test_a_stepped_player_holds_and_interpolates_per_column(tmp_path, run_scenario):
    """Every 15 s: level linear between its rows (cm -> m), rain held over its empty cell, pump held."""
    (tmp_path / "gauges.csv").write_text(GAUGES)
    summary, store = run_scenario(PLAYER.format(period="period: 15 s"))
    assert summary.status == "completed" and summary.grants["feed"] == 9  # 0, 15, ..., 120
    level = series(store, "feed.level")
    assert [t for t, _ in level] == [0, 15, 30, 45, 60]  # then the last row's value holds
    assert [v for _, v in level] == pytest.approx([1.0, 1.3, 1.6, 1.45, 1.3])
    assert store.series("feed.level").unit == "m"
    assert series(store, "feed.rain") == [(0, 2.0), (60, 5.0), (90, 0.0)]
    assert series(store, "feed.pump") == [(0, False), (30, True), (90, False)]
    assert [v for _, v in series(store, "double.twice")] == pytest.approx([2.0, 2.6, 3.2, 2.9, 2.6])


def test_an_event_driven_player_steps_at_its_rows(tmp_path, run_scenario):
    (tmp_path / "gauges.csv").write_text(GAUGES)
    summary, store = run_scenario(PLAYER.format(period=""))
    assert summary.grants["feed"] == 4  # the rows' times: 0, 30, 60, 90
    assert series(store, "feed.level") == [(0, 1.0), (30, 1.6), (60, 1.3)]
    assert series(store, "feed.rain") == [(0, 2.0), (60, 5.0), (90, 0.0)]


def test_iso_times_are_relative_to_the_first_row_without_an_epoch(tmp_path, run_scenario):
    (tmp_path / "log.csv").write_text("stamp;flow\n2026-12-02T14:00:00Z;3\n2026-12-02T14:00:45+00:00;4\n"
                                      "2026-12-02T15:00:10.5;5\n")  # fmt: skip
    _, store = run_scenario("""
    time: {stop: 4000, resolution: 0.5 s}
    federates:
      feed:
        type: player
        params: {file: log.csv, delimiter: ";", time: {column: stamp, format: iso}, columns: {flow: {unit: m3/s}}}
    """)
    assert series(store, "feed.flow") == [(0.0, 3.0), (45.0, 4.0), (3610.5, 5.0)]


def test_iso_times_map_through_the_runs_epoch(tmp_path):
    """The hook for `time: start`: with Context.epoch the first row is not taken as the start."""
    (tmp_path / "log.csv").write_text("t,x\n2026-12-02T14:00:10Z,1\n2026-12-02T14:00:20Z,2\n")
    epoch = 1796220000.0  # 2026-12-02T14:00:00Z
    player = Player({"file": str(tmp_path / "log.csv"), "time": {"format": "iso"}, "columns": {"x": None}},
                    Context("feed", 0, 0.0, 60.0, 1.0, None, epoch=epoch))  # fmt: skip
    player.setup()
    assert player.step(0.0) == 10.0 and player.outputs["x"] == 1  # before the first row: its value
    assert player.step(10.0) == 20.0 and player.step(20.0) is None and player.outputs["x"] == 2
    player.finalize()


def test_an_earlier_runs_store_plays_any_recorded_signal(tmp_path, run_scenario):
    (tmp_path / "gauges.csv").write_text(GAUGES)
    run_scenario(PLAYER.format(period="period: 15 s"), name="first.yaml")
    _, store = run_scenario("""
    time: {stop: 40, resolution: 1 s}
    federates:
      replay:
        type: player
        period: 10 s
        params:
          file: first.sqlite
          columns:
            feed.level: {output: level, interpolate: linear}
            feed.pump: pump
            double.twice: {output: twice_cm, unit: cm, source_unit: m}
    """, name="second.yaml")
    # first.sqlite holds feed.level = 1.0 @0, 1.3 @15, 1.6 @30, 1.45 @45: linear between those samples
    assert [v for _, v in series(store, "replay.level")] == pytest.approx([1.0, 1.2, 1.4, 1.6, 1.5])
    assert store.series("replay.level").unit == "m"  # the recorded unit
    assert series(store, "replay.pump") == [(0, False), (30, True)]
    twice = series(store, "replay.twice_cm")  # held: 200 cm from 0, 260 from 15, 320 from 30
    assert [t for t, _ in twice] == [0, 20, 30] and [v for _, v in twice] == pytest.approx([200.0, 260.0, 320.0])


def test_a_bad_cell_fails_the_run_naming_file_line_and_column(tmp_path, run_scenario):
    (tmp_path / "gauges.csv").write_text(GAUGES.replace("5.0", "five"))
    with pytest.raises(FederateError, match=r"federate 'feed'.*gauges\.csv:4: column 'rain': 'five' is not a float"):
        run_scenario(PLAYER.format(period=""))


def test_rows_out_of_time_order_fail_the_run(tmp_path, run_scenario):
    (tmp_path / "gauges.csv").write_text(GAUGES.replace("60,130", "20,130"))
    with pytest.raises(FederateError, match=r"gauges\.csv:4: column 'time': time 20 is before the previous row's"):
        run_scenario(PLAYER.format(period=""))


def test_validate_reports_every_bad_player_parameter_at_its_line(tmp_path):
    (tmp_path / "gauges.csv").write_text(GAUGES)
    path = write_scenario(tmp_path, """
    time: {stop: 60}
    federates:
      feed:
        type: player
        params:
          file: gauges.csv
          time: {column: when}
          interpolate: cubic
          columns:
            levl: {unit: m}
            rain: {unit: mm/h, source_unit: s}
            pump: {type: bool, interpolate: linear}
            level_cm: {source_unit: cm, colour: red}
      other:
        type: player
        params: {file: missing.csv, columns: {x: null}}
    """)
    result = subprocess.run([sys.executable, "-m", "federation.app.cli", "validate", str(path)], capture_output=True,
                            text=True, timeout=60, cwd=tmp_path)  # fmt: skip
    assert result.returncode == 2, result.stdout + result.stderr
    where = f"{path}:"
    for line, key, message in (
        (8, "time.column", "no column 'when' in gauges.csv"),
        (9, "interpolate", "wrong type: must be one of 'hold', 'linear', got 'cubic'"),
        (11, "columns.levl", "no column 'levl' in gauges.csv; did you mean 'level_cm'?"),
        (12, "columns.rain.source_unit", "cannot convert 's' to 'mm/h'"),
        (13, "columns.pump.interpolate", "linear interpolation needs a float column, not bool"),
        (14, "columns.level_cm.source_unit", "converts to the column's 'unit': give that too"),
        (14, "columns.level_cm.colour", "unknown key"),
        (17, "file", "no such file"),
    ):
        params = "feed" if line < 17 else "other"
        expected = f"{where}{line}:"  # then the column, the key path and the message
        path = f": federates.{params}.params.{key}: "
        assert any(ln.startswith(expected) and path in ln and message in ln for ln in result.stderr.splitlines()), \
            f"{expected}...{message} not in\n{result.stderr}"  # fmt: skip


def test_validation_refuses_time_for_a_store_and_unknown_signals(tmp_path, run_scenario):
    (tmp_path / "gauges.csv").write_text(GAUGES)
    run_scenario(PLAYER.format(period=""), name="first.yaml")
    path = write_scenario(tmp_path, """
    time: {stop: 60}
    federates:
      replay: {type: player, params: {file: first.sqlite, time: t, columns: {feed.levle: null, feed.pump: {interpolate: linear}}}}
    """)
    with pytest.raises(ScenarioError) as info:
        load(path)
    text = str(info.value)
    assert "federates.replay.params.time: a run store has its own time" in text
    assert "federates.replay.params.columns.feed.levle: no recorded signal 'feed.levle'" in text
    assert "did you mean 'feed.level'?" in text
    assert "columns.feed.pump.interpolate: linear interpolation needs a number signal, not bool" in text


def test_a_large_file_streams_in_flat_memory(tmp_path):
    """3 x 10^5 rows (4 MB) play with a peak of Python memory far below what loading them would take.

    The peak allowed (1 MB) is a quarter of the file's bytes and a small fraction of its rows as Python
    objects (tens of MB): any reading of the whole file fails; more rows would only cost CPU (10^6 rows: 14 s)."""
    path = tmp_path / "big.csv"
    rows = 300_000
    with open(path, "w") as fh:
        fh.write("t,a,b\n")
        fh.writelines(f"{i},{i % 97}.5,{i % 13}\n" for i in range(rows))
    player = Player({"file": str(path), "columns": {"a": {"interpolate": "linear"}, "b": None}},
                    Context("big", 0, 0.0, float(rows), 1.0, 5000.0))  # fmt: skip
    tracemalloc.start()
    try:
        player.setup()
        for k in range(rows // 5000):
            player.step(k * 5000.0)
        player.step(rows - 1.0)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        player.finalize()
    assert player.outputs["a"] == (rows - 1) % 97 + 0.5 and player.outputs["b"] == (rows - 1) % 13
    assert path.stat().st_size > 4e6
    assert peak < 1e6, f"peak {peak / 1e6:.1f} MB while playing a {path.stat().st_size / 1e6:.0f} MB file"
