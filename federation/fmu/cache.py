"""The FMU cache: model descriptions read once and binaries extracted once per FMU content.

An FMU is identified by the SHA-256 of its file, so a changed file is a new entry and
the same file under another name shares one.  The folder is, in this order:

* ``$FEDERATION_CACHE_DIR/fmu`` when the variable is set (``off`` switches the cache off:
  every federate then extracts into a private temporary folder, removed at its end);
* ``$XDG_CACHE_HOME/federation/fmu``;
* ``~/.cache/federation/fmu``.

Per FMU, ``<sha256>/model.json`` holds the parsed model description
(:class:`~federation.fmu.model.ModelInfo`, marked validated or not) and
``<sha256>/files/`` the extracted ``binaries/`` and ``resources/``; ``<sha256>/used`` is
touched at each use.  ``paths/`` remembers the hash of a file by its path, size,
modification time and inode, so a large FMU is not hashed again while unchanged.

Concurrent runs are safe: every file and folder is written under a temporary name in the
cache and renamed into place (an atomic step); when two processes extract the same FMU at
once, one rename wins and the other copy is removed.  Entries unused for
:data:`MAX_AGE_DAYS` days are removed (checked at most once a day); ``federation cache
clear`` (or deleting the folder while no run uses it) empties it.  When the folder cannot
be written (a read-only home), the adapter falls back to private temporary folders.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["ENV_CACHE", "MAX_AGE_DAYS", "FmuCache", "cache", "cache_root", "clear", "describe"]

log = logging.getLogger(__name__)

ENV_CACHE = "FEDERATION_CACHE_DIR"
MAX_AGE_DAYS = 30
_PRUNE_EVERY = 24 * 3600.0
_OFF = {"off", "none", "0", "false", "no"}


def cache_root() -> Path | None:
    """The cache folder for FMUs, or ``None`` when switched off (``FEDERATION_CACHE_DIR=off``)."""
    configured = os.environ.get(ENV_CACHE)
    if configured is not None:
        if configured.strip().lower() in _OFF or not configured.strip():
            return None
        return Path(configured).expanduser() / "fmu"
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "federation" / "fmu"


@dataclass(frozen=True)
class FmuCache:
    """The cache folder (see the module docstring)."""

    root: Path

    # ------------------------------------------------------------------ keys
    def key(self, path: Path) -> str:
        """The SHA-256 of the file at ``path`` (remembered by path, size, mtime and inode)."""
        stat = path.stat()
        return _key(str(path), stat.st_size, stat.st_mtime_ns, stat.st_ino, str(self.root))

    def entry(self, key: str) -> Path:
        return self.root / key

    # ------------------------------------------------------------------ model descriptions
    def load_model(self, key: str) -> dict[str, Any] | None:
        """The stored model description of ``key`` (a JSON object), or ``None``."""
        try:
            with open(self.entry(key) / "model.json", encoding="utf-8") as fh:
                return json.load(fh)  # type: ignore[no-any-return]
        except (OSError, ValueError):
            return None

    def store_model(self, key: str, data: dict[str, Any]) -> None:
        folder = self.entry(key)
        folder.mkdir(parents=True, exist_ok=True)
        _write_atomically(folder / "model.json", json.dumps(data, separators=(",", ":")).encode("utf-8"))

    # ------------------------------------------------------------------ extraction
    def extracted(self, key: str, fmu: Path) -> Path:
        """The folder with ``fmu``'s ``binaries/`` and ``resources/``, extracting them the first time."""
        folder = self.entry(key) / "files"
        if not folder.is_dir():
            self.entry(key).mkdir(parents=True, exist_ok=True)
            scratch = Path(tempfile.mkdtemp(prefix=".extract-", dir=self.entry(key)))
            try:
                extract(fmu, scratch)
                os.rename(scratch, folder)
            except OSError:
                if not folder.is_dir():  # not a lost race: a real failure
                    raise
                log.debug("%s was extracted by another process at the same time", fmu)
            finally:
                shutil.rmtree(scratch, ignore_errors=True)
        self.touch(key)
        return folder

    def touch(self, key: str) -> None:
        marker = self.entry(key) / "used"
        try:
            marker.touch()
        except OSError as exc:
            log.debug("cannot mark %s as used: %s", marker, exc)

    # ------------------------------------------------------------------ clean-up
    def prune(self, max_age_days: float = MAX_AGE_DAYS, *, now: float | None = None) -> list[str]:
        """Remove the entries unused for ``max_age_days``; return their keys."""
        now = time.time() if now is None else now
        removed = []
        for entry in self._entries():
            marker = entry / "used"
            try:
                used = marker.stat().st_mtime if marker.exists() else entry.stat().st_mtime
            except OSError:
                continue
            if now - used > max_age_days * 86400:
                _remove(entry)
                removed.append(entry.name)
        return removed

    def prune_now_and_then(self) -> None:
        """:meth:`prune`, at most once every 24 hours (a stamp file remembers when)."""
        stamp = self.root / ".pruned"
        try:
            if stamp.exists() and time.time() - stamp.stat().st_mtime < _PRUNE_EVERY:
                return
            stamp.touch()
        except OSError:
            return
        removed = self.prune()
        if removed:
            log.info("FMU cache %s: removed %d entries unused for %d days", self.root, len(removed), MAX_AGE_DAYS)

    def _entries(self) -> list[Path]:
        if not self.root.is_dir():
            return []
        return [p for p in self.root.iterdir() if p.is_dir() and len(p.name) == 64]

    def size(self) -> tuple[int, int]:
        """(entries, bytes)."""
        entries = self._entries()
        total = sum(f.stat().st_size for e in entries for f in e.rglob("*") if f.is_file())
        return len(entries), total


