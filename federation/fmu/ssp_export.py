"""SSP export: the FMU part of a scenario as a package (see :mod:`federation.fmu.ssp`)."""

from __future__ import annotations

import ast
import hashlib
import math
import re
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import Problem, ScenarioError
from . import ssd
from .loader import InterfaceKind
from .ssd import SSD_FILE, ExportReport
from .variables import FmuVariable

__all__ = ["Exporter", "linear"]

_TIMESTAMP = (1980, 1, 1, 0, 0, 0)
_SSP_TYPES_1_0 = {"Float64": "Real", "Float32": "Real", "Int8": "Integer", "UInt8": "Integer", "Int16": "Integer",
                  "UInt16": "Integer", "Int32": "Integer", "UInt32": "Integer", "Int64": "Integer",
                  "UInt64": "Integer"}  # fmt: skip
_LINEAR = re.compile(r"^\s*(?P<k>[-+]?[\d.eE+-]+)\s*\*\s*(?P<u>\w+)\s*(?:(?P<sign>[-+])\s*(?P<c>[\d.eE+-]+))?\s*$")


def _ssp_type(fmi_type: str, version: str) -> str:
    if version == "1.0":
        return _SSP_TYPES_1_0.get(fmi_type, fmi_type)
    return fmi_type


@dataclass
class _Exported:
    name: str
    plan: Any  # federation.fmu.federate._Plan
    spec: Any  # federation.scenario.FederateSpec
    source: str = ""


