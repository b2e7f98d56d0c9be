"""`mlchat key set | status | remove` and the first run of `ask`, through the CLI with an injected
Runtime (the terminal's hidden prompt is `Runtime.read_secret`), against the emulator."""

from __future__ import annotations

import io
import os
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from mlchat import config
from mlchat.runtime import Runtime
from tests.conftest import FAKE_KEY, Run, invoke
from tests.emulator import Emulator

OTHER_KEY = "ml-other-KEY-9876543210zyxw"


def cfg() -> Path:
    return config.config_path()


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def write_cfg(text: str, file_mode: int = 0o600) -> Path:
    path = cfg()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(file_mode)
    return path


class Terminal:
    """A terminal session: stdin and stderr are ttys and the hidden prompt answers from a script
    (a string, or an exception such as EOFError for Ctrl-D)."""

    def __init__(self, *answers: str | BaseException) -> None:
        self.answers = list(answers)
        self.prompts: list[str] = []

    def read_secret(self, prompt: str) -> str:
        self.prompts.append(prompt)
        answer = self.answers.pop(0)
        if isinstance(answer, BaseException):
            raise answer
        return answer

    def run(self, args: list[str], env: dict[str, str] | None = None) -> Run:
        out, err = io.StringIO(), io.StringIO()
        rt = Runtime(
            env=env or {},
            stdin=io.BytesIO(b""),
            stdout=out,
            stderr=err,
            stdin_tty=True,
            stdout_tty=False,
            stderr_tty=True,
            sleep=lambda _s: None,
            read_secret=self.read_secret,
        )
        r = invoke(args, rt=rt)
        return Run(r.code, out.getvalue() + r.out, err.getvalue() + r.err, rt)


def no_key_anywhere(r: Run) -> None:
    text = r.out + r.err
    assert FAKE_KEY not in text and FAKE_KEY[:-4] not in text


# ----------------------------------------------------------------------------- key set


def test_key_set_from_a_pipe() -> None:
    r = invoke(["key", "set"], stdin=f"  {FAKE_KEY}  \r\n".encode())
    assert r.code == 0, r.err
    assert r.out == ""
    assert f"key …cdef saved to {cfg()} (mode 600)" in r.err
    assert cfg().read_text() == f'api_key = "{FAKE_KEY}"\n'
    assert mode(cfg()) == 0o600 and mode(cfg().parent) == 0o700
    no_key_anywhere(r)


def test_key_set_on_a_terminal_reads_the_hidden_prompt() -> None:
    term = Terminal(FAKE_KEY + "\n")
    r = term.run(["key", "set"])
    assert r.code == 0, r.err
    assert term.prompts == ["API key (input hidden): "]
    assert config.DASHBOARD_URL in r.err
    assert config.load_file() == {"api_key": FAKE_KEY}
    no_key_anywhere(r)


def test_key_set_keeps_the_rest_of_the_file_and_repairs_its_mode() -> None:
    text = (
        '# my settings\nmodel = "m"   # fav\napi_key = "old-key-000011112222"\n\n'
        '[aliases]\nx = "y"\n'
    )
    write_cfg(text, 0o644)
    r = invoke(["key", "set"], stdin=FAKE_KEY.encode())
    assert r.code == 0, r.err
    assert cfg().read_text() == text.replace("old-key-000011112222", FAKE_KEY)
    assert mode(cfg()) == 0o600
    # The write closed the file, so the "run chmod 600" warning would be stale: a note instead.
    assert f"{cfg()} was readable by others (mode 644); it is now 600" in r.err
    assert "chmod" not in r.err
    assert "old-key-000011112222" not in r.err
    no_key_anywhere(r)


def test_key_set_refused_keeps_the_mode_warning() -> None:
    write_cfg(f'api_key = "{OTHER_KEY}"\n', 0o604)
    r = invoke(["key", "set"], stdin=b"")
    assert r.code == 2
    assert f"(mode 604); run: chmod 600 {cfg()}" in r.err
    assert mode(cfg()) == 0o604


