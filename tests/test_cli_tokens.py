"""`mlchat tokens` and the cost of a reply (`ask --usage`, `ask --json`), against the emulator.

The emulator counts whitespace-separated words of the system prompt and of each message, plus 3
per message; the shipped price of minimax-minimax-m1 is $0.40 / $2.20 per 1M tokens.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlchat import config, models
from mlchat.types import ModelInfo
from tests.conftest import FAKE_KEY, invoke
from tests.emulator import Emulator, Reply

LLAMA = "meta-llama-3-8B-instruct"
LLAMA_PRICE = '[prices."meta-llama-3-8B-instruct"]\ninput = 0.03\noutput = 0.06\n'


def write_config(text: str) -> Path:
    path = config.config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


# -- sources ---------------------------------------------------------------------------------


def test_counts_an_argument(env: dict[str, str], emulator: Emulator) -> None:
    r = invoke(["tokens", "hello there world"], env=env)
    assert r.code == 0, r.err
    assert r.out == "6\n"  # 3 words + 3 for the message
    assert r.err == ""
    req = emulator.requests[0]
    assert (req.method, req.path) == ("POST", "/v1/messages/count_tokens")
    assert req.json == {
        "model": "minimax-minimax-m1",
        "messages": [{"role": "user", "content": "hello there world"}],
    }
    assert req.headers["x-api-key"] == FAKE_KEY


def test_counts_piped_stdin(env: dict[str, str], emulator: Emulator) -> None:
    r = invoke(["tokens"], env=env, stdin="un deux trois quatre 世界\n".encode())
    assert r.code == 0, r.err
    assert r.out == "8\n"
    assert emulator.requests[0].json["messages"][0]["content"] == "un deux trois quatre 世界"


def test_sources_join_stdin_files_argument(
    env: dict[str, str], emulator: Emulator, tmp_path: Path
) -> None:
    a, b = tmp_path / "a.md", tmp_path / "b.md"
    a.write_text("alpha file\n")
    b.write_text("\nbeta file two\n\n")
    r = invoke(
        ["tokens", "-f", str(a), "--file", str(b), "the question"], env=env, stdin=b"piped\n"
    )
    assert r.code == 0, r.err
    content = emulator.requests[0].json["messages"][0]["content"]
    # Each file is a labelled block: its path, then its text in a fence.
    assert content == (
        f"piped\n\n{a}\n```markdown\nalpha file\n```\n\n"
        f"{b}\n```markdown\n\nbeta file two\n\n```\n\nthe question"
    )


def test_file_dash_places_stdin(env: dict[str, str], emulator: Emulator, tmp_path: Path) -> None:
    a = tmp_path / "a.txt"
    a.write_text("first")
    r = invoke(["tokens", "-f", str(a), "-f", "-"], env=env, stdin=b"second\n")
    assert r.code == 0, r.err
    assert emulator.requests[0].json["messages"][0]["content"] == f"{a}\n```\nfirst\n```\n\nsecond"


def test_counts_what_ask_would_send(env: dict[str, str], emulator: Emulator) -> None:
    stdin = b"\nsome notes\n\n"
    invoke(["ask", "summarise"], env=env, stdin=stdin)
    invoke(["tokens", "summarise"], env=env, stdin=stdin)
    sent = emulator.requests[0].json["messages"][0]["content"]
    assert emulator.requests[1].json["messages"][0]["content"] == sent


def test_system_prompt_is_counted(env: dict[str, str], emulator: Emulator) -> None:
    r = invoke(["tokens", "-s", "be very brief", "hi"], env=env)
    assert r.out == "7\n"
    assert emulator.requests[0].json["system"] == "be very brief"
    write_config('system = "you are a pirate"\n')
    r = invoke(["tokens", "hi"], env=env)
    assert r.out == "8\n"
    assert emulator.requests[1].json["system"] == "you are a pirate"


@pytest.mark.parametrize(
    ("args", "stdin"),
    [(["tokens"], b""), (["tokens", "  "], b"\n\n"), (["tokens"], b" \t\n")],
)
def test_empty_input_is_a_usage_error_without_request(
    env: dict[str, str], emulator: Emulator, args: list[str], stdin: bytes
) -> None:
    r = invoke(args, env=env, stdin=stdin)
    assert r.code == 2
    assert r.out == ""
    assert r.err.startswith("mlchat: error: nothing to count")
    assert emulator.requests == []


def test_empty_files_are_empty_input(
    env: dict[str, str], emulator: Emulator, tmp_path: Path
) -> None:
    (tmp_path / "empty").write_text("\n")
    r = invoke(["tokens", "-f", str(tmp_path / "empty")], env=env)
    assert r.code == 2 and emulator.requests == []


@pytest.mark.parametrize(
    ("name", "setup", "message"),
    [
        ("missing.txt", None, "cannot read {path}: No such file or directory"),
        ("a-dir", "dir", "{path} holds no text files; nothing was sent"),
        ("binary.bin", b"\x7fELF\x00\x01", "{path} looks binary (6 bytes, it contains NUL bytes)"),
    ],
)
def test_unreadable_files_are_usage_errors_naming_the_path(
    env: dict[str, str],
    emulator: Emulator,
    tmp_path: Path,
    name: str,
    setup: bytes | str | None,
    message: str,
) -> None:
    path = tmp_path / name
    if setup == "dir":
        path.mkdir()
    elif isinstance(setup, bytes):
        path.write_bytes(setup)
    r = invoke(["tokens", "-f", str(path), "text"], env=env)
    assert r.code == 2
    assert r.out == ""
    assert r.err.splitlines()[0].startswith(f"mlchat: error: {message.format(path=path)}")
    assert emulator.requests == []


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be", "utf-32", "utf-8-sig"])
def test_a_file_or_stdin_with_a_byte_order_mark_is_counted_as_its_text(
    env: dict[str, str], emulator: Emulator, tmp_path: Path, encoding: str
) -> None:
    text = "héllo from Windows\r\nline 2\n"
    data = text.encode(encoding)
    if encoding == "utf-16-be":
        data = b"\xfe\xff" + data
    path = tmp_path / "notes.txt"
    path.write_bytes(data)
    r = invoke(["tokens", "-f", str(path)], env=env)
    assert (r.code, r.err) == (0, "")
    assert emulator.requests[0].json["messages"][0]["content"] == f"{path}\n```\n{text}```"
    r = invoke(["tokens"], env=env, stdin=data)
    assert (r.code, r.out, r.err) == (0, "8\n", "")  # 5 words + 3 for the message, not mojibake
    assert emulator.requests[1].json["messages"][0]["content"] == text.rstrip("\n")


def test_invalid_utf8_is_counted_with_one_warning_like_ask(
    env: dict[str, str], emulator: Emulator, tmp_path: Path
) -> None:
    path = tmp_path / "latin1.txt"
    path.write_bytes(b"caf\xe9 au lait\n")
    r = invoke(["tokens", "-f", str(path)], env=env)
    assert r.code == 0, r.err
    assert r.err == (
        f"mlchat: warning: {path} is not valid UTF-8 (first bad byte at offset 3); "
        "invalid bytes were replaced with U+FFFD\n"
    )
    content = emulator.requests[0].json["messages"][0]["content"]
    assert content == f"{path}\n```\ncaf\ufffd au lait\n```"


def test_binary_stdin_is_refused_unless_allowed(env: dict[str, str], emulator: Emulator) -> None:
    blob = b"\x00\x01" * 10
    r = invoke(["tokens"], env=env, stdin=blob)
    assert r.code == 2 and emulator.requests == []
    assert r.err.startswith("mlchat: error: stdin looks binary (20 bytes, it contains NUL bytes)")
    r = invoke(["tokens", "--allow-binary"], env=env, stdin=blob)
    assert r.code == 0, r.err
    assert len(emulator.requests) == 1


def test_oversized_input_is_refused_before_any_request(
    env: dict[str, str], emulator: Emulator, tmp_path: Path
) -> None:
    from mlchat.attach import MAX_BYTES

    path = tmp_path / "big.txt"
    with path.open("wb") as f:
        f.truncate(MAX_BYTES + 1)  # sparse: costs no disk
    r = invoke(["tokens", "-f", str(path)], env=env, stdin=b"")
    assert r.code == 2 and emulator.requests == []
    assert r.err.startswith(f"mlchat: error: {path} is larger than 20.0 MB")


def test_no_key_exits_3_without_request(emulator: Emulator) -> None:
    r = invoke(["tokens", "hi"], env={"MODELSLAB_BASE_URL": emulator.base_url})
    assert r.code == 3
    assert "MODELSLAB_API_KEY" in r.err
    assert emulator.requests == []


def test_service_errors_keep_their_exit_codes(env: dict[str, str], emulator: Emulator) -> None:
    emulator.script(Reply.error(404, {"status": "error", "message": "Model not found"}))
    r = invoke(["tokens", "-m", "nope", "hi"], env=env)
    assert r.code == 4
    assert r.out == ""
    assert "Model not found" in r.err and "mlchat models" in r.err


# -- model names -----------------------------------------------------------------------------


def test_model_fragment_and_alias(env: dict[str, str], emulator: Emulator) -> None:
    models.save([ModelInfo(m["id"]) for m in emulator.models], emulator.base_url)
    write_config('[aliases]\nfast = "meta-llama-3-8B-instruct"\n')
    assert invoke(["tokens", "-m", "QWEN", "hi"], env=env).code == 0
    assert emulator.requests[-1].json["model"] == "Qwen/Qwen2.5-VL-72B-Instruct-together"
    assert invoke(["tokens", "-m", "fast", "hi"], env=env).code == 0
    assert emulator.requests[-1].json["model"] == LLAMA
    r = invoke(["tokens", "-m", "llama", "hi"], env=env)
    assert r.code == 2 and "matches 2 models" in r.err
    assert len(emulator.requests) == 2


# -- output and cost -------------------------------------------------------------------------


def test_terminal_line_has_the_cost(env: dict[str, str], emulator: Emulator) -> None:
    r = invoke(["tokens", "hello there world"], env=env, stdout_tty=True)
    assert r.code == 0, r.err
    assert (
        r.out
        == "6 input tokens, <1% of 1M · $0.0000024 to send to minimax-minimax-m1 at $0.40/1M\n"
    )
    assert r.err == ""


def test_terminal_line_without_a_price(env: dict[str, str], emulator: Emulator) -> None:
    r = invoke(["tokens", "-m", LLAMA, "hello"], env=env, stdout_tty=True)
    assert r.out == (
        f"4 input tokens · {LLAMA}, price unknown (add one under [prices] in the config file)\n"
    )


def test_json(env: dict[str, str], emulator: Emulator) -> None:
    text = " ".join(["word"] * 2497)  # 2500 tokens
    r = invoke(["tokens", "--json", text], env=env)
    assert r.code == 0, r.err
    assert json.loads(r.out) == {
        "model": "minimax-minimax-m1",
        "input_tokens": 2500,
        "cost_usd": 0.001,
        "usd_per_million": {"input": 0.4, "output": 2.2},
        "context_window": 1_000_000,
    }
    assert r.out.count("\n") == 1


def test_json_without_a_price(env: dict[str, str], emulator: Emulator) -> None:
    r = invoke(["tokens", "--json", "-m", LLAMA, "hi"], env=env)
    assert json.loads(r.out) == {
        "model": LLAMA,
        "input_tokens": 4,
        "cost_usd": None,
        "usd_per_million": None,
        "context_window": None,
    }


def test_config_prices_add_and_override(env: dict[str, str], emulator: Emulator) -> None:
    write_config(LLAMA_PRICE + '[prices."minimax-minimax-m1"]\ninput = 1.25\n')
    text = " ".join(["w"] * 997)  # 1000 tokens
    r = invoke(["tokens", "--json", "-m", LLAMA, text], env=env)
    doc = json.loads(r.out)
    assert doc["cost_usd"] == 0.00003
    assert doc["usd_per_million"] == {"input": 0.03, "output": 0.06}
    r = invoke(["tokens", "--json", text], env=env)
    doc = json.loads(r.out)
    assert doc["cost_usd"] == 0.00125
    assert doc["usd_per_million"] == {"input": 1.25, "output": 2.2}
    r = invoke(["tokens", text], env=env, stdout_tty=True)
    assert (
        r.out
        == "1,000 input tokens, <1% of 1M · $0.0013 to send to minimax-minimax-m1 at $1.25/1M\n"
    )


def test_malformed_prices_fail_before_the_request(env: dict[str, str], emulator: Emulator) -> None:
    write_config('[prices."minimax-minimax-m1"]\ninput = "cheap"\n')
    r = invoke(["tokens", "hi"], env=env)
    assert r.code == 3
    # The config file's own validation names the entry before any request.
    assert "prices" in r.err and "got 'cheap'" in r.err and r.err.startswith("mlchat: error: ")
    assert emulator.requests == []


# -- the cost of a reply: ask --usage and ask --json -----------------------------------------


USAGE_5_1 = {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6}


@pytest.mark.parametrize("api", ["openai", "anthropic"])
def test_ask_usage_prints_tokens_and_cost_on_stderr(
    env: dict[str, str], emulator: Emulator, api: str
) -> None:
    emulator.script(Reply.chat("42", usage=USAGE_5_1))
    r = invoke(["ask", "--usage", "--api", api, "answer?"], env=env)
    assert r.code == 0, r.err
    assert r.out == "42\n"
    assert r.err == "usage: 5 in + 1 out = 6 tokens · $0.0000042 (minimax-minimax-m1)\n"


def test_ask_usage_with_config_price_and_without_price(
    env: dict[str, str], emulator: Emulator
) -> None:
    emulator.script(
        Reply.chat("a", usage={"prompt_tokens": 2000, "completion_tokens": 1000}),
        Reply.chat("b", usage=USAGE_5_1),
    )
    write_config(LLAMA_PRICE)
    r = invoke(["ask", "--usage", "-m", LLAMA, "q"], env=env)
    assert r.err == f"usage: 2000 in + 1000 out = 3000 tokens · $0.00012 ({LLAMA})\n"
    r = invoke(["ask", "--usage", "-m", "other-model", "q"], env=env)
    assert r.err == (
        "usage: 5 in + 1 out = 6 tokens · no price known for other-model (add one under [prices])\n"
    )


def test_ask_usage_when_the_service_sends_none(env: dict[str, str], emulator: Emulator) -> None:
    emulator.script(Reply.chat("ok", usage=None))
    r = invoke(["ask", "--usage", "q"], env=env)
    assert r.code == 0
    assert r.err == "usage: the service reported no token counts (minimax-minimax-m1)\n"


def test_ask_json_has_the_cost_when_known(env: dict[str, str], emulator: Emulator) -> None:
    emulator.script(
        Reply.chat("x", usage={"prompt_tokens": 1000, "completion_tokens": 500}),
        Reply.chat("x", usage={"prompt_tokens": 1000, "completion_tokens": 500}),
        Reply.chat("x", usage=None),
    )
    doc = json.loads(invoke(["ask", "--json", "q"], env=env).out)
    assert doc["cost"] == 0.0015  # 1000 x 0.40 + 500 x 2.20 = 1500 millionths
    doc = json.loads(invoke(["ask", "--json", "-m", LLAMA, "q"], env=env).out)
    assert "cost" not in doc
    doc = json.loads(invoke(["ask", "--json", "q"], env=env).out)
    assert "cost" not in doc and doc["usage"] is None


def test_chat_usage_prints_a_line_after_each_reply(env: dict[str, str], emulator: Emulator) -> None:
    emulator.script(Reply.chat("one", usage=USAGE_5_1), Reply.chat("two", usage=USAGE_5_1))
    r = invoke(["chat", "--usage"], env=env, stdin=b"first\nsecond\n")
    assert r.code == 0, r.err
    line = "usage: 5 in + 1 out = 6 tokens · $0.0000042 (minimax-minimax-m1)"
    assert r.err.splitlines().count(line) == 2
    assert "usage:" not in r.out
    quiet = invoke(["chat"], env=env, stdin=b"third\n")
    assert "usage:" not in quiet.err
