"""`mlchat config edit` with a scripted editor: a valid edit replaces the file; one that does not
parse or fails validation is reported and offered again (as visudo does), and the file is never
left invalid; without a terminal it is one line and exit 2. The last test runs the real entry
point on a pseudo-terminal."""

from __future__ import annotations

import io
import json
import os
import pty
import stat
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from mlchat import config
from mlchat.runtime import Runtime
from tests.conftest import FAKE_KEY, Run, invoke
from tests.test_e2e import child_env, mlchat
from tests.test_questions_pty import read_until

ORIGINAL = '# mine\nmodel = "minimax-minimax-m1"   # keep this comment\n'


def write_cfg(text: str) -> Path:
    path = config.config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(0o600)
    return path


def scripted_editor(tmp_path: Path, *texts: str, also: Mapping[str, str] | None = None) -> str:
    """An $EDITOR that, at its Nth run, records the text it was given and writes texts[N] (and
    writes `also`'s files, to play another program); a text "EXIT n" exits n instead."""
    state = tmp_path / "editor-state.json"
    state.write_text(json.dumps({"texts": list(texts), "seen": [], "also": dict(also or {})}))
    script = tmp_path / "editor.py"
    script.write_text(
        "import json, sys\n"
        f"state = json.load(open({str(state)!r}))\n"
        "target = sys.argv[1]\n"
        "state['seen'].append(open(target).read())\n"
        "text = state['texts'].pop(0)\n"
        f"json.dump(state, open({str(state)!r}, 'w'))\n"
        "if text.startswith('EXIT '):\n"
        "    sys.exit(int(text[5:]))\n"
        "for name, other in state.pop('also').items():\n"
        "    open(name, 'w').write(other)\n"
        "open(target, 'w').write(text)\n"
    )
    return f"{sys.executable} {script}"


def seen(tmp_path: Path) -> list[str]:
    result: list[str] = json.loads((tmp_path / "editor-state.json").read_text())["seen"]
    return result


def edit(
    editor: str, answers: list[str] | None = None, *, tty: bool = True
) -> tuple[Run, list[str]]:
    """`config edit` with stdin on a terminal (unless not `tty`); `answers` are typed at the
    What now? question, whose prompts are returned."""
    asked: list[str] = []
    pending = list(answers or [])

    def read_line(prompt: str) -> str:
        asked.append(prompt)
        if not pending:
            raise EOFError
        return pending.pop(0)

    base = {k: v for k, v in os.environ.items() if k.startswith("XDG_") or k == "HOME"}
    rt = Runtime(
        env={**base, "EDITOR": editor},
        stdin=io.BytesIO(b""),
        stdout=io.StringIO(),
        stderr=io.StringIO(),
        stdin_tty=tty,
        read_line=read_line,
    )
    r = invoke(["config", "edit"], rt=rt)
    assert isinstance(rt.stdout, io.StringIO) and isinstance(rt.stderr, io.StringIO)
    return Run(r.code, rt.stdout.getvalue(), rt.stderr.getvalue(), rt), asked


def leftovers() -> list[str]:
    return sorted(p.name for p in config.config_path().parent.iterdir() if p.name != "config.toml")


def test_a_valid_edit_replaces_the_file_owner_only(tmp_path: Path) -> None:
    path = write_cfg(ORIGINAL)
    path.chmod(0o644)
    new = ORIGINAL + "temperature = 0.2\n"
    r, asked = edit(scripted_editor(tmp_path, new))
    assert r.code == 0, r.err
    assert seen(tmp_path) == [ORIGINAL]  # the editor got the file as written, comments and all
    assert path.read_text() == new
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert asked == [] and r.out == ""
    assert f"saved {path}" in r.err and "it is now 600" in r.err
    assert leftovers() == []  # the copy is gone


def test_an_edit_that_does_not_parse_is_offered_again_and_the_file_stays_valid(
    tmp_path: Path,
) -> None:
    path = write_cfg(ORIGINAL)
    broken = ORIGINAL + "temperature = = 0.2\n"
    fixed = ORIGINAL + "temperature = 0.2\n"
    editor = scripted_editor(tmp_path, broken, fixed)
    r, asked = edit(editor, ["e"])
    assert r.code == 0, r.err
    assert "your edit is not valid TOML (at line 3, column 15)" in r.err
    assert asked == ["What now? (e)dit again, (q)uit and leave the file as it was [e]: "]
    assert seen(tmp_path) == [ORIGINAL, broken]  # reopened on the user's text, not the file's
    assert path.read_text() == fixed


def test_a_bad_value_is_refused_and_quitting_keeps_the_file_and_the_edit(tmp_path: Path) -> None:
    path = write_cfg(ORIGINAL)
    bad = ORIGINAL + "temperature = 5\n"
    r, asked = edit(scripted_editor(tmp_path, bad), ["q"])
    assert r.code == 3
    assert "your edit: temperature must be between 0 and 2" in r.err
    assert f"mlchat: error: {path} was not changed" in r.err
    assert len(asked) == 1
    assert path.read_text() == ORIGINAL
    kept = Path(r.err.split("your edit is in ")[1].split()[0])
    assert kept.parent == path.parent and kept.read_text() == bad
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600


