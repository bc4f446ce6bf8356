"""Types and lint: ``mypy --strict`` on federation/ and on every Python example of the docs, ``ruff check``.

The rules and why: docs/development.md.  A missing tool skips these tests with the reason, except
under CI (``CI=true``), where it fails them: CI installs the ``test`` extra, which has both.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.docexamples import ROOT, Action, documents, read_blocks

pytestmark = pytest.mark.timeout(600)

MYPY_CEILING = 0
"""Errors ``mypy --strict federation/`` may report: none (it was 36 before the descriptors were generic)."""

UNCHECKED: dict[str, str] = {}
"""Documents whose Python blocks are not type-checked, and why."""


def _tool(name: str) -> Path:
    found = Path(sys.executable).parent / name
    if found.is_file():
        return found
    path = shutil.which(name)
    if path is None:
        reason = f"{name} is not installed (pip install -e '.[test]' brings it)"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return Path(path)


def doc_examples(folder: Path) -> dict[Path, str]:
    """Write every Python block of the docs into ``folder`` as the doc tests do: a ``file NAME`` block starts
    NAME, ``append NAME`` adds to it, a ``python`` block (or a skipped one) is a script of its own.
    Return each file with where its first block is."""
    written: dict[Path, str] = {}
    for doc in documents():
        rel = str(doc.relative_to(ROOT))
        if rel in UNCHECKED:
            continue
        for block in read_blocks(doc):
            if block.language != "python" or block.marker is None:
                continue
            action, args = block.marker.action, block.marker.args
            if action in (Action.FILE, Action.APPEND):
                path = folder / args[0]
            else:
                path = folder / f"{doc.stem.replace('-', '_')}_{block.line}.py"
            if action is Action.APPEND:
                with open(path, "a", encoding="utf-8") as fh:
                    fh.write(block.text)
                continue
            assert path not in written, f"{block.where}: a second example writes {path.name}"
            path.write_text(block.text, encoding="utf-8")
            written[path] = block.where
    return written


def _mypy(*targets: str | Path, cache: Path) -> tuple[int, str]:
    result = subprocess.run([str(_tool("mypy")), "--strict", "--cache-dir", str(cache), "--no-error-summary",
                             *map(str, targets)], cwd=ROOT, capture_output=True, text=True)  # fmt: skip
    errors = [line for line in result.stdout.splitlines() if ": error:" in line]
    return len(errors), result.stdout


@pytest.fixture(scope="module")
def checked(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict[Path, str]]:
    """One ``mypy --strict`` run over federation/ and the docs' examples (one run: the package is analysed once)."""
    folder = tmp_path_factory.mktemp("doc-examples")
    written = doc_examples(folder)
    _, output = _mypy("federation/", *sorted(written), cache=tmp_path_factory.getbasetemp() / "mypy-cache")
    return output, written


def test_federation_passes_mypy_strict(checked: tuple[str, dict[Path, str]]) -> None:
    output, _ = checked
    errors = [line for line in output.splitlines() if line.startswith("federation/") and ": error:" in line]
    assert len(errors) <= MYPY_CEILING, f"mypy --strict federation/: {len(errors)} errors (ceiling {MYPY_CEILING}):\n" \
        + "\n".join(errors)


def test_the_docs_federates_pass_mypy_strict(checked: tuple[str, dict[Path, str]]) -> None:
    """Every federate and script the docs show type-checks as written: the descriptors carry their value types."""
    output, written = checked
    assert len(written) >= 10  # the federates of writing-a-federate.md, live.md, synchronise.md, protocol.md, ...
    errors = [line for line in output.splitlines() if ": error:" in line and not line.startswith("federation/")]
    for path, where in written.items():
        errors = [e.replace(str(path), f"{path.name} (from {where})") for e in errors]
    assert errors == []


def test_a_typed_federate_catches_what_the_descriptors_declare(tmp_path: Path,
                                                                tmp_path_factory: pytest.TempPathFactory) -> None:  # fmt: skip
    """The check can fail: a wrong output type, a write to an input, and an unknown parameter type are errors."""
    (tmp_path / "wrong.py").write_text('''
from federation import Federate, Input, Output, Parameter


class Tank(Federate):
    area = Parameter(2.0, unit="m2")
    inflow = Input(unit="m3/s")
    level = Output(unit="m", default=0.0)
    mode = Output(type=str, default="normal")
    target = Parameter[float](unit="m")

    def step(self, t: float) -> float | None:
        self.level = self.inflow / self.area  # fine: float
        self.mode = 3  # an int into a str output
        self.inflow = 1.0  # inputs are read-only
        name: str = self.target  # a float parameter
        reveal_type(Tank.level)
        return None
''')
    count, output = _mypy(tmp_path / "wrong.py", cache=tmp_path_factory.getbasetemp() / "mypy-cache")
    assert count == 3, output
    assert 'wrong.py:14: error: Incompatible types in assignment (expression has type "int", variable has type "str")' in output
    assert "wrong.py:15: error:" in output and "wrong.py:16: error:" in output
    assert 'Revealed type is "federation.api.interface.Output[float]"' in output


def test_ruff_check_passes() -> None:
    result = subprocess.run([str(_tool("ruff")), "check", "--no-cache", "federation/", "federates/", "tests/", "bench/"],
                            cwd=ROOT, capture_output=True, text=True)  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
