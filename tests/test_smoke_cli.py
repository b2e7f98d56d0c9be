"""Smoke findings about the CLI's commands with unusual input, in-process with the Runtime's
terminal flags set as a script would have them."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from mlchat import roles
from tests.conftest import FAKE_KEY, invoke
from tests.emulator import Emulator


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


def test_piped_model_list_shows_control_characters_in_ids(emulator: Emulator) -> None:
    emulator.models = [
        {"id": "evil-\x1b]0;title\x07\x1b[31mred", "object": "model"},
        {"id": "two\nlines", "object": "model"},
        {"id": "plain-model", "object": "model"},
    ]
    env = {"MODELSLAB_API_KEY": FAKE_KEY, "MODELSLAB_BASE_URL": emulator.base_url}
    r = invoke(["models"], env=env)
    assert r.code == 0, r.err
    assert r.out.splitlines() == ["evil-^[]0;title^G^[[31mred", "plain-model", "two^Jlines"]
    doc = json.loads(invoke(["models", "--json"], env=env).out)
    assert "evil-\x1b]0;title\x07\x1b[31mred" in {m["id"] for m in doc}
