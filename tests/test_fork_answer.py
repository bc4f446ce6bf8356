"""`federation fork --answer` (docs/what-if.md): a fork that answers one decision otherwise than the parent
did records exactly the parent's rows before the fork point and diverges after that decision."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "federation.app.cli"]
COLUMNS = {
    "samples": "tick, time, signal, value",
    "messages": "tick, time, sent_tick, source, target, payload",
    "decisions": "id, tick, time, source, target, proposal, verdict, decided_by, final, note",
}
PRE_RELEASE = 2  # riverton's decision 2: the dam operator's pre-release at t=39900 s (11.1 h), decided by the default
FORK_AT = 10 * 3600
UNTIL = "24 h"


def rows(store: Path, table: str, where: str = "1") -> list[tuple[object, ...]]:
    db = sqlite3.connect(store)
    try:
        return db.execute(f"SELECT {COLUMNS[table]} FROM {table} WHERE {where} ORDER BY rowid").fetchall()  # noqa: S608
    finally:
        db.close()


def kpis(store: Path) -> dict[str, float]:
    db = sqlite3.connect(store)
    try:
        return dict(db.execute("SELECT name, value FROM kpis").fetchall())
    finally:
        db.close()


def riverton(folder: Path) -> Path:
    """riverton.yaml with absolute data paths and a checkpoint every 5 h."""
    text = (ROOT / "scenarios" / "riverton.yaml").read_text()
    text = text.replace("../fmus/dist/", f"{ROOT / 'fmus' / 'dist'}/").replace("data/riverton-ict", f"{ROOT}/scenarios/data/riverton-ict")
    path = folder / "riverton-cp.yaml"
    path.write_text("coordinator: {checkpoint: {every: 5 h}}\n" + text)
    return path


def cli(*args: str | Path, ok: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([*CLI, *map(str, args)], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert (done.returncode == 0) == ok, done.stderr[-3000:]
    return done


@pytest.fixture(scope="module")
def parent(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("riverton")
    out = folder / "parent.sqlite"
    cli("run", riverton(folder), "--until", UNTIL, "--autonomy", "full", "--out", out, "-q")
    return out


@pytest.mark.timeout(600)
def test_approve_and_reject_of_the_same_decision_diverge_after_it(parent: Path, tmp_path: Path) -> None:
    forks = {}
    for verdict in ("approve", "reject"):
        forks[verdict] = tmp_path / f"{verdict}.sqlite"
        done = cli("fork", parent, "--at", "10 h", "--answer", f"{PRE_RELEASE}={verdict}", "--out", forks[verdict])
        assert f"decision {PRE_RELEASE}: answered {verdict}" in done.stdout
    decided = {v: rows(s, "decisions", f"id = {PRE_RELEASE}")[0] for v, s in forks.items()}
    assert decided["approve"][6:8] == ("approved", "fork --answer approve")
    assert decided["reject"][6:8] == ("rejected", "fork --answer reject")
    assert decided["reject"][8] is None  # a rejected proposal has no final payload
    tick = int(decided["approve"][1])
    assert FORK_AT < tick
    for table in COLUMNS:  # identical before the fork point (copied) and up to the decision (re-run)
        before = f"tick < {tick}"
        assert rows(forks["approve"], table, before) == rows(parent, table, before), table
        assert rows(forks["reject"], table, before) == rows(parent, table, before), table
    # the parent approved it (its default): the approving fork reproduces it, row for row, but for who decided
    assert rows(forks["approve"], "samples") == rows(parent, "samples")
    assert rows(forks["approve"], "messages") == rows(parent, "messages")
    after = f"tick >= {tick}"
    assert rows(forks["reject"], "samples", after) != rows(forks["approve"], "samples", after)
    # the rejected pre-release is never delivered: the flood model gets no gate order at that tick
    orders = f"source = 'damops.orders' AND sent_tick = {tick}"
    assert rows(forks["approve"], "messages", orders) and not rows(forks["reject"], "messages", orders)
    # the fork's report sets its KPIs beside its parent's
    cli("report", forks["reject"], "-o", tmp_path / "reject.html")
    html = (tmp_path / "reject.html").read_text()
    assert f"A fork of <code>{parent.resolve()}</code> at t=10 h" in html
    mine, theirs = kpis(forks["reject"])["peak_reservoir_level"], kpis(parent)["peak_reservoir_level"]
    assert mine != theirs
    row = f"<tr><td>peak_reservoir_level</td><td>{mine:.6g}</td><td>{theirs:.6g}</td><td>{mine - theirs:+.6g}</td><td>m</td></tr>"
    assert row in html, html[html.find("This run and its parent"):][:2000]


@pytest.mark.timeout(120)
def test_answer_to_a_decision_before_the_fork_point_is_refused(parent: Path, tmp_path: Path) -> None:
    done = cli("fork", parent, "--at", "10 h", "--answer", "1=reject", "--out", tmp_path / "f.sqlite", ok=False)
    assert "decision 1 was taken at t=0 s, before the fork point (t=36000 s)" in done.stderr
    assert not (tmp_path / "f.sqlite").exists()
    done = cli("fork", parent, "--at", "10 h", "--answer", "2=maybe", "--out", tmp_path / "f.sqlite", ok=False)
    assert "expected approve, reject or edit:{field: value}, got 'maybe'" in done.stderr
    done = cli("fork", parent, "--at", "10 h", "--answer", "2=edit:{opening: 1.5}", "--out", tmp_path / "g.sqlite",
               ok=False)  # fmt: skip
    assert "decision 2" in done.stderr and "opening: must be in [0, 1], got 1.5" in done.stderr


@pytest.mark.timeout(600)
def test_sweep_from_a_fork_point(parent: Path, tmp_path: Path) -> None:
    """`federation sweep RUN.sqlite --at T`: every variant is a fork of the run at T (on the Dask cluster)."""
    pytest.importorskip("distributed")
    out = tmp_path / "sweep"
    done = cli("sweep", parent, "--at", "15 h", "--vary", "grid.load_power_factor=0.9,0.95", "--workers", "2",
               "--out", out)  # fmt: skip
    assert "2 runs: 2 completed, 0 failed" in done.stdout
    stores = sorted((out / "runs").glob("*.sqlite"))
    assert [s.stem for s in stores] == ["grid.load_power_factor=0.9-seed2026", "grid.load_power_factor=0.95-seed2026"]
    for store in stores:
        db = sqlite3.connect(store)
        meta = dict(db.execute("SELECT key, value FROM run").fetchall())
        db.close()
        assert (meta["parent_store"], meta["fork_tick"], meta["status"]) == (str(parent.resolve()), "54000", "completed")
        # the grid derives its power factor in setup(): a fork keeps the saved one (docs/what-if.md), so each
        # variant records exactly what the parent recorded -- the fork point's exactness, through the sweep
        for table in COLUMNS:
            assert rows(store, table) == rows(parent, table), table
    refused = cli("sweep", parent, "--vary", "grid.load_power_factor=0.9", "--out", tmp_path / "x", ok=False)
    assert "is a run store: give --at T" in refused.stderr
