"""``federation run`` at a real terminal (a pty driven by pexpect): the decision prompt and the progress bar."""

from __future__ import annotations

import re
import signal
import sys
from pathlib import Path
from typing import Callable, Iterator

import pexpect
import pytest

from federation.results.store import RunStore
from tests.conftest import write_scenario

pytestmark = pytest.mark.timeout(60)

PROPOSALS = """
time: {stop: 6, resolution: 1 s}
federates:
  operator: {type: "{HELPERS}:Proposer", params: {plan: [[1.0, 0.9], [3.0, 0.4]]}}
  plant: {type: "{HELPERS}:Actuator"}
messages:
  - operator.setting -> plant.setting
decisions:
  require_approval: [operator.setting]
  default: reject
"""

Run = Callable[..., tuple[pexpect.spawn, Path]]


@pytest.fixture
def terminal(tmp_path: Path) -> Iterator[Run]:
    """Start ``federation run SCENARIO ARGS...`` on a pseudo-terminal; ends it (Ctrl-C) if a test did not."""
    children: list[pexpect.spawn] = []

    def start(text: str, *args: str) -> tuple[pexpect.spawn, Path]:
        path = write_scenario(tmp_path, text)
        out = tmp_path / "run.sqlite"
        argv = ["-m", "federation.app.cli", "run", str(path), "--out", str(out), *args]
        child = pexpect.spawn(sys.executable, argv, cwd=str(tmp_path), encoding="utf-8", timeout=30,
                              dimensions=(24, 100))  # fmt: skip
        children.append(child)
        return child, out

    yield start
    for child in children:
        if child.isalive():
            child.kill(signal.SIGINT)  # the coordinator stops its federates and marks the store
            child.expect(pexpect.EOF, timeout=20)
        child.close(force=True)


def _finished(child: pexpect.spawn) -> str:
    """Wait for the end of the run; return everything it printed since the last match."""
    child.expect(pexpect.EOF)
    rest = child.before
    child.close()
    assert child.exitstatus == 0, rest
    return rest


def _store(out: Path) -> tuple[list[tuple[float, float]], list[tuple[str, str]]]:
    with RunStore(out) as store:
        series = store.series("plant.value")
        return list(zip(series.times, series.values)), [(r["verdict"], r["decided_by"]) for r in store.decisions()]


def test_an_edit_that_does_not_fit_is_refused_and_the_proposal_stays_pending(terminal: Run) -> None:
    child, out = terminal(PROPOSALS, "--interactive")
    child.expect_exact("decision 1: approve [a], reject [r], edit [e]?")
    child.sendline("e")
    child.expect_exact("decision 1: new values as YAML, e.g. {value: 0.9}")
    child.sendline("value 0.3")
    child.expect_exact("refused: an edit is a mapping of the payload's fields to new values, e.g. {value: 0.9}; "
                       "got 'value 0.3'")  # fmt: skip
    child.expect_exact("decision 1: new values")
    child.sendline("{value: 1.5}")
    child.expect_exact("refused: value: must be in [0, 1], got 1.5 (as operator.setting declares)")
    child.sendline("{valeu: 0.3}")
    child.expect_exact("refused: valeu: no such field in the proposal (it has value, reason); did you mean 'value'?")
    child.sendline("{value: 0.25}")
    child.expect_exact("[decision 1] edited by operator at the terminal")
    child.expect_exact("decision 2: approve [a], reject [r], edit [e]?")
    child.sendline("e {value: 0.5}")
    child.expect_exact("[decision 2] edited by operator at the terminal")
    _finished(child)
    values, decisions = _store(out)
    assert values == [(0.0, 0.0), (1.0, 0.25), (3.0, 0.5)]
    assert decisions == [("edited", "operator at the terminal")] * 2


def test_after_a_timeout_the_next_proposal_is_asked_and_answered(terminal: Run) -> None:
    """The first proposal times out; the second is shown at once, and the answer goes to it."""
    child, out = terminal(PROPOSALS + "  timeout: 2 s\n", "--interactive")
    child.expect_exact("decision 1: approve [a], reject [r], edit [e]? (no answer in 2 s: reject)")
    child.expect_exact("[decision 1] no answer in 2 s: rejected (the default)")
    child.expect_exact("[decision 2] t=3 s  operator.setting -> plant.setting  proposes")
    child.expect_exact("decision 2: approve [a], reject [r], edit [e]?")
    child.sendline("a")
    child.expect_exact("[decision 2] approved by operator at the terminal")
    rest = _finished(child)
    assert "no pending proposal" not in child.before + rest
    values, decisions = _store(out)
    assert values == [(0.0, 0.0), (3.0, 0.4)]
    assert decisions == [("rejected", "timeout default after 2 s"), ("approved", "operator at the terminal")]


