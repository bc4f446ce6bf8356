"""SSP import: the scenario of a package's ``SystemStructure.ssd`` (see :mod:`federation.fmu.ssp`)."""

from __future__ import annotations

import logging
import re
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from ..errors import ScenarioError
from ..units import BASE_UNITS
from . import ssd
from .loader import FmuArchive, read_fmu
from .ssd import SSD_FILE, ImportReport, problem
from .ssp_export import linear
from .variables import FmuVariable

__all__ = ["Importer"]

log = logging.getLogger(__name__)

_INTERFACES = {"CoSimulation": "co-simulation", "ModelExchange": "model-exchange"}
_SOURCE_KINDS = {"output", "local", "calculatedParameter", "constant"}


@dataclass
class _Member:
    """A component of the flattened system."""

    path: tuple[str, ...]
    component: ssd.Component
    federate: str
    archive: FmuArchive | None = None
    fmu: str = ""  # path relative to the scenario
    connectors: dict[str, ssd.Connector] = field(default_factory=dict)

    def variable(self, name: str) -> FmuVariable | None:
        assert self.archive is not None
        return self.archive.model.variable_map().get(name)


class Importer:
    def __init__(self, package: Path, out: Path, *, step: float | None, stop: float | None, prefix: str = "",
                 folder: Path | None = None) -> None:  # fmt: skip
        """``prefix`` goes in front of every federate's name; ``folder`` is where the FMUs are unpacked
        (then named by absolute path; by default a folder named after the package beside ``out``)."""
        self.package, self.out, self.step, self.stop = package, out, step, stop
        self.prefix, self.folder = prefix, folder
        self.label = package.name
        self.members: dict[tuple[str, ...], _Member] = {}
        self.ignored: list[str] = []

    def fail(self, line: int, where: str, message: str) -> ScenarioError:
        return problem(f"{self.label}/{SSD_FILE}", line, where, message)

    def run(self) -> ImportReport:
        return self.write(self.read())

    def read(self) -> ssd.SystemStructure:
        """Parse the SSD, collect the components and unpack their FMUs."""
        if not zipfile.is_zipfile(self.package):
            raise problem(str(self.package), 0, "", "is not an SSP: it is not a ZIP archive")
        with zipfile.ZipFile(self.package) as archive:
            if SSD_FILE not in archive.namelist():
                raise problem(str(self.package), 0, "", f"is not an SSP: it has no {SSD_FILE}")
            try:
                structure = ssd.parse(lambda name: archive.read(_entry(name)))
            except ssd.SsdProblem as exc:
                raise problem(f"{self.label}/{exc.file}", exc.line, exc.where, exc.message) from None
            self.collect(structure.system, ())
            folder = self.folder or self.out.parent / self.package.stem
            for member in self.members.values():
                self.unpack(archive, member, folder)
        return structure

    # ------------------------------------------------------------------ components
    def collect(self, system: ssd.System, path: tuple[str, ...]) -> None:
        for element in system.elements:
            if isinstance(element, ssd.System):
                self.collect(element, (*path, element.name))
                continue
            name = self.prefix + _federate_name("_".join((*path, element.name)))
            if any(m.federate == name for m in self.members.values()):
                raise self.fail(element.line, f"Component '{element.name}'", f"its federate name '{name}' is taken "
                                                                             "by another component")  # fmt: skip
            key = (*path, element.name)
            self.members[key] = _Member(key, element, name,
                                                          connectors={c.name: c for c in element.connectors})

    def unpack(self, archive: zipfile.ZipFile, member: _Member, folder: Path) -> None:
        source = member.component.source
        where = f"Component '{member.component.name}'"
        if source is None:
            raise self.fail(member.component.line, where, "has no source: an FMU is needed to run it")
        name = _entry(source)
        if "://" in source or source.startswith("/") or ".." in name.split("/"):
            raise self.fail(member.component.line, where, f"source {source!r}: only relative URIs inside the "
                                                          "package are read")  # fmt: skip
        if name not in archive.namelist():
            raise self.fail(member.component.line, where, f"source {source!r} is not in the package")
        target = folder / name
        target.parent.mkdir(parents=True, exist_ok=True)
        data = archive.read(name)
        if not target.exists() or target.read_bytes() != data:
            target.write_bytes(data)
        member.archive = read_fmu(target)
        member.fmu = str(target) if self.folder else PurePosixPath(self.package.stem, name).as_posix()
        if member.component.implementation == "ScheduledExecution":
            raise self.fail(member.component.line, where, "implementation ScheduledExecution is not run by the "
                                                          "federation (only CoSimulation and ModelExchange)")  # fmt: skip

    # ------------------------------------------------------------------ the scenario
    def parts(self, structure: ssd.SystemStructure) -> tuple[dict[str, Any], _Wiring, list[str]]:
        """The federates (conversions included), the wiring (connections, routes) and the conversions' names."""
        wiring = _Wiring(self, structure)
        federates: dict[str, Any] = {}
        for member in self.members.values():
            federates[member.federate] = self.federate(member, wiring.parameters(member))
        return federates, wiring, wiring.conversions(federates)

    def write(self, structure: ssd.SystemStructure) -> ImportReport:
        federates, wiring, conversions = self.parts(structure)
        settings = dict(structure.settings)
        start = structure.start if structure.start is not None else 0.0
        stop = structure.stop if structure.stop is not None else self.stop
        if stop is None:
            stop = max((m.archive.model.experiment.stop for m in self.members.values()
                        if m.archive and m.archive.model.experiment and m.archive.model.experiment.stop is not None),
                       default=None)  # fmt: skip
        if stop is None:
            raise self.fail(0, "DefaultExperiment", "no stop time (in the SSD or the FMUs): give --stop")
        periods = [f.get("period") or f.get("params", {}).get("step") for f in federates.values()]
        scenario: dict[str, Any] = {
            "name": settings.get("name") or structure.name or self.package.stem,
            "time": {"start": start, "stop": stop,
                     "resolution": settings.get("resolution") or _resolution([start, stop, *periods])},
            "federates": federates,
        }  # fmt: skip
        if wiring.connections:
            scenario["connections"] = wiring.connections
        if wiring.routes:
            scenario["messages"] = wiring.routes
        if settings.get("iterate"):
            scenario["iterate"] = settings["iterate"]
        header = (f"# imported from {self.package.name} (SSP {structure.version}) by 'federation import-ssp'; "
                  f"the FMUs are in {self.package.stem}/\n")  # fmt: skip
        self.out.write_text(header + yaml.safe_dump(scenario, sort_keys=False, allow_unicode=True), encoding="utf-8")
        members = tuple(m.federate for m in self.members.values())
        return ImportReport(self.out, members, len(wiring.connections), tuple(conversions),
                            len(wiring.routes), wiring.count, tuple(self.ignored))  # fmt: skip

    def federate(self, member: _Member, values: Mapping[str, Any]) -> dict[str, Any]:
        archive = member.archive
        assert archive is not None
        settings = dict(member.component.settings)
        params: dict[str, Any] = {"fmu": member.fmu}
        interface = _INTERFACES.get(member.component.implementation)
        if interface and len(archive.kinds) > 1:
            params["interface"] = interface
        own = dict(settings.get("params") or {})
        if not settings and member.connectors:  # another tool's SSP: the connectors are the interface
            own["inputs"] = [c.name for c in member.connectors.values() if c.kind == "input" and c.type != "Clock"]
            own["outputs"] = [c.name for c in member.connectors.values()
                              if c.kind in _SOURCE_KINDS and c.type != "Clock"]  # fmt: skip
        params.update({k: v for k, v in own.items() if k not in {"fmu", "parameters", "start"}})
        parameters = {k: v for k, v in values.items() if _is_parameter(member.variable(k))}
        start = {k: v for k, v in values.items() if k not in parameters}
        if parameters:
            params["parameters"] = parameters
        if start:
            params["start"] = start
        step = params.get("step") or settings.get("period") or archive.default_step
        if step is None and not archive.model.clocks:
            if self.step is None:
                raise self.fail(member.component.line, f"Component '{member.component.name}'",
                                f"{archive.label} has no default step size: give --step")  # fmt: skip
            params["step"] = self.step
        federate: dict[str, Any] = {"type": "fmu"}
        for key in ("period", "offset"):
            if settings.get(key):
                federate[key] = settings[key]
        federate["params"] = params
        return federate


