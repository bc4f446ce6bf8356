"""SSP import and export: packages written here for the project's FMUs, and round trips.

* a scenario exported to an SSP 1.0 package (valid against the standard's XML schema)
  and imported again is the same scenario, and its run records the same values;
* a package written by hand the way another tool would (nested systems, a parameter file
  with a parameter mapping, bindings at two levels, a unit conversion and a linear
  transformation) imports to a scenario that runs and computes what the SSD says;
* what cannot be imported is refused naming the file, the line and the element.
"""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import fmpy
import pytest

from federation.engine.coordinator import Coordinator, RunOptions
from federation.errors import ScenarioError
from federation.fmu.ssp import export_ssp, import_ssp
from federation.results.store import RunStore
from federation.scenario.loader import load
from fmus.build import FmiStandard, ModelSource, compile_model, find_compiler, pack_fmu
from tests.conftest import write_scenario

pytestmark = pytest.mark.timeout(120)

RELAY_DESCRIPTION = """<?xml version="1.0" encoding="UTF-8"?>
<fmiModelDescription fmiVersion="2.0" modelName="Relay" guid="{0c1a2b3c-0000-4000-8000-00000000a11a}"
  description="Passes a power on: out = gain * in, in MW and kW" generationTool="tests/test_fmu_ssp.py"
  variableNamingConvention="flat" numberOfEventIndicators="0">
  <CoSimulation modelIdentifier="Relay" canHandleVariableCommunicationStepSize="true"
    canGetAndSetFMUstate="true" canSerializeFMUstate="true"/>
  <UnitDefinitions>
    <Unit name="kW"><BaseUnit kg="1" m="2" s="-3" factor="1000"/></Unit>
    <Unit name="MW"><BaseUnit kg="1" m="2" s="-3" factor="1000000"/></Unit>
    <Unit name="m"><BaseUnit m="1"/></Unit>
  </UnitDefinitions>
  <DefaultExperiment startTime="0" stopTime="10" stepSize="1"/>
  <ModelVariables>
    <ScalarVariable name="p_in" valueReference="1" causality="input" variability="continuous">
      <Real unit="MW" start="0"/></ScalarVariable>
    <ScalarVariable name="p_out" valueReference="2" causality="output" variability="continuous">
      <Real unit="kW"/></ScalarVariable>
    <ScalarVariable name="gain" valueReference="3" causality="parameter" variability="fixed">
      <Real start="1"/></ScalarVariable>
    <ScalarVariable name="length" valueReference="4" causality="output" variability="continuous">
      <Real unit="m"/></ScalarVariable>
  </ModelVariables>
  <ModelStructure>
    <Outputs><Unknown index="2"/><Unknown index="4"/></Outputs>
  </ModelStructure>
</fmiModelDescription>
"""

RELAY_SOURCE = """
#include <stddef.h>
#include "model.h"

typedef struct { double p_in, p_out, gain, length; } Data;

const char MODEL_TOKEN[] = "{0c1a2b3c-0000-4000-8000-00000000a11a}";
const size_t MODEL_DATA_SIZE = sizeof(Data);
const size_t MODEL_STATE_COUNT = 0;
const size_t MODEL_INDICATOR_COUNT = 0;
const VarInfo MODEL_VARIABLES[] = {
    {1, VT_FLOAT64, VC_INPUT, offsetof(Data, p_in), 1},
    {2, VT_FLOAT64, VC_OUTPUT, offsetof(Data, p_out), 1},
    {3, VT_FLOAT64, VC_PARAMETER, offsetof(Data, gain), 1},
    {4, VT_FLOAT64, VC_OUTPUT, offsetof(Data, length), 1},
};
const size_t MODEL_VARIABLE_COUNT = sizeof MODEL_VARIABLES / sizeof MODEL_VARIABLES[0];

void model_start(void *data) { Data *d = data; d->gain = 1.0; }
void model_outputs(void *data, ModelContext *ctx) { (void)ctx; Data *d = data; d->p_out = d->gain * d->p_in; }
bool model_initialize(void *data, ModelContext *ctx) { model_outputs(data, ctx); return true; }
bool model_step(void *data, ModelContext *ctx, double h, StepResult *r) {
    (void)h; (void)r; model_outputs(data, ctx); return true;
}
"""


