"""Smoke findings about the CLI's commands with unusual input, in-process with the Runtime's
terminal flags set as a script would have them."""

from __future__ import annotations

import sys
from pathlib import Path

from mlchat import roles
from tests.conftest import invoke


def test_roles_edit_without_a_terminal_is_one_line_and_runs_no_editor(tmp_path: Path) -> None:
    marker = tmp_path / "editor-ran"
    script = tmp_path / "editor.py"
    script.write_text(f"open({str(marker)!r}, 'w').write('ran')\n")
    r = invoke(["roles", "edit", "review"], env={"EDITOR": f"{sys.executable} {script}"})
    assert r.code == 2
    assert r.err.startswith("mlchat: error: roles edit needs a terminal")
    assert r.out == ""
    assert not marker.exists()
    assert "review" not in roles.names()
