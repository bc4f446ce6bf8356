"""Values given on the command line for keys of a scenario: ``--set``, ``--bind``, ``--keys``, sweep variants.

``--set FED.NAME[.KEY...]=VALUE`` reaches any key under a federate's ``params:``:

* ``FED`` is the federate, ``NAME`` the parameter; ``params:`` is created when missing.
* After ``NAME``, the rest of the path names an entry inside the parameter's mapping
  (created when missing).  A dot there goes into a nested mapping only where the scenario
  already has one; otherwise the rest of the path is one key, so
  ``fmu.parameters.J1.J=3`` sets the Modelica parameter ``J1.J``.
* A segment in double quotes is one name, dots included: ``fmu.parameters."J1.J"=3``,
  ``ext."a.b"=1`` for a parameter whose own name has a dot.
* ``VALUE`` is YAML.

``--set time.start=VALUE`` (written so, unquoted) sets the scenario's ``time.start`` instead:
the value goes into the file's data before it is parsed (:func:`set_time`), so it is read as
the key in the file is (a duration, ``now`` or an ISO-8601 instant) and a bad one is
reported with the same text, against the argument.

A problem found in such a value is reported against the argument (``--set tank.areaa=1:
federate 'tank' has no parameter 'areaa'; ...``), not against a line of the file.
"""

from __future__ import annotations

import copy
import difflib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import yaml

from ..errors import KeyPath, Problem, ScenarioError

if TYPE_CHECKING:
    from .model import Scenario
    from .source import Source

__all__ = ["TIME_START", "Override", "apply_overrides", "set_time", "with_overrides"]

TIME_START = ("time", "start")
"""The one scenario key outside ``params:`` that ``--set`` reaches (``--set time.start=...``)."""


@dataclass(frozen=True)
class Override:
    """A value for one key of the scenario, and the argument that gave it (for messages)."""

    path: tuple[str, ...]  # ("federates", FED, "params", NAME, KEY...), ("coordinator", SETTING) or TIME_START
    value: Any
    argument: str

    @classmethod
    def assignment(cls, text: str, option: str = "--set") -> Override:
        """``FED.NAME[.KEY...]=VALUE`` as typed after ``option``; raise ValueError when it is not one."""
        key, value = _split(text)
        try:
            loaded = yaml.safe_load(value)
        except yaml.YAMLError as exc:
            raise ValueError(f"cannot read the value {value!r} as YAML ({str(exc).splitlines()[0]})") from None
        except ValueError as exc:  # a YAML timestamp that is no date (2026-13-02): PyYAML lets it out
            raise ValueError(f"cannot read the value {value!r} as YAML ({exc})") from None
        if key.strip() == ".".join(TIME_START):
            return cls(TIME_START, loaded, f"{option} {text}")
        return cls.param(key, loaded, f"{option} {text}")

    @classmethod
    def param(cls, key: str, value: Any, argument: str) -> Override:
        """``value`` for ``FED.NAME[.KEY...]``; raise ValueError when the key is not one."""
        segments = key_segments(key)
        if len(segments) < 2:
            raise ValueError(f"expected FED.PARAM=VALUE, got {key!r}")
        return cls(("federates", segments[0], "params", *segments[1:]), value, argument)

    @classmethod
    def setting(cls, name: str, value: Any, argument: str) -> Override:
        """A ``coordinator:`` setting (``bind``, ``keys``) given by an option."""
        return cls(("coordinator", name), value, argument)


def key_segments(key: str) -> tuple[str, ...]:
    """``tank.area`` -> ``('tank', 'area')``; a ``"double-quoted"`` segment keeps its dots."""
    segments: list[str] = []
    rest = key.strip()
    while True:
        if rest.startswith('"'):
            end = rest.find('"', 1)
            if end < 0:
                raise ValueError(f"unclosed quote in {key!r}")
            segment, rest = rest[1:end], rest[end + 1 :].lstrip()
        else:
            segment, dot, tail = rest.partition(".")
            if '"' in segment:
                raise ValueError(f"a quote must enclose a whole name between dots in {key!r}")
            segment, rest = segment.strip(), dot + tail
        if not segment:
            raise ValueError(f"empty name in {key!r}")
        segments.append(segment)
        if not rest:
            return tuple(segments)
        if not rest.startswith("."):
            raise ValueError(f"expected a dot after {segment!r} in {key!r}")
        rest = rest[1:]


def _split(text: str) -> tuple[str, str]:
    """``key=value`` at the first ``=`` outside double quotes."""
    quoted = False
    for i, char in enumerate(text):
        if char == '"':
            quoted = not quoted
        elif char == "=" and not quoted:
            return text[:i], text[i + 1 :]
    raise ValueError(f"expected FED.PARAM=VALUE, got {text!r}")


