"""The examples of README.md and docs/ run as the docs show them (the convention: docs/doc-examples.md).

Every shell, console, YAML, Python and TOML block carries a ``<!-- doctest: ... -->`` marker:
it is written to a file, run, compared with a shipped file, or skipped with a reason.  Each
document's blocks are replayed in order in a folder holding a copy of ``scenarios/`` and the
built FMUs in ``fmus/dist``; printed output is compared with the doc's, wall-clock figures aside.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.docexamples import (
    EXAMPLE_LANGUAGES,
    ROOT,
    Action,
    Block,
    DocSession,
    Marker,
    commands,
    documents,
    match_output,
    read_blocks,
)  # fmt: skip

pytestmark = pytest.mark.timeout(300)

RUNNABLE = (Action.RUN, Action.PYTHON, Action.OUTPUT, Action.COMPARE)


def _runnable(doc: Path) -> bool:
    return any(b.marker and b.marker.action in RUNNABLE for b in read_blocks(doc))


def test_every_example_is_marked():
    """A new example must say whether and how it runs: no block of code goes unchecked by accident."""
    unmarked = [b.where for doc in documents() for b in read_blocks(doc)
                if b.language in EXAMPLE_LANGUAGES and b.marker is None]  # fmt: skip
    assert not unmarked, "examples without a <!-- doctest: ... --> marker (docs/doc-examples.md):\n" + "\n".join(unmarked)


@pytest.mark.parametrize("doc", [d for d in documents() if _runnable(d)], ids=lambda d: str(d.relative_to(ROOT)))
def test_doc_examples_run_as_shown(doc: Path, tmp_path: Path, shipped_fmus: list[Path]) -> None:
    shutil.copytree(ROOT / "scenarios", tmp_path / "scenarios")
    (tmp_path / "fmus" / "dist").mkdir(parents=True)
    for fmu in shipped_fmus:
        shutil.copy(fmu, tmp_path / "fmus" / "dist")
    session = DocSession(tmp_path)
    for block in read_blocks(doc):
        session.apply(block)


# ---------------------------------------------------------------------------- the rules of the comparison
def test_output_matches_exactly_but_for_wall_clock_figures():
    doc = "x: completed in 1.42 s wall (start-up 0.23 s, stepping 1.06 s)\n  simulated 2 d (121,442x real time); 6,054 steps (5,710 steps/s)\n"
    same = "x: completed in 9.9 s wall (start-up 3.1 s, stepping 6.8 s)\n  simulated 2 d (9x real time); 6,054 steps (611 steps/s)\n"
    assert match_output(doc, same)
    assert not match_output(doc, same.replace("6,054 steps (", "6,055 steps ("))
    assert not match_output(doc, same.replace("2 d", "3 d"))


def test_ellipsis_stands_for_any_text_or_lines():
    assert match_output("a\n...\nz\n", "a\nb\nc\nz\n")
    assert match_output("a\n...\nz\n", "a\nz\n")
    assert match_output("fmu: .../SpillwayGate.fmu\n", "fmu: /tmp/x/fmus/dist/SpillwayGate.fmu\n")
    assert not match_output("a\n...\nz\n", "a\nb\n")
    assert not match_output("a\n", "a\nb\n")


def test_console_blocks_split_into_commands_and_output():
    block = Block(ROOT / "README.md", 1, "console", "$ one\nout 1\nout 2\n$ two\n", None)
    assert [(c.text, c.expected) for c in commands(block)] == [("one", "out 1\nout 2\n"), ("two", "")]
    sh = Block(ROOT / "README.md", 1, "sh", "a --x \\\n  --y   # note\n# comment only\n\nb\n", None)
    assert [c.text for c in commands(sh)] == ["a --x    --y   # note", "b"]


def test_markers():
    assert Marker.parse('run until=2h skip="join|sweep" -- needs a host').options == {"until": "2h", "skip": "join|sweep"}
    assert Marker.parse("file a/b.py").args == ("a/b.py",)
    with pytest.raises(ValueError, match="must say why"):
        Marker.parse("skip")
    with pytest.raises(ValueError):
        Marker.parse("frobnicate")