@pytest.fixture(scope="module")
def fmus(tmp_path_factory: pytest.TempPathFactory, shipped_fmus: list[Path]) -> dict[str, Path]:
    built = {p.stem: p for p in shipped_fmus}
    folder = tmp_path_factory.mktemp("relay")
    (folder / "modelDescription.xml").write_text(RELAY_DESCRIPTION, encoding="utf-8")
    (folder / "model.c").write_text(RELAY_SOURCE, encoding="utf-8")
    model = ModelSource(folder, "Relay", FmiStandard.FMI2)
    compile_model(model, folder / "Relay.so", find_compiler())
    pack_fmu(model, folder / "Relay.so", folder / "Relay.fmu")
    return {**built, "Relay": folder / "Relay.fmu"}


def run(path: Path) -> RunStore:
    out = path.with_suffix(".sqlite")
    Coordinator(load(path), RunOptions(out=out)).run()
    return RunStore(out)


def record(store: RunStore) -> dict[str, tuple[Any, Any]]:
    return {name: (store.series(name).times, store.series(name).values) for _, name, _, _ in store.signals()}


def schema_errors(ssd: bytes) -> list[str]:
    """The SSD checked against the SSP 1.0 XML schema that ships with fmpy."""
    from lxml import etree

    folder = Path(fmpy.__file__).parent / "ssp" / "schema"
    schema = etree.XMLSchema(etree.parse(str(folder / "SystemStructureDescription.xsd")))
    schema.validate(etree.fromstring(ssd))
    return [str(e) for e in schema.error_log]


# ---------------------------------------------------------------------------- round trip
def scenario_text(fmus: dict[str, Path]) -> str:
    return f"""
        time: {{stop: 600, resolution: 1 s}}
        federates:
          tank:
            type: fmu
            params:
              fmu: {fmus['SampledTank']}
              interface: co-simulation
              inputs: [inflow]
              outputs: {{lvl: level, outflow: outflow}}
              parameters: {{kp: 0.8, area: 12.0}}
              step: 10
          gate:
            type: fmu
            params:
              fmu: {fmus['SpillwayGate']}
              parameters: {{kp: 0.5, ki: 0.001, target_level: 0.8, gate_name: west}}
              start: {{downstream_stage: 3.5}}
          conv:
            type: formula
            params:
              inputs: {{u: {{unit: m}}}}
              outputs: {{y: {{expr: "2.0 * u + 0.5", unit: m3/s}}}}
        connections:
          - gate.gate_opening -> conv.u
          - conv.y -> tank.inflow
          - {{connect: tank.lvl -> gate.reservoir_level, delay: true}}
        """


def essence(scenario: Any) -> dict[str, Any]:
    """What must survive the round trip: federates (FMU files by content), connections, time."""
    federates = {}
    for name, spec in scenario.federates.items():
        params = dict(spec.params)
        if "fmu" in params:
            params["fmu"] = (scenario.directory / params["fmu"]).read_bytes()
        federates[name] = (spec.type, spec.period, params)
    connections = {(c.source, c.output, c.target, c.input, c.kind, c.interpolate) for c in scenario.connections}
    return {"federates": federates, "connections": connections, "time": scenario.time,
            "routes": {str(r) for r in scenario.routes}}  # fmt: skip


