"""Where the key comes from: api_key_env, api_key_cmd (argv, shell form, failures, once per
process, never for commands that do not need it) and api_key_keyring through keyring's own file
backend (keyrings.alt), against the emulator over real HTTP."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from mlchat import config, keysource
from tests.conftest import invoke
from tests.emulator import Emulator

KEY = "ml-cmd-KEY-0123456789abcdefXYZ"
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def fresh_cache() -> Iterator[None]:
    keysource._FETCHED.clear()  # each test is its own "process" for the once-per-process rule
    yield
    keysource._FETCHED.clear()


def write_config(text: str) -> Path:
    path = config.config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(0o600)
    return path


def key_script(tmp_path: Path, body: str) -> str:
    """A command (as one shell-quoted string) running a Python script with `body`."""
    script = tmp_path / "keycmd.py"
    script.write_text("import os, sys\n" + body)
    return shlex.join([sys.executable, str(script)])


def toml_str(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def counting_script(tmp_path: Path) -> tuple[str, Path]:
    marker = tmp_path / "ran"
    body = (
        f"with open({str(marker)!r}, 'a') as f: f.write('x')\n"
        f"print({KEY!r}); print('second line is ignored')\n"
    )
    return key_script(tmp_path, body), marker


def base(emulator: Emulator) -> dict[str, str]:
    return {"MODELSLAB_BASE_URL": emulator.base_url}


# -- api_key_env -------------------------------------------------------------------------------


def test_api_key_env_reads_the_named_variable(emulator: Emulator) -> None:
    write_config('api_key_env = "WORK_KEY"\n')
    r = invoke(["ask", "hi"], env={**base(emulator), "WORK_KEY": KEY})
    assert r.code == 0, r.err
    assert emulator.requests[0].headers["authorization"] == f"Bearer {KEY}"


def test_api_key_env_unset_is_exit_3_naming_the_variable(emulator: Emulator) -> None:
    write_config('api_key_env = "WORK_KEY"\n')
    r = invoke(["ask", "hi"], env=base(emulator))
    assert r.code == 3
    assert "WORK_KEY" in r.err and "empty or unset" in r.err
    assert emulator.requests == []


def test_modelslab_api_key_in_the_environment_still_wins_at_the_top_level(
    emulator: Emulator, tmp_path: Path
) -> None:
    cmd, marker = counting_script(tmp_path)
    write_config(f"api_key_cmd = {toml_str(cmd)}\n")
    r = invoke(["ask", "hi"], env={**base(emulator), "MODELSLAB_API_KEY": "ml-env-key-99999999"})
    assert r.code == 0, r.err
    assert emulator.requests[0].headers["authorization"] == "Bearer ml-env-key-99999999"
    assert not marker.exists()


# -- api_key_cmd -------------------------------------------------------------------------------


def test_api_key_cmd_first_line_is_the_key_and_runs_once(
    emulator: Emulator, tmp_path: Path
) -> None:
    cmd, marker = counting_script(tmp_path)
    write_config(f"api_key_cmd = {toml_str(cmd)}\n")
    r = invoke(["ask", "hi"], env=base(emulator))
    assert r.code == 0, r.err
    assert emulator.requests[0].headers["authorization"] == f"Bearer {KEY}"
    r = invoke(["ask", "again"], env=base(emulator))  # the same process: not run again
    assert r.code == 0, r.err
    assert marker.read_text() == "x"
    assert KEY not in r.out + r.err


def test_api_key_cmd_as_a_list_of_one_string_runs_in_a_shell(emulator: Emulator) -> None:
    write_config(f"api_key_cmd = [{toml_str(f'echo {KEY} | tr a-z a-z')}]\n")
    r = invoke(["ask", "hi"], env=base(emulator))
    assert r.code == 0, r.err
    assert emulator.requests[0].headers["authorization"] == f"Bearer {KEY}"


def test_api_key_cmd_as_a_string_is_not_given_to_a_shell(
    emulator: Emulator, tmp_path: Path
) -> None:
    # With a shell, `;` would run a second command and `$HOME` would expand.
    cmd = key_script(tmp_path, "print(sys.argv[1])\n") + " 'ml-literal-$HOME;key-0000'"
    write_config(f"api_key_cmd = {toml_str(cmd)}\n")
    r = invoke(["ask", "hi"], env=base(emulator))
    assert r.code == 0, r.err
    assert emulator.requests[0].headers["authorization"] == "Bearer ml-literal-$HOME;key-0000"


def test_a_failing_api_key_cmd_is_exit_3_with_its_last_stderr_line(
    emulator: Emulator, tmp_path: Path
) -> None:
    body = (
        "sys.stderr.write('gpg: starting\\ngpg: decryption failed: No secret key\\n\\n')\n"
        "sys.exit(2)\n"
    )
    write_config(f"api_key_cmd = {toml_str(key_script(tmp_path, body))}\n")
    r = invoke(["ask", "hi"], env=base(emulator))
    assert r.code == 3
    assert "api_key_cmd failed (exit 2): gpg: decryption failed: No secret key" in r.err
    assert "starting" not in r.err and "Traceback" not in r.err
    assert emulator.requests == []


def test_an_api_key_cmd_that_prints_nothing_is_exit_3(emulator: Emulator, tmp_path: Path) -> None:
    write_config(f"api_key_cmd = {toml_str(key_script(tmp_path, 'print()'))}\n")
    r = invoke(["ask", "hi"], env=base(emulator))
    assert r.code == 3
    assert "api_key_cmd printed nothing" in r.err
    assert emulator.requests == []


def test_an_api_key_cmd_that_does_not_exist_is_exit_3(emulator: Emulator) -> None:
    write_config('api_key_cmd = "no-such-command-for-mlchat --flag"\n')
    r = invoke(["ask", "hi"], env=base(emulator))
    assert r.code == 3
    assert "command not found: no-such-command-for-mlchat" in r.err


def test_a_key_with_a_space_from_the_command_is_exit_3_without_the_key(
    emulator: Emulator, tmp_path: Path
) -> None:
    cmd = key_script(tmp_path, "print('ml-abc defgh-1234')")
    write_config(f"api_key_cmd = {toml_str(cmd)}\n")
    r = invoke(["ask", "hi"], env=base(emulator))
    assert r.code == 3
    assert "contains a space" in r.err and "defgh" not in r.err


def test_the_command_never_sees_the_modelslab_key(emulator: Emulator, tmp_path: Path) -> None:
    seen = tmp_path / "seen"
    body = f"open({str(seen)!r}, 'w').write(os.environ.get('MODELSLAB_API_KEY', 'absent'))\n"
    body += f"print({KEY!r})\n"
    write_config(
        "[profiles.work]\n"
        f"base_url = {toml_str(emulator.base_url)}\n"
        f"api_key_cmd = {toml_str(key_script(tmp_path, body))}\n"
    )
    r = invoke(
        ["ask", "--profile", "work", "hi"], env={"MODELSLAB_API_KEY": "ml-other-service-key-1"}
    )
    assert r.code == 0, r.err
    assert seen.read_text() == "absent"
    # The profile names its own source: the environment's ModelsLab key is not sent there.
    assert emulator.requests[0].headers["authorization"] == f"Bearer {KEY}"


def test_two_sources_in_one_table_is_exit_3(emulator: Emulator) -> None:
    write_config('api_key = "ml-file-key-12345678"\napi_key_env = "X"\n')
    r = invoke(["ask", "hi"], env=base(emulator))
    assert r.code == 3
    assert "api_key and api_key_env" in r.err and "12345678" not in r.err


def test_key_status_names_the_command_and_runs_it_only_with_check(tmp_path: Path) -> None:
    cmd, marker = counting_script(tmp_path)
    write_config(f"api_key_cmd = {toml_str(cmd)}\n")
    r = invoke(["key", "status"])
    assert r.code == 0, r.err
    assert "source:  command (" in r.out and "api_key_cmd" in r.out
    assert "read when a request needs it" in r.out
    assert not marker.exists()
    r = invoke(["key", "status", "--check"])
    assert r.code == 0, r.err
    assert f"key:     …{KEY[-4:]}" in r.out and KEY not in r.out + r.err
    assert marker.exists()


def test_key_status_names_the_variable() -> None:
    write_config('api_key_env = "WORK_KEY"\n')
    r = invoke(["key", "status"], env={"WORK_KEY": KEY})
    assert r.code == 0
    assert "source:  environment (WORK_KEY, from api_key_env" in r.out
    assert KEY not in r.out + r.err


def test_config_set_accepts_the_source_keys() -> None:
    assert invoke(["config", "set", "api_key_cmd", "pass show modelslab"]).code == 0
    assert invoke(["config", "set", "api_key_env", "bad name"]).code == 2
    text = config.config_path().read_text()
    assert 'api_key_cmd = "pass show modelslab"' in text


# -- never run when the key is not needed (the real entry point) -------------------------------


def run_mlchat(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mlchat", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


def test_api_key_cmd_is_not_run_for_help_completion_or_models_from_cache(
    emulator: Emulator, tmp_path: Path
) -> None:
    cmd, marker = counting_script(tmp_path)
    write_config(f"base_url = {toml_str(emulator.base_url)}\napi_key_cmd = {toml_str(cmd)}\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MODELSLAB_", "MLCHAT_"))}
    from mlchat import models
    from mlchat.types import ModelInfo

    models.save(
        [ModelInfo(id="cached-model-1")], emulator.base_url
    )  # a fresh cache: `models` needs no request
    for args in (["--help"], ["ask", "--help"], ["models"], ["profiles"], ["key", "status"]):
        done = run_mlchat(args, env)
        assert done.returncode == 0, (args, done.stderr)
    completing = {"_MLCHAT_COMPLETE": "complete_bash", "COMP_WORDS": "mlchat ask -m cach"}
    done = run_mlchat([], {**env, **completing, "COMP_CWORD": "3"})
    assert "cached-model-1" in done.stdout, done.stderr
    assert not marker.exists()
    assert emulator.requests == []
    done = run_mlchat(["ask", "hi"], env)  # a request: now the command runs, once
    assert done.returncode == 0, done.stderr
    assert marker.read_text() == "x"
    assert emulator.requests[0].headers["authorization"] == f"Bearer {KEY}"


# -- the keyring ----------------------------------------------------------------------------


@pytest.fixture
def file_keyring(tmp_path: Path) -> Iterator[Path]:
    """keyring's own plain-text file backend (keyrings.alt), in tmp_path."""
    keyring = pytest.importorskip("keyring")
    from keyrings.alt.file import PlaintextKeyring

    backend = PlaintextKeyring()
    path = tmp_path / "keyring.cfg"
    backend.file_path = str(path)
    previous = keyring.get_keyring()
    keyring.set_keyring(backend)
    yield path
    keyring.set_keyring(previous)


