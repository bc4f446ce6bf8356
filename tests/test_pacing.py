"""Pacing to the wall clock: no grant before its instant, the lag recorded, catch-up, max_lag, hold-back, epoch.

Runs are paced 5x to 40x so that each lasts about a second.  The tolerances allow for a
loaded two-core machine, yet every test fails when the coordinator does not pace: an
unpaced run of these scenarios takes milliseconds and grants ticks before their instants.
"""

from __future__ import annotations

import math
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from federation.errors import FederateError, ScenarioError
from federation.results.report import write_report
from federation.results.store import RunStore
from federation.scenario.loader import load
from tests.conftest import write_scenario

pytestmark = pytest.mark.timeout(60)

CLOCK = """
    time: {{stop: {stop}, resolution: 0.01 s{time}}}
    federates:
      clock: {{type: "{{HELPERS}}:Clock", period: 0.1}}
      slow: {{type: "{{HELPERS}}:Slow", period: 0.1, params: {{at: {at}, pause: {pause}}}}}
      probe: {{type: "{{HELPERS}}:Probe", period: 0.1}}
    connections:
      - slow.y -> probe.u
    """


def clock(stop: float = 4, time: str = "", at: float = -1, pause: float = 0) -> str:
    return CLOCK.format(stop=stop, time=time, at=at, pause=pause)


