"""Attaching costs nothing when nothing is attached: `ask` without `-f` loads neither pathspec
(the .gitignore matcher), the HTML converter nor mlchat.fetch; a folder loads pathspec only; a
web page loads the converter. Structural, like test_startup_imports (timings are in bench/)."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import FAKE_KEY
from tests.emulator import Emulator
from tests.test_startup_imports import imported, loaded

ATTACHING = ("pathspec", "html_to_markdown", "mlchat.fetch", "mlchat.repl")


def test_ask_without_sources_loads_none_of_it(emulator: Emulator, tmp_path: Path) -> None:
    env = {"MODELSLAB_API_KEY": FAKE_KEY, "MODELSLAB_BASE_URL": emulator.base_url}
    proc, modules = imported(["ask", "--no-log", "hi"], **env)
    assert proc.returncode == 0, proc.stderr
    assert loaded(modules, ATTACHING) == []
    (tmp_path / "a.py").write_text("a = 1\n")
    (tmp_path / ".gitignore").write_text("*.log\n")
    proc, modules = imported(["ask", "--no-log", "-f", str(tmp_path), "hi"], **env)
    assert proc.returncode == 0, proc.stderr
    # The folder's .gitignore needs the matcher, and nothing else of it.
    assert {m.split(".")[0] for m in loaded(modules, ATTACHING)} == {"pathspec"}
