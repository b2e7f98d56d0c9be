"""The REPL: slash commands, key rules and the input history, with the emulator answering.

Most tests drive `Repl` through the plain reader (scripted lines); the key rules drive it through
prompt_toolkit's pipe input and DummyOutput; a few go through the CLI (`invoke`) and one through
the real entry point, to check what `--help` and a piped chat import.
"""

from __future__ import annotations

import base64
import copy
import io
import os
import signal
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mlchat import params as P
from mlchat.client import Client, RetryPolicy
from mlchat.clipboard import code_blocks
from mlchat.errors import UsageError
from mlchat.history import HistoryFile
from mlchat.repl.commands import COMMANDS
from mlchat.repl.loop import Repl
from mlchat.repl.prompt import PromptReader
from mlchat.repl.reader import PlainReader
from mlchat.runtime import Runtime
from mlchat.session import Conversation, Reply
from mlchat.types import Message, Usage
from tests.conftest import FAKE_KEY, invoke
from tests.emulator import DEFAULT_MODELS, Emulator, count_prompt_tokens
from tests.emulator import Reply as R

MODEL = "minimax-minimax-m1"
ROOT = Path(__file__).resolve().parent.parent


# -- helpers ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def shared_emulator() -> Iterator[Emulator]:
    with Emulator() as emu:
        yield emu


@pytest.fixture
def emulator(shared_emulator: Emulator) -> Emulator:
    """One emulator for the module (starting and stopping one costs more than most tests
    here), emptied before each test."""
    shared_emulator.reset()
    return shared_emulator


class Screen(io.StringIO):
    """A StringIO that lets another thread wait until some text has been written."""

    def __init__(self) -> None:
        super().__init__()
        self.changed = threading.Condition()

    def write(self, s: str) -> int:
        n = super().write(s)
        with self.changed:
            self.changed.notify_all()
        return n

    def wait_for(self, text: str, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        with self.changed:
            while text not in self.getvalue():
                left = deadline - time.monotonic()
                assert left > 0, f"{text!r} never appeared in {self.getvalue()!r}"
                self.changed.wait(left)


def runtime(
    env: dict[str, str] | None = None, *, stdout_tty: bool = False, stderr_tty: bool = False
) -> Runtime:
    return Runtime(
        env={"PATH": os.environ.get("PATH", os.defpath), "TERM": "dumb", **(env or {})},
        stdin=io.BytesIO(b""),
        stdout=Screen(),
        stderr=Screen(),
        stdin_tty=False,
        stdout_tty=stdout_tty,
        stderr_tty=stderr_tty,
        sleep=lambda _s: None,
    )


class Chat:
    """A Repl against the emulator, and what it wrote."""

    def __init__(self, emulator: Emulator, *, rt: Runtime | None = None, **kwargs: Any) -> None:
        self.rt = rt or runtime()
        self.client = Client(
            emulator.base_url, FAKE_KEY, retry=RetryPolicy(retries=0), sleep=lambda _s: None
        )
        convo = kwargs.pop("convo", None) or Conversation(model=MODEL, params=P.DEFAULTS)
        self.repl = Repl(self.rt, self.client, convo, **kwargs)
        self.code: int | None = None

    def lines(self, *lines: str, interactive: bool = False) -> Chat:
        data = "".join(line + "\n" for line in lines).encode()
        self.code = self.repl.run(PlainReader(io.BytesIO(data), interactive=interactive))
        return self

    @property
    def out(self) -> str:
        assert isinstance(self.rt.stdout, io.StringIO)
        return self.rt.stdout.getvalue()

    @property
    def err(self) -> str:
        assert isinstance(self.rt.stderr, io.StringIO)
        return self.rt.stderr.getvalue()

    @property
    def convo(self) -> Conversation:
        return self.repl.convo


def chat(emulator: Emulator, *lines: str, **kwargs: Any) -> Chat:
    interactive = kwargs.pop("interactive", False)
    c = Chat(emulator, **kwargs)
    try:
        return c.lines(*lines, interactive=interactive)
    finally:
        c.client.close()


def sent(emulator: Emulator) -> list[list[dict[str, Any]]]:
    """The messages of every chat request the emulator received."""
    return [
        r.json["messages"]
        for r in emulator.requests
        if r.path in ("/chat/completions", "/v1/messages")
    ]


class RecordingLog:
    def __init__(self) -> None:
        self.events: list[tuple[Any, ...]] = []

    def user(self, convo: Conversation, message: Message) -> None:
        self.events.append(("user", message.content))

    def reply(
        self,
        convo: Conversation,
        message: Message,
        reply: Reply,
        *,
        status: str,
        error: str | None = None,
    ) -> None:
        self.events.append(("reply", status, message.content, message.interrupted, error))

    def truncate(self, convo: Conversation) -> None:
        self.events.append(("truncate", [m.content for m in convo.messages]))

    def progress(self, convo: Conversation, reply: Reply) -> None:
        pass


class MemoryStore:
    """A SessionStore double: the real store is another engineer's; this checks the seam."""

    def __init__(self) -> None:
        self.saved: dict[str, Conversation] = {}

    def save_as(self, convo: Conversation, name: str) -> None:
        self.saved[name] = copy.deepcopy(convo)

    def find(self, name: str) -> Conversation:
        if name not in self.saved:
            raise UsageError(f"no saved conversation named '{name}'")
        return copy.deepcopy(self.saved[name])


# -- the plain reader: a conversation ---------------------------------------------------------


def test_two_turn_conversation_from_a_pipe(env: dict[str, str], emulator: Emulator) -> None:
    r = invoke(["chat"], env=env, stdin=b"hello\nand then?\n/exit\n")
    assert r.code == 0, r.err
    assert r.out == "echo: hello\necho: and then?\n"
    assert r.err == ""
    assert sent(emulator) == [
        [{"role": "user", "content": "hello"}],
        [
            {"role": "user", "content": "hello"},
            {"role": "assistant", "content": "echo: hello"},
            {"role": "user", "content": "and then?"},
        ],
    ]


def test_pipe_without_newline_at_end_and_blank_lines(
    env: dict[str, str], emulator: Emulator
) -> None:
    r = invoke(["chat"], env=env, stdin=b"\n  \nhi\r\n\nlast words")
    assert r.code == 0, r.err
    assert r.out == "echo: hi\necho: last words\n"


def test_chat_flags_reach_the_request(env: dict[str, str], emulator: Emulator) -> None:
    args = ["chat", "-m", "meta-llama-3-8B-instruct", "-s", "Be terse", "-t", "0.2"]
    args += ["--max-tokens", "50", "--stop", "END", "--seed", "7", "--no-stream"]
    r = invoke(args, env=env, stdin=b"hi\n")
    assert r.code == 0, r.err
    body = emulator.requests[0].json
    assert body["model"] == "meta-llama-3-8B-instruct"
    assert body["messages"][0] == {"role": "system", "content": "Be terse"}
    assert (body["temperature"], body["max_tokens"], body["stop"], body["seed"]) == (
        0.2,
        50,
        ["END"],
        7,
    )
    assert body["stream"] is False


def test_anthropic_dialect_keeps_the_conversation(env: dict[str, str], emulator: Emulator) -> None:
    r = invoke(["chat", "--api", "anthropic", "-s", "sys"], env=env, stdin=b"one\ntwo\n")
    assert r.code == 0, r.err
    assert r.out == "echo: one\necho: two\n"
    second = emulator.requests[1]
    assert second.path == "/v1/messages"
    assert second.json["system"] == "sys"
    assert [m["role"] for m in second.json["messages"]] == ["user", "assistant", "user"]


def test_no_key_exits_3_before_reading(emulator: Emulator) -> None:
    r = invoke(["chat"], env={"MODELSLAB_BASE_URL": emulator.base_url}, stdin=b"hi\n")
    assert r.code == 3
    assert "MODELSLAB_API_KEY" in r.err
    assert emulator.requests == []


def test_bad_flag_value_is_a_usage_error(env: dict[str, str], emulator: Emulator) -> None:
    r = invoke(["chat", "-t", "9"], env=env, stdin=b"hi\n")
    assert r.code == 2
    assert "temperature must be between 0 and 2" in r.err
    assert emulator.requests == []


def test_help_shows_the_chat_options() -> None:
    r = invoke(["chat", "--help"])
    assert r.code == 0
    for flag in ("--model", "--system", "--temperature", "--api", "--plain", "--stop"):
        assert flag in r.out


@pytest.mark.parametrize(("args", "stdin"), [(["chat", "--help"], b""), (["chat"], b"hi\n/exit\n")])
def test_help_and_piped_chat_never_import_prompt_toolkit(
    emulator: Emulator, args: list[str], stdin: bytes
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MODELSLAB_", "MLCHAT_"))}
    env.update(
        PYTHONPATH=str(ROOT), MODELSLAB_API_KEY=FAKE_KEY, MODELSLAB_BASE_URL=emulator.base_url
    )
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "mlchat", *args],
        input=stdin,
        env=env,
        capture_output=True,
        timeout=30,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert b"prompt_toolkit" not in proc.stderr
    if stdin:
        assert proc.stdout == b"echo: hi\n"


# -- failures ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reply", "message", "code"),
    [
        (R.error(401), "mlchat: error: HTTP 401: Invalid API key", 3),
        (R.error(429), "mlchat: error: HTTP 429", 5),
        (R.error(400), "mlchat: error: HTTP 400", 4),
        (R.error(200), "mlchat: error: Provider returned error", 4),
        (R.chat("cut", drop_after=0), "mlchat: error:", 6),
    ],
)
def test_failure_prints_one_line_and_keeps_the_message(
    emulator: Emulator, reply: R, message: str, code: int
) -> None:
    emulator.script(reply)
    c = chat(emulator, "first", "/retry", "second")
    assert c.err.startswith(message)
    error_lines = [line for line in c.err.splitlines() if line.startswith("mlchat: error:")]
    assert len(error_lines) == 1
    assert "/retry sends it again" in c.err
    assert FAKE_KEY not in c.err
    # The failed message stayed, /retry sent it again, and the chat went on.
    assert sent(emulator)[1] == [{"role": "user", "content": "first"}]
    assert sent(emulator)[2][-3:] == [
        {"role": "user", "content": "first"},
        {"role": "assistant", "content": "echo: first"},
        {"role": "user", "content": "second"},
    ]
    assert c.out == "echo: first\necho: second\n"
    # Read from a pipe, the exit code tells the script that something failed.
    assert c.code == code