def test_no_tick_is_granted_before_its_instant(run_scenario):
    """Paced 4x, 4 s take 1 s of wall time; each grant comes at its instant, a few milliseconds late at most."""
    summary, store = run_scenario(clock(stop=4, time=", pace: 4"))
    rows = store.pacing()
    assert summary.stepping_seconds >= 1.0  # unpaced, this federation does 4 s in a few milliseconds
    assert {r[0] for r in rows} == set(range(0, 401, 10))  # every tick granted, stop included
    assert min(r[4] for r in rows) >= 0 and all(granted >= scheduled for _, _, scheduled, granted, _, _ in rows)
    first = min(r[2] for r in rows)
    for _tick, t, scheduled, _granted, _lag, _n in rows:
        assert scheduled - first == pytest.approx(t / 4, abs=1e-6)  # 0.1 s of simulated time every 25 ms
    lags = sorted(r[4] for r in rows)
    assert lags[len(lags) // 2] < 0.1, lags  # the median grant is on time; under load a few may be later
    pacing = summary.pacing
    assert pacing is not None and pacing.grants == len(rows) and pacing.max == pytest.approx(lags[-1])
    assert pacing.p50 <= pacing.p99 <= pacing.max and pacing.jitter >= 0
    meta = store.metadata()
    assert meta["pace"] == "4.0" and float(meta["pacing_lag_max"]) == pytest.approx(pacing.max)


def test_behind_its_schedule_the_federation_catches_up_at_full_speed(run_scenario):
    """A step that takes 0.4 s puts the run 2 s of simulated time behind; it catches up, then keeps pace."""
    _, store = run_scenario(clock(stop=4, time=", pace: 5", at=1, pause=0.4))
    rows = {}
    for tick, _t, scheduled, granted, lag, _n in store.pacing():
        rows[tick] = max(rows.get(tick, (0, 0, 0)), (lag, scheduled, granted))
    assert rows[110][0] >= 0.3  # the grant after the slow step is as late as the step was long
    caught_up = next(tick for tick in range(110, 401, 10) if rows[tick][0] < 0.05)
    assert caught_up < 300, rows  # 2 s of simulated time behind, caught up well before the end
    late = caught_up - 10  # the last grant behind its schedule
    assert rows[late][2] - rows[110][2] < rows[late][1] - rows[110][1] - 0.1  # they went out faster than scheduled
    after = sorted(rows[tick][0] for tick in range(caught_up, 401, 10))
    assert after[len(after) // 2] < 0.1, rows  # then it keeps pace again


def test_max_lag_fails_the_run_naming_the_federate_that_held_it(run_scenario):
    with pytest.raises(FederateError) as info:
        run_scenario(clock(stop=4, time=", pace: {factor: 10, max_lag: 0.2 s}", at=1, pause=1))
    text = str(info.value)
    assert info.value.federate == "slow" and "at t=1 s" in text
    assert "held the federation" in text and "time.pace.max_lag 0.2 s" in text


def test_max_lag_on_the_command_line_is_a_one_line_failure(tmp_path):
    path = write_scenario(tmp_path, clock(stop=4, time=", pace: {factor: 10, max_lag: 0.2 s}", at=1, pause=1))
    result = _federation("run", str(path), "--out", str(tmp_path / "run.sqlite"), "-q")
    assert result.returncode == 1, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("federation: error: federate 'slow' at t=1 s") and "held the federation" in last, last
    with RunStore(tmp_path / "run.sqlite") as store:
        assert store.metadata()["status"] == "failed" and store.pacing()


def test_start_now_records_the_epoch_and_hold_back_delays_every_instant(run_scenario, tmp_path):
    before = time.time()
    summary, store = run_scenario("""
        time: {start: now, stop: 2, resolution: 0.1 s, pace: 10, hold_back: 0.5 s}
        federates:
          e: {type: "{HELPERS}:Epoch", period: 0.1}
        """)
    meta = store.metadata()
    epoch = float(meta["epoch"])
    assert before <= epoch <= time.time() and meta["epoch_utc"].endswith("Z") and meta["hold_back"] == "0.5"
    assert store.series("e.epoch").values[-1] == epoch  # the federates' Context.epoch
    for _tick, t, scheduled, granted, lag, _n in store.pacing():
        assert scheduled == pytest.approx(epoch + t / 10 + 0.5, abs=1e-6)
        assert granted >= scheduled and lag >= 0
    assert summary.wall_seconds >= 0.5 + 0.2  # the hold-back, then 2 s at 10x
    html = write_report(store.path, tmp_path / "report.html").read_text()
    assert f"<td>epoch (t = 0)</td><td>{meta['epoch_utc']}</td>" in html
    assert "<td>pacing</td><td>10x real time, hold-back 0.5 s" in html  # and the lag, unless joining took it all


def test_a_paced_run_records_what_an_unpaced_run_records(tmp_path, run_scenario):
    text = """
        time: {stop: 6, resolution: 0.1 s%s}
        seed: 3
        federates:
          noisy: {type: "{HELPERS}:Noisy", period: 0.2}
          clock: {type: "{HELPERS}:Clock", period: 0.3}
          probe: {type: "{HELPERS}:Probe", period: 0.5}
          pinger: {type: "{HELPERS}:Pinger", params: {schedule: [[1, 1.5, a], [2, 2, b], [4, 5, c]]}}
          listener: {type: "{HELPERS}:Listener"}
        connections:
          - clock.y -> probe.u
          - clock.y -> listener.u
        messages:
          - pinger.out -> listener.inbox
        """
    run_scenario(text % "", name="fast.yaml")
    run_scenario(text % ", pace: 10", name="paced.yaml")
    tables = []
    for name in ("fast", "paced"):
        with RunStore(tmp_path / f"{name}.sqlite") as store:
            tables.append([list(store.db.execute(f"SELECT * FROM {t} ORDER BY rowid")) for t in ("samples", "messages")])
            assert bool(store.pacing()) == (name == "paced")
    assert tables[0] == tables[1] and tables[0][1]


def test_a_paced_run_with_a_decision_gate_keeps_its_schedule(run_scenario):
    """The gate's loop polls the control sockets too: it must wait no longer than the next instant."""
    _, store = run_scenario("""
        time: {stop: 6, resolution: 0.25 s, pace: 12}
        federates:
          operator: {type: "{HELPERS}:Proposer", period: 0.25, params: {plan: [[1.0, 0.9], [3.0, 0.4]]}}
          plant: {type: "{HELPERS}:Actuator", period: 0.25}
        messages:
          - operator.setting -> plant.setting
        decisions:
          require_approval: [operator.setting]
          policy:
            - match: {class: operator.*}
              verdict: approve
        """)
    series = store.series("plant.value")
    assert list(zip(series.times, series.values)) == [(0.0, 0.0), (1.0, 0.9), (3.0, 0.4)]
    lags = sorted(r[4] for r in store.pacing())
    assert len(lags) >= 25 and lags[len(lags) // 2] < 0.04, lags  # a 0.2 s poll would make it ~0.1 s


def test_time_keys_are_validated(tmp_path):
    path = write_scenario(tmp_path, """
        time: {start: noww, stop: 10, pace: {factr: 2, max_lag: -1}, hold_bak: 1}
        federates:
          a: {type: "{HELPERS}:Clock"}
        """)
    with pytest.raises(ScenarioError) as info:
        load(path)
    text = str(info.value)
    for want in ("scenario.yaml:2:8: time.start: expected a duration, now, or an ISO-8601 instant", "did you mean 'now'?",
                 "time.pace.factr: unknown key; did you mean 'factor'?", "time.pace.factor: missing",
                 "time.pace.max_lag: must be positive, got -1", "time.hold_bak: unknown key; did you mean 'hold_back'?"):
        assert want in text, text
    path = write_scenario(tmp_path, """
        time: {start: "2026-12-02", stop: 10, hold_back: 2 s}
        federates:
          a: {type: "{HELPERS}:Clock"}
        """)
    with pytest.raises(ScenarioError) as info:
        load(path)
    text = str(info.value)
    for want in ("time.start: expected an ISO-8601 instant", "time.hold_back: has no effect on a run that is not paced"):
        assert want in text, text
    path = write_scenario(tmp_path, """
        time: {stop: 10, pace: 0}
        federates:
          a: {type: "{HELPERS}:Clock"}
        """)
    with pytest.raises(ScenarioError, match="time.pace: must be positive, got 0"):
        load(path)


def test_an_iso_start_is_the_epoch(tmp_path):
    path = write_scenario(tmp_path, """
        time: {start: 2026-12-02T15:00:00+01:00, stop: 1 h, pace: {factor: 60, max_lag: 5 s}, hold_back: 2}
        federates:
          a: {type: "{HELPERS}:Clock"}
        """)
    spec = load(path).time
    assert spec.epoch == datetime(2026, 12, 2, 14, tzinfo=timezone.utc).timestamp() and spec.start == 0
    assert (spec.pace.factor, spec.pace.max_lag, spec.hold_back) == (60, 5, 2)  # type: ignore[union-attr]


def test_pace_on_the_command_line(tmp_path):
    path = write_scenario(tmp_path, clock(stop=3, time=", pace: 1000"))
    result = _federation("run", str(path), "--out", str(tmp_path / "a.sqlite"), "--pace", "6")
    assert result.returncode == 0, result.stderr
    assert "paced 6x: grant lag p50 " in result.stdout, result.stdout
    with RunStore(tmp_path / "a.sqlite") as store:
        assert store.metadata()["pace"] == "6.0" and len(store.pacing()) >= 31
    result = _federation("run", str(path), "--out", str(tmp_path / "b.sqlite"), "--pace", "none", "-q")
    assert result.returncode == 0, result.stderr
    with RunStore(tmp_path / "b.sqlite") as store:
        assert "pace" not in store.metadata() and not store.pacing()
    result = _federation("run", str(path), "--pace", "0")
    assert result.returncode == 2 and "--pace: expected a positive number" in result.stderr


def _federation(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "federation.app.cli", *args], capture_output=True, text=True,
                          check=False, timeout=50, cwd=Path(__file__).parent)  # fmt: skip


def test_the_schedule_s_limit_is_the_last_tick_whose_instant_passed():
    from federation.engine.pacer import Schedule
    from federation.timebase import TimeBase

    schedule = Schedule(TimeBase(1e-3), 60.0, 2.0, 100.0, 0.0)
    for now in (102.0, 102.5, 103.123456, 1e6 + 0.1):
        tick = schedule.limit(now)
        assert schedule.instant(tick) <= now < schedule.instant(tick + 1)
    assert schedule.limit(101.0) < 0 and math.isclose(schedule.instant(60_000), 103.0)


def test_housekeeping_waits_for_a_paced_instant_that_is_due_but_not_for_ever():
    """The periodic checks and the store's commit are put off when a paced grant is due within
    QUIET_BEFORE (so the grant is not late), by at most 2 * QUIET_BEFORE; an unpaced run has no
    paced loop (``Coordinator.paced`` is None) and never waits."""
    from types import SimpleNamespace

    from federation.engine.pacer import PacedLoop

    nothing: Any = SimpleNamespace()
    loop = PacedLoop(nothing, nothing, nothing, nothing, [], nothing, liveness=0.5)
    last_check = 100.0
    quiet = PacedLoop.QUIET_BEFORE
    loop._next_instant = 100.6 + quiet / 2
    assert loop.instant_near(100.6, last_check)  # due, and a grant is due sooner than QUIET_BEFORE: wait
    assert not loop.instant_near(100.51 + 2 * quiet, last_check)  # waited long enough: run it anyway
    loop._next_instant = 100.6 + 2 * quiet
    assert not loop.instant_near(100.6, last_check)  # the next instant is far: run now
    loop._next_instant = 100.0
    assert not loop.instant_near(100.6, last_check)  # behind the schedule (catching up): run now


def _may_take_realtime() -> bool:
    import os

    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(1))
    except PermissionError:
        return False
    os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))
    return True


