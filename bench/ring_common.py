"""What every implementation of the ring workload shares: the reference, the check, the result.

The workload is defined in bench/README.md.  Each implementation returns a
:class:`RingResult`; :func:`check` compares what it computed with a plain Python loop of
the same recurrence, bit for bit (the arithmetic is the same IEEE double operations).
"""

from __future__ import annotations

import json
import math
import os
import socket
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

A, B = 0.5, 1.0
PREFIX = 64
"""Steps whose values are checked one by one (after ~55 steps y has converged to 2.0)."""


@dataclass
class RingResult:
    """One run of the ring by one implementation."""

    system: str
    n: int
    steps: int
    stepping: float  # seconds from all joined to all finished
    total: float  # seconds from the first process start to the last process exit
    startup: float | None = None  # seconds until every member had joined
    problem: str = ""  # empty when the values match the reference
    extra: dict[str, float] = field(default_factory=dict)

    def per_step_us(self, which: str = "stepping") -> float:
        return getattr(self, which) / self.steps * 1e6


def print_runs(run: Callable[[int, int], RingResult], sizes: Sequence[int], steps: int) -> None:
    """Run one system for each N and print a line per run (the scripts' standalone mode)."""
    for n in sizes:
        r = run(n, steps)
        print(f"{r.system} N={n:3d} S={steps}: {r.per_step_us():9.1f} us/step stepping, "
              f"{r.per_step_us('total'):9.1f} us/step total  {r.problem or 'values OK'}")  # fmt: skip


def reference(n: int, steps: int) -> list[list[float]]:
    """y[k][i] for k < min(steps, PREFIX), and the final row last, from a plain loop."""
    y = [0.0] * n
    rows = []
    for k in range(steps):
        y = [A * y[(i - 1) % n] + B for i in range(n)]
        if k < PREFIX:
            rows.append(y)
    if steps > PREFIX:
        rows.append(y)
    return rows


def check(n: int, steps: int, prefixes: Sequence[Sequence[float]], finals: Sequence[float]) -> str:
    """Compare per-federate trajectories (first PREFIX steps) and final values with the reference.

    ``prefixes[i]`` is federate i's y at steps 0, 1, ... (at least min(steps, PREFIX) of
    them); ``finals[i]`` its y after the last step.  Returns "" when all match exactly.
    """
    ref = reference(n, steps)
    head = min(steps, PREFIX)
    for i in range(n):
        got = list(prefixes[i][:head])
        want = [ref[k][i] for k in range(head)]
        if got != want:
            k = next((k for k, (g, w) in enumerate(zip(got, want)) if g != w), len(got))
            return f"federate {i}: y at step {k} is {got[k] if k < len(got) else 'missing'}, expected {want[k] if k < len(want) else '-'}"
        if finals[i] != ref[-1][i]:
            return f"federate {i}: final y {finals[i]!r}, expected {ref[-1][i]!r}"
    return ""


def free_port() -> int:
    """A TCP port on loopback that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a live process, from /proc/PID/stat (Linux); 0 when it is gone."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def now() -> float:
    """CLOCK_MONOTONIC: system-wide on Linux, so times taken in different processes compare."""
    return time.monotonic()


def report_line(payload: dict[str, object]) -> str:
    """The one line a worker process prints for its parent to read."""
    return "RESULT " + json.dumps(payload)


def parse_reports(text: str) -> list[dict[str, object]]:
    return [json.loads(line[7:]) for line in text.splitlines() if line.startswith("RESULT ")]


def failed(system: str, n: int, steps: int, exc: BaseException) -> RingResult:
    """The result of a run that raised: no figures, the error as the problem."""
    first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return RingResult(
        system, n, steps, math.nan, math.nan, None, f"run failed: {type(exc).__name__}: {first_line}"
    )


def median_result(results: Sequence[RingResult]) -> RingResult:
    """Median of each figure over the runs that finished; the first problem found, if any."""
    first = results[0]
    ok = [r for r in results if math.isfinite(r.stepping)]
    startups = [r.startup for r in ok if r.startup is not None]
    return RingResult(
        system=first.system, n=first.n, steps=first.steps,
        stepping=statistics.median(r.stepping for r in ok) if ok else math.nan,
        total=statistics.median(r.total for r in ok) if ok else math.nan,
        startup=statistics.median(startups) if startups else None,
        problem=next((r.problem for r in results if r.problem), ""),
        extra={k: statistics.median(r.extra[k] for r in ok if k in r.extra)
               for k in sorted({k for r in ok for k in r.extra})},
    )  # fmt: skip