def test_network_failure_is_one_line(emulator: Emulator) -> None:
    rt = runtime()
    client = Client("http://127.0.0.1:9/api", FAKE_KEY, retry=RetryPolicy(retries=0))
    repl = Repl(rt, client, Conversation(model=MODEL))
    code = repl.run(PlainReader(io.BytesIO(b"hi\n"), interactive=True))
    assert code == 0  # at a terminal, failures never end the chat
    assert isinstance(rt.stderr, io.StringIO)
    banner, *err = rt.stderr.getvalue().splitlines()
    assert "/help lists commands" in banner
    assert err[0].startswith("mlchat: error: cannot connect to 127.0.0.1:9")
    assert len(err) == 2  # the error and its hint
    assert repl.convo.messages == [Message("user", "hi")]


def test_stream_cut_short_keeps_the_partial_reply(emulator: Emulator) -> None:
    emulator.script(R.chat("alpha beta gamma delta", drop_after=4))
    log = RecordingLog()
    c = chat(emulator, "go", "next", log=log)
    assert "mlchat: error:" in c.err
    partial = c.convo.messages[1]
    assert partial.role == "assistant" and partial.interrupted
    assert partial.content and "delta" not in partial.content
    assert sent(emulator)[1][1] == {"role": "assistant", "content": partial.content}
    assert log.events[1][:2] == ("reply", "interrupted")  # cut short after content: kept, flagged
    assert log.events[1][4] is not None


# -- slash commands ---------------------------------------------------------------------------


def test_help_lists_every_command_and_sends_nothing(emulator: Emulator) -> None:
    c = chat(emulator, "/help", "/help set", "/help nope")
    for name, cmd in COMMANDS.items():
        assert f"/{name}" in c.out
        assert cmd.help in c.out
    assert "/set PARAM VALUE  set a sampling parameter" in c.out
    assert "Alt-Enter or Ctrl-J" in c.out
    assert "no command /nope" in c.err
    assert emulator.requests == []


