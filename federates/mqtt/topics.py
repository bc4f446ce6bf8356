"""What ``mqtt-in`` subscribes to and how a message becomes a value: topics, key paths, payloads.

::

    topics:
      - topic: riverton/reservoir/level     # a topic filter: + and # allowed
        output: reservoir_level             # every matching topic feeds this output
        unit: m
        source_unit: cm                     # converted from cm to m
        value: level                        # key path of the value in a JSON payload ("" or absent: the payload)
        time: ts                            # key path of the timestamp (ISO-8601 or POSIX s); absent: arrival
      - topic: riverton/gauges/+/stage
        outputs: {bridge: stage_bridge, city: stage_city}   # the wildcard's part of the topic -> output
        value: reading.stage                # nested keys; a number indexes a list: readings.0

A bare number (``42.5``) is a payload too.  The wildcard part of a topic is what its ``+``
and ``#`` levels matched, joined by ``/``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from federation import ParameterCheck

from ..timestamps import parse_stamp
from ..units import Conversion, conversion

__all__ = ["KeyPath", "MalformedPayload", "TopicSpec", "parse_topics", "valid_filter", "wildcard_part"]

KeyPath = tuple[str | int, ...]
_KEYS = ("topic", "output", "outputs", "unit", "source_unit", "value", "time", "type")
_TYPES = ("float", "int", "bool", "str")


class MalformedPayload(ValueError):
    """A message whose payload does not hold what its topic's spec expects."""


@dataclass(frozen=True)
class TopicSpec:
    filter: str
    output: str | None = None  # every matching topic feeds it
    outputs: Mapping[str, str] = field(default_factory=dict)  # or: the wildcard part -> output
    value: KeyPath = ()
    time: KeyPath | None = None
    unit: str | None = None
    convert: Conversion | None = None
    type: str = "float"

    def output_for(self, topic: str) -> str | None:
        """The output a message on ``topic`` feeds, or ``None`` when the topic is not this spec's."""
        part = wildcard_part(self.filter, topic)
        if part is None:
            return None
        return self.output if self.output is not None else self.outputs.get(part)

    def names(self) -> tuple[str, ...]:
        return (self.output,) if self.output is not None else tuple(self.outputs.values())

    def decode(self, payload: bytes) -> tuple[Any, float | None]:
        """(value, timestamp in POSIX seconds or ``None``); :class:`MalformedPayload` says what is wrong."""
        try:
            text = payload.decode("utf-8")
        except UnicodeDecodeError:
            raise MalformedPayload("the payload is not UTF-8 text") from None
        try:
            data = json.loads(text)
        except ValueError:
            raise MalformedPayload(f"not JSON nor a number: {text[:60]!r}") from None
        value = self._typed(_lookup(data, self.value, "value"))
        if self.time is None:
            return value, None
        try:
            return value, parse_stamp(_lookup(data, self.time, "time"))
        except ValueError as exc:
            raise MalformedPayload(f"time: {exc}") from None

    def _typed(self, value: Any) -> Any:
        kind = self.type
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if kind == "float" and number and math.isfinite(value):
            return self.convert(float(value)) if self.convert is not None else float(value)
        if kind == "int" and isinstance(value, int) and not isinstance(value, bool):
            return value
        if (kind == "bool" and isinstance(value, bool)) or (kind == "str" and isinstance(value, str)):
            return value
        raise MalformedPayload(f"expected a {'finite number' if kind == 'float' else kind}, got {value!r:.60}")


def wildcard_part(topic_filter: str, topic: str) -> str | None:
    """What the ``+`` and ``#`` levels of ``topic_filter`` matched in ``topic`` ("" without wildcards), or ``None``."""
    wanted, levels = topic_filter.split("/"), topic.split("/")
    matched: list[str] = []
    for i, level in enumerate(wanted):
        if level == "#":
            matched += levels[i:]
            return "/".join(matched)
        if i >= len(levels):
            return None
        if level == "+":
            matched.append(levels[i])
        elif level != levels[i]:
            return None
    return "/".join(matched) if len(levels) == len(wanted) else None


def _lookup(data: Any, path: KeyPath, what: str) -> Any:
    for key in path:
        if isinstance(key, int) and isinstance(data, list) and -len(data) <= key < len(data):
            data = data[key]
        elif isinstance(data, dict) and str(key) in data:
            data = data[str(key)]
        else:
            shown = ".".join(map(str, path))
            raise MalformedPayload(f"no {what} at key path '{shown}'")
    return data


