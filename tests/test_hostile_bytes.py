"""The byte-for-byte audit: one hostile string (ESC, CSI, OSC, DCS, C1, bidi and the other control
characters) is fed through every path by which text from the network or the store reaches a
terminal, and the exact text written is checked: nothing but our own styling (SGR, our OSC 8
links) may be an escape sequence, and no other control character may arrive raw. Each case also
checks that the hostile text did arrive, escaped, so a path that stops showing it cannot pass.

Against the emulator on 127.0.0.1; the last cases run the real entry point on a pseudo-terminal.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import sqlite3
import sys
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest

from mlchat.cli.common import db_path, open_store
from mlchat.runtime import Runtime
from tests.conftest import FAKE_KEY, Run, invoke
from tests.emulator import Emulator, Reply

# A colour, a window title (BEL), a clipboard write (OSC 52, ST), a DCS query, 8-bit CSI, OSC and
# DCS, NEL, a right-to-left override and isolate, a right-to-left mark, backspace, DEL, NUL,
# vertical tab, form feed and a lone carriage return.
EVIL = (
    "<\x1b[5;6m\x1b]0;pwned\x07\x1b]52;c;cHduZWQ=\x1b\\\x1bP1$q\x1b\\"
    "\x9b2J\x9d0;t\x9c\x90q\x9c\x85\u202e\u2067\u200f\x08\x7f\x00\x0b\x0c\rX>"
)
# How it must show: C0 and DEL in caret notation, C1 and bidi as <U+XXXX>.
SHOWN = (
    "<^[[5;6m^[]0;pwned^G^[]52;c;cHduZWQ=^[\\^[P1$q^[\\"
    "<U+009B>2J<U+009D>0;t<U+009C><U+0090>q<U+009C><U+0085><U+202E><U+2067><U+200F>"
    "^H^?^@^K^L^MX>"
)

# What we write ourselves: SGR styling, our own OSC 8 hyperlinks, and the live display's cursor
# hiding, line erasing and cursor moves.
_OURS = re.compile(
    r"\x1b\[[0-9;]*m|\x1b\]8;(?:id=\d+)?;[^\x00-\x1f\x7f]*\x1b\\"
    r"|\x1b\[\?25[lh]|\r?\x1b\[2K|\x1b\[\d*A"
)
_RAW = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def clean(text: str) -> str:
    """`text` without our own sequences; fails on any other control character."""
    assert "\x1b[5;6m" not in text, "the hostile SGR arrived raw"  # _OURS would hide it
    bare = _OURS.sub("", text)
    found = _RAW.search(bare)
    assert found is None, f"raw {found.group()!r} at {found.start()}: {bare!r}"
    return bare


def shown(text: str, expected: str = SHOWN) -> None:
    """The hostile string arrived, escaped (line breaks and rich's folding ignored)."""
    # Markdown may take a backslash as an escape: compare without them.
    bare = "".join(clean(text).split()).replace("\\", "")
    assert expected.replace("\\", "") in bare, bare


def tty(
    args: list[str], env: dict[str, str], stdin: bytes | None = None, stdin_tty: bool = False
) -> Run:
    """`args` with stdout and stderr on a (forced) terminal, 400 columns wide."""
    return invoke(
        args,
        env={**env, "COLUMNS": "400"},
        stdin=stdin,
        stdin_tty=stdin_tty,
        stdout_tty=True,
        stderr_tty=True,
    )


# --- replies -------------------------------------------------------------------------------------


@pytest.mark.parametrize("flags", [[], ["--plain"]])
def test_reply_text(env: dict[str, str], emulator: Emulator, flags: list[str]) -> None:
    emulator.script(Reply.chat(f"# t{EVIL}\n\npara {EVIL}\n\n- item {EVIL}\n"))
    r = tty(["ask", *flags, "hi"], env)
    assert r.code == 0, r.err
    shown(r.out)
    clean(r.err)


def test_reply_code_block_and_table(env: dict[str, str], emulator: Emulator) -> None:
    emulator.script(
        Reply.chat(f"```python\nx = '{EVIL}'\n```\n\n| a | b |\n|---|---|\n| {EVIL} | `{EVIL}` |\n")
    )
    r = tty(["ask", "hi"], env)
    assert r.code == 0, r.err
    clean(r.out)
    assert clean(r.out).count("^[]0;pwned^G") == 3


def test_reply_links(env: dict[str, str], emulator: Emulator) -> None:
    emulator.script(Reply.chat(f"[a{EVIL}](http://e.example/{EVIL}) ![i{EVIL}](http://i/{EVIL})"))
    r = tty(["ask", "hi"], env={**env, "FORCE_HYPERLINK": "1"})
    assert r.code == 0, r.err
    clean(r.out)
    assert "^[]0;pwned^G" in clean(r.out)


def test_reasoning_and_refusal(env: dict[str, str], emulator: Emulator) -> None:
    emulator.script(Reply.chat("", reasoning=f"think {EVIL}", refusal=f"no {EVIL}"))
    r = tty(["ask", "--show-reasoning", "hi"], env)
    shown(r.out + r.err)
    clean(r.out)
    clean(r.err)


def test_the_answering_model_in_usage(env: dict[str, str], emulator: Emulator) -> None:
    emulator.script(Reply.chat("ok", model="m" + EVIL))
    r = tty(["ask", "--usage", "hi"], env)
    assert r.code == 0, r.err
    clean(r.out)
    clean(r.err)


def test_extract_on_a_terminal(env: dict[str, str], emulator: Emulator) -> None:
    emulator.script(Reply.chat(f"```\n{EVIL}\n```\n"))
    r = tty(["ask", "-x", "hi"], env)
    assert r.code == 0, r.err
    assert "^[]0;pwned^G" in clean(r.out)  # (CommonMark makes NUL U+FFFD)


def test_json_on_a_terminal(env: dict[str, str], emulator: Emulator) -> None:
    """JSON escapes C0 itself; C1 and bidi must be escaped too (the same JSON value)."""
    emulator.script(Reply.chat("t" + EVIL))
    r = tty(["ask", "--json", "hi"], env)
    assert r.code == 0, r.err
    clean(r.out)
    assert json.loads(r.out)["text"] == "t" + EVIL


# --- server errors -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "reply",
    [
        Reply.error(400, {"error": {"message": "bad " + EVIL}}),
        Reply.error(200, {"status": "error", "message": "bad " + EVIL}),
        Reply.error(500, "bad " + EVIL, content_type="text/plain"),
        Reply.raw(
            502, f"<html><title>bad {EVIL}</title></html>".encode(), content_type="text/html"
        ),
        Reply.sse([{"error": {"message": "bad " + EVIL}}]),
        Reply.sse(
            [
                "event: error\n",
                "data: " + json.dumps({"error": {"message": "bad " + EVIL}}) + "\n\n",
            ]
        ),
    ],
)
def test_server_error_messages(env: dict[str, str], emulator: Emulator, reply: Reply) -> None:
    emulator.script(reply)
    r = tty(["ask", "hi"], {**env, "MLCHAT_RETRIES": "0"})
    assert r.code != 0
    assert "bad" in r.err
    clean(r.err)
    clean(r.out)