def test_export_then_import_gives_the_same_scenario_and_the_same_run(fmus: dict[str, Path], tmp_path: Path) -> None:
    original = write_scenario(tmp_path, scenario_text(fmus), "system.yaml")
    report = export_ssp(original, tmp_path / "system.ssp")
    assert report.components == ("tank", "gate") and report.left_out == ()
    with zipfile.ZipFile(tmp_path / "system.ssp") as package:
        assert sorted(package.namelist()) == ["SystemStructure.ssd", "resources/SampledTank.fmu",
                                              "resources/SpillwayGate.fmu"]  # fmt: skip
        assert schema_errors(package.read("SystemStructure.ssd")) == []
    back = tmp_path / "back" / "system.yaml"
    back.parent.mkdir()
    imported = import_ssp(tmp_path / "system.ssp", back)
    assert imported.conversions == ("conv",)
    assert essence(load(back)) == essence(load(original))
    first, second = run(original), run(back)
    try:
        recorded = record(first)
        assert recorded == record(second) and len(recorded) == 8
        assert len(set(recorded["gate.gate_opening"][1])) > 10 and len(set(recorded["tank.lvl"][1])) > 10
    finally:
        first.close()
        second.close()


def test_ssp_2_0_export_carries_clock_routes(fmus: dict[str, Path], tmp_path: Path) -> None:
    path = write_scenario(tmp_path, f"""
        time: {{stop: 60, resolution: 1 ms}}
        federates:
          a: {{type: fmu, params: {{fmu: {fmus['SampledTank']}}}}}
          b: {{type: fmu, params: {{fmu: {fmus['SampledTank']}}}}}
        messages:
          - a.alarm -> b.setpoint_change
        """)
    report = export_ssp(path, tmp_path / "one.ssp")
    assert report.left_out == ("message route a.alarm -> b.setpoint_change (SSP 1.0 has no clocks: export with "
                               "--version 2.0)",)  # fmt: skip
    export_ssp(path, tmp_path / "two.ssp", version="2.0")
    with zipfile.ZipFile(tmp_path / "two.ssp") as package:
        text = package.read("SystemStructure.ssd").decode()
        assert 'version="2.0"' in text and '<ssc:Clock />' in text
        assert package.namelist().count("resources/SampledTank.fmu") == 1  # one file for both components
    (tmp_path / "back").mkdir()
    import_ssp(tmp_path / "two.ssp", tmp_path / "back" / "two.yaml")
    assert {str(r) for r in load(tmp_path / "back" / "two.yaml").routes} == {"a.alarm -> b.setpoint_change"}


