"""config: precedence for every setting, the table of keys, the file's validation, atomic owner-only
writes, and a corrupt file left untouched."""

from __future__ import annotations

import os
import stat
import tomllib
from pathlib import Path
from typing import Any

import pytest

from mlchat import config
from mlchat.config import Flags, resolve
from mlchat.errors import ConfigError, UsageError
from mlchat.prices import Price
from tests.conftest import FAKE_KEY

ENV_URL = "http://env.example/api"
FILE_URL = "http://file.example/api"
FLAG_URL = "http://flag.example/api"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# ----------------------------------------------------------------------------- precedence


# setting -> (attribute of Settings, flag, env, file, default, expected from each layer)
PRECEDENCE: dict[str, tuple[str, dict[str, Any], dict[str, str], dict[str, Any], list[Any]]] = {
    "api_key": (
        "api_key",
        {"api_key": "flag-key-1234"},
        {"MODELSLAB_API_KEY": "env-key-1234"},
        {"api_key": "file-key-1234"},
        ["flag-key-1234", "env-key-1234", "file-key-1234", None],
    ),
    "base_url": (
        "base_url",
        {"base_url": FLAG_URL + "/"},
        {"MODELSLAB_BASE_URL": ENV_URL},
        {"base_url": FILE_URL},
        [FLAG_URL, ENV_URL, FILE_URL, config.DEFAULT_BASE_URL],
    ),
    "model": (
        "model",
        {"model": "flag-model"},
        {"MLCHAT_MODEL": "env-model"},
        {"model": "file-model"},
        ["flag-model", "env-model", "file-model", config.DEFAULT_MODEL],
    ),
    "api": (
        "dialect",
        {"api": "anthropic"},
        {"MLCHAT_API": "openai"},
        {"api": "anthropic"},
        ["anthropic", "openai", "anthropic", "openai"],
    ),
    "timeout": (
        "timeout",
        {"timeout": 5.0},
        {"MLCHAT_TIMEOUT": "6"},
        {"timeout": 7},
        [5.0, 6.0, 7.0, config.DEFAULT_TIMEOUT],
    ),
    "retries": (
        "retries",
        {"retries": 0},
        {"MLCHAT_RETRIES": "1"},
        {"retries": 3},
        [0, 1, 3, config.DEFAULT_RETRIES],
    ),
    "system": ("system", {"system": "flag sys"}, {}, {"system": "file sys"}, ["flag sys", None]),
}


@pytest.mark.parametrize("name", list(PRECEDENCE))
def test_flag_beats_env_beats_file_beats_default(name: str) -> None:
    attr, flag, env, file, expected = PRECEDENCE[name]
    layers = [(flag, env, file), ({}, env, file), ({}, {}, file), ({}, {}, {})]
    if not env:  # no variable for this setting: flag > file > default
        layers = [(flag, {}, file), ({}, {}, {})]
    for (f, e, fi), want in zip(layers, expected, strict=True):
        s = resolve(Flags(**f), e, fi)
        assert getattr(s, attr) == want, (name, f, e, fi)
    if name == "api_key":
        sources = [resolve(Flags(**f), e, fi).key_source for f, e, fi in layers]
        assert sources == ["flag", "env", "file", None]
    if name == "system":
        assert resolve(Flags(), {}, file).system == "file sys"


@pytest.mark.parametrize(
    ("param", "flag", "file", "default"),
    [
        ("temperature", 0.1, 0.3, 0.7),
        ("top_p", 0.2, 0.4, 0.9),
        ("max_tokens", 10, 20, 1000),
        ("frequency_penalty", 0.5, -0.5, 0.0),
        ("presence_penalty", 1.0, -1.0, 0.0),
        ("seed", 1, 2, None),
        ("stop", ("F",), "file-stop", ()),
    ],
)
def test_sampling_parameters_flag_beats_file_beats_default(
    param: str, flag: Any, file: Any, default: Any
) -> None:
    from_file = (file,) if param == "stop" else file
    assert getattr(resolve(Flags(params={param: flag}), {}, {param: file}).params, param) == flag
    assert getattr(resolve(Flags(), {}, {param: file}).params, param) == from_file
    assert getattr(resolve(Flags(), {}, {}).params, param) == default


def test_blank_values_do_not_count() -> None:
    s = resolve(
        Flags(),
        {"MODELSLAB_API_KEY": "  ", "MLCHAT_MODEL": "", "MODELSLAB_BASE_URL": " "},
        {"api_key": "file-key-1234", "model": "m"},
    )
    assert (s.api_key, s.key_source, s.model, s.base_url) == (
        "file-key-1234",
        "file",
        "m",
        config.DEFAULT_BASE_URL,
    )
    assert resolve(Flags(), {}, {"api_key": ""}).api_key is None