def test_server_error_in_debug_trace(env: dict[str, str], emulator: Emulator) -> None:
    emulator.script(Reply.error(400, {"error": {"message": "bad " + EVIL}}))
    r = tty(["--debug", "ask", "hi"], env)
    assert r.code == 4
    clean(r.err)


def test_tokens_error(env: dict[str, str], emulator: Emulator) -> None:
    emulator.script(Reply.error(400, {"error": {"message": "bad " + EVIL}}))
    r = tty(["tokens", "-m", "claude-sonnet-4", "hi"], env)
    assert r.code != 0
    assert "^[]0;pwned^G" in clean(r.err)


def test_key_check_error(env: dict[str, str], emulator: Emulator) -> None:
    emulator.script(Reply.error(401, {"error": {"message": "bad " + EVIL}}))
    r = tty(["key", "status", "--check"], env)
    clean(r.out)
    clean(r.err)


# --- models --------------------------------------------------------------------------------------


def evil_models(emulator: Emulator) -> None:
    emulator.models = [
        {"id": "ev-one" + EVIL, "owned_by": "o" + EVIL, "created": 1700000000},
        {"id": "ev-two", "owned_by": "x", "created": 1700000000, "name": "n" + EVIL},
    ]


@pytest.mark.parametrize("flags", [[], ["--json"], ["ev-"]])
def test_models(env: dict[str, str], emulator: Emulator, flags: list[str]) -> None:
    evil_models(emulator)
    r = tty(["models", *flags], env)
    assert r.code == 0, r.err
    clean(r.out)
    clean(r.err)
    assert "pwned" in r.out


def test_ambiguous_model(env: dict[str, str], emulator: Emulator) -> None:
    evil_models(emulator)
    assert invoke(["models"], env=env).code == 0
    r = tty(["ask", "-m", "ev-", "hi"], env)
    assert r.code == 2
    shown(r.err)


def test_unknown_model_suggestions(env: dict[str, str], emulator: Emulator) -> None:
    evil_models(emulator)
    assert invoke(["models"], env=env).code == 0
    r = tty(["ask", "-m", "ev-onf", "hi"], env)
    clean(r.err)


# --- tools ---------------------------------------------------------------------------------------


