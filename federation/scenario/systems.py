"""Systems: a federate whose ``type:`` names a system (``ssp``) stands for several federates.

A *system type* is registered in the entry-point group ``federation.systems`` (``ssp`` is
:func:`federation.fmu.ssp_system.expand`).  Before the structure pass, :func:`expand_systems`
replaces each federate ``NAME`` of such a type by the federates, connections and message
routes its expander returns -- their names start with ``NAME_`` -- and rewrites the ends of
the scenario's connections and message routes that name the system's connectors:

* ``NAME.CONNECTOR`` -- a connector of the system itself: on the receiving end of a connection
  every component input behind it, on the sending end the one component output behind it;
* ``NAME.COMPONENT.VARIABLE`` -- a variable of a component (``COMPONENT`` is the component's
  path in the system, nested systems' names joined by ``.``).

Every federate, connection and route that comes from a system is located at the system
federate's line; problems inside the package name the package's own file and line.
See docs/scenarios.md ("Systems") and docs/fmu.md ("SSP packages").
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from ..errors import KeyPath, ScenarioError
from .registry import registered
from .source import Source

__all__ = ["ConnectorKind", "ENTRY_POINT_GROUP", "SystemConnector", "SystemExpansion", "SystemSpecError",
           "expand_systems", "system_types"]  # fmt: skip

ENTRY_POINT_GROUP = "federation.systems"


class ConnectorKind(enum.Enum):
    INPUT = "input"
    OUTPUT = "output"


@dataclass(frozen=True)
class SystemConnector:
    """A connector of a system as the scenario sees it: the component signals behind it."""

    name: str
    kind: ConnectorKind
    signals: tuple[tuple[str, str], ...]  # (federate, signal); one for an output


@dataclass(frozen=True)
class SystemExpansion:
    """What a system federate stands for, in the scenario's own YAML form."""

    federates: Mapping[str, Any]
    connections: tuple[Any, ...] = ()
    routes: tuple[str, ...] = ()
    iterate: Mapping[str, Any] = field(default_factory=dict)
    connectors: Mapping[str, SystemConnector] = field(default_factory=dict)
    components: Mapping[str, str] = field(default_factory=dict)  # component path ("plant.load") -> federate


class SystemSpecError(ValueError):
    """A problem with the system federate's own settings: ``key`` is where (``("ssp",)``, ``("step",)``)."""

    def __init__(self, key: KeyPath, message: str) -> None:
        super().__init__(message)
        self.key, self.message = key, message


Expander = Callable[[str, Mapping[str, Any], Path], SystemExpansion]
"""``expand(name, settings, scenario_folder)``: raises SystemSpecError or ScenarioError."""

_SPEC_KEYS = {"type", "params", "doc", "description"}


@lru_cache(maxsize=1)
def system_types() -> dict[str, str]:
    """Short names of installed system types -> ``module:function``."""
    from importlib.metadata import entry_points

    return {ep.name: ep.value for ep in entry_points(group=ENTRY_POINT_GROUP)}


def _expander(target: str) -> Expander:
    import importlib

    module, _, function = target.partition(":")
    found: Expander = getattr(importlib.import_module(module), function)
    return found


def expand_systems(source: Source) -> None:
    """Replace the system federates of ``source.data`` by what they stand for; problems go to ``source.problems``."""
    data = source.data
    federates = data.get("federates") if isinstance(data, dict) else None
    if not isinstance(federates, dict):
        return
    short = {spec["type"] for spec in federates.values()
             if isinstance(spec, dict) and isinstance(spec.get("type"), str) and ":" not in spec["type"]}  # fmt: skip
    if not short - set(registered()):  # federate types only (validation reads that table anyway): no other scan
        return
    systems = [(name, spec) for name, spec in federates.items()
               if isinstance(spec, dict) and spec.get("type") in short and spec["type"] in system_types()]  # fmt: skip
    if not systems:
        return
    expanded: dict[str, Any] = {}
    found: dict[str, SystemExpansion] = {}
    for name, spec in federates.items():
        if not any(name == n for n, _ in systems):
            expanded[name] = spec
            continue
        path: KeyPath = ("federates", name)
        expansion = _expand(source, str(name), spec, path)
        if expansion is None:
            continue
        found[str(name)] = expansion
        for child, child_spec in expansion.federates.items():
            if child in federates or child in expanded:
                source.problems.append(source.problem(path, f"system {name!r} gives a federate named {child!r}, "
                                                            "which the scenario has already"))  # fmt: skip
                continue
            expanded[child] = child_spec
            _place(source, ("federates", child), child_spec, source.line(path))
    data["federates"] = expanded
    _rewrite(source, found)