def test_realtime_priority_on_the_command_line(tmp_path):
    """--realtime puts the paced coordinator under SCHED_FIFO (or refuses, naming what is missing, before starting)."""
    path = write_scenario(tmp_path, clock(stop=1, time=", pace: 10"))
    result = _federation("run", str(path), "--out", str(tmp_path / "a.sqlite"), "--realtime")
    if _may_take_realtime():
        assert result.returncode == 0, result.stderr
        assert "paced 10x (real-time priority 10): grant lag p50" in result.stdout, result.stdout
        log = (tmp_path / "a.logs" / "coordinator.log").read_text()
        assert "real-time priority 10 (SCHED_FIFO) for the coordinator's" in log, log
        with RunStore(tmp_path / "a.sqlite") as store:
            assert store.metadata()["pace_realtime"] == "10"
    else:
        assert result.returncode == 1 and "may not take real-time priority 10" in result.stderr, result.stderr
        assert not (tmp_path / "a.sqlite").exists() or "pace_realtime" not in RunStore(tmp_path / "a.sqlite").metadata()
    result = _federation("run", str(path), "--realtime", "--pace", "none")
    assert result.returncode == 2 and "--realtime: the run is not paced" in result.stderr, result.stderr
    path = write_scenario(tmp_path, clock(stop=1, time=", pace: {factor: 10, realtime: 120}"))
    with pytest.raises(ScenarioError, match="time.pace.realtime: must be true, false or a real-time priority"):
        load(path)
    path = write_scenario(tmp_path, clock(stop=1, time=", pace: {factor: 10, realtime: 30}"))
    assert load(path).time.pace.realtime == 30  # type: ignore[union-attr]


