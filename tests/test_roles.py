"""Roles: role files (valid, invalid with the line and the problem, replacing a built-in),
`{input}` and `-p` substitution, flags over roles, `mlchat roles`, `--save-role`, `/role` in the
REPL with Tab completion, and the role kept on resume. Against the emulator over real HTTP."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from mlchat import roles
from mlchat.errors import ConfigError, UsageError
from tests.conftest import invoke
from tests.emulator import Emulator


def write_role(name: str, text: str) -> Path:
    path = roles.roles_dir() / f"{name}.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def body(emulator: Emulator, n: int = -1) -> dict[str, Any]:
    requests = [r for r in emulator.requests if r.path in ("/chat/completions", "/v1/messages")]
    return requests[n].json  # type: ignore[no-any-return]


def system_of(doc: dict[str, Any]) -> str | None:
    if "system" in doc:
        return doc["system"]  # type: ignore[no-any-return]
    first = doc["messages"][0]
    return first["content"] if first["role"] == "system" else None


def last_user(doc: dict[str, Any]) -> str:
    return [m for m in doc["messages"] if m["role"] == "user"][-1]["content"]  # type: ignore[no-any-return]


TRANSLATE = """\
description = "translate"
system = "You translate into {lang}."
template = "Translate this:\\n{input}"
model = "role-model"
temperature = 0.2
max_tokens = 55
[defaults]
lang = "French"
"""


# -- role files --------------------------------------------------------------------------------


def test_a_role_file_is_read_whole() -> None:
    write_role("translate", TRANSLATE)
    role = roles.load("translate")
    assert role.system == "You translate into {lang}."
    assert role.model == "role-model"
    assert dict(role.params) == {"temperature": 0.2, "max_tokens": 55}
    assert role.defaults == {"lang": "French"}
    assert role.source == "file"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (
            'system = "ok"\ntemperture = 0.3\n',
            ":2: unknown key 'temperture' (did you mean temperature?)",
        ),
        ('system = "ok"\n\n\ntemperature = 7\n', ":4: temperature must be between 0 and 2"),
        ('model = "has space"\n', ":1: model must be a model id without spaces"),
        ("system = 3\n", ":1: system must be a string"),
        ('system = "unterminated\n', ":1: not valid TOML"),
        ('json_mode = true\nschema = "{}"\n', ":2: json_mode and schema exclude each other"),
        ("[defaults]\nlang = 3\n", ":1: defaults must be a table"),
    ],
)
def test_an_invalid_role_names_the_file_the_line_and_the_problem(text: str, problem: str) -> None:
    path = write_role("bad", text)
    with pytest.raises(ConfigError) as caught:
        roles.load("bad")
    assert caught.value.message.startswith(f"{path}:")
    assert problem in caught.value.message


def test_an_invalid_role_is_exit_3_before_any_request(emulator: Emulator) -> None:
    write_role("bad", "temperature = 9\n")
    r = invoke(
        ["ask", "-r", "bad", "hi"],
        env={"MODELSLAB_API_KEY": "k" * 12, "MODELSLAB_BASE_URL": emulator.base_url},
    )
    assert r.code == 3
    assert "bad.toml:1: temperature" in r.err
    assert emulator.requests == []


def test_a_file_replaces_the_built_in_of_the_same_name() -> None:
    assert roles.load("code").source == "builtin"
    write_role("code", 'system = "Rust only."\n')
    assert roles.load("code").system == "Rust only."
    assert roles.names()["code"] == "overrides"
    r = invoke(["roles", "list"])
    assert r.code == 0
    assert any(
        line.startswith("code") and "replaces built-in" in line for line in r.out.splitlines()
    )
    assert invoke(["roles", "rm", "code"]).code == 0
    assert roles.load("code").source == "builtin"


def test_the_built_in_roles() -> None:
    assert {"code", "shell", "explain"} <= set(roles.names())
    shell = roles.load("shell")
    values = shell.values({}, {"SHELL": "/usr/bin/fish"})
    prompt = shell.system_prompt(values)
    assert prompt is not None
    assert "fish" in prompt and values["cwd"] == Path.cwd().name and "{os}" not in prompt
    assert "one shell command" in prompt and "command only" in prompt
    r = invoke(["roles", "show", "shell"])
    assert r.code == 0 and "{shell}" in r.out


def test_an_unknown_role_is_a_usage_error_listing_them(emulator: Emulator) -> None:
    r = invoke(["ask", "-r", "nope", "hi"], env={"MODELSLAB_API_KEY": "k" * 12})
    assert r.code == 2
    assert "no role named 'nope'" in r.err and "code, explain, shell" in r.err
    assert invoke(["ask", "-r", "../etc/x", "hi"]).code == 2


# -- substitution ------------------------------------------------------------------------------


@pytest.fixture
def env(emulator: Emulator) -> dict[str, str]:
    return {"MODELSLAB_API_KEY": "ml-role-test-key-000000", "MODELSLAB_BASE_URL": emulator.base_url}


def test_input_and_p_values_are_substituted(env: dict[str, str], emulator: Emulator) -> None:
    write_role("translate", TRANSLATE)
    r = invoke(["ask", "-r", "translate", "-p", "lang", "Welsh", "good {lang} morning"], env=env)
    assert r.code == 0, r.err
    doc = body(emulator)
    assert system_of(doc) == "You translate into Welsh."
    # The input is put in once: a brace in what the user gives is never expanded.
    assert last_user(doc) == "Translate this:\ngood {lang} morning"
    assert doc["model"] == "role-model" and doc["temperature"] == 0.2 and doc["max_tokens"] == 55


def test_stdin_and_argument_are_the_input(env: dict[str, str], emulator: Emulator) -> None:
    write_role("translate", TRANSLATE)
    r = invoke(["ask", "-r", "translate", "and this"], stdin=b"piped text\n", env=env)
    assert r.code == 0, r.err
    assert last_user(body(emulator)) == "Translate this:\npiped text\n\nand this"
    assert system_of(body(emulator)) == "You translate into French."  # the role's default


def test_a_missing_p_value_is_a_usage_error_naming_it(
    env: dict[str, str], emulator: Emulator
) -> None:
    write_role("letter", 'template = "Write to {name} about {topic}: {input}"\n')
    r = invoke(["ask", "-r", "letter", "-p", "name", "Ann", "hi"], env=env)
    assert r.code == 2
    assert "role 'letter' needs a value for {topic}" in r.err and "-p topic VALUE" in r.err
    r = invoke(["ask", "-r", "letter", "-p", "nmae", "Ann", "hi"], env=env)
    assert r.code == 2 and "-p nmae: role 'letter' has no {nmae}" in r.err
    r = invoke(["ask", "-p", "name", "Ann", "hi"], env=env)
    assert r.code == 2 and "use it with -r ROLE" in r.err
    assert emulator.requests == []


def test_a_template_without_input_needs_none(env: dict[str, str], emulator: Emulator) -> None:
    write_role("joke", 'template = "Tell a joke about {topic}."\n')
    r = invoke(["ask", "-r", "joke", "-p", "topic", "cats"], env=env)
    assert r.code == 0, r.err
    assert last_user(body(emulator)) == "Tell a joke about cats."
    r = invoke(["ask", "-r", "joke", "-p", "topic", "dogs", "in French"], env=env)
    assert last_user(body(emulator)) == "Tell a joke about dogs.\n\nin French"


def test_flags_override_the_role(env: dict[str, str], emulator: Emulator) -> None:
    write_role("translate", TRANSLATE)
    r = invoke(
        ["ask", "-r", "translate", "-m", "flag-model", "-t", "0.9", "-s", "Flag system.", "x"],
        env={**env, "MLCHAT_MODEL": "env-model"},
    )
    assert r.code == 0, r.err
    doc = body(emulator)
    assert (doc["model"], doc["temperature"], system_of(doc)) == ("flag-model", 0.9, "Flag system.")
    assert doc["max_tokens"] == 55  # not given as a flag: the role's
    # The role sits over the environment and the config file.
    r = invoke(["ask", "-r", "translate", "x"], env={**env, "MLCHAT_MODEL": "env-model"})
    assert body(emulator)["model"] == "role-model"


def test_tokens_takes_a_role(env: dict[str, str], emulator: Emulator) -> None:
    write_role("translate", TRANSLATE)
    r = invoke(
        ["tokens", "-r", "translate", "-m", "m", "one two"], env={**env, "MLCHAT_API": "anthropic"}
    )
    assert r.code == 0, r.err
    sent = emulator.requests[-1].json
    assert sent["system"] == "You translate into French."
    assert sent["messages"][0]["content"] == "Translate this:\none two"


# -- --save-role and `mlchat roles` ------------------------------------------------------------


def test_save_role_round_trip(env: dict[str, str], emulator: Emulator) -> None:
    r = invoke(
        [
            "ask",
            "--save-role",
            "terse",
            "-s",
            "Be terse.",
            "-t",
            "0.1",
            "--stop",
            "END",
            "Sum up: {input}",
        ],
        env=env,
    )
    assert r.code == 0, r.err
    assert emulator.requests == []  # saving sends nothing
    role = roles.load("terse")
    assert (role.system, role.template) == ("Be terse.", "Sum up: {input}")
    assert dict(role.params) == {"temperature": 0.1, "stop": ("END",)}
    r = invoke(["ask", "-r", "terse", "a long text"], env=env)
    assert r.code == 0, r.err
    doc = body(emulator)
    assert system_of(doc) == "Be terse." and last_user(doc) == "Sum up: a long text"
    assert doc["temperature"] == 0.1 and doc["stop"] == ["END"]
    # An existing role is never replaced.
    r = invoke(["ask", "--save-role", "terse", "-s", "other"], env=env)
    assert r.code == 2 and "exists" in r.err
    assert roles.load("terse").system == "Be terse."


def test_save_role_from_a_role_with_changes(env: dict[str, str]) -> None:
    r = invoke(["chat", "--save-role", "code0", "-r", "code", "-t", "0"], env=env)
    assert r.code == 0, r.err
    role = roles.load("code0")
    assert role.system == roles.load("code").system and role.params["temperature"] == 0


def test_roles_list_show_and_json() -> None:
    write_role("review", 'description = "review a diff"\nsystem = "Review."\n')
    r = invoke(["roles", "list"])
    assert r.code == 0
    lines = r.out.splitlines()
    assert [line.split()[0] for line in lines] == ["code", "explain", "review", "shell"]
    assert "review a diff" in lines[2] and "built-in" in lines[0]
    doc = json.loads(invoke(["roles", "list", "--json"]).out)
    assert {"name": "review", "source": "file", "description": "review a diff"} in doc
    assert (
        invoke(["roles", "show", "review"]).out
        == 'description = "review a diff"\nsystem = "Review."\n'
    )


def editor(tmp_path: Path, new_text: str) -> str:
    script = tmp_path / "editor.py"
    script.write_text(f"import sys\nopen(sys.argv[1], 'w').write({new_text!r})\n")
    return f"{sys.executable} {script}"


def test_roles_edit_keeps_a_valid_edit(tmp_path: Path) -> None:
    r = invoke(
        ["roles", "edit", "review"],
        env={"EDITOR": editor(tmp_path, 'system = "Review it."\n')},
        stdin_tty=True,
    )
    assert r.code == 0, r.err
    assert roles.load("review").system == "Review it."


def test_roles_edit_refuses_an_invalid_edit_and_keeps_the_copy(tmp_path: Path) -> None:
    path = write_role("review", 'system = "Original."\n')
    r = invoke(
        ["roles", "edit", "review"],
        env={"VISUAL": editor(tmp_path, "temperature = 5\n")},
        stdin_tty=True,
    )
    assert r.code == 3
    assert f"{path}:1: temperature must be between 0 and 2" in r.err
    assert "the role was not changed" in r.err
    assert path.read_text() == 'system = "Original."\n'
    kept = r.err.split("your edit is in ")[1].split(":")[0]
    assert Path(kept).read_text() == "temperature = 5\n"
    Path(kept).unlink()


def test_roles_edit_of_a_built_in_starts_from_its_text(tmp_path: Path) -> None:
    script = tmp_path / "append.py"
    script.write_text("import sys\nopen(sys.argv[1], 'a').write('max_tokens = 9\\n')\n")
    r = invoke(
        ["roles", "edit", "shell"], env={"EDITOR": f"{sys.executable} {script}"}, stdin_tty=True
    )
    assert r.code == 0, r.err
    role = roles.load("shell")
    assert (
        role.source == "file"
        and role.params["max_tokens"] == 9
        and "{shell}" in (role.system or "")
    )


def test_roles_rm() -> None:
    write_role("review", 'system = "x"\n')
    assert invoke(["roles", "rm", "review"]).code == 0
    r = invoke(["roles", "rm", "review"])
    assert r.code == 2 and "no role file" in r.err
    r = invoke(["roles", "rm", "shell"])
    assert r.code == 2 and "is a built-in role" in r.err


# -- the conversation keeps its role -----------------------------------------------------------


def test_the_role_is_kept_on_resume(env: dict[str, str], emulator: Emulator) -> None:
    write_role("translate", TRANSLATE)
    assert invoke(["ask", "-r", "translate", "-p", "lang", "Welsh", "one"], env=env).code == 0
    r = invoke(["ask", "-c", "two"], env=env)
    assert r.code == 0, r.err
    doc = body(emulator)
    assert last_user(doc) == "Translate this:\ntwo"  # the template goes on
    assert system_of(doc) == "You translate into Welsh."  # the conversation's own system prompt
    assert json.loads(invoke(["sessions", "list", "--json"]).out)[0]["role"] == "translate"
    # chat resumes it too, by name.
    r = invoke(["chat", "-c"], stdin=b"three\n", env=env)
    assert r.code == 0, r.err
    assert last_user(body(emulator)) == "Translate this:\nthree"


def test_the_role_is_kept_when_a_named_session_is_resumed(
    env: dict[str, str], emulator: Emulator
) -> None:
    write_role("translate", TRANSLATE)
    assert invoke(["ask", "-r", "translate", "-p", "lang", "Welsh", "one"], env=env).code == 0
    held = json.loads(invoke(["sessions", "list", "--json"]).out)[0]["id"]
    assert invoke(["ask", "an unrelated conversation"], env=env).code == 0
    r = invoke(["ask", "--session", held, "two"], env=env)
    assert r.code == 0, r.err
    doc = body(emulator)
    assert last_user(doc) == "Translate this:\ntwo"
    assert system_of(doc) == "You translate into Welsh."
    assert doc["model"] == "role-model" and doc["temperature"] == 0.2
    r = invoke(["chat", "--session", held], stdin=b"three\n", env=env)
    assert r.code == 0, r.err
    assert last_user(body(emulator)) == "Translate this:\nthree"
    # The other conversation never had a role and still has none.
    listed = json.loads(invoke(["sessions", "list", "--json"]).out)
    other = next(c["id"] for c in listed if c["id"] != held)
    r = invoke(["ask", "--session", other, "plain"], env=env)
    assert r.code == 0, r.err
    assert last_user(body(emulator)) == "plain"


# -- /role in the REPL -------------------------------------------------------------------------


def test_role_in_chat_shows_and_switches(env: dict[str, str], emulator: Emulator) -> None:
    write_role("translate", TRANSLATE)
    script = (
        b"/role\nfirst\n/role translate lang=German\nsecond\n/role\n/role none\nthird\n/role nope\n"
    )
    r = invoke(["chat", "-m", "m0"], stdin=script, env=env)
    assert r.code == 2, r.err  # the last command failed: a piped chat says so
    docs = [body(emulator, i) for i in range(3)]
    assert last_user(docs[0]) == "first" and system_of(docs[0]) is None
    assert last_user(docs[1]) == "Translate this:\nsecond"
    assert system_of(docs[1]) == "You translate into German" + "."
    assert docs[1]["model"] == "role-model" and docs[1]["temperature"] == 0.2
    assert last_user(docs[2]) == "third" and system_of(docs[2]) is None
    assert "(no role)" in r.out and "translate: translate" in r.out
    assert "no role named 'nope'" in r.err


def test_role_names_complete_after_slash_role(emulator: Emulator) -> None:
    from tests.test_repl import Chat

    write_role("review", 'system = "x"\n')
    c = Chat(emulator)
    try:
        assert [t for t, _, _ in c.repl.completions("/role ")] == [
            "code",
            "explain",
            "review",
            "shell",
        ]
        assert c.repl.completions("/role re") == [("review", -2, "")]
        assert ("/role", -3, c.repl.completions("/ro")[0][2]) == c.repl.completions("/ro")[0]
    finally:
        c.client.close()


def test_fill_is_one_pass_and_leaves_other_braces() -> None:
    assert roles.fill('{"a": {x}} {y}', {"x": "{y}", "y": "Y"}) == '{"a": {y}} Y'
    with pytest.raises(UsageError):
        roles.check_name("a/b")


def test_a_template_wraps_attachments(
    env: dict[str, str], emulator: Emulator, tmp_path: Path
) -> None:
    write_role("translate", TRANSLATE)
    notes = tmp_path / "notes.txt"
    notes.write_text("bonjour\n")
    r = invoke(["ask", "-r", "translate", "-f", str(notes), "and this"], env=env)
    assert r.code == 0, r.err
    text = json.dumps(body(emulator)["messages"][-1])
    assert text.index("Translate this:") < text.index("bonjour") < text.index("and this")
