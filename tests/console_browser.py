"""Headless Chromium for the console's tests: Debian's browser driven by Playwright, or a skip.

Without a browser (or without Playwright) the tests skip with the reason -- except under
``CI=true``, where they fail: CI installs Debian's ``chromium`` (.ci/run).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import statistics
import subprocess
import time
from pathlib import Path
from typing import Any, Iterator

import pytest

ROOT = Path(__file__).resolve().parent.parent
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]  # fmt: skip


SCREENSHOTS_ENV = "FEDERATION_SCREENSHOTS"


def screenshot(tmp_path: Path, name: str) -> str:
    """Where a test's screenshot ``name`` goes: docs/images/ when ``FEDERATION_SCREENSHOTS=1`` asks for the
    docs' pictures to be remade, else the test's own ``tmp_path`` (a run never rewrites tracked files, and
    parallel workers never write the same file)."""
    folder = ROOT / "docs" / "images" if os.environ.get(SCREENSHOTS_ENV) == "1" else tmp_path
    return str(folder / name)


def chromium_path() -> str | None:
    for candidate in (os.environ.get("FEDERATION_CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium"),
                      shutil.which("chromium-browser")):  # fmt: skip
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


def need_browser() -> str:
    """The browser's path; skip (fail under CI=true) without it or without Playwright."""
    path = chromium_path()
    why = None
    if path is None:
        why = "no Chromium: install Debian's 'chromium' (.ci/run does) to run the console's browser tests"
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            why = "no Playwright for Python: pip install -e '.[test]'"
    if why is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(why)
        pytest.skip(why)
    assert path is not None
    return path


def browser(path: str) -> Iterator[Any]:
    """A headless Chromium (closed, with its processes, at the end)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chrome = pw.chromium.launch(executable_path=path, args=FLAGS, timeout=30_000)
        try:
            yield chrome
        finally:
            chrome.close()


class Run:
    """``federation run ... --console 0`` in a child process; ``url`` once the console is up."""

    def __init__(self, argv: list[str], cwd: Path, timeout: float = 60.0) -> None:
        self.proc = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     stdin=subprocess.DEVNULL, start_new_session=True)  # fmt: skip
        self.lines: list[str] = []
        deadline = time.monotonic() + timeout
        self.url = ""
        assert self.proc.stderr is not None
        while not self.url:
            line = self.proc.stderr.readline()
            if not line:
                raise AssertionError("the run ended before its console was up:\n" + "".join(self.lines))
            self.lines.append(line)
            found = re.search(r" at (https?://\S+)", line)
            if found:
                self.url = found.group(1)
            if time.monotonic() > deadline:
                raise AssertionError("no console within the time limit:\n" + "".join(self.lines))

    def wait(self, timeout: float) -> tuple[int, str, str]:
        out, err = self.proc.communicate(timeout=timeout)
        return self.proc.returncode, out, "".join(self.lines) + err

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM first (the run stops at a safe point, its forecast forks with it), then :meth:`kill`."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                pass
        self.kill()

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, 9)
            self.proc.wait(10)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def figures(page: Any) -> None:
    """Print update latency (coordinator snapshot -> painted), page weight and first paint."""
    latency = page.evaluate("window.consoleLatency")
    assert len(latency) >= 5, latency
    weight = page.evaluate("""() => performance.getEntriesByType('navigation').concat(
        performance.getEntriesByType('resource')).filter(e => !e.name.includes('/api/'))
        .reduce((n, e) => n + e.encodedBodySize, 0)""")  # fmt: skip
    paint = page.evaluate("performance.getEntriesByName('first-contentful-paint')[0]?.startTime ?? null")
    ms = [x * 1000 for x in latency]
    values = [x * 1000 for x in page.evaluate("window.valueLatency")]
    assert values and min(values) > 0, values
    print(f"\nconsole: value recorded -> painted p50 {statistics.median(values):.0f} ms, p99 "
          f"{percentile(values, 0.99):.0f} ms over {len(values)} steps' values; snapshot -> painted p50 "
          f"{statistics.median(ms):.0f} ms, p99 {percentile(ms, 0.99):.0f} ms over {len(ms)} updates; page weight "
          f"{weight / 1024:.1f} KiB (html, css, js); first contentful paint {paint:.0f} ms")  # fmt: skip