def test_unknown_command_gets_a_hint_not_a_request(emulator: Emulator) -> None:
    c = chat(emulator, "/modle x", "/usr/bin is what?", "//usr/bin is what?")
    assert "mlchat: error: unknown command /modle" in c.err
    assert "did you mean /model?" in c.err
    assert "unknown command /usr/bin" in c.err
    assert sent(emulator) == [[{"role": "user", "content": "/usr/bin is what?"}]]
    assert c.code == 2


def test_model_shows_and_switches(emulator: Emulator) -> None:
    ids = [m["id"] for m in DEFAULT_MODELS]
    c = chat(
        emulator,
        "/model",
        "/model meta-llama-3-8B-instruct",
        "one",
        "/model qwen",  # a unique fragment of a known id
        "two",
        "/model deepseek-new",  # not in the list: a warning, used as given
        "three",
        "/model -",  # ambiguous: an error, nothing changes
        model_ids=lambda: ids,
    )
    assert c.out.splitlines()[0] == MODEL
    models = [r.json["model"] for r in emulator.requests]
    assert models == [
        "meta-llama-3-8B-instruct",
        "Qwen/Qwen2.5-VL-72B-Instruct-together",
        "deepseek-new",
    ]
    assert "'deepseek-new' is not in the model list" in c.err
    assert "'-' matches 4 models: deepseek-ai-DeepSeek-R1-Distill-Llama-70B, " in c.err  # as -m
    assert c.convo.model == "deepseek-new"


def test_system_shows_sets_and_clears(emulator: Emulator) -> None:
    c = chat(
        emulator, "/system", "/system You are a pirate.", "/system", "a", "/system --clear", "b"
    )
    assert c.out.splitlines()[0] == "(no system prompt)"
    assert "You are a pirate." in c.out
    first, second = sent(emulator)
    assert first[0] == {"role": "system", "content": "You are a pirate."}
    assert second[0]["role"] == "user"


def test_set_validates_for_the_dialect(emulator: Emulator) -> None:
    c = chat(
        emulator,
        "/set temperature 0.2",
        "/set top-p 0.5",
        '/set stop "THE END" ###',
        "/set seed 42",
        "/set max_tokens abc",
        "/set temperature 3",
        "/set bogus 1",
        "/set temperature",
        "one",
        "/set seed none",
        "two",
    )
    first, second = (r.json for r in emulator.requests)
    assert (first["temperature"], first["top_p"], first["stop"], first["seed"]) == (
        0.2,
        0.5,
        ["THE END", "###"],
        42,
    )
    assert "seed" not in second
    assert "max_tokens must be a whole number, got 'abc'" in c.err
    assert "temperature must be between 0 and 2, got 3" in c.err
    assert "unknown parameter 'bogus'" in c.err
    assert "usage: /set PARAM VALUE" in c.err
    assert "temperature = 0.2" in c.err


def test_set_on_the_anthropic_dialect(emulator: Emulator) -> None:
    convo = Conversation(model=MODEL, dialect="anthropic", params=P.DEFAULTS)
    c = chat(emulator, "/set temperature 1.5", "/set frequency_penalty 1", "hi", convo=convo)
    assert "temperature must be between 0 and 1 on the Anthropic dialect, got 1.5" in c.err
    assert "frequency_penalty is not part of the anthropic dialect" in c.err
    body = emulator.requests[0].json
    assert body["temperature"] == 0.7
    assert "frequency_penalty" not in body


def test_params_lists_every_parameter(emulator: Emulator) -> None:
    c = chat(emulator, "/set seed 3", "/params")
    listing = dict(line.split(None, 1) for line in c.out.splitlines())
    assert set(listing) == set(P.SPECS)
    assert listing["temperature"] == "0.7"
    assert listing["max_tokens"] == "1000"
    assert listing["seed"] == "3"
    assert listing["stop"] == "(not sent)"


def test_clear_starts_a_new_conversation(emulator: Emulator) -> None:
    log = RecordingLog()
    c = chat(emulator, "/system sys", "one", "/clear", "two", log=log)
    assert sent(emulator)[1] == [
        {"role": "system", "content": "sys"},
        {"role": "user", "content": "two"},
    ]
    assert not [e for e in log.events if e[0] == "truncate"]  # nothing saved is deleted
    assert c.convo.system == "sys" and c.convo.id is None


def test_retry_regenerates_the_last_reply(emulator: Emulator) -> None:
    emulator.script(R.chat("first try"), R.chat("second try"))
    log = RecordingLog()
    c = chat(emulator, "question", "/retry", "/history", log=log)
    assert sent(emulator)[1] == [{"role": "user", "content": "question"}]
    assert [m.content for m in c.convo.messages] == ["question", "second try"]
    assert log.events == [
        ("user", "question"),
        ("reply", "ok", "first try", False, None),
        ("truncate", ["question"]),
        ("reply", "ok", "second try", False, None),
    ]


def test_retry_with_nothing_sent(emulator: Emulator) -> None:
    c = chat(emulator, "/retry")
    assert "nothing to retry" in c.err
    assert emulator.requests == []


def test_undo_drops_the_last_exchange(emulator: Emulator) -> None:
    log = RecordingLog()
    c = chat(emulator, "one", "two", "/undo", "three", "/undo", "/undo", "/undo", log=log)
    assert sent(emulator)[2] == [
        {"role": "user", "content": "one"},
        {"role": "assistant", "content": "echo: one"},
        {"role": "user", "content": "three"},
    ]
    assert c.convo.messages == []
    assert "removed: two" in c.err
    assert "nothing to undo" in c.err
    assert ("truncate", ["one", "echo: one"]) in log.events


def test_edit_from_a_pipe_replaces_the_last_exchange(emulator: Emulator) -> None:
    log = RecordingLog()
    c = chat(emulator, "one", "two", "/edit", "TWO", log=log)
    assert sent(emulator)[2] == [
        {"role": "user", "content": "one"},
        {"role": "assistant", "content": "echo: one"},
        {"role": "user", "content": "TWO"},
    ]
    assert len(c.convo.messages) == 4
    assert log.events[-3:] == [
        ("truncate", ["one", "echo: one"]),
        ("user", "TWO"),
        ("reply", "ok", "echo: TWO", False, None),
    ]


def test_edit_is_cancelled_by_a_command(emulator: Emulator) -> None:
    c = chat(emulator, "one", "/edit", "/params", "two", "/edit", "/edit")
    assert len(sent(emulator)[1]) == 3  # "two" was a new message, not a replacement
    assert "nothing to edit" not in c.err