def test_aliases_apply_to_the_model_from_every_source() -> None:
    file = {"aliases": {"fast": "minimax-minimax-m1", "big": "Qwen/Qwen2.5-VL"}, "model": "big"}
    assert resolve(Flags(), {}, file).model == "Qwen/Qwen2.5-VL"
    assert resolve(Flags(), {"MLCHAT_MODEL": "fast"}, file).model == "minimax-minimax-m1"
    assert resolve(Flags(model="fast"), {}, file).model == "minimax-minimax-m1"
    assert resolve(Flags(model="other"), {}, file).model == "other"
    assert resolve(Flags(), {}, file).aliases == file["aliases"]


def test_log_prices_and_path_reach_the_settings(tmp_path: Path) -> None:
    file = {"log": False, "prices": {"m": {"input": 1, "output": 2.5}}}
    s = resolve(Flags(), {}, file, path=tmp_path / "c.toml")
    assert (s.log, s.prices["m"], s.path) == (False, Price(1.0, 2.5), tmp_path / "c.toml")
    assert resolve(Flags(), {}, {}).log is True


def test_unknown_keys_are_ignored_by_resolve_and_listed() -> None:
    file = {"temprature": 1, "future": {"x": 1}, "model": "m"}
    assert resolve(Flags(), {}, file).model == "m"
    assert config.unknown_keys(file) == ["temprature", "future"]
    assert config.suggest("temprature") == "temperature"


# ----------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("file", "message"),
    [
        ({"temperature": 3}, "temperature must be between 0 and 2, got 3"),
        ({"temperature": "hot"}, "temperature must be a number, got 'hot'"),
        ({"top_p": True}, "top_p must be a number, not true"),
        ({"max_tokens": 0}, "max_tokens must be >= 1"),
        ({"max_tokens": 1.5}, "max_tokens must be a whole number"),
        ({"stop": ["a", "b", "c", "d", "e"]}, "at most 4 stop sequences"),
        ({"stop": [""]}, "a stop sequence cannot be empty"),
        ({"stop": [1]}, "stop must be a string or a list of strings"),
        ({"seed": "x"}, "seed must be a whole number"),
        ({"timeout": 0}, "timeout must be a number of seconds > 0, got 0"),
        ({"timeout": -1.5}, "timeout must be a number of seconds > 0"),
        ({"timeout": float("inf")}, "timeout must be a number of seconds > 0"),
        ({"retries": -1}, "retries must be a whole number >= 0, got -1"),
        ({"retries": 1.5}, "retries must be a whole number >= 0"),
        ({"log": "yes"}, "log must be true or false"),
        ({"api": "gemini"}, "api must be one of openai, anthropic, got 'gemini'"),
        ({"base_url": "ftp://x"}, "base URL must start with http:// or https://"),
        ({"model": ""}, "model must be a model id"),
        ({"model": "two words"}, "model must be a model id without spaces"),
        ({"model": 3}, "model must be a string"),
        ({"system": ["x"]}, "system must be a string"),
        ({"aliases": "x"}, "aliases must be a table"),
        ({"aliases": {"fast": 3}}, "aliases.fast must be a model id"),
        ({"aliases": {"two words": "m"}}, "an alias name must be one word"),
        ({"prices": {"m": 1}}, "prices.m must be a table with input and output"),
        ({"prices": {"m": {"input": -1}}}, "prices.m.input must be >= 0"),
        ({"prices": {"m": {"output": "x"}}}, "prices.m.output must be a number"),
        ({"prices": {"m": {"cached": 1}}}, "prices.m has no field 'cached'"),
        ({"prices": []}, "prices must be a table"),
    ],
)
def test_a_bad_value_in_the_file_is_a_config_error_naming_the_file(
    tmp_path: Path, file: dict[str, Any], message: str
) -> None:
    path = tmp_path / "config.toml"
    with pytest.raises(ConfigError) as info:
        resolve(Flags(), {}, file, path=path)
    assert info.value.exit_code == 3
    assert message in info.value.message
    assert info.value.message.startswith(f"{path}: ")
    assert "mlchat config" in (info.value.hint or "")


def test_anthropic_narrows_temperature_for_every_source() -> None:
    with pytest.raises(UsageError, match="between 0 and 1 on the Anthropic dialect"):
        resolve(Flags(), {}, {"api": "anthropic", "temperature": 1.5})
    with pytest.raises(UsageError, match="between 0 and 1"):
        resolve(Flags(api="anthropic"), {}, {"temperature": 1.5})


