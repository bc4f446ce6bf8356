"""Multi-rate benchmark: does an unrelated 600 s federate slow down a 1 s federate?

Two scenarios, run alternately ``--repeat`` times each, medians shown (the machine may be
shared and noisy: compare the spread with the slowdown before reading much into it):

* alone: one ``Ticker`` federate (y = t) with a 1 s period;
* beside: the same federate next to an unconnected ``Ticker`` with a 600 s period whose
  every step takes ``--slow-ms`` of wall time (a sleep: it stands for a slow solver and
  takes no CPU from the others on a small machine).

It prints the wall time per fast step of the stepping phase both ways and the slowdown
(target: within 10 %).  For scale it also prints the slowdown the fast federate would
see if it had to wait for every slow step (what a global barrier costs).

Usage: ``python bench/multirate.py [--hours 4] [--slow-ms 50] [--repeat 7]``
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

from federation.engine.coordinator import Coordinator, RunOptions
from federation.scenario.loader import load

TICKER = f"{Path(__file__).resolve().with_name('ring_federate.py')}:Ticker"
SLOW_PERIOD = 600


def scenario_text(hours: float, slow_pause: float | None) -> str:
    lines = [
        "name: multirate",
        f"time: {{stop: {hours:g} h, resolution: 1 s}}",
        "federates:",
        f'  fast: {{type: "{TICKER}", period: 1}}',
    ]
    if slow_pause is not None:
        lines.append(
            f'  slow: {{type: "{TICKER}", period: {SLOW_PERIOD}, params: {{pause: {slow_pause!r}}}}}'
        )
    return "\n".join(lines) + "\n"


def fast_step_us(hours: float, slow_pause: float | None) -> float:
    """Stepping wall time per fast step, in microseconds; checks the grant counts."""
    with tempfile.TemporaryDirectory(prefix="bench-multirate-") as tmp:
        path = Path(tmp) / "multirate.yaml"
        path.write_text(scenario_text(hours, slow_pause), encoding="utf-8")
        summary = Coordinator(load(path), RunOptions(out=Path(tmp) / "run.sqlite")).run()
    fast = round(hours * 3600) + 1  # 0 .. stop, the stop included
    want = {"fast": fast} if slow_pause is None else {"fast": fast, "slow": (fast - 1) // SLOW_PERIOD + 1}
    if dict(summary.grants) != want:
        raise SystemExit(f"multirate: grant counts {dict(summary.grants)}, expected {want}")
    return summary.stepping_seconds / fast * 1e6


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--hours", type=float, default=4.0, help="simulated hours per run (default: 4)")
    parser.add_argument("--slow-ms", type=float, default=50.0, help="wall ms per slow step (default: 50)")
    parser.add_argument(
        "--repeat", type=int, default=7, help="runs of each scenario; medians shown (default: 7)"
    )
    args = parser.parse_args(argv)
    if args.hours * 3600 < SLOW_PERIOD or args.repeat < 1 or args.slow_ms < 0:
        parser.error(
            "--hours must cover one slow period (600 s), --repeat be positive, --slow-ms not negative"
        )
    alone, beside = [], []
    for r in range(args.repeat):  # alternate, and swap the order every other run, to spread a slow spell
        for which in (None, args.slow_ms / 1000) if r % 2 == 0 else (args.slow_ms / 1000, None):
            (alone if which is None else beside).append(fast_step_us(args.hours, which))
        print(f"  run {r + 1}/{args.repeat}: alone {alone[-1]:7.1f} us/step, beside {beside[-1]:7.1f} us/step",
              file=sys.stderr, flush=True)  # fmt: skip
    a, b = statistics.median(alone), statistics.median(beside)
    fast_steps = round(args.hours * 3600) + 1  # 0 .. stop, the stop included
    slow_steps = (fast_steps - 1) // SLOW_PERIOD + 1
    barrier = slow_steps * args.slow_ms * 1000 / fast_steps  # us per fast step spent waiting on slow steps
    print(f"\n1 s federate, {fast_steps} steps; 600 s federate with {args.slow_ms:g} ms per step; "
          f"median of {args.repeat}")  # fmt: skip
    a_min, b_min = min(alone), min(beside)
    print(f"                       {'median':>8} {'best':>8}   us per fast step")
    print(f"  alone:               {a:8.1f} {a_min:8.1f}")
    print(f"  beside the slow one: {b:8.1f} {b_min:8.1f}")
    print(
        f"  slowdown:            {(b / a - 1) * 100:+7.1f}% {(b_min / a_min - 1) * 100:+7.1f}%   (target: within 10 %)"
    )
    print(f"  if it waited for every slow step: about {(barrier / a) * 100:+.0f} %")
    print(
        f"  spread (max/min): alone {max(alone) / a_min:.2f}, beside {max(beside) / b_min:.2f}"
        " -- a spread far above 1.1 means the machine was too noisy to judge the 10 % target"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