def test_edit_with_nothing_sent(emulator: Emulator) -> None:
    c = chat(emulator, "/edit")
    assert "nothing to edit" in c.err


FENCED = "Here:\n\n```python\nprint(1)\n```\n\nand\n\n~~~\necho two\n~~~\n"


@pytest.fixture
def clip_tools(tmp_path: Path) -> Path:
    """Fake clipboard tools that record their arguments and input."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("wl-copy", "xclip", "xsel", "pbcopy"):
        tool = bin_dir / name
        tool.write_text(
            f'#!/bin/sh\necho "$@" > "$CLIP_DIR/{name}.args"\ncat > "$CLIP_DIR/{name}"\n'
        )
        tool.chmod(0o755)
    return bin_dir


@pytest.mark.parametrize(
    ("tools", "display", "used", "args"),
    [
        (["wl-copy", "xclip"], {"WAYLAND_DISPLAY": "wayland-0", "DISPLAY": ":0"}, "wl-copy", ""),
        (["xclip", "xsel"], {"DISPLAY": ":0"}, "xclip", "-selection clipboard"),
        (["xsel"], {"DISPLAY": ":0"}, "xsel", "--clipboard --input"),
        (["xclip", "pbcopy"], {}, "pbcopy", ""),  # no display: xclip cannot work
    ],
)
def test_copy_uses_a_local_clipboard_tool(
    emulator: Emulator,
    tmp_path: Path,
    clip_tools: Path,
    tools: list[str],
    display: dict[str, str],
    used: str,
    args: str,
) -> None:
    only = tmp_path / "only"
    only.mkdir()
    for name in tools:
        (only / name).symlink_to(clip_tools / name)
    env = {"PATH": f"{only}:/usr/bin:/bin", "CLIP_DIR": str(tmp_path), **display}
    emulator.script(R.chat(FENCED))
    c = chat(emulator, "code please", "/copy", rt=runtime(env))
    assert (tmp_path / used).read_text() == FENCED
    assert (tmp_path / f"{used}.args").read_text().strip() == args
    assert f"copied the last reply ({len(FENCED)} characters) to the clipboard ({used})\n" in c.err
    assert "\x1b]52" not in c.out + c.err  # nothing to a stream that is not a terminal


def test_copy_nth_code_block_and_osc52(
    emulator: Emulator, tmp_path: Path, clip_tools: Path
) -> None:
    env = {"PATH": f"{clip_tools}:/usr/bin:/bin", "CLIP_DIR": str(tmp_path), "DISPLAY": ":0"}
    emulator.script(R.chat(FENCED))
    c = chat(emulator, "code", "/copy 2", "/copy 3", "/copy x", rt=runtime(env, stdout_tty=True))
    assert (tmp_path / "xclip").read_text() == "echo two"
    osc = "\x1b]52;c;" + base64.b64encode(b"echo two").decode() + "\x07"
    assert osc in c.out
    assert (
        "copied code block 2 (8 characters) to the clipboard (xclip); also sent to the "
        "terminal's clipboard\n"
    ) in c.err
    assert c.err.count("N must be 1 to 2 (the reply has 2 code blocks)") == 2


def test_copy_osc52_on_stderr_when_only_stderr_is_a_terminal(emulator: Emulator) -> None:
    c = chat(emulator, "hi", "/copy", rt=runtime({"PATH": "/nonexistent"}, stderr_tty=True))
    assert "\x1b]52;c;" + base64.b64encode(b"echo: hi").decode() in c.err
    assert "\x1b]52" not in c.out
    # only what is known: the sequence was written, not that anything was copied
    assert "sent the last reply (8 characters) to the terminal's clipboard (OSC 52)" in c.err
    assert "copied" not in c.err


def test_copy_n_on_a_reply_without_code_blocks(emulator: Emulator) -> None:
    emulator.script(R.chat("no code here"), R.chat("```\none\n```"))
    env = {"PATH": "/nonexistent"}
    c = chat(emulator, "hi", "/copy 1", "again", "/copy 2", rt=runtime(env, stderr_tty=True))
    assert "/copy N: the last reply has no code blocks" in c.err
    assert "hint: /copy copies the whole reply" in c.err
    assert "/copy N: the last reply has one code block: /copy 1" in c.err
    assert "1 to 0" not in c.err


def test_copy_inside_tmux_uses_its_paste_buffer(
    emulator: Emulator, tmp_path: Path, clip_tools: Path
) -> None:
    """Under tmux's default `set-clipboard external` an application's OSC 52 is dropped: the
    reply goes to tmux's buffer, and the escape is also sent in tmux's passthrough form."""
    tmux = clip_tools / "tmux"
    tmux.write_text('#!/bin/sh\necho "$@" > "$CLIP_DIR/tmux.args"\ncat > "$CLIP_DIR/tmux"\n')
    tmux.chmod(0o755)
    env = {"PATH": f"{clip_tools}:/usr/bin:/bin", "CLIP_DIR": str(tmp_path), "TMUX": "/t/x,1,0"}
    emulator.script(R.chat("in tmux"))
    c = chat(emulator, "hi", "/copy", rt=runtime(env, stderr_tty=True))
    assert (tmp_path / "tmux").read_text() == "in tmux"
    assert (tmp_path / "tmux.args").read_text().split() == ["load-buffer", "-w", "-"]
    osc = "\x1b]52;c;" + base64.b64encode(b"in tmux").decode() + "\x07"
    assert "\x1bPtmux;" + osc.replace("\x1b", "\x1b\x1b") + "\x1b\\" in c.err
    assert (
        "copied the last reply (7 characters) to tmux's paste buffer and the clipboard (pbcopy); "
        "also sent to the terminal's clipboard\n"
    ) in c.err


def test_copy_without_any_route_or_reply(emulator: Emulator) -> None:
    c = chat(emulator, "/copy", "hi", "/copy", rt=runtime({"PATH": "/nonexistent"}))
    assert "nothing to copy: no reply yet" in c.err
    assert "no way to reach the clipboard" in c.err


@pytest.mark.parametrize(
    ("text", "blocks"),
    [
        (FENCED, ["print(1)", "echo two"]),
        ("no code", []),
        ("````md\n```\ninner\n```\n````", ["```\ninner\n```"]),
        ("```\nleft open", ["left open"]),
        ("  ```\nindented\n  ```", ["indented"]),
    ],
)
def test_code_blocks(text: str, blocks: list[str]) -> None:
    assert code_blocks(text) == blocks


def test_tokens_counts_the_conversation_exactly(emulator: Emulator) -> None:
    c = chat(emulator, "/tokens", "/system be brief", "how many tokens is this", "/tokens")
    assert "the conversation is empty" in c.out
    count_request = emulator.requests[-1]
    assert count_request.path == "/v1/messages/count_tokens"
    expected = count_prompt_tokens(count_request.json)
    assert count_request.json["system"] == "be brief"
    assert len(count_request.json["messages"]) == 2
    used = emulator.requests[0]  # the chat reply's usage: prompt + completion
    assert f"{expected:,} tokens in the conversation ({MODEL})" in c.out
    assert f"{c.repl.tokens:,} tokens used this session" in c.out
    assert c.repl.tokens > 0 and used.path == "/chat/completions"


def test_tokens_failure_is_one_line(emulator: Emulator) -> None:
    emulator.script(R.chat("hi"), R.error(500))
    c = chat(emulator, "hi", "/tokens")
    assert c.err.startswith("mlchat: error: HTTP 500")


def test_save_and_load_without_a_store(emulator: Emulator) -> None:
    c = chat(emulator, "/save x", "/load x")
    assert "saving is unavailable" in c.err
    assert "loading is unavailable" in c.err


def test_save_and_load_through_the_store(emulator: Emulator) -> None:
    store = MemoryStore()
    c = chat(emulator, "/save", "one", "/save first", "/clear", "two", "/load first", "three",
             "/load missing", store=store)  # fmt: skip
    assert "usage: /save NAME" in c.err
    assert [m.content for m in store.saved["first"].messages] == ["one", "echo: one"]
    assert "loaded first: 2 messages" in c.err
    assert sent(emulator)[2] == [
        {"role": "user", "content": "one"},
        {"role": "assistant", "content": "echo: one"},
        {"role": "user", "content": "three"},
    ]
    assert "no saved conversation named 'missing'" in c.err


def test_history_shows_the_conversation_briefly(emulator: Emulator) -> None:
    emulator.script(R.chat("a long answer\nover two lines"))
    long = "word " * 40
    c = chat(emulator, "/history", "/system be brief", "first", long, "/history")
    lines = c.out.splitlines()
    assert lines[0] == "(the conversation is empty)"
    assert lines[-5:] == [
        "system  be brief",
        "  1 you   first",
        "  2 model a long answer…",
        f"  3 you   {long.strip()[:63]}…",
        f"  4 model echo: {long.strip()[:57]}…",
    ]
    assert all(len(line) <= 80 for line in lines[-5:])


def test_history_shows_escape_sequences_escaped(emulator: Emulator) -> None:
    evil = "\x1b]0;pwned\x07\x1b[2J\u009b6n"
    emulator.script(
        R.chat(
            "",
            tool_calls=[{"id": "c1", "name": "nm" + evil, "arguments": "{}"}],
            finish_reason="tool_calls",
        ),
        R.chat("said " + evil),
    )
    c = chat(emulator, "hi", "again", "/history")
    shown = "^[]0;pwned^G^[[2J<U+009B>6n"
    assert c.out.splitlines()[-4:] == [
        f"  2 model nm{shown}()",
        "  3 tool  not run: no tools are available in this conversation",  # answered: valid
        "  4 you   again",
        f"  5 model said {shown}",
    ]
    history = c.out[c.out.index("  1 you") :]
    assert "\x1b" not in history and "\x07" not in history and "\u009b" not in history


@pytest.mark.parametrize("command", ["/exit", "/quit", "/QUIT"])
def test_exit_and_quit_stop_reading(emulator: Emulator, command: str) -> None:
    c = chat(emulator, "one", command, "never sent")
    assert c.code == 0
    assert len(emulator.requests) == 1


def test_turns_are_logged_as_they_happen(emulator: Emulator) -> None:
    emulator.script(R.chat("fine"), R.error(429))
    log = RecordingLog()
    chat(emulator, "a", "b", log=log)
    assert log.events == [
        ("user", "a"),
        ("reply", "ok", "fine", False, None),
        ("user", "b"),
        ("reply", "failed", "", True, "HTTP 429: Rate limit exceeded. Maximum 5 queued requests "
         "allowed."),
    ]  # fmt: skip


# -- toolbar and completion -------------------------------------------------------------------


def test_toolbar_shows_model_dialect_temperature_tokens_and_cost(emulator: Emulator) -> None:
    emulator.script(R.chat("x", usage={"prompt_tokens": 1200, "completion_tokens": 34}))
    prices: list[tuple[str, Usage]] = []

    def cost(model: str, usage: Usage) -> float | None:
        prices.append((model, usage))
        return 0.5

    c = Chat(emulator, cost=cost)
    assert c.repl.toolbar() == f"{MODEL} · openai · temperature 0.7 · 0 tokens  │  /help"
    c.lines("hi")
    assert (
        c.repl.toolbar() == f"{MODEL} · openai · temperature 0.7 · 1,234 tokens · $0.50  │  /help"
    )
    assert prices == [(MODEL, Usage(1200, 34))]
    unpriced = chat(emulator, "hi")
    assert "$" not in unpriced.repl.toolbar()


def test_a_narrow_toolbar_drops_whole_items_and_never_cuts_a_number(emulator: Emulator) -> None:
    emulator.script(R.chat("x", usage={"prompt_tokens": 40, "completion_tokens": 8}))
    c = Chat(emulator, cost=lambda _m, _u: 0.5)
    c.lines("hi")
    hint = "  │  /help"
    full = c.repl.toolbar(200)
    assert full == f"{MODEL} · openai · temperature 0.7 · 48 tokens · $0.50{hint}"
    whole = full.removesuffix(hint).split(" · ")
    seen = []
    for width in range(len(full), 5, -1):
        bar = c.repl.toolbar(width)
        assert len(bar) <= width, (width, bar)
        for item in bar.removesuffix(hint).split(" · ")[1:]:  # all but the model id: whole
            assert item in whole, (width, bar)
        seen.append(bar)
    # least important first: the hint, the dialect, the temperature, the cost, the tokens
    assert f"{MODEL} · temperature 0.7 · 48 tokens · $0.50" in seen
    assert f"{MODEL} · 48 tokens · $0.50" in seen
    assert f"{MODEL} · 48 tokens" in seen
    assert seen[-1] == MODEL[:5] + "…"  # at last the model id is shortened, and said so
    assert c.repl.toolbar(48) == f"{MODEL} · 48 tokens · $0.50"  # 50 columns, less margins


def test_completion(emulator: Emulator) -> None:
    ids = [m["id"] for m in DEFAULT_MODELS]
    repl = Chat(emulator, model_ids=lambda: ids).repl
    assert repl.completions("/mo") == [("/model", -3, COMMANDS["model"].help)]
    assert {t for t, _, _ in repl.completions("/")} == {"/" + n for n in COMMANDS}
    assert repl.completions("/model qwen") == [("Qwen/Qwen2.5-VL-72B-Instruct-together", -4, "")]
    assert [t for t, _, _ in repl.completions("/model ")] == ids
    assert repl.completions("/set te") == [("temperature", -2, P.SPECS["temperature"].help)]
    assert [t for t, _, _ in repl.completions("/set ")] == list(P.SPECS)
    assert repl.completions("/set temperature 0") == []
    assert repl.completions("/help ret") == [("retry", -3, COMMANDS["retry"].help)]
    assert repl.completions("hello /mo") == []


def test_model_ids_with_control_characters_are_not_offered(emulator: Emulator) -> None:
    ids = ["good-model", "bad\x1b]0;t\x07model", "rtl\u202eledom", "c1\u009bmodel"]
    repl = Chat(emulator, model_ids=lambda: ids).repl
    assert [t for t, _, _ in repl.completions("/model ")] == ["good-model"]


def test_broken_model_list_does_not_break_completion(emulator: Emulator) -> None:
    def broken() -> list[str]:
        raise OSError("cache unreadable")

    assert Chat(emulator, model_ids=broken).repl.completions("/model x") == [
        ("", 0, "no model list yet: run `mlchat models` (then Tab completes ids)")
    ]


def test_model_tab_with_no_list_fetches_it_in_the_background(emulator: Emulator) -> None:
    """/model <Tab> before `mlchat models` ever ran: one entry that inserts nothing says the
    list is being fetched; once it is, Tab completes ids."""
    cache: list[str] = []
    release = threading.Event()
    calls: list[int] = []

    def fetch() -> None:
        calls.append(1)
        assert release.wait(10)
        cache.extend(m["id"] for m in DEFAULT_MODELS)

    repl = Chat(emulator, model_ids=lambda: cache, fetch_models=fetch).repl
    assert repl.completions("/model qw") == [
        ("", 0, "fetching the model list: press Tab again in a moment")
    ]
    assert repl.completions("/model qw")[0][2].startswith("fetching")  # still, and once
    release.set()
    assert repl._fetcher is not None
    repl._fetcher.join(10)
    assert repl.completions("/model qwen") == [("Qwen/Qwen2.5-VL-72B-Instruct-together", -4, "")]
    assert calls == [1]


def test_a_failed_background_fetch_says_how_to_get_the_list(emulator: Emulator) -> None:
    def fetch() -> None:
        raise UsageError("no API key: set MODELSLAB_API_KEY\nmore")

    repl = Chat(emulator, model_ids=list, fetch_models=fetch).repl
    repl.completions("/model ")
    assert repl._fetcher is not None
    repl._fetcher.join(10)
    assert repl.completions("/model ") == [
        ("", 0, "no model list (no API key: set MODELSLAB_API_KEY…): run `mlchat models`")
    ]


# -- Ctrl-C -----------------------------------------------------------------------------------


def interrupt_when(screen: Screen, text: str) -> threading.Thread:
    """Send SIGINT to this process (as Ctrl-C does) once `text` has been drawn."""

    def watch() -> None:
        screen.wait_for(text)
        os.kill(os.getpid(), signal.SIGINT)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


SLOW = "alpha beta gamma delta epsilon zeta eta theta iota kappa"


def test_ctrl_c_during_a_reply_keeps_the_partial_reply(emulator: Emulator) -> None:
    emulator.script(R.chat(SLOW, delay=0.5, role_chunk=False, comment=False))
    log = RecordingLog()
    c = Chat(emulator, log=log)
    watcher = interrupt_when(c.rt.stdout, "alpha")  # type: ignore[arg-type]
    c.lines("go", "and?", interactive=True)
    watcher.join()
    assert c.code == 0
    partial = c.convo.messages[1]
    assert partial.interrupted and partial.content.startswith("alpha")
    assert "kappa" not in partial.content
    # The next request carries the partial reply, so the model sees what it said.
    assert sent(emulator)[1][1] == {"role": "assistant", "content": partial.content}
    assert "interrupted: the partial reply stays in the conversation" in c.err
    assert log.events[1] == ("reply", "interrupted", partial.content, True, None)


def test_ctrl_c_during_a_piped_chat_ends_it_with_130(emulator: Emulator) -> None:
    emulator.script(R.chat(SLOW, delay=0.5, role_chunk=False, comment=False))
    log = RecordingLog()
    c = Chat(emulator, log=log)
    watcher = interrupt_when(c.rt.stdout, "alpha")  # type: ignore[arg-type]
    c.lines("go", "never sent")
    watcher.join()
    assert c.code == 130
    assert len(emulator.requests) == 1
    assert log.events[1][:2] == ("reply", "interrupted")
    assert c.err.endswith("mlchat: interrupted\n")


# -- keys, through prompt_toolkit -------------------------------------------------------------


@pytest.fixture
def keys(emulator: Emulator, tmp_path: Path) -> Iterator[Any]:
    """`keys(*chunks)` runs a Repl whose terminal receives `chunks`, one every 30 ms (as typed:
    completion, suggestions and history load between keystrokes), then Ctrl-D. A float in
    `chunks` is a longer pause."""
    from prompt_toolkit.input import create_pipe_input
    from prompt_toolkit.output import DummyOutput

    path = tmp_path / "state" / "history"

    def run(*chunks: str, c: Chat | None = None, then_eof: bool = True) -> Chat:
        c = c or Chat(emulator)
        with create_pipe_input() as inp:
            reader = PromptReader(
                history=HistoryFile(path, warn=c.rt.warn),
                toolbar=c.repl.toolbar,
                complete=c.repl.completions,
                input=inp,
                output=DummyOutput(),
            )

            def feed() -> None:
                for chunk in (*chunks, "\x04") if then_eof else chunks:
                    if isinstance(chunk, float):  # a pause, e.g. while a reply streams
                        time.sleep(chunk)
                        continue
                    time.sleep(0.03)
                    inp.send_text(chunk)

            feeder = threading.Thread(target=feed, daemon=True)
            feeder.start()
            c.code = c.repl.run(reader)
            feeder.join()
        c.client.close()
        return c

    run.path = path  # type: ignore[attr-defined]
    yield run


def test_enter_sends(keys: Any, emulator: Emulator) -> None:
    c = keys("hello\r", "and then?\r")
    assert c.code == 0
    assert c.out == "echo: hello\necho: and then?\n"
    assert "/help lists commands" in c.err


@pytest.mark.parametrize("newline", ["\x1b\r", "\n"], ids=["alt-enter", "ctrl-j"])
def test_alt_enter_and_ctrl_j_insert_a_newline(keys: Any, emulator: Emulator, newline: str) -> None:
    keys(f"first line{newline}second line\r")
    assert sent(emulator) == [[{"role": "user", "content": "first line\nsecond line"}]]


def test_bracketed_paste_is_one_message(keys: Any, emulator: Emulator) -> None:
    keys("\x1b[200~line one\r\nline two\nline three\x1b[201~", "\r")
    assert sent(emulator) == [[{"role": "user", "content": "line one\nline two\nline three"}]]


def test_ctrl_c_at_the_prompt_clears_the_line(keys: Any, emulator: Emulator) -> None:
    c = keys("half a thought", "\x03", "whole\r")
    assert sent(emulator) == [[{"role": "user", "content": "whole"}]]
    assert c.code == 0


def test_ctrl_d_exits_only_on_an_empty_line(keys: Any, emulator: Emulator) -> None:
    # Ctrl-B moves back, Ctrl-D deletes the character under the cursor: the chat goes on.
    c = keys("ab", "\x02", "\x04", "\r")
    assert sent(emulator) == [[{"role": "user", "content": "a"}]]
    assert c.code == 0
    c = keys()
    assert c.code == 0 and len(emulator.requests) == 1


def test_ctrl_x_ctrl_e_edits_in_the_editor(
    keys: Any, emulator: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    editor = tmp_path / "editor"
    done = tmp_path / "edited"
    editor.write_text(
        f'#!/bin/sh\nprintf "%s\\n" "$(cat "$1") and more from the editor" > "$1"\ntouch {done}\n'
    )
    editor.chmod(0o755)
    monkeypatch.setenv("EDITOR", str(editor))
    monkeypatch.delenv("VISUAL", raising=False)
    from prompt_toolkit.input import create_pipe_input
    from prompt_toolkit.output import DummyOutput

    c = Chat(emulator)
    with create_pipe_input() as inp:
        reader = PromptReader(
            history=None,
            toolbar=c.repl.toolbar,
            complete=c.repl.completions,
            input=inp,
            output=DummyOutput(),
        )

        def feed() -> None:
            inp.send_text("typed")
            time.sleep(0.03)
            inp.send_text("\x18\x05")
            deadline = time.monotonic() + 10
            while not done.exists() and time.monotonic() < deadline:
                time.sleep(0.01)
            # The edited text waits in the input: nothing is sent until Enter.
            time.sleep(0.05)
            assert emulator.requests == []
            inp.send_text("\r\x04")

        feeder = threading.Thread(target=feed, daemon=True)
        feeder.start()
        c.repl.run(reader)
        feeder.join()
    c.client.close()
    assert sent(emulator) == [[{"role": "user", "content": "typed and more from the editor"}]]


def test_history_search_suggestion_and_persistence(keys: Any, emulator: Emulator) -> None:
    keys("what is a monad\r", "tell me about prompt_toolkit\r")
    emulator.reset()
    # Ctrl-R finds an old message; Right accepts the grey suggestion from history.
    keys("\x12", "monad", "\r", "\r", 0.15, "tell", 0.1, "\x1b[C", "\r")
    assert sent(emulator)[0][-1]["content"] == "what is a monad"
    assert sent(emulator)[1][-1]["content"] == "tell me about prompt_toolkit"
    # Up recalls the previous entry, from the file another REPL would read too.
    assert HistoryFile(keys.path).entries()[-2:] == [
        "what is a monad",
        "tell me about prompt_toolkit",
    ]


def test_tab_completes_commands_and_model_ids(keys: Any, emulator: Emulator) -> None:
    c = Chat(emulator, model_ids=lambda: [m["id"] for m in DEFAULT_MODELS])
    keys("/mod", "\t", " qwen", "\t", "\r", "hi\r", c=c)
    assert c.convo.model == "Qwen/Qwen2.5-VL-72B-Instruct-together"
    assert emulator.requests[0].json["model"] == "Qwen/Qwen2.5-VL-72B-Instruct-together"


def test_edit_loads_the_last_message_into_the_input(keys: Any, emulator: Emulator) -> None:
    log = RecordingLog()
    c = keys("one\r", "two\r", "/edit\r", " (edited)\r", c=Chat(emulator, log=log))
    assert sent(emulator)[-1][-1] == {"role": "user", "content": "two (edited)"}
    assert [m.content for m in c.convo.messages] == [
        "one",
        "echo: one",
        "two (edited)",
        "echo: two (edited)",
    ]
    assert ("truncate", ["one", "echo: one"]) in log.events


def test_edit_cancelled_with_ctrl_c(keys: Any, emulator: Emulator) -> None:
    c = keys("one\r", "/edit\r", "\x03", "two\r")
    assert [m.content for m in c.convo.messages] == ["one", "echo: one", "two", "echo: two"]


def test_ctrl_c_during_a_reply_returns_to_the_prompt(keys: Any, emulator: Emulator) -> None:
    emulator.script(R.chat(SLOW, delay=0.5, role_chunk=False, comment=False))
    c = Chat(emulator)
    watcher = interrupt_when(c.rt.stdout, "alpha")  # type: ignore[arg-type]
    # "next" is typed ahead while the reply streams; the prompt reads it after Ctrl-C.
    keys("go\r", "next\r", c=c)
    watcher.join()
    assert c.code == 0
    assert sent(emulator)[1][1]["role"] == "assistant"
    assert sent(emulator)[1][1]["content"].startswith("alpha")
    assert sent(emulator)[1][2] == {"role": "user", "content": "next"}


# -- the input history file -------------------------------------------------------------------


def test_history_file_round_trip_and_format(tmp_path: Path) -> None:
    from prompt_toolkit.history import FileHistory

    path = tmp_path / "state" / "history"
    h = HistoryFile(path)
    assert h.entries() == []
    for entry in ["one", "two\nlines", "+plus\n\n# not a comment", "ünï 世界"]:
        h.append(entry)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    expected = ["one", "two\nlines", "+plus\n\n# not a comment", "ünï 世界"]
    assert HistoryFile(path).entries() == expected
    # prompt_toolkit's own FileHistory reads ours, and we read what it writes.
    assert list(FileHistory(str(path)).load_history_strings()) == expected[::-1]
    FileHistory(str(path)).store_string("from FileHistory")
    assert HistoryFile(path).entries()[-1] == "from FileHistory"


def test_history_file_sees_what_other_repls_add(tmp_path: Path) -> None:
    path = tmp_path / "history"
    a, b = HistoryFile(path), HistoryFile(path)
    a.append("a1")
    assert b.entries() == ["a1"]
    b.append("b1")
    a.append("a2")  # a had not seen b1: it reads it now, in file order, without duplicates
    assert a.entries() == ["a1", "b1", "a2"]
    assert b.entries() == ["a1", "b1", "a2"]
    path.unlink()
    assert a.entries() == []
    a.append("fresh")
    assert b.entries() == ["fresh"]


def test_history_file_concurrent_appends_stay_whole(tmp_path: Path) -> None:
    """Large multi-line entries from two writers at once: each arrives whole."""
    path = tmp_path / "history"
    body = "\n".join("x" * 100 for _ in range(600))  # ~60 KB: many buffered writes elsewhere

    def writer(tag: str) -> None:
        h = HistoryFile(path)
        for n in range(25):
            h.append(f"{tag}{n}\n{body}")

    threads = [threading.Thread(target=writer, args=(tag,)) for tag in "ab"]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    entries = HistoryFile(path).entries()
    assert len(entries) == 50
    assert sorted(e.split("\n", 1)[0] for e in entries) == sorted(
        f"{t}{n}" for t in "ab" for n in range(25)
    )
    assert all(e.split("\n", 1)[1] == body for e in entries)


def test_history_file_concurrent_processes(tmp_path: Path) -> None:
    path = tmp_path / "history"
    code = (
        "import sys; from pathlib import Path; from mlchat.history import HistoryFile\n"
        "h = HistoryFile(Path(sys.argv[1]))\n"
        "for n in range(40): h.append(sys.argv[2] + str(n) + '\\n' + 'y' * 30000)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [
        subprocess.Popen([sys.executable, "-c", code, str(path), tag], env=env) for tag in "pq"
    ]
    assert [p.wait(timeout=30) for p in procs] == [0, 0]
    entries = HistoryFile(path).entries()
    assert len(entries) == 80
    assert all(e.endswith("\n" + "y" * 30000) for e in entries)


def test_unwritable_history_warns_once_and_the_chat_goes_on(
    keys: Any, emulator: Emulator, tmp_path: Path
) -> None:
    blocker = tmp_path / "state"
    blocker.write_text("a file where the directory should be")
    c = keys("one\r", "two\r")
    assert c.out == "echo: one\necho: two\n"
    assert c.err.count("mlchat: warning: cannot") == 1
    assert "input history" in c.err


# -- the turn logic in session.py -------------------------------------------------------------


def convo_of(*roles: str) -> Conversation:
    c = Conversation(model=MODEL)
    c.messages = [Message(role, f"{role}{n}") for n, role in enumerate(roles)]  # type: ignore[arg-type]
    return c


@pytest.mark.parametrize(
    ("roles", "undo_keeps", "retry_keeps", "resent"),
    [
        ((), 0, 0, None),
        (("user",), 0, 1, "user0"),  # a message whose reply failed
        (("user", "assistant"), 0, 1, "user0"),
        (("user", "assistant", "user", "assistant"), 2, 3, "user2"),
        (("user", "assistant", "tool", "assistant"), 0, 1, "user0"),  # a tool exchange is one
        (("assistant",), 1, 1, None),  # a loaded conversation that starts with the model
    ],
)
def test_undo_and_retry_points(
    roles: tuple[str, ...], undo_keeps: int, retry_keeps: int, resent: str | None
) -> None:
    c = convo_of(*roles)
    c.undo()
    assert len(c.messages) == undo_keeps
    c = convo_of(*roles)
    message = c.rewind_to_last_user()
    assert len(c.messages) == retry_keeps
    assert (message.content if message else None) == resent


def test_slash_key_replaces_the_key_without_leaving(emulator: Emulator) -> None:
    """After a 401, /key takes a new key at a hidden prompt: the next request sends it, and it
    is saved as `mlchat key set` saves it."""
    from mlchat import config

    new_key = "ml-new-KEY-0123456789abcdef"
    rt = runtime(stderr_tty=True)
    rt.read_secret = lambda _prompt: new_key
    emulator.script(
        R.error(401, {"status": "error", "message": "Invalid API key"}), R.chat("welcome back")
    )
    c = chat(emulator, "hi", "/key", "/retry", rt=rt, interactive=True)
    assert "Invalid API key" in c.err
    assert emulator.requests[-1].headers["authorization"] == f"Bearer {new_key}"
    assert emulator.requests[0].headers["authorization"] == f"Bearer {FAKE_KEY}"
    assert "welcome back" in c.out
    assert config.load_file()["api_key"] == new_key
    assert f"key {config.mask(new_key)} in use from now on, and saved to " in c.err
    assert new_key not in c.err + c.out


def test_slash_key_refuses_a_key_on_the_line_and_a_pipe(emulator: Emulator) -> None:
    c = chat(emulator, "/key ml-typed-key-0123456789", interactive=True)
    assert "/key takes no argument" in c.err
    c = chat(emulator, "/key")
    assert "/key needs a terminal" in c.err
    assert emulator.requests == []
