"""A tool process is untrusted: its environment, its process group, and its output in bounded
memory. Real processes throughout (sh, head, python), and for memory the real entry point."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mlchat import toolproc, tools
from mlchat.errors import UsageError
from mlchat.types import ToolCall, ToolSpec
from tests.conftest import FAKE_KEY, invoke
from tests.emulator import Emulator, Reply
from tests.test_e2e import child_env, mlchat

PRINT_ENV = "import json, os; print(json.dumps(dict(os.environ)))"
FILE_KEY = "ml-file-key-from-config-0123456789"


def tool(argv: list[str], *, timeout: float = 5, pass_env: tuple[str, ...] = ()) -> tools.Tool:
    spec = ToolSpec("t", "", {"type": "object"})
    return tools.Tool(spec, tuple(argv), timeout, None, pass_env)


def call(args: str = "{}") -> ToolCall:
    return ToolCall("call_1", "t", args)


def tool_env(result: tools.ToolResult) -> dict[str, str]:
    assert not result.is_error, result.content
    env: dict[str, str] = json.loads(result.content)
    env.pop("LC_CTYPE", None)  # Python may set it itself (PEP 538)
    return env


# --- the environment ---------------------------------------------------------------------------


def test_a_tool_gets_no_key_and_no_variable_holding_it() -> None:
    source = {
        "PATH": os.environ["PATH"],
        "HOME": "/home/someone",
        "LANG": "C.UTF-8",
        "LC_MESSAGES": "C",
        "MODELSLAB_API_KEY": FAKE_KEY,
        "COPY_OF_KEY": FAKE_KEY,
        "AUTH_HEADER": f"Bearer {FILE_KEY}",
        "AWS_SECRET_ACCESS_KEY": "not ours, still not passed",
        "MODELSLAB_BASE_URL": "http://127.0.0.1:1",
        "TOOL_SETTING": "x",
    }
    result = tools.run(tool([sys.executable, "-c", PRINT_ENV]), call(), source, {FILE_KEY})
    env = tool_env(result)
    assert env == {
        "PATH": os.environ["PATH"],
        "HOME": "/home/someone",
        "LANG": "C.UTF-8",
        "LC_MESSAGES": "C",
    }
    assert FAKE_KEY not in result.content and FILE_KEY not in result.content


def test_pass_env_passes_chosen_variables_but_never_a_secret() -> None:
    source = {
        "PATH": os.environ["PATH"],
        "TOOL_SETTING": "x",
        "MY_A": "1",
        "MY_B": "2",
        "OTHER": "no",
        "MY_KEY_COPY": FAKE_KEY,
        "MODELSLAB_API_KEY": FAKE_KEY,
    }
    t = tool([sys.executable, "-c", PRINT_ENV], pass_env=("TOOL_SETTING", "MY_*", "*_KEY"))
    env = tool_env(tools.run(t, call(), source))
    assert env == {"PATH": os.environ["PATH"], "TOOL_SETTING": "x", "MY_A": "1", "MY_B": "2"}


def test_pass_env_in_the_tools_file(tmp_path: Path) -> None:
    path = tmp_path / "tools.toml"
    path.write_text(
        'pass_env = ["SHARED"]\n'
        '[[tools]]\nname = "a"\ncommand = "true"\npass_env = ["OWN", "PRE_*"]\n'
        '[[tools]]\nname = "b"\ncommand = "true"\n'
    )
    loaded = tools.load(path)
    assert loaded["a"].pass_env == ("SHARED", "OWN", "PRE_*")
    assert loaded["b"].pass_env == ("SHARED",)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('pass_env = ["MODELSLAB_API_KEY"]\n', "MODELSLAB_API_KEY is never given to a tool"),
        ('pass_env = "PATH"\n', "pass_env must be a list of variable names"),
        ('pass_env = ["A B"]\n', "'A B' is not a variable name"),
        ('pass_env = ["A*B"]\n', "'A*B' is not a variable name"),
    ],
)
def test_bad_pass_env_is_refused_when_loaded(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "tools.toml"
    path.write_text(text + '[[tools]]\nname = "a"\ncommand = "true"\n')
    with pytest.raises(UsageError, match=re.escape(message)):
        tools.load(path)


def test_the_key_from_the_config_file_reaches_no_tool_end_to_end(
    emulator: Emulator, tmp_path: Path
) -> None:
    """Through `ask --tools`: the key comes from the config file, and a variable holding it is
    in the environment; the tool sees neither."""
    (tmp_path / "env.py").write_text(
        "import json, os, sys\nsys.stdin.read()\nprint(json.dumps(sorted(os.environ.items())))\n"
    )
    toolfile = tmp_path / "tools.toml"
    toolfile.write_text(
        f'[[tools]]\nname = "t"\ncommand = [{json.dumps(sys.executable)}, "env.py"]\n'
        'pass_env = ["KEY_*", "VISIBLE"]\n'
    )
    config = Path(os.environ["XDG_CONFIG_HOME"]) / "mlchat"
    config.mkdir(parents=True)
    (config / "config.toml").write_text(f'api_key = "{FILE_KEY}"\n')
    (config / "config.toml").chmod(0o600)
    emulator.script(
        Reply.chat("", tool_calls=[{"name": "t", "arguments": "{}"}], finish_reason="tool_calls"),
        Reply.chat("done"),
    )
    env = {"MODELSLAB_BASE_URL": emulator.base_url, "KEY_COPY": FILE_KEY, "VISIBLE": "yes"}
    r = invoke(["ask", "--tools", str(toolfile), "-y", "hi"], env=env)
    assert r.code == 0, r.err
    seen = dict(json.loads(emulator.requests[1].json["messages"][-1]["content"]))
    assert seen["VISIBLE"] == "yes"
    assert "KEY_COPY" not in seen
    assert FILE_KEY not in json.dumps(seen)
    assert emulator.requests[0].headers["authorization"] == f"Bearer {FILE_KEY}"


# --- the process group -------------------------------------------------------------------------


def gone(pid: int, within: float = 3.0) -> bool:
    """True once `pid` has ended (a zombie waiting for its new parent to reap it has ended)."""
    until = time.monotonic() + within
    while time.monotonic() < until:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            return True
        if state in ("Z", "X"):
            return True
        time.sleep(0.02)
    return False


def test_a_background_child_does_not_hold_the_result_and_is_ended(tmp_path: Path) -> None:
    pidfile = tmp_path / "child.pid"
    t = tool(["sh", "-c", f"sleep 300 & echo $! > {pidfile}; echo started"], timeout=10)
    began = time.monotonic()
    result = tools.run(t, call())
    took = time.monotonic() - began
    assert not result.is_error, result.content
    assert result.content == "started\n"
    assert took < 5, f"waited {took:.1f} s for a child holding stdout"
    assert gone(int(pidfile.read_text()))


def test_a_timed_out_tool_is_ended_with_its_children(tmp_path: Path) -> None:
    pidfile = tmp_path / "child.pid"
    t = tool(["sh", "-c", f"sleep 300 & echo $! > {pidfile}; sleep 300"], timeout=0.5)
    result = tools.run(t, call())
    assert result.is_error and "timed out after 0.5 s" in result.content
    assert gone(int(pidfile.read_text()))


def test_the_tool_runs_in_its_own_process_group() -> None:
    t = tool([sys.executable, "-c", "import os; print(os.getpgid(0) == os.getpid())"])
    assert tools.run(t, call()).content == "True\n"


def test_output_written_just_before_exit_is_kept() -> None:
    # More than a pipe buffer, all of it written before the tool exits.
    script = "import sys; sys.stdin.read(); sys.stdout.write('y' * 200_000)"
    t = tool([sys.executable, "-c", script])
    result = tools.run(t, call('{"big": "' + "x" * 300_000 + '"}'))
    assert result.content.startswith("y" * tools.MAX_OUTPUT)
    assert result.content.endswith("[... output cut at 64 KiB: the rest was not read]")


def test_a_tool_that_ignores_its_stdin_is_fine() -> None:
    t = tool(["sh", "-c", "echo ok"])
    assert tools.run(t, call('{"big": "' + "x" * 1_000_000 + '"}')).content == "ok\n"


def test_stderr_is_bounded_too() -> None:
    t = tool(["sh", "-c", "head -c 5000000 /dev/zero | tr '\\0' e >&2; exit 3"])
    result = tools.run(t, call())
    assert result.is_error and "exited with status 3" in result.content
    assert len(result.content) < 3000


def test_environment_without_base_variables() -> None:
    assert toolproc.environment({"X": "1"}, (), ()) == {}


# --- bounded memory ----------------------------------------------------------------------------


def vm_hwm_mib(pid: int) -> float:
    """The peak resident size of a running process (VmHWM). Not ru_maxrss: that counts the
    parent's size at fork time, and the parent here is the whole test session."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs /proc")
