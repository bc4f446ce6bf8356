"""System Structure Descriptions (SSP 1.0 / 2.0 ``.ssd`` files): read into frozen dataclasses, and written.

The part of the SSD format the federation maps (``docs/fmu.md``, "SSP"): a root system
with components (FMUs), nested systems, connectors (kind, type, unit), connections (with an
optional ``ssc:LinearTransformation`` and ``suppressUnitConversion``), parameter bindings
(inline ``ssv:ParameterSet`` or an ``.ssv`` file, optionally through an ``ssm`` parameter
mapping of names, with linear transformations), units, and the default experiment.  The
federation's own settings for a component or a connection (step, solver, signal names,
delayed connections, ...) travel in an ``ssc:Annotation`` of type :data:`ANNOTATION`, whose
content is JSON; other tools ignore it.

Anything else in a file (signal dictionaries, Boolean/Integer/Enumeration mapping
transformations, components that are not FMUs) is reported as a :class:`SsdProblem` with
its line, so the import can refuse it naming what and where.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.parsers import expat

from ..errors import Problem, ScenarioError

__all__ = ["ANNOTATION", "NS", "SSD_FILE", "Binding", "Component", "Connection", "Connector", "ExportReport", "ImportReport",
           "ParameterValue", "SsdProblem",
           "System", "SystemStructure", "Unit", "parse", "problem", "write"]  # fmt: skip

NS = {
    "ssd": "http://ssp-standard.org/SSP1/SystemStructureDescription",
    "ssc": "http://ssp-standard.org/SSP1/SystemStructureCommon",
    "ssv": "http://ssp-standard.org/SSP1/SystemStructureParameterValues",
    "ssm": "http://ssp-standard.org/SSP1/SystemStructureParameterMapping",
    "ssb": "http://ssp-standard.org/SSP1/SystemStructureSignalDictionary",
}
ANNOTATION = "org.federation-cosim.settings"
"""``type`` of the annotation that carries the federation's settings (JSON in a ``fed:Settings`` element)."""
_FED = "urn:federation-cosim:ssp"
VERSIONS = ("1.0", "2.0")
TYPES = ("Real", "Float64", "Float32", "Integer", "Int8", "UInt8", "Int16", "UInt16", "Int32", "UInt32", "Int64",
         "UInt64", "Boolean", "String", "Enumeration", "Binary", "Clock")  # fmt: skip
TYPES_1_0 = ("Real", "Integer", "Boolean", "String", "Enumeration", "Binary")
BASE_UNITS = ("kg", "m", "s", "A", "K", "mol", "cd", "rad")
FMU_TYPE = "application/x-fmu-sharedlibrary"


class SsdProblem(Exception):
    """Something in an SSD (or SSV, SSM) file the federation cannot use: where (file, line, element) and why."""

    def __init__(self, file: str, line: int, where: str, message: str) -> None:
        self.file, self.line, self.where, self.message = file, line, where, message
        super().__init__(f"{file}:{line}: {where}: {message}")


@dataclass(frozen=True)
class Unit:
    """``ssc:Unit``: SI exponents (in the order of BASE_UNITS) and ``SI = factor * value + offset``."""

    name: str
    exponents: tuple[int, ...] = (0,) * len(BASE_UNITS)
    factor: float = 1.0
    offset: float = 0.0


@dataclass(frozen=True)
class Connector:
    name: str
    kind: str  # input, output, parameter, calculatedParameter, local, ...
    type: str | None = None  # one of TYPES, or None when not given
    unit: str | None = None
    line: int = 0


@dataclass(frozen=True)
class ParameterValue:
    name: str
    type: str  # one of TYPES but Clock
    text: str  # the value as written (space-separated for arrays)
    unit: str | None = None
    line: int = 0


@dataclass(frozen=True)
class Binding:
    """A parameter binding, its mapping applied: the values and the names they go to."""

    values: tuple[ParameterValue, ...]
    line: int = 0


@dataclass(frozen=True)
class Connection:
    start_element: str | None  # None: a connector of the enclosing system
    start_connector: str
    end_element: str | None
    end_connector: str
    factor: float | None = None  # the LinearTransformation, when there is one
    offset: float | None = None
    suppress_unit_conversion: bool = False
    settings: Mapping[str, Any] = field(default_factory=dict)
    line: int = 0

    @property
    def transformed(self) -> bool:
        return self.factor is not None


@dataclass(frozen=True)
class Component:
    name: str
    source: str | None
    implementation: str = "any"
    connectors: tuple[Connector, ...] = ()
    bindings: tuple[Binding, ...] = ()
    settings: Mapping[str, Any] = field(default_factory=dict)
    line: int = 0


