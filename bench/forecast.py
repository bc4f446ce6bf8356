"""Forecast latency at a pending decision: riverton, 3 alternatives, 24 h horizon.  Not a test.

Runs scenarios/riverton.yaml (checkpoint every 6 h, stopped at 36 h) with --interactive; its
'ask' rule gets ``forecast: {horizon: 24 h, alternatives: [approve, reject, {edit: {opening: 0.3}}]}``.
The pre-release proposal (decision 2, t=39900 s = 11.1 h) is held for the operator; the
coordinator takes a snapshot of the federation at the hold and forks it three times, each
fork running 24 h ahead (to 35.1 h).  This program reads the terminal as an operator would
and prints the wall seconds from the moment the proposal is shown to the moment the last
alternative's KPIs are shown (and the coordinator's own figure, from the proposal to the
report), with the load average and the cores, then answers 'a'.

It then reads the logs for a breakdown by phase (wall seconds, from the logs' timestamps):
the snapshot at the hold (from the proposal to the commit), then per fork: start (the fork
started, to its coordinator's first line: a process forked, the store copied and opened),
federates (started and joined), restore (each federate takes up its state), stepping (24 h
ahead), end (federates stopped, KPIs computed, the store closed, the fork reaped), and the
report (the last fork reaped to the forecasts shown).

``--paced F`` measures instead what a forecast costs a paced run: riverton paced F times
faster than real time, to 14 h, with --control; decision 2 is approved on the control
endpoint ``--hold`` wall seconds (default 10) after it is proposed; once without and once
with the forecast (whose forks run during the hold and are stopped at the answer).  It
prints the live run's lag (how late each paced grant instant is, from the store's ``pacing``
table) p50/p99/max before the proposal and from it on (the hold, then the catch-up).

Usage: python bench/forecast.py [--repeat 3] [--executor local|dask] [--paced 600 [--hold 10]]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
ASK_NOTE = "      note: pre-release and downstream limits need the duty manager\n"
FORECAST = "      forecast: {horizon: 24 h, alternatives: [approve, reject, {edit: {opening: 0.3}}]%s}\n"


def scenario(folder: Path, executor: str = "local", pace: float | None = None, forecast: bool = True) -> Path:
    text = (ROOT / "scenarios" / "riverton.yaml").read_text()
    text = text.replace("../fmus/dist/", f"{ROOT / 'fmus' / 'dist'}/").replace("data/riverton-ict", f"{ROOT}/scenarios/data/riverton-ict")
    if forecast:
        text = text.replace(ASK_NOTE, ASK_NOTE + FORECAST % ("" if executor == "local" else f", executor: {executor}"))
    if pace is not None:
        text = text.replace("time:\n", f"time:\n  pace: {pace:g}\n", 1)
    path = folder / f"riverton-forecast-{executor}-{pace}-{forecast}.yaml"
    path.write_text("coordinator: {checkpoint: {every: 6 h}}\n" + text)
    return path


def once(folder: Path, n: int, executor: str = "local") -> tuple[float, float, list[str], Path]:
    """(seen by the operator, reported by the coordinator, the forecast lines, the store) for one run."""
    store = folder / f"run-{n}.sqlite"
    run = subprocess.Popen([sys.executable, "-m", "federation.app.cli", "run", str(scenario(folder, executor)), "--until",
                            "36 h", "--interactive", "--out", str(store), "-q"], stdin=subprocess.PIPE,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=ROOT)  # fmt: skip
    assert run.stderr is not None
    shown = 0.0
    lines: list[str] = []
    try:
        for line in run.stderr:
            if line.startswith("[decision 2] t="):
                shown = time.perf_counter()
            if "] forecast to" in line or lines:
                lines.append(line.rstrip())
            if line.startswith("  edit:"):
                break
        seen = time.perf_counter() - shown
        _, err = run.communicate("a\n", timeout=600)
        if run.returncode != 0:
            raise SystemExit(f"the run failed:\n{err[-3000:]}")
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
    found = re.search(r"alternatives in ([0-9.]+) s", lines[0]) if lines else None
    if found is None:
        raise SystemExit("no forecast shown:\n" + "\n".join(lines))
    return seen, float(found.group(1)), lines, store


def _stamps(path: Path, patterns: dict[str, str]) -> dict[str, float]:
    """The time (POSIX seconds) of the first line of ``path`` matching each pattern."""
    out: dict[str, float] = {}
    if not path.exists():
        return out
    for line in path.read_text(errors="replace").splitlines():
        for key, pattern in patterns.items():
            if key not in out and re.search(pattern, line):
                out[key] = dt.datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f").timestamp()
    return out


def phases(store: Path) -> list[tuple[str, float]]:
    """The breakdown by phase of one run's forecast, from its logs (docs: the module's docstring)."""
    logs = store.with_suffix(".logs")
    parent = _stamps(logs / "coordinator.log", {"held": r"step held for proposal\(s\) 2\b", "snapshot": r"snapshot at the hold",
                                                "shown": r"\] forecast to"})  # fmt: skip
    parent_text = (logs / "coordinator.log").read_text(errors="replace")
    rows = [("snapshot at the hold", parent.get("snapshot", 0) - parent.get("held", 0))]
    last_done = 0.0
    for fork in sorted((logs / "forecasts").glob("*.logs")):
        name = fork.name[: -len(".logs")] + ".sqlite"
        started = re.search(rf"^(\S+ \S+) .*fork {re.escape(name)} started", parent_text, re.M)
        done = re.search(rf"^(\S+ \S+) .*fork {re.escape(name)} done", parent_text, re.M)
        if not (started and done):
            continue
        t0 = dt.datetime.strptime(started.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp()
        t9 = dt.datetime.strptime(done.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp()
        last_done = max(last_done, t9)
        s = _stamps(fork / "coordinator.log", {"first": r".", "joined": r"all \d+ federates joined",
                                               "resumed": r"resumed from the checkpoint", "stop": r"stopping every federate"})  # fmt: skip
        label = name[: -len(".sqlite")].split("-", 2)[-1]
        if len(s) == 4:
            rows += [(f"{label}: start (fork, store copy)", s["first"] - t0), (f"{label}: federates joined", s["joined"] - s["first"]),
                     (f"{label}: restore", s["resumed"] - s["joined"]), (f"{label}: stepping 24 h", s["stop"] - s["resumed"]),
                     (f"{label}: end (stop, KPIs, reaped)", t9 - s["stop"])]  # fmt: skip
        rows.append((f"{label}: fork, started to reaped", t9 - t0))
    if last_done and "shown" in parent:
        rows.append(("report (last fork reaped -> shown)", parent["shown"] - last_done))
    return rows


def _lags(store: Path, proposal: float) -> dict[str, list[float]]:
    """The lag of each paced grant instant (wall seconds): before the proposal, and after it (the hold and the
    catch-up after the answer)."""
    db = sqlite3.connect(store)
    try:
        rows = db.execute("SELECT time, lag FROM pacing ORDER BY tick").fetchall()
    finally:
        db.close()
    return {"before": [lag for t, lag in rows if t < proposal], "after": [lag for t, lag in rows if t >= proposal]}


def _p(values: list[float], q: float) -> float:
    return sorted(values)[min(len(values) - 1, int(q * len(values)))] if values else float("nan")


def paced(folder: Path, factor: float, hold: float) -> None:
    """A paced run's lag without and with a forecast running while decision 2 is held ``hold`` wall seconds."""
    import zmq

    users = folder / "users"
    users.write_text("ops operator ops-token-0123456789\n")
    users.chmod(0o600)
    for forecast in (False, True):
        store = folder / f"paced-{forecast}.sqlite"
        load = os.getloadavg()[0]
        argv = [sys.executable, "-m", "federation.app.cli", "run", str(scenario(folder, forecast=forecast)), "--pace",
                f"{factor:g}", "--until", "14 h", "--out", str(store), "-q", "--control", "tcp://127.0.0.1",
                "--users", str(users)]  # fmt: skip
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=ROOT)
        assert proc.stderr is not None
        banner = proc.stderr.readline()
        client = zmq.Context.instance().socket(zmq.REQ)
        client.setsockopt(zmq.LINGER, 0)
        client.connect(banner.rsplit(" ", 1)[1].strip())

        def ask(request: dict[str, object], client: Any = client) -> dict[str, object]:
            client.send_string(json.dumps({**request, "token": "ops-token-0123456789"}))
            reply: dict[str, object] = json.loads(client.recv())
            return reply

        try:
            while not ask({"op": "pending"})["pending"]:
                time.sleep(0.05)
            time.sleep(hold)  # the operator reads (and, with forecasts, the forks run)
            ask({"op": "decide", "id": 2, "verdict": "approve"})
            _, err = proc.communicate(timeout=900)
            if proc.returncode != 0:
                raise SystemExit(err[-3000:])
        finally:
            client.close()
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        lags = _lags(store, 39900.0)
        after = lags["after"]
        print(f"paced {factor:g}x to 14 h, decision 2 held {hold:g} s, {'with' if forecast else 'without'} a "
              f"forecast: lag p50/p99/max before the proposal {_p(lags['before'], .5) * 1000:.1f}/"
              f"{_p(lags['before'], .99) * 1000:.1f}/{max(lags['before'] or [0]) * 1000:.1f} ms; after it "
              f"{_p(after, .5) * 1000:.1f}/{_p(after, .99) * 1000:.1f}/{max(after or [0]) * 1000:.1f} ms "
              f"({len(after)} grant instants); load average {load:.1f} before, {os.getloadavg()[0]:.1f} after")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--executor", choices=("local", "dask"), default="local")
    parser.add_argument("--paced", type=float, metavar="F", help="measure a paced run's lag instead")
    parser.add_argument("--hold", type=float, default=10.0, metavar="S", help="--paced: wall seconds decision 2 is held")
    args = parser.parse_args()
    cores = len(os.sched_getaffinity(0))
    seen, reported = [], []
    with tempfile.TemporaryDirectory() as tmp:
        if args.paced:
            paced(Path(tmp), args.paced, args.hold)
            return
        for n in range(args.repeat):
            load = os.getloadavg()[0]
            a, b, lines, store = once(Path(tmp), n, args.executor)
            seen.append(a)
            reported.append(b)
            print(f"run {n + 1}: proposal shown -> all forecasts shown {a:.2f} s (coordinator: {b:.1f} s); "
                  f"load average {load:.1f} before, {os.getloadavg()[0]:.1f} after; {cores} cores; {args.executor}")
            for name, seconds in phases(store):
                print(f"    {name:<40} {seconds:6.2f} s")
        print("\n".join(lines))
    print(f"median over {args.repeat}: {statistics.median(seen):.2f} s wall (goal: under 10 s on 2 cores)")


if __name__ == "__main__":
    main()
