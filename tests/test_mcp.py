"""MCP servers in `ask`, `chat` and `mlchat mcp`, against real servers: the small server of
tests/mcp_server.py (written with the SDK's server API) over stdio and over Streamable HTTP on
127.0.0.1, and mcp-server-time from PyPI, with the emulator acting as the model.

Server start-up costs about a second per stdio server (a Python process importing the SDK), so the
HTTP server is started once for the module and most behaviour is checked through it.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from mlchat.cli.common import open_store
from tests.conftest import FAKE_KEY, invoke
from tests.emulator import Emulator, Reply
from tests.test_cli_tools import tty_invoke

SERVER = Path(__file__).with_name("mcp_server.py")
TIME_SERVER = Path(sys.executable).with_name("mcp-server-time")


def call(name: str, args: dict[str, object] | None = None, ident: str = "call_1") -> dict[str, str]:
    return {"id": ident, "name": name, "arguments": json.dumps(args or {})}


def write_config(text: str) -> Path:
    path = Path(os.environ["XDG_CONFIG_HOME"]) / "mlchat" / "config.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def stdio_table(name: str, **extra: str) -> str:
    lines = [
        f"[mcp.{name}]",
        f"command = [{json.dumps(sys.executable)}, {json.dumps(str(SERVER))}, 'stdio']",
        f'env = {{MCP_TEST_NAME = "{name}", MCP_TEST_PIDS = "${{MCP_TEST_PIDS}}"}}',
        *(f"{k} = {v}" for k, v in extra.items()),
    ]
    return "\n".join(lines) + "\n"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def http_url() -> Iterator[str]:
    """One Streamable HTTP server for the whole module."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, str(SERVER), "http", str(port)],
        env={**os.environ, "MCP_TEST_NAME": "web"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 20
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                pytest.fail("the MCP HTTP test server did not start")
            time.sleep(0.05)
    yield f"http://127.0.0.1:{port}/mcp"
    proc.terminate()
    proc.wait(10)


@pytest.fixture
def pids(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Where the stdio test servers write their pid and their child's."""
    path = tmp_path / "pids"
    monkeypatch.setenv("MCP_TEST_PIDS", str(path))
    return path


def server_pids(path: Path) -> list[int]:
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def all_gone(path: Path) -> bool:
    """Every pid in `path` ended (SIGKILL is delivered asynchronously: allow it a moment)."""
    deadline = time.monotonic() + 3
    while any(alive(p) for p in server_pids(path)):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return bool(server_pids(path))


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (exited, not yet reaped by its new parent) is not a running process.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
    except (OSError, IndexError):
        return True


def env_with(emulator: Emulator, **extra: str) -> dict[str, str]:
    return {
        "MODELSLAB_API_KEY": FAKE_KEY,
        "MODELSLAB_BASE_URL": emulator.base_url,
        "MCP_TEST_PIDS": os.environ.get("MCP_TEST_PIDS", ""),
        **extra,
    }


def tool_names(request_json: dict[str, object]) -> list[str]:
    tools = request_json.get("tools") or []
    assert isinstance(tools, list)
    return [t["function"]["name"] if "function" in t else t["name"] for t in tools]


# -- the whole path, both dialects, streamed ---------------------------------------------------


@pytest.mark.parametrize("api", ["openai", "anthropic"])
def test_stdio_server_tool_list_call_and_result(emulator: Emulator, pids: Path, api: str) -> None:
    write_config(stdio_table("demo"))
    emulator.script(
        Reply.chat(
            "Checking. ",
            tool_calls=[call("demo__echo", {"text": "hi"})],
            finish_reason="tool_calls",
        ),
        Reply.chat("It said hi.", chunk_size=4),
    )
    r = invoke(["ask", "--api", api, "--mcp", "demo", "--yes", "say hi"], env=env_with(emulator))
    assert r.code == 0, r.err
    assert r.out == "Checking. \nIt said hi.\n"
    first, second = (req.json for req in emulator.requests)
    assert first["stream"] is True and second["stream"] is True
    assert "demo__echo" in tool_names(first) and "demo__crash" in tool_names(first)
    result = second["messages"][-1]
    if api == "openai":
        spec = next(t for t in first["tools"] if t["function"]["name"] == "demo__echo")
        assert spec["function"]["parameters"]["required"] == ["text"]
        assert "Echo the text back" in spec["function"]["description"]
        assert result == {"role": "tool", "tool_call_id": "call_1", "content": "demo says: hi"}
    else:
        spec = next(t for t in first["tools"] if t["name"] == "demo__echo")
        assert spec["input_schema"]["required"] == ["text"]
        block = result["content"][0]
        assert block["type"] == "tool_result" and block["tool_use_id"] == "call_1"
        assert block["content"] == "demo says: hi"
    assert "tool call: demo__echo" in r.err
    # The server's stderr went to its log, not over the answer.
    assert "demo starting" not in r.err
    log = Path(os.environ["XDG_STATE_HOME"]) / "mlchat" / "mcp" / "demo.log"
    assert "demo starting" in log.read_text()
    # Normal exit: the server and the child it left in its group are gone.
    assert all_gone(pids)


@pytest.mark.parametrize("api", ["openai", "anthropic"])
def test_reference_server_from_pypi(emulator: Emulator, api: str) -> None:
    write_config(
        f"[mcp.time]\ncommand = [{json.dumps(str(TIME_SERVER))}, '--local-timezone', 'UTC']\n"
    )
    emulator.script(
        Reply.chat(
            "",
            tool_calls=[call("time__get_current_time", {"timezone": "Asia/Tokyo"})],
            finish_reason="tool_calls",
        ),
        Reply.chat("It is late in Tokyo.", chunk_size=3),
    )
    args = ["ask", "--api", api, "--mcp", "time", "-y", "time in Tokyo?"]
    r = invoke(args, env=env_with(emulator))
    assert r.code == 0, r.err
    assert r.out == "It is late in Tokyo.\n"
    first, second = (req.json for req in emulator.requests)
    assert first["stream"] is True and second["stream"] is True
    assert {"time__get_current_time", "time__convert_time"} <= set(tool_names(first))
    last = second["messages"][-1]
    if api == "openai":
        assert last["role"] == "tool" and last["tool_call_id"] == "call_1"
        text = last["content"]
    else:
        assert last["role"] == "user" and last["content"][0]["type"] == "tool_result"
        text = last["content"][0]["content"]
    result = json.loads(text)
    assert result["timezone"] == "Asia/Tokyo" and "+09:00" in result["datetime"]


def test_http_server_with_headers_from_the_environment(emulator: Emulator, http_url: str) -> None:
    write_config(f'[mcp.web]\nurl = "{http_url}"\nheaders = {{X-Token = "t-${{WEB_TOKEN}}"}}\n')
    emulator.script(
        Reply.chat(
            "", tool_calls=[call("web__header", {"name": "x-token"})], finish_reason="tool_calls"
        ),
        Reply.chat(
            "", tool_calls=[call("web__echo", {"text": "yo"}, "call_2")], finish_reason="tool_calls"
        ),
        Reply.chat("done"),
    )
    r = invoke(
        ["ask", "--api", "anthropic", "--mcp", "all", "-y", "go"],
        env=env_with(emulator, WEB_TOKEN="abc"),
    )
    assert r.code == 0, r.err
    second = emulator.requests[1].json["messages"][-1]["content"][0]
    assert second["content"] == "t-abc"
    third = emulator.requests[2].json["messages"][-1]["content"][0]
    assert third["content"] == "web says: yo"


def test_calls_and_results_are_saved_and_in_json(emulator: Emulator, http_url: str) -> None:
    write_config(f'[mcp.web]\nurl = "{http_url}"\n')
    emulator.script(
        Reply.chat(
            "", tool_calls=[call("web__echo", {"text": "kept"})], finish_reason="tool_calls"
        ),
        Reply.chat("ok"),
    )
    r = invoke(["ask", "--json", "--mcp", "web", "-y", "go"], env=env_with(emulator))
    assert r.code == 0, r.err
    doc = json.loads(r.out)
    assert doc["tool_calls"][0]["name"] == "web__echo"
    assert doc["tool_calls"][0]["result"] == "web says: kept"
    store = open_store(create=False)
    assert store is not None
    convo = store.latest()
    assert convo is not None
    assert [m.role for m in convo.messages] == ["user", "assistant", "tool", "assistant"]
    assert convo.messages[2].content == "web says: kept"


PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)


@pytest.mark.parametrize("api", ["openai", "anthropic"])
def test_images_in_a_result_go_back_as_images_where_the_dialect_allows(
    emulator: Emulator, http_url: str, api: str
) -> None:
    write_config(f'[mcp.web]\nurl = "{http_url}"\n')
    emulator.script(
        Reply.chat(
            "",
            tool_calls=[call("web__picture"), call("web__fake_picture", {}, "call_2")],
            finish_reason="tool_calls",
        ),
        Reply.chat("a dot"),
        Reply.chat("still a dot"),
    )
    r = invoke(["ask", "--api", api, "--mcp", "web", "-y", "draw"], env=env_with(emulator))
    assert r.code == 0, r.err
    described = f"[image: image/png, {len(PNG)} bytes]"
    messages = emulator.requests[1].json["messages"]
    if api == "openai":  # a tool message holds text only there
        assert messages[-2]["content"] == described
        assert messages[-1]["content"].endswith("bytes, not sent]")
    else:
        real, fake = messages[-1]["content"]
        assert real["content"] == [
            {"type": "text", "text": described},
            {
                "type": "image",
                "source": {
                    "type": "base64",
                    "media_type": "image/png",
                    "data": base64.b64encode(PNG).decode(),
                },
            },
        ]
        # Typed by its bytes, not by what the server claims: HTML is never sent as an image.
        assert isinstance(fake["content"], str) and fake["content"].endswith("not sent]")
    # Saved with the conversation, and sent again on resume.
    store = open_store(create=False)
    assert store is not None
    convo = store.latest()
    assert convo is not None
    assert convo.messages[2].content == described and convo.messages[2].images[0].data == PNG
    assert not convo.messages[3].images
    r = invoke(["ask", "--api", api, "-c", "again"], env=env_with(emulator))
    assert r.code == 0, r.err
    assert emulator.requests[2].json["messages"][: len(messages)] == messages


# -- failures: the chat goes on --------------------------------------------------------------


def test_a_server_that_fails_to_start_is_one_line(emulator: Emulator, http_url: str) -> None:
    write_config(
        f'[mcp.web]\nurl = "{http_url}"\n'
        '[mcp.gone]\ncommand = "/nonexistent/mcp-server"\n'
        f'[mcp.down]\nurl = "http://127.0.0.1:{free_port()}/mcp"\n'
    )
    r = invoke(["ask", "--mcp", "all", "-y", "hello"], env=env_with(emulator))
    assert r.code == 0, r.err
    assert r.out == "echo: hello\n"
    names = tool_names(emulator.requests[0].json)
    assert "web__echo" in names and not any(n.startswith(("gone__", "down__")) for n in names)
    lines = [line for line in r.err.splitlines() if "MCP server" in line]
    assert len(lines) == 2, r.err
    assert "MCP server gone failed to start: command not found" in r.err
    assert "MCP server down failed to start: cannot connect" in r.err


def test_servers_that_hang_at_start_time_out_in_parallel_and_are_stopped(
    emulator: Emulator, http_url: str, tmp_path: Path
) -> None:
    """Three servers that never answer `initialize`: each is given up after its start-up
    timeout, all three were started before the first was given up (they start in parallel, not
    one after another), and none is left running."""
    starts = tmp_path / "starts"
    hang = f"echo $$ $(date +%s.%N) >> {starts}; exec sleep 60"
    tables = "".join(
        f'[mcp.slow{i}]\ncommand = ["sh", "-c", {json.dumps(hang)}]\nstartup_timeout = 3\n'
        for i in range(3)
    )
    write_config(f'[mcp.web]\nurl = "{http_url}"\n' + tables)
    r = invoke(["ask", "--mcp", "all", "-y", "hello"], env=env_with(emulator))
    assert r.code == 0, r.err
    assert r.out == "echo: hello\n"
    names = tool_names(emulator.requests[0].json)
    assert "web__echo" in names and not any(n.startswith("slow") for n in names)
    for i in range(3):
        assert f"MCP server slow{i} failed to start: did not start within 3 s" in r.err
    rows = [line.split() for line in starts.read_text().splitlines()]
    assert len(rows) == 3
    times = [float(t) for _, t in rows]
    assert max(times) - min(times) < 3  # the last started before the first was given up
    pids = [int(p) for p, _ in rows]
    deadline = time.monotonic() + 3
    while any(alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not any(alive(p) for p in pids)


def test_a_server_that_crashes_mid_call(emulator: Emulator, pids: Path) -> None:
    write_config(stdio_table("demo"))
    emulator.script(
        Reply.chat("", tool_calls=[call("demo__crash")], finish_reason="tool_calls"),
        Reply.chat("It crashed; going on."),
    )
    r = invoke(["ask", "--mcp", "demo", "-y", "crash it"], env=env_with(emulator))
    assert r.code == 0, r.err
    assert r.out == "It crashed; going on.\n"
    second = emulator.requests[1].json
    assert second["messages"][-1]["content"].startswith("error: MCP server demo failed")
    assert not any(n.startswith("demo__") for n in tool_names(second))  # withdrawn
    assert "MCP server demo stopped answering" in r.err
    assert all_gone(pids)


def test_a_hung_tool_times_out_and_its_server_is_withdrawn(
    emulator: Emulator, http_url: str
) -> None:
    write_config(f'[mcp.web]\nurl = "{http_url}"\ntimeout = 0.5\n')
    emulator.script(
        Reply.chat("", tool_calls=[call("web__hang")], finish_reason="tool_calls"),
        Reply.chat("It hung."),
    )
    started = time.monotonic()
    r = invoke(["ask", "--mcp", "web", "-y", "hang"], env=env_with(emulator))
    assert r.code == 0, r.err
    assert time.monotonic() - started < 15
    second = emulator.requests[1].json
    assert "no answer within 0.5 s" in second["messages"][-1]["content"]
    assert "tools" not in second or not tool_names(second)
    assert "MCP server web stopped answering (no answer within 0.5 s)" in r.err


def test_a_tool_error_goes_back_to_the_model(emulator: Emulator, http_url: str) -> None:
    write_config(f'[mcp.web]\nurl = "{http_url}"\n')
    emulator.script(
        Reply.chat(
            "",
            tool_calls=[call("web__fail", {"reason": "disk on fire"})],
            finish_reason="tool_calls",
        ),
        Reply.chat(
            "",
            tool_calls=[call("web__echo", {"text": "still here"}, "call_2")],
            finish_reason="tool_calls",
        ),
        Reply.chat("fine"),
    )
    r = invoke(["ask", "--api", "anthropic", "--mcp", "web", "-y", "x"], env=env_with(emulator))
    assert r.code == 0, r.err
    error = emulator.requests[1].json["messages"][-1]["content"][0]
    assert error["is_error"] is True and "disk on fire" in error["content"]
    ok = emulator.requests[2].json["messages"][-1]["content"][0]
    assert ok["content"] == "web says: still here"  # a tool error withdraws nothing
    assert "tool web__fail failed" in r.err


def test_two_servers_with_the_same_tool_cannot_clash(
    emulator: Emulator, http_url: str, tmp_path: Path
) -> None:
    write_config(f'[mcp.a]\nurl = "{http_url}"\n[mcp.b]\nurl = "{http_url}"\n')
    local = tmp_path / "tools.toml"
    local.write_text('[[tools]]\nname = "b__echo"\ncommand = "echo local"\n')
    emulator.script(
        Reply.chat(
            "",
            tool_calls=[call("a__echo", {"text": "1"}), call("b__echo", {"text": "2"}, "call_2")],
            finish_reason="tool_calls",
        ),
        Reply.chat("ok"),
    )
    args = ["ask", "--mcp", "a", "--mcp", "b", "--tools", str(local), "-y", "x"]
    r = invoke(args, env=env_with(emulator))
    assert r.code == 0, r.err
    names = tool_names(emulator.requests[0].json)
    assert names.count("b__echo") == 1 and "a__echo" in names and "a__fail" in names
    assert "MCP tool b.echo left out: b__echo is taken" in r.err  # the local tool wins
    messages = emulator.requests[1].json["messages"]
    assert messages[-2]["content"] == "web says: 1"
    assert messages[-1]["content"] == "local\n"


def test_trust_skips_the_prompt_for_named_tools(emulator: Emulator, http_url: str) -> None:
    write_config(f'[mcp.web]\nurl = "{http_url}"\ntrust = ["echo"]\n')
    emulator.script(
        Reply.chat(
            "",
            tool_calls=[call("web__echo", {"text": "t"}), call("web__whoami_env", {}, "call_2")],
            finish_reason="tool_calls",
        ),
        Reply.chat("ok"),
    )
    env = env_with(emulator)
    r, asked = tty_invoke(["ask", "--mcp", "web", "x"], env, ["n"])
    assert r.code == 0, r.err
    assert len(asked) == 1 and asked[0].startswith("Run web__whoami_env? [y]es / [n]o")
    messages = emulator.requests[1].json["messages"]
    assert messages[-2]["content"] == "web says: t"
    assert "declined" in messages[-1]["content"]


def test_untrusted_servers_need_yes_without_a_terminal(emulator: Emulator, http_url: str) -> None:
    write_config(f'[mcp.web]\nurl = "{http_url}"\n')
    r = invoke(["ask", "--mcp", "web", "x"], env=env_with(emulator))
    assert r.code == 2
    assert "--mcp web needs --yes when not on a terminal" in r.err
    assert emulator.requests == []


def test_json_config_alone_uses_its_servers(
    emulator: Emulator, http_url: str, tmp_path: Path
) -> None:
    path = tmp_path / "claude.json"
    path.write_text(json.dumps({"mcpServers": {"remote": {"type": "http", "url": http_url}}}))
    emulator.script(
        Reply.chat(
            "", tool_calls=[call("remote__echo", {"text": "j"})], finish_reason="tool_calls"
        ),
        Reply.chat("ok"),
    )
    r = invoke(["ask", "--mcp-config", str(path), "-y", "x"], env=env_with(emulator))
    assert r.code == 0, r.err
    assert emulator.requests[1].json["messages"][-1]["content"] == "web says: j"


def test_the_api_key_stays_out_of_a_server_unless_passed(emulator: Emulator, pids: Path) -> None:
    write_config(
        stdio_table("plain")
        + stdio_table("given").replace(
            'MCP_TEST_NAME = "given"',
            'MCP_TEST_NAME = "given", MODELSLAB_API_KEY = "${MODELSLAB_API_KEY}"',
        )
    )
    emulator.script(
        Reply.chat(
            "",
            tool_calls=[call("plain__whoami_env"), call("given__whoami_env", {}, "c2")],
            finish_reason="tool_calls",
        ),
        Reply.chat("ok"),
    )
    r = invoke(["ask", "--mcp", "all", "-y", "x"], env=env_with(emulator))
    assert r.code == 0, r.err
    messages = emulator.requests[1].json["messages"]
    assert [messages[-2]["content"], messages[-1]["content"]] == ["no key", "key present"]


# -- chat ------------------------------------------------------------------------------------


def test_chat_uses_servers_from_the_first_turn(emulator: Emulator, http_url: str) -> None:
    write_config(f'[mcp.web]\nurl = "{http_url}"\n[mcp.gone]\ncommand = "/nonexistent/x"\n')
    emulator.script(
        Reply.chat("", tool_calls=[call("web__echo", {"text": "c"})], finish_reason="tool_calls"),
        Reply.chat("first"),
        Reply.chat("second"),
    )
    r = invoke(
        ["chat", "--mcp", "web", "--mcp", "gone", "-y"],
        stdin=b"/mcp\none\n/mcp\ntwo\n",
        env=env_with(emulator),
    )
    assert r.code == 0, r.err
    assert "first" in r.out and "second" in r.out
    before, after = r.out.split("\nfirst\n", 1)
    assert "(the servers start with the first message)" in before  # /mcp starts nothing
    assert "web   http   running      8 tools" in after
    assert "gone  stdio  failed       0 tools    failed to start: command not found" in after
    assert "    web__echo: Echo the text back" in after
    assert r.err.count("MCP server gone failed to start") == 1
    assert emulator.requests[1].json["messages"][-1]["content"] == "web says: c"
    assert "web__echo" in tool_names(emulator.requests[2].json)


def test_chat_stops_its_stdio_servers_when_it_ends(emulator: Emulator, pids: Path) -> None:
    write_config(stdio_table("demo"))
    emulator.script(
        Reply.chat("", tool_calls=[call("demo__echo", {"text": "c"})], finish_reason="tool_calls"),
        Reply.chat("first"),
        Reply.chat("second"),
    )
    r = invoke(
        ["chat", "--api", "anthropic", "--mcp", "demo", "-y"],
        stdin=b"one\ntwo\n",
        env=env_with(emulator),
    )
    assert r.code == 0, r.err
    assert "first" in r.out and "second" in r.out
    assert emulator.requests[1].json["messages"][-1]["content"][0]["content"] == "demo says: c"
    assert "demo__echo" in tool_names(emulator.requests[2].json)
    assert len(server_pids(pids)) == 2  # one server (and its child) for the whole chat
    assert all_gone(pids)


# -- mlchat mcp ------------------------------------------------------------------------------


def test_mcp_commands(http_url: str) -> None:
    write_config(
        f'[mcp.web]\nurl = "{http_url}"\n'
        '[mcp.gone]\ncommand = "/nonexistent/x"\n'
        '[mcp.off]\ncommand = "x"\nenabled = false\n'
    )
    r = invoke(["mcp", "list", "--json"])
    assert r.code == 0, r.err
    rows = {row["name"]: row for row in json.loads(r.out)}
    assert rows["web"]["state"] == "running" and rows["web"]["tools"] == 8
    assert rows["web"]["transport"] == "http"
    assert rows["gone"]["state"] == "failed" and "command not found" in rows["gone"]["error"]
    assert rows["off"]["state"] == "disabled"
    r = invoke(["mcp", "list"])
    assert r.code == 0
    assert any(line.startswith("web ") and "8 tools" in line for line in r.out.splitlines())

    r = invoke(["mcp", "tools", "web"])
    assert r.code == 0, r.err
    assert "echo: Echo the text back, saying which server answered." in r.out
    assert '"required": ["text"]' in r.out

    r = invoke(["mcp", "call", "web", "echo", '{"text": "by hand"}'])
    assert (r.code, r.out) == (0, "web says: by hand\n")
    r = invoke(["mcp", "call", "web", "picture"])
    assert r.out.startswith("[image: image/png, ")
    r = invoke(["mcp", "call", "web", "fail"])
    assert r.code == 4 and "it broke" in r.out
    r = invoke(["mcp", "call", "web", "nope"])
    assert r.code == 2 and "has no tool 'nope'" in r.err
    r = invoke(["mcp", "call", "web", "echo", "[1]"])
    assert r.code == 2 and "must be a JSON object" in r.err
    r = invoke(["mcp", "tools", "gone"])
    assert r.code == 3 and r.err.count("\n") == 1 and "command not found" in r.err
    r = invoke(["mcp", "tools", "nope"])
    assert r.code == 2 and "no MCP server named 'nope'" in r.err


# -- no server outlives mlchat ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["ctrl-c", "sigterm"]
)
def test_no_server_process_is_left_after_an_interrupt(
    emulator: Emulator, pids: Path, tmp_path: Path, signum: int, code: int
) -> None:
    """The real entry point in a subprocess, stopped while a tool call hangs."""
    write_config(stdio_table("demo"))
    marker = Path(f"{pids}.hang")
    emulator.script(Reply.chat("", tool_calls=[call("demo__hang")], finish_reason="tool_calls"))
    env = {
        **os.environ,
        **env_with(emulator),
        "PYTHONPATH": str(SERVER.parent.parent),
    }
    env["MCP_TEST_PIDS"] = str(pids)
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlchat", "ask", "--mcp", "demo", "-y", "hang"],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while not marker.exists():
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the tool call never started"
            time.sleep(0.05)
        proc.send_signal(signum)
        _, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == code, err
    assert "Traceback" not in err
    assert all_gone(pids)


def test_ctrl_c_in_a_terminal_chat_stops_the_call_and_the_chat_goes_on(
    emulator: Emulator, pids: Path
) -> None:
    """`chat` through the real entry point on a pseudo-terminal: Ctrl-C while a tool call
    hangs ends that turn only; the server still answers the next call, and when the chat ends
    (Ctrl-D) no server process is left."""
    import pty

    write_config(stdio_table("demo"))
    marker = Path(f"{pids}.hang")
    emulator.script(
        Reply.chat("", tool_calls=[call("demo__hang")], finish_reason="tool_calls"),
        Reply.chat(
            "", tool_calls=[call("demo__echo", {"text": "after"}, "c2")], finish_reason="tool_calls"
        ),
        Reply.chat("all good"),
    )
    env = {**os.environ, **env_with(emulator), "PYTHONPATH": str(SERVER.parent.parent)}
    env["MCP_TEST_PIDS"] = str(pids)
    main, replica = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlchat", "chat", "--mcp", "demo", "-y"],
        env=env,
        stdin=replica,
        stdout=replica,
        stderr=replica,
        start_new_session=True,
    )
    os.close(replica)
    screen = Screen(main)
    try:
        screen.wait(lambda: screen.prompts >= 1)
        os.write(main, b"hang\r")
        screen.wait(marker.exists)
        proc.send_signal(signal.SIGINT)
        screen.wait(lambda: b"interrupted" in screen.seen and screen.prompts >= 2)
        os.write(main, b"again\r")
        screen.wait(lambda: b"all good" in screen.seen and screen.prompts >= 3)
        os.write(main, b"\x04")
        screen.wait(lambda: proc.poll() is not None)
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(main)
    assert proc.returncode == 0, screen.seen
    assert b"Traceback" not in screen.seen
    assert emulator.requests[-1].json["messages"][-1]["content"] == "demo says: after"
    assert len(server_pids(pids)) == 2  # the same server (and its child) answered after Ctrl-C
    assert all_gone(pids)