def test_key_set_warns_when_the_environment_overrides_it() -> None:
    r = invoke(["key", "set"], stdin=FAKE_KEY.encode(), env={"MODELSLAB_API_KEY": OTHER_KEY})
    assert r.code == 0
    assert "MODELSLAB_API_KEY is set in the environment and takes precedence" in r.err
    assert OTHER_KEY not in r.err
    no_key_anywhere(r)


@pytest.mark.parametrize(
    ("stdin", "message"),
    [
        (b"", "no key on stdin"),
        (b"  \n\n", "no key on stdin"),
        (FAKE_KEY[:9].encode() + b"\x01" + FAKE_KEY[9:].encode(), "a control character"),
        (FAKE_KEY[:9].encode() + b"\x1b[2J" + FAKE_KEY[9:].encode(), "a control character"),
        (FAKE_KEY[:9].encode() + "ü".encode() + FAKE_KEY[9:].encode(), "a non-ASCII character"),
        (FAKE_KEY[:9].encode() + b"\xff" + FAKE_KEY[9:].encode(), "non-ASCII"),
        (FAKE_KEY[:9].encode() + b" " + FAKE_KEY[9:].encode(), "a space"),
        (f"{FAKE_KEY}\n{FAKE_KEY}\n".encode(), "stdin has 2 lines"),
        (b"x" * 70000, "too long"),
    ],
)
def test_key_set_rejects_bad_input_and_writes_nothing(stdin: bytes, message: str) -> None:
    write_cfg('model = "m"\n')
    r = invoke(["key", "set"], stdin=stdin)
    assert r.code == 2
    assert r.out == ""
    assert r.err.startswith("mlchat: error: ") and message in r.err
    assert len(r.err.splitlines()) <= 2
    assert cfg().read_text() == 'model = "m"\n'
    no_key_anywhere(r)


def test_a_key_with_a_space_is_explained_without_contradiction() -> None:
    """A space is printable ASCII: the message says what a key is, and asks what was pasted."""
    r = invoke(["key", "set"], stdin=b"key with space")
    assert r.code == 2
    first, hint = r.err.splitlines()
    assert first == (
        "mlchat: error: the API key contains a space (at position 4); a key is one word of "
        "letters, digits and punctuation"
    )
    assert hint == "hint: was more than the key pasted or piped in?"
    assert "printable ASCII" not in r.err


@pytest.mark.parametrize("answer", ["", "   ", EOFError()])
def test_key_set_on_a_terminal_with_nothing_typed(answer: str | BaseException) -> None:
    r = Terminal(answer).run(["key", "set"])
    assert r.code == 2
    assert "no key entered; nothing was saved" in r.err
    assert not cfg().exists()


def test_key_set_on_a_terminal_rejects_a_control_character() -> None:
    r = Terminal(FAKE_KEY[:5] + "\x16" + FAKE_KEY[5:]).run(["key", "set"])
    assert r.code == 2 and "a control character (at position 6)" in r.err
    assert not cfg().exists()
    no_key_anywhere(r)


def test_key_set_on_a_corrupt_file_fails_before_asking() -> None:
    text = f'api_key = "{FAKE_KEY}\nmodel = "x"\n'
    write_cfg(text)
    term = Terminal(OTHER_KEY)
    r = term.run(["--debug", "key", "set"])
    assert r.code == 3
    assert term.prompts == []
    assert f"{cfg()} is not valid TOML (at line" in r.err
    assert cfg().read_text() == text
    no_key_anywhere(r)


def test_key_set_write_failure_keeps_the_old_file() -> None:
    write_cfg('api_key = "old-key-000011112222"\n')
    (cfg().parent / f".config.toml.{os.getpid()}.tmp").mkdir()
    r = invoke(["--debug", "key", "set"], stdin=FAKE_KEY.encode())
    assert r.code == 3
    assert f"cannot write {cfg()}" in r.err and "the file was not changed" in r.err
    assert cfg().read_text() == 'api_key = "old-key-000011112222"\n'
    assert "old-key-000011112222" not in r.err
    no_key_anywhere(r)


