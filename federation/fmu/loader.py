"""Opening an FMU file: checks, model description, platforms, extraction.

:func:`read_fmu` only reads ``modelDescription.xml`` from the archive (cheap, cached),
so ``declare()`` can call it; :class:`ExtractedFmu` unpacks the binaries into a
temporary folder that is removed on :meth:`ExtractedFmu.close` (or at exit).
"""

from __future__ import annotations

import enum
import functools
import logging
import os
import shutil
import tempfile
import weakref
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import fmpy
from fmpy.model_description import ModelDescription, ValidationError, read_model_description

from .errors import FMUError

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = ["TEMP_PREFIX", "ExtractedFmu", "FmiVersion", "FmuArchive", "InterfaceKind", "read_fmu"]

log = logging.getLogger(__name__)

TEMP_PREFIX = "federation-fmu-"


class FmiVersion(enum.Enum):
    """The FMI standards the adapter runs."""

    FMI2 = "2.0"
    FMI3 = "3.0"

    @classmethod
    def parse(cls, text: str, fmu: str) -> FmiVersion:
        major = text.split(".")[0]
        for version in cls:
            if version.value.split(".")[0] == major:
                return version
        raise FMUError(f"{fmu}: FMI version {text} is not supported (only 2.0 and 3.0)")


class InterfaceKind(enum.Enum):
    """How an FMU is simulated; the values are fmpy's ``fmi_type`` names."""

    CO_SIMULATION = "CoSimulation"
    MODEL_EXCHANGE = "ModelExchange"

    @classmethod
    def parse(cls, text: str) -> InterfaceKind:
        key = text.strip().lower().replace("_", "-").replace(" ", "-")
        aliases = {"cs": cls.CO_SIMULATION, "co-simulation": cls.CO_SIMULATION, "cosimulation": cls.CO_SIMULATION,
                   "me": cls.MODEL_EXCHANGE, "model-exchange": cls.MODEL_EXCHANGE,
                   "modelexchange": cls.MODEL_EXCHANGE}  # fmt: skip
        if key not in aliases:
            raise FMUError(f"interface {text!r} is not one of: co-simulation, model-exchange")
        return aliases[key]

    @property
    def short(self) -> str:
        return "CS" if self is InterfaceKind.CO_SIMULATION else "ME"


@dataclass(frozen=True, eq=False)
class FmuArchive:
    """An FMU file whose model description has been read."""

    path: Path
    model: ModelDescription
    version: FmiVersion
    kinds: tuple[InterfaceKind, ...]
    platforms: tuple[str, ...]
    validated: bool

    @property
    def name(self) -> str:
        return str(self.model.modelName)

    @property
    def label(self) -> str:
        """How errors name the FMU: model name and file."""
        return f"FMU '{self.name}' ({self.path.name})"

    def interface(self, kind: InterfaceKind) -> Any:
        """fmpy's CoSimulation / ModelExchange element for ``kind``."""
        return self.model.coSimulation if kind is InterfaceKind.CO_SIMULATION else self.model.modelExchange

    def pick_kind(self, wanted: InterfaceKind | None) -> InterfaceKind:
        """``wanted`` if the FMU offers it; by default co-simulation when offered."""
        if wanted is None:
            return self.kinds[0]
        if wanted not in self.kinds:
            offered = ", ".join(k.value for k in self.kinds)
            raise FMUError(f"{self.label} does not implement {wanted.value}; it offers: {offered}")
        return wanted

    def require_binary(self) -> None:
        """Raise unless the archive holds a binary for this machine."""
        if fmpy.platform in self.platforms:
            return
        have = ", ".join(self.platforms) or "none"
        hint = (" It ships C sources: compile them first, e.g. `python -m fmpy compile FILE`."
                if "c-code" in self.platforms else "")  # fmt: skip
        raise FMUError(f"{self.label} has no binary for this platform ({fmpy.platform}); "
                       f"platforms in the FMU: {have}.{hint}")  # fmt: skip

    @property
    def clocks(self) -> tuple[str, ...]:
        """Names of the FMU's Clock variables (FMI 3)."""
        return tuple(v.name for v in self.model.modelVariables if v.type == "Clock")

    @property
    def unsupported(self) -> str | None:
        """Why the adapter cannot run this FMU faithfully, or ``None`` when it can."""
        if self.clocks:
            return (f"{self.label} has Clock variables ({', '.join(self.clocks)}); clocks are not supported yet, "
                    "and running it with its clocks never ticking would give wrong results")  # fmt: skip
        return None

    def require_supported(self) -> None:
        """Raise unless the adapter can run this FMU (:attr:`unsupported` says why not)."""
        if self.unsupported is not None:
            raise FMUError(self.unsupported)

    @property
    def default_step(self) -> float | None:
        experiment = self.model.defaultExperiment
        if experiment is None or experiment.stepSize is None:
            return None
        return float(experiment.stepSize)

    @property
    def default_tolerance(self) -> float | None:
        experiment = self.model.defaultExperiment
        if experiment is None or experiment.tolerance is None:
            return None
        return float(experiment.tolerance)