@pytest.mark.parametrize(
    ("flags", "env", "message"),
    [
        (Flags(timeout=0), {}, "--timeout must be a number of seconds > 0"),
        (Flags(), {"MLCHAT_TIMEOUT": "soon"}, "MLCHAT_TIMEOUT must be a number of seconds"),
        (Flags(), {"MLCHAT_RETRIES": "-2"}, "MLCHAT_RETRIES must be a whole number >= 0"),
        (Flags(), {"MLCHAT_API": "x"}, "MLCHAT_API must be one of openai, anthropic"),
        (Flags(api="x"), {}, "--api must be one of openai, anthropic"),
        (Flags(), {"MODELSLAB_BASE_URL": "x"}, "base URL must start with http"),
        (Flags(), {"MODELSLAB_API_KEY": "ab\x01cdefgh"}, "MODELSLAB_API_KEY contains a control"),
    ],
)
def test_bad_flags_and_variables_are_usage_errors(
    flags: Flags, env: dict[str, str], message: str
) -> None:
    with pytest.raises(UsageError) as info:
        resolve(flags, env, {})
    assert info.value.exit_code == 2 and message in info.value.message


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ("", "is empty"),
        (" \t\n", "is empty"),
        (FAKE_KEY[:10] + "\x00" + FAKE_KEY[10:], "a control character (at position 11)"),
        (FAKE_KEY + "\x1b[31m", "a control character"),
        (FAKE_KEY[:5] + "é" + FAKE_KEY[5:], "a non-ASCII character (at position 6)"),
        (FAKE_KEY[:5] + " " + FAKE_KEY[5:], "a space (at position 6)"),
        (FAKE_KEY[:5] + "\u00a0" + FAKE_KEY[5:], "a non-ASCII character"),
    ],
)
def test_check_key_rejects_without_showing_the_key(raw: str, problem: str) -> None:
    with pytest.raises(UsageError) as info:
        config.check_key(raw)
    assert problem in info.value.message
    assert FAKE_KEY[:10] not in info.value.message and FAKE_KEY[-10:] not in info.value.message


