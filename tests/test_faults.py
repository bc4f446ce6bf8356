"""Faults: crashes, hangs, restarts, a vanished coordinator, Ctrl-C and SIGTERM."""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from federation.engine.coordinator import Coordinator, RunOptions
from federation.errors import FederateError
from federation.results.store import RunStore
from federation.scenario.loader import load
from tests.conftest import write_scenario

pytestmark = pytest.mark.timeout(90)

LONG = """
time: {stop: 1000000, resolution: 1 ms}
coordinator: {heartbeat: 1 s}
federates:
  clock: {type: "{HELPERS}:Clock"}
  probe: {type: "{HELPERS}:Probe"}
  tail: {type: "{HELPERS}:Affine", period: 1}
connections:
  - clock.y -> probe.u
  - {from: clock.y, to: tail.u, delay: true}
"""


def _run_in_thread(coordinator: Coordinator) -> tuple[threading.Thread, list[BaseException]]:
    errors: list[BaseException] = []

    def run() -> None:
        try:
            coordinator.run()
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            errors.append((exc, time.monotonic()))

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, errors


def _wait_for(predicate, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


@pytest.mark.parametrize("victim, after", [("clock", 5), ("probe", 200), ("tail", 1000)])
def test_sigkill_is_detected_within_two_seconds_and_named(tmp_path, victim, after):
    scenario = load(write_scenario(tmp_path, LONG))
    coordinator = Coordinator(scenario, RunOptions(out=tmp_path / "run.sqlite"))
    thread, errors = _run_in_thread(coordinator)
    index = coordinator.plan.index(victim)
    _wait_for(lambda: coordinator.scheduler.slots[index].grants >= after)
    os.kill(coordinator.launcher.children[victim].process.pid, signal.SIGKILL)
    killed = time.monotonic()
    thread.join(30)
    error, when = errors[0]
    assert isinstance(error, FederateError) and error.federate == victim
    assert when - killed < 2.0, f"detected after {when - killed:.2f} s"
    assert "process killed by signal 9" in str(error) and "at t=" in str(error) and "while " in str(error)
    with RunStore(tmp_path / "run.sqlite") as store:
        meta = store.metadata()
        assert meta["status"] == "failed" and f"federate '{victim}'" in meta["reason"]
        assert len(store.series("clock.y").values) > 0  # what was recorded is kept


def test_hung_federate_ends_after_the_grant_timeout_with_the_wait_chain(run_scenario):
    with pytest.raises(FederateError) as info:
        run_scenario("""
            time: {stop: 100, resolution: 1 s}
            coordinator: {grant_timeout: 1 s}
            federates:
              bad: {type: "{HELPERS}:Crasher", params: {at: 3.0, how: hang}}
              after: {type: "{HELPERS}:Probe"}
            connections:
              - bad.y -> after.u
            """)
    text = str(info.value)
    assert text.startswith("federate 'bad' at t=3 s while stepping to t=3 s: no answer for 1 s (grant timeout)")
    assert "after waits to reach t=3 s on bad" in text


def test_restart_from_scratch_continues_the_run(run_scenario, tmp_path):
    marker = tmp_path / "crashed"
    summary, store = run_scenario(f"""
        time: {{stop: 8, resolution: 1 s}}
        federates:
          flaky: {{type: "{{HELPERS}}:CrashOnce", params: {{at: 3.0, marker: "{marker}"}},
                  restart: {{policy: scratch, limit: 2}}}}
          probe: {{type: "{{HELPERS}}:Probe"}}
        connections:
          - flaky.y -> probe.u
        """)
    assert marker.exists() and summary.status == "completed"
    assert [v[1] for v in store.series("probe.obs").values] == [0, 1, 2, 3, 4, 5, 6, 7, 8]
    assert store.metadata()["restart_flaky_1"].startswith("t=3 s: process exited with code 9")


def test_restart_limit_is_enforced(run_scenario, tmp_path):
    with pytest.raises(FederateError, match=r"federate 'bad' .*process exited with code 7"):
        run_scenario("""
            time: {stop: 8, resolution: 1 s}
            federates:
              bad: {type: "{HELPERS}:Crasher", params: {at: 2.0, how: exit}, restart: {policy: scratch, limit: 2}}
            """)


def _start_cli(tmp_path: Path) -> tuple[subprocess.Popen[str], Path]:
    path = write_scenario(tmp_path, LONG)
    out = tmp_path / "cli.sqlite"
    proc = subprocess.Popen([sys.executable, "-m", "federation.app.cli", "run", str(path), "--out", str(out), "-q"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    return proc, out


def _pids_when_running(out: Path, proc: subprocess.Popen[str]) -> list[int]:
    pids: list[int] = []

    def ready() -> bool:
        assert proc.poll() is None, proc.communicate()
        if not out.exists():
            return False
        try:
            with sqlite3.connect(f"file:{out}?mode=ro", uri=True) as db:
                rows = db.execute("SELECT pid FROM federates WHERE status='running'").fetchall()
                samples = db.execute("SELECT count(*) FROM samples").fetchone()[0]
        except sqlite3.Error:
            return False
        pids[:] = [r[0] for r in rows if r[0]]
        return len(pids) == 3 and samples > 0  # running, and something already on disk

    _wait_for(ready)
    return pids


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_and_sigterm_end_the_run_cleanly_within_five_seconds(tmp_path, signum):
    proc, out = _start_cli(tmp_path)
    try:
        pids = _pids_when_running(out, proc)
        proc.send_signal(signum)
        sent = time.monotonic()
        _, stderr = proc.communicate(timeout=10)
        assert time.monotonic() - sent < 5.0
        assert proc.returncode == 130, stderr
        assert "interrupted" in stderr and "Traceback" not in stderr
        _wait_for(lambda: not any(_alive(p) for p in pids), timeout=2)
        with RunStore(out) as store:
            assert store.metadata()["status"] == "interrupted"
            assert len(store.series("clock.y").values) >= 1  # flushed up to the interruption
    finally:
        proc.kill()
        proc.wait()


def test_federates_exit_when_the_coordinator_vanishes(tmp_path):
    proc, out = _start_cli(tmp_path)
    try:
        pids = _pids_when_running(out, proc)
        killed = time.time()  # the wall clock, as the file system stamps the federate's log below
        proc.kill()  # SIGKILL: no chance to stop its federates
        proc.wait()
        _wait_for(lambda: not any(_alive(p) for p in pids), timeout=5)
        log = tmp_path / "cli.logs" / "probe.log"
        assert "coordinator process is gone; exiting" in log.read_text()
        # The latency checked is the federate's own: from the kill to its last line (when it noticed; heartbeat
        # 1 s), the log's modification time, not its exit nor this test's polling, which load stretches.
        noticed = log.stat().st_mtime
        assert noticed - killed < 2.0, f"noticed {noticed - killed:.2f} s after the kill"
    finally:
        proc.kill()
        proc.wait()


def test_a_stopped_federate_ends_the_run_at_the_grant_timeout(tmp_path):
    text = LONG.replace("coordinator: {heartbeat: 1 s}", "coordinator: {heartbeat: 1 s, grant_timeout: 1 s}")
    coordinator = Coordinator(load(write_scenario(tmp_path, text)), RunOptions(out=tmp_path / "stop.sqlite"))
    thread, errors = _run_in_thread(coordinator)
    _wait_for(lambda: coordinator.scheduler.slots[coordinator.plan.index("probe")].grants >= 50)
    os.kill(coordinator.launcher.children["probe"].process.pid, signal.SIGSTOP)  # frozen, not dead
    stopped = time.monotonic()
    thread.join(30)
    error, when = errors[0]
    assert isinstance(error, FederateError) and error.federate == "probe"
    assert when - stopped < 5.0, f"ended {when - stopped:.1f} s after the stop"
    text = str(error)
    assert re.match(r"federate 'probe' at t=\S+ s while stepping to t=\S+ s: no answer for 1 s \(grant timeout\)", text)
    assert re.search(r"probe has been stepping to t=\S+ s for \d+\.\d s \(its process is stopped: SIGSTOP or a "
                     r"debugger\)", text), text  # fmt: skip
    with RunStore(tmp_path / "stop.sqlite") as store:
        assert store.metadata()["status"] == "failed" and "grant timeout" in store.metadata()["reason"]


def test_the_grant_timeout_is_ten_minutes_unless_the_scenario_or_the_command_line_says_otherwise(tmp_path):
    base = 'time: {stop: 2, resolution: 1 s}\nfederates:\n  clock: {type: "{HELPERS}:Clock"}\n'
    assert load(write_scenario(tmp_path, base)).coordinator.grant_timeout == 600.0
    assert load(write_scenario(tmp_path, base + "coordinator: {grant_timeout: none}")).coordinator.grant_timeout is None
    assert load(write_scenario(tmp_path, base + "coordinator: {grant_timeout: 2 h}")).coordinator.grant_timeout == 7200
    path = write_scenario(tmp_path, base)
    cli = [sys.executable, "-m", "federation.app.cli", "run", str(path), "-q", "--out", str(tmp_path / "g.sqlite")]
    done = subprocess.run([*cli, "--grant-timeout", "none"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    bad = subprocess.run([*cli, "--grant-timeout", "soon"], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "expected a duration such as 90, '30 min' or '1 h', or none; got 'soon'" in bad.stderr
