"""Checkpoints with federates in worker processes (``process: shared`` or a group name, docs/scenarios.md
"process"): `federation resume`, `federation fork --at` (from a checkpoint and by replay), a roll-back
(`restart: from-checkpoint` of another federate) and forecasts record what the uninterrupted run
recorded, table by table, as they do for federates in processes of their own (tests/test_checkpoint.py).

The federation mixes every save path a member can take -- state (a random walk, sums), replay (a SimPy
queue) and an iterate group's snapshots -- with messages between a worker and a process of its own.
"""

from __future__ import annotations

import json
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import write_scenario
from test_checkpoint import (
    _kill_group,
    _wait_for,
    assert_same_store,
    checkpoints,
    keep_checkpoints_until,
    rows,
)
from test_fork_replay import cli, meta

from federation.errors import ScenarioError
from federation.scenario.loader import load

ROOT = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "federation.app.cli"]

MODELS = '''
import os

from federation import Endpoint, Federate, Input, Output, Parameter
from federation.api.simpy_federate import SimPyFederate


class Walk(Federate):
    """A random walk (self.rng) and a step count; sends its count every 4 steps."""

    default_period = 1.0
    walk = Output(default=0.0)
    count = Output(type=int, default=0)
    out = Endpoint()

    def step(self, t):
        self.walk = self.walk + float(self.rng.normal())
        self.count = self.count + 1
        if self.count % 4 == 0:
            self.send("out", {"n": self.count})


class Crashy(Walk):
    """A Walk whose process exits at ``at`` once (the marker file remembers)."""

    at = Parameter(1e9)
    marker = Parameter("", type=str)

    def step(self, t):
        if t >= self.at and not os.path.exists(self.marker):
            open(self.marker, "w").close()
            os._exit(9)
        super().step(t)


class Gain(Federate):
    """y = k * u, total = the sum of every y; at ``at``, while ``marker`` is missing, raises or exits (``how``)."""

    default_period = 1.0
    k = Parameter(2.0)
    at = Parameter(1e9)
    how = Parameter("raise", type=str)
    marker = Parameter("", type=str)
    u = Input(default=0.0)
    y = Output(default=0.0)
    total = Output(default=0.0)

    def step(self, t):
        if t >= self.at and not os.path.exists(self.marker):
            if self.how == "exit":
                os._exit(9)
            raise ValueError(f"gain fails at t={t:g}")
        self.y = self.k * self.u
        self.total = self.total + self.y

    def restore_state(self, state):
        if self.how == "restore" and not os.path.exists(self.marker):
            raise RuntimeError("cannot take up the saved state")
        super().restore_state(state)


class Tally(Federate):
    """Event-driven: woken by messages, sums their payloads."""

    inbox_ep = Endpoint(name="inbox")
    wakes = Output(type=int, default=0)
    sum = Output(type=int, default=0)

    def step(self, t):
        self.wakes += 1
        self.sum += sum(m.payload["n"] for m in self.inbox)


class Queue(SimPyFederate):
    """A SimPy queue (saved by replay): an arrival every ``gap`` s, served by 1 to 3 a step as its input says."""

    default_period = 1.0
    gap = Parameter(0.7)
    rate = Input(default=0.0)
    length = Output(type=int, default=0)
    served = Output(type=int, default=0)

    def setup(self):
        self.waiting = self.done = 0
        self.env.process(self.arrivals())

    def arrivals(self):
        while True:
            yield self.env.timeout(self.gap)
            self.waiting += 1

    def react(self, t):
        take = min(self.waiting, 1 + int(abs(self.inputs["rate"])) % 3)
        self.waiting -= take
        self.done += take

    def publish(self, t):
        self.length, self.served = self.waiting, self.done
'''

