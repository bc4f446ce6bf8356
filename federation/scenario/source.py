"""YAML loading that remembers where every key came from (file, line and column)."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..errors import KeyPath, Problem, format_path
from ..protocol import text_problem

__all__ = ["Source", "load_source", "suggest", "MAX_DEPTH", "MAX_ALIAS_NODES"]


def suggest(name: str, known: Iterable[str]) -> str:
    """The hint that ends a problem about an unknown ``name``: the close ``known`` names, or all of a few."""
    known = list(known)
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
    if close:
        return f"; did you mean {', '.join(repr(c) for c in close)}?"
    if known and len(known) <= 12:
        return f" (known: {', '.join(sorted(known))})"
    return ""


@dataclass
class Source:
    """A parsed YAML document with the line and column of every key path (both from 1).

    ``blame`` maps the key paths whose values came from the command line (``--set``,
    ``--bind``, ...) to the argument that set them: a problem at or inside such a path is
    located there, not at a line of the file.
    """

    file: str
    text: str
    data: Any
    lines: dict[KeyPath, int] = field(default_factory=dict)
    columns: dict[KeyPath, int] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    blame: dict[KeyPath, str] = field(default_factory=dict)

    def line(self, path: KeyPath) -> int:
        """Line of ``path`` or of its nearest known ancestor (1-based; 0 when unknown)."""
        return self.position(path)[0]

    def position(self, path: KeyPath) -> tuple[int, int]:
        """(line, column) of ``path`` or of its nearest known ancestor (1-based; 0 when unknown)."""
        while path:
            if path in self.lines:
                return self.lines[path], self.columns.get(path, 0)
            path = path[:-1]
        return self.lines.get((), 0), self.columns.get((), 0)

    def problem(self, path: KeyPath, message: str) -> Problem:
        if self.blame:
            for end in range(len(path), 0, -1):
                argument = self.blame.get(path[:end])
                if argument is not None:
                    return Problem(argument, 0, "", message)
        line, column = self.position(path)
        return Problem(self.file, line, format_path(path), message, column)

    @property
    def directory(self) -> Path:
        return Path(self.file).resolve().parent


MAX_DEPTH = 100
"""Deepest nesting of mappings and lists a scenario file may have."""

MAX_ALIAS_NODES = 100_000
"""Most nodes that aliases (``*name``) may add when expanded: a guard against alias bombs."""


def load_source(file: str | Path, text: str | None = None) -> Source:
    """Parse ``file`` (or ``text`` in its name).  YAML errors become problems, not exceptions."""
    name = str(file)
    if text is None:
        try:
            data = Path(file).read_bytes()
        except OSError as exc:
            return Source(name, "", None, problems=[Problem(name, 0, "", f"cannot read file: {exc.strerror}")])
        try:
            text = data.decode("utf-8").replace("\r\n", "\n").replace("\r", "\n")  # as read_text() would
        except UnicodeDecodeError as exc:
            line = data.count(b"\n", 0, exc.start) + 1
            column = exc.start - data.rfind(b"\n", 0, exc.start)
            return Source(name, "", None, problems=[Problem(name, line, "", f"not UTF-8 text: {exc.reason}", column)])
    source = Source(name, text, None)
    loader: _Loader | None = None
    try:
        loader = _Loader(text)
        node = loader.get_single_node()
        if node is None:
            source.problems.append(Problem(name, 1, "", "the file is empty", 1))
            return source
        _Walk(source).node(node, ())
        source.data = loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
        source.problems.append(Problem(name, line, "", f"invalid YAML: {exc.problem or exc.context}", column))
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        column = exc.position - text.rfind("\n", 0, exc.position)
        char = exc.character if isinstance(exc.character, int) else ord(exc.character)
        source.problems.append(Problem(name, line, "", f"invalid YAML: character U+{char:04X} not allowed", column))
    except yaml.YAMLError as exc:
        source.problems.append(Problem(name, 1, "", f"invalid YAML: {exc}"))
    except _Refused as exc:
        source.problems.append(Problem(name, exc.line, format_path(exc.path), exc.message, exc.column))
    except RecursionError:
        line, column = (loader.line + 1, loader.column + 1) if loader is not None else (1, 1)
        source.problems.append(Problem(name, line, "", f"invalid YAML: nested deeper than {MAX_DEPTH} levels", column))
    finally:
        if loader is not None:
            loader.dispose()
    return source


class _Loader(yaml.SafeLoader):  # type: ignore[misc]  # PyYAML ships no types
    """The safe loader, with a limit on nesting and with the errors of its constructors located."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.nesting = 0

    def fetch_flow_collection_start(self, TokenClass: Any) -> None:  # noqa: N803 (PyYAML's name)
        if self.flow_level >= MAX_DEPTH:  # stop early: the scanner slows down quadratically with the depth
            mark = self.get_mark()
            raise yaml.scanner.ScannerError(None, None, f"nested deeper than {MAX_DEPTH} levels", mark)
        super().fetch_flow_collection_start(TokenClass)

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        self.nesting += 1
        try:
            if self.nesting > MAX_DEPTH + 1:
                raise yaml.composer.ComposerError(None, None, f"nested deeper than {MAX_DEPTH} levels",
                                                  self.peek_event().start_mark)  # fmt: skip
            return super().compose_node(parent, index)
        finally:
            self.nesting -= 1

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep)
        except yaml.YAMLError:
            raise
        except Exception as exc:  # !!int abc, !!bool maybe, 2001-13-45, !!timestamp now: PyYAML lets them out
            tag = node.tag.replace("tag:yaml.org,2002:", "!!")
            what = f" {node.value!r:.60}" if isinstance(node, yaml.ScalarNode) else ""
            raise yaml.constructor.ConstructorError(None, None, f"cannot read {tag} value{what}: {exc}",
                                                    node.start_mark) from None  # fmt: skip