class Exporter:
    def __init__(self, scenario_file: Path, out: Path, version: str) -> None:
        from ..scenario.loader import load

        if version not in ssd.VERSIONS:
            raise ScenarioError([Problem(str(out), 0, "", f"SSP version {version!r} is not 1.0 or 2.0")])
        self.scenario = load(scenario_file)
        self.out, self.version = out, version
        self.left_out: list[str] = []

    def run(self) -> ExportReport:
        members, conversions = self.members()  # conversions: formula federates that become LinearTransformations
        if not members:
            raise ScenarioError([Problem(self.scenario.file, 0, "federates", "has no FMU federate to export")])
        sources = self.sources(members)
        connections = self.connections(members, conversions)
        units = {u.name: ssd.Unit(u.name, u.exponents, u.factor, u.offset)
                 for m in members.values() for u in m.plan.archive.model.units}  # fmt: skip
        used = {c.unit for m in members.values() for c in self.connectors(m)}
        settings: dict[str, Any] = {"name": self.scenario.name, "resolution": f"{self.scenario.time.resolution!r} s"}
        groups = {c.group for c in self.scenario.connections if c.group and c.source in members and c.target in members}
        if groups:
            settings["iterate"] = {g: {"tolerance": self.scenario.groups[g].tolerance,
                                       "max_iterations": self.scenario.groups[g].max_iterations}
                                   for g in sorted(groups) if g in self.scenario.groups}  # fmt: skip
        system = ssd.System(self.scenario.name, elements=tuple(self.component(m) for m in members.values()),
                            connections=tuple(connections))  # fmt: skip
        structure = ssd.SystemStructure(self.version, self.scenario.name, system,
                                        {n: u for n, u in units.items() if n in used}, self.scenario.time.start,
                                        self.scenario.time.stop, settings)  # fmt: skip
        self.write(structure, sources)
        return ExportReport(self.out, tuple(members), len(connections), tuple(self.left_out))

    def members(self) -> tuple[dict[str, _Exported], dict[str, tuple[str, str, float, float, dict[str, Any]]]]:
        """The FMU federates; and the formula federates that are a linear conversion between two of them."""
        from ..scenario.registry import resolve
        from .federate import FmuFederate

        members: dict[str, _Exported] = {}
        formulas: dict[str, Any] = {}
        for name, spec in self.scenario.federates.items():
            cls = resolve(spec.type, self.scenario.directory) if spec.type else None
            if cls is not None and issubclass(cls, FmuFederate):
                decl = cls.declare({**spec.params, "_base_dir": str(self.scenario.directory)})
                members[name] = _Exported(name, decl.extra["fmu"], spec)
            elif spec.type == "formula" and linear(spec.params) is not None:
                formulas[name] = spec
            else:
                self.left_out.append(f"federate '{name}' (not an FMU)")
        conversions = {}
        for name, spec in formulas.items():
            ins = [c for c in self.scenario.connections if c.target == name]
            outs = [c for c in self.scenario.connections if c.source == name]
            if len(ins) == 1 and len(outs) == 1 and ins[0].source in members and outs[0].target in members:
                k, c = linear(spec.params)  # type: ignore[misc]
                via = {"name": name, "params": dict(spec.params), **({"period": spec.period} if spec.period else {})}
                conversions[name] = (f"{ins[0].source}.{ins[0].output}", f"{outs[0].target}.{outs[0].input}", k, c,
                                     via)  # fmt: skip
            else:
                self.left_out.append(f"federate '{name}' (a formula that is not a conversion between two FMUs)")
        return members, conversions

    def sources(self, members: dict[str, _Exported]) -> dict[str, Path]:
        """``resources/<file>`` for each FMU file (one entry per content; a name taken by other content gets a suffix)."""
        by_digest: dict[str, str] = {}
        out: dict[str, Path] = {}
        for member in members.values():
            path = member.plan.archive.path
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            if digest not in by_digest:
                stem, suffix, k = path.stem, path.suffix, 2
                name = f"resources/{path.name}"
                while name in out:
                    name, k = f"resources/{stem}_{k}{suffix}", k + 1
                by_digest[digest] = name
                out[name] = path
            member.source = by_digest[digest]
        return out

    def connectors(self, member: _Exported) -> list[ssd.Connector]:
        out = []
        for role, bindings in (("input", member.plan.inputs), ("output", member.plan.outputs)):
            for b in bindings:
                kind = "input" if role == "input" and b.variable.causality == "input" else (
                    b.variable.causality if role == "output" else "parameter")  # fmt: skip
                out.append(ssd.Connector(b.variable.name, kind, _ssp_type(b.variable.fmi_type, self.version),
                                         b.variable.unit))  # fmt: skip
        if self.version != "1.0":
            for clock in member.plan.archive.model.clocks:
                if any((r.source == member.name and r.endpoint == clock.name)
                       or (r.target == member.name and r.target_endpoint == clock.name) for r in self.scenario.routes):
                    out.append(ssd.Connector(clock.name, clock.causality, "Clock"))
        return out

    def component(self, member: _Exported) -> ssd.Component:
        params = dict(member.spec.params)
        variables = member.plan.archive.model.variable_map()
        values = [_parameter(variables[name], value, self.version)
                  for key in ("parameters", "start") for name, value in (params.get(key) or {}).items()]  # fmt: skip
        own = {k: v for k, v in params.items() if k not in {"fmu", "parameters", "start", "interface"}}
        settings: dict[str, Any] = {"params": own}  # present even when empty: the federation wrote this component
        for key in ("period", "offset"):
            if getattr(member.spec, key):
                settings[key] = getattr(member.spec, key)
        implementation = "any"  # the importer chooses, as the federation does without 'interface:'
        if params.get("interface") is not None:
            implementation = "CoSimulation" if member.plan.kind is InterfaceKind.CO_SIMULATION else "ModelExchange"
        return ssd.Component(member.name, member.source, implementation, tuple(self.connectors(member)),
                             (ssd.Binding(tuple(values)),) if values else (), settings)  # fmt: skip

    def connections(self, members: dict[str, _Exported],
                    conversions: Mapping[str, tuple[str, str, float, float, dict[str, Any]]]) -> list[ssd.Connection]:  # fmt: skip
        out = []
        def variable(fed: str, signal: str, role: str) -> str:
            return next(str(b.variable.name) for b in getattr(members[fed].plan, role) if b.signal == signal)

        for c in self.scenario.connections:
            if c.source in conversions or c.target in conversions:
                continue
            if c.source not in members or c.target not in members:
                if c.source in members or c.target in members:
                    self.left_out.append(f"connection {c} (not between two FMUs)")
                continue
            settings: dict[str, Any] = {"delay": True} if c.kind.value == "delayed" else {"iterate": c.group} if c.group else {}
            if c.interpolate.value != "hold":
                settings["interpolate"] = c.interpolate.value
            out.append(ssd.Connection(c.source, variable(c.source, c.output, "outputs"), c.target,
                                      variable(c.target, c.input, "inputs"), settings=settings))  # fmt: skip
        for source, target, factor, offset, via in conversions.values():
            (sf, so), (tf, ti) = source.split(".", 1), target.split(".", 1)
            out.append(ssd.Connection(sf, variable(sf, so, "outputs"), tf, variable(tf, ti, "inputs"), factor, offset,
                                      suppress_unit_conversion=True, settings={"via": via}))  # fmt: skip
        for r in self.scenario.routes:
            if r.source in members and r.target in members and self.version != "1.0":
                out.append(ssd.Connection(r.source, r.endpoint, r.target, r.target_endpoint))
            elif r.source in members or r.target in members:
                why = "SSP 1.0 has no clocks: export with --version 2.0" if self.version == "1.0" else "not between two FMUs"
                self.left_out.append(f"message route {r} ({why})")
        return out

    def write(self, structure: ssd.SystemStructure, sources: Mapping[str, Path]) -> None:
        entries = {SSD_FILE: ssd.write(structure), **{name: path.read_bytes() for name, path in sources.items()}}
        self.out.parent.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(self.out, "w") as archive:
            for name in sorted(entries):
                info = zipfile.ZipInfo(name, date_time=_TIMESTAMP)
                info.compress_type = zipfile.ZIP_DEFLATED
                info.external_attr = 0o644 << 16
                archive.writestr(info, entries[name])


def linear(params: Mapping[str, Any]) -> tuple[float, float] | None:
    """``(k, c)`` when a formula's params compute one output ``k * u + c`` of its one input, else None."""
    inputs, outputs = params.get("inputs") or {}, params.get("outputs") or {}
    if not isinstance(inputs, Mapping) or not isinstance(outputs, Mapping) or len(inputs) != 1 or len(outputs) != 1:
        return None
    spec = next(iter(outputs.values()))
    expr = spec.get("expr") if isinstance(spec, Mapping) else spec
    match = _LINEAR.match(str(expr))
    if match is None or match.group("u") != next(iter(inputs)):
        return None
    try:
        k = float(ast.literal_eval(match.group("k")))
        c = float(ast.literal_eval(match.group("c"))) if match.group("c") else 0.0
    except (ValueError, SyntaxError):
        return None
    return k, (-c if match.group("sign") == "-" else c)


def _parameter(variable: FmuVariable, value: Any, version: str) -> ssd.ParameterValue:
    items = value if isinstance(value, (list, tuple)) else [value]
    text = " ".join(_text(variable.fmi_type, x) for x in items)
    return ssd.ParameterValue(variable.name, _ssp_type(variable.fmi_type, version), text)  # in the variable's unit


def _text(fmi_type: str, value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else {"inf": "INF", "-inf": "-INF"}.get(repr(value), "NaN")
    return str(value)