GROUPED = """
time: {stop: 30, resolution: 1 s}
coordinator: {workers: 2, checkpoint: {every: 10 s}}
federates:
  walk: {type: models.py:Walk, process: shared}
  gain: {type: models.py:Gain, params: %(gain)s, process: shared}
  tally: {type: models.py:Tally, process: shared}
  queue: {type: models.py:Queue, process: g}
  a: {type: "{HELPERS}:Loop", params: {gain: 0.5, bias: 1.0}, process: g}
  b: {type: "{HELPERS}:Loop", params: {gain: 0.5, bias: 0.0}, process: g}
  solo: %(solo)s
connections:
  - walk.walk -> gain.u
  - gain.y -> queue.rate
  - {from: a.x_out, to: b.x_in, iterate: loop}
  - {from: b.x_out, to: a.x_in, iterate: loop}
messages:
  - walk.out -> tally.inbox
  - solo.out -> tally.inbox
iterate:
  loop: {tolerance: 1.0e-10, max_iterations: 100}
"""
SOLO = "{type: models.py:Walk}"  # a process of its own, sending to a member of a worker


def scenario(folder: Path, name: str, *, gain: str = "{}", solo: str = SOLO, grouped: bool = True) -> Path:
    (folder / "models.py").write_text(MODELS)
    text = GROUPED % {"gain": gain, "solo": solo}
    return write_scenario(folder, text if grouped else re.sub(r", process: \w+", "", text), name)




