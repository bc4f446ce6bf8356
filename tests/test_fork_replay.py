"""`federation fork --at T` without a checkpoint at T (docs/what-if.md, "Forking a run"): the fork replays the
parent's recorded inputs up to T, from its last checkpoint before T or from the start, and diverges at T."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import write_scenario

from federation.results.store import COMPARED, RunStore

ROOT = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "federation.app.cli"]
AFFINE = """
    time: {stop: 20, resolution: 1 s}
    federates:
      clock: {type: "{HELPERS}:Clock"}
      aff: {type: "{HELPERS}:Affine", params: {a: 0.5, b: 1.0}}
    connections:
      - clock.y -> aff.u
    """
Y = ("SELECT s.tick, s.value FROM samples s JOIN signals g ON g.id = s.signal "
     "WHERE g.federate = 'aff' AND g.name = 'y' ORDER BY s.tick")  # fmt: skip


def cli(*args: str | Path, ok: bool = True, env: dict[str, str] | None = None,
        timeout: float = 120) -> subprocess.CompletedProcess[str]:  # fmt: skip
    done = subprocess.run([*CLI, *map(str, args)], capture_output=True, text=True, timeout=timeout, cwd=ROOT,
                          env=None if env is None else os.environ | env)  # fmt: skip
    assert (done.returncode == 0) == ok, done.stderr[-3000:]
    return done


def meta(store: Path) -> dict[str, str]:
    db = sqlite3.connect(store)
    try:
        return dict(db.execute("SELECT key, value FROM run").fetchall())
    finally:
        db.close()


def y(store: Path) -> list[tuple[int, float]]:
    db = sqlite3.connect(store)
    try:
        return db.execute(Y).fetchall()
    finally:
        db.close()


def digests(store: Path, before: int | None = None) -> dict[str, tuple[int, str]]:
    with RunStore(store, warn=False) as run:
        return {table: run.digest(table, before) for table in COMPARED} | {"kpis": (0, repr(run.kpi_rows()))}


@pytest.mark.timeout(120)
def test_a_fork_of_a_run_without_checkpoints_replays_up_to_the_fork_point(tmp_path: Path) -> None:
    """No checkpoint: the fork re-runs the parent from t=0 and its --set applies from T=12 s, not before."""
    parent, fork = tmp_path / "parent.sqlite", tmp_path / "fork.sqlite"
    cli("run", write_scenario(tmp_path, AFFINE), "--out", parent, "-q")
    done = cli("fork", parent, "--at", "12", "--set", "aff.b=5", "--out", fork)
    assert "fork of" in done.stdout and "at t=12 s (replay from t=0 s)" in done.stdout
    assert y(parent) == [(t, 0.5 * t + 1.0) for t in range(21)]
    assert y(fork) == [(t, 0.5 * t + (1.0 if t < 12 else 5.0)) for t in range(21)]
    assert digests(fork, before=12) == digests(parent, before=12)
    m = meta(fork)
    assert (m["parent_store"], m["fork_tick"], m["fork_start"], m["fork_began"]) == (str(parent.resolve()), "12",
                                                                                     "replay", "0.0")  # fmt: skip
    assert (fork.parent / "fork.logs" / "coordinator-replay.log").is_file()


@pytest.mark.timeout(120)
def test_a_checkpoint_within_the_tolerance_is_the_fork_point_else_the_fork_replays_from_it(tmp_path: Path) -> None:
    """Checkpoints every 5 s, --at 12: by default the fork replays from 10 s and diverges at 12 s; with
    --tolerance 5 s it starts (and diverges) at the checkpoint at 10 s."""
    parent = tmp_path / "parent.sqlite"
    cli("run", write_scenario(tmp_path, AFFINE.replace("time:", "coordinator: {checkpoint: {every: 5 s}}\n    time:")), "--out", parent, "-q")
    exact, early = tmp_path / "exact.sqlite", tmp_path / "early.sqlite"
    done = cli("fork", parent, "--at", "12", "--set", "aff.b=5", "--out", exact)
    assert "at t=12 s (replay from the checkpoint at t=10 s)" in done.stdout
    done = cli("fork", parent, "--at", "12", "--tolerance", "5", "--set", "aff.b=5", "--out", early)
    assert "at t=10 s (checkpoint at t=10 s)" in done.stdout
    assert y(exact) == [(t, 0.5 * t + (1.0 if t < 12 else 5.0)) for t in range(21)]
    assert y(early) == [(t, 0.5 * t + (1.0 if t < 10 else 5.0)) for t in range(21)]
    assert (meta(exact)["fork_tick"], meta(exact)["fork_began"]) == ("12", "10.0")
    assert (meta(early)["fork_tick"], meta(early)["fork_start"]) == ("10", "checkpoint")


@pytest.mark.timeout(120)
def test_a_replay_that_does_not_reproduce_the_parent_is_refused(tmp_path: Path) -> None:
    """A parent run with --set and no checkpoint: its store has the file's text, not the --set, so the replay
    differs; the fork says so instead of diverging silently."""
    parent = tmp_path / "parent.sqlite"
    cli("run", write_scenario(tmp_path, AFFINE), "--set", "aff.b=2", "--out", parent, "-q")
    done = cli("fork", parent, "--at", "12", "--out", tmp_path / "fork.sqlite", ok=False)
    assert "up to t=12 s did not record the parent's samples" in done.stderr
    assert meta(tmp_path / "fork.sqlite")["status"] == "failed"


@pytest.mark.timeout(60)
def test_fork_points_that_cannot_be_replayed_are_refused(tmp_path: Path) -> None:
    parent = tmp_path / "parent.sqlite"
    cli("run", write_scenario(tmp_path, AFFINE), "--out", parent, "-q")
    done = cli("fork", parent, "--at", "20", "--out", tmp_path / "a.sqlite", ok=False)
    assert "the fork point t=20 s is not before the run's stop time (t=20 s)" in done.stderr
    done = cli("fork", parent, "--at", "0", "--out", tmp_path / "b.sqlite", ok=False)
    assert "a fork at the start (t=0 s) has nothing to replay" in done.stderr
    assert not (tmp_path / "a.sqlite").exists() and not (tmp_path / "b.sqlite").exists()


def riverton(folder: Path) -> Path:
    """riverton.yaml with absolute data paths and no checkpoints."""
    text = (ROOT / "scenarios" / "riverton.yaml").read_text()
    text = text.replace("../fmus/dist/", f"{ROOT / 'fmus' / 'dist'}/").replace("data/riverton-ict", f"{ROOT}/scenarios/data/riverton-ict")
    path = folder / "riverton.yaml"
    path.write_text(text)
    return path


@pytest.mark.timeout(600)
def test_riverton_forked_without_checkpoints_reproduces_its_parent(tmp_path: Path) -> None:
    """riverton to 48 h, no checkpoints; a fork at 30 h with no change replays 30 h (decisions as recorded) and
    records exactly the parent's samples, messages, decisions and KPIs, table by table."""
    parent, fork = tmp_path / "parent.sqlite", tmp_path / "fork.sqlite"
    cli("run", riverton(tmp_path), "--until", "48 h", "--autonomy", "full", "--out", parent, "-q", timeout=300)
    done = cli("fork", parent, "--at", "30 h", "--out", fork, timeout=300)
    assert "at t=108000 s (replay from t=0 s)" in done.stdout
    mine, theirs = digests(fork), digests(parent)
    assert mine == theirs, {t: (mine[t], theirs[t]) for t in mine if mine[t] != theirs[t]}
    assert mine["samples"][0] > 10_000 and mine["decisions"][0] > 0
    assert meta(fork)["fork_tick"] == str(30 * 3600) and meta(fork)["status"] == "completed"
