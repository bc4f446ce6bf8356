"""YAML loading that remembers where every key came from (file and line)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .errors import Problem

__all__ = ["Source", "KeyPath", "format_path", "load_source"]

KeyPath = tuple[str | int, ...]


def format_path(path: KeyPath) -> str:
    """``('federates', 'tank', 'params')`` -> ``federates.tank.params``; ints as ``[i]``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


@dataclass
class Source:
    """A parsed YAML document with the line of every key path."""

    file: str
    text: str
    data: Any
    lines: dict[KeyPath, int] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)

    def line(self, path: KeyPath) -> int:
        """Line of ``path`` or of its nearest known ancestor (1-based; 0 when unknown)."""
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return self.lines.get((), 0)

    def problem(self, path: KeyPath, message: str) -> Problem:
        return Problem(self.file, self.line(path), format_path(path), message)

    @property
    def directory(self) -> Path:
        return Path(self.file).resolve().parent


def load_source(file: str | Path, text: str | None = None) -> Source:
    """Parse ``file`` (or ``text`` in its name).  YAML errors become problems, not exceptions."""
    name = str(file)
    if text is None:
        try:
            text = Path(file).read_text(encoding="utf-8")
        except OSError as exc:
            return Source(name, "", None, problems=[Problem(name, 0, "", f"cannot read file: {exc.strerror}")])
        except UnicodeDecodeError as exc:
            return Source(name, "", None, problems=[Problem(name, 0, "", f"not UTF-8 text: {exc.reason}")])
    source = Source(name, text, None)
    try:
        loader = yaml.SafeLoader(text)
        try:
            node = loader.get_single_node()
            if node is None:
                source.problems.append(Problem(name, 1, "", "the file is empty"))
                return source
            _walk(node, (), source)
            source.data = loader.construct_document(node)
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 0
        source.problems.append(Problem(name, line, "", f"invalid YAML: {exc.problem or exc.context}"))
    except yaml.YAMLError as exc:
        source.problems.append(Problem(name, 0, "", f"invalid YAML: {exc}"))
    except RecursionError:
        source.problems.append(Problem(name, 0, "", "invalid YAML: nesting too deep"))
    return source


def _walk(node: yaml.Node, path: KeyPath, source: Source) -> None:
    source.lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key_node.start_mark)
            sub = (*path, key)
            if key in seen:
                source.problems.append(
                    Problem(source.file, key_node.start_mark.line + 1, format_path(sub), "duplicate key")
                )
            seen.add(key)
            _walk(value_node, sub, source)
            source.lines[sub] = key_node.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _walk(item, (*path, index), source)
