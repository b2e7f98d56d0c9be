"""Shell completion: the generated scripts match the command tree, and the bash script completes in
a real bash (commands, subcommands, options, fixed values, files, cached model ids); Typer's own
completion (`--install-completion`) keeps working next to it."""

from __future__ import annotations

import importlib.util
import os
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from mlchat import models
from mlchat.types import ModelInfo

ROOT = Path(__file__).resolve().parent.parent
GENERATOR = ROOT / "completions" / "generate.py"
BASH_SCRIPT = ROOT / "completions" / "mlchat.bash"
BASE_URL = "https://modelslab.com/api/v7/llm"
IDS = [
    "minimax-minimax-m1",
    "meta-llama-3-8B-instruct",
    "Qwen/Qwen2.5-VL-72B-Instruct-together",
    "org:tagged-a",
    "org:tagged-b",
]
HOSTILE = "$(touch pwned)"


def load_generator() -> ModuleType:
    """completions/generate.py, imported as a module (it is a script, not part of the package)."""
    name = "mlchat_completions_generate"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, GENERATOR)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def gen() -> ModuleType:
    return load_generator()


@pytest.fixture(scope="module")
def tree(gen: ModuleType) -> Any:
    return gen.load_tree()


# -- drift ---------------------------------------------------------------------------------------


def test_generated_files_match_the_command_tree(gen: ModuleType, tree: Any) -> None:
    expected = gen.render(tree)
    stale = [str(p.relative_to(ROOT)) for p in gen.stale(expected)]
    assert not stale, (
        f"{', '.join(stale)} no longer match the commands and options of mlchat: "
        "run `python completions/generate.py` and commit the result"
    )


