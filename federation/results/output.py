"""Where commands write, and what they may replace: a run never destroys a file it did not create.

* **The run store** (``run --out FILE``) and its logs folder ``FILE.logs/`` are *claimed*
  before anything starts: the store file is created empty with ``O_EXCL``, so two runs
  never write one file.  What happens when it exists is a :class:`StorePolicy`:
  ``REFUSE`` (an explicit ``--out``), ``OVERWRITE`` (``--overwrite``: only an earlier run
  store that no live run is writing, and only ``*.log`` files in its logs folder) or
  ``NEXT_FREE`` (the default ``runs/NAME.sqlite``: ``NAME-2.sqlite``, ``NAME-3.sqlite``, ...).
  A file that is not a run store is never replaced.
* **Single files** (``plot -o``, ``report -o``, ``graph -o``, the CSV files of ``export`` and
  ``sweep``) replace an existing file only when it holds what the command writes (an image
  of the same format, an HTML document, a CSV file with the command's header), recognised
  by its first bytes; anything else is refused, and so is a folder.

Every refusal or OS error is an :class:`~federation.errors.OutputError` naming the path.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Iterable

from .errors import OutputError

__all__ = ["StorePolicy", "Claim", "claim_store", "claim_folder", "logs_folder", "check_replaceable", "check_image",
           "SIGNATURES"]

_NEXT_FREE_LIMIT = 10_000
_STORE_FILES = ("", "-wal", "-shm", "-journal", "-reserve")  # the store, SQLite's files and the recorder's reserve

SIGNATURES: dict[str, tuple[bytes, ...]] = {
    "png": (b"\x89PNG\r\n\x1a\n",),
    "pdf": (b"%PDF",),
    "svg": (b"<?xml", b"<svg"),
    "svgz": (b"\x1f\x8b",),
    "eps": (b"%!PS", b"\xc5\xd0\xd3\xc6"),
    "ps": (b"%!PS",),
    "jpg": (b"\xff\xd8\xff",),
    "jpeg": (b"\xff\xd8\xff",),
    "tif": (b"II*\x00", b"MM\x00*"),
    "tiff": (b"II*\x00", b"MM\x00*"),
    "webp": (b"RIFF",),
    "gif": (b"GIF8",),
    "html": (b"<!DOCTYPE html", b"<!doctype html", b"<html"),
    "dot": (b"digraph", b"strict digraph"),
}
"""First bytes by which an existing file is recognised as what a command writes."""


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
    _make_folder(path.parent)
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
                _make_folder(candidate)
                return candidate
        raise OutputError(path, f"no free name among {path.name}-2 ... {path.name}-{_NEXT_FREE_LIMIT}")
    if policy is StorePolicy.REFUSE and not _empty_folder(path):
        raise OutputError(path, f"holds an earlier run's files; use --overwrite to replace them, or choose another {flag}")
    _make_folder(path)
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
    from .liveness import Liveness
    from .store import RunStore, is_run_store

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


def _make_folder(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(folder, f"cannot create the folder: {exc.strerror}") from exc


# ---------------------------------------------------------------------------- single files
def check_replaceable(path: Path, what: str, signatures: tuple[bytes, ...], flag: str) -> None:
    """``path`` may be written: absent, empty, or a file that already holds ``what``.

    ``signatures`` are the first bytes of such a file; ``flag`` is the option that named it.
    The folder it goes in must exist or be creatable.
    """
    if not os.path.lexists(path):
        _make_folder(path.parent)
        return
    if path.is_dir():
        raise OutputError(path, f"is a folder; {flag} names a file")
    try:
        with open(path, "rb") as fh:
            head = fh.read(64)
    except OSError as exc:
        raise OutputError(path, f"cannot read it to check what it holds: {exc.strerror}") from exc
    if head and not any(head.lstrip().startswith(s) for s in signatures):
        raise OutputError(path, f"exists and is not {what}; refusing to replace it (remove it or choose another {flag})")


def check_image(path: Path, flag: str, extra: Iterable[str] = ()) -> None:
    """An image file named by ``flag``: a format matplotlib writes (or one of ``extra``), replaceable."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    formats = sorted({*FigureCanvasAgg(Figure()).get_supported_filetypes(), *extra})
    kind = path.suffix[1:].lower()
    if kind not in formats:
        said = f"'.{kind}' is not an image format" if kind else "the file name has no suffix to tell the format"
        raise OutputError(path, f"{flag}: {said}; name the file with one of .{', .'.join(formats)}")
    check_replaceable(path, f"a {kind.upper()} file", SIGNATURES.get(kind, ()), flag)