# ---------------------------------------------------------------------------- a package from another tool
SSD = """<?xml version="1.0" encoding="UTF-8"?>
<ssd:SystemStructureDescription version="{version}" name="grid"
    xmlns:ssd="http://ssp-standard.org/SSP1/SystemStructureDescription"
    xmlns:ssc="http://ssp-standard.org/SSP1/SystemStructureCommon"
    xmlns:ssv="http://ssp-standard.org/SSP1/SystemStructureParameterValues"
    xmlns:ssm="http://ssp-standard.org/SSP1/SystemStructureParameterMapping">
  <ssd:System name="grid">
    <ssd:Elements>
      <ssd:Component name="source" source="resources/Relay.fmu">
        <ssd:Connectors>
          <ssd:Connector name="p_in" kind="input"><ssc:Real unit="MW"/></ssd:Connector>
          <ssd:Connector name="p_out" kind="output"><ssc:Real unit="kW"/></ssd:Connector>
        </ssd:Connectors>
        <ssd:ParameterBindings>
          <ssd:ParameterBinding source="resources/source.ssv">
            <ssd:ParameterMapping>
              <ssm:ParameterMapping version="1.0">
                <ssm:MappingEntry source="Gain" target="gain"/>
                <ssm:MappingEntry source="Demand" target="p_in">
                  <ssc:LinearTransformation factor="0.001"/>
                </ssm:MappingEntry>
              </ssm:ParameterMapping>
            </ssd:ParameterMapping>
          </ssd:ParameterBinding>
        </ssd:ParameterBindings>
      </ssd:Component>
      <ssd:System name="plant">
        <ssd:Connectors>
          <ssd:Connector name="supply" kind="input"><ssc:Real unit="kW"/></ssd:Connector>
          <ssd:Connector name="draw" kind="output"/>
        </ssd:Connectors>
        <ssd:Elements>
          <ssd:Component name="load" source="resources/Relay.fmu">
            <ssd:ParameterBindings>
              <ssd:ParameterBinding><ssd:ParameterValues>
                <ssv:ParameterSet version="1.0" name="load"><ssv:Parameters>
                  <ssv:Parameter name="gain"><ssv:Real value="7"/></ssv:Parameter>
                </ssv:Parameters></ssv:ParameterSet>
              </ssd:ParameterValues></ssd:ParameterBinding>
            </ssd:ParameterBindings>
          </ssd:Component>
        </ssd:Elements>
        <ssd:Connections>
          <ssd:Connection startConnector="supply" endElement="load" endConnector="p_in"/>
          <ssd:Connection startElement="load" startConnector="p_out" endConnector="draw"/>
        </ssd:Connections>
      </ssd:System>
      <ssd:Component name="meter" source="resources/Relay.fmu" implementation="CoSimulation"/>
    </ssd:Elements>
    <ssd:Connections>
      <ssd:Connection startElement="source" startConnector="p_out" endElement="plant" endConnector="supply"/>
      <ssd:Connection startElement="plant" startConnector="draw" endElement="meter" endConnector="p_in"
          suppressUnitConversion="true">
        <ssc:LinearTransformation factor="2" offset="0.25"/>
      </ssd:Connection>
    </ssd:Connections>
    <ssd:ParameterBindings>
      <ssd:ParameterBinding prefix="plant."><ssd:ParameterValues>
        <ssv:ParameterSet version="1.0" name="system"><ssv:Parameters>
          <ssv:Parameter name="load.gain"><ssv:Real value="3"/></ssv:Parameter>
          <ssv:Parameter name="load.no_such_parameter"><ssv:Real value="3"/></ssv:Parameter>
        </ssv:Parameters></ssv:ParameterSet>
      </ssd:ParameterValues></ssd:ParameterBinding>
    </ssd:ParameterBindings>
  </ssd:System>
  <ssd:DefaultExperiment startTime="0" stopTime="4"/>
</ssd:SystemStructureDescription>
"""

SSV = """<?xml version="1.0" encoding="UTF-8"?>
<ssv:ParameterSet version="1.0" name="source" xmlns:ssv="http://ssp-standard.org/SSP1/SystemStructureParameterValues">
  <ssv:Parameters>
    <ssv:Parameter name="Gain"><ssv:Real value="1000"/></ssv:Parameter>
    <ssv:Parameter name="Demand"><ssv:Real value="2500"/></ssv:Parameter>
    <ssv:Parameter name="Unmapped"><ssv:Real value="1"/></ssv:Parameter>
  </ssv:Parameters>
</ssv:ParameterSet>
"""


def package(path: Path, fmus: dict[str, Path], ssd: str, **entries: str) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("SystemStructure.ssd", ssd)
        archive.write(fmus["Relay"], "resources/Relay.fmu")
        for name, text in entries.items():
            archive.writestr(name.replace("__", "/").replace("_ssv", ".ssv"), text)
    return path


