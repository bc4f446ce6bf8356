"""Benchmark: wall time per step of the flood federate (not a test).

Runs the default basin through a 6 h, 25 mm/h storm with the gate opened at 10 h,
stepping the federate directly (no coordinator) every 300 s for 36 h, and prints the
wall time per step: overall, and in the flood phase (overbank flow on the floodplain),
plus the shallow-water substeps taken per step.

    python bench/flood.py [--hours 36] [--period 300] [--cells 80]
"""

from __future__ import annotations

import argparse
import statistics
import time

from federates.flood import FloodFederate
from federation.api.federate import Context

HOUR = 3600.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=float, default=36.0, help="simulated hours (default 36)")
    parser.add_argument("--period", type=float, default=300.0, help="federate period in s (default 300)")
    parser.add_argument("--cells", type=int, default=80, help="floodplain cells (default 80)")
    parser.add_argument(
        "--order", type=int, default=1, choices=(1, 2), help="shallow-water scheme order (default 1)"
    )
    args = parser.parse_args()

    params = {
        "rainfall": [[HOUR, 25.0], [7 * HOUR, 0.0]],
        "floodplain_cells": args.cells,
        "floodplain_order": args.order,
        "cfl": 0.9 if args.order == 1 else 0.45,
    }
    context = Context(
        name="flood", seed=1, start=0.0, stop=args.hours * HOUR, resolution=1e-3, period=args.period
    )
    federate = FloodFederate(params, context)
    federate.setup()
    advance = federate.floodplain.model.advance
    substeps: list[int] = []

    def counting_advance(*a: float) -> int:
        n = advance(*a)
        substeps.append(n)
        return n

    federate.floodplain.model.advance = counting_advance  # type: ignore[method-assign]
    all_ms, flood_ms = [], []
    peaks: dict[str, float] = {}
    for k in range(int(args.hours * HOUR / args.period) + 1):
        federate.inputs["gate"] = 1.0 if k * args.period >= 10 * HOUR else 0.2
        start = time.perf_counter()
        federate.step(k * args.period)
        elapsed = (time.perf_counter() - start) * 1e3
        all_ms.append(elapsed)
        if federate.outputs["flood_volume"] > 0.0:
            flood_ms.append(elapsed)
        for name, value in federate.outputs.items():
            if name.startswith("depth."):
                peaks[name[6:]] = max(peaks.get(name[6:], 0.0), value)

    def summary(ms: list[float]) -> str:
        ordered = sorted(ms)
        p95 = ordered[int(0.95 * (len(ordered) - 1))]
        return f"mean {statistics.fmean(ms):.3f} ms, median {statistics.median(ms):.3f} ms, p95 {p95:.3f} ms, max {max(ms):.3f} ms"

    print(
        f"flood federate, {len(all_ms)} steps of {args.period:g} s, {args.cells} floodplain cells, "
        f"order {args.order}"
    )
    print(f"  all steps      : {summary(all_ms)}")
    if flood_ms:
        print(f"  flood phase    : {summary(flood_ms)} ({len(flood_ms)} steps)")
    print(f"  SWE substeps   : mean {statistics.fmean(substeps):.1f}, max {max(substeps)} per step")
    print("  peak depths    : " + ", ".join(f"{name}={value:.2f} m" for name, value in peaks.items()))
    slowest = max(range(len(all_ms)), key=all_ms.__getitem__)
    print(f"  slowest step   : #{slowest} (t = {slowest * args.period / HOUR:g} h)")


if __name__ == "__main__":
    main()
