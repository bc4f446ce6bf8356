"""Opening an FMU file: checks, model description, platforms, extraction.

:func:`read_fmu` reads only ``modelDescription.xml`` (cheap, and kept in the FMU cache by
the file's content hash, :mod:`federation.fmu.cache`), so ``declare()`` can call it: fmpy
parses and validates the file the first time, and later reads (a federate process, the
next run) load the cached :class:`~federation.fmu.model.ModelInfo` without fmpy.
:class:`ExtractedFmu` gives the folder with the binaries and resources: the cache's
shared copy, or a private temporary folder (removed on :meth:`ExtractedFmu.close`) when
the cache is off.
"""

from __future__ import annotations

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

from .binding import FMI2_PLATFORM, FMI3_PLATFORM, LIBRARY_SUFFIX
from .cache import FmuCache, cache, cache_root, extract
from .errors import FMUError
from .model import FmiVersion, InterfaceInfo, InterfaceKind, ModelInfo

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = ["TEMP_PREFIX", "ExtractedFmu", "FmiVersion", "FmuArchive", "InterfaceKind", "read_fmu"]

log = logging.getLogger(__name__)

TEMP_PREFIX = "federation-fmu-"


@dataclass(frozen=True, eq=False)
class FmuArchive:
    """An FMU file whose model description has been read."""

    path: Path
    model: ModelInfo
    version: FmiVersion
    kinds: tuple[InterfaceKind, ...]
    platforms: tuple[str, ...]
    validated: bool
    key: str | None = None  # the content hash, when the cache is on

    @property
    def name(self) -> str:
        return self.model.model_name

    @property
    def label(self) -> str:
        """How errors name the FMU: model name and file."""
        return f"FMU '{self.name}' ({self.path.name})"

    @property
    def fmi3(self) -> bool:
        return self.version is FmiVersion.FMI3

    def interface(self, kind: InterfaceKind) -> InterfaceInfo:
        """The CoSimulation / ModelExchange interface of ``kind`` (one the FMU offers)."""
        found = self.model.interface(kind)
        if found is None:
            raise FMUError(f"{self.label} does not implement {kind.value}")
        return found

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
        if FMI2_PLATFORM in self.platforms:
            return
        have = ", ".join(self.platforms) or "none"
        hint = (" It ships C sources: compile them first, e.g. `python -m fmpy compile FILE`."
                if "c-code" in self.platforms else "")  # fmt: skip
        raise FMUError(f"{self.label} has no binary for this platform ({FMI2_PLATFORM}); "
                       f"platforms in the FMU: {have}.{hint}")  # fmt: skip

    def library(self, folder: Path, kind: InterfaceKind) -> Path:
        """The shared library of ``kind`` in an extracted ``folder``."""
        name = self.interface(kind).model_identifier + LIBRARY_SUFFIX
        first, second = (FMI3_PLATFORM, FMI2_PLATFORM) if self.fmi3 else (FMI2_PLATFORM, FMI3_PLATFORM)
        for platform in (first, second):
            candidate = folder / "binaries" / platform / name
            if candidate.is_file():
                return candidate
        raise FMUError(f"{self.label}: binaries/{first}/{name} is not in the FMU")

    @property
    def clocks(self) -> tuple[str, ...]:
        """Names of the FMU's Clock variables (FMI 3)."""
        return tuple(c.name for c in self.model.clocks)

    @property
    def unsupported(self) -> str | None:
        """Why the adapter cannot run this FMU, or ``None`` when it can."""
        if not self.kinds and self.model.scheduled_execution:
            return (f"{self.label} offers only Scheduled Execution, which the adapter does not run "
                    "(it runs Co-Simulation and Model Exchange)")  # fmt: skip
        return None

    def require_supported(self) -> None:
        """Raise unless the adapter can run this FMU (:attr:`unsupported` says why not)."""
        if self.unsupported is not None:
            raise FMUError(self.unsupported)

    @property
    def default_step(self) -> float | None:
        experiment = self.model.experiment
        return None if experiment is None else experiment.step

    @property
    def default_tolerance(self) -> float | None:
        experiment = self.model.experiment
        return None if experiment is None else experiment.tolerance


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
    return _read_cached(str(file), stat.st_mtime_ns, stat.st_size, validate, str(cache_root()))


