"""Defender actions: what they are and how they are read from messages and schedules.

An action is a mapping ``{"action": KIND, "nodes": [names...]}`` (or ``"node": name``)
received on the ``defender`` endpoint, or the same with a ``"time"`` (s) in the
``defender_schedule`` parameter.  Kinds:

* ``patch``: clean the nodes and make them immune for the rest of the run;
* ``clean``: clean the nodes (re-imaged; they can be compromised again);
* ``isolate``: cut the nodes (a segment) off the network: they neither spread the
  attack nor relay telemetry;
* ``reconnect``: undo ``isolate``.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["ActionKind", "DefenderAction", "parse_action", "parse_schedule"]


class ActionKind(str, enum.Enum):
    PATCH = "patch"
    CLEAN = "clean"
    ISOLATE = "isolate"
    RECONNECT = "reconnect"


@dataclass(frozen=True)
class DefenderAction:
    """One action on a set of nodes; ``time`` (s) is set for scheduled actions only."""

    kind: ActionKind
    nodes: tuple[str, ...]
    time: float | None = None


def parse_action(payload: Any, known: Collection[str], *, where: str = "defender message") -> DefenderAction:
    """Read one action; ``known`` are the node names, ``where`` prefixes error messages."""
    if not isinstance(payload, Mapping):
        raise ValueError(f"{where}: expected a mapping with 'action' and 'nodes', got {payload!r}")
    extra = sorted(set(payload) - {"action", "nodes", "node"})
    if extra:
        raise ValueError(f"{where}: unknown key {extra[0]!r} (expected action, and nodes or node)")
    try:
        kind = ActionKind(payload.get("action"))
    except ValueError:
        choices = ", ".join(k.value for k in ActionKind)
        raise ValueError(
            f"{where}.action: unknown action {payload.get('action')!r} (expected {choices})"
        ) from None
    nodes = _nodes(payload, where)
    unknown = [n for n in nodes if n not in known]
    if unknown:
        raise ValueError(f"{where}.nodes: unknown node {unknown[0]!r}")
    return DefenderAction(kind, nodes)


def parse_schedule(entries: Sequence[Any], known: Collection[str]) -> tuple[DefenderAction, ...]:
    """Read the ``defender_schedule`` parameter; the result is sorted by time (stable)."""
    if isinstance(entries, (str, Mapping)) or not isinstance(entries, Sequence):
        raise ValueError(f"parameter 'defender_schedule': expected a list of actions, got {entries!r}")
    actions = []
    for i, entry in enumerate(entries):
        where = f"parameter 'defender_schedule'[{i}]"
        if not isinstance(entry, Mapping) or "time" not in entry:
            raise ValueError(f"{where}: expected a mapping with time, action and nodes, got {entry!r}")
        time = entry["time"]
        action = parse_action({k: v for k, v in entry.items() if k != "time"}, known, where=where)
        if isinstance(time, bool) or not isinstance(time, (int, float)) or not math.isfinite(time):
            raise ValueError(f"{where}.time: expected a time in seconds, got {time!r}")
        actions.append(DefenderAction(action.kind, action.nodes, float(time)))
    return tuple(sorted(actions, key=lambda a: a.time))  # type: ignore[arg-type,return-value]


def _nodes(payload: Mapping[str, Any], where: str) -> tuple[str, ...]:
    if "node" in payload and "nodes" in payload:
        raise ValueError(f"{where}: give 'node' or 'nodes', not both")
    if "node" in payload:
        value: Any = [payload["node"]]
    else:
        value = payload.get("nodes")
    if isinstance(value, str) or not isinstance(value, Sequence) or not value:
        raise ValueError(f"{where}.nodes: expected a non-empty list of node names, got {value!r}")
    if not all(isinstance(n, str) for n in value):
        raise ValueError(f"{where}.nodes: expected node names, got {list(value)!r}")
    return tuple(value)
