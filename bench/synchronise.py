"""Cost of synchronisation per measurement (docs/synchronise.md), in microseconds.

Three figures:

1. **runtime**: :meth:`Synchroniser.apply` on a federate with one pair, a new measurement
   at every step, per method (what the federate's process adds to a step);
2. **recorder**: the coordinator writing one correction record into the store's
   ``synchronisation`` table (through :meth:`Recorder.write`, as in a run);
3. **end to end**: a run of two linear reservoirs stepping every second, the second corrected by
   the first, against the same run without ``synchronise:`` where an ordinary connection
   ``truth.storage -> model.reading`` gives the model the same dependency on the truth (so both
   runs step in lock-step): the difference in stepping time divided by the measurements.

Usage: ``python bench/synchronise.py [--steps N] [--repeat R]``
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODELS = ROOT / "tests" / "sync_models.py"

SCENARIO = """
time: {{stop: {stop}, resolution: 1 s}}
federates:
  truth: {{type: "{models}:LinearReservoir", period: 1, params: {{k: 0.0003, storage0: 3000}}}}
  model: {{type: "{models}:LinearReservoir", period: 1, params: {{k: 0.0005, storage0: 1000}}}}
record: {{signals: none}}
"""
SETTINGS = {"nudge": "tau: 600", "kalman": "model_variance: 1.0, measurement_variance: 4.0"}


def section(method: str) -> str:
    return ("\nsynchronise:\n  - {pair: truth.storage -> model.storage, method: " + method + ", " + SETTINGS[method]
            + ", acceptable: 10, max_jump: 1000, blind_after: 3600}\n")


def runtime_cost(method: str, steps: int) -> float:
    """µs per measurement for ``Synchroniser.apply`` alone."""
    sys.path.insert(0, str(MODELS.parent))
    from sync_models import LinearReservoir  # type: ignore[import-not-found]

    from federation.api.federate import Context
    from federation.engine.synchroniser import Synchroniser
    from federation.scenario.synchronisation import SyncMethod, SyncPair

    pair = SyncPair(0, "truth", "storage", "model", "storage", method=SyncMethod(method), tau=600.0,
                    model_variance=1.0, measurement_variance=4.0, acceptable=10.0, max_jump=1000.0,
                    blind_after=3600.0)  # fmt: skip
    fed = LinearReservoir({}, Context("model", 0, 0.0, float(steps), 1.0, 1.0))
    fed.setup()
    sync = Synchroniser.attach(fed, [pair.to_wire()])
    assert sync is not None
    names = [s.name for s in fed.declaration.inputs]
    index = names.index("storage~measured")
    changed = {index: 0.0}
    start = time.perf_counter()
    for k in range(steps):
        fed.inputs["storage~measured"] = 1000.0 + (k % 7)
        sync.apply(fed, float(k), changed, names)
        fed._outbox.clear()
    return (time.perf_counter() - start) / steps * 1e6


def recorder_cost(records: int, folder: Path) -> float:
    """µs per correction record written by the coordinator's recorder."""
    from federation.engine.plan import Plan
    from federation.engine.recorder import Recorder
    from federation.scenario.loader import load

    path = folder / "recorder.yaml"
    path.write_text(SCENARIO.format(stop=10, models=MODELS) + section("nudge"))
    plan = Plan.build(load(path))
    fed = plan.index("model")
    out = [s.name for s in plan.signals if s.federate == "model"].index("~sync")
    row = [0.0, 0, "corrected", 1000.0, 990.0, 995.0, -10.0, 0.5, None, 1, -10.0, 10.0, 10.0]
    samples = [(k, fed, out, [[float(k), *row[1:]]]) for k in range(records)]
    with Recorder(folder / "recorder.sqlite", plan) as recorder:
        start = time.perf_counter()
        for k in range(0, records, 1000):
            recorder.write(samples[k:k + 1000], [])
        recorder.commit()
        elapsed = time.perf_counter() - start
    return elapsed / records * 1e6


def run_cost(stop: int, method: str | None, folder: Path) -> tuple[float, int]:
    """Stepping seconds of a run, and its measurements."""
    from federation.engine.coordinator import Coordinator, RunOptions
    from federation.results.claim import StorePolicy
    from federation.scenario.loader import load

    name = method or "plain"
    path = folder / f"{name}.yaml"
    link = "connections: [truth.storage -> model.reading]\n"
    path.write_text(SCENARIO.format(stop=stop, models=MODELS) + (section(method) if method else link))
    summary = Coordinator(load(path), RunOptions(out=folder / f"{name}.sqlite", store_policy=StorePolicy.OVERWRITE)).run()
    assert summary.status == "completed", summary.reason
    return summary.stepping_seconds, (stop + 1 if method else 0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20_000, help="measurements per figure")
    parser.add_argument("--repeat", type=int, default=5, help="repetitions: the best in-process figure and the "
                                                               "median run are kept")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        print("runtime, Synchroniser.apply per measurement (one pair, a new measurement every step):")
        for method in ("observe", "insert", "nudge", "kalman"):
            best = min(runtime_cost(method, args.steps) for _ in range(args.repeat))
            print(f"  {method:8s} {best:6.2f} us")
        best = min(recorder_cost(args.steps, folder / f"r{i}") for i in range(args.repeat)
                   if (folder / f"r{i}").mkdir() is None)  # fmt: skip
        print(f"recorder, one correction record into the store: {best:.2f} us")
        stop = args.steps
        times: dict[str | None, list[float]] = {None: [], "nudge": [], "kalman": []}
        for _ in range(args.repeat):  # interleaved, so that a change of the machine's load hits all three
            for method in times:
                times[method].append(run_cost(stop, method, folder)[0])
        plain = statistics.median(times[None])
        print(f"end to end, {stop + 1} steps of 1 s, median of {args.repeat}: stepping {plain:.2f} s with an "
              "ordinary connection in place of the pair")  # fmt: skip
        for method in ("nudge", "kalman"):
            synced = statistics.median(times[method])
            print(f"  {method:8s} {synced:.2f} s: {(synced - plain) / (stop + 1) * 1e6:+.1f} us per measurement")


if __name__ == "__main__":
    main()
