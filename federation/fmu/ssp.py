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

from pathlib import Path

from .ssd import SSD_FILE, ExportReport, ImportReport
from .ssp_export import Exporter
from .ssp_import import Importer

__all__ = ["SSD_FILE", "ExportReport", "ImportReport", "export_ssp", "import_ssp"]

def import_ssp(package: str | Path, out: str | Path, *, step: float | None = None,
               stop: float | None = None, prefix: str = "") -> ImportReport:  # fmt: skip
    """Write the scenario of the SSP ``package`` to ``out`` (its FMUs beside it); see the module docstring.

    ``prefix`` goes in front of every federate's name (``plant_`` gives the names ``type: ssp`` gives
    a federate ``plant``)."""
    return Importer(Path(package), Path(out), step=step, stop=stop, prefix=prefix).run()


def export_ssp(scenario: str | Path, out: str | Path, *, version: str = "1.0") -> ExportReport:
    """Write the FMU part of ``scenario`` as the SSP package ``out``; see the module docstring."""
    return Exporter(Path(scenario), Path(out), version).run()
