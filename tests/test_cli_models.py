"""`mlchat models` and model names in `ask -m`, against the emulator over real HTTP."""

from __future__ import annotations

import json
import re
import socket
import time
from pathlib import Path

import pytest

from mlchat import config, models
from mlchat.types import ModelInfo
from tests.conftest import FAKE_KEY, invoke
from tests.emulator import Emulator, Reply

SORTED_IDS = [
    "deepseek-ai-DeepSeek-R1-Distill-Llama-70B",
    "meta-llama-3-8B-instruct",
    "minimax-minimax-m1",
    "Qwen/Qwen2.5-VL-72B-Instruct-together",
]
TWO_DAYS = 2 * 86400


SGR = re.compile(r"\x1b\[[0-9;]*m")


def write_config(text: str) -> Path:
    path = config.config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def dead_url() -> str:
    """A base URL on a loopback port nothing listens on: connections are refused at once."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/api/v7/llm"


def cache(base_url: str, ids: list[str], *, age: float = 0.0) -> None:
    models.save([ModelInfo(i, "someone", 1700000000) for i in ids], base_url, now=time.time() - age)


# -- output ----------------------------------------------------------------------------------


def test_piped_prints_one_id_per_line_sorted(env: dict[str, str], emulator: Emulator) -> None:
    r = invoke(["models"], env=env)
    assert r.code == 0, r.err
    assert r.out == "".join(f"{i}\n" for i in SORTED_IDS)
    assert r.err == ""
    req = emulator.requests[0]
    assert (req.method, req.path) == ("GET", "/v1/models")
    assert req.headers["x-api-key"] == FAKE_KEY
    assert req.headers["authorization"] == f"Bearer {FAKE_KEY}"


def test_table_on_a_terminal(env: dict[str, str], emulator: Emulator) -> None:
    r = invoke(["models"], env={**env, "TERM": "xterm", "NO_COLOR": "1"}, stdout_tty=True)
    r.out = SGR.sub("", r.out)  # NO_COLOR keeps bold; the layout is what counts
    assert r.code == 0, r.err
    lines = r.out.splitlines()
    header = next(line for line in lines if "ID" in line)
    assert header.split() == ["ID", "OWNER", "CREATED", "NOTES"]
    rows = {line.split()[0]: line.split()[1:] for line in lines if line.split()[:1] != []}
    # Ids are never wrapped or cut; dates are the created day (UTC); the default is marked.
    assert rows["minimax-minimax-m1"] == ["minimax", "2025-04-18", "default"]
    assert rows["Qwen/Qwen2.5-VL-72B-Instruct-together"] == ["Qwen", "2024-04-05"]
    assert rows["deepseek-ai-DeepSeek-R1-Distill-Llama-70B"] == ["deepseek-ai", "2025-01-22"]
    assert "4 models" in r.out


@pytest.mark.parametrize(
    ("columns", "headers"), [("80", ["ID", "OWNER", "CREATED", "NOTES"]), ("60", ["ID", "NOTES"])]
)
def test_a_narrow_terminal_drops_columns_rather_than_cut_ids(
    env: dict[str, str], emulator: Emulator, columns: str, headers: list[str]
) -> None:
    write_config('[aliases]\nfast = "meta-llama-3-8B-instruct"\nquick = "minimax-minimax-m1"\n')
    r = invoke(["models"], env={**env, "NO_COLOR": "1", "COLUMNS": columns}, stdout_tty=True)
    r.out = SGR.sub("", r.out)  # NO_COLOR keeps bold; the layout is what counts
    assert r.code == 0
    lines = r.out.splitlines()
    assert lines[0].split() == headers
    assert all(len(line) <= int(columns) for line in lines)
    words = r.out.split()
    for model in emulator.models:
        assert model["id"] in words
    assert "fast" in words and "default;" in words


def test_table_has_colour_unless_no_color(env: dict[str, str], emulator: Emulator) -> None:
    r = invoke(["models"], env={**env, "TERM": "xterm-256color"}, stdout_tty=True)
    assert r.code == 0
    assert "\x1b[" in r.out and "minimax-minimax-m1" in r.out


def test_aliases_and_the_default_are_marked(env: dict[str, str], emulator: Emulator) -> None:
    write_config(
        '[aliases]\nfast = "meta-llama-3-8B-instruct"\nquick = "meta-llama-3-8B-instruct"\n'
    )
    e = {**env, "MLCHAT_MODEL": "qwen2.5", "NO_COLOR": "1", "COLUMNS": "120"}
    r = invoke(["models"], env=e, stdout_tty=True)
    r.out = SGR.sub("", r.out)  # NO_COLOR keeps bold; the layout is what counts
    assert r.code == 0, r.err
    row = {line.split()[0]: line for line in r.out.splitlines() if line.strip()}
    assert row["meta-llama-3-8B-instruct"].rstrip().endswith("alias fast, quick")
    assert row["Qwen/Qwen2.5-VL-72B-Instruct-together"].rstrip().endswith("default")
    assert "default" not in row["minimax-minimax-m1"]
    r = invoke(["models", "--json"], env=e)
    docs = {d["id"]: d for d in json.loads(r.out)}
    assert docs["meta-llama-3-8B-instruct"]["aliases"] == ["fast", "quick"]
    assert docs["Qwen/Qwen2.5-VL-72B-Instruct-together"]["default"] is True
    assert [d["id"] for d in docs.values() if d["default"]] == [
        "Qwen/Qwen2.5-VL-72B-Instruct-together"
    ]


def test_an_ambiguous_default_does_not_stop_the_listing(
    env: dict[str, str], emulator: Emulator
) -> None:
    r = invoke(["models", "--json"], env={**env, "MLCHAT_MODEL": "llama"})
    assert r.code == 0, r.err
    assert not any(d["default"] for d in json.loads(r.out))


def test_json_is_a_list_of_objects(env: dict[str, str], emulator: Emulator) -> None:
    r = invoke(["models", "--json"], env=env)
    assert r.code == 0, r.err
    docs = json.loads(r.out)
    assert [d["id"] for d in docs] == SORTED_IDS
    assert docs[2] == {
        "id": "minimax-minimax-m1",
        "owned_by": "minimax",
        "created": 1745000000,
        "display_name": None,
        "context": 1_000_000,  # the shipped table: the list gives none
        "aliases": [],
        "default": True,
    }


@pytest.mark.parametrize(
    ("terms", "expected"),
    [
        (["llama"], SORTED_IDS[:2]),
        (["LLAMA", "70b"], SORTED_IDS[:1]),
        (["meta-llama"], ["meta-llama-3-8B-instruct"]),  # the owner matches too
        (["qwen", "VL"], ["Qwen/Qwen2.5-VL-72B-Instruct-together"]),
    ],
)
def test_terms_filter(
    env: dict[str, str], emulator: Emulator, terms: list[str], expected: list[str]
) -> None:
    r = invoke(["models", *terms], env=env)
    assert r.code == 0, r.err
    assert r.out.splitlines() == expected
    r = invoke(["models", "--json", *terms], env=env)
    assert [d["id"] for d in json.loads(r.out)] == expected


def test_filtered_table_says_how_many_of_how_many(env: dict[str, str], emulator: Emulator) -> None:
    r = invoke(["models", "llama"], env={**env, "NO_COLOR": "1"}, stdout_tty=True)
    r.out = SGR.sub("", r.out)  # NO_COLOR keeps bold; the layout is what counts
    assert "2 of 4 models" in r.out
    assert "minimax-minimax-m1" not in r.out


def test_no_match_is_a_note_not_an_error(env: dict[str, str], emulator: Emulator) -> None:
    r = invoke(["models", "gpt-7"], env=env)
    assert r.code == 0
    assert r.out == ""
    assert r.err == "mlchat: no model matches 'gpt-7'\n"
    r = invoke(["models", "--json", "gpt-7"], env=env)
    assert json.loads(r.out) == []


def test_anthropic_style_list_and_extra_fields(env: dict[str, str], emulator: Emulator) -> None:
    emulator.script(
        Reply.json(
            {
                "data": [
                    {
                        "type": "model",
                        "id": "claude-sonnet-x",
                        "display_name": "Claude Sonnet X",
                        "created_at": "2025-02-19T00:00:00Z",
                    },
                    {
                        "id": "minimax-minimax-m1",
                        "object": "model",
                        "created": 1745000000,
                        "owned_by": "minimax",
                        "context_length": 1000000,
                        "pricing": {"prompt": "0.0000004"},
                        "capabilities": ["chat", "tools"],
                    },
                ],
                "has_more": False,
                "first_id": "claude-sonnet-x",
                "last_id": "minimax-minimax-m1",
            }
        )
    )
    r = invoke(["models", "--json"], env=env)
    assert r.code == 0, r.err
    docs = json.loads(r.out)
    assert docs[0] == {
        "id": "claude-sonnet-x",
        "owned_by": None,
        "created": 1739923200,
        "display_name": "Claude Sonnet X",
        "context": None,
        "aliases": [],
        "default": False,
    }
    assert docs[1]["id"] == "minimax-minimax-m1"
    assert docs[1]["context"] == 1000000  # the list's context_length
    # The table grows a NAME column only when the list has names.
    r = invoke(["models"], env={**env, "NO_COLOR": "1"}, stdout_tty=True)
    r.out = SGR.sub("", r.out)  # NO_COLOR keeps bold; the layout is what counts
    assert "NAME" in r.out and "Claude Sonnet X" in r.out and "2025-02-19" in r.out


def test_a_malformed_list_is_an_error(env: dict[str, str], emulator: Emulator) -> None:
    emulator.script(Reply.json({"object": "list", "data": "nope"}))
    r = invoke(["models"], env=env)
    assert r.code == 6
    assert r.err.startswith("mlchat: error: the model list has an unexpected shape")
    assert not models.cache_path().exists()


# -- the cache -------------------------------------------------------------------------------


def test_a_fetched_list_is_cached_and_reused_without_a_request(
    env: dict[str, str], emulator: Emulator
) -> None:
    assert invoke(["models"], env=env).code == 0
    cached = models.load(emulator.base_url)
    assert cached is not None and [m.id for m in cached.models] == [
        m["id"] for m in emulator.models
    ]
    emulator.models = [{"id": "brand-new-model"}]
    r = invoke(["models"], env=env)
    assert r.code == 0
    assert r.out.splitlines() == SORTED_IDS  # from the cache
    assert len(emulator.requests) == 1
    r = invoke(["models"], env={**env, "NO_COLOR": "1"}, stdout_tty=True)
    r.out = SGR.sub("", r.out)  # NO_COLOR keeps bold; the layout is what counts
    assert "cached just now" in r.out and "--refresh" in r.out
    assert len(emulator.requests) == 1


def test_refresh_refetches_a_fresh_cache(env: dict[str, str], emulator: Emulator) -> None:
    cache(emulator.base_url, ["old-model"])
    r = invoke(["models", "--refresh"], env=env)
    assert r.code == 0
    assert r.out.splitlines() == SORTED_IDS
    assert len(emulator.requests) == 1
    assert models.cached_ids(emulator.base_url)[0] == "minimax-minimax-m1"


def test_a_stale_cache_is_refetched(env: dict[str, str], emulator: Emulator) -> None:
    cache(emulator.base_url, ["old-model"], age=TWO_DAYS)
    r = invoke(["models"], env=env)
    assert r.code == 0, r.err
    assert r.out.splitlines() == SORTED_IDS
    assert r.err == ""
    assert len(emulator.requests) == 1
    fresh = models.load(emulator.base_url)
    assert fresh is not None and fresh.fresh()


def test_a_cache_from_another_service_is_not_shown(env: dict[str, str], emulator: Emulator) -> None:
    cache("http://127.0.0.1:1/elsewhere", ["elsewhere-model"])
    r = invoke(["models"], env=env)
    assert r.out.splitlines() == SORTED_IDS
    assert len(emulator.requests) == 1


def test_unreachable_service_shows_the_stale_cache_with_a_note() -> None:
    url = dead_url()
    cache(url, ["cached-model-b", "cached-model-a"], age=TWO_DAYS + 60)
    r = invoke(["models"], env={"MODELSLAB_API_KEY": FAKE_KEY, "MODELSLAB_BASE_URL": url})
    assert r.code == 0, r.err
    assert r.out == "cached-model-a\ncached-model-b\n"
    last = r.err.splitlines()[-1]
    assert last.startswith("mlchat: warning: cannot connect to 127.0.0.1:")
    assert last.endswith("showing the model list cached 2 days ago (2 models)")


def test_server_errors_fall_back_to_the_cache_with_refresh(
    env: dict[str, str], emulator: Emulator
) -> None:
    cache(emulator.base_url, ["cached-model"])
    emulator.script(Reply.error(503), Reply.error(503), Reply.error(503))
    r = invoke(["models", "--refresh"], env=env)
    assert r.code == 0, r.err
    assert r.out == "cached-model\n"
    assert "HTTP 503" in r.err and "showing the model list cached just now" in r.err
    assert len(emulator.requests) == 3  # the usual retries happened first


def test_unreachable_service_without_a_cache_is_the_error() -> None:
    r = invoke(["models"], env={"MODELSLAB_API_KEY": FAKE_KEY, "MODELSLAB_BASE_URL": dead_url()})
    assert r.code == 6
    assert r.out == ""
    assert "mlchat: error: cannot connect to 127.0.0.1:" in r.err


def test_an_auth_error_is_not_hidden_by_the_cache(env: dict[str, str], emulator: Emulator) -> None:
    cache(emulator.base_url, ["cached-model"], age=TWO_DAYS)
    emulator.script(Reply.error(401))
    r = invoke(["models"], env=env)
    assert r.code == 3
    assert r.out == ""
    assert "Invalid API key" in r.err


def test_a_fresh_cache_needs_no_key(emulator: Emulator) -> None:
    cache(emulator.base_url, ["cached-model"])
    r = invoke(["models"], env={"MODELSLAB_BASE_URL": emulator.base_url})
    assert r.code == 0, r.err
    assert r.out == "cached-model\n"
    assert emulator.requests == []


@pytest.mark.parametrize("args", [["models"], ["models", "--refresh"]])
def test_a_stale_or_refreshed_list_needs_a_key(emulator: Emulator, args: list[str]) -> None:
    cache(emulator.base_url, ["cached-model"], age=TWO_DAYS)
    r = invoke(args, env={"MODELSLAB_BASE_URL": emulator.base_url})
    assert r.code == 3
    assert "MODELSLAB_API_KEY" in r.err
    assert emulator.requests == []


def test_an_unwritable_cache_is_a_warning(
    env: dict[str, str], emulator: Emulator, isolated: Path
) -> None:
    models.cache_path().parent.parent.mkdir(parents=True)
    models.cache_path().parent.write_text("a file where the cache directory should be")
    r = invoke(["models"], env=env)
    assert r.code == 0
    assert r.out.splitlines() == SORTED_IDS
    assert r.err.startswith("mlchat: warning: cannot cache the model list in ")


# -- model names in ask -m -------------------------------------------------------------------


def test_a_fragment_resolves_through_the_cached_list(
    env: dict[str, str], emulator: Emulator
) -> None:
    assert invoke(["models"], env=env).code == 0
    r = invoke(["ask", "-m", "qwen2.5-VL", "hi"], env=env)
    assert r.code == 0, r.err
    body = emulator.requests[-1].json
    assert body["model"] == body["model_id"] == "Qwen/Qwen2.5-VL-72B-Instruct-together"
    r = invoke(["ask", "--json", "-m", "llama 70b", "hi"], env=env)
    assert json.loads(r.out)["model"] == "deepseek-ai-DeepSeek-R1-Distill-Llama-70B"
    assert emulator.requests[-1].json["model"] == "deepseek-ai-DeepSeek-R1-Distill-Llama-70B"


def test_on_a_terminal_the_model_a_fragment_chose_is_said(
    env: dict[str, str], emulator: Emulator
) -> None:
    cache(emulator.base_url, SORTED_IDS)
    r = invoke(["ask", "-m", "qwen2.5-VL", "hi"], env=env, stderr_tty=True)
    assert r.code == 0, r.err
    assert "mlchat: model 'qwen2.5-VL' is Qwen/Qwen2.5-VL-72B-Instruct-together\n" in r.err
    r = invoke(["ask", "-m", "qwen2.5-VL", "hi"], env=env)  # piped: stderr stays quiet
    assert r.err == ""
    exact = invoke(["ask", "-m", SORTED_IDS[0], "hi"], env=env, stderr_tty=True)
    assert "mlchat: model" not in exact.err


def test_an_alias_resolves_with_or_without_a_cache(env: dict[str, str], emulator: Emulator) -> None:
    write_config('[aliases]\nfast = "meta-llama-3-8B-instruct"\n')
    assert invoke(["ask", "-m", "fast", "hi"], env=env).code == 0
    assert emulator.requests[-1].json["model"] == "meta-llama-3-8B-instruct"
    cache(emulator.base_url, SORTED_IDS)
    assert invoke(["ask", "-m", "fast", "hi"], env=env).code == 0
    assert emulator.requests[-1].json["model"] == "meta-llama-3-8B-instruct"


def test_an_ambiguous_fragment_is_a_usage_error_without_request(
    env: dict[str, str], emulator: Emulator
) -> None:
    cache(emulator.base_url, SORTED_IDS)
    r = invoke(["ask", "-m", "llama", "hi"], env=env)
    assert r.code == 2
    assert r.out == ""
    assert r.err.splitlines()[0] == (
        "mlchat: error: 'llama' matches 2 models: deepseek-ai-DeepSeek-R1-Distill-Llama-70B, "
        "meta-llama-3-8B-instruct"
    )
    assert r.err.splitlines()[1].startswith("hint: give more of the name")
    assert emulator.requests == []


def test_the_model_setting_from_the_environment_resolves_too(
    env: dict[str, str], emulator: Emulator
) -> None:
    cache(emulator.base_url, SORTED_IDS)
    assert invoke(["ask", "hi"], env={**env, "MLCHAT_MODEL": "R1-distill"}).code == 0
    assert emulator.requests[-1].json["model"] == "deepseek-ai-DeepSeek-R1-Distill-Llama-70B"


def test_an_unknown_name_is_sent_as_given(env: dict[str, str], emulator: Emulator) -> None:
    cache(emulator.base_url, SORTED_IDS)
    assert invoke(["ask", "-m", "gpt-5-mini", "hi"], env=env).code == 0
    assert emulator.requests[-1].json["model"] == "gpt-5-mini"


def test_resolution_uses_a_stale_cache_and_never_fetches(
    env: dict[str, str], emulator: Emulator
) -> None:
    cache(emulator.base_url, SORTED_IDS, age=30 * 86400)
    assert invoke(["ask", "-m", "minimax", "hi"], env=env).code == 0
    assert [r.path for r in emulator.requests] == ["/chat/completions"]
    assert emulator.requests[0].json["model"] == "minimax-minimax-m1"


def test_models_takes_retries_as_ask_does(env: dict[str, str], emulator: Emulator) -> None:
    emulator.script(Reply.error(503))
    r = invoke(["models", "--refresh", "--retries", "0"], env=env)
    assert r.code == 6 and len(emulator.requests) == 1  # no retry
    emulator.script(Reply.error(503), Reply.error(503))
    r = invoke(["models", "--refresh", "--retries", "2"], env=env)
    assert r.code == 0, r.err
    assert len(emulator.requests) == 1 + 3  # two retries, then the list
