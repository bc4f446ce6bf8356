"""The operator's terminal prompt for proposals (``federation run --interactive``).

Each proposal is printed when it arrives.  One question is on screen at a time -- the
oldest proposal still open -- and the prompt names it, with its timeout and default::

    decision 2: approve [a], reject [r], edit [e]? (no answer in 2 min: reject)

A line typed at the prompt answers the proposal the prompt names.  When that proposal is
decided elsewhere (its timeout, the control endpoint), the question is cleared, what
happened is said, the next open proposal is asked, and whatever was typed for the old
question is discarded (a terminal's input queue is flushed), so that an answer can never
reach a proposal it was not typed for.  End of input (Ctrl-D) ends the line, applies the
default to the proposal on screen and closes the terminal for the rest of the run.

The prompt reads in its own thread, and only while a question is open, so the
coordinator keeps serving federates and scripted answers piped into stdin wait for
their question.
"""

from __future__ import annotations

import codecs
import enum
import logging
import math
import os
import select
import termios
import threading
from time import monotonic
from typing import Any, TextIO

import yaml

from ..decisions.edit import example_edit
from ..decisions.gate import DecisionGate, Proposal, Verdict
from .progress import StatusLine, format_duration

__all__ = ["TerminalPrompt"]

log = logging.getLogger(__name__)

WHO = "operator at the terminal"
_POLL = 0.1  # seconds between checks of the input while a question is open


class _Mode(enum.Enum):
    CHOICE = "choice"  # approve, reject or edit?
    EDIT = "edit"  # the new values


