"""Strings from the network or the store reach a terminal through one sanitiser (mlchat.text):
the exact bytes written are checked, on a (forced) terminal, for each place that used to let an
escape sequence through, and rich markup in data is never interpreted."""

from __future__ import annotations

import io
import json
import re
import sys
from pathlib import Path

import pytest

from mlchat.types import TextDelta
from mlchat.ui.console import make_console
from mlchat.ui.links import hyperlinks_supported
from mlchat.ui.markdown import MarkdownRenderer
from tests.conftest import invoke
from tests.emulator import Emulator, Reply

# A window title, a colour, an 8-bit CSI (clear screen) and a right-to-left override.
EVIL = "\x1b]0;pwned\x07\x1b[31mred\u009b2J\u202e"
SHOWN = "^[]0;pwned^G^[[31mred<U+009B>2J<U+202E>"
SGR = re.compile(r"\x1b\[[0-9;]*m")


def no_raw_controls(text: str) -> None:
    """Nothing but our own styling (SGR) may be an escape sequence."""
    bare = SGR.sub("", text)
    assert "\x1b" not in bare and "\x07" not in bare and "\u009b" not in bare, repr(bare)
    assert "\u202e" not in bare


def test_model_ids_in_the_models_table(env: dict[str, str], emulator: Emulator) -> None:
    emulator.models = [
        {"id": "bad[/]model", "owned_by": "[bold]x", "created": 1700000000},
        {"id": "ev" + EVIL, "owned_by": "o" + EVIL, "created": 1700000000},
    ]
    r = invoke(["models"], env={**env, "COLUMNS": "200"}, stdout_tty=True)
    assert r.code == 0, r.err
    no_raw_controls(r.out)
    plain = SGR.sub("", r.out)
    assert "bad[/]model" in plain and "[bold]x" in plain
    assert "ev" + SHOWN in plain and "o" + SHOWN in plain


def test_model_ids_in_the_ambiguous_model_error(env: dict[str, str], emulator: Emulator) -> None:
    emulator.models = [
        {"id": "ev-one" + EVIL, "owned_by": "x", "created": 1},
        {"id": "ev-two", "owned_by": "x", "created": 1},
    ]
    assert invoke(["models"], env=env).code == 0  # fills the cache -m reads
    r = invoke(["ask", "-m", "ev-", "hi"], env=env, stderr_tty=True)
    assert r.code == 2
    assert r.err.splitlines()[0] == (
        f"mlchat: error: 'ev-' matches 2 models: ev-one{SHOWN}, ev-two"
    )
    no_raw_controls(r.err)


def test_server_error_messages(env: dict[str, str], emulator: Emulator) -> None:
    emulator.script(Reply.error(400, {"error": {"message": "bad " + EVIL}}))
    r = invoke(["ask", "hi"], env=env, stderr_tty=True)
    assert r.code == 4
    assert r.err == f"mlchat: error: HTTP 400: bad {SHOWN}\n"


def test_a_server_error_in_a_warning(env: dict[str, str], emulator: Emulator) -> None:
    """`models` falls back to the cache with a warning quoting the server's message."""
    assert invoke(["models"], env=env).code == 0
    emulator.script(Reply.error(503, {"error": {"message": "down " + EVIL}}))
    r = invoke(["models", "--refresh"], env={**env, "MLCHAT_RETRIES": "0"}, stderr_tty=True)
    assert r.code == 0, r.err
    assert f"down {SHOWN}" in r.err
    no_raw_controls(r.err)


def test_tool_call_ids_and_names_in_sessions_show(
    env: dict[str, str], emulator: Emulator, tmp_path: Path
) -> None:
    toolfile = tmp_path / "tools.toml"
    toolfile.write_text(
        f'[[tools]]\nname = "t"\ncommand = [{json.dumps(sys.executable)}, "-c", "print(1)"]\n'
    )
    emulator.script(
        Reply.chat(
            "",
            tool_calls=[
                {"id": "id" + EVIL, "name": "t", "arguments": "{}"},
                {"id": "id2", "name": "nm" + EVIL, "arguments": json.dumps({"a": EVIL})},
            ],
            finish_reason="tool_calls",
        ),
        Reply.chat("done"),
    )
    assert invoke(["ask", "--tools", str(toolfile), "-y", "hi"], env=env).code == 0
    r = invoke(["sessions", "show"], env=env, stdout_tty=True)
    assert r.code == 0, r.err
    no_raw_controls(r.out)
    plain = SGR.sub("", r.out)
    assert f"result of id{SHOWN}" in plain
    assert f"→ nm{SHOWN}(" in plain


