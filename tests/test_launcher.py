"""Python federates are forked from a preloaded fork server; each is still a process of its own."""

from __future__ import annotations

import logging
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from federation.engine.launcher import ENV_LAUNCH

pytestmark = [pytest.mark.timeout(60), pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux only")]

WHOAMI = '''
import json, os
from federation import Federate, Output

IMPORTED_IN = os.getpid()  # user code is imported in the federate's own process, not in the fork server

class WhoAmI(Federate):
    y = Output()

    def setup(self):
        facts = {"pid": os.getpid(), "ppid": os.getppid(), "sid": os.getsid(0), "imported_in": IMPORTED_IN,
                 "cwd": os.getcwd(), "env": os.environ.get("WHOAMI_MARK"), "name": self.context.name}
        print("WHOAMI " + json.dumps(facts), flush=True)

    def step(self, t):
        self.y = t
'''

SCENARIO = """
time: {stop: 2, resolution: 1 s}
federates:
  a: {type: "whoami.py:WhoAmI", period: 1 s}
  b: {type: "whoami.py:WhoAmI", period: 1 s}
  tank: {type: tank, period: 1 s}
"""


def _facts(log: Path) -> dict:
    import json

    line = next(x for x in log.read_text().splitlines() if x.startswith("WHOAMI "))
    return json.loads(line[len("WHOAMI "):])


def test_each_forked_federate_is_its_own_session_with_its_own_log_and_the_coordinator_as_parent(
        run_scenario, tmp_path, monkeypatch):  # fmt: skip
    monkeypatch.setenv("WHOAMI_MARK", "seen")
    (tmp_path / "whoami.py").write_text(WHOAMI)
    summary, _ = run_scenario(SCENARIO)
    assert summary.status == "completed"
    logs = tmp_path / "scenario.logs"
    assert (logs / "forkserver.log").exists()
    a, b = _facts(logs / "a.log"), _facts(logs / "b.log")
    for facts, name in ((a, "a"), (b, "b")):
        assert facts["name"] == name
        assert facts["ppid"] == os.getpid()  # adopted by the coordinator (this process): it reads the exit code
        assert facts["sid"] == facts["pid"]  # a session of its own: terminal signals reach only the coordinator
        assert facts["imported_in"] == facts["pid"]
        assert facts["cwd"] == str(tmp_path) and facts["env"] == "seen"
    assert a["pid"] != b["pid"]


def _tables(path: Path) -> dict[str, list[tuple]]:
    db = sqlite3.connect(path)
    try:
        return {t: db.execute(f"SELECT * FROM {t}").fetchall() for t in ("signals", "samples", "messages", "decisions")}
    finally:
        db.close()


def test_forked_and_freshly_started_federates_record_the_same_run(tmp_path, monkeypatch):
    from federation.engine.coordinator import Coordinator, RunOptions
    from federation.scenario.loader import load

    scenario = Path(__file__).resolve().parents[1] / "scenarios" / "rain-tank.yaml"
    stores = {}
    for mode in ("fork", "spawn"):
        monkeypatch.setenv(ENV_LAUNCH, mode)
        out = tmp_path / f"{mode}.sqlite"
        assert Coordinator(load(scenario), RunOptions(out=out)).run().status == "completed"
        stores[mode] = _tables(out)
        assert (tmp_path / f"{mode}.logs" / "forkserver.log").exists() == (mode == "fork")
    assert stores["fork"]["samples"] and stores["fork"] == stores["spawn"]


def test_a_killed_coordinator_leaves_neither_fork_server_nor_federates(tmp_path):
    (tmp_path / "whoami.py").write_text(WHOAMI)
    (tmp_path / "long.yaml").write_text(SCENARIO.replace("stop: 2", "stop: 1e9"))
    run = subprocess.Popen([sys.executable, "-m", "federation.app.cli", "run", "long.yaml", "--out", "long.sqlite"],
                           cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        log = tmp_path / "long.logs" / "coordinator.log"
        deadline = time.monotonic() + 30
        while not (log.exists() and "joined in" in log.read_text()):
            assert run.poll() is None and time.monotonic() < deadline, "the run did not start"
            time.sleep(0.05)
        ours = [_facts(tmp_path / "long.logs" / f"{n}.log")["pid"] for n in ("a", "b")]
        forked = [int(p) for p in os.listdir("/proc") if p.isdigit() and "forkserver" in _cmdline(int(p))
                  and _cwd(int(p)) == str(tmp_path)]  # fmt: skip
        names = {_comm(pid): pid for pid in forked}  # each federate is named after itself; the server is python
        assert {"a", "b", "tank"} <= set(names) and len(forked) == 4
        assert names["a"] == ours[0] and names["b"] == ours[1]
        server = [pid for pid in forked if _comm(pid) not in ("a", "b", "tank")]
        ours.append(names["tank"])
    finally:
        run.send_signal(signal.SIGKILL)
        run.wait()
    deadline = time.monotonic() + 10  # federates notice their parent's death; the server its closed pipe
    while any(_alive(pid) for pid in ours + server) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not [pid for pid in ours + server if _alive(pid)]


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return ""


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def _cwd(pid: int) -> str:
    try:
        return os.readlink(f"/proc/{pid}/cwd")
    except OSError:
        return ""


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


# ------------------------------------------------------------------ worker groups (process: shared / GROUP)
RING = """
time: {stop: 30, resolution: 1 s}
coordinator: {workers: 2}
federates:
%s
connections:
%s
"""


def _ring(n: int, process: dict[int, str]) -> str:
    feds = "\n".join(f'  r{i}: {{type: "{{HELPERS}}:Affine"' + (f", process: {process[i]}" if i in process else "") + "}"
                     for i in range(n))  # fmt: skip
    links = "\n".join(f"  - {{from: r{(i - 1) % n}.y, to: r{i}.u, delay: true}}" for i in range(n))
    return RING % (feds, links)


def test_grouped_federates_record_the_same_run_as_federates_in_processes_of_their_own(run_scenario, tmp_path, caplog):
    n = 10
    _, own = run_scenario(_ring(n, {}), name="own.yaml")
    caplog.set_level(logging.INFO, logger="federation.engine.coordinator")
    grouped = dict.fromkeys(range(6), "shared") | {6: "g1", 7: "g1", 8: "g2"}  # r9 keeps a process of its own
    summary, shared = run_scenario(_ring(n, grouped), name="shared.yaml")
    assert summary.status == "completed"
    assert _tables(tmp_path / "own.sqlite") == _tables(tmp_path / "shared.sqlite")
    pids = {name: int(_facts_line(tmp_path / "shared.logs" / f"{name}.log")) for name in (f"r{i}" for i in range(n))}
    assert len({pids[f"r{i}"] for i in range(6)}) == 2  # the pool: coordinator.workers = 2
    assert pids["r6"] == pids["r7"] != pids["r8"] != pids["r9"]
    assert len(set(pids.values())) == 5
    assert (tmp_path / "shared.logs" / "g1.worker.log").exists()
    for group in ("shared.1", "shared.2", "g1", "g2"):  # one GRANTS and one DONES per worker per step
        assert f"worker group '{group}' steps its members batched" in caplog.text


def test_unbatched_workers_record_the_same_run_as_batched_ones(run_scenario, tmp_path, monkeypatch, caplog):
    """FEDERATION_BATCH=0: every member with its own GRANT and DONE frames, as before batching; the same store."""
    grouped = dict.fromkeys(range(6), "shared") | {6: "g1", 7: "g1"}
    run_scenario(_ring(8, grouped), name="batched.yaml")
    monkeypatch.setenv("FEDERATION_BATCH", "0")
    caplog.set_level(logging.INFO, logger="federation.engine.coordinator")
    summary, _ = run_scenario(_ring(8, grouped), name="unbatched.yaml")
    assert summary.status == "completed"
    assert "started worker group 'g1'" in caplog.text
    assert "steps its members batched" not in caplog.text
    assert _tables(tmp_path / "batched.sqlite") == _tables(tmp_path / "unbatched.sqlite")


MIXED = """
time: {stop: 20, resolution: 1 s}
coordinator: {workers: 2}
federates:
  clock: {type: "{HELPERS}:Clock"%(p)s}
  probe: {type: "{HELPERS}:Probe"%(p)s}
  noisy: {type: "{HELPERS}:Noisy"%(p)s}
  pinger: {type: "{HELPERS}:Pinger", params: {schedule: [[2, 11, a], [7, 10, b], [12, 15, c], [12, 12.5, d]]}%(p)s}
  listener: {type: "{HELPERS}:Listener"%(p)s}
  a: {type: "{HELPERS}:Loop", params: {gain: 0.5, bias: 1.0}%(p)s}
  b: {type: "{HELPERS}:Loop", params: {gain: 0.5, bias: 0.0}%(p)s}
connections:
  - clock.y -> probe.u
  - {from: noisy.z, to: listener.u, delay: true}
  - {from: a.x_out, to: b.x_in, iterate: loop}
  - {from: b.x_out, to: a.x_in, iterate: loop}
messages:
  - pinger.out -> listener.inbox
iterate:
  loop: {tolerance: 1.0e-10, max_iterations: 100}
"""


def test_grouped_event_driven_federates_messages_and_iterate_groups_record_the_same_run(run_scenario, tmp_path):
    """The batched paths beyond the ring: a direct connection, an event-driven federate woken by messages and by a
    delayed input, messages, and an iterate group (whose reports the scheduler takes one by one) -- the same store."""
    run_scenario(MIXED % {"p": ""}, name="own.yaml")
    summary, store = run_scenario(MIXED % {"p": ", process: shared"}, name="shared.yaml")
    assert summary.status == "completed"
    assert store.series("listener.wakes").values[-1] > 4  # woken by its input and by each message
    own, shared = _tables(tmp_path / "own.sqlite"), _tables(tmp_path / "shared.sqlite")
    assert own["messages"] and own["samples"] and own == shared


def _facts_line(log: Path) -> str:
    """The pid in the runtime's join line of a federate's own log (each member of a worker keeps its own log)."""
    import re

    return re.search(r"as '\w+' \(pid (\d+)\)", log.read_text()).group(1)


def test_a_failing_member_of_a_worker_is_named(run_scenario):
    text = """
    time: {stop: 10, resolution: 1 s}
    federates:
      ok: {type: "{HELPERS}:Clock", process: g}
      bad: {type: "{HELPERS}:Crasher", params: {at: 3, how: raise}, process: g}
    """
    from federation.errors import FederateError

    with pytest.raises(FederateError, match=r"federate 'bad'.*ValueError: boom at 3"):
        run_scenario(text)


def test_a_crashed_worker_process_names_its_group_and_members(run_scenario, tmp_path):
    text = """
    time: {stop: 10, resolution: 1 s}
    federates:
      ok: {type: "{HELPERS}:Clock", process: g}
      bad: {type: "{HELPERS}:Crasher", params: {at: 3, how: exit}, process: g}
    """
    from federation.errors import FederateError

    with pytest.raises(FederateError, match=r"exited with code 7 \(the worker process of group 'g', shared with (ok|bad)\)"):
        run_scenario(text)


@pytest.mark.parametrize("keys, message", [
    ("command: [x], process: shared", "only Python federates the coordinator starts"),
    ("external: true, process: g", "only Python federates the coordinator starts"),
    ('type: "{HELPERS}:Clock", restart: scratch, process: g', "cannot be restarted on its own"),
    ('type: "{HELPERS}:Clock", process: "two words"', "expected own, shared or the name of a worker group"),
])  # fmt: skip
def test_what_cannot_share_a_worker_is_a_scenario_error_at_its_line(tmp_path, keys, message):
    from federation.errors import ScenarioError
    from federation.scenario.loader import load
    from tests.conftest import write_scenario

    path = write_scenario(tmp_path, f"time: {{stop: 1}}\nfederates:\n  f: {{{keys}}}\n")
    with pytest.raises(ScenarioError, match=rf"scenario.yaml:3:.*federates.f.process: .*{message}"):
        load(path)


def test_members_of_a_worker_import_a_slow_module_once_and_whole(run_scenario, tmp_path):
    """The members resolve their type in parallel threads: none may see the module before its code has run."""
    (tmp_path / "slow.py").write_text(
        "import time\nfrom federation import Federate, Output\n"
        "time.sleep(0.3)  # widens the window in which a half-imported module is visible\n"
        "class Slow(Federate):\n    default_period = 1.0\n    y = Output()\n\n"
        "    def step(self, t):\n        self.y = t\n"
    )
    feds = "\n".join(f'  s{i}: {{type: "slow.py:Slow", process: g}}' for i in range(6))
    summary, _ = run_scenario(f"time: {{stop: 2, resolution: 1 s}}\nfederates:\n{feds}\n")
    assert summary.status == "completed"


LOUD_FAILURE = '''
from federation import Federate, Output

class Loud(Federate):
    y = Output()

    def step(self, t):
        raise RuntimeError("x" * 2_000_000 + " the end of a long failure")
'''


@pytest.mark.parametrize("attempt", range(3))
def test_a_forked_federate_that_fails_still_sends_its_error_before_its_process_ends(run_scenario, tmp_path, attempt):
    """A forked federate leaves through os._exit: ZeroMQ's queue must be flushed first, or its ERROR is lost.

    Two megabytes of message make the loss near certain when the queue is not flushed;
    the run must end with the federate's own words, not only "exited with code 1".
    """
    from federation.errors import FederateError

    (tmp_path / "loud.py").write_text(LOUD_FAILURE)
    with pytest.raises(FederateError, match="the end of a long failure") as caught:
        run_scenario('time: {stop: 2, resolution: 1 s}\nfederates:\n  loud: {type: "loud.py:Loud", period: 1 s}\n')
    assert "exited with code" not in str(caught.value)
