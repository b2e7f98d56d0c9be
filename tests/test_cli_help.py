"""Every option's help, as `--help` shows it, is one well-formed sentence that says its default:
no markup eaten by rich (`[default: 8]` vanishing, `a  of`), no stray spaces before
punctuation, balanced brackets, the default in `[default: ...]` just before the final period,
and the defaults shown are the ones the code uses."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
import typer.main
from typer import rich_utils
from typer.testing import CliRunner

from mlchat import config_keys, params, toolloop
from mlchat.cli import app

# Options that take a value and are simply not used when not given: nothing to show as a default.
UNUSED_WHEN_ABSENT = {
    "--role", "--param", "--stop", "--seed", "--session", "--tools", "--mcp", "--mcp-config",
    "--schema", "--file", "--save-role", "--output",
}  # fmt: skip


def commands() -> Iterator[tuple[str, Any, Any]]:
    """(`mlchat ...` path, Click command, its context) for every command, the root included."""
    root = typer.main.get_command(app)

    def walk(cmd: Any, ctx: Any, path: str) -> Iterator[tuple[str, Any, Any]]:
        yield path, cmd, ctx
        for name in getattr(cmd, "list_commands", lambda _ctx: [])(ctx):
            sub = cmd.get_command(ctx, name)
            sub_ctx = sub.make_context(name, [], parent=ctx, resilient_parsing=True)
            yield from walk(sub, sub_ctx, f"{path} {name}")

    yield from walk(root, root.make_context("mlchat", [], resilient_parsing=True), "mlchat")


def shown_help(param: Any, ctx: Any) -> str:
    """The option's help as `--help` draws it: the markup applied, the default appended."""
    columns = rich_utils._get_parameter_help(param=param, ctx=ctx, markup_mode="rich")
    return " ".join(getattr(item, "plain", str(item)) for item in columns.renderables)


def options() -> list[tuple[str, str, Any, str]]:
    found = []
    for path, cmd, ctx in commands():
        for param in cmd.get_params(ctx):
            if param.param_type_name == "option":
                found.append((path, "/".join(param.opts), param, shown_help(param, ctx)))
    return found


OPTIONS = options()


def sentence_problems(text: str) -> list[str]:
    problems = []
    if not re.match(r"[A-Z`]", text):
        problems.append("does not start with a capital letter")
    if not text.endswith("."):
        problems.append("does not end with a period")
    if re.search(r"\s[.,;:)\]]|[(\[]\s|\s{2}", text):
        problems.append("has a stray space (markup eaten, or a word missing)")
    if re.search(r"\(\)|\[\]", text):
        problems.append("has empty brackets")
    for left, right in ("()", "[]", "{}"):
        if text.count(left) != text.count(right):
            problems.append(f"has unbalanced {left}{right}")
    defaults = re.findall(r"\[default: [^\]]*\]", text)
    if len(defaults) > 1:
        problems.append("shows its default twice")
    if defaults and not text.endswith(defaults[0] + "."):
        problems.append("does not end with its [default: ...] and a period")
    return problems


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("Most rounds of tool calls before giving up .", "stray space"),
        ("Use this server's tools (a  of the config file).", "stray space"),
        ("0-2 (0-1 on anthropic) [default: 0.7].", "capital"),
        ("How many to show (0: all). [default: 20]", "period"),
        ("How many to show, 0 for all [default: 20]. [default: 20]", "twice"),
        ("Wait for (the reply.", "unbalanced ()"),
        ("A [default: 3] limit of sorts.", "does not end with its"),
    ],
)
def test_the_sentence_check_catches_mistakes(text: str, problem: str) -> None:
    assert any(problem in p for p in sentence_problems(text)), sentence_problems(text)


def test_every_options_help_is_a_well_formed_sentence() -> None:
    bad = [
        f"{path} {names}: {problem}: {text!r}"
        for path, names, _, text in OPTIONS
        for problem in sentence_problems(text)
    ]
    assert not bad, "\n".join(bad)


def test_every_option_that_takes_a_value_shows_its_default() -> None:
    missing = [
        f"{path} {names}: {text!r}"
        for path, names, param, text in OPTIONS
        if not param.is_flag
        and "[default: " not in text
        and not set(param.opts) & UNUSED_WHEN_ABSENT
    ]
    assert not missing, "\n".join(missing)


def shown_default(option: str, path: str = "mlchat ask") -> str:
    texts = [t for p, names, _, t in OPTIONS if p == path and option in names.split("/")]
    assert texts, (path, option)
    match = re.search(r"\[default: ([^\]]*)\]", texts[0])
    assert match, texts[0]
    return match.group(1)


def test_the_defaults_shown_are_the_ones_used() -> None:
    defaults = params.DEFAULTS
    assert shown_default("--max-rounds") == str(toolloop.DEFAULT_MAX_ROUNDS)
    assert shown_default("--temperature") == f"{defaults.temperature:g}"
    assert shown_default("--top-p") == f"{defaults.top_p:g}"
    assert shown_default("--max-tokens") == str(defaults.max_tokens)
    assert shown_default("--frequency-penalty") == f"{defaults.frequency_penalty:g}"
    assert shown_default("--presence-penalty") == f"{defaults.presence_penalty:g}"
    assert shown_default("--model").startswith(config_keys.DEFAULT_MODEL + ",")
    assert shown_default("--base-url").startswith(config_keys.DEFAULT_BASE_URL + ",")
    assert shown_default("--timeout").startswith(f"{config_keys.DEFAULT_TIMEOUT:g},")
    assert shown_default("--retries").startswith(f"{config_keys.DEFAULT_RETRIES},")
    assert shown_default("--api").startswith(config_keys.OPTIONS["api"].default + ",")


@pytest.mark.parametrize("args", [["ask"], ["chat"], ["sessions", "list"], ["mcp", "list"]])
def test_help_draws_what_was_checked(args: list[str]) -> None:
    """The check reads Typer's own renderer; `--help` (mlchat's fast path) draws the same."""
    env = {"COLUMNS": "250", "TERM": "dumb", "NO_COLOR": "1"}
    result = CliRunner().invoke(app, [*args, "--help"], env=env, prog_name="mlchat")
    assert result.exit_code == 0, result.output
    drawn = " ".join(re.sub(r"[│╭╮╰╯─]", " ", result.output).split())
    path = " ".join(["mlchat", *args])
    for p, _, _, text in OPTIONS:
        if p == path:
            assert " ".join(text.split()) in drawn, text