def test_markup_in_a_conversation_name_is_data(env: dict[str, str], emulator: Emulator) -> None:
    assert invoke(["ask", "hi"], env=env).code == 0
    listed = invoke(["sessions", "list", "--json"], env=env)
    cid = json.loads(listed.out)[0]["id"]
    renamed = invoke(["sessions", "rename", cid, "[bold]n[red]"], env=env)
    assert renamed.code == 0, renamed.err
    r = invoke(["sessions", "list"], env={**env, "COLUMNS": "200"}, stdout_tty=True)
    assert r.code == 0, r.err
    no_raw_controls(r.out)
    assert "[bold]n[red]" in SGR.sub("", r.out)


# --- links ---------------------------------------------------------------------------------------

LINK = re.compile(r"\x1b\]8;id=\d+;")


def render(text: str, *, hyperlinks: bool, env: dict[str, str] | None = None) -> str:
    out = io.StringIO()
    renderer = MarkdownRenderer(
        make_console(out, env or {}, tty=True, width=100), live=False, hyperlinks=hyperlinks
    )
    renderer.feed(TextDelta(text))
    renderer.finish()
    return LINK.sub("\x1b]8;id=N;", out.getvalue())


def test_a_link_that_is_not_its_text_shows_its_target_without_osc8() -> None:
    out = render("See [https://docs.python.org](http://evil.example).\n", hyperlinks=False)
    assert out == (
        "See \x1b[4;34mhttps://docs.python.org\x1b[0m\x1b[2m (http://evil.example)\x1b[0m.\n"
    )


def test_a_link_that_is_not_its_text_shows_its_target_with_osc8() -> None:
    out = render("See [https://docs.python.org](http://evil.example).\n", hyperlinks=True)
    assert out == (
        "See \x1b]8;id=N;http://evil.example\x1b\\\x1b[4;34mhttps://docs.python.org\x1b[0m"
        "\x1b]8;;\x1b\\\x1b[2m (http://evil.example)\x1b[0m.\n"
    )


def test_a_link_that_is_its_text_shows_once() -> None:
    assert render("<https://ok.example>\n", hyperlinks=False) == (
        "\x1b[4;34mhttps://ok.example\x1b[0m\n"
    )
    assert render("[ok.example/a](ok.example/a/)\n", hyperlinks=False) == (
        "\x1b[4;34mok.example/a\x1b[0m\n"
    )


def test_an_image_shows_its_source() -> None:
    assert render("![a cat](https://img.example/c.png)\n", hyperlinks=False) == (
        "🌆 \x1b[4;34ma cat\x1b[0m\x1b[2m (https://img.example/c.png)\x1b[0m\n"
    )


def test_no_color_keeps_the_target() -> None:
    out = render("[docs](http://evil.example)\n", hyperlinks=False, env={"NO_COLOR": "1"})
    assert out == "\x1b[4mdocs\x1b[0m\x1b[2m (http://evil.example)\x1b[0m\n"


def test_escapes_in_a_link_target_stay_escaped() -> None:
    out = render("[x](http://e.example/\x1b]8;;\x07)\n", hyperlinks=True)
    assert out.count("\x1b]8;") == 2  # our open and close, nothing from the model
    assert "http://e.example/%5E%5B%5D8;;%5EG" in out  # escaped, then percent-encoded


@pytest.mark.parametrize(
    ("env", "supported"),
    [
        ({}, False),
        ({"TERM": "xterm-256color"}, False),
        ({"TERM_PROGRAM": "iTerm.app"}, True),
        ({"TERM": "xterm-kitty"}, True),
        ({"VTE_VERSION": "7200"}, True),
        ({"VTE_VERSION": "4600"}, False),
        ({"TERM_PROGRAM": "WezTerm", "TMUX": "/tmp/tmux-0/default,1,0"}, False),
        ({"TERM": "screen-256color", "WT_SESSION": "x"}, False),
        ({"FORCE_HYPERLINK": "1"}, True),
        ({"FORCE_HYPERLINK": "0", "TERM_PROGRAM": "iTerm.app"}, False),
    ],
)
def test_osc8_only_where_known_to_work(env: dict[str, str], supported: bool) -> None:
    assert hyperlinks_supported(env) is supported


def test_chat_reply_links_end_to_end(env: dict[str, str], emulator: Emulator) -> None:
    emulator.script(Reply.chat("[https://docs.python.org](http://evil.example)"))
    r = invoke(["ask", "hi"], env={**env, "TERM": "xterm"}, stdout_tty=True)
    assert r.code == 0, r.err
    assert "(http://evil.example)" in SGR.sub("", r.out)
    assert "\x1b]8;" not in r.out