def apply_overrides(scenario: Scenario, overrides: Iterable[Override]) -> tuple[Scenario, list[Problem]]:
    """``scenario`` with the overrides applied and blamed on their arguments, and what could not be applied."""
    federates = dict(scenario.federates)
    settings: dict[str, Any] = {}
    blame = dict(scenario.blame)
    problems: list[Problem] = []
    for override in overrides:
        if override.path == TIME_START:  # put into the file's data before it was parsed (set_time)
            blame[override.path] = override.argument
            continue
        if override.path[0] == "coordinator":
            settings[override.path[1]] = override.value
            blame[override.path] = override.argument
            continue
        fed = override.path[1]
        if fed not in federates:
            problems.append(Problem(override.argument, 0, "", f"no federate '{fed}'" + _closest(fed, federates)))
            continue
        params = copy.deepcopy(dict(federates[fed].params))
        try:
            where = set_param(params, override.path[3:], override.value)
        except ValueError as exc:
            problems.append(Problem(override.argument, 0, "", str(exc)))
            continue
        federates[fed] = replace(federates[fed], params=params)
        key: KeyPath = ("federates", fed, "params", *where)
        blame[key] = override.argument
    coordinator = replace(scenario.coordinator, **settings)
    return replace(scenario, federates=federates, coordinator=coordinator, blame=blame), problems


def set_time(source: Source, overrides: Iterable[Override]) -> None:
    """Put the ``--set time.start`` values into ``source``'s data before it is parsed, blamed on their arguments."""
    for override in overrides:
        if override.path == TIME_START and isinstance(source.data, dict):
            spec = source.data.get("time")
            if spec is None:
                spec = source.data["time"] = {}
            if isinstance(spec, dict):  # anything else is the file's own problem, reported at its line
                spec["start"] = override.value
                source.blame[override.path] = override.argument


def with_overrides(scenario: Scenario, assignments: Mapping[str, Any] | Iterable[Override], *,
                   origin: str = "--set") -> Scenario:  # fmt: skip
    """A copy of ``scenario`` with parameters (and coordinator settings) replaced: ``--set``, ``--bind``, sweeps.

    ``assignments`` is ``{"fed.param": value}`` or :class:`Override` objects; the rules for the key
    paths are in the module docstring.  Raise :class:`ScenarioError` blamed on ``origin`` (the
    mapping form) or on each override's argument.
    """
    varied, problems = apply_overrides(scenario, overrides_of(assignments, origin))
    if problems:
        raise ScenarioError(problems)
    return varied


def set_param(params: dict[str, Any], segments: tuple[str, ...], value: Any) -> KeyPath:
    """Put ``value`` at ``segments`` in a federate's params (module docstring); return the keys it went to."""
    name, *rest = segments
    if not rest:
        params[name] = value
        return (name,)
    inner = params.get(name)
    if inner is None:
        inner = params[name] = {}
    if not isinstance(inner, dict):
        raise ValueError(f"parameter '{name}' holds {type(inner).__name__} {inner!r:.40}, not a mapping of entries; "
                         f"set it whole")  # fmt: skip
    return (name, *_set_entry(inner, tuple(rest), value))


def _set_entry(mapping: dict[str, Any], rest: tuple[str, ...], value: Any) -> KeyPath:
    head = rest[0]
    if len(rest) > 1 and isinstance(mapping.get(head), dict):
        return (head, *_set_entry(mapping[head], rest[1:], value))
    key = ".".join(rest)  # no nested mapping to go into: the rest is one name (Modelica's J1.J)
    mapping[key] = value
    return (key,)


def _closest(name: str, known: Mapping[str, Any]) -> str:
    close = difflib.get_close_matches(name, list(known), n=3, cutoff=0.5)
    return f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""


def overrides_of(assignments: Mapping[str, Any] | Iterable[Override], origin: str) -> list[Override]:
    """Overrides from ``{"fed.param": value}`` (sweeps), or the overrides themselves."""
    if not isinstance(assignments, Mapping):
        return list(assignments)
    try:
        return [Override.param(key, value, f"{origin} {key}={_show(value)}") for key, value in assignments.items()]
    except ValueError as exc:
        raise ScenarioError([Problem(origin, 0, "", str(exc))]) from None


def _show(value: Any) -> str:
    """A value as the user would type it (YAML flow style)."""
    text: str = yaml.safe_dump(value, default_flow_style=True, width=1 << 30)
    return text.removesuffix("\n").removesuffix("\n...").strip()
