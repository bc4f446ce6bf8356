"""The flagship scenario end to end, through the CLI, at level 5: the cascade must show."""

from __future__ import annotations

import subprocess
import sys

import pytest

from federation.results.store import RunStore
from tests.conftest import ROOT

pytestmark = pytest.mark.timeout(240)


def first(series, predicate) -> float | None:
    return next((t for t, v in zip(series.times, series.values) if predicate(v)), None)


@pytest.fixture(scope="module")
def riverton(shipped_fmus, tmp_path_factory) -> RunStore:
    out = tmp_path_factory.mktemp("riverton") / "riverton.sqlite"
    result = subprocess.run(
        [sys.executable, "-m", "federation.app.cli", "run", str(ROOT / "scenarios" / "riverton.yaml"),
         "--autonomy", "full", "--out", str(out)],
        capture_output=True, text=True, timeout=220,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "riverton: completed" in result.stdout
    store = RunStore(out)
    yield store
    store.close()


def test_the_flood_reaches_the_substations_and_the_grid_sheds_load(riverton):
    level = riverton.series("flood.reservoir_level")
    assert max(level.values) > 101.0  # over the spillway crest
    wet_a = first(riverton.series("flood.depth.substation_a"), lambda d: d > 0.4)
    trip_a = first(riverton.series("grid.energized.substation_a"), lambda e: e is False)
    trip_b = first(riverton.series("grid.energized.substation_b"), lambda e: e is False)
    assert wet_a is not None and wet_a <= trip_a <= wet_a + 300
    assert trip_a < trip_b
    assert first(riverton.series("grid.unserved_mw"), lambda p: p > 100) == trip_b


def test_factory_stops_hospitals_run_on_generators_and_transfer(riverton):
    trip_b = first(riverton.series("grid.energized.substation_b"), lambda e: e is False)
    assert first(riverton.series("factory.machines_down"), lambda n: n == 4) <= trip_b + 60
    assert first(riverton.series("hospital_b.generator_running"), lambda r: r is True) <= trip_b + 300
    assert riverton.series("hospital_b.transferred").values[-1] > 0
    assert riverton.series("hospital_a.transfers_received").values[-1] > 0


def test_attacker_opens_breakers_in_a_blind_spot_after_the_attack_starts(riverton):
    breakers = [m for m in riverton.messages() if m[1] == "cyber.breakers"]
    assert breakers and breakers[0][0] >= 30 * 3600
    blind_since = first(riverton.series("cyber.blind"), lambda names: "substation_c" in names)
    assert blind_since is not None and blind_since <= breakers[0][0]
    assert breakers[0][3] == {"action": "open", "substation": "substation_c"}


def test_gate_orders_were_decided_by_the_policy_and_recorded(riverton):
    rows = riverton.decisions()
    assert rows and {r["verdict"] for r in rows} >= {"approved", "edited"}
    assert all(r["decided_by"].startswith("policy") for r in rows)
    gate = riverton.series("flood.gate_position")
    assert max(gate.values) == pytest.approx(0.8)  # the edit rule capped the opening


def test_the_city_recovers_after_the_storm(riverton):
    assert riverton.series("grid.unserved_mw").values[-1] == pytest.approx(0.0, abs=1e-6)
    assert riverton.metadata()["status"] == "completed"


def test_riverton_in_worker_processes_records_the_same_run(riverton, tmp_path):
    """Every federate `process: shared` in 3 workers: the same values, messages and decisions, table by table.

    The grouped run stops at 48 h, the module's run goes on to 96 h: riverton's storm, release, flood, blackout and
    attack all happen before 48 h, so every federate has exchanged what it ever exchanges by then.  Rows are
    compared up to 48 h (the stop itself left out); the KPIs, reductions of the samples compared, are not."""
    import re
    import sqlite3

    text = (ROOT / "scenarios" / "riverton.yaml").read_text()
    assert text.count("\n    type: ") == 9  # one per federate
    text = text.replace("\n    type: ", "\n    process: shared\n    type: ").replace(
        "fmu: ../fmus/dist/", f"fmu: {ROOT / 'fmus' / 'dist'}/").replace("\nfederates:", "\ncoordinator: {workers: 3}\nfederates:")
    scenario = tmp_path / "riverton.yaml"
    scenario.write_text(text)
    for data in (ROOT / "scenarios").iterdir():  # files the scenario names relative to its folder
        if data.is_dir():
            (tmp_path / data.name).symlink_to(data)
    out = tmp_path / "grouped.sqlite"
    result = subprocess.run(
        [sys.executable, "-m", "federation.app.cli", "run", str(scenario), "--autonomy", "full", "--out", str(out),
         "--until", "48 h"],
        capture_output=True, text=True, timeout=220,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "started worker group 'shared.3'" in (tmp_path / "grouped.logs" / "coordinator.log").read_text()
    attack = first(riverton.series("cyber.blind"), lambda names: "substation_c" in names)
    assert attack is not None and attack < 48 * 3600  # the last link of the cascade is inside the compared span
    for table in ("signals", "samples", "messages", "decisions"):
        until = "" if table == "signals" else f" WHERE tick < {48 * 3600}"
        rows = [sqlite3.connect(db).execute(f"SELECT * FROM {table}{until} ORDER BY rowid").fetchall()
                for db in (riverton.path, out)]  # fmt: skip
        if table == "decisions":  # its last column is the wall time of the answer
            rows = [[row[:-1] for row in found] for found in rows]  # the rule's line moved down with the lines added above it
            rows = [[tuple(re.sub(r"\(line \d+\)", "(line)", v) if isinstance(v, str) else v for v in row)
                     for row in found] for found in rows]  # fmt: skip
        assert rows[0] == rows[1], table
        assert rows[0] or table == "messages", table