@pytest.mark.parametrize("version", ["1.0", "2.0"])
def test_a_package_from_another_tool_imports_to_what_its_ssd_says(fmus: dict[str, Path], tmp_path: Path,
                                                                   version: str) -> None:  # fmt: skip
    """source: p_in = 2500 * 0.001 = 2.5 MW (mapped, transformed), gain 1000 -> p_out = 2500 kW;
    plant.load: p_in = 2500 kW in MW = 2.5 (unit conversion through a system connector), gain 3
    (the system's binding wins over the component's 7) -> p_out = 7.5 kW; meter: p_in = 2 * 7.5 + 0.25."""
    ssp = package(tmp_path / "grid.ssp", fmus, SSD.format(version=version), resources__source_ssv=SSV)
    report = import_ssp(ssp, tmp_path / "grid.yaml", step=1.0)
    assert report.federates == ("source", "plant_load", "meter")
    assert report.ignored == ("plant_load: no_such_parameter",)
    scenario = load(tmp_path / "grid.yaml")
    assert scenario.federates["source"].params["parameters"] == {"gain": 1000.0}
    assert scenario.federates["source"].params["start"] == {"p_in": 2.5}
    assert scenario.federates["plant_load"].params["parameters"] == {"gain": 3.0}
    assert scenario.time.stop == 4.0
    store = run(tmp_path / "grid.yaml")
    try:
        assert store.series("source.p_out").values[-1] == 2500.0
        assert store.series("plant_load_p_in_conversion.y").values[-1] == pytest.approx(2.5, rel=1e-15)  # MW
        assert store.series("plant_load.p_out").values[-1] == pytest.approx(7.5, rel=1e-15)
        assert store.series("meter_p_in_conversion.y").values[-1] == pytest.approx(15.25, rel=1e-15)
        assert store.series("meter.p_out").values[-1] == pytest.approx(15.25, rel=1e-15)  # gain 1
    finally:
        store.close()
    conversions = {name for name, spec in scenario.federates.items() if spec.type == "formula"}
    assert conversions == set(report.conversions) == {"plant_load_p_in_conversion", "meter_p_in_conversion"}


# ---------------------------------------------------------------------------- refusals
@pytest.mark.parametrize("edit, expected", [
    (('endElement="meter"', 'endElement="metre"'),
     r"grid\.ssp/SystemStructure\.ssd:\d+: System 'grid': a connection names element 'metre'"),
    (('<ssc:LinearTransformation factor="2" offset="0.25"/>',
      '<ssc:BooleanMappingTransformation><ssc:MapEntry source="true" target="false"/></ssc:BooleanMappingTransformation>'),
     r"SystemStructure\.ssd:\d+: System 'grid'/Connection plant\.draw -> meter\.p_in: BooleanMappingTransformation "
     r"is not supported"),
    (('endElement="meter" endConnector="p_in"', 'endElement="meter" endConnector="p_input"'),
     r"Component 'meter': connector 'p_input' is not a variable of FMU 'Relay'"),
    (('startConnector="p_out" endElement="plant"', 'startConnector="length" endElement="plant"'),
     r"length.*m \(m\^1\) and MW \(kg\^1·m\^2·s\^-3\) are not the same quantity|m \(m\^1\) and MW"),
    (('<ssd:Component name="meter" source="resources/Relay.fmu"', '<ssd:Component name="meter" source="../../Relay.fmu"'),
     r"Component 'meter': source '\.\./\.\./Relay\.fmu': only relative URIs inside the package are read"),
])  # fmt: skip
def test_what_cannot_be_imported_is_refused_with_file_line_and_element(fmus: dict[str, Path], tmp_path: Path,
                                                                       edit: tuple[str, str], expected: str) -> None:  # fmt: skip
    text = SSD.format(version="1.0")
    assert edit[0] in text
    ssp = package(tmp_path / "grid.ssp", fmus, text.replace(edit[0], edit[1]), resources__source_ssv=SSV)
    with pytest.raises(ScenarioError, match=expected):
        import_ssp(ssp, tmp_path / "grid.yaml", step=1.0)