class Screen:
    """What a chat on a pseudo-terminal has written, read as it comes; the cursor position
    requests of prompt_toolkit (one per prompt) are answered, and counted as prompts."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.seen = b""
        self.prompts = 0

    def wait(self, done: Callable[[], bool], timeout: float = 30.0) -> None:
        import select

        deadline = time.monotonic() + timeout
        while not done():
            assert time.monotonic() < deadline, self.seen[-2000:]
            if not select.select([self.fd], [], [], 0.05)[0]:
                continue
            try:
                chunk = os.read(self.fd, 65536)
            except OSError:  # the child has exited and closed the terminal
                time.sleep(0.05)
                continue
            self.seen += chunk
            for _ in range(chunk.count(b"\x1b[6n")):
                self.prompts += 1
                os.write(self.fd, b"\x1b[1;1R")


@pytest.mark.parametrize("args", [["ask", "--mcp", "demo", "-y", "x"], ["mcp", "list"]])
def test_without_the_sdk_one_line_says_what_to_install(
    emulator: Emulator, pids: Path, args: list[str]
) -> None:
    write_config(stdio_table("demo"))
    code = (
        "import sys; sys.modules['mcp'] = None; "  # as if the extra were not installed
        f"sys.argv = ['mlchat', *{args!r}]; from mlchat.__main__ import main; main()"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, **env_with(emulator), "PYTHONPATH": str(SERVER.parent.parent)},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.splitlines() == [
        "mlchat: error: MCP servers need the mcp SDK, which is not installed",
        "hint: pip install 'mlchat[mcp]'",
    ]
    assert emulator.requests == []


def test_a_role_names_its_servers(emulator: Emulator, http_url: str) -> None:
    write_config(f'[mcp.web]\nurl = "{http_url}"\n')
    roles = Path(os.environ["XDG_CONFIG_HOME"]) / "mlchat" / "roles"
    roles.mkdir(parents=True)
    (roles / "webby.toml").write_text('description = "uses web"\nmcp = ["web"]\n')
    r = invoke(["ask", "-r", "webby", "-y", "hi"], env=env_with(emulator))
    assert r.code == 0, r.err
    assert "web__echo" in tool_names(emulator.requests[0].json)
    (roles / "bad.toml").write_text('mcp = "web"\n')
    r = invoke(["ask", "-r", "bad", "-y", "hi"], env=env_with(emulator))
    assert r.code == 3 and "mcp must be a list of server names" in r.err