def _expand(source: Source, name: str, spec: dict[str, Any], path: KeyPath) -> SystemExpansion | None:
    settings = dict(spec.get("params") or {}) if isinstance(spec.get("params"), dict) else {}
    for key, value in spec.items():
        if key in _SPEC_KEYS:
            continue
        settings[key] = value  # the short form: {type: ssp, ssp: plant.ssp, step: 0.01 s}
    where = {key: (*path, key) if key in spec else (*path, "params", key) for key in settings}
    try:
        return _expander(system_types()[spec["type"]])(name, settings, source.directory)
    except SystemSpecError as exc:
        source.problems.append(source.problem(where.get(exc.key[0], path) if exc.key else path,
                                              f"system {name!r}: {exc.message}"))  # fmt: skip
    except ScenarioError as exc:
        source.problems.extend(exc.problems)
    return None


def _place(source: Source, path: KeyPath, value: Any, line: int) -> None:
    """Give ``path`` and everything under it ``line``."""
    source.lines[path] = line
    if isinstance(value, dict):
        for key, item in value.items():
            _place(source, (*path, key), item, line)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _place(source, (*path, index), item, line)


def _rewrite(source: Source, found: Mapping[str, SystemExpansion]) -> None:
    """Add the systems' own connections and routes; resolve ``NAME.CONNECTOR`` in the scenario's."""
    data = source.data
    for key in ("connections", "messages"):
        own = data.get(key)
        if own is not None and not isinstance(own, list):
            continue  # the structure pass reports it
        own = list(own or [])
        rewritten: list[Any] = []
        moved: list[tuple[int, int]] = []  # (new index, old index) for the lines
        for index, item in enumerate(own):
            for new in _resolve(source, (key, index), item, found):
                moved.append((len(rewritten), index))
                rewritten.append(new)
        lines = {new: source.line((key, old)) for new, old in moved}
        for path in [p for p in source.lines if len(p) > 1 and p[0] == key]:
            del source.lines[path]
        for new, line in lines.items():
            _place(source, (key, new), rewritten[new], line)
        for name, expansion in found.items():
            line = source.line(("federates", next(iter(expansion.federates), name)))
            for item in expansion.connections if key == "connections" else expansion.routes:
                _place(source, (key, len(rewritten)), item, line)
                rewritten.append(item)
        if rewritten or own:
            data[key] = rewritten
    for expansion in found.values():
        if expansion.iterate:
            groups = data.setdefault("iterate", {})
            if isinstance(groups, dict):
                for group, spec in expansion.iterate.items():
                    groups.setdefault(group, spec)


def _resolve(source: Source, path: KeyPath, item: Any, found: Mapping[str, SystemExpansion]) -> list[Any]:
    """``item`` with its ends that name a system's connector replaced (several items for a fanned-out input)."""
    text = item.get("connect", item.get("route")) if isinstance(item, dict) else item
    key = "connect" if isinstance(item, dict) and "connect" in item else "route"
    if isinstance(item, dict) and "from" in item and "to" in item and not ({"connect", "route"} & set(item)):
        text, key = f"{item['from']} -> {item['to']}", ""
    if not isinstance(text, str) or "->" not in text:
        return [item]
    left, _, right = (part.strip() for part in text.partition("->"))
    sources = _end(source, path, left, found, ConnectorKind.OUTPUT)
    targets = _end(source, path, right, found, ConnectorKind.INPUT)
    out: list[Any] = []  # an end with a problem drops the item: one problem, not a second one about it
    for a in sources:
        for b in targets:
            arrow = f"{a} -> {b}"
            if isinstance(item, dict):
                rest = {k: v for k, v in item.items() if k not in {"connect", "route", "from", "to"}}
                out.append({key or "connect": arrow, **rest})
            else:
                out.append(arrow)
    return out


def _end(source: Source, path: KeyPath, end: str, found: Mapping[str, SystemExpansion],
         kind: ConnectorKind) -> list[str]:  # fmt: skip
    federate, dot, rest = end.partition(".")
    expansion = found.get(federate)
    if expansion is None or not dot:
        return [end]
    connector = expansion.connectors.get(rest)
    if connector is not None:
        if connector.kind is not kind:
            side = "receiving" if kind is ConnectorKind.INPUT else "sending"
            source.problems.append(source.problem(path, f"{end} is an {connector.kind.value} connector of system "
                                                        f"{federate!r}: it cannot be the {side} end"))  # fmt: skip
            return []
        if not connector.signals:
            source.problems.append(source.problem(path, f"{end}: no component of system {federate!r} is connected "
                                                        "to this connector"))  # fmt: skip
            return []
        return [f"{f}.{s}" for f, s in connector.signals]
    component, _, variable = rest.rpartition(".")
    if component in expansion.components and variable:
        return [f"{expansion.components[component]}.{variable}"]
    known = sorted([*expansion.connectors, *(f"{c}.VARIABLE" for c in expansion.components)])
    source.problems.append(source.problem(path, f"{end}: system {federate!r} has no connector or component "
                                                f"{rest!r} (it has: {', '.join(known)})"))  # fmt: skip
    return []
