"""The ``report:`` section: the run report's title, plots and message table.

Parsed once, when the scenario is loaded, into ``scenario.report`` (a :class:`ReportSpec`);
:mod:`federation.results.report` draws it, and the web console shows its panels.  Whether
each plotted signal is a recorded numeric output is checked with the federates'
interfaces, in :mod:`federation.scenario.validation`.  See docs/kpis-and-report.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import KeyPath
from .reader import Reader

__all__ = ["Panel", "ReportSpec", "DEFAULT_MESSAGES", "parse_report"]

DEFAULT_MESSAGES = 50
"""Rows in the report's table of first messages when the section does not say."""


@dataclass(frozen=True)
class Panel:
    title: str
    signals: tuple[str, ...]
    line: int = 0
    index: int = 0  # its place in report.panels (where a problem with it is located)


@dataclass(frozen=True)
class ReportSpec:
    title: str | None = None
    panels: tuple[Panel, ...] = ()  # empty: one panel per federate
    messages: int = DEFAULT_MESSAGES


SECTION = "report"


def parse_report(data: Any, read: Reader) -> ReportSpec:
    """The ``report:`` section; a panel with a problem is left out."""
    base: KeyPath = (SECTION,)
    if data is None:
        return ReportSpec()
    spec = read.mapping(data, base, "a mapping with 'panels' (and 'title', 'messages')")
    read.unknown_keys(spec, base, ("title", "panels", "messages"))
    title = read.string(spec.get("title"), (*base, "title"), None)
    messages = spec.get("messages", DEFAULT_MESSAGES)
    if isinstance(messages, bool) or not isinstance(messages, int) or messages < 0:
        read.fail((*base, "messages"), f"expected a number of rows (0 or more), got {messages!r}")
        messages = DEFAULT_MESSAGES
    panels = []
    for i, item in enumerate(read.sequence(spec.get("panels"), (*base, "panels"), "a list of {title, signals}")):
        panel = _panel(item, i, read)
        if panel is not None:
            panels.append(panel)
    return ReportSpec(title, tuple(panels), messages)


def _panel(item: Any, index: int, read: Reader) -> Panel | None:
    path: KeyPath = (SECTION, "panels", index)
    if not isinstance(item, dict):
        read.fail(path, "a panel is a mapping {title, signals}")
        return None
    read.unknown_keys(item, path, ("title", "signals"))
    title = read.string(item.get("title"), (*path, "title"), "")
    signals = item.get("signals")
    if not isinstance(signals, list) or not signals or not all(isinstance(s, str) for s in signals):
        read.fail((*path, "signals"), "expected a non-empty list of 'federate.output'")
        return None
    return Panel(title or ", ".join(signals), tuple(signals), read.line(path), index)