def cache() -> FmuCache | None:
    """The cache, ready to use; ``None`` when switched off or when its folder cannot be created."""
    root = cache_root()
    if root is None:
        return None
    return _open(str(root))


@functools.lru_cache(maxsize=4)
def _open(root: str) -> FmuCache | None:
    folder = Path(root)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "paths").mkdir(exist_ok=True)
        if not os.access(folder, os.W_OK):
            raise PermissionError(f"{folder} is not writable")
    except OSError as exc:
        log.warning("FMU cache %s cannot be used (%s): extracting into temporary folders", folder, exc)
        return None
    found = FmuCache(folder)
    found.prune_now_and_then()
    return found


def describe() -> str:
    """One line on the cache: where, how many FMUs, how much disk (``federation cache``)."""
    root = cache_root()
    if root is None:
        return f"FMU cache: off ({ENV_CACHE}={os.environ.get(ENV_CACHE)!r}); every run extracts into temporary folders"
    entries, size = FmuCache(root).size() if root.is_dir() else (0, 0)
    return (f"FMU cache {root}: {entries} FMU(s), {size / 1e6:.1f} MB; entries unused for {MAX_AGE_DAYS} days are "
            f"removed, 'federation cache --clear' removes all ({ENV_CACHE} moves it, {ENV_CACHE}=off disables it)")


def clear() -> tuple[Path | None, int]:
    """Empty the cache; return its folder and the number of entries removed."""
    root = cache_root()
    if root is None or not root.is_dir():
        return root, 0
    entries = FmuCache(root)._entries()
    for entry in entries:
        _remove(entry)
    shutil.rmtree(root / "paths", ignore_errors=True)
    return root, len(entries)


# ---------------------------------------------------------------------------- helpers
@functools.lru_cache(maxsize=256)
def _key(path: str, size: int, mtime_ns: int, inode: int, root: str) -> str:
    memo = Path(root) / "paths" / hashlib.sha256(f"{path}\0{size}\0{mtime_ns}\0{inode}".encode()).hexdigest()
    try:
        known = memo.read_text(encoding="ascii").strip()
        if len(known) == 64:
            return known
    except OSError:
        pass
    with open(path, "rb") as fh:
        digest = hashlib.file_digest(fh, "sha256").hexdigest() if hasattr(hashlib, "file_digest") \
            else _digest(fh)  # fmt: skip
    try:
        _write_atomically(memo, digest.encode("ascii"))
    except OSError as exc:
        log.debug("cannot remember the hash of %s: %s", path, exc)
    return digest


def _digest(fh: Any) -> str:
    h = hashlib.sha256()
    for block in iter(lambda: fh.read(1 << 20), b""):
        h.update(block)
    return h.hexdigest()


def _write_atomically(target: Path, data: bytes) -> None:
    fd, scratch = tempfile.mkstemp(prefix=".tmp-", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(scratch, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(scratch)
        raise


def _remove(entry: Path) -> None:
    """Rename first (readers see it gone at once), then delete."""
    trash = entry.with_name(f".trash-{entry.name}-{os.getpid()}-{time.monotonic_ns()}")
    try:
        os.rename(entry, trash)
    except OSError:
        return
    shutil.rmtree(trash, ignore_errors=True)


def extract(fmu: Path, folder: Path) -> None:
    """Unpack ``binaries/`` and ``resources/`` of ``fmu`` into ``folder`` (entries that escape it are refused)."""
    root = folder.resolve()
    with zipfile.ZipFile(fmu) as archive:
        for info in archive.infolist():
            if not info.filename.startswith(("binaries/", "resources/")):
                continue
            target = (root / info.filename).resolve()
            if root not in target.parents and target != root:
                raise OSError(f"entry {info.filename!r} points outside the extraction folder")
            archive.extract(info, root)
            if info.filename.startswith("binaries/") and not info.is_dir():
                os.chmod(target, 0o755)
    (root / "resources").mkdir(exist_ok=True)