@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The grouped run, uninterrupted, checkpointed every 10 s; it records what the same run without
    worker processes records (so every comparison below is also one with processes of their own)."""
    folder = tmp_path_factory.mktemp("grouped")
    out, own = folder / "reference.sqlite", folder / "own.sqlite"
    cli("run", scenario(folder, "grouped.yaml"), "--out", out, "-q")
    cli("run", scenario(folder, "own.yaml", grouped=False), "--out", own, "-q")
    assert "started worker group 'g'" in (folder / "reference.logs" / "coordinator.log").read_text()
    assert checkpoints(out) == [10, 20]
    for table in ("samples", "messages"):
        assert rows(out, table) == rows(own, table), table
    assert len(rows(out, "messages")) == 14
    return out


@pytest.mark.timeout(180)
@pytest.mark.parametrize("batch", ["1", "0"])  # 0: every member in a thread of its own (FEDERATION_BATCH)
def test_a_grouped_run_resumed_from_each_checkpoint_records_the_same_store(reference: Path, tmp_path: Path,
                                                                           batch: str) -> None:  # fmt: skip
    for tick in (10, 20):
        store = tmp_path / f"resumed-{tick}.sqlite"
        shutil.copy(reference, store)
        keep_checkpoints_until(store, tick)
        done = cli("resume", store, env={"FEDERATION_BATCH": batch})
        assert f"resumed from t={tick} s" in done.stdout
        assert_same_store(reference, store, tick)
        log = (tmp_path / f"resumed-{tick}.logs" / "queue.log").read_text()  # the SimPy member re-ran its grants
        assert f"restored the state saved at t={tick} s" in log


@pytest.mark.timeout(120)
def test_an_interrupted_grouped_run_resumes_to_the_same_store(reference: Path, tmp_path: Path) -> None:
    """Ctrl-C (SIGINT) after the first checkpoint of a paced run; `federation resume` completes it."""
    store = tmp_path / "interrupted.sqlite"
    run = subprocess.Popen([*CLI, "run", str(scenario(tmp_path, "grouped.yaml")), "--pace", "5", "--out", str(store),
                            "-q"], cwd=ROOT, start_new_session=True, stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        _wait_for(lambda: checkpoints(store) != [] or run.poll() is not None)
        assert run.poll() is None, "the run ended before its first checkpoint"
        run.send_signal(signal.SIGINT)
        assert run.wait(60) == 130, run.stderr.read() if run.stderr else ""
    finally:
        _kill_group(run)
    assert meta(store)["status"] == "interrupted"
    resumed_from = checkpoints(store)[-1]
    done = cli("resume", store)
    assert f"resumed from t={resumed_from} s" in done.stdout
    assert_same_store(reference, store, resumed_from)


@pytest.mark.timeout(180)
def test_a_grouped_run_forked_from_a_checkpoint_or_by_replay_records_the_parent_s_store(reference: Path,
                                                                                        tmp_path: Path) -> None:  # fmt: skip
    for at, start, how in [(20, "checkpoint", "checkpoint at t=20 s"), (15, "replay", "replay from the checkpoint "
                           "at t=10 s"), (5, "replay", "replay from t=0 s")]:  # fmt: skip
        fork = tmp_path / f"fork-{at}.sqlite"
        done = cli("fork", reference, "--at", str(at), "--out", fork)
        assert f"at t={at} s ({how})" in done.stdout
        assert_same_store(reference, fork, at)
        assert (meta(fork)["fork_tick"], meta(fork)["fork_start"]) == (str(at), start)


Y = ("SELECT s.tick, s.value FROM samples s JOIN signals g ON g.id = s.signal "
     "WHERE g.federate = ? AND g.name = ? ORDER BY s.tick")  # fmt: skip


def series(store: Path, federate: str, name: str) -> dict[int, float]:
    db = sqlite3.connect(store)
    try:
        return dict(db.execute(Y, (federate, name)).fetchall())
    finally:
        db.close()


@pytest.mark.timeout(120)
@pytest.mark.parametrize(("at", "tolerance"), [(15, "0"), (12, "5")])  # by replay; from the checkpoint at 10 s
def test_a_grouped_fork_with_a_changed_parameter_diverges_at_its_fork_point(reference: Path, tmp_path: Path,
                                                                            at: int, tolerance: str) -> None:  # fmt: skip
    """--set gain.k=3 on a member of the pool: y = 2 * walk before the fork point, 3 * walk from it on."""
    fork = tmp_path / "fork.sqlite"
    cli("fork", reference, "--at", str(at), "--tolerance", tolerance, "--set", "gain.k=3", "--out", fork)
    point = int(meta(fork)["fork_tick"])
    assert point == (at if tolerance == "0" else 10)
    walk, y = series(fork, "walk", "walk"), series(fork, "gain", "y")
    assert walk == series(reference, "walk", "walk") and sorted(y) == list(range(31))
    assert all(y[t] == (2.0 if t < point else 3.0) * walk[t] for t in range(31))
    assert series(fork, "queue", "served") != series(reference, "queue", "served")  # y feeds the queue's rate


@pytest.mark.timeout(120)
@pytest.mark.parametrize(("how", "error"), [
    ("raise", r"federate 'gain' at t=25 s while stepping to t=25 s: ValueError: gain fails at t=25 \("),
    ("exit", r"federate '(walk|gain)' at t=2\d s while stepping to t=2\d s: process exited with code 9 "
             r"\(the worker process of group 'shared\.1', shared with (walk|gain)\)"),  # the pool's first worker
    ("restore", r"federate 'gain' at t=19 s while restoring its state: RuntimeError: cannot take up the saved "
                r"state \("),
], ids=["raise", "exit", "restore"])  # fmt: skip
def test_a_crash_of_a_grouped_federate_during_a_resume_names_it(tmp_path: Path, how: str, error: str) -> None:
    """The run went through (its marker file there); the resume from 20 s fails (the marker gone): the
    error names the member, or for a crash of the whole worker process its group and every member."""
    marker = tmp_path / "marker"
    marker.touch()
    store = tmp_path / "run.sqlite"
    cli("run", scenario(tmp_path, "crash.yaml", gain=f'{{at: 25, how: {how}, marker: "{marker}"}}'), "--out", store,
        "-q")  # fmt: skip
    marker.unlink()
    done = cli("resume", store, ok=False)
    assert done.returncode == 1
    assert re.search(rf"^federation: error: {error}", done.stderr, re.M), done.stderr
    assert meta(store)["status"] == "failed"


@pytest.mark.timeout(120)
def test_a_roll_back_restores_every_member_of_every_worker(reference: Path, tmp_path: Path) -> None:
    """`solo` (a process of its own, restart: from-checkpoint) exits at 15 s: the federation goes back to
    the 10 s checkpoint -- the members of both workers, the SimPy queue re-run on a new instance -- and
    records what the uninterrupted run recorded."""
    marker = tmp_path / "crashed"
    solo = f'{{type: models.py:Crashy, params: {{at: 15, marker: "{marker}"}}, restart: from-checkpoint}}'
    store = tmp_path / "rolled.sqlite"
    cli("run", scenario(tmp_path, "rolled.yaml", solo=solo), "--out", store, "-q")
    assert marker.exists() and meta(store)["restart_solo_1"].startswith("t=15 s")
    for table in ("samples", "messages"):
        assert rows(store, table) == rows(reference, table), f"{table} differs"


@pytest.mark.parametrize("restart", ["from-checkpoint", "{policy: from-checkpoint, limit: 2}", "scratch"])
def test_a_member_of_a_worker_cannot_be_restarted_on_its_own(tmp_path: Path, restart: str) -> None:
    """A worker restarts no member alone (a restart would start a new worker, without the other members)."""
    path = write_scenario(tmp_path, f"""\
        time: {{stop: 1}}
        federates:
          f: {{type: "{{HELPERS}}:Clock", restart: {restart}, process: g}}
        """)
    with pytest.raises(ScenarioError, match=r"scenario.yaml:3:.*federates\.f\.process: a federate in a worker process "
                                            r"cannot be restarted on its own \(restart: (from-checkpoint|scratch)\); "
                                            r"use 'process: own' with 'restart'"):  # fmt: skip
        load(path)


FORECAST = """
time: {stop: 30, resolution: 1 s}
coordinator: {workers: 2}
federates:
  walk: {type: models.py:Walk, process: shared}
  gain: {type: models.py:Gain, process: shared}
  queue: {type: models.py:Queue, process: g}
  operator: {type: "{HELPERS}:Proposer", params: {plan: [[12.0, 0.9]]}, process: g}
  plant: {type: "{HELPERS}:Actuator", process: g}
  solo: {type: models.py:Walk}
  tally: {type: models.py:Tally}