def _entry(name: str) -> str:
    """A ZIP entry name from a relative URI (``./x`` and ``x`` are the same file here)."""
    parts = [p for p in PurePosixPath(name).parts if p not in {".", ""}]
    return "/".join(parts)


def _federate_name(text: str) -> str:
    name = re.sub(r"[^\w-]", "_", text)
    return name if re.match(r"[A-Za-z_]", name) else f"c_{name}"


def _is_parameter(variable: FmuVariable | None) -> bool:
    return variable is not None and variable.causality in {"parameter", "structuralParameter"}


def _resolution(times: Iterable[Any]) -> str:
    """The coarsest of 1 ms, 1 us, 1 ns in which every time is a whole number of ticks."""
    values = [float(t) for t in times if t is not None]
    for text, tick in (("1 ms", 1e-3), ("1 us", 1e-6), ("1 ns", 1e-9)):
        if all(abs(v / tick - round(v / tick)) < 1e-6 for v in values):
            return text
    return "1 ns"


class _Wiring:
    """Connections (followed through nested systems), routes, conversions and parameter values."""

    def __init__(self, importer: Importer, structure: ssd.SystemStructure) -> None:
        self.importer, self.structure = importer, structure
        self.connections: list[Any] = []
        self.routes: list[str] = []
        self.count = 0
        self._pending: list[tuple[_Member, str, _Member, str, ssd.Connection]] = []
        self._edges: dict[tuple[Any, ...], list[tuple[tuple[Any, ...], ssd.Connection]]] = {}
        self._add_edges(structure.system, ())
        self._follow()

    # ------------------------------------------------------------------ connections
    def _node(self, system: ssd.System, path: tuple[str, ...], element: str | None, connector: str) -> tuple[Any, ...]:
        if element is None:
            return ("system", path, connector)
        child = next((e for e in system.elements if e.name == element), None)
        if child is None:
            raise self.importer.fail(system.line, f"System '{system.name}'", f"a connection names element "
                                                                             f"'{element}', which it does not contain")  # fmt: skip
        return ("system" if isinstance(child, ssd.System) else "component", (*path, element), connector)

    def _add_edges(self, system: ssd.System, path: tuple[str, ...]) -> None:
        for c in system.connections:
            a = self._node(system, path, c.start_element, c.start_connector)
            b = self._node(system, path, c.end_element, c.end_connector)
            self._edges.setdefault(a, []).append((b, c))
            self._edges.setdefault(b, []).append((a, c))
        for element in system.elements:
            if isinstance(element, ssd.System):
                self._add_edges(element, (*path, element.name))

    def _kind(self, member: _Member, connector: str) -> str:
        declared = member.connectors.get(connector)
        if declared is not None and declared.kind != "unspecified":
            return declared.kind
        variable = member.variable(connector)
        if variable is None:
            found = next((c for c in member.archive.model.clocks if c.name == connector), None)  # type: ignore[union-attr]
            if found is not None:
                return found.causality
            raise self.importer.fail(member.component.line, f"Component '{member.component.name}'",
                                     f"connector '{connector}' is not a variable of {member.archive.label}")  # type: ignore[union-attr]
        return variable.causality

    def _follow(self) -> None:
        """For each component input, the component output its net leads to (through system connectors)."""
        for (kind, path, connector), _ in list(self._edges.items()):
            if kind != "component":
                continue
            member = self.importer.members[path]
            if self._kind(member, connector) not in {"input", "parameter", "structuralParameter"}:
                continue
            sources = self._sources((kind, path, connector))
            if len(sources) > 1:
                names = ", ".join(f"{'.'.join(p)}.{c}" for (_, p, c), _ in sources)
                raise self.importer.fail(member.component.line, f"Component '{member.component.name}'",
                                         f"input '{connector}' is driven by several outputs: {names}")  # fmt: skip
            for (_, source_path, source_connector), via in sources:
                self._pending.append((self.importer.members[source_path], source_connector, member, connector, via))

    def _sources(self, start: tuple[Any, ...]) -> list[tuple[tuple[Any, ...], ssd.Connection]]:
        """The component outputs reached from ``start`` through system connectors, each with the connection
        that describes the path: its first edge, carrying the path's one linear transformation (if any) and
        suppressUnitConversion when any edge on the path sets it."""
        found: list[tuple[tuple[Any, ...], ssd.Connection]] = []
        seen = {start}
        todo: list[tuple[tuple[Any, ...], tuple[ssd.Connection, ...]]] = [(start, ())]
        while todo:
            node, path = todo.pop()
            for other, connection in self._edges.get(node, ()):
                if other in seen:
                    continue
                seen.add(other)
                edges = (*path, connection)
                if other[0] != "component":
                    todo.append((other, edges))
                elif self._kind(self.importer.members[other[1]], other[2]) in _SOURCE_KINDS:
                    found.append((other, self._combined(edges)))
        return found

    def system_connector(self, connector: ssd.Connector) -> list[tuple[str, str]]:
        """(federate, signal) behind a connector of the top-level system: the component inputs it drives
        (an input) or the component output that drives it (an output), through nested systems' connectors.
        A path with a linear transformation or a unit conversion is refused: connect to the component."""
        start: tuple[Any, ...] = ("system", (), connector.name)
        where = f"Connector '{connector.name}'"
        if connector.kind in _SOURCE_KINDS:
            found = self._sources(start)
        else:
            found = []
            seen = {start}
            todo: list[tuple[tuple[Any, ...], tuple[ssd.Connection, ...]]] = [(start, ())]
            while todo:
                node, path = todo.pop()
                for other, connection in self._edges.get(node, ()):
                    if other in seen:
                        continue
                    seen.add(other)
                    edges = (*path, connection)
                    if other[0] != "component":
                        todo.append((other, edges))
                    elif self._kind(self.importer.members[other[1]], other[2]) in {"input", "parameter"}:
                        found.append((other, self._combined(edges)))
        out = []
        for (_, path, variable), via in found:
            member = self.importer.members[path]
            if via.transformed or self._converts(connector, member, variable, via):
                raise self.importer.fail(connector.line, where, f"the path to {'.'.join(path)}.{variable} has a "
                                                                "linear transformation or a unit conversion: connect "
                                                                "to the component's variable instead")  # fmt: skip
            role = "outputs" if connector.kind in _SOURCE_KINDS else "inputs"
            out.append((member.federate, self._signal(member, variable, role)))
        if connector.kind in _SOURCE_KINDS and len(out) > 1:
            raise self.importer.fail(connector.line, where, "is driven by several outputs")
        return out

    def _converts(self, connector: ssd.Connector, member: _Member, variable: str, via: ssd.Connection) -> bool:
        a, b = connector.unit, self._unit(member, variable)
        return bool(a and b and a != b and not via.suppress_unit_conversion)

    def _combined(self, edges: tuple[ssd.Connection, ...]) -> ssd.Connection:
        transformed = [e for e in edges if e.transformed]
        if len(transformed) > 1:
            raise self.importer.fail(transformed[1].line, "Connection", "two linear transformations on one path "
                                                                        "from an output to an input")  # fmt: skip
        first = edges[0]
        linear = transformed[0] if transformed else first
        return replace(first, factor=linear.factor, offset=linear.offset,
                       suppress_unit_conversion=any(e.suppress_unit_conversion for e in edges))

    def conversions(self, federates: dict[str, Any]) -> list[str]:
        """Write the connections and routes (inserting conversion federates); return the conversions' names."""
        inserted = []
        for source, output, target, input_, via in self._pending:
            if self._is_clock(source, output) or self._is_clock(target, input_):
                self.routes.append(f"{source.federate}.{output} -> {target.federate}.{input_}")
                continue
            out_signal, in_signal = self._signal(source, output, "outputs"), self._signal(target, input_, "inputs")
            factor, offset = self._transform(source, output, target, input_, via)
            if factor == 1.0 and offset == 0.0:
                self.connections.append(self._connection(f"{source.federate}.{out_signal}",
                                                         f"{target.federate}.{in_signal}", via.settings))  # fmt: skip
                continue
            via_settings = via.settings.get("via") or {}
            name = _unique(self.importer.prefix + via_settings["name"] if via_settings.get("name")
                           else f"{target.federate}_{_federate_name(in_signal)}_conversion",
                           federates)  # fmt: skip
            federates[name] = _conversion(factor, offset, self._unit(source, output), self._unit(target, input_))
            if via_settings.get("params") and linear(via_settings["params"]) == (factor, offset):
                federates[name] = {"type": "formula", **({"period": via_settings["period"]} if via_settings.get("period")
                                                         else {}), "params": via_settings["params"]}  # fmt: skip
            input_name = next(iter(federates[name]["params"]["inputs"]))
            output_name = next(iter(federates[name]["params"]["outputs"]))
            self.connections.append(self._connection(f"{source.federate}.{out_signal}", f"{name}.{input_name}",
                                                     via.settings))  # fmt: skip
            self.connections.append(f"{name}.{output_name} -> {target.federate}.{in_signal}")
            inserted.append(name)
        return inserted

    @staticmethod
    def _connection(source: str, target: str, settings: Mapping[str, Any]) -> Any:
        text = f"{source} -> {target}"
        options = {k: v for k, v in settings.items() if k in {"delay", "iterate", "interpolate"}}
        return {"connect": text, **options} if options else text

    def _is_clock(self, member: _Member, connector: str) -> bool:
        declared = member.connectors.get(connector)
        return (declared is not None and declared.type == "Clock") or any(
            c.name == connector for c in member.archive.model.clocks)  # type: ignore[union-attr]  # fmt: skip

    def _signal(self, member: _Member, variable: str, role: str) -> str:
        """The signal name the federate gives ``variable`` (its settings may rename it)."""
        mapping = (member.component.settings.get("params") or {}).get(role)
        if isinstance(mapping, Mapping):
            return next((signal for signal, name in mapping.items() if name == variable), variable)
        return variable

    def _unit(self, member: _Member, connector: str) -> str | None:
        declared = member.connectors.get(connector)
        if declared is not None and declared.unit:
            return declared.unit
        variable = member.variable(connector)
        return variable.unit if variable is not None else None

    def _transform(self, source: _Member, output: str, target: _Member, input_: str,
                   via: ssd.Connection) -> tuple[float, float]:  # fmt: skip
        """``target = k * source + c``: the unit conversion (unless suppressed), then the linear transformation."""
        k, c = 1.0, 0.0
        a, b = self._unit(source, output), self._unit(target, input_)
        if a and b and a != b and not via.suppress_unit_conversion:
            k, c = self._units(source, a, target, b, via)
        if via.transformed:
            assert via.factor is not None and via.offset is not None
            k, c = via.factor * k, via.factor * c + via.offset
        return k, c

    def _units(self, source: _Member, a: str, target: _Member, b: str, via: ssd.Connection) -> tuple[float, float]:
        known = {u.name: (u.exponents, u.factor, u.offset) for m in (source, target)
                 for u in m.archive.model.units}  # type: ignore[union-attr]  # fmt: skip
        known.update({u.name: (u.exponents, u.factor, u.offset) for u in self.structure.units.values()})
        missing = [u for u in (a, b) if u not in known]
        if missing:
            raise self.importer.fail(via.line, "Connection", f"cannot convert {a} to {b}: unit {missing[0]!r} has "
                                                             "no definition in the SSD or the FMUs")  # fmt: skip
        (ea, fa, oa), (eb, fb, ob) = known[a], known[b]
        if tuple(ea) != tuple(eb):
            def dims(e: Sequence[int]) -> str:
                return "·".join(f"{n}^{x}" for n, x in zip(BASE_UNITS, e) if x) or "1"

            raise self.importer.fail(via.line, "Connection", f"{a} ({dims(ea)}) and {b} ({dims(eb)}) are not "
                                                             "the same quantity")  # fmt: skip
        return fa / fb, (oa - ob) / fb

    # ------------------------------------------------------------------ parameters
    def parameters(self, member: _Member) -> dict[str, Any]:
        """The member's parameter values: its own bindings, then those of the enclosing systems (which win)."""
        values: dict[str, Any] = {}
        self._apply(member, member.component.bindings, "", values)
        systems = self._systems(member.path)
        for depth in range(len(systems) - 1, -1, -1):  # innermost first: outer levels take precedence
            prefix = ".".join(member.path[depth:]) + "."
            self._apply(member, systems[depth].bindings, prefix, values)
        return values

    def _systems(self, path: tuple[str, ...]) -> list[ssd.System]:
        out, system = [self.structure.system], self.structure.system
        for name in path[:-1]:
            system = next(e for e in system.elements if isinstance(e, ssd.System) and e.name == name)
            out.append(system)
        return out

    def _apply(self, member: _Member, bindings: Iterable[ssd.Binding], prefix: str, values: dict[str, Any]) -> None:
        for binding in bindings:
            for value in binding.values:
                if not value.name.startswith(prefix):
                    continue
                name = value.name[len(prefix):]
                variable = member.variable(name)
                if variable is None:
                    self.importer.ignored.append(f"{member.federate}: {name}")
                    continue
                values[name] = self._value(member, variable, value)
                self.count += 1

    def _value(self, member: _Member, variable: FmuVariable, value: ssd.ParameterValue) -> Any:
        where = f"Parameter '{value.name}'"
        def fail(message: str) -> ScenarioError:
            return self.importer.fail(value.line, where, message)

        if variable.variability == "constant" or not (variable.causality in {"parameter", "structuralParameter",
                                                                              "input"}
                                                       or variable.initial in {"exact", "approx"}):  # fmt: skip
            raise fail(f"{variable.describe()} cannot be given a value (a constant, or no start value)")
        if value.unit and variable.unit and value.unit != variable.unit:
            raise fail(f"value in {value.unit}, but {variable.name} is in {variable.unit}; unit conversion of "
                       "parameter values is not supported yet")  # fmt: skip
        items = value.text.split() if variable.shape else [value.text]
        try:
            parsed = [_parse_value(variable.fmi_type, text) for text in items]
        except ValueError:
            raise fail(f"{value.text!r} is not a {variable.fmi_type} value for {variable.name}") from None
        if variable.shape and len(parsed) != variable.size:
            raise fail(f"{len(parsed)} values for {variable.name}, which holds {variable.size}")
        return parsed if variable.shape else parsed[0]


def _parse_value(fmi_type: str, text: str) -> Any:
    if fmi_type in {"Real", "Float64", "Float32"}:
        return float(text)
    if fmi_type == "Boolean":
        key = text.strip().lower()
        if key not in {"true", "false", "1", "0"}:
            raise ValueError(text)
        return key in {"true", "1"}
    if fmi_type == "String":
        return text
    return int(text)


def _unique(name: str, taken: Mapping[str, Any]) -> str:
    candidate, k = name, 2
    while candidate in taken:
        candidate, k = f"{name}_{k}", k + 1
    return candidate


def _conversion(factor: float, offset: float, source_unit: str | None, target_unit: str | None) -> dict[str, Any]:
    expr = f"{factor!r} * u + {offset!r}" if offset else f"{factor!r} * u"
    return {"type": "formula", "params": {"inputs": {"u": {"unit": source_unit or "", "default": 0.0}},
                                          "outputs": {"y": {"expr": expr, "unit": target_unit or ""}}}}  # fmt: skip