# ----------------------------------------------------------------------------- key status


def test_status_with_the_key_in_the_file() -> None:
    write_cfg(f'api_key = "{FAKE_KEY}"\n')
    r = invoke(["key", "status"])
    assert r.code == 0, r.err
    assert r.out == (
        f"key:     …cdef\nsource:  config file\nfile:    {cfg()} (mode 600, holds the key)\n"
    )
    assert r.err == ""


def test_status_with_the_environment_overriding_the_file() -> None:
    write_cfg(f'api_key = "{OTHER_KEY}"\n')
    r = invoke(["key", "status"], env={"MODELSLAB_API_KEY": FAKE_KEY})
    assert r.code == 0
    assert r.out.splitlines() == [
        "key:     …cdef",
        "source:  environment (MODELSLAB_API_KEY)",
        f"file:    {cfg()} (mode 600, holds key …wxyz, overridden by MODELSLAB_API_KEY)".replace(
            "…wxyz", "…" + OTHER_KEY[-4:]
        ),
    ]
    assert OTHER_KEY not in r.out + r.err
    no_key_anywhere(r)


def test_status_from_the_environment_without_a_file() -> None:
    r = invoke(["key", "status"], env={"MODELSLAB_API_KEY": FAKE_KEY})
    assert r.code == 0
    assert r.out.splitlines()[1:] == [
        "source:  environment (MODELSLAB_API_KEY)",
        f"file:    {cfg()} (does not exist)",
    ]


def test_status_without_a_key_exits_3() -> None:
    write_cfg('model = "m"\n')
    r = invoke(["key", "status"])
    assert r.code == 3
    assert r.out == f"key:     none\nfile:    {cfg()} (mode 600, no key)\n"
    assert "no API key: set MODELSLAB_API_KEY or run `mlchat key set`" in r.err


def test_status_warns_about_a_readable_key_file_once() -> None:
    write_cfg(f'api_key = "{FAKE_KEY}"\n', 0o644)
    r = invoke(["key", "status"])
    assert r.code == 0
    assert "mode 644" in r.out
    assert r.err.count(f"run: chmod 600 {cfg()}") == 1
    no_key_anywhere(r)


# ----------------------------------------------------------------------------- key remove


def test_remove_keeps_everything_else() -> None:
    text = f'# top\nmodel = "m" # c\napi_key = "{FAKE_KEY}"  # my key\n\n[aliases]\nx = "y"\n'
    write_cfg(text)
    r = invoke(["key", "remove"])
    assert r.code == 0, r.err
    assert cfg().read_text() == '# top\nmodel = "m" # c\n\n[aliases]\nx = "y"\n'
    assert f"key removed from {cfg()}" in r.err
    assert mode(cfg()) == 0o600
    no_key_anywhere(r)
    r = invoke(["key", "remove"], env={"MODELSLAB_API_KEY": FAKE_KEY})
    assert r.code == 0
    assert f"no key in {cfg()}" in r.err and "MODELSLAB_API_KEY is still set" in r.err
    no_key_anywhere(r)


# ----------------------------------------------------------------------------- first run


def test_first_run_on_a_terminal_asks_once_saves_and_goes_on(emulator: Emulator) -> None:
    term = Terminal(FAKE_KEY)
    r = term.run(["ask", "hi"], env={"MODELSLAB_BASE_URL": emulator.base_url})
    assert r.code == 0, r.err
    assert r.out == "echo: hi\n"
    assert term.prompts == ["API key (input hidden): "]
    assert config.DASHBOARD_URL in r.err and f"saved to {cfg()}" in r.err
    assert emulator.requests[0].headers["authorization"] == f"Bearer {FAKE_KEY}"
    assert config.load_file() == {"api_key": FAKE_KEY} and mode(cfg()) == 0o600
    no_key_anywhere(r)
    # The second run finds the key and asks nothing.
    term = Terminal()
    r = term.run(["ask", "again"], env={"MODELSLAB_BASE_URL": emulator.base_url})
    assert r.code == 0 and r.out == "echo: again\n" and term.prompts == []


