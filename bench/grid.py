"""Benchmark of the grid federate: wall time of one step on case39.

Run: ``python bench/grid.py [--steps 200]``.  For AC and DC it prints the
wall time per ``GridFederate.step``

* without a topology change (nothing to re-solve: outputs are republished);
* with a topology change at every step (a breaker message alternately opens and
  closes 16-19, which islands {19, 20, 33, 34}: islands + power flow + cascade check);
* for the first step (case loading excluded, one full solve), for reference.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

from federates.grid import GridFederate
from federation.api.federate import Context, Message

TOGGLED_BRANCH = 26  # 16-19 on case39


def make(case: str, mode: str) -> GridFederate:
    ctx = Context(name="grid", seed=1, start=0.0, stop=1e9, resolution=1e-3, period=60.0)
    fed = GridFederate({"case": case, "mode": mode, "substations": {"s16": {"buses": [16]}}}, ctx)
    fed.setup()
    return fed


def time_steps(fed: GridFederate, steps: int, before: Callable[[int], None]) -> list[float]:
    walls = []
    for k in range(1, steps + 1):
        before(k)
        start = time.perf_counter()
        fed.step(60.0 * k)
        walls.append(time.perf_counter() - start)
        fed.inbox = []
    return walls


def bench(case: str, mode: str, steps: int) -> None:
    fed = make(case, mode)
    start = time.perf_counter()
    fed.step(0.0)
    first = time.perf_counter() - start
    idle = time_steps(fed, steps, lambda k: None)

    def toggle(k: int) -> None:
        action = "open" if k % 2 else "close"
        fed.inbox = [Message(60.0 * k, "bench.ops", "breakers", {"action": action, "branch": TOGGLED_BRANCH})]

    changed = time_steps(fed, steps, toggle)
    print(
        f"{case} {mode.upper()}: first step {first * 1e3:7.2f} ms | "
        f"no change {statistics.median(idle) * 1e6:7.1f} us (median of {steps}) | "
        f"topology change {statistics.median(changed) * 1e3:6.2f} ms median, "
        f"{max(changed) * 1e3:6.2f} ms max"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200, help="steps timed per variant (default 200)")
    args = parser.parse_args()
    for mode in ("dc", "ac"):
        bench("case39", mode, args.steps)


if __name__ == "__main__":
    main()
