"""The ring workload on this project: a generated scenario, run through the Python API.

Each federate is ``bench/ring_federate.py:Ring`` in its own process (started by the
coordinator through ``python -m federation.engine.runtime``), connected to its predecessor by a
delayed connection.  Everything a real run does stays on: schema checks, liveness checks,
recording to SQLite.  The recorded series are read back to check the values.

Timings: stepping is ``RunSummary.stepping_seconds`` (all joined -> all finished); start-up
runs from loading the scenario to all joined; total from loading the scenario to the
return of ``Coordinator.run`` (every federate process has exited by then).
"""

from __future__ import annotations

import statistics
import tempfile
import threading
import time
from pathlib import Path

from ring_common import PREFIX, RingResult, check, cpu_seconds, now

from federation.engine.coordinator import Coordinator, RunOptions
from federation.results.store import RunStore
from federation.scenario.loader import load

RING_TYPE = f"{Path(__file__).resolve().with_name('ring_federate.py')}:Ring"


WORKERS: int | None = None
"""With a number: the federates run ``process: shared`` in that many worker processes (``ring.py --workers``)."""


def scenario_text(n: int, steps: int) -> str:
    """A ring of ``n`` Ring federates for ``steps`` steps of 1 s (at 0 .. steps - 1: the run includes its stop)."""
    shared = ", process: shared" if WORKERS else ""
    lines = [
        f"name: ring-{n}",
        f"time: {{stop: {steps - 1}, resolution: 1 s}}",
        f"coordinator: {{max_federates: {max(n, 1024)}" + (f", workers: {WORKERS}}}" if WORKERS else "}"),
        "federates:",
        *(f'  r{i}: {{type: "{RING_TYPE}"{shared}}}' for i in range(n)),
        "connections:",
        *(f"  - {{from: r{(i - 1) % n}.y, to: r{i}.u, delay: true}}" for i in range(n)),
    ]
    return "\n".join(lines) + "\n"


def trajectory(times: tuple[float, ...], values: tuple[object, ...], steps: int) -> tuple[list[float], float]:
    """y at steps 0..PREFIX-1 and the final y, from a recorded series of changes."""
    out: list[float] = []
    j, current = 0, float("nan")
    for k in range(min(steps, PREFIX)):
        while j < len(times) and times[j] <= k:
            current = float(values[j])  # type: ignore[arg-type]
            j += 1
        out.append(current)
    return out, float(values[-1]) if values else float("nan")  # type: ignore[arg-type]


def run(n: int, steps: int) -> RingResult:
    with tempfile.TemporaryDirectory(prefix="bench-ring-") as tmp:
        path = Path(tmp) / "ring.yaml"
        path.write_text(scenario_text(n, steps), encoding="utf-8")
        out = Path(tmp) / "ring.sqlite"
        t0 = now()
        coordinator = Coordinator(load(path), RunOptions(out=out))  # loads and validates the scenario
        t_run = now()
        memory = _MemorySampler(coordinator, n)
        cpu = _CpuSampler()
        coordinator.hooks.append(cpu.sample)
        summary = coordinator.run()
        t_end = now()
        memory.stop()
        with RunStore(out) as store:
            traj = [trajectory(*_series(store, f"r{i}.y"), steps) for i in range(n)]
    problem = check(n, steps, [p for p, _ in traj], [f for _, f in traj])
    if not problem and summary.grants != {f"r{i}": steps for i in range(n)}:
        problem = f"grant counts {dict(summary.grants)}, expected {steps} each"
    startup = t_run - t0 + summary.startup_seconds
    return RingResult("project", n, steps, summary.stepping_seconds, t_end - t0, startup, problem,
                      memory.figures() | cpu.figures())  # fmt: skip


class _CpuSampler:
    """CPU time per federation step while stepping: the coordinator's thread and the federate processes.

    Sampled by a coordinator hook (it runs in the coordinator's thread every liveness interval);
    the figures are the differences between the first and the last sample over the steps between
    them.  CPU time, unlike wall time, hardly depends on what else the machine runs."""

    def __init__(self) -> None:
        self.samples: list[tuple[float, float, int]] = []  # (coordinator thread CPU s, processes' CPU s, GVT tick)

    def sample(self, coordinator: Coordinator) -> None:
        pids = {c.process.pid for c in coordinator.launcher.children.values()}
        self.samples.append((time.thread_time(), sum(cpu_seconds(pid) for pid in pids), coordinator.scheduler.gvt()))

    def figures(self) -> dict[str, float]:
        if len(self.samples) < 2 or self.samples[-1][2] <= self.samples[0][2]:
            return {}
        (c0, w0, g0), (c1, w1, g1) = self.samples[0], self.samples[-1]
        return {"cpu_coordinator_ms": (c1 - c0) / (g1 - g0) * 1e3, "cpu_federates_ms": (w1 - w0) / (g1 - g0) * 1e3}


class _MemorySampler(threading.Thread):
    """Resident (RSS) and proportional (PSS: shared pages divided among their users) memory per federate process.

    Sampled once, 0.2 s or more after all ``n`` federate processes have started (the first complete sample).
    PSS is the fair figure for forked federates, whose unchanged pages are shared with the fork server.
    """

    def __init__(self, coordinator: Coordinator, n: int) -> None:
        super().__init__(daemon=True)
        self.coordinator, self.n = coordinator, n
        self.done = threading.Event()
        self.sample: list[tuple[float, float]] = []
        self.start()

    def run(self) -> None:
        while not self.done.wait(0.2):
            children = list(self.coordinator.launcher.children.values())
            if len(children) < self.n:
                continue
            sample = [_smaps(pid) for pid in sorted({c.process.pid for c in children})]
            if all(x is not None for x in sample):
                self.sample = [x for x in sample if x is not None]
                return  # one complete sample: reading smaps_rollup of N processes every 0.2 s slows the run it measures

    def stop(self) -> None:
        self.done.set()
        self.join()

    def figures(self) -> dict[str, float]:
        """Per federate: the processes' medians, or with workers their total divided by the federates."""
        if not self.sample:
            return {}
        if WORKERS:
            return {"rss_mib": sum(r for r, _ in self.sample) / self.n, "pss_mib": sum(p for _, p in self.sample) / self.n}
        return {"rss_mib": statistics.median(r for r, _ in self.sample),
                "pss_mib": statistics.median(p for _, p in self.sample)}  # fmt: skip


def _smaps(pid: int) -> tuple[float, float] | None:
    """(RSS, PSS) of a live process in MiB, from /proc/PID/smaps_rollup (Linux)."""
    try:
        with open(f"/proc/{pid}/smaps_rollup", encoding="ascii") as fh:
            fields = {k: v for k, _, v in (line.partition(":") for line in fh)}
        return int(fields["Rss"].split()[0]) / 1024, int(fields["Pss"].split()[0]) / 1024
    except (OSError, KeyError, ValueError, IndexError):
        return None


def _series(store: RunStore, name: str) -> tuple[tuple[float, ...], tuple[object, ...]]:
    series = store.series(name)
    return series.times, series.values
