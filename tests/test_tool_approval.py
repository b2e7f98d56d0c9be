"""The approval question shows every argument the tool will get, and accepts a yes only once all
of it was shown. Driven through `ask --tools` on a (simulated) terminal against the emulator; the
bytes written to stderr are checked exactly."""

from __future__ import annotations

import io
import json
import os
import shlex
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mlchat.cli import app
from mlchat.runtime import Runtime
from mlchat.ui import arguments
from tests.conftest import FAKE_KEY
from tests.emulator import Emulator, Reply

PROMPT = "Run run_shell? [y]es / [n]o / [a]lways / [v]iew all: "


@pytest.fixture
def toolfile(tmp_path: Path) -> Path:
    (tmp_path / "record.py").write_text(
        "import sys\nopen('ran.json', 'w').write(sys.stdin.read())\nprint('ok')\n"
    )
    path = tmp_path / "tools.toml"
    path.write_text(
        f'[[tools]]\nname = "run_shell"\ncommand = [{json.dumps(sys.executable)}, "record.py"]\n'
    )
    return path


class Session:
    def __init__(self, emulator: Emulator, answers: list[str]) -> None:
        self.answers = answers
        self.asked: list[str] = []
        self.paged: list[str] = []
        self.err = io.StringIO()
        base = {k: v for k, v in os.environ.items() if k.startswith("XDG_") or k == "HOME"}
        self.rt = Runtime(
            env={**base, "MODELSLAB_API_KEY": FAKE_KEY, "MODELSLAB_BASE_URL": emulator.base_url},
            stdin=io.BytesIO(b""),
            stdout=io.StringIO(),
            stderr=self.err,
            stdin_tty=True,
            stdout_tty=False,
            stderr_tty=True,
            sleep=lambda _s: None,
            read_line=self.read_line,
            page=self.paged.append,
        )

    def read_line(self, prompt: str) -> str:
        self.asked.append(prompt)
        if not self.answers:
            raise EOFError
        return self.answers.pop(0)

    def run(self, toolfile: Path) -> int:
        result = CliRunner().invoke(app, ["ask", "--tools", str(toolfile), "go"], obj=self.rt)
        return result.exit_code


def script(emulator: Emulator, args: str) -> None:
    emulator.script(
        Reply.chat(
            "",
            tool_calls=[{"id": "c1", "name": "run_shell", "arguments": args}],
            finish_reason="tool_calls",
        ),
        Reply.chat("fine"),
    )


def ran(toolfile: Path) -> object:
    path = toolfile.parent / "ran.json"
    return json.loads(path.read_text()) if path.exists() else None


def test_a_long_value_cannot_hide_the_next_key(emulator: Emulator, toolfile: Path) -> None:
    """The 300-character cut used to show only the A's; the tool still got `cmd`."""
    args = json.dumps({"note": "A" * 5000, "cmd": "rm -rf ~/x"})
    script(emulator, args)
    s = Session(emulator, ["n"])
    assert s.run(toolfile) == 0
    assert s.err.getvalue().startswith(
        "mlchat: tool call: run_shell\n"
        "  {\n"
        f'    "note": "{"A" * 99}…" (+4,902 characters),\n'
        '    "cmd": "rm -rf ~/x"\n'
        "  }\n"
    )
    assert s.asked == [PROMPT]
    assert ran(toolfile) is None


def test_view_pages_the_whole_call(emulator: Emulator, toolfile: Path) -> None:
    args = json.dumps({"note": "A" * 5000, "cmd": "rm -rf ~/x"})
    script(emulator, args)
    s = Session(emulator, ["v", "y"])
    assert s.run(toolfile) == 0
    assert s.paged == [f'run_shell\n{{\n  "note": "{"A" * 5000}",\n  "cmd": "rm -rf ~/x"\n}}\n']
    assert ran(toolfile) == {"note": "A" * 5000, "cmd": "rm -rf ~/x"}


def test_a_yes_waits_until_every_key_was_shown(emulator: Emulator, toolfile: Path) -> None:
    value = {f"k{i:03}": i for i in range(100)}
    script(emulator, json.dumps(value))
    s = Session(emulator, ["y", "a", "v", "y"])
    assert s.run(toolfile) == 0
    err = s.err.getvalue()
    assert f"  … {100 + 2 - arguments.MAX_LINES:,} more lines: [v]iew shows them\n" in err
    assert err.count("mlchat: not all of this call was shown: [v]iew it first, or answer n") == 2
    assert len(s.asked) == 4
    assert all(f'"k{i:03}": {i}' in s.paged[0] for i in range(100))
    assert ran(toolfile) == value


