"""Checkpoint size and time for riverton, and resume time.  Not a test.

Runs scenarios/riverton.yaml (96 h simulated, --autonomy full) without checkpoints and with
one every 12 h, prints each checkpoint's size (coordinator and per federate) and the wall
time from the cut to the commit, then resumes a copy of the store from its first and its
last checkpoint and prints the time to take up the states (RESTORE exchange) and the total
wall time of the resumed run.  Each resumed store is compared with the uninterrupted one,
table by table.  With ``--workers N`` every federate is in the pool of N worker processes
(``process: shared``, docs/scenarios.md "process").

Usage: python bench/checkpoint.py [--every "12 h"] [--repeat 3] [--workers N]
"""

from __future__ import annotations

import argparse
import shutil
import sqlite3
import statistics
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # fmus/ is not an installed package

from federation.decisions.gate import Autonomy  # noqa: E402
from federation.engine.checkpoint import Resume  # noqa: E402
from federation.engine.coordinator import Coordinator, RunOptions  # noqa: E402
from federation.scenario.loader import load  # noqa: E402
from federation.scenario.model import parse_duration  # noqa: E402
from fmus.build import build_all  # noqa: E402

TABLES = {"samples": "tick, time, signal, value", "messages": "tick, time, sent_tick, source, target, payload",
          "decisions": "id, tick, time, source, target, proposal, verdict, decided_by, final, note",
          "kpis": "name, value, unit"}  # fmt: skip


def run(scenario: object, out: Path) -> tuple[float, float]:
    s = Coordinator(scenario, RunOptions(out=out, autonomy=Autonomy.FULL)).run()  # type: ignore[arg-type]
    return s.stepping_seconds, s.wall_seconds


def resume(store: Path, keep: int) -> tuple[float, float, bool, Path]:
    """Resume a copy of ``store`` from its checkpoint at tick ``keep``; (restore s, wall s, identical, copy)."""
    copy = store.with_name(f"{store.stem}-from-{keep}.sqlite")
    shutil.copy(store, copy)
    db = sqlite3.connect(copy)
    db.execute("DELETE FROM checkpoint_states WHERE checkpoint IN (SELECT id FROM checkpoints WHERE tick > ?)", (keep,))
    db.execute("DELETE FROM checkpoints WHERE tick > ?", (keep,))
    db.commit()
    db.close()
    point = Resume.open(copy)
    coordinator = Coordinator(point.coordinator["scenario"], RunOptions(out=copy, resume=point, autonomy=Autonomy.FULL))
    summary = coordinator.run()
    return coordinator.resumed_seconds, summary.wall_seconds, same(store, copy), copy


def same(a: Path, b: Path) -> bool:
    def rows(path: Path, table: str) -> list[tuple[object, ...]]:
        db = sqlite3.connect(path)
        try:
            return db.execute(f"SELECT {TABLES[table]} FROM {table} ORDER BY rowid").fetchall()  # noqa: S608
        finally:
            db.close()

    return all(rows(a, t) == rows(b, t) for t in TABLES)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scenario", type=Path, default=ROOT / "scenarios" / "riverton.yaml")
    parser.add_argument("--every", default="12 h", help="simulated time between checkpoints")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workers", type=int, default=0,
                        help="every federate in the pool of this many worker processes (0: a process each)")
    args = parser.parse_args()
    build_all(ROOT / "fmus" / "dist")
    plain = load(args.scenario)
    if args.workers:
        plain = replace(plain, federates={n: replace(f, process="shared") for n, f in plain.federates.items()},
                        coordinator=replace(plain.coordinator, workers=args.workers))  # fmt: skip
    every = parse_duration(args.every)
    checked = replace(plain, coordinator=replace(plain.coordinator, checkpoint=every))
    with tempfile.TemporaryDirectory() as folder:
        base = [run(plain, Path(folder) / f"plain{k}.sqlite") for k in range(args.repeat)]
        timed = [run(checked, Path(folder) / f"checked{k}.sqlite") for k in range(args.repeat)]
        store = Path(folder) / "checked0.sqlite"
        db = sqlite3.connect(store)
        points = db.execute("SELECT c.tick, c.time, c.seconds, length(c.coordinator), sum(length(s.state)), "
                            "max(length(s.state)), (SELECT federate FROM checkpoint_states WHERE checkpoint=c.id "
                            "ORDER BY length(state) DESC LIMIT 1) FROM checkpoints c JOIN checkpoint_states s "
                            "ON s.checkpoint=c.id GROUP BY c.id ORDER BY c.tick").fetchall()  # fmt: skip
        db.close()
        print(f"{plain.name}: {len(plain.federates)} federates, {(plain.time.stop - plain.time.start) / 3600:g} h "
              f"simulated{f' in {args.workers} worker processes' if args.workers else ''}, a checkpoint every "
              f"{args.every}; median of {args.repeat} runs")
        print(f"  stepping without checkpoints {statistics.median(b[0] for b in base):.2f} s, with "
              f"{statistics.median(t[0] for t in timed):.2f} s ({len(points)} checkpoints)")
        print("\n  checkpoint  coordinator  federates  largest federate       taken in")
        for _tick, t, seconds, coord, feds, largest, who in points:
            print(f"  {t / 3600:7.0f} h  {coord / 1024:8.1f} kB  {feds / 1024:7.1f} kB  {who:>12} {largest / 1024:6.1f} kB"
                  f"  {seconds * 1000:7.1f} ms")  # fmt: skip
        first, last = points[0][0], points[-1][0]
        for keep in (first, last):
            restore, wall, identical, _ = resume(store, keep)
            print(f"\n  resume from {keep / 3600:g} h: states taken up in {restore * 1000:.0f} ms, run to the end in "
                  f"{wall:.2f} s wall; store identical to the uninterrupted run: {identical}")


if __name__ == "__main__":
    main()
