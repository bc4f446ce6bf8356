"""Finds the federate class a scenario's ``type:`` names.

Three spellings are accepted:

* a short name registered in the entry-point group ``federation.federates``
  (``flood``, ``grid``, ``fmu`` ... and any installed plugin);
* ``package.module:Class`` on the import path (the scenario's folder is added to it);
* ``path/to/file.py:Class`` relative to the scenario's folder.

Importing a module runs the user's code.  :func:`user_code` is the one boundary it runs
behind: whatever the code raises -- an exception, a syntax error, ``SystemExit``,
``KeyboardInterrupt``, any ``BaseException`` -- becomes a :class:`UserCodeError` that names
the file and line, except an interruption by a real signal (Ctrl-C, SIGTERM) arriving
meanwhile, which goes on as it came.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.util
import os
import signal
import sys
import threading
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from types import FrameType
from typing import Any

from ..api.federate import Federate

__all__ = ["ENTRY_POINT_GROUP", "FederateTypeError", "UserCodeError", "resolve", "registered", "user_code"]

ENTRY_POINT_GROUP = "federation.federates"


class FederateTypeError(LookupError):
    """The ``type:`` of a federate cannot be found or is not a Federate subclass."""


class UserCodeError(FederateTypeError):
    """The user's code raised while it was imported (or declared): ``cause`` is what it raised."""

    def __init__(self, what: str, cause: BaseException) -> None:
        self.cause = cause
        super().__init__(f"{what} failed: {describe(cause)}")


def describe(exc: BaseException) -> str:
    """``ValueError: boom (plugin.py:7)``: what user code raised and where."""
    if isinstance(exc, SyntaxError) and exc.filename:  # the place is the error's own, not a frame's
        return f"{type(exc).__name__}: {exc.msg} ({Path(exc.filename).name}:{exc.lineno})"
    if isinstance(exc, SystemExit):
        text = f"it called exit({exc.code!r})" if exc.code is not None else "it called exit()"
    elif isinstance(exc, KeyboardInterrupt):
        text = "it raised KeyboardInterrupt"
    else:
        text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if not f.filename.startswith("<frozen ")]
    return f"{text} ({Path(frames[-1].filename).name}:{frames[-1].lineno})" if frames else text


_STOPPING = (signal.SIGINT, signal.SIGTERM)


@contextmanager
def user_code(what: str, *, exceptions: bool = True) -> Iterator[None]:
    """Run user code; turn anything it raises into :class:`UserCodeError` (``what failed: ...``).

    With ``exceptions=False`` an ordinary ``Exception`` goes on unchanged (for a caller that
    reports those itself) and only what ``except Exception`` would miss is converted:
    ``SystemExit``, ``KeyboardInterrupt`` raised by the code, any other ``BaseException``.
    Anything that escapes while SIGINT or SIGTERM arrived is the operator's, not the
    code's: it goes on unchanged.  The signals are watched from the main thread only
    (Python delivers them nowhere else).
    """
    signalled: list[int] = []
    previous = _watch(signalled) if threading.current_thread() is threading.main_thread() else {}
    try:
        yield
    except BaseException as exc:
        if signalled or (not exceptions and isinstance(exc, Exception)):
            raise
        raise UserCodeError(what, exc) from exc
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _watch(signalled: list[int]) -> dict[int, Any]:
    """Note SIGINT and SIGTERM in ``signalled``, then handle them as before; return the old handlers."""
    previous: dict[int, Any] = {}

    def noted(signum: int, frame: FrameType | None) -> None:
        signalled.append(signum)
        handler = previous[signum]
        if callable(handler):
            handler(signum, frame)
        elif handler != signal.SIG_IGN:  # the default action (or a handler not set from Python)
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)

    for signum in _STOPPING:
        previous[signum] = signal.getsignal(signum)
        signal.signal(signum, noted)
    return previous


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


_IMPORTING = threading.RLock()
"""Held while a federate module is imported: the federates of a worker process resolve their types in
parallel threads, and a module file is in ``sys.modules`` before its code has run."""


def _import(module_name: str, base_dir: Path | None) -> object:
    with _IMPORTING:
        return _import_unlocked(module_name, base_dir)


def _import_unlocked(module_name: str, base_dir: Path | None) -> object:
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
            with user_code(f"importing {str(path)!r}"):
                spec.loader.exec_module(module)
        except BaseException:
            del sys.modules[key]
            raise
        return module
    if base_dir is not None and str(base_dir) not in sys.path:
        sys.path.append(str(base_dir))
    if module_name in sys.modules:
        return sys.modules[module_name]
    try:
        with user_code(f"importing {module_name!r}"):
            return importlib.import_module(module_name)
    except UserCodeError as exc:
        missing = getattr(exc.cause, "name", None) if isinstance(exc.cause, ModuleNotFoundError) else None
        if missing and (module_name == missing or module_name.startswith(missing + ".")):  # not one it imports
            raise FederateTypeError(f"cannot import module {module_name!r}: {exc.cause}") from exc.cause
        raise
