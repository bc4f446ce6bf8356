"""Flagship scenario wall time and speed relative to real time.  Not a test.

Runs scenarios/riverton.yaml (72-hour storm, 96 h simulated, nine federates in their own
processes) at level 5 (--autonomy full) a few times and prints start-up, stepping and
total wall time, steps per second and the speed-up over real time.

Usage: python bench/scenario.py [--repeat 3] [--scenario scenarios/riverton.yaml]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # fmus/ is not an installed package

from federation.decisions.gate import Autonomy  # noqa: E402
from federation.engine.coordinator import Coordinator, RunOptions  # noqa: E402
from federation.scenario.loader import load  # noqa: E402
from fmus.build import build_all  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scenario", type=Path, default=ROOT / "scenarios" / "riverton.yaml")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    build_all(ROOT / "fmus" / "dist")
    scenario = load(args.scenario)
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for k in range(args.repeat):
            options = RunOptions(out=Path(folder) / f"run{k}.sqlite", autonomy=Autonomy.FULL)
            s = Coordinator(scenario, options).run()
            rows.append((s.startup_seconds, s.stepping_seconds, s.wall_seconds, s.steps))
            print(f"run {k + 1}: start-up {s.startup_seconds:.2f} s, stepping {s.stepping_seconds:.2f} s, "
                  f"total {s.wall_seconds:.2f} s, {s.steps} steps", flush=True)  # fmt: skip
    sim = scenario.time.stop - scenario.time.start
    med = [statistics.median(col) for col in zip(*rows)]
    print(f"\n{scenario.name}: {len(scenario.federates)} federates, {sim / 3600:g} h simulated, "
          f"median of {args.repeat} runs")
    print(f"  start-up {med[0]:.2f} s, stepping {med[1]:.2f} s, total {med[2]:.2f} s wall")
    print(f"  {med[3] / med[1]:,.0f} federate steps/s; {sim / med[2]:,.0f}x real time "
          f"({sim / med[1]:,.0f}x for the stepping phase)")


if __name__ == "__main__":
    main()