@dataclass(frozen=True)
class System:
    name: str
    connectors: tuple[Connector, ...] = ()
    elements: tuple[Component | System, ...] = ()
    connections: tuple[Connection, ...] = ()
    bindings: tuple[Binding, ...] = ()
    line: int = 0


@dataclass(frozen=True)
class SystemStructure:
    version: str
    name: str
    system: System
    units: Mapping[str, Unit] = field(default_factory=dict)
    start: float | None = None
    stop: float | None = None
    settings: Mapping[str, Any] = field(default_factory=dict)


# ---------------------------------------------------------------------------- reading
def _q(prefix: str, tag: str) -> str:
    return f"{{{NS[prefix]}}}{tag}"


def _parse_xml(data: bytes, file: str) -> tuple[ET.Element, dict[int, int]]:
    """An ElementTree of ``data`` and the line of each element (by ``id``), which ElementTree does not keep."""
    builder, lines = ET.TreeBuilder(), {}
    parser = expat.ParserCreate(namespace_separator="}")

    def name(raw: str) -> str:
        return "{" + raw if "}" in raw else raw

    def start(tag: str, attrs: dict[str, str]) -> None:
        element = builder.start(name(tag), {name(k): v for k, v in attrs.items()})
        lines[id(element)] = parser.CurrentLineNumber

    parser.StartElementHandler = start
    parser.EndElementHandler = lambda tag: builder.end(name(tag))
    parser.CharacterDataHandler = builder.data
    try:
        parser.Parse(data, True)
    except expat.ExpatError as exc:
        raise SsdProblem(file, exc.lineno, "XML", f"not well-formed: {expat.ErrorString(exc.code)}") from None
    return builder.close(), lines