def test_cli_imports_and_exports_and_reports_a_bad_package_in_one_line(fmus: dict[str, Path], tmp_path: Path) -> None:
    def federation(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "federation.app.cli", *args], capture_output=True, text=True,
                              timeout=90, cwd=tmp_path, env={**os.environ})  # fmt: skip

    ssp = package(tmp_path / "grid.ssp", fmus, SSD.format(version="1.0"), resources__source_ssv=SSV)
    done = federation("import-ssp", str(ssp), "-o", "grid.yaml", "--step", "1")
    assert done.returncode == 0, done.stderr
    assert "wrote grid.yaml: 3 FMU federates, 4 connections, 0 message routes" in done.stdout
    assert "meter_p_in_conversion: a formula federate" in done.stdout
    again = federation("import-ssp", str(ssp), "-o", "grid.yaml")
    assert again.returncode == 2 and "grid.yaml exists; use --force" in again.stderr
    ran = federation("run", "grid.yaml", "--out", "grid.sqlite", "-q")
    assert ran.returncode == 0, ran.stderr
    exported = federation("export-ssp", "grid.yaml", "-o", "again.ssp")
    assert exported.returncode == 0, exported.stderr
    assert "wrote again.ssp: 3 components, 2 connections" in exported.stdout
    broken = package(tmp_path / "broken.ssp", fmus, SSD.format(version="1.0").replace("</ssd:System>\n  <ssd:Def", "<ssd:Def"))
    bad = federation("import-ssp", str(broken), "-o", "broken.yaml")
    assert bad.returncode == 2
    assert bad.stderr.startswith("broken.ssp/SystemStructure.ssd:") and "not well-formed" in bad.stderr
    assert "Traceback" not in bad.stderr and len(bad.stderr.strip().splitlines()) == 1


# ---------------------------------------------------------------------------- type: ssp
def tables(path: Path) -> dict[str, list[Any]]:
    """Every table of a store but the run's own facts (times, paths, process ids), row by row."""
    import sqlite3

    with sqlite3.connect(path) as db:
        names = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        out = {name: db.execute(f"SELECT * FROM {name} ORDER BY rowid").fetchall() for name in names
               if name not in {"run", "federates"}}  # fmt: skip
        out["federates"] = db.execute("SELECT name, type, period, grants, status FROM federates ORDER BY id").fetchall()
    return out


def test_type_ssp_runs_the_package_as_import_ssp_would(fmus: dict[str, Path], tmp_path: Path) -> None:
    """``plant: {type: ssp}`` stands for the scenario ``import-ssp`` writes, names prefixed ``plant_``:
    the two runs store the same tables, row for row."""
    ssp = package(tmp_path / "grid.ssp", fmus, SSD.format(version="1.0"), resources__source_ssv=SSV)
    import_ssp(ssp, tmp_path / "imported.yaml", step=1.0, prefix="plant_")
    imported = load(tmp_path / "imported.yaml")
    assert set(imported.federates) == {"plant_source", "plant_plant_load", "plant_meter", "plant_meter_p_in_conversion",
                                       "plant_plant_load_p_in_conversion"}  # fmt: skip
    direct = write_scenario(tmp_path, f"""
        time: {{stop: {imported.time.stop}, resolution: {imported.time.resolution}}}
        federates:
          plant: {{type: ssp, ssp: grid.ssp, step: 1 s}}
        """, "direct.yaml")  # fmt: skip
    scenario = load(direct)
    assert set(scenario.federates) == set(imported.federates)
    assert {str(c) for c in scenario.connections} == {str(c) for c in imported.connections}
    assert scenario.federates["plant_source"].line == 4
    run(tmp_path / "imported.yaml").close()
    store = run(direct)
    try:
        assert store.series("plant_meter.p_out").values[-1] == pytest.approx(15.25, rel=1e-15)
    finally:
        store.close()
    first, second = tables(tmp_path / "imported.sqlite"), tables(tmp_path / "direct.sqlite")
    assert first.keys() == second.keys() and len(first["samples"]) >= 7  # recorded on change
    for name in first:
        assert first[name] == second[name], name


