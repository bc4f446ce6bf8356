"""What a web console costs Riverton's stepping: runs without and with a console (and a browser on it).

Runs alternate (without, with, without, with, ...) so that the machine's drift hits both the
same; the figure is the median of the coordinator's stepping time (``run`` prints it) over
the repetitions, and the ratio.  "With" means ``--console 0`` plus, when Debian's chromium and
Playwright are installed, a headless page signed in and following the live updates; without
a browser the console process alone is measured (and said so).
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
TOKEN = "bench-token-0123456789"
STEPPING = re.compile(r"stepping ([0-9.]+) s\)")
FEED: list[tuple[int, float, float]] = []  # (snapshots, seconds in the hook, stepping seconds) per run with a console


def run_once(folder: Path, until: str, console: bool, chromium: str | None, index: int) -> float:
    argv = [sys.executable, "-m", "federation.app.cli", "run", str(ROOT / "scenarios" / "riverton.yaml"),
            "--out", str(folder / f"run-{index}.sqlite"), "--until", until, "--autonomy", "full"]  # fmt: skip
    if console:
        argv += ["--console", "0", "--users", str(folder / "users")]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=folder)
    viewer = None
    if console:
        assert proc.stderr is not None
        url = ""
        while not url:
            line = proc.stderr.readline()
            if not line:
                break
            found = re.search(r" at (https?://\S+)", line)
            url = found.group(1) if found else ""
        if url and chromium:
            viewer = threading.Thread(target=watch, args=(chromium, url, proc), daemon=True)
            viewer.start()
    out, err = proc.communicate(timeout=600)
    if viewer is not None:
        viewer.join(30)
    found = STEPPING.search(out)
    if proc.returncode != 0 or found is None:
        raise SystemExit(f"run failed ({proc.returncode}):\n{err[-2000:]}")
    if console:
        log = (folder / f"run-{index}.logs" / "coordinator.log").read_text()
        feed = re.search(r"console feed: (\d+) snapshots in ([0-9.]+) s", log)
        if feed:
            FEED.append((int(feed.group(1)), float(feed.group(2)), float(found.group(1))))
    return float(found.group(1))


def watch(chromium: str, url: str, proc: subprocess.Popen[Any]) -> None:
    """A signed-in page following the run until it ends."""
    from console_browser import FLAGS
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chrome = pw.chromium.launch(executable_path=chromium, args=FLAGS)
        try:
            page = chrome.new_page()
            page.goto(f"{url}?token={TOKEN}")
            while proc.poll() is None:
                page.wait_for_timeout(200)
        except Exception:  # the run ended under the page: the measurement is the run's
            pass
        finally:
            chrome.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--until", default="96h", help="simulated span of each run (default: the whole storm)")
    parser.add_argument("--no-browser", action="store_true", help="the console process without a page on it")
    args = parser.parse_args()
    from console_browser import chromium_path

    chromium = None if args.no_browser else chromium_path()
    if chromium is not None:
        try:
            import playwright  # noqa: F401
        except ImportError:
            chromium = None
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "users").write_text(f"bench operator {TOKEN}\n")
        (folder / "users").chmod(0o600)
        without, with_console = [], []
        for i in range(args.repeat):
            without.append(run_once(folder, args.until, False, None, 2 * i))
            with_console.append(run_once(folder, args.until, True, chromium, 2 * i + 1))
    a, b = statistics.median(without), statistics.median(with_console)
    print(f"riverton {args.until}, {args.repeat} runs each, alternating; stepping time, median:")
    print(f"  without a console: {a:.2f} s   ({', '.join(f'{x:.2f}' for x in without)})")
    print(f"  with a console{' and a browser on it' if chromium else ' (no browser)'}: {b:.2f} s   "
          f"({', '.join(f'{x:.2f}' for x in with_console)})")  # fmt: skip
    print(f"  ratio: {b / a:.3f}")
    for snapshots, spent, stepping in FEED:
        print(f"  the feed's hook: {snapshots} snapshots, {spent * 1000:.1f} ms in all "
              f"({spent / snapshots * 1e6:.0f} us each), {spent / stepping * 100:.2f} % of the stepping time")


if __name__ == "__main__":
    main()