class _Reader:
    """Reads one SSD, and the SSV/SSM files its bindings name, through ``read(name) -> bytes``."""

    def __init__(self, file: str, read: Callable[[str], bytes]) -> None:
        self.file, self.read = file, read
        self.lines: dict[int, int] = {}
        self.current = file

    def line(self, element: ET.Element) -> int:
        return self.lines.get(id(element), 0)

    def problem(self, element: ET.Element, where: str, message: str) -> SsdProblem:
        return SsdProblem(self.current, self.line(element), where, message)

    def document(self) -> SystemStructure:
        root, self.lines = _parse_xml(self.read(self.file), self.file)
        if root.tag != _q("ssd", "SystemStructureDescription"):
            raise self.problem(root, "root", f"expected ssd:SystemStructureDescription (namespace {NS['ssd']}), "
                                             f"got {root.tag}")  # fmt: skip
        version = root.get("version", "")
        if version not in VERSIONS:
            raise self.problem(root, "SystemStructureDescription", f"version {version!r} is not 1.0 or 2.0")
        system = root.find(_q("ssd", "System"))
        if system is None:
            raise self.problem(root, "SystemStructureDescription", "has no System")
        experiment = root.find(_q("ssd", "DefaultExperiment"))
        start = _float_or_none(experiment.get("startTime")) if experiment is not None else None
        stop = _float_or_none(experiment.get("stopTime")) if experiment is not None else None
        return SystemStructure(version, root.get("name", ""), self.system(system, ""),
                               self.units(root), start, stop, self.settings(root))  # fmt: skip

    def units(self, root: ET.Element) -> dict[str, Unit]:
        out = {}
        for unit in root.iterfind(f"{_q('ssd', 'Units')}/{_q('ssc', 'Unit')}"):
            base = unit.find(_q("ssc", "BaseUnit"))
            attrs = base.attrib if base is not None else {}
            out[unit.get("name", "")] = Unit(unit.get("name", ""), tuple(int(attrs.get(b, 0)) for b in BASE_UNITS),
                                             float(attrs.get("factor", 1)), float(attrs.get("offset", 0)))  # fmt: skip
        return out

    def settings(self, element: ET.Element) -> dict[str, Any]:
        """The federation's settings from an annotation of type ANNOTATION (empty when there is none)."""
        for annotation in element.iterfind(f"{_q('ssd', 'Annotations')}/{_q('ssc', 'Annotation')}"):
            if annotation.get("type") == ANNOTATION:
                content = annotation.find(f"{{{_FED}}}Settings")
                try:
                    return dict(json.loads(content.text or "{}")) if content is not None else {}
                except ValueError as exc:
                    raise self.problem(annotation, "Annotation", f"settings are not JSON: {exc}") from None
        return {}

    def system(self, element: ET.Element, where: str) -> System:
        name = element.get("name", "")
        path = f"{where}/System '{name}'" if where else f"System '{name}'"
        elements: list[Component | System] = []
        for child in element.iterfind(f"{_q('ssd', 'Elements')}/*"):
            tag = child.tag.rpartition("}")[2]
            if tag == "Component":
                elements.append(self.component(child, path))
            elif tag == "System":
                elements.append(self.system(child, path))
            else:
                raise self.problem(child, f"{path}/{tag} '{child.get('name', '')}'",
                                   f"{tag} elements are not supported (only FMU components and systems)")  # fmt: skip
        if element.find(_q("ssd", "SignalDictionaries")) is not None:
            raise self.problem(element, path, "signal dictionaries are not supported")
        connections = tuple(self.connection(c, path) for c in element.iterfind(
            f"{_q('ssd', 'Connections')}/{_q('ssd', 'Connection')}"))  # fmt: skip
        return System(name, self.connectors(element, path), tuple(elements), connections,
                      self.bindings(element, path), self.line(element))  # fmt: skip

    def component(self, element: ET.Element, where: str) -> Component:
        name = element.get("name", "")
        path = f"{where}/Component '{name}'"
        kind = element.get("type", FMU_TYPE)
        if kind != FMU_TYPE:
            raise self.problem(element, path, f"component type {kind!r} is not supported (only {FMU_TYPE}, FMUs)")
        return Component(name, element.get("source"), element.get("implementation", "any"),
                         self.connectors(element, path), self.bindings(element, path), self.settings(element),
                         self.line(element))  # fmt: skip

    def connectors(self, element: ET.Element, where: str) -> tuple[Connector, ...]:
        out = []
        for c in element.iterfind(f"{_q('ssd', 'Connectors')}/{_q('ssd', 'Connector')}"):
            typed = next((t for t in c if t.tag.rpartition("}")[2] in TYPES and t.tag.startswith(f"{{{NS['ssc']}}}")),
                         None)  # fmt: skip
            out.append(Connector(c.get("name", ""), c.get("kind", "unspecified"),
                                 None if typed is None else typed.tag.rpartition("}")[2],
                                 None if typed is None else typed.get("unit"), self.line(c)))  # fmt: skip
        return tuple(out)

    def connection(self, element: ET.Element, where: str) -> Connection:
        path = (f"{where}/Connection {element.get('startElement', '')}.{element.get('startConnector', '')} -> "
                f"{element.get('endElement', '')}.{element.get('endConnector', '')}")  # fmt: skip
        factor = offset = None
        for child in element:
            tag = child.tag.rpartition("}")[2]
            if tag == "LinearTransformation":
                factor, offset = float(child.get("factor", 1)), float(child.get("offset", 0))
            elif tag.endswith("MappingTransformation"):
                raise self.problem(child, path, f"{tag} is not supported (only LinearTransformation)")
        return Connection(element.get("startElement") or None, element.get("startConnector", ""),
                          element.get("endElement") or None, element.get("endConnector", ""), factor, offset,
                          _true(element.get("suppressUnitConversion")), self.settings(element),
                          self.line(element))  # fmt: skip

    # ------------------------------------------------------------------ parameters
    def bindings(self, element: ET.Element, where: str) -> tuple[Binding, ...]:
        out = []
        for b in element.iterfind(f"{_q('ssd', 'ParameterBindings')}/{_q('ssd', 'ParameterBinding')}"):
            path = f"{where}/ParameterBinding"
            kind = b.get("type", "application/x-ssp-parameter-set")
            if kind != "application/x-ssp-parameter-set":
                raise self.problem(b, path, f"parameter source type {kind!r} is not supported")
            if b.get("sourceBase", "SSD") != "SSD":
                raise self.problem(b, path, "sourceBase='component' (a parameter file inside the FMU) is not supported")
            values = self.parameter_set(b, path)
            mapping = b.find(_q("ssd", "ParameterMapping"))
            if mapping is not None:
                values = self.mapped(mapping, values, path)
            prefix = b.get("prefix") or ""
            out.append(Binding(tuple(ParameterValue(prefix + v.name, v.type, v.text, v.unit, v.line) for v in values),
                               self.line(b)))  # fmt: skip
        return tuple(out)

    def parameter_set(self, binding: ET.Element, where: str) -> list[ParameterValue]:
        source = binding.get("source")
        if source is None:
            inline = binding.find(f"{_q('ssd', 'ParameterValues')}/{_q('ssv', 'ParameterSet')}")
            if inline is None:
                raise self.problem(binding, where, "has neither a source nor inline ParameterValues")
            return self.parameters(inline)
        root, lines = self.external(binding, where, source)
        outer = self.current
        self.lines.update(lines)
        self.current = source
        try:
            if root.tag != _q("ssv", "ParameterSet"):
                raise self.problem(root, "ParameterSet", f"expected ssv:ParameterSet, got {root.tag}")
            return self.parameters(root)
        finally:
            self.current = outer

    def external(self, element: ET.Element, where: str, source: str) -> tuple[ET.Element, dict[int, int]]:
        if "://" in source or source.startswith("/") or ".." in source.split("/"):
            raise self.problem(element, where, f"source {source!r}: only relative URIs inside the package are read")
        try:
            data = self.read(source)
        except KeyError:
            raise self.problem(element, where, f"source {source!r} is not in the package") from None
        return _parse_xml(data, source)

    def parameters(self, parameter_set: ET.Element) -> list[ParameterValue]:
        out = []
        for p in parameter_set.iterfind(f"{_q('ssv', 'Parameters')}/{_q('ssv', 'Parameter')}"):
            typed = next((t for t in p if t.tag.rpartition("}")[2] in TYPES), None)
            if typed is None:
                raise self.problem(p, f"Parameter '{p.get('name', '')}'", "has no type element with a value")
            out.append(ParameterValue(p.get("name", ""), typed.tag.rpartition("}")[2], typed.get("value", ""),
                                      typed.get("unit"), self.line(p)))  # fmt: skip
        return out

    def mapped(self, mapping: ET.Element, values: list[ParameterValue], where: str) -> list[ParameterValue]:
        """Apply an ssm:ParameterMapping: only mapped values, under their target names, transformed."""
        source = mapping.get("source")
        if source is not None:
            root, lines = self.external(mapping, where, source)
            self.lines.update(lines)
        else:
            root = mapping.find(_q("ssm", "ParameterMapping"))  # type: ignore[assignment]
            if root is None:
                raise self.problem(mapping, where, "ParameterMapping has neither a source nor inline content")
        by_name = {v.name: v for v in values}
        out = []
        for entry in root.iterfind(_q("ssm", "MappingEntry")):
            value = by_name.get(entry.get("source", ""))
            if value is None:
                continue
            text = value.text
            linear = entry.find(_q("ssc", "LinearTransformation"))
            if linear is not None:
                factor, offset = float(linear.get("factor", 1)), float(linear.get("offset", 0))
                text = " ".join(repr(factor * float(x) + offset) for x in text.split())
            elif any(c.tag.rpartition("}")[2].endswith("MappingTransformation") for c in entry):
                raise self.problem(entry, where, "only LinearTransformation is supported in a parameter mapping")
            out.append(ParameterValue(entry.get("target", ""), value.type, text, value.unit, value.line))
        return out


