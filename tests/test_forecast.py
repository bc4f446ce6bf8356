"""Forecasts at a pending decision (docs/decisions.md, docs/what-if.md): while riverton's pre-release
(decision 2, t=39900 s) waits for the operator, one fork per alternative runs ahead; the KPIs are shown
at the terminal before the answer, recorded in the store, and a fork that cannot finish before the
decision's timeout is reported as such."""

from __future__ import annotations

import json
import pickle
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import zmq

ROOT = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "federation.app.cli"]
ASK_NOTE = "      note: pre-release and downstream limits need the duty manager\n"
FORECAST = "      forecast: {horizon: 24 h, alternatives: [approve, reject, {edit: {opening: 0.3}}]}\n"
UNTIL = "30 h"


def riverton(folder: Path, timeout: str = "2 min", forecast: str = FORECAST) -> Path:
    """riverton.yaml, checkpointed every 6 h, its 'ask' rule forecasting three answers."""
    text = (ROOT / "scenarios" / "riverton.yaml").read_text()
    text = text.replace("../fmus/dist/", f"{ROOT / 'fmus' / 'dist'}/").replace("data/riverton-ict", f"{ROOT}/scenarios/data/riverton-ict")
    assert ASK_NOTE in text
    text = text.replace(ASK_NOTE, ASK_NOTE + forecast).replace("timeout: 2 min", f"timeout: {timeout}")
    path = folder / "riverton-forecast.yaml"
    path.write_text("coordinator: {checkpoint: {every: 6 h}}\n" + text)
    return path


def forecasts(store: Path) -> list[dict[str, object]]:
    db = sqlite3.connect(store)
    db.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in db.execute("SELECT * FROM forecasts ORDER BY rowid")]
    finally:
        db.close()


def kpis(store: Path) -> dict[str, object]:
    db = sqlite3.connect(store)
    try:
        return dict(db.execute("SELECT name, value FROM kpis").fetchall())
    finally:
        db.close()