def test_progress_between_prompts_and_ctrl_d_ends_the_line(terminal: Run) -> None:
    child, out = terminal(PROPOSALS, "--interactive")
    child.expect_exact("decision 1: approve [a], reject [r], edit [e]? (no time limit; Ctrl-D: reject) ")
    child.sendline("a")
    child.expect_exact("[decision 1] approved by operator at the terminal")
    child.expect(r"\[[#-]{30}\] +\d+\.\d%  t = [^\r\n]*ETA")  # the bar is back while no question is open
    child.expect_exact("decision 2: approve [a], reject [r], edit [e]? (no time limit; Ctrl-D: reject) ")
    child.sendeof()
    child.expect_exact("[decision 2] end of input: rejected (the default)")
    after_prompt = child.before
    _finished(child)
    assert after_prompt.startswith("\r\n"), repr(after_prompt)  # Ctrl-D echoes nothing: the prompt's line is ended
    values, decisions = _store(out)
    assert values == [(0.0, 0.0), (1.0, 0.9)]
    assert decisions == [("approved", "operator at the terminal"), ("rejected", "terminal closed: default")]



def test_a_proposal_that_arrives_during_a_question_is_shown_and_asked_next(terminal: Run) -> None:
    """Two federates propose at the same instant: both are printed, the prompt asks one at a time."""
    child, out = terminal("""
        time: {stop: 3, resolution: 1 s}
        federates:
          north: {type: "{HELPERS}:Proposer", params: {plan: [[1.0, 0.9]]}}
          south: {type: "{HELPERS}:Proposer", params: {plan: [[1.0, 0.2]]}}
          plant: {type: "{HELPERS}:Actuator"}
        messages:
          - north.setting -> plant.setting
          - south.setting -> plant.setting
        decisions:
          require_approval: [north.setting, south.setting]
        """, "--interactive")
    child.expect(r"\[decision 1\] t=1 s  (\w+)\.setting")
    first = child.match.group(1)
    child.expect_exact("decision 1: approve [a], reject [r], edit [e]?")
    child.expect(r"\[decision 2\] t=1 s  (\w+)\.setting -> plant\.setting  proposes [^\r]*  \(after decision 1\)")
    second = child.match.group(1)
    child.expect_exact("decision 1: approve [a], reject [r], edit [e]?")  # asked again below the new proposal
    child.sendline("a")
    child.expect_exact("[decision 1] approved by operator at the terminal")
    child.expect_exact("decision 2: approve [a], reject [r], edit [e]?")
    child.sendline("r")
    child.expect_exact("[decision 2] rejected by operator at the terminal")
    _finished(child)
    assert {first, second} == {"north", "south"}
    with RunStore(out) as store:
        assert {r["source"]: r["verdict"] for r in store.decisions()} == {f"{first}.setting": "approved",
                                                                         f"{second}.setting": "rejected"}


def test_progress_bar_erases_what_it_overwrote_and_log_lines_stand_alone(terminal: Run, tmp_path: Path) -> None:
    """A restart warning in mid-run is written on a line of its own; the bar comes back below it."""
    marker = tmp_path / "crashed"
    child, _ = terminal(f"""
        time: {{stop: 8, resolution: 1 s}}
        federates:
          flaky: {{type: "{{HELPERS}}:CrashOnce", params: {{at: 3.0, marker: "{marker}"}},
                  restart: {{policy: scratch, limit: 2}}}}
          probe: {{type: "{{HELPERS}}:Probe"}}
        connections:
          - flaky.y -> probe.u
        """)
    child.expect_exact("WARNING federation.engine.coordinator: federate 'flaky' process exited with code 9 at t=3 s; "
                       "restarting from scratch (1 of 2)\r\n")  # fmt: skip
    before = child.before
    child.expect(r"\[[#-]{30}\] +\d+\.\d%  t = [^\r\n]*ETA")  # redrawn below the warning
    _finished(child)
    assert re.search(r"\[-{30}\]   0\.0%  t = 0 s  \([^)]* wall, ETA --\)", before)  # the bar from the start
    assert before.endswith("\r\x1b[K"), repr(before[-80:])  # erased, not glued onto
