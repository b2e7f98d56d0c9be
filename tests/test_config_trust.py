"""A config file that another user can write is not trusted with a key or a base URL (ssh's
rule), and writing the key through a symlink leaves the link target's directory alone."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from mlchat import config
from mlchat.errors import ConfigError
from tests.conftest import FAKE_KEY, invoke
from tests.emulator import Emulator

PLANTED = "ml-planted-key-of-someone-else-0123"


def cfg() -> Path:
    return config.config_path()


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def write_cfg(text: str, file_mode: int = 0o600, dir_mode: int = 0o700) -> Path:
    path = cfg()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.parent.chmod(dir_mode)
    path.write_text(text)
    path.chmod(file_mode)
    return path


@pytest.mark.parametrize(
    ("file_mode", "dir_mode", "problem"),
    [
        (0o666, 0o700, "{file} is writable by group and others (mode 666)"),
        (0o620, 0o700, "{file} is writable by its group (mode 620)"),
        (0o600, 0o777, "directory {dir} is writable by group and others (mode 777)"),
        (0o600, 0o703, "directory {dir} is writable by others (mode 703)"),
    ],
)
def test_a_planted_base_url_is_refused(
    emulator: Emulator, file_mode: int, dir_mode: int, problem: str
) -> None:
    """The key is in the environment; the file others can write points at their server (the
    emulator): nothing is sent, and the line says why and how to fix it."""
    path = write_cfg(f'base_url = "{emulator.base_url}"\n', file_mode, dir_mode)
    r = invoke(["ask", "hi"], env={"MODELSLAB_API_KEY": FAKE_KEY})
    assert r.code == 3, r.err
    assert emulator.requests == []
    why = problem.format(file=path, dir=path.parent)
    assert r.err.splitlines()[0] == (
        f"mlchat: error: bad owner or permissions on {path}: {why}; refusing to use its base_url"
    )
    target = path if why.startswith(str(path)) else path.parent
    assert r.err.splitlines()[1] == f"hint: run: chmod go-w {target}"
    assert FAKE_KEY not in r.err


def test_a_planted_key_is_refused(emulator: Emulator) -> None:
    write_cfg(f'api_key = "{PLANTED}"\nbase_url = "{emulator.base_url}"\n', 0o646)
    r = invoke(["models"])
    assert r.code == 3
    assert "refusing to use its api_key or base_url" in r.err
    assert PLANTED not in r.err
    assert emulator.requests == []


@pytest.mark.parametrize(
    ("text", "held"),
    [
        ('api_key_env = "AWS_SECRET_ACCESS_KEY"\n', "api_key_env"),
        ('api_key_cmd = "touch planted"\n', "api_key_cmd"),
        ('[profiles.x]\nbase_url = "http://127.0.0.1:1"\n', "profiles.x.base_url"),
    ],
)
def test_planted_key_sources_are_refused(emulator: Emulator, text: str, held: str) -> None:
    write_cfg(text, 0o666)
    r = invoke(["ask", "hi"], env={"MODELSLAB_BASE_URL": emulator.base_url})
    assert r.code == 3, r.err
    assert f"refusing to use its {held}" in r.err
    assert emulator.requests == []


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give a file to another user")
def test_a_file_owned_by_another_user_is_refused(emulator: Emulator) -> None:
    path = write_cfg(f'base_url = "{emulator.base_url}"\n')
    os.chown(path, 4321, -1)
    r = invoke(["ask", "hi"], env={"MODELSLAB_API_KEY": FAKE_KEY})
    assert r.code == 3
    assert f"{path} is owned by another user (uid 4321)" in r.err
    assert f"hint: make it yours or move it away: chown $USER {path}" in r.err
    assert emulator.requests == []


def test_a_closed_file_is_used(emulator: Emulator) -> None:
    write_cfg(f'base_url = "{emulator.base_url}"\n', 0o644, 0o755)
    r = invoke(["ask", "hi"], env={"MODELSLAB_API_KEY": FAKE_KEY})
    assert r.code == 0, r.err
    assert len(emulator.requests) == 1


def test_other_settings_from_an_open_file_are_still_read(emulator: Emulator) -> None:
    """Only the key and the base URL are refused: a model name cannot send the key anywhere."""
    write_cfg('model = "from-file"\n', 0o666)
    env = {"MODELSLAB_API_KEY": FAKE_KEY, "MODELSLAB_BASE_URL": emulator.base_url}
    r = invoke(["ask", "hi"], env=env)
    assert r.code == 0, r.err
    assert emulator.requests[0].json["model"] == "from-file"


def test_showing_an_open_file_warns_instead(emulator: Emulator) -> None:
    path = write_cfg(f'base_url = "{emulator.base_url}"\n', 0o666)
    r = invoke(["config", "show"])
    assert r.code == 0, r.err
    assert f"mlchat: warning: bad owner or permissions on {path}" in r.err


def test_a_sticky_shared_directory_is_not_a_problem(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)
    path = shared / "config.toml"
    path.write_text('base_url = "https://x.example"\n')
    path.chmod(0o600)
    assert config.untrusted(path) is None
    config.refuse_untrusted(path, {"base_url": "https://x.example"})


def test_an_open_directory_behind_a_symlink_is_seen(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    real = shared / "mlchat.toml"
    real.write_text("")
    real.chmod(0o600)
    link = tmp_path / "config.toml"
    link.symlink_to(real)
    with pytest.raises(ConfigError, match=f"directory {shared} is writable by group and others"):
        config.refuse_untrusted(link, {"api_key": FAKE_KEY})


# --- key set through a symlink -----------------------------------------------------------------


def test_key_set_through_a_symlink_leaves_the_target_directory_alone() -> None:
    """config.toml -> ~/.mlchat.toml: the key is written into the target, which becomes 600,
    and $HOME keeps its mode (it used to be chmodded to 700)."""
    home = Path(os.environ["HOME"])
    home.mkdir(parents=True, exist_ok=True)
    home.chmod(0o755)
    target = home / ".mlchat.toml"
    target.write_text('model = "m"\n')
    target.chmod(0o644)
    cfg().parent.mkdir(parents=True, mode=0o700)
    cfg().symlink_to(target)
    r = invoke(["key", "set"], stdin=f"{FAKE_KEY}\n".encode())
    assert r.code == 0, r.err
    assert cfg().is_symlink()
    assert f'api_key = "{FAKE_KEY}"' in target.read_text()
    assert mode(target) == 0o600
    assert mode(home) == 0o755
    assert sorted(os.listdir(home)) == [".mlchat.toml"]


def test_key_set_through_a_symlink_into_an_open_directory_is_refused(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    target = shared / "mlchat.toml"
    target.write_text('model = "m"\n')
    cfg().parent.mkdir(parents=True, mode=0o700)
    cfg().symlink_to(target)
    r = invoke(["key", "set"], stdin=f"{FAKE_KEY}\n".encode())
    assert r.code == 3
    assert f"will not write {target}: directory {shared} is writable by group and others" in r.err
    assert target.read_text() == 'model = "m"\n'
    assert mode(shared) == 0o777
    assert FAKE_KEY not in r.err


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give a directory to another user")
def test_key_set_into_a_directory_of_another_user_is_refused() -> None:
    cfg().parent.mkdir(parents=True, mode=0o700)
    os.chown(cfg().parent, 4321, -1)
    r = invoke(["key", "set"], stdin=f"{FAKE_KEY}\n".encode())
    assert r.code == 3
    assert "is owned by another user (uid 4321)" in r.err
    assert not cfg().exists()


@pytest.mark.parametrize(
    "args",
    [["mcp", "list"], ["mcp", "tools", "planted"], ["ask", "--mcp", "planted", "-y", "hi"]],
)
def test_a_planted_mcp_server_is_refused(
    emulator: Emulator, tmp_path: Path, args: list[str]
) -> None:
    """An [mcp.NAME] table names a command to run (and env or headers that can carry the key,
    and `trust`): from a file others can write it is refused before anything starts."""
    ran = tmp_path / "ran"
    write_cfg(f'[mcp.planted]\ncommand = ["sh", "-c", "touch {ran}"]\ntrust = true\n', 0o666)
    env = {"MODELSLAB_API_KEY": FAKE_KEY, "MODELSLAB_BASE_URL": emulator.base_url}
    r = invoke(args, env=env)
    assert r.code == 3, r.err
    assert "is writable by group and others (mode 666); refusing to use its mcp.planted" in r.err
    assert not ran.exists()
    assert emulator.requests == []


def test_showing_a_file_with_a_planted_mcp_server_warns(emulator: Emulator) -> None:
    write_cfg('[mcp.planted]\ncommand = ["true"]\n', 0o666)
    r = invoke(["config", "show"])
    assert r.code == 0, r.err
    assert "refusing to use its mcp.planted" in r.err
