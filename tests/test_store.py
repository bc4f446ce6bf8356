"""Reading run stores: live and dead runs, nothing changed on disk, plots of arrays and text."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from federation.errors import FederationError
from federation.results.report import write_report
from federation.results.store import RunStore
from tests.conftest import write_scenario

pytestmark = pytest.mark.timeout(120)

LONG = """
time: {stop: 1000000, resolution: 1 ms}
coordinator: {heartbeat: 1 s}
federates:
  clock: {type: "{HELPERS}:Clock"}
  probe: {type: "{HELPERS}:Probe"}
connections:
  - clock.y -> probe.u
"""

SHORT = """
name: words
time: {stop: 4, resolution: 1 s}
federates:
  clock: {type: "{HELPERS}:Clock"}
  probe: {type: "{HELPERS}:Probe"}
  words: {type: "{HELPERS}:Words"}
connections:
  - clock.y -> probe.u
"""


def federation(*args: object, **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "federation.app.cli", *map(str, args)], capture_output=True, text=True,
                          timeout=90, **kwargs)  # type: ignore[call-overload]  # fmt: skip


def _wait_for(predicate, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _running_pids(out: Path) -> list[int]:
    """The federates' pids once every one is running and samples are on disk; [] before."""
    if not out.exists() or out.stat().st_size == 0:
        return []
    try:
        with sqlite3.connect(f"file:{out}?mode=ro", uri=True) as db:
            pids = [p for (p,) in db.execute("SELECT pid FROM federates WHERE status = 'running'") if p]
            samples = db.execute("SELECT count(*) FROM samples").fetchone()[0]
    except sqlite3.Error:
        return []
    return pids if len(pids) == 2 and samples else []