def test_check_mode_reports_drift_and_names_the_fix(
    gen: ModuleType, tree: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`--check` (for CI) fails on a stale file and says how to fix it; it never writes."""
    copy = tmp_path / "mlchat.bash"
    copy.write_text("# edited by hand\n")
    expected = {copy: gen.bash(tree)}
    monkeypatch.setattr(gen, "ROOT", tmp_path)
    monkeypatch.setattr(gen, "render", lambda: expected)
    assert gen.main(["--check"]) == 1
    assert copy.read_text() == "# edited by hand\n"
    assert gen.main([]) == 0
    assert copy.read_text() == expected[copy]
    assert gen.main(["--check"]) == 0


def test_check_script_runs_from_anywhere() -> None:
    r = subprocess.run(
        [sys.executable, str(GENERATOR), "--check"],
        cwd="/",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr


def test_fixed_values_come_from_the_declarations(tree: Any) -> None:
    opts = {(c.name, n): o for c in tree.walk() for o in c.options for n in o.names}
    assert opts[("ask", "--api")].choices == ("openai", "anthropic")
    assert opts[("sessions export", "--format")].choices == ("md", "json")
    assert opts[("ask", "-m")].value == opts[("tokens", "--model")].value == "model"
    for where in [("ask", "--tools"), ("ask", "--schema"), ("tokens", "--file")]:
        assert opts[where].value == "file", where
    assert opts[("sessions export", "-o")].value == "file"
    assert opts[("ask", "--json")].value == ""  # a flag: completion moves on after it
    assert opts[("ask", "--stop")].repeatable


# -- bash ----------------------------------------------------------------------------------------


def bash_env(**extra: str) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ["HOME"],
        "XDG_CACHE_HOME": os.environ["XDG_CACHE_HOME"],
        **extra,
    }


def complete(
    words: list[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    setup: str = "",
) -> list[str]:
    """COMPREPLY from `_mlchat` in a real bash, for the command line `words` with the cursor at
    the end of the last word (as bash splits it: `--api=x` is `--api`, `=`, `x`)."""
    line = " ".join(words)
    script = "\n".join(
        [
            f"source {shlex.quote(str(BASH_SCRIPT))}",
            setup,
            f"COMP_WORDS=({' '.join(shlex.quote(w) for w in words)})",
            f"COMP_CWORD={len(words) - 1}",
            f"COMP_LINE={shlex.quote(line)}",
            "COMP_POINT=${#COMP_LINE}",
            f"_mlchat mlchat {shlex.quote(words[-1])} {shlex.quote(words[-2])}",
            'printf "%s\\n" "${COMPREPLY[@]}"',
        ]
    )
    r = subprocess.run(
        ["bash", "--norc", "--noprofile", "-c", script],
        env=dict(env or bash_env()),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert r.returncode == 0 and r.stderr == "", r.stderr
    return [line for line in r.stdout.splitlines() if line]


@pytest.mark.parametrize(
    ("words", "expected"),
    [
        (["mlchat", "a"], ["ask"]),
        (["mlchat", "ask", "--api", ""], ["openai", "anthropic"]),
        (["mlchat", "ask", "--api", "an"], ["anthropic"]),
        (["mlchat", "ask", "--api", "=", ""], ["openai", "anthropic"]),  # --api=
        (["mlchat", "ask", "--api", "=", "o"], ["openai"]),  # --api=o
        (["mlchat", "sessions", ""], ["list", "show", "export", "rm", "rename", "search"]),
        (["mlchat", "sessions", "export", "a1b2", "--format", ""], ["md", "json"]),
        (["mlchat", "sessions", "export", "-f", "j"], ["json"]),
        (["mlchat", "key", ""], ["set", "status", "remove"]),
        (["mlchat", "config", "s"], ["show", "set"]),
        (["mlchat", "--debug", "ask", "--no-"], ["--no-stream", "--no-log"]),
        (["mlchat", "ask", "-t", "0.2", "--js"], ["--json", "--json-mode"]),
        (["mlchat", "--v"], ["--version"]),
        # the word after -s is its value, not an option to complete
        (["mlchat", "ask", "-s", "--api", ""], []),
        # after a prompt there are no subcommands; a leaf command has none
        (["mlchat", "ask", "hello", ""], []),
        (["mlchat", "models", ""], []),
        # an unknown word is an argument: no subcommand after it
        (["mlchat", "nonsense", ""], []),
    ],
)
def test_bash_completes(words: list[str], expected: list[str]) -> None:
    assert complete(words) == expected


def test_bash_offers_every_option_of_every_command(tree: Any) -> None:
    for cmd in tree.walk():
        got = complete(["mlchat", *cmd.path, "-"])
        assert sorted(got) == sorted(n for o in cmd.options for n in o.names), cmd.name


def test_bash_completes_file_names_for_file_options(tmp_path: Path) -> None:
    (tmp_path / "notes.md").write_text("x")
    (tmp_path / "tools.toml").write_text("x")
    (tmp_path / "sub dir").mkdir()
    for words, expected in [
        (["mlchat", "ask", "--tools", "to"], ["tools.toml"]),
        (["mlchat", "ask", "--schema", "no"], ["notes.md"]),
        (["mlchat", "tokens", "-f", "no"], ["notes.md"]),
        (["mlchat", "tokens", "--file", "su"], ["sub dir"]),
        (["mlchat", "sessions", "export", "-o", "n"], ["notes.md"]),
    ]:
        assert complete(words, cwd=tmp_path) == expected, words


def save_cache(ids: list[str], path: Path | None = None) -> None:
    """The model list as `mlchat models` caches it (the real writer, models.save)."""
    models.save([ModelInfo(id=i) for i in ids], BASE_URL, path=path)


def test_bash_completes_model_ids_from_the_cache_only(tmp_path: Path) -> None:
    assert complete(["mlchat", "ask", "-m", ""]) == []  # no cache yet: nothing, and no error
    save_cache([*IDS, HOSTILE, "has space"])
    ids = sorted(IDS, key=str.casefold)
    assert complete(["mlchat", "ask", "-m", ""]) == ids
    assert complete(["mlchat", "ask", "--model", "qw"]) == [IDS[2]]  # ignoring case, as -m does
    assert complete(["mlchat", "tokens", "-m", "meta"]) == [IDS[1]]
    assert complete(["mlchat", "ask", "--model", "=", "min"]) == [IDS[0]]  # --model=min
    # an id with ':' is split by COMP_WORDBREAKS; readline replaces only what follows the colon
    assert complete(["mlchat", "ask", "-m", "org", ":", "tagged-"]) == ["tagged-a", "tagged-b"]
    # ids a shell cannot take as typed are never offered, and never evaluated
    assert not (tmp_path / "pwned").exists()
    listed = (Path(os.environ["XDG_CACHE_HOME"]) / "mlchat" / models.IDS_FILE).read_text()
    assert listed == "".join(f"{i}\n" for i in ids)


def test_bash_reads_the_macos_cache_directory(tmp_path: Path) -> None:
    home = tmp_path / "mac-home"
    save_cache(["mac-model"], home / "Library" / "Caches" / "mlchat" / models.CACHE_FILE)
    env = bash_env(HOME=str(home))
    got = complete(["mlchat", "ask", "-m", ""], env=env, setup="OSTYPE=darwin23")
    assert got == ["mac-model"]


def test_bash_uses_the_default_cache_directory_without_xdg(tmp_path: Path) -> None:
    home = tmp_path / "linux-home"
    save_cache(["linux-model"], home / ".cache" / "mlchat" / models.CACHE_FILE)
    env = {k: v for k, v in bash_env(HOME=str(home)).items() if k != "XDG_CACHE_HOME"}
    assert complete(["mlchat", "ask", "-m", "l"], env=env) == ["linux-model"]


def test_bash_completes_role_and_profile_names_and_a_profiles_models(tmp_path: Path) -> None:
    from mlchat import config, roles

    env = bash_env(XDG_CONFIG_HOME=os.environ["XDG_CONFIG_HOME"])
    assert complete(["mlchat", "ask", "-r", ""], env=env) == ["code", "explain", "shell"]
    (roles.roles_dir()).mkdir(parents=True)
    (roles.roles_dir() / "review.toml").write_text('system = "x"\n')
    (roles.roles_dir() / "$(touch pwned).toml").write_text("")
    assert complete(["mlchat", "chat", "--role", "re"], env=env) == ["review"]
    assert complete(["mlchat", "ask", "--profile", ""], env=env) == ["default"]
    config.config_path().write_text(
        "[profiles.local]\nbase_url = 'http://x'\n[profiles.local.aliases]\n[profiles.work]\n"
    )
    assert complete(["mlchat", "models", "--profile", ""], env=env) == ["default", "local", "work"]
    save_cache(["top-model"])
    save_cache(["local-model"], models.cache_path("local"))
    assert complete(["mlchat", "ask", "-m", ""], env=env) == ["top-model"]
    local = {**env, "MLCHAT_PROFILE": "local"}
    assert complete(["mlchat", "ask", "-m", ""], env=local) == ["local-model"]
    assert not (tmp_path / "pwned").exists() and not Path("pwned").exists()


# -- zsh and fish: a syntax check where the shell exists -----------------------------------------


@pytest.mark.parametrize(("shell", "script"), [("zsh", "mlchat.zsh"), ("fish", "mlchat.fish")])
def test_script_parses(shell: str, script: str) -> None:
    exe = shutil.which(shell)
    if exe is None:
        pytest.skip(f"{shell} is not installed")
    r = subprocess.run(
        [exe, "-n", str(ROOT / "completions" / script)], capture_output=True, text=True, timeout=20
    )
    assert r.returncode == 0, r.stderr


def test_zsh_and_fish_scripts_cover_every_command_and_option(tree: Any) -> None:
    """Without zsh or fish to run them, check at least that each names every command, option
    and fixed value, and reads the model ids from the same file as bash."""
    zsh = (ROOT / "completions" / "mlchat.zsh").read_text()
    fish = (ROOT / "completions" / "mlchat.fish").read_text()
    for cmd in tree.walk()[1:]:
        assert f"'{cmd.path[-1]}:" in zsh and f"{cmd.path[-1]}) _mlchat_" in zsh
        assert f"-a {cmd.path[-1]} -d " in fish
        for o in cmd.options:
            for name in o.longs:
                assert name in zsh and f"-l {name[2:]}" in fish, (cmd.name, name)
    assert "(openai anthropic)" in zsh and "-x -a 'openai anthropic'" in fish
    assert "(md json)" in zsh and "-x -a 'md json'" in fish
    for text in (zsh, fish):
        assert "$dir/models.txt" in text
        assert "Library/Caches/mlchat" in text and "XDG_CACHE_HOME" in text


# -- Typer's own completion ----------------------------------------------------------------------


def shim(tmp_path: Path) -> Path:
    """An `mlchat` on PATH that runs this checkout (the venv's entry point may be another one)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    exe = bin_dir / "mlchat"
    exe.write_text(
        f"#!/bin/sh\nPYTHONPATH={shlex.quote(str(ROOT))} exec {shlex.quote(sys.executable)} "
        '-m mlchat "$@"\n'
    )
    exe.chmod(0o755)
    return bin_dir


def test_install_completion_still_works(tmp_path: Path) -> None:
    """`mlchat --install-completion` (Typer's, run from bash) installs a script that asks mlchat
    itself, and that script completes fixed values and cached model ids too."""
    save_cache(IDS)
    bin_dir = shim(tmp_path)
    env = bash_env(PATH=f"{bin_dir}:{os.environ.get('PATH', '')}")
    # `; exit` keeps bash as the parent of mlchat, so Typer detects the shell as a user's would
    r = subprocess.run(
        ["bash", "--norc", "--noprofile", "-c", "mlchat --install-completion; exit $?"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    home = Path(os.environ["HOME"])
    installed = home / ".bash_completions" / "mlchat.sh"
    assert installed.is_file()
    assert str(installed) in (home / ".bashrc").read_text()
    script = f"""
source {shlex.quote(str(installed))}
for line in 'mlchat ask --api ' 'mlchat ask -m Qw' 'mlchat sess'; do
    read -ra COMP_WORDS <<<"$line"
    [[ $line == *' ' ]] && COMP_WORDS+=('')
    COMP_CWORD=$((${{#COMP_WORDS[@]}} - 1))
    _mlchat_completion mlchat
    echo "${{COMPREPLY[*]}}"
done
"""
    r = subprocess.run(
        ["bash", "--norc", "--noprofile", "-c", script],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.stdout.splitlines() == ["openai anthropic", IDS[2], "sessions"], r.stderr


@pytest.mark.skipif(shutil.which("fish") is None, reason="fish is not installed")
def test_the_fish_script_completes_in_a_real_fish(tmp_path: Path) -> None:
    cache = tmp_path / "cache" / "mlchat"
    cache.mkdir(parents=True)
    (cache / models.IDS_FILE).write_text(
        "minimax-minimax-m1\nQwen/Qwen2.5-VL-72B-Instruct-together\n"
    )
    script = ROOT / "completions" / "mlchat.fish"

    def complete(line: str) -> list[str]:
        proc = subprocess.run(
            ["fish", "--no-config", "-c", f"source {script}; complete -C {shlex.quote(line)}"],
            env={
                "PATH": os.environ["PATH"],
                "HOME": str(tmp_path),
                "XDG_CACHE_HOME": str(tmp_path / "cache"),
            },
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert proc.returncode == 0, proc.stderr
        return [row.split("\t")[0] for row in proc.stdout.splitlines()]

    assert complete("mlchat a") == ["ask"]
    assert sorted(complete("mlchat ask --api ")) == ["anthropic", "openai"]
    assert "minimax-minimax-m1" in complete("mlchat ask -m ")
    assert "export" in complete("mlchat sessions ")


@pytest.mark.skipif(
    shutil.which("zsh") is None or shutil.which("tmux") is None, reason="needs zsh and tmux"
)
def test_the_zsh_script_completes_in_an_interactive_zsh(tmp_path: Path) -> None:
    """As a person uses it: the script on $fpath as _mlchat, compinit, and Tab pressed in a real
    interactive zsh on a terminal (tmux), the screen read back."""
    from tests.tmux_term import Tmux

    functions = tmp_path / "zfunc"
    functions.mkdir()
    shutil.copy(ROOT / "completions" / "mlchat.zsh", functions / "_mlchat")
    cache = tmp_path / "cache" / "mlchat"
    cache.mkdir(parents=True)
    (cache / models.IDS_FILE).write_text("minimax-minimax-m1\nQwen/Qwen2.5-VL-72B-Instruct\n")
    env = {"HOME": str(tmp_path), "XDG_CACHE_HOME": str(tmp_path / "cache"), "TERM": "xterm"}
    term = Tmux(tmp_path, ["zsh", "-f", "-i"], env=env)
    try:
        term.type(f"fpath=({functions} $fpath); autoload -Uz compinit; compinit -u; PS1='> '")
        term.keys("Enter")
        term.type("clear")
        term.keys("Enter")
        term.wait_for("> ")

        def tab(line: str, expect: str) -> str:
            term.type(line)
            term.keys("Tab")
            screen = term.wait_for(expect)
            term.keys("C-c")  # drop the line, and any listing, for the next one
            term.wait_for("> ")
            term.type("clear")
            term.keys("Enter")
            time.sleep(0.2)
            return screen

        assert "> mlchat ask " in tab("mlchat a", "mlchat ask")  # a unique command is inserted
        screen = tab("mlchat ask --api ", "anthropic")
        assert "openai" in screen
        screen = tab("mlchat sessions ", "export")
        assert "search" in screen and "rename" in screen
        assert "> mlchat ask -m Qwen/Qwen2.5-VL-72B-Instruct" in tab(
            "mlchat ask -m Qw", "Qwen/Qwen2.5-VL-72B-Instruct"
        )
    finally:
        term.tmux("kill-server")