def test_key_set_keyring_stores_it_there_and_ask_uses_it(
    emulator: Emulator, file_keyring: Path
) -> None:
    import keyring

    r = invoke(["key", "set", "--keyring"], stdin=f"{KEY}\n".encode())
    assert r.code == 0, r.err
    assert keyring.get_password("mlchat", "default") == KEY
    text = config.config_path().read_text()
    assert "api_key_keyring = true" in text and KEY not in text
    r = invoke(["key", "status"])
    assert r.code == 0
    assert "source:  system keyring (mlchat/default)" in r.out and KEY not in r.out
    r = invoke(["ask", "hi"], env=base(emulator))
    assert r.code == 0, r.err
    assert emulator.requests[0].headers["authorization"] == f"Bearer {KEY}"


def test_key_set_keyring_for_a_profile_uses_the_profiles_account(
    emulator: Emulator, file_keyring: Path
) -> None:
    import keyring

    write_config(f"[profiles.work]\nbase_url = {toml_str(emulator.base_url)}\n")
    r = invoke(["key", "set", "--keyring", "--profile", "work"], stdin=f"{KEY}\n".encode())
    assert r.code == 0, r.err
    assert keyring.get_password("mlchat", "work") == KEY
    assert keyring.get_password("mlchat", "default") is None
    r = invoke(["ask", "--profile", "work", "hi"])
    assert r.code == 0, r.err
    assert emulator.requests[0].headers["authorization"] == f"Bearer {KEY}"