def test_a_tool_printing_300_mib_keeps_mlchat_small(emulator: Emulator, tmp_path: Path) -> None:
    """The whole entry point, measured by the kernel: mlchat's peak resident size once a tool
    has written 300 MiB to its stdout (read while mlchat waits for the model's next reply)."""
    toolfile = tmp_path / "tools.toml"
    toolfile.write_text('[[tools]]\nname = "flood"\ncommand = "head -c 314572800 /dev/zero"\n')
    emulator.script(
        Reply.chat(
            "", tool_calls=[{"name": "flood", "arguments": "{}"}], finish_reason="tool_calls"
        ),
        Reply.chat("done", delay=0.3),
    )
    env = child_env(
        emulator, XDG_CONFIG_HOME=str(tmp_path / "c"), XDG_DATA_HOME=str(tmp_path / "d")
    )
    with (tmp_path / "out").open("wb") as out, (tmp_path / "err").open("wb") as err:
        proc = subprocess.Popen(
            mlchat("ask", "--tools", str(toolfile), "-y", "--no-log", "flood"),
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
        )
        try:
            until = time.monotonic() + 60
            while len(emulator.requests) < 2 and proc.poll() is None:
                assert time.monotonic() < until, "the tool result never reached the model"
                time.sleep(0.01)
            peak_mib = vm_hwm_mib(proc.pid)
            assert proc.wait(timeout=60) == 0, (tmp_path / "err").read_text()
        finally:
            proc.kill()
            proc.wait()
    assert (tmp_path / "out").read_bytes() == b"done\n"
    print(f"mlchat peak RSS {peak_mib:.0f} MiB")
    assert peak_mib < 100, f"mlchat peaked at {peak_mib:.0f} MiB"
    sent = emulator.requests[1].json["messages"][-1]["content"]
    assert len(sent) < tools.MAX_OUTPUT + 100
    assert sent.endswith("[... output cut at 64 KiB: the rest was not read]")