def test_first_run_keeps_the_rest_of_an_existing_file(emulator: Emulator) -> None:
    write_cfg(f'# mine\nbase_url = "{emulator.base_url}"\n')
    r = Terminal(FAKE_KEY).run(["ask", "hi"])
    assert r.code == 0, r.err
    assert (
        cfg().read_text() == f'# mine\nbase_url = "{emulator.base_url}"\napi_key = "{FAKE_KEY}"\n'
    )


@pytest.mark.parametrize(
    ("stdin_tty", "stderr_tty"), [(False, False), (False, True), (True, False)]
)
def test_without_a_terminal_no_key_exits_3_without_a_request(
    emulator: Emulator, stdin_tty: bool, stderr_tty: bool
) -> None:
    r = invoke(
        ["ask", "hi"],
        env={"MODELSLAB_BASE_URL": emulator.base_url},
        stdin_tty=stdin_tty,
        stderr_tty=stderr_tty,
    )
    assert r.code == 3
    assert r.out == ""
    assert r.err.splitlines() == [
        "mlchat: error: no API key: set MODELSLAB_API_KEY or run `mlchat key set`",
        f"hint: get a key at {config.DASHBOARD_URL}",
    ]
    assert emulator.requests == []
    assert not cfg().exists()


@pytest.mark.parametrize("answer", ["", EOFError()])
def test_first_run_with_nothing_typed_exits_3_without_a_request(
    emulator: Emulator, answer: str | BaseException
) -> None:
    r = Terminal(answer).run(["ask", "hi"], env={"MODELSLAB_BASE_URL": emulator.base_url})
    assert r.code == 3
    assert "no API key" in r.err
    assert emulator.requests == [] and not cfg().exists()


def test_first_run_ctrl_c_at_the_prompt_exits_130(emulator: Emulator) -> None:
    r = Terminal(KeyboardInterrupt()).run(
        ["ask", "hi"], env={"MODELSLAB_BASE_URL": emulator.base_url}
    )
    assert r.code == 130
    assert emulator.requests == [] and not cfg().exists()


def test_first_run_that_cannot_save_still_answers(emulator: Emulator) -> None:
    cfg().parent.mkdir(parents=True)
    (cfg().parent / f".config.toml.{os.getpid()}.tmp").mkdir()
    r = Terminal(FAKE_KEY).run(["ask", "hi"], env={"MODELSLAB_BASE_URL": emulator.base_url})
    assert r.code == 0, r.err
    assert r.out == "echo: hi\n"
    assert "the key is used for this run only" in r.err
    assert not cfg().exists()
    no_key_anywhere(r)


# ----------------------------------------------------------------------------- the key never shows


Scenario = Callable[[Emulator], Run]


def _ask_401(emu: Emulator) -> Run:
    from tests.emulator import Reply

    emu.script(Reply.error(401, {"status": "error", "message": f"Invalid API key {FAKE_KEY}"}))
    return invoke(["--debug", "ask", "hi"], env={"MODELSLAB_BASE_URL": emu.base_url})


