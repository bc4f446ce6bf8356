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

from federation import ParameterCheck, ParameterError, ParameterProblem

__all__ = ["ActionKind", "DefenderAction", "action_from_spec", "parse_action", "parse_schedule"]


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
    """Read one action message; ``known`` are the node names, ``where`` prefixes error messages."""
    try:
        return action_from_spec(payload, known)
    except ParameterError as exc:
        raise ValueError("; ".join(f"{where}{_suffix(p.key)}: {p.message}" for p in exc.problems)) from None


def action_from_spec(payload: Any, known: Collection[str] | None) -> DefenderAction:
    """Read one action; a :class:`ParameterError` names every bad key of ``payload``.

    ``known`` are the node names (``None``: not known, the names are not checked).
    """
    if not isinstance(payload, Mapping):
        raise ParameterError([ParameterProblem((), f"expected a mapping with 'action' and 'nodes', got {payload!r}")])
    check = ParameterCheck()
    for key in sorted(set(payload) - {"action", "nodes", "node"}):
        check.fail(key, "unknown key (expected action, and nodes or node)")
    try:
        kind = ActionKind(payload.get("action"))
    except ValueError:
        choices = ", ".join(k.value for k in ActionKind)
        check.fail("action", f"unknown action {payload.get('action')!r} (expected {choices})")
        kind = ActionKind.PATCH  # a stand-in: check.done() refuses the action
    nodes = _nodes(payload, check)
    unknown = [n for n in nodes if known is not None and n not in known]
    if unknown:
        check.fail("nodes", f"unknown node {unknown[0]!r}")
    check.done()
    return DefenderAction(kind, nodes)


def parse_schedule(entries: Sequence[Any], known: Collection[str] | None) -> tuple[DefenderAction, ...]:
    """Read the ``defender_schedule`` parameter (sorted by time, stable); a ParameterError names every bad entry."""
    if isinstance(entries, (str, Mapping)) or not isinstance(entries, Sequence):
        raise ParameterError([ParameterProblem(("defender_schedule",),
                                               f"expected a list of actions, got {entries!r}")])  # fmt: skip
    check = ParameterCheck()
    actions = []
    for i, entry in enumerate(entries):
        where = ("defender_schedule", i)
        if not isinstance(entry, Mapping) or "time" not in entry:
            check.fail(where, f"expected a mapping with time, action and nodes, got {entry!r}")
            continue
        time = entry["time"]
        if isinstance(time, bool) or not isinstance(time, (int, float)) or not math.isfinite(time):
            check.fail((*where, "time"), f"expected a time in seconds, got {time!r}")
        action = check.build(where, action_from_spec, {k: v for k, v in entry.items() if k != "time"}, known)
        if action is not None and check.ok((*where, "time")):
            actions.append(DefenderAction(action.kind, action.nodes, float(time)))
    check.done()
    return tuple(sorted(actions, key=lambda a: a.time))  # type: ignore[arg-type,return-value]


def _nodes(payload: Mapping[str, Any], check: ParameterCheck) -> tuple[str, ...]:
    if "node" in payload and "nodes" in payload:
        check.fail("node", "give 'node' or 'nodes', not both")
        return ()
    if "node" in payload:
        value: Any = [payload["node"]]
    else:
        value = payload.get("nodes")
    if isinstance(value, str) or not isinstance(value, Sequence) or not value:
        check.fail("nodes", f"expected a non-empty list of node names, got {value!r}")
        return ()
    if not all(isinstance(n, str) for n in value):
        check.fail("nodes", f"expected node names, got {list(value)!r}")
        return ()
    return tuple(value)


def _suffix(key: tuple[str | int, ...]) -> str:
    return "".join(f"[{k}]" if isinstance(k, int) else f".{k}" for k in key)
