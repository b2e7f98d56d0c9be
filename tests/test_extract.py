"""`ask -x/--extract` and `--extract-last`: stdout gets one fenced block's code, found by a
CommonMark parse (mlchat/fences.py); the reply goes to stderr; no block is exit 4."""

from __future__ import annotations

import json
import re

import pytest

from mlchat.fences import Fence, fences
from tests.conftest import invoke
from tests.emulator import Emulator, Reply

TWO = "First:\n\n```python\nprint(1)\n```\n\nThen:\n\n~~~sh\necho two\n~~~\n"
NESTED = "Here:\n\n````markdown\nA doc:\n\n```sh\nls\n```\n````\n\nand ```inline``` code.\n"
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
IN_LIST = "Steps:\n\n1. Install:\n\n   ```bash\n   pip install x\n     --user\n   ```\n2. Done.\n"


@pytest.mark.parametrize(
    ("text", "found"),
    [
        (TWO, [Fence("python", "print(1)"), Fence("sh", "echo two")]),
        (NESTED, [Fence("markdown", "A doc:\n\n```sh\nls\n```")]),
        # The list item's indentation is removed (CommonMark 4.5), deeper indents kept relative.
        (IN_LIST, [Fence("bash", "pip install x\n  --user")]),
        ("> ```\n> quoted\n> ```\n", [Fence("", "quoted")]),
        ("    indented code is not a fence\n", []),
        ("no code at all", []),
        ("```js\nleft open", [Fence("js", "left open")]),
        ("```\n```\n", [Fence("", "")]),
    ],
)
def test_fences(text: str, found: list[Fence]) -> None:
    assert fences(text) == found


def test_fence_language_and_shell() -> None:
    assert Fence("bash title=x", "ls").language == "bash"
    assert Fence("Bash", "ls").is_shell
    assert not Fence("python", "x").is_shell
    assert Fence("", "x").language is None


@pytest.mark.parametrize(
    ("flag", "text", "out"),
    [
        ("-x", TWO, "print(1)\n"),
        ("--extract", TWO, "print(1)\n"),
        ("--extract-last", TWO, "echo two\n"),
        ("-x", NESTED, "A doc:\n\n```sh\nls\n```\n"),
        ("--extract-last", NESTED, "A doc:\n\n```sh\nls\n```\n"),
        ("-x", IN_LIST, "pip install x\n  --user\n"),
    ],
)
def test_extract_prints_the_code_only(
    env: dict[str, str], emulator: Emulator, flag: str, text: str, out: str
) -> None:
    emulator.script(Reply.chat(text, chunk_size=4))
    r = invoke(["ask", flag, "hi"], env=env)
    assert r.code == 0, r.err
    assert r.out == out
    assert r.err == ""  # stderr is not a terminal: the reply is not shown


def test_extract_shows_the_reply_rendered_on_a_terminal_stderr(
    env: dict[str, str], emulator: Emulator
) -> None:
    emulator.script(Reply.chat(TWO))
    r = invoke(["ask", "-x", "hi"], env={**env, "TERM": "xterm"}, stderr_tty=True)
    assert r.code == 0, r.err
    assert r.out == "print(1)\n"
    shown = ANSI.sub("", r.err)
    assert "First:" in shown and "echo two" in shown
    assert "```" not in shown  # rendered, not raw


def test_extract_quiet_shows_nothing_on_stderr(env: dict[str, str], emulator: Emulator) -> None:
    emulator.script(Reply.chat(TWO))
    r = invoke(["ask", "-x", "--quiet", "hi"], env={**env, "TERM": "xterm"}, stderr_tty=True)
    assert (r.code, r.out, r.err) == (0, "print(1)\n", "")


def test_quiet_without_extract_is_a_usage_error(env: dict[str, str], emulator: Emulator) -> None:
    r = invoke(["ask", "--quiet", "hi"], env=env)
    assert r.code == 2
    assert "--quiet goes with -x" in r.err
    assert emulator.requests == []


def test_extract_with_schema_is_a_usage_error(env: dict[str, str], emulator: Emulator) -> None:
    r = invoke(["ask", "-x", "--json-mode", "hi"], env=env)
    assert r.code == 2
    assert "does not go with --json-mode" in r.err
    assert emulator.requests == []


@pytest.mark.parametrize("stderr_tty", [False, True])
def test_no_block_exits_4_with_the_reply_on_stderr(
    env: dict[str, str], emulator: Emulator, stderr_tty: bool
) -> None:
    emulator.script(Reply.chat("Just prose, no code."))
    r = invoke(["ask", "-x", "hi"], env={**env, "TERM": "xterm"}, stderr_tty=stderr_tty)
    assert r.code == 4
    assert r.out == ""
    shown = ANSI.sub("", r.err)
    assert "Just prose, no code." in shown
    if not stderr_tty:  # not rendered before: printed once, as it is
        assert r.err.count("Just prose, no code.") == 1
    errors = [line for line in shown.splitlines() if line.startswith("mlchat: error:")]
    assert errors == ["mlchat: error: the reply has no fenced code block (it is shown on stderr)"]


def test_no_block_with_quiet_still_shows_the_reply(env: dict[str, str], emulator: Emulator) -> None:
    emulator.script(Reply.chat("Just prose."))
    r = invoke(["ask", "-x", "--quiet", "hi"], env=env)
    assert r.code == 4
    assert "Just prose." in r.err


def test_extract_json_has_every_block(env: dict[str, str], emulator: Emulator) -> None:
    emulator.script(Reply.chat(TWO))
    r = invoke(["ask", "-x", "--json", "hi"], env=env)
    assert r.code == 0, r.err
    doc = json.loads(r.out)
    assert doc["text"] == TWO
    assert doc["code"] == [
        {"language": "python", "code": "print(1)"},
        {"language": "sh", "code": "echo two"},
    ]


def test_extract_json_without_a_block_is_exit_4(env: dict[str, str], emulator: Emulator) -> None:
    emulator.script(Reply.chat("prose"))
    r = invoke(["ask", "--extract-last", "--json", "hi"], env=env)
    assert r.code == 4
    assert json.loads(r.out)["code"] == []


def test_json_without_extract_has_no_code_field(env: dict[str, str], emulator: Emulator) -> None:
    emulator.script(Reply.chat(TWO))
    r = invoke(["ask", "--json", "hi"], env=env)
    assert "code" not in json.loads(r.out)


def test_extracted_code_is_escaped_only_on_a_terminal(
    env: dict[str, str], emulator: Emulator
) -> None:
    text = "```\necho \x1b[31mred\n```\n"
    emulator.script(Reply.chat(text), Reply.chat(text))
    piped = invoke(["ask", "-x", "hi"], env=env)
    assert piped.out == "echo \x1b[31mred\n"
    shown = invoke(["ask", "-x", "hi"], env=env, stdout_tty=True)
    assert shown.out == "echo ^[[31mred\n"
