"""Pacing to the wall clock: how late each grant comes against its scheduled instant.

The workload is the ring of bench/README.md (N ``Ring`` federates in N processes, delayed
connections, a 1 s step) paced to the wall clock: ``time: {pace: F}``.  Every tick's grants
then go out together when its instant comes, so the lateness measured is the coordinator's
own (its wake-up on the socket's timeout and the sending), not the federates' computing.
The coordinator records every grant instant in the run store's ``pacing`` table; this
script prints, over the run:

* grant lateness p50 / p99 / max (wall milliseconds after the scheduled instant);
* jitter: the standard deviation of the lateness;
* the stepping time against the schedule (a paced run of S steps of 1 s at factor F takes S/F s);
* the machine's load average before and after, and -- measured at the same time, in a
  process of its own -- how late a bare ZeroMQ socket wakes from the same kind of timed
  wait (``RCVTIMEO`` to an instant every 0.25 s): on a shared machine the tail of the
  lateness is mostly the time a process waits for a core when its instant comes.

The issue's figure is ``--minutes 10`` at factor 1 (600 grant instants); the default is a
two-minute run.  ``--factor 60 --minutes 1`` paces an hour of simulated time in a minute.

``--realtime`` gives the coordinator real-time priority (``time.pace.realtime``) and the bare
socket's process the same: on a busy machine that is what keeps the tail short.

Usage: ``python bench/pacing.py [--minutes 2] [--factor 1] [--step 1] [--federates 4] [--realtime [PRIORITY]]``
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import zmq

from federation.engine.coordinator import Coordinator, RunOptions
from federation.engine.priority import realtime
from federation.results.store import RunStore
from federation.scenario.loader import load

RING_TYPE = f"{Path(__file__).resolve().with_name('ring_federate.py')}:Ring"


def scenario_text(n: int, stop: float, step: float, factor: float, realtime: int | None = None) -> str:
    pace = f"{{factor: {factor!r}, realtime: {realtime}}}" if realtime else repr(factor)
    lines = [
        "name: pacing",
        f"time: {{stop: {stop!r}, resolution: 1 ms, pace: {pace}}}",
        "federates:",
        *(f'  r{i}: {{type: "{RING_TYPE}", period: {step!r}}}' for i in range(n)),
        "connections:",
        *(f"  - {{from: r{(i - 1) % n}.y, to: r{i}.u, delay: true}}" for i in range(n)),
    ]
    return "\n".join(lines) + "\n"


def quantile(ordered: list[float], q: float) -> float:
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def bare_wakeups(seconds: float, every: float = 0.25) -> list[float]:
    """Lateness of timed waits on a bare ZeroMQ socket: the floor any coordinator on this machine meets."""
    ctx = zmq.Context()
    sock = ctx.socket(zmq.PULL)
    sock.bind("tcp://127.0.0.1:*")
    lags, end = [], time.monotonic() + seconds
    target = time.monotonic() + every
    while target < end:
        while (now := time.monotonic()) < target:
            sock.setsockopt(zmq.RCVTIMEO, max(0, math.ceil((target - now) * 1000)))
            try:
                sock.recv()
            except zmq.Again:
                pass
        lags.append(time.monotonic() - target)
        target += every
    sock.close(0)
    ctx.term()
    return sorted(lags)


def figures(lags: list[float]) -> str:
    return (f"p50 {quantile(lags, 0.5) * 1e3:.2f} ms, p99 {quantile(lags, 0.99) * 1e3:.2f} ms, "
            f"max {lags[-1] * 1e3:.2f} ms")  # fmt: skip


def main() -> int:
    if sys.argv[1:2] == ["--bare"]:  # the baseline's own process, at the coordinator's priority
        if len(sys.argv) > 3:
            realtime(int(sys.argv[3]))
        print(json.dumps(bare_wakeups(float(sys.argv[2]))))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=2.0, help="wall minutes to run (default 2; the issue's figure: 10)")
    parser.add_argument("--factor", type=float, default=1.0, help="simulated seconds per wall second (default 1)")
    parser.add_argument("--step", type=float, default=1.0, help="the federates' step, simulated seconds (default 1)")
    parser.add_argument("--federates", type=int, default=4, help="federates in the ring (default 4)")
    parser.add_argument("--realtime", type=int, nargs="?", const=10, metavar="PRIORITY",
                        help="time.pace.realtime: the coordinator (and the bare socket) at SCHED_FIFO priority "
                             "(default 10; needs CAP_SYS_NICE)")
    args = parser.parse_args()
    stop = args.minutes * 60 * args.factor
    load_before = os.getloadavg()[0]
    priority = [str(args.realtime)] if args.realtime else []
    bare = subprocess.Popen([sys.executable, __file__, "--bare", str(args.minutes * 60), *priority],
                            stdout=subprocess.PIPE, text=True)
    with tempfile.TemporaryDirectory(prefix="bench-pacing-") as tmp:
        path = Path(tmp) / "pacing.yaml"
        path.write_text(scenario_text(args.federates, stop, args.step, args.factor, args.realtime), encoding="utf-8")
        summary = Coordinator(load(path), RunOptions(out=Path(tmp) / "pacing.sqlite")).run()
        with RunStore(Path(tmp) / "pacing.sqlite") as store:
            rows = store.pacing()
    per_tick: dict[int, float] = {}  # the tick's last grant: when the whole federation had it
    for tick, _t, _scheduled, _granted, lag, _n in rows:
        per_tick[tick] = max(per_tick.get(tick, 0.0), lag)
    lags = sorted(per_tick.values())
    mean = sum(lags) / len(lags)
    jitter = math.sqrt(sum((x - mean) ** 2 for x in lags) / len(lags))
    scheduled = stop / args.factor
    print(f"pacing: {args.federates} federates, step {args.step:g} s, factor {args.factor:g}x, "
          f"{args.minutes:g} min wall ({len(lags)} grant instants)"
          + (f", coordinator at real-time priority {args.realtime}" if args.realtime else ""))  # fmt: skip
    print(f"grant lateness: {figures(lags)}; jitter (std) {jitter * 1e3:.2f} ms")
    baseline = json.loads(bare.communicate(timeout=120)[0])
    print(f"a bare ZeroMQ socket's timed wait, meanwhile: {figures(baseline)} late ({len(baseline)} waits)")
    print(f"stepping {summary.stepping_seconds:.2f} s for a schedule of {scheduled:.2f} s; "
          f"load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after (1 min)")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
