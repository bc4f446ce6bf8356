"""Checkpoints and `federation resume` (docs/what-if.md): a run restored from a checkpoint records
exactly what the uninterrupted run recorded, whether it was resumed from a completed store, after
SIGINT or after a kill -9 of its coordinator."""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
from conftest import write_scenario

from federation.errors import ScenarioError
from federation.scenario.loader import load

ROOT = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "federation.app.cli"]
TABLES = {  # what must be identical, row for row (decided_at is the wall-clock instant of a decision)
    "samples": "tick, time, signal, value",
    "messages": "tick, time, sent_tick, source, target, payload",
    "decisions": "id, tick, time, source, target, proposal, verdict, decided_by, final, note",
    "kpis": "name, value, unit",
    "synchronisation": "tick, time, pair, status, measurement, before, after, residual, gain, alarm, count, bias, "
                       "rmse, largest",
}  # fmt: skip


def rows(store: Path, table: str) -> list[tuple[object, ...]]:
    db = sqlite3.connect(store)
    try:
        return db.execute(f"SELECT {TABLES[table]} FROM {table} ORDER BY rowid").fetchall()  # noqa: S608
    finally:
        db.close()


def assert_same_store(reference: Path, resumed: Path, after: int) -> None:
    """Every table equal, and rows at or after the checkpoint present (so the resumed run wrote them again)."""
    for table in TABLES:
        assert rows(resumed, table) == rows(reference, table), f"{table} differs"
    db = sqlite3.connect(resumed)
    try:
        assert db.execute("SELECT count(*) FROM samples WHERE tick >= ?", (after,)).fetchone()[0] > 0
        assert db.execute("SELECT value FROM run WHERE key='status'").fetchone()[0] == "completed"
    finally:
        db.close()


def checkpoints(store: Path) -> list[int]:
    try:
        db = sqlite3.connect(f"file:{store}?mode=ro", uri=True)  # read only: never creates the file a run claims
    except sqlite3.OperationalError:  # no store yet
        return []
    try:
        return [t for (t,) in db.execute("SELECT tick FROM checkpoints ORDER BY tick")]
    except sqlite3.OperationalError:  # not created yet
        return []
    finally:
        db.close()


def keep_checkpoints_until(store: Path, tick: int) -> None:
    """Drop the checkpoints after ``tick``: `federation resume` then starts from the one at ``tick``."""
    db = sqlite3.connect(store)
    db.execute("DELETE FROM checkpoint_states WHERE checkpoint IN (SELECT id FROM checkpoints WHERE tick > ?)", (tick,))
    db.execute("DELETE FROM checkpoints WHERE tick > ?", (tick,))
    db.commit()
    db.close()


def riverton(tmp_path: Path, checkpoint: str | None) -> Path:
    """riverton.yaml with absolute data paths, decided by its policy, optionally checkpointed."""
    text = (ROOT / "scenarios" / "riverton.yaml").read_text()
    text = text.replace("../fmus/dist/", f"{ROOT / 'fmus' / 'dist'}/").replace("data/riverton-ict", f"{ROOT}/scenarios/data/riverton-ict")
    first = f"coordinator: {{checkpoint: {{every: {checkpoint}}}}}" if checkpoint else "# no checkpoints"
    text = first + "\n" + text  # one line either way: decisions name their rule's line
    path = tmp_path / ("riverton-cp.yaml" if checkpoint else "riverton.yaml")
    path.write_text(text)
    return path