def read_fmu(path: str | os.PathLike[str], *, validate: bool = True) -> FmuArchive:
    """Open ``path`` and read its model description; every failure is an :class:`FMUError`.

    With ``validate=False`` a model description that fails fmpy's schema or semantic
    validation is still loaded, and the problems are logged as a warning.
    """
    file = Path(path).expanduser().resolve()
    if not file.is_file():
        what = "is a directory, not an FMU file" if file.is_dir() else "does not exist"
        raise FMUError(f"FMU file {file} {what}")
    stat = file.stat()
    return _read_cached(str(file), stat.st_mtime_ns, stat.st_size, validate)


@functools.lru_cache(maxsize=64)
def _read_cached(file: str, mtime_ns: int, size: int, validate: bool) -> FmuArchive:
    path = Path(file)
    _check_archive(path)
    model, validated = _read_description(path, validate)
    version = FmiVersion.parse(str(model.fmiVersion), path.name)
    kinds = tuple(k for k in InterfaceKind if (model.coSimulation if k is InterfaceKind.CO_SIMULATION
                                               else model.modelExchange) is not None)  # fmt: skip
    if not kinds:
        raise FMUError(f"{path.name}: the model description declares neither CoSimulation nor ModelExchange")
    platforms = tuple(fmpy.supported_platforms(file))
    return FmuArchive(path, model, version, kinds, platforms, validated)


def _check_archive(path: Path) -> None:
    if not zipfile.is_zipfile(path):
        raise FMUError(f"{path} is not an FMU: it is not a ZIP archive")
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
    if "modelDescription.xml" not in names:
        shown = ", ".join(names[:8]) + (", ..." if len(names) > 8 else "")
        raise FMUError(f"{path} is not an FMU: it has no modelDescription.xml (entries: {shown or 'none'})")


def _read_description(path: Path, validate: bool) -> tuple[ModelDescription, bool]:
    try:
        return read_model_description(str(path), validate=True), True
    except ValidationError as exc:
        problems = "\n  ".join(str(p) for p in exc.problems)
        if validate:
            raise FMUError(f"{path.name}: modelDescription.xml failed validation:\n  {problems}\n"
                           "Set 'validate: false' in the federate's params to load it anyway.") from exc  # fmt: skip
        log.warning("%s: loading a model description that fails validation:\n  %s", path.name, problems)
    except FMUError:
        raise
    except Exception as exc:  # fmpy raises bare Exception and lxml errors for unreadable XML
        if validate:
            raise FMUError(f"{path.name}: cannot read modelDescription.xml: {exc}") from exc
        log.warning("%s: model description does not validate (%s); loading without validation", path.name, exc)
    try:
        return read_model_description(str(path), validate=False), False
    except Exception as exc:
        raise FMUError(f"{path.name}: cannot read modelDescription.xml: {exc}") from exc


class ExtractedFmu:
    """The binaries and resources of an FMU unpacked into a private temporary folder."""

    def __init__(self, archive: FmuArchive) -> None:
        archive.require_binary()
        self.archive = archive
        self.directory = Path(tempfile.mkdtemp(prefix=TEMP_PREFIX))
        self._cleanup = weakref.finalize(self, shutil.rmtree, str(self.directory), True)
        try:
            fmpy.extract(str(archive.path), str(self.directory),
                         include=lambda name: name.startswith(("binaries/", "resources/")))  # fmt: skip
        except Exception as exc:
            self.close()
            raise FMUError(f"{archive.label}: cannot extract: {exc}") from exc

    def close(self) -> None:
        """Remove the folder (idempotent)."""
        self._cleanup()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
