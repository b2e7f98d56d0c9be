"""The context window: where a model's size comes from (the model list, the shipped table, the
config file), how `tokens`, `models --json` and the REPL toolbar show it, and the refusal before a
request that would not fit (`ask` exits 4, `chat` refuses the message), with nothing sent.

The emulator counts whitespace-separated words of every message plus 3 per message."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import Any

import pytest

from mlchat import config, context, models
from mlchat import params as P
from mlchat.client import Client, RetryPolicy
from mlchat.providers.common import decode_models
from mlchat.repl.loop import Repl
from mlchat.repl.reader import PlainReader
from mlchat.runtime import Runtime
from mlchat.session import Conversation
from mlchat.types import ImagePart, Message, ModelInfo
from tests.conftest import FAKE_KEY, invoke
from tests.emulator import Emulator
from tests.emulator import Reply as R

M1 = "minimax-minimax-m1"
LLAMA = "meta-llama-3-8B-instruct"


def write_config(text: str) -> Path:
    path = config.config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def chat_requests(emulator: Emulator) -> list[Any]:
    return [r for r in emulator.requests if r.path in ("/chat/completions", "/v1/messages")]


def count_requests(emulator: Emulator) -> list[Any]:
    return [r for r in emulator.requests if r.path == "/v1/messages/count_tokens"]


# -- where the size comes from ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ({"id": "a", "context_length": 131072}, 131072),
        ({"id": "a", "context_window": 32768}, 32768),
        ({"id": "a", "max_context_length": 8192}, 8192),
        ({"id": "a", "max_model_len": 4096.0}, 4096),
        ({"id": "a", "max_input_tokens": 200000}, 200000),
        ({"id": "a", "input_token_limit": 1048576}, 1048576),
        ({"id": "a", "top_provider": {"context_length": 65536}}, 65536),
        ({"id": "a"}, None),
        ({"id": "a", "context_length": "131072"}, None),  # a string is not trusted as a size
        ({"id": "a", "context_length": True}, None),
        ({"id": "a", "context_length": 0}, None),
        ({"id": "a", "context_length": -5}, None),
        ({"id": "a", "context_length": 10**12}, None),  # a broken list, not a model
        ({"id": "a", "context_length": 4096.5}, None),
    ],
)
def test_the_model_list_gives_the_size_under_common_names(
    entry: dict[str, Any], expected: int | None
) -> None:
    assert decode_models({"data": [entry]})[0].context == expected


def test_the_cache_keeps_the_size(env: dict[str, str]) -> None:
    saved = [ModelInfo("a", context=131072), ModelInfo("b")]
    models.save(saved, "https://example.test")
    cached = models.load("https://example.test")
    assert cached is not None and list(cached.models) == saved


def test_the_config_wins_then_the_list_then_the_shipped_table() -> None:
    listed = [ModelInfo("a", context=8192), ModelInfo(M1, context=500_000)]
    assert context.window("a", {}, listed) == 8192
    assert context.window("a", {"a": 4096}, listed) == 4096
    assert context.window(M1, {}, ()) == 1_000_000
    assert context.window(M1, {}, listed) == 500_000
    assert context.window("unknown", {}, listed) is None


def test_models_json_includes_the_size(env: dict[str, str], emulator: Emulator) -> None:
    emulator.models = [
        {"id": M1, "object": "model", "owned_by": "minimax"},
        {"id": LLAMA, "object": "model", "context_length": 8192},
        {"id": "other", "object": "model"},
        {"id": "mine", "object": "model", "context_length": 100},
    ]
    write_config('[models."mine"]\ncontext = 32768\n')
    r = invoke(["models", "--json"], env=env)
    assert r.code == 0, r.err
    sizes = {d["id"]: d["context"] for d in json.loads(r.out)}
    assert sizes == {M1: 1_000_000, LLAMA: 8192, "other": None, "mine": 32768}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[models."m"]\ncontext = 0\n', "must be a number of tokens >= 1"),
        ('[models."m"]\ncontext = "big"\n', "must be a whole number"),
        ('[models."m"]\nwindow = 5\n', "has no field 'window'"),
        ("models = 5\n", "models must be a table"),
    ],
)
def test_a_bad_size_in_the_config_exits_3_before_any_request(
    env: dict[str, str], emulator: Emulator, text: str, message: str
) -> None:
    write_config(text)
    r = invoke(["ask", "hi"], env=env)
    assert r.code == 3
    assert message in r.err
    assert emulator.requests == []


def test_config_set_writes_a_size(env: dict[str, str], emulator: Emulator) -> None:
    r = invoke(["config", "set", "models.Qwen/Qwen2.5-VL.context", "131072"], env=env)
    assert r.code == 0, r.err
    assert '[models."Qwen/Qwen2.5-VL"]' in config.config_path().read_text()
    r = invoke(["tokens", "--json", "-m", "Qwen/Qwen2.5-VL", "hi"], env=env)
    assert json.loads(r.out)["context_window"] == 131072


# -- tokens shows the share -----------------------------------------------------------------


def test_tokens_shows_the_share_of_the_window(env: dict[str, str], emulator: Emulator) -> None:
    r = invoke(["tokens", "hello there world"], env=env, stdout_tty=True)
    assert r.out.startswith("6 input tokens, <1% of 1M · ")
    write_config(f'[models."{M1}"]\ncontext = 200\n')
    text = " ".join(["w"] * 77)  # 80 tokens
    r = invoke(["tokens", text], env=env, stdout_tty=True)
    assert r.out.startswith("80 input tokens, 40% of 200 · ")
    r = invoke(["tokens", "--json", text], env=env)
    assert json.loads(r.out)["context_window"] == 200
    assert invoke(["tokens", text], env=env).out == "80\n"  # piped: the number alone


def test_tokens_without_a_known_window(env: dict[str, str], emulator: Emulator) -> None:
    r = invoke(["tokens", "-m", LLAMA, "hi"], env=env, stdout_tty=True)
    assert r.out.startswith("4 input tokens · ")
    assert (
        json.loads(invoke(["tokens", "--json", "-m", LLAMA, "hi"], env=env).out)["context_window"]
        is None
    )


@pytest.mark.parametrize(
    ("tokens", "size", "shown"),
    [(41_203, 1_000_000, "4% of 1M"), (1, 131_072, "<1% of 131K"), (8_000, 8_192, "98% of 8.2K")],
)
def test_share_wording(tokens: int, size: int, shown: str) -> None:
    assert context.share(tokens, size) == shown


# -- the refusal before sending ---------------------------------------------------------------

# With context = 2000 and the default max_tokens of 1000, the room for input is 1000 tokens.
SMALL = f'[models."{M1}"]\ncontext = 2000\n'


@pytest.mark.parametrize("api", ["openai", "anthropic"])
def test_ask_far_over_the_window_exits_4_without_a_request(
    env: dict[str, str], emulator: Emulator, api: str
) -> None:
    write_config(SMALL)
    r = invoke(["ask", "--api", api, " ".join(["w"] * 10_000)], env=env)
    assert r.code == 4
    assert r.err.startswith(
        "mlchat: error: the conversation is about 5,004 tokens and the reply may take 1,000 "
        f"more: over {M1}'s context window of 2,000 tokens; nothing was sent"
    )
    assert emulator.requests == []  # the estimate was decisive: not even a count
    assert invoke(["sessions", "list"], env=env).out == ""  # and nothing was saved


def test_ask_near_the_window_is_counted_exactly(
    env: dict[str, str], emulator: Emulator, tmp_path: Path
) -> None:
    write_config(SMALL)
    notes = tmp_path / "notes.txt"
    notes.write_text(" ".join(["w"] * 1_500))
    r = invoke(["ask", "-f", str(notes), "sum up"], env=env)
    assert r.code == 4
    assert "the conversation is 1,508 tokens and the reply may take 1,000 more" in r.err
    assert len(count_requests(emulator)) == 1
    assert chat_requests(emulator) == []
    # With room for a shorter reply it fits, and is sent.
    r = invoke(["ask", "--max-tokens", "400", "-f", str(notes), "sum up"], env=env)
    assert r.code == 0, r.err
    assert len(chat_requests(emulator)) == 1


def test_a_small_prompt_is_sent_without_a_count(env: dict[str, str], emulator: Emulator) -> None:
    write_config(SMALL)
    assert invoke(["ask", "a short question"], env=env).code == 0
    assert count_requests(emulator) == [] and len(chat_requests(emulator)) == 1


def test_a_resumed_conversation_counts_what_it_carries(
    env: dict[str, str], emulator: Emulator
) -> None:
    assert invoke(["ask", " ".join(["w"] * 3_000)], env=env).code == 0
    write_config(SMALL)
    r = invoke(["ask", "-c", "and now?"], env=env)
    assert r.code == 4 and "context window of 2,000 tokens" in r.err
    assert len(chat_requests(emulator)) == 1  # the first ask only


def test_an_unknown_window_checks_nothing(env: dict[str, str], emulator: Emulator) -> None:
    r = invoke(["ask", "-m", LLAMA, " ".join(["w"] * 10_000)], env=env)
    assert r.code == 0, r.err
    assert count_requests(emulator) == []


def test_images_count_towards_the_estimate() -> None:
    image = ImagePart("image/png", b"\x89PNG\r\n\x1a\n", "a.png")
    text = Message("user", "hi")
    with_image = Message("user", "hi", parts=(image,))
    assert context.estimate([with_image]) - context.estimate([text]) == context.IMAGE_TOKENS


def test_a_failed_count_leaves_the_estimate() -> None:
    def broken() -> int:
        raise RuntimeError("no count_tokens here")

    fit = context.check([Message("user", "w " * 700)], None, 2000, reply_tokens=1000, count=broken)
    assert not fit.exact and fit.fits


# -- chat ---------------------------------------------------------------------------------------


def test_chat_refuses_a_message_that_would_not_fit(env: dict[str, str], emulator: Emulator) -> None:
    write_config(SMALL)
    big = " ".join(["w"] * 10_000)
    r = invoke(["chat"], env=env, stdin=f"hello\n{big}\nstill here?\n".encode())
    assert "over minimax-minimax-m1's context window of 2,000 tokens; nothing was sent" in r.err
    assert "/compact summarises the older exchanges, /undo drops the last one" in r.err
    sent = [r.json["messages"] for r in chat_requests(emulator)]
    assert len(sent) == 2
    # The refused message is not part of the conversation: the next one goes on without it.
    assert [m["content"] for m in sent[1] if m["role"] == "user"] == ["hello", "still here?"]


def quiet_runtime() -> Runtime:
    """A Runtime on pipes that writes to StringIOs."""
    return Runtime(
        env={"PATH": os.environ.get("PATH", os.defpath), "TERM": "dumb"},
        stdin=io.BytesIO(b""),
        stdout=io.StringIO(),
        stderr=io.StringIO(),
        stdin_tty=False,
        stdout_tty=False,
        stderr_tty=False,
        sleep=lambda _s: None,
    )


def test_the_toolbar_shows_the_conversation_against_the_window(emulator: Emulator) -> None:
    emulator.script(R.chat("x", usage={"prompt_tokens": 41_000, "completion_tokens": 203}))
    rt = quiet_runtime()
    client = Client(emulator.base_url, FAKE_KEY, retry=RetryPolicy(retries=0))
    convo = Conversation(model=M1, params=P.DEFAULTS)
    repl = Repl(rt, client, convo, window=lambda model: {M1: 1_000_000}.get(model))
    try:
        assert "context" not in repl.toolbar()  # nothing known before the first reply
        repl.run(PlainReader(io.BytesIO(b"hi\n"), interactive=False))
        assert " · context 41K, 4% of 1M" in repl.toolbar()
        convo.model = "unknown"
        assert "context" not in repl.toolbar()
    finally:
        client.close()
