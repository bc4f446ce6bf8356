"""Vendor FMUs (FMI 2.0 and 3.0, Co-Simulation and Model Exchange) as federates.

fmpy reads and validates model descriptions (once per FMU content: :mod:`.cache`) and
integrates Model Exchange FMUs with CVode; the FMI calls go through this package's own
ctypes binding (:mod:`.binding`).  The package maps variables to federation signals and
FMI 3 clocks to message endpoints (:mod:`.clocks`, :mod:`.activation`), steps the FMU on
the federation's clock, saves and restores its state for iterate groups, turns failures
into :class:`FMUError` messages that name the FMU, the function, the time and the status,
and reads and writes SSP packages (:mod:`.ssp`).
"""

from __future__ import annotations

from .errors import FmiCallError, FmiStatus, FMUError
from .federate import FmuFederate, FmuSpec
from .inspect import inspect_fmu
from .loader import FmiVersion, FmuArchive, InterfaceKind, read_fmu
from .modelexchange import SolverKind, SolverSpec

__all__ = [
    "FMUError",
    "FmiCallError",
    "FmiStatus",
    "FmiVersion",
    "FmuArchive",
    "FmuFederate",
    "FmuSpec",
    "InterfaceKind",
    "SolverKind",
    "SolverSpec",
    "inspect_fmu",
    "read_fmu",
]