def test_unseen_and_refused_never_runs(emulator: Emulator, toolfile: Path) -> None:
    script(emulator, json.dumps({f"k{i}": i for i in range(100)}))
    s = Session(emulator, ["y"])  # then end of input: a no
    assert s.run(toolfile) == 0
    assert ran(toolfile) is None
    assert "declined" in emulator.requests[1].json["messages"][-1]["content"]


def test_the_tool_gets_what_was_shown_when_a_key_is_given_twice(
    emulator: Emulator, toolfile: Path
) -> None:
    script(emulator, '{"cmd": "ls", "cmd": "rm -rf ~/x"}')
    s = Session(emulator, ["y"])
    assert s.run(toolfile) == 0
    assert 'mlchat: tool call: run_shell {"cmd": "rm -rf ~/x"}\n' in s.err.getvalue()
    assert ran(toolfile) == {"cmd": "rm -rf ~/x"}


def test_escape_sequences_in_arguments_reach_the_terminal_escaped(
    emulator: Emulator, toolfile: Path
) -> None:
    script(emulator, json.dumps({"t": "\x1b]0;pwned\x07\x1b[2J\u009b6n\u202eevil"}))
    s = Session(emulator, ["n"])
    assert s.run(toolfile) == 0
    err = s.err.getvalue()
    shown = '{"t": "\\u001b]0;pwned\\u0007\\u001b[2J<U+009B>6n<U+202E>evil"}'
    assert err.startswith(f"mlchat: tool call: run_shell {shown}\n")
    assert "\x1b" not in err and "\x07" not in err and "\u009b" not in err


def test_an_unknown_tool_with_escapes_in_its_name_is_not_asked_about(
    emulator: Emulator, toolfile: Path
) -> None:
    emulator.script(
        Reply.chat(
            "",
            tool_calls=[{"id": "c1", "name": "x\x1b]0;t\x07y", "arguments": "{}"}],
            finish_reason="tool_calls",
        ),
        Reply.chat("fine"),
    )
    s = Session(emulator, [])
    assert s.run(toolfile) == 0
    assert s.asked == []
    err = s.err.getvalue()
    assert err.startswith("mlchat: tool call: x^[]0;t^Gy {}\n")
    assert "\x1b" not in err


def test_arguments_that_cannot_be_used_are_not_asked_about(
    emulator: Emulator, toolfile: Path
) -> None:
    script(emulator, '{"a": ' + "[" * 3000 + "]" * 3000 + "}")
    s = Session(emulator, [])
    assert s.run(toolfile) == 0
    assert s.asked == []
    assert "nested too deeply" in emulator.requests[1].json["messages"][-1]["content"]


@pytest.mark.parametrize(
    ("args", "lines", "complete"),
    [
        ('{"a": 1}', ['{"a": 1}'], True),
        ("", ["{}"], True),
        ("not json", ["(not JSON) not json"], True),
        ('{"n": ' + "9" * 400 + "}", ["{", f'  "n": {"9" * 100}… (+300 characters)', "}"], True),
        (
            json.dumps({"a": {"b": ["x" * 90, {"c": None}]}}),
            [
                "{",
                '  "a": {',
                '    "b": [',
                f'      "{"x" * 90}",',
                "      {",
                '        "c": null',
                "      }",
                "    ]",
                "  }",
                "}",
            ],
            True,
        ),
    ],
)
def test_folded_views(args: str, lines: list[str], complete: bool) -> None:
    view = arguments.folded(args)
    assert view.lines == lines
    assert view.complete is complete


def test_the_pager_gets_no_variable_holding_the_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """[v]iew runs the user's pager: it gets neither MODELSLAB_API_KEY nor a variable whose
    value holds the key (the one `api_key_env` names, say), and the rest of the environment."""
    seen = tmp_path / "env.json"
    dump = (
        "import json, os, sys; sys.stdin.read(); "
        f"json.dump(dict(os.environ), open({str(seen)!r}, 'w'))"
    )
    monkeypatch.setenv("PAGER", f"{sys.executable} -c {shlex.quote(dump)}")
    monkeypatch.setenv("MODELSLAB_API_KEY", FAKE_KEY)
    monkeypatch.setenv("MY_KEY", FAKE_KEY)
    monkeypatch.setenv("AUTH_HEADER", f"Bearer {FAKE_KEY}")
    monkeypatch.setenv("KEEP_ME", "yes")
    rt = Runtime(secrets={FAKE_KEY})
    rt.show_paged("the whole call\n")
    env = json.loads(seen.read_text())
    assert env["KEEP_ME"] == "yes" and env["LESSSECURE"] == "1"
    assert FAKE_KEY not in json.dumps(env)
    assert not {"MODELSLAB_API_KEY", "MY_KEY", "AUTH_HEADER"} & env.keys()