connections:
  - walk.walk -> gain.u
  - gain.y -> queue.rate
messages:
  - walk.out -> tally.inbox
  - solo.out -> tally.inbox
  - operator.setting -> plant.setting
decisions:
  require_approval: [operator.setting]
  default: approve
  timeout: 2 min
  policy:
    - match: {class: operator.setting}
      verdict: ask
      forecast: {horizon: 18 s, alternatives: [approve, reject]}
kpis:
  setting: {signal: plant.value, reduce: last}
  served: {signal: queue.served, reduce: last}
  total: {signal: gain.total, reduce: last}
  messages: {signal: tally.sum, reduce: last}
"""


@pytest.mark.timeout(180)
def test_forecasts_of_a_grouped_run_fork_from_the_snapshot_at_the_hold(tmp_path: Path) -> None:
    """Proposed at 12 s, forecast to the stop (30 s): answered 'reject' at the terminal, the run ends with
    the KPIs of the 'reject' forecast, value for value; 'approve' differs only in the setting."""
    (tmp_path / "models.py").write_text(MODELS)
    out = tmp_path / "run.sqlite"
    run = subprocess.Popen([*CLI, "run", str(write_scenario(tmp_path, FORECAST)), "--interactive", "--out", str(out),
                            "-q"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           cwd=ROOT)  # fmt: skip
    try:
        assert run.stderr is not None
        seen = []
        for line in run.stderr:  # the operator reads the forecasts, then answers
            seen.append(line)
            if line.startswith("  reject:"):
                break
        assert "[decision 1] forecast to t=30 s from now (t=12 s), 2 alternatives in" in "".join(seen), "".join(seen)
        _, err = run.communicate("r\n", timeout=120)
        assert run.returncode == 0, err[-3000:]
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
    db = sqlite3.connect(out)
    try:
        kpis = dict(db.execute("SELECT name, value FROM kpis").fetchall())
        found = db.execute("SELECT alternative, status, kpis FROM forecasts ORDER BY rowid").fetchall()
    finally:
        db.close()
    assert [(a, s) for a, s, _ in found] == [("approve", "done"), ("reject", "done")]
    approve, reject = ({k: v["value"] for k, v in json.loads(k).items()} for _, _, k in found)
    assert reject == kpis and kpis["served"] > 0 and kpis["messages"] > 0
    assert approve == kpis | {"setting": 0.9}