# ---------------------------------------------------------------------------- live and dead runs
def test_a_killed_coordinator_is_told_from_a_live_one(tmp_path):
    from federation.results.liveness import Liveness

    out = tmp_path / "run.sqlite"
    proc = subprocess.Popen([sys.executable, "-m", "federation.app.cli", "run", str(write_scenario(tmp_path, LONG)),
                             "--out", str(out), "-q"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
    try:
        pids: list[int] = []

        def running() -> bool:
            assert proc.poll() is None, proc.communicate()
            pids[:] = _running_pids(out)
            return bool(pids)

        _wait_for(running)
        with RunStore(out) as store:
            assert store.state.liveness is Liveness.LIVE
            assert store.state.owner is not None and store.state.owner.pid == proc.pid
        proc.send_signal(signal.SIGKILL)  # no chance to close the run
        proc.wait(10)
        _wait_for(lambda: not any(_alive(p) for p in pids), timeout=10)  # its federates notice and exit
        with RunStore(out) as store:
            assert store.metadata()["status"] == "running"  # as the coordinator left it
            assert store.state.liveness is Liveness.DEAD and store.state.label == "stopped without closing"
            assert len(store.series("clock.y").values) > 0  # what was recorded is still there
        said = "the coordinator stopped without closing this run"
        export = federation("export", out, "--csv", tmp_path / "csv")
        assert export.returncode == 0 and said in export.stderr and "Traceback" not in export.stderr
        assert (tmp_path / "csv" / "clock.csv").stat().st_size > 20
        listing = federation("plot", out)
        assert listing.returncode == 0 and said in listing.stderr and "clock.y" in listing.stdout
        report = federation("report", out, "-o", tmp_path / "r.html")
        assert report.returncode == 0 and said in report.stderr
        assert "<span class='status dead'>stopped without closing</span>" in (tmp_path / "r.html").read_text()
    finally:
        proc.kill()
        proc.wait()


def test_a_run_from_another_host_is_judged_by_its_heartbeat():
    from federation.results.liveness import STALE_SECONDS, Liveness, judge

    meta = {"status": "running", "coordinator_host": "elsewhere.example", "coordinator_pid": "1"}
    now = 1_000_000.0
    assert judge({**meta, "heartbeat_at": repr(now - 5)}, now).liveness is Liveness.LIVE
    dead = judge({**meta, "heartbeat_at": repr(now - STALE_SECONDS - 1)}, now)
    assert dead.liveness is Liveness.DEAD and "stopped without closing" in dead.describe()
    assert judge({"status": "completed"}).liveness is Liveness.CLOSED
    assert judge({"status": "running"}).liveness is Liveness.UNKNOWN  # a store from before the heartbeat


def test_a_reused_pid_is_not_taken_for_the_coordinator():
    import os
    import socket

    from federation.results.liveness import Liveness, judge

    meta = {"status": "running", "coordinator_host": socket.gethostname(), "coordinator_pid": str(os.getpid()),
            "coordinator_start": "another-boot/123", "heartbeat_at": repr(time.time())}  # fmt: skip
    if not Path("/proc/self/stat").exists():
        pytest.skip("process start times come from /proc")
    assert judge(meta).liveness is Liveness.DEAD


# ---------------------------------------------------------------------------- reading changes nothing
@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("finished")
    out = folder / "runs" / "words.sqlite"
    result = federation("run", write_scenario(folder, SHORT), "--out", out, "-q")
    assert result.returncode == 0, result.stderr
    return out


def _listing(folder: Path) -> dict[str, tuple[int, int]]:
    return {p.name: (p.stat().st_size, p.stat().st_mtime_ns) for p in sorted(folder.iterdir())}


def test_reading_a_finished_store_changes_nothing_on_disk(finished, tmp_path):
    """Readers used to leave words.sqlite-wal and words.sqlite-shm beside a finished store."""
    from federation.results.liveness import Liveness

    before = _listing(finished.parent)
    assert sorted(before) == ["words.logs", "words.sqlite"]
    export = federation("export", finished, "--csv", tmp_path / "csv")
    assert export.returncode == 0 and export.stderr == ""
    with RunStore(finished) as store:
        assert store.state.liveness is Liveness.CLOSED
        assert store.series("clock.y").values == (0.0, 1.0, 2.0, 3.0, 4.0)
        store.plot(["clock.y", "probe.obs"], tmp_path / "p.png")
    write_report(finished, tmp_path / "r.html")
    assert _listing(finished.parent) == before


def test_a_finished_store_keeps_each_federates_step_times(finished):
    """The step-time figures the live console showed are kept when the run ends, and shown for the finished run."""
    import json

    from federation.console.model import RunModel

    with RunStore(finished) as store:
        kept = json.loads(store.metadata()["step_times"])
        grants = {name: g for name, _type, _period, g, _status in store.federates()}
    assert sorted(kept) == ["clock", "probe", "words"]
    for name, figures in kept.items():
        assert 1 <= figures["steps"] <= grants[name] and figures["window"] == min(figures["steps"], 100), figures
        assert 0 < figures["p50"] <= figures["p99"] <= figures["max"] <= figures["longest"], (name, figures)
        assert figures["p50"] <= figures["longest"] and 0 < figures["mean"] <= figures["longest"], (name, figures)
        assert figures["restarts"] == 0
    rows = {row["name"]: row for row in RunModel(finished, live=False).state()["snapshot"]["federates"]}
    for name, figures in kept.items():
        step = rows[name]["step"]
        assert (step["p50"], step["p99"], step["max"], step["n"], step["count"]) == (
            figures["p50"], figures["p99"], figures["max"], figures["window"], figures["steps"])


# ---------------------------------------------------------------------------- plots
def test_an_array_signal_is_plotted_per_element(finished):
    with RunStore(finished) as store:
        figure = store.figure(["probe.obs", "words.grid"])
    probe, grid = figure.axes
    assert [line.get_label() for line in probe.get_lines()] == ["probe.obs[0]", "probe.obs[1]"]
    t, u = probe.get_lines()
    assert list(t.get_ydata()) == [0.0, 1.0, 2.0, 3.0, 4.0]  # [t, u] at each step, the last one at the stop time
    assert list(u.get_ydata()) == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert [line.get_label() for line in grid.get_lines()] == ["words.grid[0,0]", "words.grid[0,1]",
                                                              "words.grid[1,0]", "words.grid[1,1]"]  # fmt: skip
    assert list(grid.get_lines()[3].get_ydata()) == [0.0, 4.0, 8.0, 12.0, 16.0]


def test_a_text_signal_is_refused_with_its_name(finished, tmp_path):
    png = tmp_path / "w.png"
    result = federation("plot", finished, "words.word", "-o", png)
    assert result.returncode == 1
    assert result.stderr.startswith("federation: error: cannot plot words.word: it holds text ('t=0')")
    assert not png.exists()
    with RunStore(finished) as store, pytest.raises(FederationError, match="cannot plot words.word"):
        store.figure(["clock.y", "words.word"])


def test_plot_into_a_closed_pipe_ends_quietly(finished):
    """`federation plot RUN | head` used to end in a BrokenPipeError traceback and exit 3."""
    proc = subprocess.Popen([sys.executable, "-m", "federation.app.cli", "plot", str(finished)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    proc.stdout.close()  # the reader is gone before the first line is written
    stderr = proc.stderr.read()
    proc.stderr.close()
    assert proc.wait(60) == 141
    assert stderr == ""
