"""Profiles against two emulators on different ports: the base URL, dialect, key and model cache
of each; the precedence flag > environment > profile > top level > default; `mlchat profiles`;
resuming a conversation with the profile it was held with."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from mlchat import config, models, prices
from mlchat.config import Flags, resolve
from mlchat.errors import ConfigError, UsageError
from tests.conftest import invoke
from tests.emulator import Emulator

KEY_A = "ml-service-A-key-00000000aaaa"
KEY_B = "sk-service-B-key-11111111bbbb"


@pytest.fixture
def two() -> Iterator[tuple[Emulator, Emulator]]:
    with Emulator() as a, Emulator(prefix="/v1") as b:
        b.models = [{"id": "qwen2.5-7b-instruct", "object": "model", "owned_by": "llamacpp"}]
        yield a, b


def write(a: Emulator, b: Emulator, extra: str = "") -> Path:
    path = config.config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        f'{extra}base_url = "{a.base_url}"\n'
        f'api_key = "{KEY_A}"\n'
        'model = "top-model"\n'
        "temperature = 0.3\n"
        "\n"
        '[prices."qwen2.5-7b-instruct"]\n'
        "input = 1.0\n"
        "output = 2.0\n"
        "\n"
        "[profiles.local]\n"
        f'base_url = "{b.base_url}"\n'
        'api = "anthropic"\n'
        'model = "qwen"\n'
        f'api_key_env = "LOCAL_KEY"\n'
        "\n"
        "[profiles.local.aliases]\n"
        'qwen = "qwen2.5-7b-instruct"\n'
        "\n"
        "[profiles.warm]\n"
        "temperature = 1.1\n"
    )
    path.chmod(0o600)
    return path


ENV = {"LOCAL_KEY": KEY_B}


def test_each_profile_talks_to_its_own_server_with_its_own_dialect_and_key(
    two: tuple[Emulator, Emulator],
) -> None:
    a, b = two
    write(a, b)
    r = invoke(["ask", "hi"], env=ENV)
    assert r.code == 0, r.err
    assert [q.path for q in a.requests] == ["/chat/completions"] and b.requests == []
    assert a.requests[0].headers["authorization"] == f"Bearer {KEY_A}"
    assert a.requests[0].json["model"] == "top-model"

    r = invoke(["ask", "--profile", "local", "hi"], env=ENV)
    assert r.code == 0, r.err
    assert [q.path for q in b.requests] == ["/v1/messages"] and len(a.requests) == 1
    assert b.requests[0].headers["x-api-key"] == KEY_B
    assert b.requests[0].json["model"] == "qwen2.5-7b-instruct"  # the profile's own alias
    # A setting the profile does not name comes from the top level.
    assert b.requests[0].json["temperature"] == 0.3


def test_a_profile_with_its_own_key_never_gets_the_environments_key(
    two: tuple[Emulator, Emulator],
) -> None:
    a, b = two
    write(a, b)
    r = invoke(["ask", "--profile", "local", "hi"], env={**ENV, "MODELSLAB_API_KEY": KEY_A})
    assert r.code == 0, r.err
    assert b.requests[0].headers["x-api-key"] == KEY_B
    assert KEY_A not in json.dumps(b.requests[0].headers)


def test_a_profile_without_a_key_inherits_the_top_levels(two: tuple[Emulator, Emulator]) -> None:
    a, b = two
    write(a, b)
    r = invoke(["ask", "--profile", "warm", "hi"])
    assert r.code == 0, r.err
    assert a.requests[0].headers["authorization"] == f"Bearer {KEY_A}"
    assert a.requests[0].json["temperature"] == 1.1


@pytest.mark.parametrize(
    ("args", "env", "file_line", "server"),
    [
        ([], {}, 'profile = "local"\n', "b"),  # the file's profile
        ([], {"MLCHAT_PROFILE": "local"}, "", "b"),  # the environment
        ([], {"MLCHAT_PROFILE": "default"}, 'profile = "local"\n', "a"),  # env > file
        (["--profile", "default"], {"MLCHAT_PROFILE": "local"}, "", "a"),  # flag > env
        (["--profile", "local"], {"MLCHAT_PROFILE": "default"}, "", "b"),
    ],
)
def test_which_profile_is_chosen(
    two: tuple[Emulator, Emulator],
    args: list[str],
    env: dict[str, str],
    file_line: str,
    server: str,
) -> None:
    a, b = two
    write(a, b, file_line)
    r = invoke(["ask", *args, "hi"], env={**ENV, **env})
    assert r.code == 0, r.err
    assert (len(a.requests), len(b.requests)) == ((1, 0) if server == "a" else (0, 1))


def test_flags_and_environment_beat_the_profile(two: tuple[Emulator, Emulator]) -> None:
    a, b = two
    path = write(a, b)
    file = config.load_file(path)
    s = resolve(Flags(profile="local"), ENV, file)
    assert (s.base_url, s.dialect, s.model, s.api_key) == (
        b.base_url,
        "anthropic",
        "qwen2.5-7b-instruct",
        KEY_B,
    )
    s = resolve(Flags(profile="local"), {**ENV, "MLCHAT_MODEL": "env-model"}, file)
    assert s.model == "env-model"
    s = resolve(Flags(profile="local", model="flag-model", api="openai"), ENV, file)
    assert (s.model, s.dialect) == ("flag-model", "openai")
    s = resolve(Flags(profile="local"), {**ENV, "MODELSLAB_BASE_URL": "http://elsewhere"}, file)
    assert s.base_url == "http://elsewhere"
    # No profile: the top level, then the defaults.
    s = resolve(Flags(), ENV, file)
    assert (s.base_url, s.model, s.timeout) == (a.base_url, "top-model", 120.0)


def test_prices_and_aliases_stay_with_their_service(two: tuple[Emulator, Emulator]) -> None:
    a, b = two
    file = config.load_file(write(a, b))
    priced = "qwen2.5-7b-instruct"
    # Settings.prices is the shipped table with the file's [prices] on top.
    assert priced in resolve(Flags(), ENV, file).prices  # the top level's own
    assert resolve(Flags(profile="local"), ENV, file).prices == prices.SHIPPED  # another service
    assert priced in resolve(Flags(profile="warm"), ENV, file).prices  # the same: inherited
    assert resolve(Flags(), ENV, file).aliases == {}


def test_the_model_cache_is_per_profile(two: tuple[Emulator, Emulator]) -> None:
    a, b = two
    write(a, b)
    r = invoke(["models", "--profile", "local"], env=ENV)
    assert r.code == 0, r.err
    assert r.out == "qwen2.5-7b-instruct\n"
    assert b.requests[0].path == "/v1/models" and a.requests == []
    local = models.cache_path("local")
    assert models.cached_ids(b.base_url, local) == ("qwen2.5-7b-instruct",)
    assert not models.cache_path().exists()
    r = invoke(["models"])
    assert r.code == 0, r.err
    assert "qwen2.5-7b-instruct" not in r.out and len(a.requests) == 1
    # A fragment resolves against the active profile's list only.
    r = invoke(["ask", "--profile", "local", "-m", "7b-instr", "hi"], env=ENV)
    assert r.code == 0, r.err
    assert b.requests[-1].json["model"] == "qwen2.5-7b-instruct"
    r = invoke(["ask", "-m", "7b-instr", "hi"])
    assert r.code == 0, r.err
    assert a.requests[-1].json["model"] == "7b-instr"  # unknown there: sent as typed


def test_resuming_uses_the_conversations_profile(two: tuple[Emulator, Emulator]) -> None:
    a, b = two
    write(a, b)
    r = invoke(["ask", "--profile", "local", "first"], env=ENV)
    assert r.code == 0, r.err
    # Neither MLCHAT_PROFILE nor the file's choice moves a conversation to another service.
    r = invoke(["ask", "-c", "second"], env={**ENV, "MLCHAT_PROFILE": "warm"})
    assert r.code == 0, r.err
    assert len(b.requests) == 2 and a.requests == []
    texts = [m["content"] for m in b.requests[1].json["messages"] if m["role"] == "user"]
    assert texts[0] == "first" or texts[0][0]["text"] == "first"
    r = invoke(["sessions", "list", "--json"])
    assert json.loads(r.out)[0]["profile"] == "local"
    # --profile does move it, and the conversation then belongs to the new one.
    r = invoke(["ask", "-c", "--profile", "default", "-m", "top-model", "third"])
    assert r.code == 0, r.err
    assert len(a.requests) == 1
    assert json.loads(invoke(["sessions", "list", "--json"]).out)[0]["profile"] == "default"


def test_a_named_session_resumes_with_its_profile(two: tuple[Emulator, Emulator]) -> None:
    a, b = two
    write(a, b)
    assert invoke(["ask", "--profile", "local", "first"], env=ENV).code == 0
    held = json.loads(invoke(["sessions", "list", "--json"]).out)[0]["id"]
    assert invoke(["ask", "on the top level"], env=ENV).code == 0
    assert (len(a.requests), len(b.requests)) == (1, 1)
    r = invoke(["ask", "--session", held, "second"], env=ENV)
    assert r.code == 0, r.err
    r = invoke(["chat", "--session", held], stdin=b"third\n", env=ENV)
    assert r.code == 0, r.err
    assert (len(a.requests), len(b.requests)) == (1, 3)
    assert [q.path for q in b.requests] == ["/v1/messages"] * 3
    assert all(q.headers["x-api-key"] == KEY_B for q in b.requests)
    assert b.requests[-1].json["model"] == "qwen2.5-7b-instruct"
    assert json.loads(invoke(["sessions", "list", "--json"]).out)[0]["profile"] == "local"


def test_profiles_lists_them_and_marks_the_active_one(two: tuple[Emulator, Emulator]) -> None:
    a, b = two
    write(a, b)
    r = invoke(["profiles"], env={"MLCHAT_PROFILE": "local"})
    assert r.code == 0, r.err
    lines = r.out.splitlines()
    assert lines[0].startswith("  default  " + a.base_url)
    assert lines[1] == f"* local  {b.base_url}  anthropic  qwen2.5-7b-instruct  key: api_key_env"
    assert lines[2].startswith("  warm  ")
    assert KEY_A not in r.out and KEY_B not in r.out
    doc = json.loads(invoke(["profiles", "--json"]).out)
    assert [(p["name"], p["active"]) for p in doc] == [
        ("default", True),
        ("local", False),
        ("warm", False),
    ]


def test_an_unknown_profile_is_a_usage_error_listing_them(two: tuple[Emulator, Emulator]) -> None:
    a, b = two
    write(a, b)
    r = invoke(["ask", "--profile", "locl", "hi"])
    assert r.code == 2
    assert "no profile named 'locl'" in r.err and "default, local, warm" in r.err
    r = invoke(["ask", "hi"], env={"MLCHAT_PROFILE": "nope"})
    assert r.code == 2 and "MLCHAT_PROFILE" in r.err
    with pytest.raises(UsageError):
        resolve(Flags(profile="x"), {}, {})


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ("[profiles.p]\ntemperature = 9\n", "profiles.p: temperature"),
        ("[profiles.p]\nmodle = 'x'\n", "profiles.p has no setting 'modle' (did you mean model?)"),
        ("[profiles.p]\nlog = false\n", "profiles.p has no setting 'log'"),
        ("[profiles.p]\napi_key = 'ml-1234567890'\napi_key_env = 'X'\n", "choose one key source"),
        ("[profiles.default]\nmodel = 'x'\n", "'default' is the top level"),
        ("profiles = 3\n", "profiles must be a table"),
    ],
)
def test_a_bad_profile_is_exit_3_naming_it(table: str, message: str) -> None:
    path = config.config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(table)
    r = invoke(["ask", "hi"], env={"MODELSLAB_API_KEY": KEY_A})
    assert r.code == 3
    assert message in r.err
    assert "1234567890" not in r.err
    with pytest.raises(ConfigError):
        resolve(Flags(), {}, config.load_file(path))


def test_config_set_writes_into_a_profile() -> None:
    assert invoke(["config", "set", "profiles.local.model", "qwen"]).code == 0
    assert invoke(["config", "set", "profiles.local.temperature", "0.1"]).code == 0
    r = invoke(["config", "set", "profiles.local.temperature", "7"])
    assert r.code == 2 and "profiles.local: temperature" in r.err
    file = config.load_file()
    assert file["profiles"]["local"] == {"model": "qwen", "temperature": 0.1}