SYSTEM_SSD = """<?xml version="1.0" encoding="UTF-8"?>
<ssd:SystemStructureDescription version="1.0" name="plant"
    xmlns:ssd="http://ssp-standard.org/SSP1/SystemStructureDescription"
    xmlns:ssc="http://ssp-standard.org/SSP1/SystemStructureCommon"
    xmlns:ssv="http://ssp-standard.org/SSP1/SystemStructureParameterValues">
  <ssd:System name="plant">
    <ssd:Connectors>
      <ssd:Connector name="demand" kind="input"><ssc:Real unit="MW"/></ssd:Connector>
      <ssd:Connector name="draw" kind="output"><ssc:Real unit="kW"/></ssd:Connector>
    </ssd:Connectors>
    <ssd:Elements>
      <ssd:Component name="load" source="resources/Relay.fmu">
        <ssd:ParameterBindings>
          <ssd:ParameterBinding><ssd:ParameterValues>
            <ssv:ParameterSet version="1.0" name="load"><ssv:Parameters>
              <ssv:Parameter name="gain"><ssv:Real value="4"/></ssv:Parameter>
            </ssv:Parameters></ssv:ParameterSet>
          </ssd:ParameterValues></ssd:ParameterBinding>
        </ssd:ParameterBindings>
      </ssd:Component>
    </ssd:Elements>
    <ssd:Connections>
      <ssd:Connection startConnector="demand" endElement="load" endConnector="p_in"/>
      <ssd:Connection startElement="load" startConnector="p_out" endConnector="draw"/>
    </ssd:Connections>
  </ssd:System>
</ssd:SystemStructureDescription>
"""


def test_other_federates_connect_to_the_systems_connectors(fmus: dict[str, Path], tmp_path: Path) -> None:
    """demand (2 MW, a formula) -> plant.demand -> load.p_in; gain 4 -> load.p_out = 8 -> plant.draw -> meter."""
    package(tmp_path / "plant.ssp", fmus, SYSTEM_SSD)
    path = write_scenario(tmp_path, """
        time: {stop: 3, resolution: 1 s}
        federates:
          demand: {type: formula, params: {outputs: {p: {expr: "2.0", unit: MW}}}}
          plant: {type: ssp, ssp: plant.ssp, step: 1}
          meter: {type: formula, params: {inputs: {u: {unit: kW}}, outputs: {y: {expr: "u"}}}}
        connections:
          - demand.p -> plant.demand
          - plant.draw -> meter.u
          - plant.load.length -> meter.unused
        """)  # fmt: skip
    with pytest.raises(ScenarioError, match=r"scenario\.yaml:10:5: connections\[2\].*meter.*unused"):
        load(path)
    path.write_text(path.read_text().replace("  - plant.load.length -> meter.unused\n", ""))
    scenario = load(path)
    assert {str(c) for c in scenario.connections} == {"demand.p -> plant_load.p_in", "plant_load.p_out -> meter.u"}
    store = run(path)
    try:
        assert store.series("plant_load.p_out").values[-1] == 8.0
        assert store.series("meter.y").values[-1] == 8.0
    finally:
        store.close()


@pytest.mark.parametrize("federate, expected", [
    ("{type: ssp, ssp: missing.ssp}", r"scenario\.yaml:4:\d+: federates\.plant\.ssp: system 'plant': SSP package "
                                      r"'missing\.ssp' does not exist"),
    ("{type: ssp, params: {ssp: plant.ssp, stpe: 1}}", r"scenario\.yaml:4:\d+: federates\.plant\.params\.stpe: .*unknown "
                                                       r"key 'stpe'"),
    ("{type: ssp, ssp: broken.ssp, step: 1}", r"broken\.ssp/SystemStructure\.ssd:\d+: .*not well-formed"),
    ("{type: ssp, ssp: wrong.ssp}", r"wrong\.ssp/SystemStructure\.ssd:6: System 'plant': a connection names "
                                    r"element 'lod'"),
])  # fmt: skip
def test_type_ssp_problems_name_the_file_and_line(fmus: dict[str, Path], tmp_path: Path, federate: str,
                                                  expected: str) -> None:  # fmt: skip
    package(tmp_path / "plant.ssp", fmus, SYSTEM_SSD)
    package(tmp_path / "broken.ssp", fmus, SYSTEM_SSD.replace("</ssd:Elements>", ""))
    package(tmp_path / "wrong.ssp", fmus, SYSTEM_SSD.replace('endElement="load"', 'endElement="lod"'))
    path = write_scenario(tmp_path, f"""
        time: {{stop: 3, resolution: 1 s}}
        federates:
          plant: {federate}
        """)  # fmt: skip
    with pytest.raises(ScenarioError, match=expected):
        load(path)
