"""`mlchat config path | show | get | set | unset` through the CLI, and the file's settings reaching
`ask`'s requests (against the emulator)."""

from __future__ import annotations

import stat
import tomllib
from pathlib import Path

import pytest

from mlchat import config
from tests.conftest import FAKE_KEY, invoke
from tests.emulator import Emulator


def cfg() -> Path:
    return config.config_path()


def write_cfg(text: str, file_mode: int = 0o600) -> Path:
    path = cfg()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(file_mode)
    return path


HAND_EDITED = f"""\
# My mlchat settings. Do not lose this comment.
api_key = "{FAKE_KEY}"   # from the dashboard
model = "minimax-minimax-m1"

temperature = 0.7   # warm-ish
favourite_colour = "teal"   # not an mlchat key; kept

[aliases]
# short names
fast = "minimax-minimax-m1"

[prices."minimax-minimax-m1"]
input = 0.4
output = 2.2
"""


# ----------------------------------------------------------------------------- path and show


def test_path_prints_the_platformdirs_path(tmp_path: Path) -> None:
    r = invoke(["config", "path"])
    assert r.code == 0 and r.err == ""
    assert r.out == f"{tmp_path}/xdg/xdg_config_home/mlchat/config.toml\n"


def test_show_masks_the_key_and_omits_comments() -> None:
    write_cfg(HAND_EDITED)
    r = invoke(["config", "show"])
    assert r.code == 0
    assert FAKE_KEY not in r.out
    shown = tomllib.loads(r.out)
    assert shown["api_key"] == "…cdef"
    assert shown == {**tomllib.loads(HAND_EDITED), "api_key": "…cdef"}
    assert "#" not in r.out
    assert "unknown key 'favourite_colour'" in r.err


def test_show_without_a_file() -> None:
    r = invoke(["config", "show"])
    assert r.code == 0 and r.out == ""
    assert f"no config file at {cfg()}" in r.err


# ----------------------------------------------------------------------------- get


@pytest.mark.parametrize(
    ("key", "out"),
    [
        ("api_key", "…cdef\n"),
        ("model", "minimax-minimax-m1\n"),
        ("temperature", "0.7\n"),
        ("aliases.fast", "minimax-minimax-m1\n"),
        ("aliases", '[aliases]\nfast = "minimax-minimax-m1"\n'),
        ("prices.minimax-minimax-m1.output", "2.2\n"),
        ("prices", "[prices.minimax-minimax-m1]\ninput = 0.4\noutput = 2.2\n"),
        ("favourite_colour", "teal\n"),
    ],
)
def test_get_prints_the_files_value(key: str, out: str) -> None:
    write_cfg(HAND_EDITED)
    r = invoke(["config", "get", key])
    assert r.code == 0, r.err
    assert r.out == out
    assert FAKE_KEY not in r.err


def test_get_falls_back_to_the_default_with_a_note() -> None:
    r = invoke(["config", "get", "top_p"])
    assert r.code == 0 and r.out == "0.9\n"
    assert "top_p is not set" in r.err and "built-in default" in r.err
    r = invoke(["config", "get", "system"])
    assert r.code == 0 and r.out == "" and "system is not set" in r.err
    r = invoke(["config", "get", "model"], env={"MLCHAT_MODEL": "x"})
    assert r.out == "minimax-minimax-m1\n" and "MLCHAT_MODEL is set" in r.err


def test_get_an_unknown_key_is_a_usage_error() -> None:
    r = invoke(["config", "get", "temprature"])
    assert r.code == 2
    assert r.err == "mlchat: error: unknown key 'temprature'\nhint: did you mean temperature?\n"


# ----------------------------------------------------------------------------- set and unset


