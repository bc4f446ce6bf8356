"""Claiming the run store and its logs folder before a run starts, and a sweep's output folder.

The store file is created empty with ``O_EXCL``, so two runs never write one file.  What
happens when it exists is a :class:`StorePolicy`: ``REFUSE`` (an explicit ``--out``),
``OVERWRITE`` (``--overwrite``: only an earlier run store that no live run is writing, and
only ``*.log`` files in its logs folder) or ``NEXT_FREE`` (the default ``runs/NAME.sqlite``:
``NAME-2.sqlite``, ``NAME-3.sqlite``, ...).  A file that is not a run store is never
replaced.  Single files (plots, reports, CSV) follow :mod:`federation.results.output`.

Every refusal or OS error is an :class:`~federation.errors.OutputError` naming the path.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Iterable

from ..errors import OutputError
from .liveness import Liveness
from .output import make_folder
from .store import RunStore, is_run_store

__all__ = ["StorePolicy", "Claim", "claim_store", "claim_folder", "logs_folder"]

_NEXT_FREE_LIMIT = 10_000
_STORE_FILES = ("", "-wal", "-shm", "-journal", "-reserve")  # the store, SQLite's files and the recorder's reserve


class StorePolicy(Enum):
    """What ``run`` does when its store file exists."""

    REFUSE = "refuse"  # an explicit --out: an existing store is an error
    OVERWRITE = "overwrite"  # --overwrite: an earlier run store (not a live one) is replaced
    NEXT_FREE = "next free"  # the default runs/NAME.sqlite: take NAME-2.sqlite, NAME-3.sqlite, ...


@dataclass(frozen=True)
class Claim:
    """The store file created (empty) for one run, and the folder of its logs."""

    store: Path
    logs: Path
    requested: Path  # the path asked for; differs from ``store`` when the next free name was taken
    replaced: bool = False  # an earlier run store was removed

    def release(self) -> None:
        """Remove what the claim made, for a run that never started: its own empty files and folder."""
        for suffix in _STORE_FILES:
            Path(f"{self.store}{suffix}").unlink(missing_ok=True)
        try:
            self.logs.rmdir()  # only when empty: nothing was written into it
        except OSError:
            pass


def logs_folder(store: Path) -> Path:
    """``runs/x.sqlite`` -> ``runs/x.logs``."""
    return store.with_name(store.stem + ".logs")


def claim_store(path: Path, policy: StorePolicy) -> Claim:
    """Create the empty store file and the logs folder for a run, by the rules of ``policy``."""
    make_folder(path.parent)
    if policy is StorePolicy.NEXT_FREE:
        for candidate in _candidates(path):
            if _taken(candidate):
                continue
            try:
                _create(candidate)
            except FileExistsError:  # another run took it in between
                continue
            return Claim(candidate, _make_logs(candidate), path)
        raise OutputError(path, f"no free name among {path.stem}-2 ... {path.stem}-{_NEXT_FREE_LIMIT}")
    replaced = _clear(path, policy)
    try:
        _create(path)
    except FileExistsError:
        raise OutputError(path, "another run created this file just now; choose another --out") from None
    return Claim(path, _make_logs(path), path, replaced)


def claim_folder(path: Path, policy: StorePolicy, flag: str = "--out") -> Path:
    """An output folder (a sweep's): new or empty; with OVERWRITE an existing one; NEXT_FREE: ``NAME-2``, ..."""
    if os.path.lexists(path) and not path.is_dir():
        raise OutputError(path, f"exists and is not a folder; {flag} names a folder")
    if policy is StorePolicy.NEXT_FREE:
        for candidate in _candidates(path):
            if _empty_folder(candidate):
                make_folder(candidate)
                return candidate
        raise OutputError(path, f"no free name among {path.name}-2 ... {path.name}-{_NEXT_FREE_LIMIT}")
    if policy is StorePolicy.REFUSE and not _empty_folder(path):
        raise OutputError(path, f"holds an earlier run's files; use --overwrite to replace them, or choose another {flag}")
    make_folder(path)
    return path


def _empty_folder(path: Path) -> bool:
    if not os.path.lexists(path):
        return True
    return path.is_dir() and not any(path.iterdir())


def _candidates(path: Path) -> Iterable[Path]:
    yield path
    for n in range(2, _NEXT_FREE_LIMIT + 1):
        yield path.with_name(f"{path.stem}-{n}{path.suffix}")


def _taken(store: Path) -> bool:
    if any(os.path.lexists(f"{store}{suffix}") for suffix in _STORE_FILES):
        return True
    logs = logs_folder(store)
    return os.path.lexists(logs) and not (logs.is_dir() and not any(logs.iterdir()))


def _clear(path: Path, policy: StorePolicy) -> bool:
    """Check that ``path`` and its logs folder may be written; with OVERWRITE remove the earlier run."""
    logs = logs_folder(path)
    log_files = _log_files(logs)
    if os.path.lexists(path):
        if path.is_dir():
            raise OutputError(path, "is a folder; --out names the run store file (e.g. DIR/NAME.sqlite)")
        if not is_run_store(path):
            raise OutputError(path, "exists and is not a run store; refusing to replace it (choose another --out)")
        if policy is not StorePolicy.OVERWRITE:
            raise OutputError(path, "holds an earlier run; use --overwrite to replace it, or choose another --out")
        with RunStore(path) as store:
            state = store.state
        if state.liveness is Liveness.LIVE:
            raise OutputError(path, f"a run is still writing it (coordinator {state.owner}); it cannot be replaced")
    elif log_files and policy is not StorePolicy.OVERWRITE:
        raise OutputError(logs, "holds the logs of an earlier run; use --overwrite to replace them, "
                                "or choose another --out")  # fmt: skip
    if policy is not StorePolicy.OVERWRITE:
        return False
    try:
        for file in log_files:
            file.unlink()
        existed = os.path.lexists(path)
        for suffix in _STORE_FILES:
            Path(f"{path}{suffix}").unlink(missing_ok=True)
    except OSError as exc:
        raise OutputError(exc.filename or path, f"cannot remove the earlier run: {exc.strerror}") from exc
    return existed


def _log_files(logs: Path) -> list[Path]:
    """The ``*.log`` files of an earlier run in ``logs``; anything else there is refused."""
    if not os.path.lexists(logs):
        return []
    if not logs.is_dir():
        raise OutputError(logs, "exists and is not a folder; the run writes its logs there (choose another --out)")
    entries = sorted(logs.iterdir())
    foreign = [e for e in entries if e.suffix != ".log" or not e.is_file() or e.is_symlink()]
    if foreign:
        raise OutputError(logs, f"holds files a run did not write ({foreign[0].name}); "
                                "move them or choose another --out")  # fmt: skip
    return entries


def _create(path: Path) -> None:
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
    except FileExistsError:
        raise
    except OSError as exc:
        raise OutputError(path, f"cannot create the run store: {exc.strerror}") from exc


def _make_logs(store: Path) -> Path:
    logs = logs_folder(store)
    try:
        logs.mkdir(exist_ok=True)
    except OSError as exc:
        Path(store).unlink(missing_ok=True)
        raise OutputError(logs, f"cannot create the logs folder: {exc.strerror}") from exc
    return logs