def test_a_bad_key_in_the_file_is_never_quoted(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        resolve(Flags(), {}, {"api_key": FAKE_KEY + "\x7f"}, path=tmp_path / "c.toml")
    assert "api_key contains a control character" in info.value.message
    assert FAKE_KEY not in info.value.message and FAKE_KEY[-4:] not in info.value.message


def test_check_key_strips_and_mask_shows_the_last_four() -> None:
    assert config.check_key(f"  {FAKE_KEY}\r\n") == FAKE_KEY
    assert config.mask(FAKE_KEY) == "…cdef"
    assert config.mask("short123") == "****"


def test_the_table_covers_every_sampling_parameter() -> None:
    from mlchat import params

    assert set(params.SPECS) <= set(config.OPTIONS)
    assert {"api_key", "base_url", "model", "api", "system", "timeout", "retries", "log"} <= set(
        config.OPTIONS
    )
    assert config.OPTIONS["temperature"].default == 0.7


# ---------------------------------------------------------------------- keys and values typed


@pytest.mark.parametrize(
    ("text", "path"),
    [
        ("model", ("model",)),
        (" temperature ", ("temperature",)),
        ("aliases", ("aliases",)),
        ("aliases.fast", ("aliases", "fast")),
        ('aliases."x.y"', ("aliases", "x.y")),
        ("prices.minimax-minimax-m1.input", ("prices", "minimax-minimax-m1", "input")),
        ("prices.Qwen/Qwen2.5-VL.output", ("prices", "Qwen/Qwen2.5-VL", "output")),
        ('prices."a.input".input', ("prices", "a.input", "input")),
        ("prices.Qwen2.5", ("prices", "Qwen2.5")),
        ("future.thing", ("future", "thing")),
    ],
)
def test_parse_key(text: str, path: tuple[str, ...]) -> None:
    assert config.parse_key(text) == path


@pytest.mark.parametrize("text", ["", ".x", "model.", "model.x"])
def test_parse_key_refuses(text: str) -> None:
    with pytest.raises(UsageError):
        config.parse_key(text)


@pytest.mark.parametrize(
    ("key", "texts", "value"),
    [
        ("temperature", ["0.2"], 0.2),
        ("presence_penalty", ["-1"], -1.0),
        ("max_tokens", ["50"], 50),
        ("seed", ["-3"], -3),
        ("timeout", ["30"], 30.0),
        ("retries", ["0"], 0),
        ("log", ["false"], False),
        ("log", ["Yes"], True),
        ("log", ["off"], False),
        ("api", ["anthropic"], "anthropic"),
        ("base_url", ["http://127.0.0.1:9/x/"], "http://127.0.0.1:9/x"),
        ("system", ["You are terse. # not a comment"], "You are terse. # not a comment"),
        ("model", ["Qwen/Qwen2.5-VL"], "Qwen/Qwen2.5-VL"),
        ("stop", ["END"], ["END"]),
        ("stop", ["END", "STOP"], ["END", "STOP"]),
        ("stop", ['["a b", "c"]'], ["a b", "c"]),
        ("aliases.fast", ["m1"], "m1"),
        ("prices.m.input", ["0.4"], 0.4),
        ("prices.m.output", ["2"], 2.0),
    ],
)
def test_parse_value_by_the_keys_type(key: str, texts: list[str], value: Any) -> None:
    parsed = config.parse_value(config.parse_key(key), texts)
    assert parsed == value and type(parsed) is type(value)


@pytest.mark.parametrize(
    ("key", "texts", "message"),
    [
        ("temprature", ["1"], "unknown key 'temprature'"),
        ("api_key", [FAKE_KEY], "mlchat key set"),
        ("temperature", ["2.5"], "temperature must be between 0 and 2, got 2.5"),
        ("temperature", ["warm"], "temperature must be a number, got 'warm'"),
        ("temperature", ["1", "2"], "temperature takes one value, got 2"),
        ("log", ["maybe"], "log must be true or false, got 'maybe'"),
        ("stop", ["a", "b", "c", "d", "e"], "at most 4 stop sequences"),
        ("stop", ["[1, 2]"], "stop must be a string or a list of strings"),
        ("stop", ["[unclosed"], "not a TOML array"),
        ("aliases", ["x"], "aliases is a table"),
        ("prices.m", ["1"], "prices.m is not a price"),
        ("prices.m.input", ["-1"], "prices.m.input must be >= 0"),
        ("aliases.fast", ["two words"], "aliases.fast must be a model id without spaces"),
        ("timeout", ["0"], "timeout must be a number of seconds > 0"),
        ("retries", ["2.5"], "retries must be a whole number >= 0"),
    ],
)
def test_parse_value_refuses_with_one_clear_message(
    key: str, texts: list[str], message: str
) -> None:
    with pytest.raises(UsageError) as info:
        config.parse_value(config.parse_key(key), texts)
    assert message in info.value.message
    assert FAKE_KEY not in info.value.message


# ----------------------------------------------------------------------------- reading the file


@pytest.mark.parametrize(
    ("text", "where"),
    [
        (f'api_key = "{FAKE_KEY}\nmodel = "x"\n', "line 1"),
        (f'model = "x"\napi_key = {FAKE_KEY}\n', "(at line 2, column 11)"),
        (f'api_key = "{FAKE_KEY}"\napi_key = "{FAKE_KEY}"\n', "line 2"),
        (f'[aliases\napi_key = "{FAKE_KEY}"\n', "line 1"),
    ],
)
def test_a_corrupt_file_names_its_position_never_its_contents(
    tmp_path: Path, text: str, where: str
) -> None:
    path = tmp_path / "config.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        config.load_file(path)
    assert info.value.exit_code == 3
    assert info.value.message.startswith(f"{path} is not valid TOML")
    assert where in info.value.message
    assert FAKE_KEY not in info.value.message and FAKE_KEY[-4:] not in info.value.message
    assert path.read_text() == text


def test_missing_file_is_empty_and_non_utf8_is_an_error(tmp_path: Path) -> None:
    assert config.load_file(tmp_path / "none.toml") == {}
    bad = tmp_path / "bad.toml"
    bad.write_bytes(b'model = "\xff"\n')
    with pytest.raises(ConfigError, match="not UTF-8"):
        config.load_file(bad)


def test_the_path_follows_xdg_config_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "elsewhere"))
    assert config.config_path() == tmp_path / "elsewhere" / "mlchat" / "config.toml"


# ----------------------------------------------------------------------------- writing the file


def test_writes_are_owner_only_and_repair_the_directory(tmp_path: Path) -> None:
    path = tmp_path / "cfg" / "mlchat" / "config.toml"
    config.write_atomic(path, 'model = "x"\n')
    assert path.read_text() == 'model = "x"\n'
    assert mode(path) == 0o600 and mode(path.parent) == 0o700
    path.chmod(0o644)
    path.parent.chmod(0o755)
    config.write_atomic(path, 'model = "y"\n')
    assert mode(path) == 0o600 and mode(path.parent) == 0o700
    assert os.listdir(path.parent) == ["config.toml"]


