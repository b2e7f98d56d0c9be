"""The model-list cache, filtering and model-name resolution (pure: no network, no CLI)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlchat import models
from mlchat.errors import UsageError
from mlchat.types import ModelInfo

BASE = "https://modelslab.com/api/v7/llm"
IDS = (
    "minimax-minimax-m1",
    "Qwen/Qwen2.5-VL-72B-Instruct-together",
    "meta-llama-3-8B-instruct",
    "deepseek-ai-DeepSeek-R1-Distill-Llama-70B",
)
LIST = [
    ModelInfo("minimax-minimax-m1", "minimax", 1745000000),
    ModelInfo("Qwen/Qwen2.5-VL-72B-Instruct-together", "Qwen", 1712345678, "Qwen 2.5 VL"),
    ModelInfo("meta-llama-3-8B-instruct", "meta-llama", None),
]


def test_cache_lives_in_the_platform_cache_dir(isolated: Path) -> None:
    assert models.cache_path() == isolated / "xdg" / "xdg_cache_home" / "mlchat" / "models.json"


def test_save_then_load_round_trips_and_leaves_no_temp_file(isolated: Path) -> None:
    saved = models.save(LIST, BASE + "/", now=1000.0)
    assert saved.base_url == BASE
    loaded = models.load(BASE)
    assert loaded == models.Cached(tuple(LIST), 1000.0, BASE)
    # the cache and the plain id list the shell completions read; no temporary file
    assert sorted(p.name for p in models.cache_path().parent.iterdir()) == [
        "models.json",
        "models.txt",
    ]
    assert json.loads(models.cache_path().read_text())["version"] == models.CACHE_VERSION


def test_save_replaces_the_previous_list(isolated: Path) -> None:
    models.save(LIST, BASE, now=1.0)
    models.save(LIST[:1], BASE, now=2.0)
    assert models.cached_ids() == ("minimax-minimax-m1",)


def test_no_cache_means_no_ids(isolated: Path) -> None:
    assert models.load() is None
    assert models.cached_ids() == ()


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"{not json",
        b"[]",
        b'{"version": 99, "base_url": "x", "fetched_at": 1, "models": []}',
        b'{"version": 1, "base_url": "x", "fetched_at": "yesterday", "models": []}',
        b'{"version": 1, "base_url": "x", "fetched_at": 1, "models": {}}',
        b"\xff\xfe",
    ],
)
def test_a_damaged_cache_is_treated_as_absent(isolated: Path, content: bytes) -> None:
    path = models.cache_path()
    path.parent.mkdir(parents=True)
    path.write_bytes(content)
    assert models.load() is None
    assert models.cached_ids() == ()


def test_bad_entries_in_the_cache_are_skipped(isolated: Path) -> None:
    path = models.cache_path()
    path.parent.mkdir(parents=True)
    doc = {
        "version": 1,
        "base_url": BASE,
        "fetched_at": 5,
        "models": [{"id": "a", "created": True, "owned_by": 3}, {"id": ""}, "b", {"x": 1}],
    }
    path.write_text(json.dumps(doc))
    assert models.load() == models.Cached((ModelInfo("a"),), 5.0, BASE)


def test_a_list_from_another_service_is_not_used(isolated: Path) -> None:
    models.save(LIST, BASE)
    assert models.load("http://127.0.0.1:1/api") is None
    assert models.cached_ids("http://127.0.0.1:1/api") == ()
    assert models.cached_ids(BASE + "/") == tuple(m.id for m in LIST)
    assert models.cached_ids() == tuple(m.id for m in LIST)  # completion: whatever is cached


def test_freshness_is_a_day() -> None:
    now = 10_000_000.0
    assert models.Cached((), now - 60, BASE).fresh(now)
    assert models.Cached((), now - models.FRESH_FOR + 1, BASE).fresh(now)
    assert not models.Cached((), now - models.FRESH_FOR - 1, BASE).fresh(now)
    assert not models.Cached((), now + 3600, BASE).fresh(now)  # from a clock that was wrong
    assert models.Cached((), now - 90, BASE).age(now) == 90


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "just now"),
        (59, "just now"),
        (60, "1 minute ago"),
        (3599, "59 minutes ago"),
        (7200, "2 hours ago"),
        (86400, "1 day ago"),
        (3 * 86400 + 5, "3 days ago"),
    ],
)
def test_age_text(seconds: float, text: str) -> None:
    assert models.age_text(seconds) == text


@pytest.mark.parametrize(
    ("terms", "expected"),
    [
        (
            [],
            [
                "meta-llama-3-8B-instruct",
                "minimax-minimax-m1",
                "Qwen/Qwen2.5-VL-72B-Instruct-together",
            ],
        ),
        (["QWEN"], ["Qwen/Qwen2.5-VL-72B-Instruct-together"]),
        (["2.5-vl-72b"], ["Qwen/Qwen2.5-VL-72B-Instruct-together"]),
        (["2.5", "vl"], ["Qwen/Qwen2.5-VL-72B-Instruct-together"]),
        (["minimax"], ["minimax-minimax-m1"]),  # the owner matches too, but once
        (["meta-llama", "8b"], ["meta-llama-3-8B-instruct"]),
        (["llama", "70b"], []),
        (["qwen 2.5 vl"], ["Qwen/Qwen2.5-VL-72B-Instruct-together"]),  # the display name
        (
            ["  "],
            [
                "meta-llama-3-8B-instruct",
                "minimax-minimax-m1",
                "Qwen/Qwen2.5-VL-72B-Instruct-together",
            ],
        ),
    ],
)
def test_select_filters_every_term_and_sorts(terms: list[str], expected: list[str]) -> None:
    assert [m.id for m in models.select(LIST, terms)] == expected


ALIASES = {"fast": "meta-llama-3-8B-instruct", "m1": "minimax-minimax-m1", "qwen": "custom-qwen"}


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("minimax-minimax-m1", "minimax-minimax-m1"),  # an exact id
        ("fast", "meta-llama-3-8B-instruct"),  # an alias
        ("m1", "minimax-minimax-m1"),
        ("qwen", "custom-qwen"),  # an alias beats a fragment
        ("MINIMAX-MINIMAX-M1", "minimax-minimax-m1"),  # the id in another case
        ("qwen2.5-vl", "Qwen/Qwen2.5-VL-72B-Instruct-together"),  # a unique fragment
        ("r1", "deepseek-ai-DeepSeek-R1-Distill-Llama-70B"),
        ("llama 70b", "deepseek-ai-DeepSeek-R1-Distill-Llama-70B"),  # every word
        ("  minimax  ", "minimax-minimax-m1"),
        ("gpt-5", "gpt-5"),  # unknown: as given, the service decides
    ],
)
def test_resolve_model(name: str, expected: str) -> None:
    assert models.resolve_model(name, ALIASES, IDS) == expected


def test_an_exact_id_beats_an_alias_of_the_same_name() -> None:
    ids = (*IDS, "fast")
    assert models.resolve_model("fast", ALIASES, ids) == "fast"


def test_an_exact_id_beats_a_longer_id_containing_it() -> None:
    ids = ("minimax-minimax-m1", "minimax-minimax-m1-turbo")
    assert models.resolve_model("minimax-minimax-m1", {}, ids) == "minimax-minimax-m1"
    assert models.resolve_model("Minimax-Minimax-M1", {}, ids) == "minimax-minimax-m1"
    with pytest.raises(UsageError):
        models.resolve_model("minimax", {}, ids)


def test_without_a_list_names_are_aliases_or_as_given() -> None:
    assert models.resolve_model("fast", ALIASES, ()) == "meta-llama-3-8B-instruct"
    assert models.resolve_model("llama", ALIASES, ()) == "llama"


def test_an_ambiguous_fragment_lists_the_candidates() -> None:
    with pytest.raises(UsageError) as info:
        models.resolve_model("llama", {}, IDS)
    assert info.value.exit_code == 2
    assert info.value.message == (
        "'llama' matches 2 models: deepseek-ai-DeepSeek-R1-Distill-Llama-70B, "
        "meta-llama-3-8B-instruct"
    )
    assert info.value.hint is not None and "mlchat models llama" in info.value.hint


def test_the_candidate_list_is_capped() -> None:
    ids = tuple(f"vendor-model-{i:02d}" for i in range(30))
    with pytest.raises(UsageError) as info:
        models.resolve_model("model", {}, ids)
    message = info.value.message
    assert message.startswith("'model' matches 30 models: vendor-model-00, ")
    assert "vendor-model-07" in message and "vendor-model-08" not in message
    assert message.endswith("(and 22 more)")
