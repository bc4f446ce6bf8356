"""The logging of a federation program: the format of its log files and where its records go.

Libraries only log (to ``logging.getLogger(__name__)``); the programs configure: the
``federation`` command and the federate runtime's ``main``.
"""

from __future__ import annotations

import logging
import sys
from typing import IO

__all__ = ["configure_logging", "LOG_FORMAT"]

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
"""Lines of the log files (the coordinator's and the federates'), to be read side by side."""


def configure_logging(level: int, *, debug: bool, fmt: str = "%(levelname)s %(name)s: %(message)s",
                      stream: IO[str] | None = None) -> None:  # fmt: skip
    """The logging of a federation program: records at ``level`` and above go to ``stream`` (stderr).

    The ``federation`` loggers pass INFO (DEBUG with ``debug``) on to the handlers, which
    choose what they show; other libraries pass only warnings.  Libraries never do this:
    only the ``federation`` command and the federate runtime's ``main``.
    """
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(logging.Formatter(fmt))
    handler.setLevel(level)
    handler.set_name("federation.terminal")
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == handler.get_name()]:  # called again: replace
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
    logging.getLogger("federation").setLevel(logging.DEBUG if debug else logging.INFO)
