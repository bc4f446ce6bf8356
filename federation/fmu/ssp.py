"""SSP packages (``.ssp``, SSP 1.0 / 2.0) to scenarios and back.

* :func:`import_ssp` reads ``SystemStructure.ssd`` of a package and writes a scenario with
  one FMU federate per component (nested systems flattened, their connectors followed), the
  connections, the parameter values of the bindings (``parameters:`` for FMU parameters,
  ``start:`` for other start values) and the run's time; the FMUs are unpacked beside the
  scenario.  A connection with a linear transformation or a unit conversion goes through a
  ``formula`` federate that computes ``target = k * source + c`` (connections cannot carry
  a transformation yet).  A connection of two clocks is a message route.
* :func:`export_ssp` writes the FMU part of a scenario as a package: the FMUs under
  ``resources/``, one component per FMU federate with its connectors and parameter values,
  the connections between them (a ``formula`` federate of that linear form between two FMUs
  becomes the connection's ``LinearTransformation`` again) and the default experiment.

The federation's own settings (step, solver, signal names, periods, delayed connections,
time resolution) travel in an annotation (:data:`~federation.fmu.ssd.ANNOTATION`), so that
exporting and importing again gives the same scenario.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import Problem, ScenarioError

__all__ = ["SSD_FILE", "ExportReport", "ImportReport", "export_ssp", "import_ssp"]

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


def import_ssp(package: str | Path, out: str | Path, *, step: float | None = None,
               stop: float | None = None) -> ImportReport:  # fmt: skip
    """Write the scenario of the SSP ``package`` to ``out`` (its FMUs beside it); see the module docstring."""
    from .ssp_import import Importer

    return Importer(Path(package), Path(out), step=step, stop=stop).run()


def export_ssp(scenario: str | Path, out: str | Path, *, version: str = "1.0") -> ExportReport:
    """Write the FMU part of ``scenario`` as the SSP package ``out``; see the module docstring."""
    from .ssp_export import Exporter

    return Exporter(Path(scenario), Path(out), version).run()
