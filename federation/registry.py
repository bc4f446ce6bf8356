"""Finds the federate class a scenario's ``type:`` names.

Three spellings are accepted:

* a short name registered in the entry-point group ``federation.federates``
  (``flood``, ``grid``, ``fmu`` ... and any installed plugin);
* ``package.module:Class`` on the import path (the scenario's folder is added to it);
* ``path/to/file.py:Class`` relative to the scenario's folder.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.util
import sys
from functools import lru_cache
from pathlib import Path

from .federate import Federate

__all__ = ["ENTRY_POINT_GROUP", "FederateTypeError", "resolve", "registered"]

ENTRY_POINT_GROUP = "federation.federates"


class FederateTypeError(LookupError):
    """The ``type:`` of a federate cannot be found or is not a Federate subclass."""


@lru_cache(maxsize=1)
def registered() -> dict[str, str]:
    """Short names of installed federate classes -> ``module:Class``."""
    from importlib.metadata import entry_points  # slow to import and to scan: only for short names

    return {ep.name: ep.value for ep in entry_points(group=ENTRY_POINT_GROUP)}


def resolve(type_name: str, base_dir: Path | str | None = None) -> type[Federate]:
    """Return the class for ``type_name``; raise :class:`FederateTypeError` with a hint."""
    target = type_name if ":" in type_name else registered().get(type_name, type_name)
    if ":" not in target:
        close = difflib.get_close_matches(type_name, list(registered()), n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else f"; known short names: {', '.join(sorted(registered()))}"
        raise FederateTypeError(f"unknown federate type {type_name!r} (use a short name or 'module:Class'){hint}")
    module_name, _, class_name = target.rpartition(":")
    module = _import(module_name, Path(base_dir) if base_dir else None)
    cls = getattr(module, class_name, None)
    if cls is None:
        raise FederateTypeError(f"module {module_name!r} has no class {class_name!r}")
    if not (isinstance(cls, type) and issubclass(cls, Federate)):
        raise FederateTypeError(f"{target!r} is not a subclass of federation.Federate")
    return cls


def _import(module_name: str, base_dir: Path | None) -> object:
    if module_name.endswith(".py"):
        path = Path(module_name)
        if not path.is_absolute() and base_dir is not None:
            path = base_dir / path
        if not path.is_file():
            raise FederateTypeError(f"federate module file {str(path)!r} does not exist")
        key = f"_federation_user_{abs(hash(str(path.resolve())))}"
        if key in sys.modules:
            return sys.modules[key]
        spec = importlib.util.spec_from_file_location(key, path)
        if spec is None or spec.loader is None:
            raise FederateTypeError(f"cannot load {str(path)!r} as a Python module")
        module = importlib.util.module_from_spec(spec)
        sys.modules[key] = module
        try:
            spec.loader.exec_module(module)
        except Exception as exc:
            del sys.modules[key]
            raise FederateTypeError(f"importing {str(path)!r} failed: {type(exc).__name__}: {exc}") from exc
        return module
    if base_dir is not None and str(base_dir) not in sys.path:
        sys.path.append(str(base_dir))
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        raise FederateTypeError(f"cannot import module {module_name!r}: {exc}") from exc
    except Exception as exc:
        raise FederateTypeError(f"importing {module_name!r} failed: {type(exc).__name__}: {exc}") from exc