def test_set_and_unset_keep_comments_order_and_unknown_keys() -> None:
    write_cfg(HAND_EDITED)
    steps = [
        (["set", "temperature", "0.2"], "temperature = 0.2   # warm-ish"),
        (["set", "top_p", "0.5"], None),
        (["set", "aliases.slow", "Qwen/Qwen2.5-VL-72B-Instruct-together"], None),
        (["set", "prices.minimax-minimax-m1.input", "0.5"], None),
        (["set", "prices.Qwen/Qwen2.5-VL.input", "1"], None),
        (["set", "stop", "END", "STOP"], None),
        (["unset", "model"], None),
    ]
    for args, _ in steps:
        r = invoke(["config", *args])
        assert r.code == 0, (args, r.err)
        assert r.out == ""
    assert (
        cfg().read_text()
        == f"""\
# My mlchat settings. Do not lose this comment.
api_key = "{FAKE_KEY}"   # from the dashboard

temperature = 0.2   # warm-ish
favourite_colour = "teal"   # not an mlchat key; kept
top_p = 0.5
stop = ["END", "STOP"]

[aliases]
# short names
fast = "minimax-minimax-m1"
slow = "Qwen/Qwen2.5-VL-72B-Instruct-together"

[prices."minimax-minimax-m1"]
input = 0.5
output = 2.2

[prices."Qwen/Qwen2.5-VL"]
input = 1.0
"""
    )
    assert stat.S_IMODE(cfg().stat().st_mode) == 0o600
    # Unknown keys can be removed too (once they are in the file).
    r = invoke(["config", "unset", "favourite_colour"])
    assert r.code == 0 and "favourite_colour" not in cfg().read_text()
    assert "# My mlchat settings. Do not lose this comment." in cfg().read_text()


def test_set_creates_the_file_and_directory_owner_only() -> None:
    r = invoke(["config", "set", "model", "meta-llama-3-8B-instruct"])
    assert r.code == 0, r.err
    assert cfg().read_text() == 'model = "meta-llama-3-8B-instruct"\n'
    assert stat.S_IMODE(cfg().stat().st_mode) == 0o600
    assert stat.S_IMODE(cfg().parent.stat().st_mode) == 0o700


@pytest.mark.parametrize(
    ("args", "stored"),
    [
        (["presence_penalty", "-1"], ("presence_penalty", -1.0)),
        (["frequency_penalty", "-0.5"], ("frequency_penalty", -0.5)),
        (["seed", "-3"], ("seed", -3)),
        (["stop", '["a b", "#c"]'], ("stop", ["a b", "#c"])),
        (["system", 'Say "hi" \\ then # stop'], ("system", 'Say "hi" \\ then # stop')),
        (["log", "no"], ("log", False)),
        (["base_url", "http://127.0.0.1:1/x/"], ("base_url", "http://127.0.0.1:1/x")),
    ],
)
def test_set_reads_values_in_the_keys_type(args: list[str], stored: tuple[str, object]) -> None:
    r = invoke(["config", "set", *args])
    assert r.code == 0, r.err
    assert config.load_file() == {stored[0]: stored[1]}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["temprature", "1"], "unknown key 'temprature'"),
        (["temperature", "2.5"], "temperature must be between 0 and 2, got 2.5"),
        (["temperature", "warm"], "temperature must be a number, got 'warm'"),
        (["max_tokens", "0"], "max_tokens must be >= 1"),
        (["top_p", "0.1", "0.2"], "top_p takes one value, got 2"),
        (["api", "gemini"], "api must be one of openai, anthropic"),
        (["timeout", "-1"], "timeout must be a number of seconds > 0"),
        (["retries", "x"], "retries must be a whole number"),
        (["log", "maybe"], "log must be true or false"),
        (["stop", "a", "b", "c", "d", "e"], "at most 4 stop sequences"),
        (["aliases", "x"], "aliases is a table"),
        (["prices.m.input", "-0.1"], "prices.m.input must be >= 0"),
        (["prices.m.cached", "1"], "prices.m.cached is not a price: set prices.MODEL.input"),
        (["model.x", "1"], "model is not a table"),
        (["api_key", FAKE_KEY], "mlchat key set"),
    ],
)
def test_set_validation_errors_exit_2_in_one_line_and_change_nothing(
    args: list[str], message: str
) -> None:
    write_cfg(HAND_EDITED)
    r = invoke(["--debug", "config", "set", *args])
    assert r.code == 2
    assert r.out == ""
    error_lines = [line for line in r.err.splitlines() if line.startswith("mlchat: error: ")]
    assert len(error_lines) == 1 and message in error_lines[0]
    assert cfg().read_text() == HAND_EDITED
    assert FAKE_KEY not in r.err


