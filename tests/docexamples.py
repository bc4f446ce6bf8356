"""The examples of README.md and docs/**/*.md, read and run as the docs say (docs/doc-examples.md).

A fenced block takes part when the line before its fence (blank lines aside) is a marker::

    <!-- doctest: ACTION [ARG ...] [KEY=VALUE ...] [-- reason] -->

ACTION is one of :class:`Action`.  :func:`read_blocks` parses a document, :class:`DocSession`
replays its marked blocks in order in a work folder, and :func:`match_output` compares
printed output with the document's, ignoring wall-clock figures and honouring ``...``.
"""

from __future__ import annotations

import enum
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE_LANGUAGES = frozenset({"sh", "bash", "console", "yaml", "python", "toml"})
COMMAND_TIMEOUT = 120.0

_FENCE = re.compile(r"^(`{3,})\s*([\w+-]*)")
_MARKER = re.compile(r"^<!--\s*doctest:\s*(.*?)\s*-->\s*$")
_WALL_CLOCK = [  # figures that measure this machine, not the model: never compared
    (re.compile(r"\d[\d,.]* s wall"), "N s wall"),
    (re.compile(r"(start-up|stepping) \d[\d.]* s"), r"\1 N s"),
    (re.compile(r"\d[\d,.]*x real time"), "Nx real time"),
    (re.compile(r"\d[\d,.]* steps/s"), "N steps/s"),
]


class Action(enum.Enum):
    FILE = "file"  # write the block to the file ARG (in the work folder)
    APPEND = "append"  # append the block to the file ARG
    RUN = "run"  # run the commands: `$ ` lines of a console block (the rest is output), every line of sh
    PYTHON = "python"  # run the block as a Python script
    OUTPUT = "output"  # the expected output of the previous run/python block's last command
    COMPARE = "compare"  # the block's YAML equals the YAML of the repository file ARG
    SKIP = "skip"  # not run; the reason says why


@dataclass(frozen=True)
class Marker:
    action: Action
    args: tuple[str, ...] = ()
    options: Mapping[str, str] = field(default_factory=dict)
    reason: str = ""

    @classmethod
    def parse(cls, text: str) -> Marker:
        body, _, reason = text.partition(" -- ")
        words = shlex.split(body)
        if not words:
            raise ValueError("empty doctest marker")
        action = Action(words[0])
        args = tuple(w for w in words[1:] if "=" not in w)
        options = dict(w.split("=", 1) for w in words[1:] if "=" in w)
        if action is Action.SKIP and not reason.strip():
            raise ValueError("a 'skip' marker must say why: <!-- doctest: skip -- REASON -->")
        if action in (Action.FILE, Action.APPEND, Action.COMPARE) and len(args) != 1:
            raise ValueError(f"'{action.value}' takes one file name, got {args}")
        return cls(action, args, options, reason.strip())


@dataclass(frozen=True)
class Block:
    doc: Path
    line: int  # of the opening fence, 1-based
    language: str
    text: str
    marker: Marker | None

    @property
    def where(self) -> str:
        return f"{self.doc.relative_to(ROOT)}:{self.line}"


def read_blocks(doc: Path) -> list[Block]:
    """Every fenced block of a Markdown file, with the marker before it (if any)."""
    lines = doc.read_text(encoding="utf-8").splitlines()
    blocks, i = [], 0
    while i < len(lines):
        fence = _FENCE.match(lines[i])
        if not fence:
            i += 1
            continue
        end = next((j for j in range(i + 1, len(lines)) if lines[j].startswith(fence.group(1))), len(lines))
        blocks.append(Block(doc, i + 1, fence.group(2), "\n".join(lines[i + 1:end]) + "\n", _marker_before(lines, i)))
        i = end + 1
    return blocks


def _marker_before(lines: list[str], fence: int) -> Marker | None:
    k = fence - 1
    while k >= 0 and not lines[k].strip():
        k -= 1
    found = _MARKER.match(lines[k]) if k >= 0 else None
    return Marker.parse(found.group(1)) if found else None


def documents() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


# ---------------------------------------------------------------------------- output
def _normalise(line: str) -> str:
    line = line.rstrip()
    for pattern, replacement in _WALL_CLOCK:
        line = pattern.sub(replacement, line)
    return line


def _line_pattern(expected: str) -> re.Pattern[str]:
    return re.compile(".*".join(re.escape(part) for part in _normalise(expected).split("...")) + r"\Z")


def match_output(expected: str, actual: str) -> bool:
    """``actual`` as the doc shows it: wall-clock figures aside, ``...`` for any text (a line of
    its own: any lines), trailing blanks ignored."""
    want = expected.rstrip().splitlines()
    got = [_normalise(line) for line in actual.rstrip().splitlines()]
    return _match(want, got)