@pytest.fixture
def toolfile(tmp_path: Path) -> Path:
    script = tmp_path / "evil.py"
    script.write_text(
        "import sys\nsys.stdin.read()\n"
        f"sys.stdout.write({EVIL!r})\nsys.stderr.write({EVIL!r})\n"
        "sys.exit(int(sys.argv[1]))\n"
    )
    path = tmp_path / "tools.toml"
    path.write_text(
        "[[tools]]\n"
        'name = "ok"\n'
        f"command = [{json.dumps(sys.executable)}, {json.dumps(str(script))}, '0']\n"
        "[[tools]]\n"
        'name = "bad"\n'
        f"command = [{json.dumps(sys.executable)}, {json.dumps(str(script))}, '3']\n"
    )
    return path


def tool_calls(emulator: Emulator) -> None:
    emulator.script(
        Reply.chat(
            "",
            tool_calls=[
                {"id": "id" + EVIL, "name": "ok", "arguments": json.dumps({"k" + EVIL: EVIL})},
                {"id": "id2", "name": "bad", "arguments": json.dumps({"a": [EVIL] * 40})},
                {"id": "id3", "name": "nm" + EVIL, "arguments": "{}"},
                {"id": "id4", "name": "ok", "arguments": "{" + EVIL},
            ],
            finish_reason="tool_calls",
        ),
        Reply.chat("done " + EVIL),
    )


def test_tool_calls_results_and_errors(
    env: dict[str, str], emulator: Emulator, toolfile: Path
) -> None:
    tool_calls(emulator)
    r = tty(["ask", "--tools", str(toolfile), "-y", "hi"], env)
    assert r.code == 0, r.err
    clean(r.out)
    clean(r.err)
    assert "^[]0;pwned^G" in r.err


def test_approval_question_and_view(
    env: dict[str, str], emulator: Emulator, toolfile: Path
) -> None:
    tool_calls(emulator)
    asked: list[str] = []
    paged: list[str] = []
    answers = ["v", "y", "v", "y", "y"]

    def read_line(prompt: str) -> str:
        asked.append(prompt)
        return answers.pop(0)

    base = {k: v for k, v in os.environ.items() if k.startswith("XDG_") or k == "HOME"}
    rt = Runtime(
        env={**base, **env, "COLUMNS": "400"},
        stdin=io.BytesIO(b""),
        stdout=io.StringIO(),
        stderr=io.StringIO(),
        stdin_tty=True,
        stdout_tty=True,
        stderr_tty=True,
        sleep=lambda _s: None,
        read_line=read_line,
        page=paged.append,
    )
    r = invoke(["ask", "--tools", str(toolfile), "hi"], rt=rt)
    assert isinstance(rt.stderr, io.StringIO) and isinstance(rt.stdout, io.StringIO)
    assert r.code == 0, rt.stderr.getvalue()
    clean(rt.stderr.getvalue())
    clean(rt.stdout.getvalue())
    for text in asked + paged:
        clean(text)
    assert any("pwned" in p for p in paged)


# --- the store -----------------------------------------------------------------------------------


@pytest.fixture
def stored(env: dict[str, str], emulator: Emulator, toolfile: Path) -> str:
    """A saved conversation with the hostile string everywhere: name, messages, tool calls."""
    tool_calls(emulator)
    r = invoke(["ask", "--tools", str(toolfile), "-y", "-s", "sys " + EVIL, "q " + EVIL], env=env)
    assert r.code == 0, r.err
    store = open_store(create=False)
    assert store is not None
    latest = store.latest()
    assert latest is not None
    cid = latest.id
    assert cid is not None
    store.close()
    # mlchat refuses such a name; another program (or an older version) may have written it.
    with closing(sqlite3.connect(db_path())) as db, db:
        db.execute("UPDATE conversations SET name = ?, model = ?", ("nm" + EVIL, "m" + EVIL))
    return cid


@pytest.mark.parametrize(
    "args",
    [
        ["sessions", "list"],
        ["sessions", "list", "--json"],
        ["sessions", "show"],
        ["sessions", "search", "pwned"],
        ["sessions", "export"],
        ["sessions", "export", "--format", "json"],
    ],
)
def test_sessions(env: dict[str, str], stored: str, args: list[str]) -> None:
    r = tty(args, env)
    assert r.code == 0, r.err
    assert "pwned" in r.out
    clean(r.out)
    clean(r.err)


def test_sessions_rm_question(env: dict[str, str], stored: str) -> None:
    r = tty(["sessions", "rm", stored], env, stdin=b"n\n", stdin_tty=True)
    assert "pwned" in r.err
    clean(r.err)


def test_chat_history_and_resume(env: dict[str, str], stored: str) -> None:
    r = tty(["chat", "-c"], env, stdin=b"/history\n/exit\n")
    assert r.code == 0, r.err
    assert "pwned" in r.out + r.err
    clean(r.out)
    clean(r.err)


