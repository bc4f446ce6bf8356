"""The run's progress on the terminal: a status line at the bottom, and a bar in simulated time.

:class:`StatusLine` owns the terminal's last line.  It shows a status (the progress bar)
or a pinned question (the decision prompt); every other piece of output -- log records,
proposals, messages -- goes through :meth:`StatusLine.write`, which erases the line first
and draws it again after, so nothing is glued onto the bar and nothing stale is left.
On a stream that is not a terminal (a pipe, a file) no status is ever drawn: the output
is the plain text, and a question is printed as it is.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from typing import Callable, TextIO

__all__ = ["ProgressBar", "StatusLine", "format_duration"]

ERASE_LINE = "\r\x1b[K"  # back to column 0, erase to the end of the line (ANSI CSI K)


def format_duration(seconds: float) -> str:
    if seconds >= 2 * 86400:
        return f"{seconds / 86400:.3g} d"
    if seconds >= 2 * 3600:
        return f"{seconds / 3600:.3g} h"
    if seconds >= 120:
        return f"{seconds / 60:.3g} min"
    return f"{seconds:.3g} s"


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # no isatty, or closed
        return False


class StatusLine:
    """The last line of a terminal: a status or a question, with other output written above it.

    Thread-safe: the coordinator updates the status while the prompt thread asks.
    """

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.live = _is_terminal(self.stream)
        self._lock = threading.RLock()
        self._status = ""
        self._question: str | None = None
        self._drawn = False  # something of ours is on the cursor's line

    def __repr__(self) -> str:
        state = "question" if self._question is not None else ("status" if self._status else "empty")
        return f"<StatusLine {'terminal' if self.live else 'plain'} {state}>"

    @property
    def encoding(self) -> str:
        return getattr(self.stream, "encoding", None) or "utf-8"

    def show(self, status: str) -> None:
        """Set the status; drawn now unless a question is pinned (then when it goes)."""
        with self._lock:
            self._status = status
            if self.live and self._question is None:
                self._erase()
                self._draw()
                self.stream.flush()

    def write(self, text: str) -> int:
        """Other output: erase the line, write ``text``, draw the line again after a full line."""
        with self._lock:
            self._erase()
            self.stream.write(text)
            if text.endswith("\n"):
                self._draw()
            self.stream.flush()
        return len(text)

    def flush(self) -> None:
        with self._lock:
            self.stream.flush()

    def isatty(self) -> bool:
        return self.live

    def ask(self, question: str) -> None:
        """Pin a question (the cursor waits after it); the status is hidden until it goes."""
        with self._lock:
            self._erase()
            self._question = question
            self._draw()
            self.stream.flush()

    def answered(self, text: str) -> None:
        """The operator answered ``text`` to the question: a terminal has echoed it and its Enter,
        so the cursor is on a fresh line; elsewhere (a pipe) the answer is written after the question."""
        with self._lock:
            if not self.live and self._drawn:
                self.stream.write(text + "\n")
            self._question, self._drawn = None, False
            self._draw()
            self.stream.flush()

    def newline(self) -> None:
        """The operator's input ended without a newline on screen (Ctrl-D after some text): end the line."""
        with self._lock:
            if self._drawn:
                self.stream.write("\n")
                self._drawn = False
                self.stream.flush()

    def withdraw(self, *, keep: bool = False) -> None:
        """Take the question away: erase it, or with ``keep`` end its line and leave it on screen."""
        with self._lock:
            if keep and self._drawn:
                self.stream.write("\n")
                self._drawn = False
            self._erase()
            self._question = None
            self._draw()
            self.stream.flush()

    def close(self) -> None:
        """Erase the status; a pinned question's line is ended."""
        with self._lock:
            if self._question is not None:
                self.withdraw(keep=True)
            self._status = ""
            self._erase()
            self.stream.flush()

    def _erase(self) -> None:
        if not self._drawn:
            return
        self.stream.write(ERASE_LINE if self.live else "\n")  # a pipe cannot erase: end the line instead
        self._drawn = False

    def _draw(self) -> None:
        if self._question is not None:
            self.stream.write(self._question)
            self._drawn = True
        elif self.live and self._status:
            self.stream.write(self._status[: _columns(self.stream) - 1])  # a wrapped line could not be erased
            self._drawn = True


def _columns(stream: TextIO) -> int:
    try:
        return os.get_terminal_size(stream.fileno()).columns or 80
    except (AttributeError, ValueError, OSError):
        return 80


class ProgressBar:
    """Simulated time against the stop time, with the wall time so far and an ETA, on a status line."""

    INTERVAL = 0.2  # wall seconds between two redraws

    def __init__(self, start: float, stop: float, line: StatusLine, width: int = 30,
                 clock: Callable[[], float] = time.monotonic) -> None:  # fmt: skip
        self.start, self.stop, self.width, self.line, self.clock = start, stop, width, line, clock
        self._t0 = clock()
        self._last = -self.INTERVAL
        self._first: tuple[float, float] | None = None  # (wall, simulated) at the first report
        self.lag: Callable[[], float | None] | None = None  # a paced run's lateness behind its schedule (wall s)
        self.line.show(self.render(start, self._t0))

    def __repr__(self) -> str:
        return f"<ProgressBar {self.start:g}..{self.stop:g} s>"

    def __call__(self, sim_time: float) -> None:
        now = self.clock()
        if self._first is None:
            self._first = (now, sim_time)
        if now - self._last < self.INTERVAL:
            return
        self._last = now
        self.line.show(self.render(sim_time, now))

    def render(self, sim_time: float, now: float) -> str:
        span = self.stop - self.start
        frac = min(1.0, max(0.0, (sim_time - self.start) / span)) if span > 0 else 1.0
        filled = int(frac * self.width)
        bar = "#" * filled + "-" * (self.width - filled)
        lag = self.lag() if self.lag is not None else None
        behind = f"lag {lag * 1000:.1f} ms  " if lag is not None and lag < 1 else f"lag {lag:.1f} s  " if lag else ""
        return (f"[{bar}] {frac:6.1%}  t = {format_duration(sim_time)}  {behind}"
                f"({format_duration(now - self._t0)} wall, ETA {self.eta(sim_time, now)})")  # fmt: skip

    def eta(self, sim_time: float, now: float) -> str:
        """Wall time left at the pace simulated time has advanced since the first report."""
        if self._first is None:
            return "--"
        wall0, sim0 = self._first
        advanced, elapsed = sim_time - sim0, now - wall0
        if advanced <= 0 or elapsed <= 0:
            return "--"
        return format_duration(max(0.0, self.stop - sim_time) * elapsed / advanced)

    def close(self) -> None:
        self.line.close()
