"""Single files a command writes, and which existing ones it may replace: a command never destroys
a file it did not create.

``plot -o``, ``report -o``, ``graph -o``, the CSV files of ``export`` and ``sweep`` replace an
existing file only when it holds what the command writes (an image of the same format, an HTML
document, a CSV file with the command's header), recognised by its first bytes; anything else
is refused, and so is a folder.  The run store and its logs folder are claimed by
:mod:`federation.results.claim`.

Every refusal or OS error is an :class:`~federation.errors.OutputError` naming the path.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable

from ..errors import OutputError

__all__ = ["check_replaceable", "check_image", "make_folder", "SIGNATURES"]

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


def check_replaceable(path: Path, what: str, signatures: tuple[bytes, ...], flag: str) -> None:
    """``path`` may be written: absent, empty, or a file that already holds ``what``.

    ``signatures`` are the first bytes of such a file; ``flag`` is the option that named it.
    The folder it goes in must exist or be creatable.
    """
    if not os.path.lexists(path):
        make_folder(path.parent)
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


def make_folder(folder: Path) -> None:
    """Create ``folder`` and its parents when missing; an OutputError naming it when that fails."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(folder, f"cannot create the folder: {exc.strerror}") from exc
