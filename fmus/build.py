"""Build the project's FMUs from their C sources.

Every folder of ``fmus/`` that holds a ``modelDescription.xml`` and a ``model.c`` is one
model.  It is compiled with the system C compiler against the FMI headers that ship
inside the installed fmpy package (``<fmpy>/c-code``), together with the FMI layer in
``fmus/common/`` (``fmi2_api.c`` or ``fmi3_api.c``, chosen by the model description's
``fmiVersion``), and zipped into ``<modelIdentifier>.fmu`` with

* ``modelDescription.xml``;
* ``binaries/<platform>/<modelIdentifier>.so`` -- ``linux64`` for FMI 2, ``x86_64-linux``
  for FMI 3 (the platform names each standard defines);
* ``sources/`` -- the C files and headers it was built from.

The archives are reproducible: entries are sorted and carry a fixed timestamp.

Usage, from any folder::

    python -m fmus.build [OUTDIR]
    python fmus/build.py OUTDIR

or from Python: ``build_all(outdir) -> list[Path]``.  The default OUTDIR is the
``fmus/dist`` folder the shipped scenarios point at (``../fmus/dist/X.fmu``): in a source
checkout, ``dist/`` beside these sources; in an installed package, ``fmus/dist`` under the
current folder (the layout ``federation examples DIR`` makes).
"""

from __future__ import annotations

import argparse
import enum
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import fmpy
from fmpy.model_description import read_model_description

__all__ = ["BuildError", "FmiStandard", "ModelSource", "build_all", "build_fmu", "default_outdir", "find_models", "main"]

log = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
COMMON = HERE / "common"
FIXED_TIMESTAMP = (1980, 1, 1, 0, 0, 0)
CFLAGS = ("-shared", "-fPIC", "-O2", "-std=c99", "-fvisibility=hidden", "-Wall", "-Wextra", "-Werror")


class BuildError(RuntimeError):
    """A model could not be compiled or packed; the message names it."""


class FmiStandard(enum.Enum):
    """The FMI standard a model is written against, with what differs between them."""

    FMI2 = "2.0"
    FMI3 = "3.0"

    @classmethod
    def parse(cls, fmi_version: str) -> FmiStandard:
        major = fmi_version.split(".")[0]
        for standard in cls:
            if standard.value.split(".")[0] == major:
                return standard
        raise BuildError(f"unsupported fmiVersion {fmi_version!r}")

    @property
    def api_source(self) -> str:
        return "fmi2_api.c" if self is FmiStandard.FMI2 else "fmi3_api.c"

    @property
    def platform(self) -> str:
        """Binary folder name for this machine: FMI 2 'linux64', FMI 3 'x86_64-linux'."""
        return str(fmpy.platform if self is FmiStandard.FMI2 else fmpy.platform_tuple)


@dataclass(frozen=True)
class ModelSource:
    """One model folder: its description and what it compiles to."""

    folder: Path
    identifier: str
    standard: FmiStandard

    @property
    def sources(self) -> tuple[Path, ...]:
        return (self.folder / "model.c", COMMON / self.standard.api_source, COMMON / "fmi_common.c")

    @property
    def headers(self) -> tuple[Path, ...]:
        return (COMMON / "model.h", COMMON / "fmi_common.h")


def default_outdir() -> Path:
    """``fmus/dist`` of the source checkout these sources sit in, else ``fmus/dist`` under the current folder."""
    checkout = HERE.parent
    if (checkout / "pyproject.toml").is_file() and (checkout / "scenarios").is_dir():
        return HERE / "dist"
    return Path.cwd() / "fmus" / "dist"


def fmi_header_dir() -> Path:
    """The FMI headers shipped with fmpy."""
    return Path(os.path.dirname(fmpy.__file__)) / "c-code"


def find_compiler() -> str:
    for name in (os.environ.get("CC"), "gcc", "cc"):
        if name and shutil.which(name):
            return str(name)
    raise BuildError("no C compiler found: install gcc or set CC")


def find_models(root: Path = HERE) -> list[ModelSource]:
    """Every model folder under ``root``, sorted by name."""
    models = []
    for folder in sorted(p for p in root.iterdir() if (p / "modelDescription.xml").is_file()):
        if not (folder / "model.c").is_file():
            raise BuildError(f"{folder}: modelDescription.xml without model.c")
        md = read_model_description(str(folder / "modelDescription.xml"))
        models.append(ModelSource(folder, md.modelIdentifier, FmiStandard.parse(md.fmiVersion)))
    return models


def compile_model(model: ModelSource, library: Path, compiler: str) -> None:
    """Compile ``model`` into the shared library ``library``."""
    command = [
        compiler, *CFLAGS, f"-I{fmi_header_dir()}", f"-I{COMMON}",
        *map(str, model.sources), "-o", str(library), "-lm",
    ]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise BuildError(f"compiling {model.identifier} failed:\n$ {' '.join(command)}\n{result.stderr}")


def _write_entry(archive: zipfile.ZipFile, name: str, path: Path) -> None:
    info = zipfile.ZipInfo(name, date_time=FIXED_TIMESTAMP)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    archive.writestr(info, path.read_bytes())


def pack_fmu(model: ModelSource, library: Path, fmu: Path) -> None:
    """Zip the description, the binary and the sources into ``fmu``."""
    entries = {
        "modelDescription.xml": model.folder / "modelDescription.xml",
        f"binaries/{model.standard.platform}/{model.identifier}.so": library,
    }
    for path in (*model.sources, *model.headers):
        entries[f"sources/{path.name}"] = path
    with zipfile.ZipFile(fmu, "w") as archive:
        for name in sorted(entries):
            _write_entry(archive, name, entries[name])


def build_fmu(model: ModelSource, outdir: Path, compiler: str | None = None) -> Path:
    """Compile and pack one model; return the path of the ``.fmu``."""
    outdir.mkdir(parents=True, exist_ok=True)
    fmu = outdir / f"{model.identifier}.fmu"
    with tempfile.TemporaryDirectory(prefix="fmubuild-") as scratch:
        library = Path(scratch) / f"{model.identifier}.so"
        compile_model(model, library, compiler or find_compiler())
        pack_fmu(model, library, fmu)
    log.info("built %s", fmu)
    return fmu


def build_all(outdir: str | os.PathLike[str] | None = None) -> list[Path]:
    """Build every model of ``fmus/`` into ``outdir`` (default: :func:`default_outdir`); return the ``.fmu`` paths."""
    compiler = find_compiler()
    target = Path(outdir) if outdir is not None else default_outdir()
    return [build_fmu(model, target, compiler) for model in find_models()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fmus.build", description=__doc__.split("\n")[0])
    parser.add_argument("outdir", nargs="?", type=Path, default=None,
                        help=f"where to write the .fmu files (default here: {default_outdir()})")
    args = parser.parse_args(argv)
    try:
        for fmu in build_all(args.outdir):
            print(fmu)
    except BuildError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
