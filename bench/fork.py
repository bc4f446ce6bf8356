"""Fork start-up time and exactness for riverton.  Not a test.

Runs scenarios/riverton.yaml (--until, default 48 h, --autonomy full) twice: with a
checkpoint every 12 h, and without checkpoints.  Then forks, with no change, through the CLI
(`federation fork`, a process of its own, as an operator runs it):

* ``checkpoint``: the checkpointed run at 24 h, a checkpoint: the fork starts there;
* ``replay 24->30 h``: the checkpointed run at 30 h: replays from the 24 h checkpoint to 30 h;
* ``replay 0->30 h``: the run without checkpoints at 30 h: replays from t=0 to 30 h.

For each it prints the wall time of the whole command, the part before the fork's own
stepping begins (its *start-up*: Python, the copy of the store, the replay if any, starting
the federates and restoring their states), and the comparison with the parent, table by
table (rows and SHA-256 of samples, messages, decisions, external_samples, synchronisation,
and the KPIs): a fork with no change must record exactly the parent's rows.

Usage: python bench/fork.py [--until "48 h"] [--repeat 1]
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # fmus/ is not an installed package

from federation.results.store import COMPARED, RunStore  # noqa: E402
from fmus.build import build_all  # noqa: E402

CLI = [sys.executable, "-m", "federation.app.cli"]


def riverton(folder: Path, every: str | None) -> Path:
    text = (ROOT / "scenarios" / "riverton.yaml").read_text()
    text = text.replace("../fmus/dist/", f"{ROOT / 'fmus' / 'dist'}/").replace("data/riverton-ict", f"{ROOT}/scenarios/data/riverton-ict")
    first = f"coordinator: {{checkpoint: {{every: {every}}}}}" if every else "# no checkpoints"
    path = folder / f"riverton-{'cp' if every else 'plain'}.yaml"
    path.write_text(first + "\n" + text)
    return path


def cli(*args: str | Path) -> float:
    started = time.perf_counter()
    done = subprocess.run([*CLI, *map(str, args)], capture_output=True, text=True, cwd=ROOT)
    if done.returncode:
        raise SystemExit(done.stderr[-3000:])
    return time.perf_counter() - started


def seconds(log: Path, pattern: str) -> float:
    found = re.search(pattern, log.read_text())
    return float(found.group(1)) if found else 0.0


def fork(parent: Path, at: str, out: Path) -> tuple[float, float, float]:
    """Fork ``parent`` at ``at`` with no change; wall s of the command, start-up s before the fork's stepping, and
    of it the replay's run (0 from a checkpoint)."""
    wall = cli("fork", parent, "--at", at, "--out", out, "-q")
    log = out.with_suffix(".logs") / "coordinator.log"
    replay = out.with_suffix(".logs") / "coordinator-replay.log"
    replayed = seconds(replay, r"run completed after ([\d.]+) s") if replay.exists() else 0.0
    joined = seconds(log, r"federates joined in ([\d.]+) s")
    restored = seconds(log, r"resumed from the checkpoint at t=\S+ s in ([\d.]+) s")
    run = seconds(log, r"run completed after ([\d.]+) s")
    stepping = run - joined - restored
    return wall, wall - stepping, replayed


def compare(parent: Path, fork: Path) -> list[str]:
    """One line per table: rows and whether the fork's equal the parent's."""
    lines = []
    with RunStore(parent, warn=False) as a, RunStore(fork, warn=False) as b:
        for table in COMPARED:
            theirs, mine = a.digest(table), b.digest(table)
            verdict = "identical" if mine == theirs else f"DIFFERENT (parent {theirs[0]} rows)"
            lines.append(f"    {table:<17} {mine[0]:>7} rows  {verdict}")
        verdict = "identical" if a.kpi_rows() == b.kpi_rows() else "DIFFERENT"
        lines.append(f"    {'kpis':<17} {len(b.kpi_rows()):>7} rows  {verdict}")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--until", default="48 h")
    ap.add_argument("--repeat", type=int, default=1)
    args = ap.parse_args()
    build_all()
    print(f"load average before: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        parents = {}
        for every in ("12 h", None):
            store = folder / f"parent-{'cp' if every else 'plain'}.sqlite"
            wall = cli("run", riverton(folder, every), "--until", args.until, "--autonomy", "full", "--out", store, "-q")
            parents[every] = store
            print(f"parent riverton to {args.until}, checkpoints {every or 'none'}: {wall:.2f} s wall")
        cases = [("checkpoint at 24 h", parents["12 h"], "24 h"), ("replay 24->30 h", parents["12 h"], "30 h"),
                 ("replay 0->30 h", parents[None], "30 h")]  # fmt: skip
        print(f"{'fork (no change)':<20} {'wall s':>8} {'start-up s':>11} {'of it replay s':>15}   "
              f"(median of {args.repeat})")  # fmt: skip
        for name, parent, at in cases:
            walls, starts, replays = [], [], []
            out = parent
            for i in range(args.repeat):
                out = folder / f"fork-{name.replace(' ', '_').replace('>', '')}-{i}.sqlite"
                wall, start, replay = fork(parent, at, out)
                walls.append(wall)
                starts.append(start)
                replays.append(replay)
            print(f"{name:<20} {statistics.median(walls):>8.2f} {statistics.median(starts):>11.2f} "
                  f"{statistics.median(replays):>15.2f}")  # fmt: skip
            print("\n".join(compare(parent, out)))
    print(f"load average after: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