def test_set_without_a_value_is_a_usage_error() -> None:
    r = invoke(["config", "set", "model"])
    assert r.code == 2
    assert cfg().exists() is False


def test_set_warns_about_a_clash_and_an_overriding_variable() -> None:
    write_cfg("api = 'anthropic'\n")
    r = invoke(["config", "set", "temperature", "1.5"], env={"MLCHAT_MODEL": "x"})
    assert r.code == 0
    assert "saved, but the settings now clash: temperature must be between 0 and 1" in r.err
    r = invoke(["config", "set", "model", "m"], env={"MLCHAT_MODEL": "x"})
    assert "MLCHAT_MODEL is set in the environment and overrides model" in r.err
    r = invoke(["config", "show"], env={"MLCHAT_MODEL": "x", "MLCHAT_API": "openai"})
    assert r.out == 'api = "anthropic"\ntemperature = 1.5\nmodel = "m"\n'
    assert "MLCHAT_MODEL is set in the environment and overrides model" in r.err
    assert "MLCHAT_API is set in the environment and overrides api" in r.err


@pytest.mark.parametrize(
    ("args", "written"),
    [
        (["set", "model", "x"], True),
        (["unset", "model"], True),
        (["set", "top_p", "7"], False),
        (["unset", "top_p"], False),
    ],
)
def test_writes_repair_a_readable_key_file_and_say_so(args: list[str], written: bool) -> None:
    write_cfg(f'api_key = "{FAKE_KEY}"\nmodel = "m"\n', 0o644)
    r = invoke(["config", *args])
    if written:
        assert r.code == 0, r.err
        assert stat.S_IMODE(cfg().stat().st_mode) == 0o600
        assert f"{cfg()} was readable by others (mode 644); it is now 600" in r.err
        assert "chmod" not in r.err
    else:
        assert stat.S_IMODE(cfg().stat().st_mode) == 0o644
        assert r.err.count(f"run: chmod 600 {cfg()}") == 1
    assert FAKE_KEY not in r.err


def test_unset_absent_and_unknown() -> None:
    write_cfg('model = "m"\n')
    r = invoke(["config", "unset", "top_p"])
    assert r.code == 0 and f"top_p was not set in {cfg()}" in r.err
    assert cfg().read_text() == 'model = "m"\n'
    r = invoke(["config", "unset", "nonsense"])
    assert r.code == 2 and "unknown key 'nonsense'" in r.err


def test_unset_a_whole_table() -> None:
    write_cfg(HAND_EDITED)
    r = invoke(["config", "unset", "prices.minimax-minimax-m1"])
    assert r.code == 0, r.err
    assert "prices" not in config.load_file()
    assert cfg().read_text().startswith("# My mlchat settings.")


def test_unset_aliases_warns_about_a_model_naming_one_and_leaves_no_blank_lines() -> None:
    write_cfg(
        'model = "fast"\n\n[aliases]\nfast = "meta-llama-3-8B-instruct"\n\n'
        '[profiles.work]\nmodel = "fast"\n'
    )
    r = invoke(["config", "unset", "aliases"], env={"MLCHAT_MODEL": "fast"})
    assert r.code == 0, r.err
    assert cfg().read_text() == 'model = "fast"\n\n[profiles.work]\nmodel = "fast"\n'
    warned = [line for line in r.err.splitlines() if line.startswith("mlchat: warning: ")]
    assert [w.split(" is ")[0] for w in warned] == [
        "mlchat: warning: model",
        "mlchat: warning: profiles.work.model",
        "mlchat: warning: MLCHAT_MODEL",
    ]
    assert "'fast', an alias that no longer exists: it will be sent as a model id" in warned[0]
    # removing the last key of a file leaves no trailing blank lines either
    write_cfg('temperature = 0.5\n\nmodel = "m"\n')
    assert invoke(["config", "unset", "model"]).code == 0
    assert cfg().read_text() == "temperature = 0.5\n"