# --- MCP -----------------------------------------------------------------------------------------

MCP_SERVER = """
import sys
from mcp.server.mcpserver import MCPServer

EVIL = {evil!r}
app = MCPServer("x" + EVIL, instructions="i" + EVIL, log_level="WARNING")

def tool() -> str:
    return "result " + EVIL

app.add_tool(tool, name="t" + EVIL, description="d" + EVIL)

def broken() -> str:
    raise RuntimeError("failed " + EVIL)

app.add_tool(broken, name="broken", description="b")
app.run("stdio")
"""


@pytest.fixture
def mcp_config(tmp_path: Path) -> Iterator[Path]:
    pytest.importorskip("mcp")
    server = tmp_path / "evil_mcp.py"
    server.write_text(MCP_SERVER.format(evil=EVIL))
    config = tmp_path / "mcp.json"
    config.write_text(
        json.dumps({"mcpServers": {"evil": {"command": sys.executable, "args": [str(server)]}}})
    )
    yield config


@pytest.mark.parametrize(
    "args",
    [["mcp", "list"], ["mcp", "tools", "evil"], ["mcp", "tools", "evil", "--json"]],
)
def test_mcp(env: dict[str, str], mcp_config: Path, args: list[str]) -> None:
    r = tty([*args, "--mcp-config", str(mcp_config)], env)
    assert r.code == 0, r.err
    clean(r.out)
    clean(r.err)
    if args[1] == "tools":
        assert "pwned" in r.out


def test_mcp_call(env: dict[str, str], mcp_config: Path) -> None:
    tools = tty(["mcp", "tools", "evil", "--json", "--mcp-config", str(mcp_config)], env)
    name = next(t["name"] for t in json.loads(tools.out) if t["name"] != "broken")
    r = tty(["mcp", "call", "evil", name, "{}", "--mcp-config", str(mcp_config)], env)
    assert r.code == 0, r.err
    shown(r.out)
    clean(r.err)
    r = tty(["mcp", "call", "evil", "broken", "{}", "--mcp-config", str(mcp_config)], env)
    assert r.code == 4
    clean(r.out)
    clean(r.err)


# --- the real entry point on a pseudo-terminal ---------------------------------------------------


def test_on_a_pseudo_terminal(emulator: Emulator, tmp_path: Path) -> None:
    """stdout and stderr both a real terminal: the bytes the terminal gets."""
    import pty
    import subprocess

    emulator.script(
        Reply.chat(f"text {EVIL}", reasoning=f"r {EVIL}"),
        Reply.error(400, {"error": {"message": "bad " + EVIL}}),
    )
    root = Path(__file__).resolve().parent.parent
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MODELSLAB_", "MLCHAT_"))}
    env.update(
        PYTHONPATH=str(root),
        MODELSLAB_API_KEY=FAKE_KEY,
        MODELSLAB_BASE_URL=emulator.base_url,
        TERM="xterm-256color",
        COLUMNS="200",
        LC_ALL="C.UTF-8",
    )
    for args in (["ask", "--show-reasoning", "hi"], ["ask", "hi"]):
        leader, follower = pty.openpty()
        proc = subprocess.Popen(
            [sys.executable, "-m", "mlchat", *args],
            stdin=subprocess.DEVNULL,
            stdout=follower,
            stderr=follower,
            env=env,
        )
        os.close(follower)
        data = b""
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:
                break
            if not chunk:
                break
            data += chunk
        proc.wait(timeout=30)
        os.close(leader)
        text = data.decode("utf-8", errors="surrogateescape")
        text = text.replace("\r\n", "\n")  # the terminal's own newline translation
        assert "pwned" in text
        clean(text)


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
def test_a_stored_model_id_in_the_chat_toolbar(
    env: dict[str, str], emulator: Emulator, tmp_path: Path
) -> None:
    """The toolbar of a resumed conversation names its model, read back from the store: in a
    real terminal (tmux), its bidi controls show escaped (prompt_toolkit itself draws C0 and C1
    in caret notation, but passes the bidi controls through)."""
    from tests.test_typeahead_tmux import Terminal

    assert invoke(["ask", "hi"], env=env).code == 0
    with closing(sqlite3.connect(db_path())) as db, db:
        db.execute("UPDATE conversations SET model = ?", ("m\u202eevil\u2066x\x1b[5;6m",))
    term = Terminal(tmp_path, emulator, "-c")
    try:
        screen = term.wait_for("│  /help")
        toolbar = next(line for line in screen.splitlines() if "│  /help" in line)
        assert "m<U+202E>evil<U+2066>x^[[5;6m · openai" in toolbar, toolbar
        assert "\u202e" not in screen and "\u2066" not in screen
        term.keys("C-d")
        assert term.exit_status() == 0
    finally:
        term.close()