@pytest.mark.skipif(not _may_take_realtime(), reason="this process may not take real-time priority (CAP_SYS_NICE)")
def test_realtime_covers_every_thread_and_no_process_started_later():
    """Every thread of the process -- ZeroMQ's I/O threads too -- is SCHED_FIFO; its children are not."""
    program = """if True:
        import os, subprocess, sys, zmq
        from federation.engine.priority import child_setup, realtime
        context = zmq.Context(io_threads=2)
        socket = context.socket(zmq.PAIR)
        # libzmq names its threads just after each applies its scheduling; raise them only then
        # (a change landing while one starts is undone or aborts it: see priority.realtime).
        names = lambda: [open(f"/proc/self/task/{t}/comm").read() for t in os.listdir("/proc/self/task")]
        while sum(name.startswith("ZMQbg/") for name in names()) < 3:
            os.sched_yield()
        threads = realtime(7)
        policies = {os.sched_getscheduler(int(t)) for t in os.listdir("/proc/self/task")}
        priorities = {os.sched_getparam(int(t)).sched_priority for t in os.listdir("/proc/self/task")}
        pid = os.fork()
        if pid == 0:
            os._exit(0 if os.sched_getscheduler(0) == os.SCHED_OTHER else 1)
        _, status = os.waitpid(pid, 0)
        child = subprocess.run([sys.executable, "-c", "import os; print(os.sched_getscheduler(0))"],
                               capture_output=True, text=True, preexec_fn=child_setup()).stdout.strip()
        later = zmq.Context(); later.socket(zmq.PAIR).close(); later.term()  # new I/O threads start fine
        print(threads, policies == {os.SCHED_FIFO}, priorities == {7}, os.waitstatus_to_exitcode(status),
              child == str(os.SCHED_OTHER))
        socket.close(); context.term()
    """
    result = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=30, check=True)
    threads, fifo, priority, forked, spawned = result.stdout.split()
    assert int(threads) >= 3 and fifo == priority == spawned == "True" and forked == "0", result.stdout