# ----------------------------------------------------------------------------- parameters
def parse_topics(value: Any, check: ParameterCheck) -> tuple[TopicSpec, ...]:
    if not isinstance(value, list) or not value:
        check.fail("topics", f"expected a list of {{topic, output, value, ...}}, got {value!r}")
        return ()
    specs = [s for i, item in enumerate(value) if (s := _topic(item, ("topics", i), check)) is not None]
    seen: dict[str, int] = {}
    for i, spec in enumerate(specs):
        for name in spec.names():
            if name in seen:
                check.fail(("topics", i), f"output '{name}' is fed by topics[{seen[name]}] already")
            seen.setdefault(name, i)
    return tuple(specs)


def _topic(item: Any, where: tuple[str | int, ...], check: ParameterCheck) -> TopicSpec | None:
    if not isinstance(item, dict):
        check.fail(where, f"expected {{topic, output, value, time, unit}}, got {item!r}")
        return None
    for key in item:
        if key not in _KEYS:
            check.fail((*where, key), f"unknown key (expected {', '.join(_KEYS)})")
    topic = item.get("topic")
    if not isinstance(topic, str) or not valid_filter(topic):
        check.fail((*where, "topic"), f"expected an MQTT topic filter ('+' a whole level, '#' the last), got {topic!r}")
        return None
    output, outputs = _outputs(item, topic, where, check)
    kind = item.get("type", "float")
    if kind not in _TYPES:
        check.fail((*where, "type"), f"must be {', '.join(_TYPES)}, got {kind!r}")
        kind = "float"
    unit, convert = _units(item, kind, where, check)
    time_path = _path(item["time"], (*where, "time"), check) if item.get("time") not in (None, "") else None
    return TopicSpec(topic, output, outputs, _path(item.get("value", ""), (*where, "value"), check), time_path,
                     unit, convert, kind)  # fmt: skip


def valid_filter(topic: str) -> bool:
    levels = topic.split("/")
    return bool(topic) and all(
        ("+" not in lv and "#" not in lv) or lv == "+" or (lv == "#" and i == len(levels) - 1)
        for i, lv in enumerate(levels)
    )


def _outputs(item: Mapping[str, Any], topic: str, where: tuple[str | int, ...],
             check: ParameterCheck) -> tuple[str | None, dict[str, str]]:  # fmt: skip
    output, outputs = item.get("output"), item.get("outputs")
    if (output is None) == (outputs is None):
        check.fail(where, "give 'output' (one output) or 'outputs' (wildcard part -> output)")
        return None, {}
    if output is not None:
        if not isinstance(output, str) or not output:
            check.fail((*where, "output"), f"expected an output name, got {output!r}")
            return None, {}
        return output, {}
    if "+" not in topic and "#" not in topic:
        check.fail((*where, "outputs"), "'outputs' maps a wildcard's part of the topic: the topic has no + or #")
    if not isinstance(outputs, dict) or not outputs or not all(isinstance(v, str) and v for v in outputs.values()):
        check.fail((*where, "outputs"), f"expected {{wildcard part: output name}}, got {outputs!r}")
        return None, {}
    return None, {str(k): v for k, v in outputs.items()}


def _units(item: Mapping[str, Any], kind: str, where: tuple[str | int, ...],
           check: ParameterCheck) -> tuple[str | None, Conversion | None]:  # fmt: skip
    unit, source = item.get("unit"), item.get("source_unit")
    if source is None:
        return unit if isinstance(unit, str) and unit else None, None
    if not isinstance(unit, str) or not unit:
        check.fail((*where, "source_unit"), "converts to the topic's 'unit': give that too")
        return None, None
    if kind != "float":
        check.fail((*where, "source_unit"), f"only numbers are converted, not {kind}")
        return unit, None
    convert = check.build((*where, "source_unit"), conversion, str(source), unit)
    return unit, None if convert is None or convert.identity else convert


def _path(value: Any, where: tuple[str | int, ...], check: ParameterCheck) -> KeyPath:
    if value is None or value == "":
        return ()
    if not isinstance(value, str):
        check.fail(where, f"expected a key path such as 'reading.level' or 'values.0', got {value!r}")
        return ()
    return tuple(int(part) if part.lstrip("-").isdigit() else part for part in value.split("."))