class _Refused(Exception):
    """The document is nested too deeply or its aliases expand too far."""

    def __init__(self, place: tuple[int, int], path: KeyPath, message: str) -> None:
        super().__init__(message)
        (self.line, self.column), self.path, self.message = place, path, message


class _Walk:
    """Records the line of every key path; refuses recursive aliases, alias bombs and deep nesting."""

    def __init__(self, source: Source) -> None:
        self.source = source
        self.seen: set[int] = set()  # nodes walked once; walking one again means an alias expanded it
        self.open: set[int] = set()  # nodes on the current path: an alias to one of them is recursive
        self.repeats = 0

    def node(self, node: yaml.Node, path: KeyPath, at: yaml.Mark | None = None) -> None:
        """Walk ``node`` at ``path``; ``at``: the mark of its key, where a problem with a scalar value is located."""
        lines = self.source.lines
        lines[path] = node.start_mark.line + 1
        self.source.columns[path] = node.start_mark.column + 1
        key = id(node)
        if key in self.open:
            raise _Refused(self.source.position(path[:-1]), path, "an alias refers to a node that contains it")
        if key in self.seen:
            self.repeats += 1
            if self.repeats > MAX_ALIAS_NODES:
                raise _Refused(self.source.position(path[:-1]), path,
                               f"aliases expand to more than {MAX_ALIAS_NODES} nodes")  # fmt: skip
        self.seen.add(key)
        if len(path) > MAX_DEPTH:
            raise _Refused(self.source.position(path), path[:4], f"nested deeper than {MAX_DEPTH} levels")
        if isinstance(node, yaml.ScalarNode):
            self.text(node, path, at)
        if not isinstance(node, (yaml.MappingNode, yaml.SequenceNode)):
            return
        self.open.add(key)
        if isinstance(node, yaml.MappingNode):
            self.mapping(node, path)
        else:
            for index, item in enumerate(node.value):
                self.node(item, (*path, index))
        self.open.discard(key)

    def mapping(self, node: yaml.MappingNode, path: KeyPath) -> None:
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key_node.start_mark)
            sub = (*path, key)
            if key in seen:
                self.source.problems.append(Problem(self.source.file, key_node.start_mark.line + 1, format_path(sub),
                                                    "duplicate key", key_node.start_mark.column + 1))  # fmt: skip
            seen.add(key)
            if isinstance(key_node, yaml.ScalarNode):
                self.text(key_node, sub)
            self.node(value_node, sub, key_node.start_mark)
            self.source.lines[sub] = key_node.start_mark.line + 1
            self.source.columns[sub] = key_node.start_mark.column + 1

    def text(self, node: yaml.ScalarNode, path: KeyPath, at: yaml.Mark | None = None) -> None:
        """Every string ends up on the wire or in the store, both UTF-8: refuse lone surrogates."""
        problem = text_problem(node.value)
        if problem is not None:
            mark = at or node.start_mark  # where src.problem(path) would say: the key of a mapping's value
            self.source.problems.append(Problem(self.source.file, mark.line + 1, format_path(path), problem, mark.column + 1))