def test_an_empty_keyring_is_exit_3_with_the_command_to_fix_it(
    emulator: Emulator, file_keyring: Path
) -> None:
    write_config("api_key_keyring = true\n")
    r = invoke(["ask", "hi"], env=base(emulator))
    assert r.code == 3
    assert "no key in the system keyring for mlchat/default" in r.err
    assert "mlchat key set --keyring" in r.err


def test_key_set_keyring_refuses_while_the_file_holds_a_key(file_keyring: Path) -> None:
    write_config('api_key = "ml-file-key-12345678"\n')
    r = invoke(["key", "set", "--keyring"], stdin=f"{KEY}\n".encode())
    assert r.code == 2
    assert "already sets api_key" in r.err and "mlchat config unset api_key" in r.err


def test_a_config_others_can_write_is_not_trusted_with_a_key_command(tmp_path: Path) -> None:
    cmd, marker = counting_script(tmp_path)
    path = write_config(f"[profiles.p]\napi_key_cmd = {toml_str(cmd)}\n")
    path.chmod(0o666)
    r = invoke(["ask", "--profile", "p", "hi"])
    assert r.code == 3
    assert "refusing to use its profiles.p.api_key_cmd" in r.err
    assert not marker.exists()


def test_key_remove_keyring_and_profile(emulator: Emulator, file_keyring: Path) -> None:
    import keyring

    write_config(f"[profiles.work]\nbase_url = {toml_str(emulator.base_url)}\n")
    assert (
        invoke(["key", "set", "--keyring", "--profile", "work"], stdin=f"{KEY}\n".encode()).code
        == 0
    )
    r = invoke(["key", "remove", "--keyring", "--profile", "work"])
    assert r.code == 0, r.err
    assert "removed from the system keyring (mlchat/work)" in r.err
    assert keyring.get_password("mlchat", "work") is None
    assert "api_key_keyring" not in config.config_path().read_text()
    assert invoke(["key", "set", "--profile", "work"], stdin=f"{KEY}\n".encode()).code == 0
    assert invoke(["key", "remove", "--profile", "work"]).code == 0
    assert KEY not in config.config_path().read_text()