def _match(want: list[str], got: list[str]) -> bool:
    if not want:
        return not got
    if want[0].strip() == "...":
        return any(_match(want[1:], got[k:]) for k in range(len(got) + 1))
    return bool(got) and bool(_line_pattern(want[0]).match(got[0])) and _match(want[1:], got[1:])


# ---------------------------------------------------------------------------- commands
@dataclass(frozen=True)
class Command:
    text: str
    expected: str | None  # console blocks: the lines after the command


def commands(block: Block) -> list[Command]:
    """The commands of a console (``$ `` prompts, then output) or sh block (every line)."""
    out: list[Command] = []
    if block.language == "console":
        for line in block.text.splitlines():
            if line.startswith("$ "):
                out.append(Command(line[2:], ""))
            elif out:
                out[-1] = Command(out[-1].text, f"{out[-1].expected}{line}\n")
        return out
    joined = block.text.replace("\\\n", " ")
    return [Command(line, None) for line in joined.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def _shortened(text: str, until: str | None) -> str:
    words = shlex.split(text, comments=True)
    if until and words[:2] == ["federation", "run"]:
        return shlex.join([*words, "--until", until])
    return text


@dataclass
class DocSession:
    """One document's marked blocks, replayed in order in ``workdir``."""

    workdir: Path
    last_output: str = ""
    log: list[str] = field(default_factory=list)

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONSTARTUP")}
        env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
        env["MPLBACKEND"] = "Agg"
        env["PYTHONUNBUFFERED"] = "1"  # stdout and stderr interleaved as on a terminal
        return env

    def apply(self, block: Block) -> None:
        marker = block.marker
        if marker is None or marker.action is Action.SKIP:
            return
        handler = {
            Action.FILE: self._file, Action.APPEND: self._file, Action.RUN: self._run, Action.PYTHON: self._python,
            Action.OUTPUT: self._output, Action.COMPARE: self._compare,
        }[marker.action]  # fmt: skip
        handler(block, marker)

    def _file(self, block: Block, marker: Marker) -> None:
        path = self.workdir / marker.args[0]
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a" if marker.action is Action.APPEND else "w", encoding="utf-8") as fh:
            fh.write(block.text)

    def _run(self, block: Block, marker: Marker) -> None:
        skip = re.compile(marker.options["skip"]) if "skip" in marker.options else None
        todo = [c for c in commands(block) if not (skip and skip.search(c.text))]
        self.log += [f"{block.where}: not run: {c.text}" for c in commands(block) if c not in todo]
        for k, command in enumerate(todo):
            status = int(marker.options.get("exit", 0)) if k == len(todo) - 1 else 0  # exit=N: the last command's
            self._execute(block, _shortened(command.text, marker.options.get("until")), command.expected, status,
                          marker.options.get("stream", "both"))  # fmt: skip

    def _python(self, block: Block, marker: Marker) -> None:
        script = self.workdir / f"_doc_{block.line}.py"
        script.write_text(block.text, encoding="utf-8")
        self._execute(block, shlex.join([sys.executable, script.name]), None, int(marker.options.get("exit", 0)))

    def _execute(self, block: Block, text: str, expected: str | None, status: int, stream: str = "both") -> None:
        """Run ``text`` with bash; keep what it printed: both streams as a terminal shows them, or stdout only."""
        stderr = subprocess.STDOUT if stream == "both" else subprocess.PIPE
        result = subprocess.run(["bash", "-c", text], cwd=self.workdir, env=self.env(), stdout=subprocess.PIPE,
                                stderr=stderr, text=True, timeout=COMMAND_TIMEOUT, check=False)  # fmt: skip
        self.log.append(f"{block.where}: ran {text}")
        self.last_output = result.stdout
        assert result.returncode == status, (f"{block.where}: `{text}` exited {result.returncode}, the doc expects "
                                             f"{status}:\n{(result.stdout + (result.stderr or ''))[-3000:]}")  # fmt: skip
        if expected is not None:
            assert match_output(expected, self.last_output), _mismatch(block, text, expected, self.last_output)

    def _output(self, block: Block, marker: Marker) -> None:
        assert match_output(block.text, self.last_output), _mismatch(block, "the previous command", block.text,
                                                                     self.last_output)  # fmt: skip

    def _compare(self, block: Block, marker: Marker) -> None:
        shipped = yaml.safe_load((ROOT / marker.args[0]).read_text(encoding="utf-8"))
        assert yaml.safe_load(block.text) == shipped, f"{block.where}: differs from {marker.args[0]}"


def _mismatch(block: Block, text: str, expected: str, actual: str) -> str:
    return f"{block.where}: the output of `{text}` is not what the doc shows.\n--- doc\n{expected}--- actual\n{actual}"