def test_end_of_input_at_the_question_quits(tmp_path: Path) -> None:
    path = write_cfg(ORIGINAL)
    r, _ = edit(scripted_editor(tmp_path, "[[[\n"), [])
    assert r.code == 3 and path.read_text() == ORIGINAL


def test_a_broken_file_can_be_repaired(tmp_path: Path) -> None:
    path = write_cfg(f'api_key = "{FAKE_KEY}"\nmodel = \n')  # mlchat itself refuses this file
    assert invoke(["config", "show"]).code == 3
    fixed = f'api_key = "{FAKE_KEY}"\nmodel = "minimax-minimax-m1"\n'
    r, _ = edit(scripted_editor(tmp_path, fixed))
    assert r.code == 0, r.err
    assert path.read_text() == fixed
    assert invoke(["config", "get", "model"]).out == "minimax-minimax-m1\n"


def test_a_key_in_an_invalid_edit_is_never_shown(tmp_path: Path) -> None:
    write_cfg(ORIGINAL)
    bad = f'api_key = "{FAKE_KEY}"\napi_key_cmd = "pass show x"\n'
    r, _ = edit(scripted_editor(tmp_path, bad), ["q"])
    assert r.code == 3 and "choose one source for the API key" in r.err
    assert FAKE_KEY not in r.err + r.out


def test_an_unchanged_edit_writes_nothing(tmp_path: Path) -> None:
    write_cfg(ORIGINAL)
    r, _ = edit(scripted_editor(tmp_path, ORIGINAL))
    assert r.code == 0 and "unchanged" in r.err
    assert leftovers() == []


def test_without_a_file_the_editor_starts_from_a_skeleton_and_creates_it(tmp_path: Path) -> None:
    path = config.config_path()
    r, _ = edit(scripted_editor(tmp_path, "temperature = 0.3\n"))
    assert r.code == 0, r.err
    assert seen(tmp_path)[0].startswith("# mlchat settings")
    assert path.read_text() == "temperature = 0.3\n"


def test_an_unknown_key_is_saved_with_a_warning(tmp_path: Path) -> None:
    path = write_cfg(ORIGINAL)
    r, _ = edit(scripted_editor(tmp_path, ORIGINAL + "temprature = 0.2\n"))
    assert r.code == 0
    assert "unknown key 'temprature' is ignored (did you mean temperature?)" in r.err
    assert path.read_text().endswith("temprature = 0.2\n")


def test_a_failing_editor_leaves_the_file(tmp_path: Path) -> None:
    path = write_cfg(ORIGINAL)
    r, _ = edit(scripted_editor(tmp_path, "EXIT 4"))
    assert r.code == 2
    assert "the editor exited with status 4; the config file was not changed" in r.err
    assert path.read_text() == ORIGINAL


def test_a_missing_editor_is_one_line(tmp_path: Path) -> None:
    write_cfg(ORIGINAL)
    r, _ = edit(str(tmp_path / "no-such-editor"))
    assert r.code == 2
    assert "cannot run the editor" in r.err and "Traceback" not in r.err
    assert leftovers() == []


def test_a_file_changed_meanwhile_is_not_overwritten(tmp_path: Path) -> None:
    path = write_cfg(ORIGINAL)
    other = ORIGINAL + "seed = 7\n"  # what `mlchat config set seed 7` wrote meanwhile
    editor = scripted_editor(tmp_path, ORIGINAL + "top_p = 0.5\n", also={str(path): other})
    r, _ = edit(editor)
    assert r.code == 3
    assert "was changed by another program while you edited it" in r.err
    assert path.read_text() == other


def test_without_a_terminal_it_is_one_line_and_exit_2(tmp_path: Path) -> None:
    path = write_cfg(ORIGINAL)
    r, _ = edit(scripted_editor(tmp_path, "model = 1\n"), tty=False)
    assert r.code == 2
    assert r.err.splitlines()[0] == (
        "mlchat: error: config edit needs a terminal to run the editor in"
    )
    assert seen(tmp_path) == [] and path.read_text() == ORIGINAL


def test_on_a_real_terminal(tmp_path: Path) -> None:
    """The real entry point on a pty: the error, the question, `e` typed, the fixed edit saved."""
    path = write_cfg(ORIGINAL)
    fixed = ORIGINAL + "max_tokens = 64\n"
    editor = scripted_editor(tmp_path, ORIGINAL + "max_tokens = 0\n", fixed)
    main, replica = pty.openpty()
    try:
        proc = subprocess.Popen(
            mlchat("config", "edit"),
            env=child_env(EDITOR=editor, TERM="xterm"),
            stdin=replica,
            stdout=replica,
            stderr=replica,
            start_new_session=True,
        )
        os.close(replica)
        shown = read_until(main, b"[e]: ")
        os.write(main, b"e\n")
        assert proc.wait(timeout=30) == 0
        shown += read_until(main, b"saved")
    finally:
        os.close(main)
    assert b"max_tokens must be" in shown
    assert path.read_text() == fixed