def _float_or_none(text: str | None) -> float | None:
    return None if text is None else float(text)


def _true(text: str | None) -> bool:
    return (text or "").strip().lower() in {"true", "1"}


def parse(read: Callable[[str], bytes], file: str = "SystemStructure.ssd") -> SystemStructure:
    """Read the SSD ``file`` (and the parameter files it names) through ``read``; raises :class:`SsdProblem`."""
    return _Reader(file, read).document()


# ---------------------------------------------------------------------------- writing
def write(structure: SystemStructure) -> bytes:
    """The SSD file of ``structure`` (UTF-8, indented)."""
    for prefix, uri in NS.items():
        ET.register_namespace(prefix, uri)
    ET.register_namespace("fed", _FED)
    root = ET.Element(_q("ssd", "SystemStructureDescription"), {"version": structure.version, "name": structure.name})
    root.append(_system(structure.system, structure.version))
    if structure.units:
        units = ET.SubElement(root, _q("ssd", "Units"))
        for unit in structure.units.values():
            element = ET.SubElement(units, _q("ssc", "Unit"), {"name": unit.name})
            attrs = {b: str(e) for b, e in zip(BASE_UNITS, unit.exponents) if e}
            if unit.factor != 1.0:
                attrs["factor"] = repr(unit.factor)
            if unit.offset != 0.0:
                attrs["offset"] = repr(unit.offset)
            ET.SubElement(element, _q("ssc", "BaseUnit"), attrs)
    if structure.start is not None or structure.stop is not None:
        times = {k: repr(v) for k, v in (("startTime", structure.start), ("stopTime", structure.stop)) if v is not None}
        ET.SubElement(root, _q("ssd", "DefaultExperiment"), times)
    _annotate(root, structure.settings)
    ET.indent(root)
    body: bytes = ET.tostring(root, encoding="utf-8")
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + body + b"\n"