@functools.lru_cache(maxsize=64)
def _read_cached(file: str, mtime_ns: int, size: int, validate: bool, root: str) -> FmuArchive:
    path = Path(file)
    names = _check_archive(path)
    store = cache()
    key = store.key(path) if store is not None else None
    model, validated = _model(path, validate, store, key)
    version = FmiVersion.parse(model.fmi_version, path.name)
    kinds = tuple(i.kind for i in model.interfaces)
    if not kinds and not model.scheduled_execution:
        raise FMUError(f"{path.name}: the model description declares neither CoSimulation nor ModelExchange")
    return FmuArchive(path, model, version, kinds, _platforms(names), validated, key)


def _model(path: Path, validate: bool, store: FmuCache | None, key: str | None) -> tuple[ModelInfo, bool]:
    """The model description: from the cache when it holds one read with enough validation, else parsed."""
    if store is not None and key is not None:
        data = store.load_model(key)
        if data is not None and (data.get("validated") or not validate):
            try:
                return ModelInfo.from_json(data["model"]), bool(data["validated"])
            except (KeyError, TypeError, ValueError) as exc:
                log.debug("%s: cached model description unusable (%s); reading the file", path.name, exc)
    model, validated = _read_description(path, validate)
    if store is not None and key is not None:
        try:
            store.store_model(key, {"validated": validated, "model": model.to_json()})
        except OSError as exc:
            log.debug("%s: cannot cache the model description: %s", path.name, exc)
    return model, validated


def _check_archive(path: Path) -> list[str]:
    if not zipfile.is_zipfile(path):
        raise FMUError(f"{path} is not an FMU: it is not a ZIP archive")
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
    if "modelDescription.xml" not in names:
        shown = ", ".join(names[:8]) + (", ..." if len(names) > 8 else "")
        raise FMUError(f"{path} is not an FMU: it has no modelDescription.xml (entries: {shown or 'none'})")
    return names


_LINUX64 = ("linux64", "aarch64-linux") if FMI3_PLATFORM.startswith("aarch64") else ("linux64", "x86_64-linux")
_FOLDERS = {"c-code": (), "darwin64": ("darwin64", "aarch64-darwin", "x86_64-darwin"),
            "linux32": ("linux32", "i686-linux", "x86-linux"), "linux64": _LINUX64,
            "win32": ("win32", "x86-windows"), "win64": ("win64", "x86_64-windows")}  # fmt: skip
_SUFFIXES = {"darwin64": ".dylib", "linux32": ".so", "linux64": ".so", "win32": ".dll", "win64": ".dll"}


def _platforms(names: list[str]) -> tuple[str, ...]:
    """The platforms with a binary in the archive (fmpy's names), and ``c-code`` when it ships C sources."""
    found = []
    if any(n.startswith("sources/") and n.endswith(".c") and n.count("/") == 1 for n in names):
        found.append("c-code")
    for platform, folders in _FOLDERS.items():
        suffix = _SUFFIXES.get(platform)
        if suffix and any(n.rsplit("/", 1)[0] in {f"binaries/{f}" for f in folders} and n.endswith(suffix)
                          for n in names):  # fmt: skip
            found.append(platform)
    return tuple(found)


def _read_description(path: Path, validate: bool) -> tuple[ModelInfo, bool]:
    """Parse with fmpy (which validates); its problems become an FMUError, or a warning with ``validate=False``."""
    from fmpy.model_description import ValidationError, read_model_description

    from .model import from_fmpy

    with zipfile.ZipFile(path) as archive:
        xml = archive.read("modelDescription.xml")
    try:
        return from_fmpy(read_model_description(str(path), validate=True), xml), True
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
        return from_fmpy(read_model_description(str(path), validate=False), xml), False
    except Exception as exc:
        raise FMUError(f"{path.name}: cannot read modelDescription.xml: {exc}") from exc


class ExtractedFmu:
    """The binaries and resources of an FMU: the cache's shared copy, or a private temporary folder."""

    def __init__(self, archive: FmuArchive) -> None:
        archive.require_binary()
        self.archive = archive
        self._cleanup: Any = None
        store = cache() if archive.key is not None else None
        self.cached = store is not None
        try:
            if store is not None and archive.key is not None:
                self.directory = store.extracted(archive.key, archive.path)
                return
            self.directory = Path(tempfile.mkdtemp(prefix=TEMP_PREFIX))
            self._cleanup = weakref.finalize(self, shutil.rmtree, str(self.directory), True)
            extract(archive.path, self.directory)
        except (OSError, zipfile.BadZipFile) as exc:
            self.close()
            raise FMUError(f"{archive.label}: cannot extract: {exc}") from exc

    def close(self) -> None:
        """Remove a private folder (idempotent); the cache's copy stays for the next run."""
        if self._cleanup is not None:
            self._cleanup()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