SCENARIOS: dict[str, tuple[str, Scenario]] = {
    "ask ok": (
        "file",
        lambda emu: invoke(["--debug", "ask", "hi"], env={"MODELSLAB_BASE_URL": emu.base_url}),
    ),
    "ask 401 quoting the key": ("file", _ask_401),
    "ask bad flag": ("file", lambda emu: invoke(["--debug", "ask", "-t", "9", "hi"])),
    "ask corrupt file": ("corrupt", lambda emu: invoke(["--debug", "ask", "hi"])),
    "ask bad value in file": ("bad-value", lambda emu: invoke(["--debug", "ask", "hi"])),
    "ask env key": (
        "none",
        lambda emu: invoke(
            ["--debug", "ask", "hi"],
            env={"MODELSLAB_BASE_URL": emu.base_url, "MODELSLAB_API_KEY": FAKE_KEY},
        ),
    ),
    "key set": ("none", lambda emu: invoke(["--debug", "key", "set"], stdin=FAKE_KEY.encode())),
    "key set bad": (
        "none",
        lambda emu: invoke(["--debug", "key", "set"], stdin=(FAKE_KEY + "\x07").encode()),
    ),
    "key set corrupt": (
        "corrupt",
        lambda emu: invoke(["--debug", "key", "set"], stdin=FAKE_KEY.encode()),
    ),
    "key status": ("file", lambda emu: invoke(["--debug", "key", "status"])),
    "key status env": (
        "none",
        lambda emu: invoke(["--debug", "key", "status"], env={"MODELSLAB_API_KEY": FAKE_KEY}),
    ),
    "key status corrupt": ("corrupt", lambda emu: invoke(["--debug", "key", "status"])),
    "key remove": ("file", lambda emu: invoke(["--debug", "key", "remove"])),
    "key remove corrupt": ("corrupt", lambda emu: invoke(["--debug", "key", "remove"])),
    "config show": ("file", lambda emu: invoke(["--debug", "config", "show"])),
    "config show corrupt": ("corrupt", lambda emu: invoke(["--debug", "config", "show"])),
    "config get api_key": ("file", lambda emu: invoke(["--debug", "config", "get", "api_key"])),
    "config set": ("file", lambda emu: invoke(["--debug", "config", "set", "model", "m"])),
    "config set api_key": (
        "file",
        lambda emu: invoke(["--debug", "config", "set", "api_key", FAKE_KEY]),
    ),
    "config set bad": ("file", lambda emu: invoke(["--debug", "config", "set", "top_p", "9"])),
    "config set corrupt": (
        "corrupt",
        lambda emu: invoke(["--debug", "config", "set", "model", "m"]),
    ),
    "config unset": ("file", lambda emu: invoke(["--debug", "config", "unset", "api_key"])),
    "config path": ("file", lambda emu: invoke(["--debug", "config", "path"])),
}


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_the_key_never_appears_in_any_output(emulator: Emulator, name: str) -> None:
    state, scenario = SCENARIOS[name]
    if state == "file":
        write_cfg(f'api_key = "{FAKE_KEY}"\nbase_url = "{emulator.base_url}"\n', 0o644)
    elif state == "corrupt":
        write_cfg(f'api_key = "{FAKE_KEY}"\nbase_url = {FAKE_KEY}\n')
    elif state == "bad-value":
        write_cfg(f'api_key = "{FAKE_KEY}"\ntemperature = 9\n')
    r = scenario(emulator)
    assert r.out + r.err, "every scenario says something"
    assert FAKE_KEY not in r.out and FAKE_KEY not in r.err
    assert FAKE_KEY[:-4] not in r.out + r.err
    if state == "corrupt":
        assert r.code == 3 and "is not valid TOML (at line 2, column 12)" in r.err
        assert "Traceback" in r.err  # --debug shows the traceback, still without the key


# ----------------------------------------------------------------------------- the real entry point