def test_the_umask_cannot_widen_or_narrow_the_mode(tmp_path: Path) -> None:
    old = os.umask(0o000)
    try:
        config.write_atomic(tmp_path / "a.toml", "")
    finally:
        os.umask(old)
    assert mode(tmp_path / "a.toml") == 0o600


def tmp_name(path: Path) -> Path:
    return path.parent / f".{path.name}.{os.getpid()}.tmp"


def test_a_failing_write_leaves_the_old_file_and_no_temp_file(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    old = f'# mine\napi_key = "{FAKE_KEY}"\n'
    path.write_text(old)
    path.chmod(0o600)
    tmp_name(path).mkdir()  # the temp file cannot be created: an injected file-system error
    with pytest.raises(ConfigError) as info:
        config.set_in_file(path, ("model",), "x")
    assert info.value.message.startswith(f"cannot write {path}")
    assert info.value.hint == "the file was not changed"
    assert path.read_text() == old and mode(path) == 0o600
    assert sorted(os.listdir(tmp_path)) == sorted(["config.toml", tmp_name(path).name])


def test_a_failing_replace_removes_the_temp_file(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.mkdir()  # os.replace cannot put a file over a directory
    with pytest.raises(ConfigError, match="cannot write"):
        config.write_atomic(path, "x = 1\n")
    assert os.listdir(tmp_path) == ["config.toml"] and path.is_dir()


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only directories")
def test_a_read_only_directory_leaves_the_old_file(tmp_path: Path) -> None:
    path = tmp_path / "ro" / "config.toml"
    path.parent.mkdir(mode=0o700)
    path.write_text('model = "old"\n')
    path.parent.chmod(0o500)
    try:
        with pytest.raises(ConfigError, match="cannot write"):
            config.set_in_file(path, ("model",), "new")
        assert path.read_text() == 'model = "old"\n'
        assert os.listdir(path.parent) == ["config.toml"]
    finally:
        path.parent.chmod(0o700)


def test_a_stale_temp_file_of_ours_is_replaced(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    tmp_name(path).write_text("left by a crash")
    config.write_atomic(path, "a = 1\n")
    assert path.read_text() == "a = 1\n" and os.listdir(tmp_path) == ["config.toml"]


def test_a_symlinked_file_is_written_through_the_link(tmp_path: Path) -> None:
    real = tmp_path / "dotfiles" / "mlchat.toml"
    real.parent.mkdir()
    real.write_text('model = "a"\n')
    link = tmp_path / "config.toml"
    link.symlink_to(real)
    config.set_in_file(link, ("model",), "b")
    assert link.is_symlink() and real.read_text() == 'model = "b"\n'


def test_edits_of_a_corrupt_file_leave_it_untouched(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(f'api_key = "{FAKE_KEY}\n')
    before = path.read_bytes()
    for edit in (
        lambda: config.set_in_file(path, ("model",), "x"),
        lambda: config.unset_in_file(path, ("api_key",)),
        lambda: config.save_key(path, "other-key-1234"),
    ):
        with pytest.raises(ConfigError, match="not valid TOML"):
            edit()
        assert path.read_bytes() == before


def test_save_and_remove_key_keep_the_rest(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('# keep me\nmodel = "m"  # and me\n\n[aliases]\nfast = "x"\n')
    config.save_key(path, f" {FAKE_KEY}\n")
    assert path.read_text() == (
        f'# keep me\nmodel = "m"  # and me\napi_key = "{FAKE_KEY}"\n\n[aliases]\nfast = "x"\n'
    )
    assert config.remove_key(path) is True
    assert path.read_text() == '# keep me\nmodel = "m"  # and me\n\n[aliases]\nfast = "x"\n'
    assert config.remove_key(path) is False


def test_an_edit_the_line_editor_cannot_make_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('aliases = { a = "b" }\n')
    with pytest.raises(ConfigError, match="edit it by hand"):
        config.set_in_file(path, ("aliases", "c"), "d")
    assert path.read_text() == 'aliases = { a = "b" }\n'


def test_the_readme_example_is_a_valid_config() -> None:
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    section = readme[readme.index("## Configuration") :]
    example = section[section.index("```toml\n") + 8 :]
    example = example[: example.index("```")]
    s = resolve(Flags(), {}, tomllib.loads(example))
    assert s.model == "minimax-minimax-m1" and s.params.temperature == 0.3
    assert s.prices["minimax-minimax-m1"] == Price(0.4, 2.2)
    # ...and every key of the table is in the README's table of keys.
    for name in config.OPTIONS:
        assert f"| `{name}` |" in section or f"`[{name}" in section, name
