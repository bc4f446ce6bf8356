"""Benchmark of the factory-line federate: wall time per step (not a test).

Runs the default three-machine line (failures on, 60-s steps) for a simulated week
with a power cut and a flood on the way, and prints the wall time per step and per
part produced.  Usage: ``python bench/factory.py [--days 7] [--period 60] [--machines 3]``.
"""

from __future__ import annotations

import argparse
import time

from federates.factory import FactoryFederate
from federation.api.federate import Context


def run(days: float, period: float, machines: int, seed: int) -> tuple[int, float, int]:
    """Step the federate through ``days``; return (steps, seconds of wall time, parts)."""
    stop = days * 86400.0
    params = {"processing_times": [60.0] * machines, "processing": "exponential"}
    context = Context(name="plant", seed=seed, start=0.0, stop=stop, resolution=1e-3, period=period)
    federate = FactoryFederate(params, context)
    federate.setup()
    steps = int(stop // period) + 1
    began = time.perf_counter()
    for k in range(steps):
        t = k * period
        federate.inputs["power"] = not 0.3 * stop <= t < 0.35 * stop
        federate.inputs["flood_depth"] = 0.5 if 0.6 * stop <= t < 0.62 * stop else 0.0
        federate.step(t)
    return steps, time.perf_counter() - began, int(federate.outputs["parts_produced"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=float, default=7.0, help="simulated days (default 7)")
    parser.add_argument("--period", type=float, default=60.0, help="step in seconds (default 60)")
    parser.add_argument("--machines", type=int, default=3, help="machines in the line (default 3)")
    parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    args = parser.parse_args()
    steps, wall, parts = run(args.days, args.period, args.machines, args.seed)
    print(f"factory: {args.machines} machines, {args.days:g} days in {args.period:g}-s steps")
    print(f"  {steps} steps, {parts} parts, wall {wall:.3f} s")
    print(f"  {wall / steps * 1e6:.1f} us per step, {wall / max(parts, 1) * 1e6:.1f} us per part")


if __name__ == "__main__":
    main()