def cli(*args: str | Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([*CLI, *map(str, args)], capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


UNTIL = "48 h"  # riverton's storm, release, flood, blackout and attack all happen before 48 h


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An uninterrupted riverton run, checkpointed every 12 h."""
    folder = tmp_path_factory.mktemp("riverton")
    out = folder / "reference.sqlite"
    cli("run", riverton(folder, "12 h"), "--until", UNTIL, "--autonomy", "full", "--out", out, "-q")
    return out


@pytest.mark.timeout(300)
@pytest.mark.parametrize("hours", [36])  # 12 h: the kill -9 test resumes from it; 24 h: the fork test starts from it
def test_riverton_resumed_from_a_checkpoint_records_the_same_store(reference: Path, tmp_path: Path, hours: int) -> None:
    """Every federate type of riverton (flood, grid, factory and hospitals by replay, cyber, the SpillwayGate
    FMU, damops, formula) restored from its checkpoint: samples, messages, decisions and KPIs identical."""
    assert checkpoints(reference) == [12 * 3600, 24 * 3600, 36 * 3600]
    store = tmp_path / "resumed.sqlite"
    shutil.copy(reference, store)
    keep_checkpoints_until(store, hours * 3600)
    done = cli("resume", store)
    assert f"resumed from t={hours * 3600}" in done.stdout
    assert_same_store(reference, store, hours * 3600)


@pytest.mark.timeout(300)
def test_resume_after_kill_9_of_the_coordinator(reference: Path, tmp_path: Path) -> None:
    """kill -9 of the coordinator after its first checkpoint; `federation resume` ends with the reference store.

    Killed after the first checkpoint (12 h, before the flood), the resume replays 36 of the 48 h: this test also
    covers a restore from the 12 h checkpoint, which a copied-store resume from 12 h would only repeat."""
    store = tmp_path / "killed.sqlite"
    run = subprocess.Popen([*CLI, "run", str(riverton(tmp_path, "12 h")), "--until", UNTIL, "--autonomy", "full",
                            "--out", str(store), "-q"], cwd=ROOT, start_new_session=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        _wait_for(lambda: len(checkpoints(store)) >= 1 or run.poll() is not None)
        assert run.poll() is None, "the run ended before its first checkpoint"
        run.send_signal(signal.SIGKILL)
        run.wait(10)
    finally:
        _kill_group(run)
    status = sqlite3.connect(store).execute("SELECT value FROM run WHERE key='status'").fetchone()[0]
    assert status == "running"  # killed: never closed
    resumed_from = checkpoints(store)[-1]
    assert resumed_from < 36 * 3600  # killed well before the end: the resume replays the flood, blackout and attack
    done = cli("resume", store)
    assert f"resumed from t={resumed_from}" in done.stdout
    assert_same_store(reference, store, resumed_from)


@pytest.mark.timeout(300)
def test_sigusr1_takes_a_checkpoint_and_resume_continues_an_interrupted_run(reference: Path, tmp_path: Path) -> None:
    """A run without scheduled checkpoints: SIGUSR1 takes one, SIGINT interrupts it, resume completes it."""
    store = tmp_path / "interrupted.sqlite"
    run = subprocess.Popen([*CLI, "run", str(riverton(tmp_path, None)), "--until", UNTIL, "--autonomy", "full",
                            "--out", str(store), "-q"], cwd=ROOT, start_new_session=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        _wait_for(lambda: _recorded(store) > 1000 or run.poll() is not None)
        run.send_signal(signal.SIGUSR1)
        _wait_for(lambda: checkpoints(store) != [] or run.poll() is not None)
        assert run.poll() is None, "the run ended before its checkpoint"
        run.send_signal(signal.SIGINT)
        assert run.wait(60) == 130, run.stderr.read() if run.stderr else ""
    finally:
        _kill_group(run)
    status = sqlite3.connect(store).execute("SELECT value FROM run WHERE key='status'").fetchone()[0]
    assert status == "interrupted"
    cli("resume", store)
    assert_same_store(reference, store, checkpoints(store)[-1])


@pytest.fixture(scope="module")
def fmus(shipped_fmus: list[Path]) -> dict[str, Path]:
    """The project's FMUs, as the session built them into fmus/dist (read only)."""
    return {p.stem: p for p in shipped_fmus}


FMU_SCENARIO = """
    time: {{stop: 2 h, resolution: 1 ms}}
    coordinator: {{checkpoint: {{every: 30 min}}}}
    federates:
      waves: {{type: "{{HELPERS}}:Waves"}}
      gate:
        type: fmu
        params: {{fmu: {gate}, parameters: {{kp: 0.8, ki: 0.002, gate_name: main}}}}
      release:
        type: formula
        params: {{inputs: {{opening: {{}}}}, outputs: {{q: {{expr: "40 * opening", unit: m3/s}}}}}}
      cascade:
        type: fmu
        period: 60
        params: {{fmu: {cascade}}}
    connections:
      - waves.level -> gate.reservoir_level
      - waves.stage -> gate.downstream_stage
      - gate.gate_opening -> release.opening
      - release.q -> cascade.inflow
    """


@pytest.mark.timeout(300)
def test_fmus_resumed_from_their_serialized_state(tmp_path: Path, fmus: dict[str, Path]) -> None:
    """An FMI 2 co-simulation FMU and an FMI 3 model-exchange FMU, saved by fmi*SerializeFMUstate."""
    scenario = write_scenario(tmp_path, FMU_SCENARIO.format(gate=fmus["SpillwayGate"], cascade=fmus["NashCascade"]))
    reference = tmp_path / "fmu.sqlite"
    cli("run", scenario, "--out", reference, "-q")
    assert checkpoints(reference) == [1_800_000, 3_600_000, 5_400_000]
    resume_from_each(reference, tmp_path, (1_800_000, 5_400_000))


def resume_from_each(reference: Path, folder: Path, ticks: tuple[int, ...]) -> None:
    """`federation resume` of a copy of ``reference`` from each checkpoint: the same store as the whole run."""
    for tick in ticks:
        store = folder / f"resumed-{tick}.sqlite"
        shutil.copy(reference, store)
        keep_checkpoints_until(store, tick)
        cli("resume", store)
        assert_same_store(reference, store, tick)


SYNCED = """
    time: {stop: 2 h, resolution: 1 s}
    coordinator: {checkpoint: {every: 30 min}}
    federates:
      truth: {type: "SYNC:LinearReservoir", period: 60, params: {k: 0.0005, inflow: 1.0, storage0: 1000}}
      model: {type: "SYNC:LinearReservoir", period: 60, params: {k: 0.0002, inflow: 1.0, storage0: 1400}}
    synchronise:
      - {pair: truth.storage -> model.storage, method: kalman, model_variance: 40, measurement_variance: 900,
         acceptable: 35, clear_within: 20, alarm_after: 5 min}
    """


@pytest.mark.timeout(120)
def test_a_synchronised_model_resumes_with_its_filter_statistics_and_alarm_state(tmp_path: Path) -> None:
    """The synchroniser's running state -- the Kalman variance, the residual statistics, an alarm raised or
    being delayed -- is part of the checkpoint: the resumed run's corrections are the uninterrupted run's."""
    sync = Path(__file__).with_name("sync_models.py")
    scenario = write_scenario(tmp_path, SYNCED.replace("SYNC:", f"{sync}:"))
    reference = tmp_path / "synced.sqlite"
    cli("run", scenario, "--out", reference, "-q")
    db = sqlite3.connect(reference)
    alarms = [a for (a,) in db.execute("SELECT alarm FROM synchronisation WHERE alarm IS NOT NULL")]
    db.close()
    assert checkpoints(reference) == [1_800, 3_600, 5_400] and alarms, alarms  # an alarm state to carry over
    resume_from_each(reference, tmp_path, (1_800, 3_600))


@pytest.mark.timeout(120)
def test_an_fmu_that_cannot_serialize_its_state_is_named(tmp_path: Path, fmus: dict[str, Path]) -> None:
    stateless = tmp_path / "Unserializable.fmu"
    with zipfile.ZipFile(fmus["SpillwayGate"]) as src, zipfile.ZipFile(stateless, "w") as dst:
        for item in src.infolist():
            data = src.read(item)
            if item.filename == "modelDescription.xml":
                data = data.replace(b'canSerializeFMUstate="true"', b'canSerializeFMUstate="false"')
            dst.writestr(item, data)
    scenario = write_scenario(tmp_path, FMU_SCENARIO.format(gate=stateless, cascade=fmus["NashCascade"]))
    done = subprocess.run([*CLI, "run", str(scenario), "--out", str(tmp_path / "x.sqlite"), "-q"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 1
    assert "federate 'gate'" in done.stderr and "canSerializeFMUstate=\"false\"" in done.stderr
    assert "Unserializable" in done.stderr


def test_checkpoint_setting_is_validated(tmp_path: Path) -> None:
    for value, problem in [("{every: -3 h}", "must be a positive time"), ("{each: 6 h}", "each"),
                           ("6 h", "expected a mapping"), ("{every: soon}", "every")]:  # fmt: skip
        path = write_scenario(tmp_path, f"""
            time: {{stop: 10}}
            coordinator: {{checkpoint: {value}}}
            federates: {{c: {{type: "{{HELPERS}}:Clock"}}}}
            """)
        with pytest.raises(ScenarioError, match=problem) as raised:
            load(path)
        assert "coordinator.checkpoint" in str(raised.value)


def test_resume_of_a_store_without_checkpoints_says_so(tmp_path: Path) -> None:
    path = write_scenario(tmp_path, """
        time: {stop: 10}
        federates: {c: {type: "{HELPERS}:Clock"}}
        """)
    store = tmp_path / "plain.sqlite"
    cli("run", path, "--out", store, "-q", timeout=60)
    done = subprocess.run([*CLI, "resume", str(store)], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert done.returncode != 0
    assert "has no checkpoint" in done.stderr and str(store.name) in done.stderr


# ---------------------------------------------------------------------------- helpers
def _recorded(store: Path) -> int:
    try:
        db = sqlite3.connect(f"file:{store}?mode=ro", uri=True)
        try:
            return int(db.execute("SELECT count(*) FROM samples").fetchone()[0])
        finally:
            db.close()
    except sqlite3.Error:
        return 0


def _wait_for(condition: object, limit: float = 120.0) -> None:
    """Poll the store for a condition the run makes true (the run's own progress, not a fixed delay)."""
    deadline = time.monotonic() + limit
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out waiting for the run"
        time.sleep(0.02)


def _kill_group(run: subprocess.Popen[str] | subprocess.Popen[bytes]) -> None:
    """Whatever is left of the run's session (federates of a killed coordinator) is ended and reaped."""
    try:
        os.killpg(run.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    run.wait(10)


RESTART = """
    time: {{stop: 20, resolution: 1 s}}
    {coordinator}
    federates:
      flaky: {{type: "{{HELPERS}}:CrashingWalk", params: {{at: 9.0, marker: "{marker}"}}, restart: {restart}}}
      noisy: {{type: "{{HELPERS}}:Noisy"}}
      probe: {{type: "{{HELPERS}}:Probe"}}
      pinger: {{type: "{{HELPERS}}:Pinger", params: {{schedule: [[2, 11, a], [7, 10, b], [12, 15, c]]}}}}
      listener: {{type: "{{HELPERS}}:Listener"}}
    connections:
      - flaky.y -> probe.u
      - noisy.z -> listener.u
    messages:
      - pinger.out -> listener.inbox
    """


@pytest.mark.timeout(120)
@pytest.mark.parametrize("coordinator", ["coordinator: {checkpoint: {every: 4 s}}", "# only the checkpoint at the start"])
def test_restart_from_checkpoint_rolls_the_federation_back(tmp_path: Path, coordinator: str) -> None:
    """A federate killed at t=9 s restarts; everyone goes back to the last checkpoint; the store is as without the crash."""
    never = tmp_path / "never"
    never.touch()  # CrashOnce crashes only while its marker file is missing
    reference = tmp_path / "reference.sqlite"
    cli("run", write_scenario(tmp_path, RESTART.format(coordinator=coordinator, marker=never, restart="from-checkpoint"), "ref.yaml"),
        "--out", reference, "-q", timeout=60)  # fmt: skip
    marker = tmp_path / "crashed"
    store = tmp_path / "crashed.sqlite"
    cli("run", write_scenario(tmp_path, RESTART.format(coordinator=coordinator, marker=marker, restart="from-checkpoint"), "crash.yaml"),
        "--out", store, "-q", timeout=60)  # fmt: skip
    assert marker.exists()
    db = sqlite3.connect(store)
    assert db.execute("SELECT value FROM run WHERE key='restart_flaky_1'").fetchone()[0].startswith("t=9 s")
    db.close()
    for table in ("samples", "messages"):
        assert rows(store, table) == rows(reference, table), f"{table} differs"
    assert "rolled back to its checkpoint" in (tmp_path / "crashed.logs" / "coordinator.log").read_text()


@pytest.mark.timeout(120)
def test_restart_from_scratch_differs_where_from_checkpoint_does_not(tmp_path: Path) -> None:
    """The control: the same crash with `restart: scratch` starts the walk and the count again."""
    never = tmp_path / "never"
    never.touch()
    coordinator = "# no checkpoints"
    reference, store = tmp_path / "reference.sqlite", tmp_path / "scratch.sqlite"
    cli("run", write_scenario(tmp_path, RESTART.format(coordinator=coordinator, marker=never, restart="scratch"),
                              "ref.yaml"), "--out", reference, "-q", timeout=60)  # fmt: skip
    cli("run", write_scenario(tmp_path, RESTART.format(coordinator=coordinator, marker=tmp_path / "crashed",
                                                       restart="scratch"), "crash.yaml"), "--out", store, "-q",
        timeout=60)  # fmt: skip
    assert rows(store, "samples") != rows(reference, "samples")


def test_the_control_endpoint_asks_for_a_checkpoint() -> None:
    """`{"op": "checkpoint"}` on the control endpoint calls the coordinator's request_checkpoint."""
    import json

    from federation.decisions.gate import DecisionGate, DecisionSpec

    gate = DecisionGate(DecisionSpec(classes=("a.orders",)))
    ask = lambda: gate._control_request(json.dumps({"op": "checkpoint"}).encode())  # noqa: E731
    assert ask() == {"ok": False, "error": "this run cannot take checkpoints"}
    asked: list[bool] = []
    gate.on_checkpoint = lambda: asked.append(True)
    assert ask() == {"ok": True} and asked == [True]


@pytest.mark.timeout(300)
def test_a_fork_with_no_change_reproduces_its_parent(reference: Path, tmp_path: Path) -> None:
    """`federation fork --at 30h --tolerance 6h` starts from the 24 h checkpoint; every table equals the parent's."""
    fork = tmp_path / "fork.sqlite"
    done = cli("fork", reference, "--at", "30 h", "--tolerance", "6 h", "--out", fork)
    assert "fork of" in done.stdout and "at t=86400 s (checkpoint at t=86400 s)" in done.stdout
    assert_same_store(reference, fork, 24 * 3600)
    meta = dict(sqlite3.connect(fork).execute("SELECT key, value FROM run").fetchall())
    assert meta["parent_store"] == str(reference.resolve()) and meta["fork_tick"] == str(24 * 3600)


@pytest.mark.timeout(120)
def test_a_fork_with_a_changed_parameter_diverges_from_the_fork_point(tmp_path: Path) -> None:
    """y = a*t + b: the fork's --set aff.b=5 applies from its checkpoint (t=10 s, --tolerance any) on; before,
    the parent's rows."""
    path = write_scenario(tmp_path, """
        time: {stop: 20, resolution: 1 s}
        coordinator: {checkpoint: {every: 5 s}}
        federates:
          clock: {type: "{HELPERS}:Clock"}
          aff: {type: "{HELPERS}:Affine", params: {a: 0.5, b: 1.0}}
        connections:
          - clock.y -> aff.u
        """)
    parent, fork = tmp_path / "parent.sqlite", tmp_path / "fork.sqlite"
    cli("run", path, "--out", parent, "-q", timeout=60)
    cli("fork", parent, "--at", "12", "--tolerance", "any", "--set", "aff.b=5", "--out", fork, timeout=60)
    query = ("SELECT s.tick, s.value FROM samples s JOIN signals g ON g.id = s.signal "
             "WHERE g.federate = 'aff' AND g.name = 'y' ORDER BY s.tick")  # fmt: skip
    before = sqlite3.connect(parent).execute(query).fetchall()
    after = sqlite3.connect(fork).execute(query).fetchall()
    assert before == [(t, 0.5 * t + 1.0) for t in range(21)]
    assert after == [(t, 0.5 * t + (1.0 if t < 10 else 5.0)) for t in range(21)]
