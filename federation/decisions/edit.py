"""An edit of a proposal's payload: checked against the payload and the declared fields, then merged.

The rules (``docs/decisions.md``, "Editing a proposal"):

* the edit of a mapping payload is a mapping ``{field: new value}``; a key is a field of
  the payload, a dotted path to a nested field (``limits.max``), or a field that the
  message class (or a receiving endpoint) declares;
* a mapping given for a field that holds a mapping is merged into it by the same rules;
  any other value replaces the field's value; fields not named keep theirs;
* a new value has the type of the old one (an int may replace a float, not the other way
  round; a bool is not a number); a field that was null takes any value; a declared field
  must fit its declaration (type, range, choices);
* a payload that is not a mapping is edited by giving the whole new value, of its type.

An edit that breaks a rule is refused whole with :class:`EditRefused`; nothing of it applies.
"""

from __future__ import annotations

import copy
import difflib
import math
from typing import Any, Mapping

from ..api.interface import PayloadField
from ..errors import FederationError

__all__ = ["EditRefused", "apply_edit", "example_edit"]

Declared = Mapping[str, tuple[tuple[str, PayloadField], ...]]  # field path -> (who declares it, how), ...


class EditRefused(FederationError):
    """An operator's edit does not fit the proposal; the proposal stays pending."""


def apply_edit(payload: Any, edit: Any, declared: Declared | None = None) -> Any:
    """The payload with ``edit`` merged in; raises :class:`EditRefused` when the edit does not fit."""
    declared = declared or {}
    if not isinstance(payload, dict):
        _check_value("the payload", payload, edit)
        return copy.deepcopy(edit)
    if edit == {}:
        raise EditRefused("an empty edit changes nothing (approve the proposal instead)")
    if not isinstance(edit, dict):
        raise EditRefused(f"an edit is a mapping of the payload's fields to new values, e.g. {example_edit(payload)}; "
                          f"got {_shown(edit)}")  # fmt: skip
    out = copy.deepcopy(payload)
    _merge(out, edit, "", declared)
    return out


def example_edit(payload: Any) -> str:
    """A one-field edit of ``payload`` to show as an example, e.g. ``{opening: 0.5}``."""
    if isinstance(payload, dict):
        for key, value in payload.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                return f"{{{key}: {value}}}"
        if payload:
            key, value = next(iter(payload.items()))
            return f"{{{key}: {_shown(value)}}}"
    return "{field: value}"


def _merge(target: dict[str, Any], edit: Mapping[Any, Any], prefix: str, declared: Declared) -> None:
    for key, value in edit.items():
        if not isinstance(key, str):
            raise EditRefused(f"{prefix}{key!r}: field names are text")
        path = f"{prefix}{key}"
        holder, name = _locate(target, key, prefix, declared)
        specs = declared.get(path, ())
        if name in holder and isinstance(holder[name], dict) and isinstance(value, dict):
            _merge(holder[name], value, f"{path}.", declared)
            continue
        _check_value(path, holder.get(name), value, specs)
        holder[name] = copy.deepcopy(value)


def _locate(target: dict[str, Any], key: str, prefix: str, declared: Declared) -> tuple[dict[str, Any], str]:
    """The mapping that holds field ``key`` (a name or a dotted path) and the field's name in it."""
    if key in target or f"{prefix}{key}" in declared and "." not in key:
        return target, key
    *parents, name = key.split(".")
    holder: Any = target
    for part in parents:
        holder = holder.get(part) if isinstance(holder, dict) else None
    if isinstance(holder, dict) and (name in holder or f"{prefix}{key}" in declared):
        return holder, name
    where, near = (prefix, target)
    if isinstance(holder, dict) and parents:  # the path leads to a mapping: suggest among its fields
        where, near = f"{prefix}{'.'.join(parents)}.", holder
    raise EditRefused(f"{prefix}{key}: no such field in the proposal{_suggest(prefix + key, near, where)}")


def _check_value(path: str, old: Any, new: Any, specs: tuple[tuple[str, PayloadField], ...] = ()) -> None:
    if isinstance(new, float) and not math.isfinite(new):
        raise EditRefused(f"{path}: expected a finite number, got {new!r}")
    for who, field in specs:
        problem = field.check(new)
        if problem:
            raise EditRefused(f"{path}: {problem} (as {who} declares)")
    if specs:
        return
    if old is None:
        return
    kind = _kind(old)
    if kind != _kind(new) and not (kind == "a number" and _kind(new) == "an integer"):
        raise EditRefused(f"{path}: expected {kind} like the proposal's {_shown(old)}, got {_shown(new)}")
    if isinstance(old, list) and old and isinstance(new, list):
        kinds = {_kind(v) for v in old}
        if "a number" in kinds:
            kinds.add("an integer")
        if any(_kind(v) not in kinds for v in new):
            raise EditRefused(f"{path}: expected a list like the proposal's {_shown(old)}, got {_shown(new)}")


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a text"
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return "null" if value is None else type(value).__name__


def _suggest(key: str, payload: Mapping[str, Any], where: str = "") -> str:
    names = [f"{where}{k}" for k in payload]
    close = difflib.get_close_matches(key, names, n=1)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    return f" (it has {', '.join(names) or 'no fields'}){hint}"


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