def start(scenario: Path, out: Path) -> subprocess.Popen[str]:
    return subprocess.Popen([*CLI, "run", str(scenario), "--until", UNTIL, "--interactive", "--out", str(out), "-q"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=ROOT)  # fmt: skip


@pytest.mark.timeout(600)
def test_forecasts_are_shown_before_the_answer_and_match_the_run(tmp_path: Path) -> None:
    out = tmp_path / "run.sqlite"
    run = start(riverton(tmp_path), out)
    try:
        assert run.stderr is not None and run.stdin is not None
        seen: list[str] = []
        for line in run.stderr:  # the operator reads the forecasts, then answers
            seen.append(line)
            if line.startswith("  edit:"):
                break
        text = "".join(seen)
        assert "[decision 2] forecast to t=108000 s from now (t=39900 s), 3 alternatives in" in text, text
        assert "\n  approve: unserved_energy " in text and "\n  reject: unserved_energy " in text
        _, err = run.communicate("a\n", timeout=400)
        assert run.returncode == 0, err[-3000:]
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
    rows = forecasts(out)
    assert [(r["decision"], r["alternative"], r["status"]) for r in rows] == [
        (2, "approve", "done"), (2, "reject", "done"), (2, 'edit:{"opening": 0.3}', "done")]
    approve, reject, edit = (json.loads(str(r["kpis"])) for r in rows)
    # approved at the terminal, the run went on as the approving fork did: the same KPIs, to the last bit
    assert {k: v["value"] for k, v in approve.items()} == kpis(out)
    assert reject["unserved_energy"]["value"] > approve["unserved_energy"]["value"]  # no pre-release: more blackout
    delta = json.loads(str(rows[1]["delta"]))
    assert delta["unserved_energy"] == reject["unserved_energy"]["value"] - approve["unserved_energy"]["value"]
    assert all(v in (0, None) for v in json.loads(str(rows[0]["delta"])).values())
    assert edit["unserved_energy"]["value"] != approve["unserved_energy"]["value"]
    # the forks started from a snapshot taken at the hold: the held step (its DONE frame, the gated message in it)
    # is in it, and the decision counter as before decision 2, which a run restored from it proposes again
    db = sqlite3.connect(out)
    try:
        (state,) = db.execute("SELECT coordinator FROM checkpoints WHERE time = 39900").fetchone()
    finally:
        db.close()
    saved = pickle.loads(state)
    assert saved["gate"] == 2 and len(saved["held"]) == 1
    _, frame = saved["held"][0]
    assert frame[1] == 39900 and [m[0] for m in frame[4]] == ["orders"]


@pytest.mark.timeout(600)
def test_forks_that_cannot_finish_before_the_timeout_are_reported_and_not_waited_on(tmp_path: Path) -> None:
    out = tmp_path / "run.sqlite"
    run = start(riverton(tmp_path, timeout="2 s"), out)
    try:
        began = time.monotonic()
        assert run.stderr is not None
        err = "".join(run.stderr)  # stdin stays open and silent: nobody answers, the default (approve) after 2 s
        assert run.wait(timeout=60) == 0, err[-3000:]
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
    assert "[decision 2] no answer in 2 s: approved (the default)" in err
    rows = forecasts(out)
    assert {r["status"] for r in rows} == {"timed out"}, rows
    assert {r["note"] for r in rows} <= {"could not finish before the decision's timeout (2 s)",
                                         "not started before the decision's timeout (2 s)"}  # fmt: skip
    # started or not yet (the snapshot at the hold comes first; on a loaded machine it may take more than 2 s)
    assert re.search(r"reject: timed out \((could not finish|not started) before the decision's timeout \(2 s\)\)", err), err
    assert time.monotonic() - began < 300
    shown = re.search(r"\[decision 2\] forecast to t=108000 s from now \(t=39900 s\), 3 alternatives in "
                      r"([0-9.]+) s:", err)  # fmt: skip
    assert shown is not None and 2.0 <= float(shown.group(1)) < 4.0, err  # at the timeout, not after the forks


@pytest.mark.timeout(120)
@pytest.mark.parametrize(("forecast", "problem"), [
    ("{horizon: 24 h, alternatives: [approve, maybe]}",
     "expected approve, reject or {edit: {field: value}}, got 'maybe'"),
    ("{horizon: soon}", "a duration such as '24 h' is needed"),
    ("{horizon: 24 h, ahead: 1}", "unknown key (expected horizon, alternatives, executor, scheduler)"),
])  # fmt: skip
def test_a_wrong_forecast_is_refused_with_its_line(tmp_path: Path, forecast: str, problem: str) -> None:
    path = riverton(tmp_path, forecast=f"      forecast: {forecast}\n")
    line = path.read_text().splitlines().index(f"      forecast: {forecast}") + 1
    done = subprocess.run([*CLI, "validate", str(path)], capture_output=True, text=True, timeout=100, cwd=ROOT)
    assert done.returncode != 0
    assert f"{line}:" in done.stderr and problem in done.stderr, done.stderr


@pytest.mark.timeout(600)
def test_the_control_endpoint_shows_the_forecasts_of_a_pending_decision(tmp_path: Path) -> None:
    """Through --control: the pending view carries each alternative's status, then its KPIs and delta;
    the program rejects, and the run records what the rejecting forecast said, KPI for KPI."""
    out = tmp_path / "run.sqlite"
    users = tmp_path / "users"
    users.write_text("ops operator ops-token-0123456789\n")
    users.chmod(0o600)
    argv = [*CLI, "run", str(riverton(tmp_path)), "--until", UNTIL, "--out", str(out), "--control", "tcp://127.0.0.1",
            "--users", str(users), "-q"]  # fmt: skip
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    assert proc.stderr is not None
    banner = proc.stderr.readline()
    rest: list[str] = []
    drain = threading.Thread(target=lambda: rest.extend(proc.stderr or ()), daemon=True)
    drain.start()
    client = zmq.Context.instance().socket(zmq.REQ)
    client.setsockopt(zmq.LINGER, 0)
    client.setsockopt(zmq.RCVTIMEO, 30_000)

    def ask(request: dict[str, object]) -> dict[str, Any]:
        client.send_string(json.dumps({**request, "token": "ops-token-0123456789"}))
        reply: dict[str, Any] = json.loads(client.recv())
        return reply

    try:
        assert banner.startswith("federation: decision control endpoint at tcp://127.0.0.1:"), banner
        client.connect(banner.rsplit(" ", 1)[1].strip())
        states: set[str] = set()
        while True:  # each request is a round trip to the coordinator
            pending = ask({"op": "pending"})["pending"]
            if not pending:
                continue
            views = pending[0]["forecasts"]
            states |= {v["status"] for v in views}
            if all(v["status"] == "done" and "delta" in v for v in views):
                break
        assert pending[0]["id"] == 2 and "running" in states
        assert [v["alternative"] for v in views] == ["approve", "reject", 'edit:{"opening": 0.3}']
        reject = views[1]
        assert reject["delta"]["unserved_energy"] == (reject["kpis"]["unserved_energy"]["value"]
                                                      - views[0]["kpis"]["unserved_energy"]["value"])  # fmt: skip
        assert ask({"op": "decide", "id": 2, "verdict": "reject"}) == {"ok": True}
        assert proc.wait(300) == 0, "".join(rest)[-3000:]
    finally:
        client.close()
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            proc.wait(30)
        drain.join(10)
    assert kpis(out) == {k: v["value"] for k, v in reject["kpis"].items()}
    assert [r["status"] for r in forecasts(out)] == ["done"] * 3


@pytest.mark.timeout(600)
def test_forecasts_run_on_a_dask_cluster(tmp_path: Path) -> None:
    """``executor: dask``: the forks are tasks on a (local) Dask cluster; the forecasts are the same as local ones."""
    pytest.importorskip("distributed")
    out = tmp_path / "run.sqlite"
    forecast = FORECAST.replace("}]}", "}], executor: dask}")
    run = start(riverton(tmp_path, forecast=forecast), out)
    try:
        assert run.stderr is not None
        seen: list[str] = []
        for line in run.stderr:
            seen.append(line)
            if line.startswith("  edit:"):
                break
        text = "".join(seen)
        assert "[decision 2] forecast to t=108000 s from now (t=39900 s), 3 alternatives in" in text, text
        _, err = run.communicate("r\n", timeout=400)  # rejected at the terminal
        assert run.returncode == 0, err[-3000:]
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
    rows = forecasts(out)
    assert [(r["alternative"], r["status"]) for r in rows] == [
        ("approve", "done"), ("reject", "done"), ('edit:{"opening": 0.3}', "done")], rows
    reject = json.loads(str(rows[1]["kpis"]))
    # the run, rejected, went on as the rejecting fork on the cluster did: the same KPIs, to the last bit
    assert {k: v["value"] for k, v in reject.items()} == kpis(out)
    assert all(Path(str(r["store"])).exists() for r in rows)


def test_without_a_snapshot_at_the_hold_the_forks_start_from_the_last_checkpoint(tmp_path: Path) -> None:
    """The fallback: no snapshot at the hold (here: the coordinator says why not), so each fork starts from the
    last checkpoint, answers the decisions taken since as they were taken, and the forecast says why."""
    from federation.decisions.gate import Answer, DecisionGate, DecisionSpec, ForecastSpec, Rule, Verdict
    from federation.engine.checkpoint import HoldSnapshot
    from federation.engine.forecast import Forecasts, ForecastStatus, describe
    from federation.results.store import Saved

    spec = ForecastSpec(86400.0, (Answer(Verdict.APPROVE), Answer(Verdict.REJECT)))
    rules = (Rule(Verdict.APPROVE, "damops.orders", key="opening", below=0.5),
             Rule(Verdict.ASK, "damops.orders", forecast=spec))  # fmt: skip
    context = zmq.Context()
    gate = DecisionGate(DecisionSpec(("damops.orders",), rules), control="tcp://127.0.0.1", context=context)
    asked: list[Any] = []
    try:
        saved = Saved(21600, 21600.0, b"", {})
        forecasts = Forecasts(gate, tmp_path / "run.sqlite", tmp_path / "forecasts", 129600.0, lambda: saved,
                              lambda rows: None, cores=1, snapshot=lambda tick, done: asked.append((tick, done)))  # fmt: skip
        gate.on_held = forecasts.start
        assert gate.propose(30000, 30000.0, "damops.orders", {"opening": 0.2}, ("flood.gate_orders",))[1] is not None
        pid, decision = gate.propose(39900, 39900.0, "damops.orders", {"opening": 0.6}, ("flood.gate_orders",))
        assert decision is None and [tick for tick, _ in asked] == [39900]
        assert {j.status for j in forecasts.jobs} == {ForecastStatus.SNAPSHOT}
        forecasts.slots = 0  # keep them queued: this test starts no process
        asked[0][1](HoldSnapshot(None, "the decision was answered before the federation came to rest"))
        approve, reject = forecasts.jobs
        assert reject.status is ForecastStatus.QUEUED and reject.origin == "checkpoint" and reject.fork_time == 21600.0
        assert reject.note == "no snapshot at the hold: the decision was answered before the federation came to rest"
        assert reject.args[:4] == ["fork", str(tmp_path / "run.sqlite"), "--at", "21600.0"]
        assert reject.args[4:8] == ["--answer", "1=approve", "--answer", f"{pid}=reject"]  # decision 1 as it was taken
        rows = [{**j.to_json(), "until_time": j.until, "delta": {}} for j in (approve, reject)]
        text = describe(gate.pending[pid], rows, 1.0)
        assert "from the checkpoint at t=21600 s" in text and "(no snapshot at the hold: the decision was answered" in text
    finally:
        gate.close()
        context.term()


def test_a_paced_run_keeps_a_core_and_its_forks_run_lower(tmp_path: Path) -> None:
    """Unpaced, one fork more than the cores runs at a time (the live run is held anyway); paced, one fewer than the
    cores (at least one), at nice +10, so that the live federation keeps a core."""
    from federation.decisions.gate import DecisionGate, DecisionSpec
    from federation.engine.forecast import PACED_NICE, Forecasts

    gate = DecisionGate(DecisionSpec())
    args = (gate, tmp_path / "run.sqlite", tmp_path / "forecasts", 3600.0, lambda: None, lambda rows: None)
    fast, paced, single = Forecasts(*args, cores=2), Forecasts(*args, cores=2, paced=True), Forecasts(*args, cores=1, paced=True)
    assert (fast.slots, fast.nice) == (3, 0)
    assert (paced.slots, paced.nice) == (1, PACED_NICE) and PACED_NICE > 0
    assert single.slots == 1