def _read_until(fd: int, marker: bytes, seen: bytearray, deadline: float) -> bool:
    """Read the terminal until `marker` shows (True) or the child has gone (False)."""
    import select
    import time

    while marker not in seen:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"timed out waiting for {marker!r}; saw {bytes(seen)!r}")
        ready, _, _ = select.select([fd], [], [], left)
        if not ready:
            continue
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # EIO: the child closed the terminal
            return False
        if not chunk:
            return False
        seen.extend(chunk)
    return True


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs a pseudo-terminal")
def test_first_run_in_a_real_terminal_hides_the_key(emulator: Emulator) -> None:
    import pty
    import sys
    import time

    from tests.test_e2e import child_env, mlchat

    env = child_env()
    env["MODELSLAB_BASE_URL"] = emulator.base_url
    pid, fd = pty.fork()
    if pid == 0:  # the child: the pseudo-terminal is its controlling terminal
        try:
            os.execve(sys.executable, mlchat("ask", "--plain", "hi"), env)
        finally:
            os._exit(127)
    seen = bytearray()
    deadline = time.monotonic() + 30
    try:
        assert _read_until(fd, b"API key (input hidden): ", seen, deadline), bytes(seen)
        os.write(fd, FAKE_KEY.encode() + b"\r")  # Enter, as a terminal sends it
        _read_until(fd, b"\x00never\x00", seen, deadline)
    finally:
        os.close(fd)
        _, status = os.waitpid(pid, 0)
    text = seen.decode(errors="replace")
    assert os.waitstatus_to_exitcode(status) == 0, text
    assert config.DASHBOARD_URL in text and "echo: hi" in text
    assert FAKE_KEY not in text and FAKE_KEY[:-4] not in text  # never echoed
    assert config.load_file() == {"api_key": FAKE_KEY} and mode(cfg()) == 0o600
    assert emulator.requests[0].headers["authorization"] == f"Bearer {FAKE_KEY}"


def test_key_set_and_status_through_the_real_entry_point(emulator: Emulator) -> None:
    import subprocess

    from tests.test_e2e import child_env, mlchat

    env = child_env()
    proc = subprocess.run(
        mlchat("key", "set"),
        env=env,
        input=FAKE_KEY.encode() + b"\n",
        capture_output=True,
        timeout=30,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == b"" and FAKE_KEY.encode() not in proc.stderr
    proc = subprocess.run(mlchat("key", "status"), env=env, capture_output=True, timeout=30)
    assert proc.returncode == 0
    assert proc.stdout.decode().splitlines()[:2] == ["key:     …cdef", "source:  config file"]
    # ...and without a terminal or a key, ask fails before any request.
    config.remove_key(cfg())
    proc = subprocess.run(
        mlchat("ask", "hi"),
        env={**env, "MODELSLAB_BASE_URL": emulator.base_url},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=30,
    )
    assert proc.returncode == 3 and b"MODELSLAB_API_KEY" in proc.stderr
    assert emulator.requests == []


# -- a rejected key: the hint names where it came from --------------------------------------------


@pytest.mark.parametrize(
    ("where", "hint"),
    [
        ("env", "hint: the rejected key is the one in MODELSLAB_API_KEY: correct it, or unset it"),
        ("file", "hint: the rejected key is the one in the config file: replace it with `mlchat"),
        ("cmd", "hint: the rejected key came from the command (printf"),
    ],
)
@pytest.mark.parametrize("command", [["ask", "hi"], ["models", "--refresh"]])
def test_a_rejected_key_names_its_source(
    emulator: Emulator, where: str, hint: str, command: list[str]
) -> None:
    from tests.emulator import Reply

    emulator.script(Reply.error(401, {"status": "error", "message": "Invalid API key"}))
    env = {"MODELSLAB_BASE_URL": emulator.base_url}
    if where == "env":
        env["MODELSLAB_API_KEY"] = FAKE_KEY
        write_cfg(f'api_key = "{OTHER_KEY}"\n')
    elif where == "file":
        write_cfg(f'api_key = "{FAKE_KEY}"\n')
    else:
        write_cfg(f'api_key_cmd = ["printf", "{FAKE_KEY}"]\n')
    r = invoke(command, env=env)
    assert r.code == 3, r.err
    lines = r.err.splitlines()
    assert lines[-2].startswith("mlchat: error: ") and "Invalid API key" in lines[-2]
    assert lines[-1].startswith(hint), lines
    assert FAKE_KEY not in r.err
    if where == "env":
        assert "set MODELSLAB_API_KEY" not in r.err
