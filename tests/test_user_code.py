"""Importing a federate's module runs user code: whatever it does is a scenario error naming its file.

Only a real interruption (Ctrl-C) that arrives during the import still interrupts.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import write_scenario

pytestmark = pytest.mark.timeout(60)

MODULES = {
    "exits.py": "import sys\nsys.exit(3)\n",
    "quits.py": "raise SystemExit\n",
    "interrupts.py": "\n\nraise KeyboardInterrupt\n",
    "base.py": "class Odd(BaseException):\n    pass\n\n\nraise Odd('not an Exception')\n",
    "broken.py": "def f(:\n    pass\n",
    "needs.py": "import json\nimport no_such_module_anywhere\n",
    "exits_too.py": "raise SystemExit(4)\n",  # imported as exits_too:Model, from the scenario's folder
    "declares.py": (
        "import sys\nfrom federation import Federate\n\n\nclass Model(Federate):\n"
        "    @classmethod\n    def declare(cls, params):\n        sys.exit(5)\n"
    ),
}
SCENARIO = """\
time: {stop: 5}
federates:
  a: {type: exits.py:Model}
  b: {type: quits.py:Model}
  c: {type: interrupts.py:Model}
  d: {type: base.py:Model}
  e: {type: broken.py:Model}
  f: {type: needs.py:Model}
  g: {type: exits_too:Model}
  h: {type: declares.py:Model}
"""


def federation(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "federation.app.cli", *args], capture_output=True, text=True,
                          timeout=60, cwd=cwd)  # fmt: skip


def test_anything_a_module_raises_at_import_is_a_scenario_error_naming_its_file(tmp_path):
    for name, text in MODULES.items():
        (tmp_path / name).write_text(text)
    path = write_scenario(tmp_path, SCENARIO)
    result = federation("validate", str(path), cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    folder = f"{tmp_path}/"
    lines = [line.replace(folder, "") for line in result.stderr.splitlines()]
    for want in [
        "scenario.yaml:3:7: federates.a.type: importing 'exits.py' failed: it called exit(3) (exits.py:2)",
        "scenario.yaml:4:7: federates.b.type: importing 'quits.py' failed: it called exit() (quits.py:1)",
        "scenario.yaml:5:7: federates.c.type: importing 'interrupts.py' failed: it raised KeyboardInterrupt "
        "(interrupts.py:3)",
        "scenario.yaml:6:7: federates.d.type: importing 'base.py' failed: Odd: not an Exception (base.py:5)",
        "scenario.yaml:7:7: federates.e.type: importing 'broken.py' failed: SyntaxError: invalid syntax (broken.py:1)",
        "scenario.yaml:8:7: federates.f.type: importing 'needs.py' failed: ModuleNotFoundError: "
        "No module named 'no_such_module_anywhere' (needs.py:2)",
        "scenario.yaml:9:7: federates.g.type: importing 'exits_too' failed: it called exit(4) (exits_too.py:1)",
        "scenario.yaml:10:3: federates.h.params: declares.py:Model: declare() failed: it called exit(5) (declares.py:8)",
    ]:
        assert want in lines, f"missing: {want}\n{result.stderr}"


def test_a_module_that_is_not_there_is_still_reported_as_such(tmp_path):
    path = write_scenario(tmp_path, "time: {stop: 5}\nfederates:\n  a: {type: nowhere_to_be_found:Model}\n")
    result = federation("validate", str(path), cwd=tmp_path)
    assert result.returncode == 2
    assert "federates.a.type: cannot import module 'nowhere_to_be_found'" in result.stderr


def test_ctrl_c_during_an_import_still_interrupts(tmp_path):
    """The operator's SIGINT is not the module's doing: exit 130, not a scenario error."""
    marker = tmp_path / "importing"
    (tmp_path / "slow.py").write_text(f"import pathlib, time\npathlib.Path({str(marker)!r}).touch()\ntime.sleep(30)\n")
    path = write_scenario(tmp_path, "time: {stop: 5}\nfederates:\n  a: {type: slow.py:Model}\n")
    process = subprocess.Popen([sys.executable, "-m", "federation.app.cli", "validate", str(path)], cwd=tmp_path,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while not marker.exists() and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)  # polling for the module's marker file: the import has started when it exists
        assert marker.exists(), process.communicate()[1]
        os.kill(process.pid, signal.SIGINT)
        _, stderr = process.communicate(timeout=30)
    finally:
        process.kill()
        process.wait()
    assert process.returncode == 130, stderr
    assert "interrupted" in stderr and "scenario" not in stderr