class TerminalPrompt:
    """Asks the operator about proposals, one on screen at a time, in a thread of its own."""

    def __init__(self, gate: DecisionGate, stream_in: TextIO, line: StatusLine) -> None:
        self.gate, self.stream_in, self.line = gate, stream_in, line
        try:
            self.fd = stream_in.fileno()
            self.tty = os.isatty(self.fd)
        except (AttributeError, ValueError, OSError):  # no file behind it (closed, or in memory)
            self.fd, self.tty = -1, False
        self.open = self.fd >= 0  # False after end of input: the terminal takes no more questions
        self._lock = threading.RLock()
        self._wake = threading.Condition(self._lock)
        self._queue: list[Proposal] = []  # shown and still open, oldest first; the first is on screen
        self._mode = _Mode.CHOICE
        self._stopped = False
        self._pending_text = ""  # input read past the end of the last line (pipes)
        self._lines: list[str] = []  # complete lines read but not yet used (pipes)
        self._decoder = codecs.getincrementaldecoder(getattr(stream_in, "encoding", None) or "utf-8")("replace")
        self.thread = threading.Thread(target=self._loop, name="decision-prompt", daemon=True)
        if self.open:
            self.thread.start()

    def __repr__(self) -> str:
        current = self._queue[0].id if self._queue else None
        return f"<TerminalPrompt {'open' if self.open else 'closed'} on screen={current} queued={len(self._queue)}>"

    # ------------------------------------------------------------------ called by the gate (any thread)
    def show(self, proposal: Proposal) -> None:
        """A proposal was left to humans: print it now; ask it when it is the oldest open one."""
        with self._lock:
            behind = f"  (after decision {self._queue[0].id})" if self._queue else ""
            self.line.write(f"[decision {proposal.id}] {proposal.describe()}{behind}\n")
            self._queue.append(proposal)
            if len(self._queue) == 1:
                self._ask_current(fresh=True)
            self._wake.notify_all()

    def closed(self, proposal_id: int, told: str, *, here: bool = False) -> None:
        """A proposal was decided (``here``: by a line typed at this terminal); say so, ask the next."""
        with self._lock:
            on_screen = bool(self._queue) and self._queue[0].id == proposal_id
            self._queue = [p for p in self._queue if p.id != proposal_id]
            if on_screen and not here:  # an answer typed here has already ended the question's line
                self._discard_typed()
                self.line.withdraw()
            self.line.write(f"[decision {proposal_id}] {told}\n")
            if on_screen and self._queue and self.open:
                self._ask_current(fresh=True)

    def say(self, text: str) -> None:
        """A note for the operator (a forecast): printed above the question, which stays on screen."""
        with self._lock:
            self.line.write(text if text.endswith("\n") else text + "\n")

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
            if self._queue:
                self.line.withdraw(keep=True)
            self._queue.clear()
            self._wake.notify_all()
        if self.thread.is_alive() and self.thread is not threading.current_thread():
            self.thread.join(2 * _POLL + 1.0)

    # ------------------------------------------------------------------ the question on screen
    def _ask_current(self, *, fresh: bool = False) -> None:
        proposal = self._queue[0]
        if fresh:
            self._mode = _Mode.CHOICE
        if self._mode is _Mode.EDIT:
            text = f"decision {proposal.id}: new values as YAML, e.g. {example_edit(proposal.payload)} (empty: back)? "
        else:
            text = f"decision {proposal.id}: approve [a], reject [r], edit [e]? ({self._deadline(proposal)}) "
        self.line.ask(text)

    def _deadline(self, proposal: Proposal) -> str:
        default = self.gate.spec.default.value
        limit = self.gate.spec.timeout
        if limit is None:
            return f"no time limit; Ctrl-D: {default}"
        left = math.ceil(max(0.0, proposal.created + limit - monotonic()))
        return f"no answer in {format_duration(left)}: {default}"

    def _discard_typed(self) -> None:
        """The question changes under the operator's hands: drop what was typed for the old one."""
        if not self.tty:
            return  # piped answers are a script, in order: keep them
        self._lines.clear()
        self._pending_text = ""
        try:
            termios.tcflush(self.fd, termios.TCIFLUSH)
        except termios.error as exc:
            log.debug("cannot flush the terminal's input: %s", exc)

    # ------------------------------------------------------------------ reading (the prompt's thread)
    def _loop(self) -> None:
        while True:
            with self._lock:
                while not self._stopped and not (self._queue and self.open):
                    self._wake.wait()
                if self._stopped:
                    return
                if self._lines:
                    self._answer_lines()
                    continue
            readable, _, _ = select.select([self.fd], [], [], _POLL)
            if readable:
                with self._lock:
                    self._read()

    def _read(self) -> None:
        """Read what the input holds now (under the lock, so no question change slips in between)."""
        if self._stopped or not self._queue or not select.select([self.fd], [], [], 0)[0]:
            return  # the question changed and the terminal's input was flushed meanwhile
        data = os.read(self.fd, 4096)
        if not data:
            self._end_of_input()
            return
        text = self._pending_text + self._decoder.decode(data)
        if self.tty and not text.endswith("\n"):  # Ctrl-D after some characters submits them as they are,
            self.line.newline()  # without a newline on screen
            text += "\n"
        *lines, self._pending_text = text.split("\n")
        self._lines.extend(lines)
        self._answer_lines()

    def _answer_lines(self) -> None:
        """Each complete line answers the question on screen, while there is one."""
        while self._lines and self._queue and not self._stopped:
            self._answer(self._lines.pop(0))

    def _end_of_input(self) -> None:
        self.open = False
        if self._pending_text:
            self._lines.append(self._pending_text)
            self._pending_text = ""
        self._answer_lines()
        if self._queue:
            self.line.withdraw(keep=True)  # end the prompt's line: Ctrl-D echoes no newline
            self.gate.terminal_closed(self._queue[0].id)
        self._queue.clear()  # what is still open waits for the control endpoint

    def _answer(self, text: str) -> None:
        proposal = self._queue[0]
        self.line.answered(text)
        if self._mode is _Mode.EDIT:
            self._edit(proposal, text)
            return
        words = text.strip().split(None, 1)
        choice = words[0].lower() if words else ""
        if choice in ("a", "approve"):
            self._decide(proposal, "approve")
        elif choice in ("r", "reject"):
            self._decide(proposal, "reject")
        elif choice in ("e", "edit"):
            if len(words) > 1:
                self._edit(proposal, words[1])
            else:
                self._mode = _Mode.EDIT
                self._ask_current()
        else:
            self.line.write("  please answer a, r or e\n")
            self._ask_current()

    def _edit(self, proposal: Proposal, text: str) -> None:
        if not text.strip():
            self._mode = _Mode.CHOICE
            self._ask_current()
            return
        try:
            payload: Any = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            self.line.write(f"  not YAML: {' '.join(str(exc).split())}\n")
            self._ask_current()
            return
        self._decide(proposal, "edit", payload)

    def _decide(self, proposal: Proposal, verdict: str, payload: Any = None) -> None:
        error = self.gate.decide(proposal.id, Verdict(verdict), WHO, payload, here=True)
        if error is not None:
            self.line.write(f"  refused: {error}\n")
            if self._queue and self._queue[0].id == proposal.id:
                self._ask_current()