def _system(system: System, version: str) -> ET.Element:
    element = ET.Element(_q("ssd", "System"), {"name": system.name})
    _connectors(element, system.connectors, version)
    _bindings(element, system.bindings, system.name, version)
    if system.elements:
        elements = ET.SubElement(element, _q("ssd", "Elements"))
        for child in system.elements:
            elements.append(_system(child, version) if isinstance(child, System) else _component(child, version))
    if system.connections:
        connections = ET.SubElement(element, _q("ssd", "Connections"))
        for c in system.connections:
            attrs = {"startConnector": c.start_connector, "endConnector": c.end_connector}
            if c.start_element:
                attrs["startElement"] = c.start_element
            if c.end_element:
                attrs["endElement"] = c.end_element
            if c.suppress_unit_conversion:
                attrs["suppressUnitConversion"] = "true"
            connection = ET.SubElement(connections, _q("ssd", "Connection"), attrs)
            if c.transformed:
                ET.SubElement(connection, _q("ssc", "LinearTransformation"), {"factor": repr(c.factor),
                                                                              "offset": repr(c.offset)})  # fmt: skip
            _annotate(connection, c.settings)
    return element


def _component(component: Component, version: str) -> ET.Element:
    attrs = {"name": component.name, "type": FMU_TYPE}
    if component.source is not None:
        attrs["source"] = component.source
    if component.implementation != "any":
        attrs["implementation"] = component.implementation
    element = ET.Element(_q("ssd", "Component"), attrs)
    _connectors(element, component.connectors, version)
    _bindings(element, component.bindings, component.name, version)
    _annotate(element, component.settings)
    return element


def _connectors(element: ET.Element, connectors: tuple[Connector, ...], version: str) -> None:
    if not connectors:
        return
    parent = ET.SubElement(element, _q("ssd", "Connectors"))
    for c in connectors:
        connector = ET.SubElement(parent, _q("ssd", "Connector"), {"name": c.name, "kind": c.kind})
        if c.type is not None:
            ET.SubElement(connector, _q("ssc", c.type), {"unit": c.unit} if c.unit and c.type in _UNITFUL else {})


_UNITFUL = ("Real", "Float64", "Float32")


def _bindings(element: ET.Element, bindings: tuple[Binding, ...], name: str, version: str) -> None:
    if not bindings:
        return
    parent = ET.SubElement(element, _q("ssd", "ParameterBindings"))
    for binding in bindings:
        values = ET.SubElement(ET.SubElement(parent, _q("ssd", "ParameterBinding")), _q("ssd", "ParameterValues"))
        parameter_set = ET.SubElement(values, _q("ssv", "ParameterSet"), {"version": version, "name": name})
        parameters = ET.SubElement(parameter_set, _q("ssv", "Parameters"))
        for v in binding.values:
            p = ET.SubElement(parameters, _q("ssv", "Parameter"), {"name": v.name})
            ET.SubElement(p, _q("ssv", v.type), {"value": v.text, **({"unit": v.unit} if v.unit else {})})


def _annotate(element: ET.Element, settings: Mapping[str, Any]) -> None:
    if not settings:
        return
    annotations = ET.SubElement(element, _q("ssd", "Annotations"))
    annotation = ET.SubElement(annotations, _q("ssc", "Annotation"), {"type": ANNOTATION})
    ET.SubElement(annotation, f"{{{_FED}}}Settings").text = json.dumps(settings, sort_keys=True)


SSD_FILE = "SystemStructure.ssd"


@dataclass(frozen=True)
class ImportReport:
    """What :func:`import_ssp` wrote."""

    scenario: Path
    federates: tuple[str, ...]
    connections: int
    conversions: tuple[str, ...]  # formula federates inserted for transformed connections
    routes: int
    parameters: int
    ignored: tuple[str, ...] = ()  # parameter values that named no variable (the standard ignores them)


@dataclass(frozen=True)
class ExportReport:
    """What :func:`export_ssp` wrote, and what of the scenario it left out (and why)."""

    package: Path
    components: tuple[str, ...]
    connections: int
    left_out: tuple[str, ...] = ()


def problem(file: str, line: int, where: str, message: str) -> ScenarioError:
    return ScenarioError([Problem(file, line, where, message)])