def test_set_and_unset_say_what_they_did_on_a_terminal() -> None:
    r = invoke(["config", "set", "temperature", "0.2"], stderr_tty=True)
    assert r.code == 0 and r.out == ""
    assert r.err == f"mlchat: set temperature = 0.2 in {cfg()}\n"
    r = invoke(["config", "set", "stop", "END", "###"], stderr_tty=True)
    assert r.err == f'mlchat: set stop = ["END", "###"] in {cfg()}\n'
    r = invoke(["config", "unset", "temperature"], stderr_tty=True)
    assert r.err == f"mlchat: removed temperature from {cfg()}\n"
    r = invoke(["config", "set", "top_p", "0.5"])  # piped: quiet, as before
    assert (r.code, r.err) == (0, "")


def test_an_inline_table_is_refused_and_left_alone() -> None:
    write_cfg('aliases = { fast = "m" }\n')
    r = invoke(["config", "set", "aliases.slow", "x"])
    assert r.code == 3 and "edit it by hand" in r.err
    assert cfg().read_text() == 'aliases = { fast = "m" }\n'


# ----------------------------------------------------------------------------- a corrupt file


@pytest.mark.parametrize(
    "args",
    [
        ["config", "show"],
        ["config", "get", "model"],
        ["config", "set", "model", "m"],
        ["config", "unset", "model"],
        ["ask", "hi"],
    ],
)
def test_a_corrupt_file_exits_3_untouched_and_unprinted(args: list[str]) -> None:
    text = f'model = "m"\napi_key = "{FAKE_KEY}\n[aliases]\n'
    write_cfg(text)
    r = invoke(["--debug", *args], env={"MODELSLAB_API_KEY": "ml-env-key-56789"})
    assert r.code == 3
    assert f"mlchat: error: {cfg()} is not valid TOML (at line 2, column" in r.err
    assert "hint: fix the file by hand; mlchat leaves it untouched" in r.err
    assert FAKE_KEY not in r.err + r.out and FAKE_KEY[:12] not in r.err + r.out
    assert cfg().read_text() == text


# ----------------------------------------------------------------------------- the file reaches ask


def test_file_settings_reach_the_request(emulator: Emulator) -> None:
    write_cfg(
        f"""\
api_key = "{FAKE_KEY}"
base_url = "{emulator.base_url}"
model = "fast"
system = "Be terse"
temperature = 0.2
top_p = 0.3
max_tokens = 42
stop = "END"
seed = 7

[aliases]
fast = "meta-llama-3-8B-instruct"
"""
    )
    r = invoke(["ask", "hi"])
    assert r.code == 0, r.err
    body = emulator.requests[0].json
    assert body["model"] == "meta-llama-3-8B-instruct"
    assert body["messages"][0] == {"role": "system", "content": "Be terse"}
    assert (body["temperature"], body["top_p"], body["max_tokens"]) == (0.2, 0.3, 42)
    assert (body["stop"], body["seed"]) == (["END"], 7)
    assert emulator.requests[0].headers["authorization"] == f"Bearer {FAKE_KEY}"


def test_flag_beats_env_beats_file_through_ask(emulator: Emulator) -> None:
    write_cfg(
        'api_key = "file-key-00001111"\nbase_url = "http://127.0.0.1:9/file"\n'
        'model = "file-model"\ntemperature = 0.2\napi = "anthropic"\n'
    )
    env = {
        "MODELSLAB_API_KEY": FAKE_KEY,
        "MODELSLAB_BASE_URL": emulator.base_url,
        "MLCHAT_MODEL": "env-model",
        "MLCHAT_API": "openai",
    }
    r = invoke(["ask", "hi"], env=env)
    assert r.code == 0, r.err
    req = emulator.requests[-1]
    assert req.path == "/chat/completions"
    assert req.json["model"] == "env-model" and req.json["temperature"] == 0.2
    assert req.headers["authorization"] == f"Bearer {FAKE_KEY}"
    r = invoke(["ask", "-m", "flag-model", "-t", "0.9", "--api", "anthropic", "hi"], env=env)
    assert r.code == 0, r.err
    req = emulator.requests[-1]
    assert req.path == "/v1/messages"
    assert (req.json["model"], req.json["temperature"]) == ("flag-model", 0.9)


