"""Reading one value of a scenario file: the checks every section shares, in one place.

A :class:`Reader` walks the parsed YAML of one file and collects problems instead of
stopping at the first; each is located by :meth:`Source.problem` (``FILE:LINE:COL:
key.path: message``).  Every section's parser -- the loader's, and those of ``decisions:``,
``kpis:``, ``report:`` and ``synchronise:`` -- reads numbers, choices, durations and keys
through it, so the same mistake gets the same message wherever it is made.

Why not a validation library (issue 13 item 1 allows one where it is better): msgspec stops
at the first error by design, and a scenario reports every problem at once; pydantic
collects them, but almost every value here is a custom type -- a duration in a unit, an
``a.x -> b.y`` arrow, a signal pattern, a choice with a did-you-mean hint, a key that
excludes another -- so each would need a hand-written validator and its messages rewritten
to keep the hints, for a compiled dependency more in every install.
"""

from __future__ import annotations

import difflib
import enum
import math
from typing import Any, Iterable, Mapping, TypeVar

from ..errors import KeyPath, Problem
from .durations import parse_duration
from .source import Source, suggest

__all__ = ["Reader", "kind"]

E = TypeVar("E", bound=enum.Enum)
D = TypeVar("D")


def kind(value: Any) -> str:
    """What a YAML value is, as a problem says it: ``a mapping``, ``a list``, ``a string``, ``nothing``, ``int``..."""
    return {dict: "a mapping", list: "a list", str: "a string", type(None): "nothing"}.get(
        type(value), type(value).__name__
    )


class Reader:
    """The value checks of a scenario's sections; problems go to :attr:`problems`."""

    def __init__(self, source: Source, problems: list[Problem] | None = None) -> None:
        self.src = source
        self.problems: list[Problem] = problems if problems is not None else []
        self.unit = "s"  # what a plain number of a simulated duration counts (``time.unit``)

    def fail(self, path: KeyPath, message: str) -> None:
        self.problems.append(self.src.problem(path, message))

    def line(self, path: KeyPath) -> int:
        return self.src.line(path)

    def unknown_keys(self, spec: Mapping[Any, Any], path: KeyPath, known: Iterable[str]) -> None:
        """A problem for each key of ``spec`` that is not ``known``, with the closest known key."""
        names = sorted(known)
        for key in spec:
            if key not in names:
                close = difflib.get_close_matches(str(key), names, n=1, cutoff=0.6)
                hint = f"; did you mean '{close[0]}'?" if close else ""
                self.fail((*path, key), f"unknown key{hint} (expected one of: {', '.join(names)})")

    def mapping(self, value: Any, path: KeyPath, what: str = "a mapping") -> dict[str, Any]:
        """``value`` as a mapping (nothing: empty); a problem saying ``what`` was expected when it is none."""
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.fail(path, f"expected {what}, got {kind(value)}")
            return {}
        return value

    def sequence(self, value: Any, path: KeyPath, what: str = "a list") -> list[Any]:
        if value is None:
            return []
        if not isinstance(value, list):
            self.fail(path, f"expected {what}, got {kind(value)}")
            return []
        return value

    def duration(self, value: Any, path: KeyPath, default: float | None = None, *, unit: str | None = None,
                 positive: bool = False) -> float | None:  # fmt: skip
        """Seconds from ``3600`` (in ``unit``, default the scenario's time unit) or ``"1 h"``; ``default`` when absent or wrong."""
        if value is None:
            return default
        try:
            seconds = parse_duration(value, unit or self.unit)
        except ValueError as exc:
            self.fail(path, str(exc))
            return default
        if positive and not seconds > 0:
            self.fail(path, f"must be positive, got {value!r}")
            return default
        return seconds

    def number(self, value: Any, path: KeyPath, default: D, *, positive: bool = False,
               zero: bool = False) -> float | D:  # fmt: skip
        """A finite number (``positive``: > 0; ``zero`` with it: >= 0); ``default`` when absent or wrong."""
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self.fail(path, f"expected a number, got {kind(value)} {value!r:.40}")
            return default
        if isinstance(value, float) and not math.isfinite(value):
            self.fail(path, f"expected a finite number, got {value!r}")
            return default
        if positive and not (value >= 0 if zero else value > 0):
            self.fail(path, f"must be {'at least 0' if zero else 'positive'}, got {value!r}")
            return default
        try:
            return float(value)
        except OverflowError:
            self.fail(path, f"too large: {value!r:.40}")
            return default

    def integer(self, value: Any, path: KeyPath, default: int, low: int, high: int | None = None) -> int:
        """An integer from ``low`` to ``high`` (no upper limit: None); ``default`` when absent or wrong."""
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int) or value < low or (high is not None and value > high):
            bounds = f"from {low} to {high}" if high is not None else f"of at least {low}"
            self.fail(path, f"expected an integer {bounds}, got {value!r:.40}")
            return default
        return value

    def boolean(self, value: Any, path: KeyPath, default: bool) -> bool:
        if value is None:
            return default
        if not isinstance(value, bool):
            self.fail(path, f"expected true or false, got {value!r}")
            return default
        return value

    def string(self, value: Any, path: KeyPath, default: D) -> str | D:
        if value is None:
            return default
        if not isinstance(value, str):
            self.fail(path, f"expected a string, got {kind(value)} {value!r:.40}")
            return default
        return value

    def choice(self, kind_: type[E], value: Any, path: KeyPath, default: D, allowed: Iterable[E] | None = None) -> E | D:
        """A member of the enum ``kind_`` (of ``allowed`` when given) named by ``value``; ``default`` when absent or wrong."""
        if value is None:
            return default
        members = list(allowed if allowed is not None else kind_)
        names = [str(m.value) for m in members]
        for member in members:
            if isinstance(value, str) and value == member.value:
                return member
        expected = f"{', '.join(names[:-1])} or {names[-1]}" if len(names) <= 4 else f"one of {', '.join(names)}"
        hint = suggest(value, names) if isinstance(value, str) else ""
        self.fail(path, f"expected {expected}, got {value!r:.40}" + (hint if hint.startswith(";") else ""))
        return default
