"""The Coordinator as a context manager: leaving its block closes its socket and ends every process it started.

Whatever ends the block -- the run's end, an exception in the caller's code, Ctrl-C in the
middle of stepping -- no federate process outlives it and its ROUTER socket is closed.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest

from federation.engine.coordinator import Coordinator, RunOptions
from federation.errors import RunInterrupted
from federation.results.store import RunStore
from federation.scenario.loader import load
from tests.conftest import write_scenario

pytestmark = pytest.mark.timeout(90)

LONG = """
time: {stop: 1000000, resolution: 1 ms}
federates:
  clock: {type: "{HELPERS}:Clock"}
  probe: {type: "{HELPERS}:Probe"}
  tail: {type: "{HELPERS}:Affine", period: 1}
connections:
  - clock.y -> probe.u
  - {from: clock.y, to: tail.u, delay: true}
"""

SHORT = LONG.replace("stop: 1000000", "stop: 50")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _pids(coordinator: Coordinator) -> list[int]:
    return [child.process.pid for child in coordinator.launcher.children.values()]


def _gone(pids: list[int], within: float = 5.0) -> bool:
    """Every one of ``pids`` has exited (reaped by the launcher, so not even a zombie is left)."""
    deadline = time.monotonic() + within
    while any(_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.02)
    return not any(_alive(p) for p in pids)


def test_a_run_in_the_block_ends_with_socket_closed_and_processes_gone(tmp_path: Path) -> None:
    with Coordinator(load(write_scenario(tmp_path, SHORT)), RunOptions(out=tmp_path / "run.sqlite")) as coordinator:
        summary = coordinator.run()
        pids = _pids(coordinator)
    assert summary.status == "completed" and len(pids) == 3
    assert coordinator.sock.closed and _gone(pids)
    coordinator.close()  # once more: nothing happens


def test_ctrl_c_while_stepping_leaves_no_process_and_marks_the_store(tmp_path: Path) -> None:
    scenario = load(write_scenario(tmp_path, LONG))
    seen: list[int] = []

    def interrupt(c: Coordinator) -> None:  # a hook runs every liveness interval, inside the loop
        seen.extend(_pids(c))
        if c.scheduler.slots[0].grants > 100:
            raise KeyboardInterrupt

    with pytest.raises(RunInterrupted):
        with Coordinator(scenario, RunOptions(out=tmp_path / "run.sqlite")) as coordinator:
            coordinator.hooks.append(interrupt)
            coordinator.run()
    assert coordinator.sock.closed and set(seen) and _gone(sorted(set(seen)))
    with RunStore(tmp_path / "run.sqlite") as store:
        assert store.metadata()["status"] == "interrupted"


def test_an_exception_in_the_block_stops_the_processes_the_coordinator_started(tmp_path: Path) -> None:
    """The caller's own code fails after the federates were started but before the run: the block's end
    stops them and closes the socket (the run never began, so it is marked interrupted)."""
    scenario = load(write_scenario(tmp_path, LONG))
    pids: list[int] = []
    with pytest.raises(ValueError, match="the caller's mistake"):
        with Coordinator(scenario, RunOptions(out=tmp_path / "run.sqlite")) as coordinator:
            coordinator._launch()  # what run() does first
            pids = _pids(coordinator)
            assert len(pids) == 3 and all(_alive(p) for p in pids)
            raise ValueError("the caller's mistake")
    assert coordinator.sock.closed and _gone(pids)


def test_a_coordinator_that_cannot_be_made_leaves_no_socket_open(tmp_path: Path, monkeypatch: Any) -> None:
    """Construction fails after the socket exists (here: the store cannot be claimed): nothing stays open."""
    made: list[Any] = []
    real = Coordinator._build

    def build(self: Coordinator, *args: Any) -> None:
        made.append(self.sock)
        real(self, *args)

    monkeypatch.setattr(Coordinator, "_build", build)
    (tmp_path / "taken.sqlite").write_bytes(b"not ours")
    with pytest.raises(Exception, match="taken.sqlite"):
        Coordinator(load(write_scenario(tmp_path, SHORT)), RunOptions(out=tmp_path / "taken.sqlite"))
    assert made and made[0].closed