def test_a_bad_value_in_the_file_stops_ask_before_any_request(emulator: Emulator) -> None:
    write_cfg("temperature = 9\n")
    env = {"MODELSLAB_API_KEY": FAKE_KEY, "MODELSLAB_BASE_URL": emulator.base_url}
    r = invoke(["ask", "hi"], env=env)
    assert r.code == 3
    assert r.err.startswith(f"mlchat: error: {cfg()}: temperature must be between 0 and 2")
    assert emulator.requests == []
    # ...and `config set` repairs it.
    assert invoke(["config", "set", "temperature", "1"]).code == 0
    assert invoke(["ask", "hi"], env=env).code == 0


def test_a_bad_sampling_value_stops_only_the_commands_that_use_it(emulator: Emulator) -> None:
    write_cfg("temperature = 9\n\n[profiles.work]\ntop_p = 7\n")
    env = {"MODELSLAB_API_KEY": FAKE_KEY, "MODELSLAB_BASE_URL": emulator.base_url}
    for args in (["models"], ["tokens", "hi"], ["key", "status"]):
        r = invoke(args, env=env)
        assert r.code == 0, (args, r.err)
        warnings = [line for line in r.err.splitlines() if "warning" in line]
        assert warnings[0] == (
            f"mlchat: warning: {cfg()}: temperature must be between 0 and 2, got 9; ignored "
            "here (ask and chat stop on it)"
        ), r.err
        assert "profiles.work: top_p must be between 0 and 1" in warnings[1]
    asked = len(emulator.requests)
    r = invoke(["ask", "hi"], env=env)
    assert r.code == 3 and "temperature must be between 0 and 2" in r.err
    assert len(emulator.requests) == asked  # nothing sent


def test_ask_warns_once_about_a_readable_key_file_and_unknown_keys(emulator: Emulator) -> None:
    write_cfg(f'api_key = "{FAKE_KEY}"\nbase_url = "{emulator.base_url}"\ntemprature = 1\n', 0o640)
    r = invoke(["ask", "hi"])
    assert r.code == 0, r.err
    assert r.out == "echo: hi\n"
    assert r.err.count("chmod 600") == 1
    assert f"readable by others (mode 640); run: chmod 600 {cfg()}" in r.err
    assert "unknown key 'temprature'" in r.err and "did you mean temperature?" in r.err
    assert FAKE_KEY not in r.err


def test_env_only_use_needs_no_file(emulator: Emulator) -> None:
    env = {"MODELSLAB_API_KEY": FAKE_KEY, "MODELSLAB_BASE_URL": emulator.base_url}
    r = invoke(["ask", "hi"], env=env)
    assert r.code == 0 and r.err == ""
    assert not cfg().exists() and not cfg().parent.exists()


def test_the_help_key_table_matches_the_options() -> None:
    from mlchat.cli.config_cmd import KEYS_HELP, keys_help

    assert keys_help() == KEYS_HELP, "update KEYS_HELP in mlchat/cli/config_cmd.py"


def test_edit_mode_is_emacs_or_vi() -> None:
    assert invoke(["config", "set", "edit_mode", "vi"]).code == 0
    assert config.load_file()["edit_mode"] == "vi"
    assert config.resolve(config.Flags(), {}, config.load_file()).edit_mode == "vi"
    r = invoke(["config", "set", "edit_mode", "nano"])
    assert r.code == 2 and "edit_mode must be emacs or vi, got 'nano'" in r.err
    assert config.resolve(config.Flags(), {}, {}).edit_mode == "emacs"
