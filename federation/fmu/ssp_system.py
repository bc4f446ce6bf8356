"""``type: ssp``: an SSP package run directly from a scenario (see :mod:`federation.scenario.systems`).

``plant: {type: ssp, ssp: plant.ssp, step: 0.01 s}`` stands for what ``federation import-ssp
plant.ssp --step 0.01`` would write, with every federate's name prefixed ``plant_`` (the
components of nested systems joined by ``_`` as there): one FMU federate per component, the
connections (with ``formula`` federates for unit conversions and linear transformations), the
message routes of clock connections and the parameter values.  The scenario's ``time:`` governs
the run (the package's default experiment is not used).  The package is unpacked once per
content into the cache folder beside the FMU cache (``…/federation/ssp/<sha256>/``), or into a
temporary folder removed when the process ends if the FMU cache is off.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..scenario.model import parse_duration
from ..scenario.systems import ConnectorKind, SystemConnector, SystemExpansion, SystemSpecError
from .cache import cache
from .ssp_import import _SOURCE_KINDS, Importer

__all__ = ["expand"]

_KEYS = ("ssp", "step")


def expand(name: str, settings: Mapping[str, Any], directory: Path) -> SystemExpansion:
    """The federates, connections and routes the system federate ``name`` stands for."""
    unknown = sorted(set(settings) - set(_KEYS))
    if unknown:
        raise SystemSpecError((unknown[0],), f"unknown key {unknown[0]!r} (a system of type ssp takes: "
                                             f"{', '.join(_KEYS)})")  # fmt: skip
    package = settings.get("ssp")
    if not isinstance(package, str) or not package:
        raise SystemSpecError(("ssp",), "missing: the SSP package to run (ssp: plant.ssp)")
    path = Path(package) if Path(package).is_absolute() else directory / package
    if not path.is_file():
        raise SystemSpecError(("ssp",), f"SSP package {package!r} does not exist ({path})")
    step = None
    if settings.get("step") is not None:
        try:
            step = parse_duration(settings["step"], "s")
        except ValueError as exc:
            raise SystemSpecError(("step",), str(exc)) from None
        if not step > 0:
            raise SystemSpecError(("step",), f"must be positive, got {settings['step']!r}")
    importer = Importer(path, directory / f"{name}.yaml", step=step, stop=None, prefix=f"{name}_",
                        folder=_unpacked(path))  # fmt: skip
    structure = importer.read()
    federates, wiring, _ = importer.parts(structure)
    connectors = {}
    for connector in structure.system.connectors:
        kind = ConnectorKind.OUTPUT if connector.kind in _SOURCE_KINDS else ConnectorKind.INPUT
        connectors[connector.name] = SystemConnector(connector.name, kind,
                                                     tuple(wiring.system_connector(connector)))  # fmt: skip
    components = {".".join(member.path): member.federate for member in importer.members.values()}
    iterate = structure.settings.get("iterate") or {}
    return SystemExpansion(federates, tuple(wiring.connections), tuple(wiring.routes), dict(iterate), connectors,
                           components)  # fmt: skip


def _unpacked(package: Path) -> Path:
    """The folder the package is unpacked in, once per content."""
    found = cache()
    if found is None:
        folder = Path(tempfile.mkdtemp(prefix="federation-ssp-"))
        atexit.register(shutil.rmtree, folder, True)
        _extract(package, folder)
        return folder
    folder = found.root.parent / "ssp" / found.key(package)
    if not folder.is_dir():
        folder.parent.mkdir(parents=True, exist_ok=True)
        scratch = Path(tempfile.mkdtemp(prefix=".unpack-", dir=folder.parent))
        try:
            _extract(package, scratch)
            os.rename(scratch, folder)
        except OSError:
            if not folder.is_dir():  # not a lost race with another process: a real failure
                raise
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    return folder


def _extract(package: Path, folder: Path) -> None:
    """The package's FMUs (entries ending in .fmu that stay inside ``folder``); not a ZIP: nothing."""
    if not zipfile.is_zipfile(package):
        return  # the importer reports it, naming the package
    root = folder.resolve()
    with zipfile.ZipFile(package) as archive:
        for info in archive.infolist():
            target = (root / info.filename).resolve()
            if info.filename.endswith(".fmu") and root in target.parents:
                archive.extract(info, root)
