"""The README and `--help` agree with the app: every `mlchat` command and option the README shows
exists (with its options on the right command), the generated usage block is current and says
what `--help` says, and every command's help has a one-line summary and examples that fit a
terminal."""

from __future__ import annotations

import itertools
import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from typer.testing import CliRunner

from mlchat.cli import app
from tests.test_completions import load_generator

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
CI_RUN = ROOT / ".ci" / "run"

# Code in the README that runs other programs: their options are theirs, not mlchat's.
OTHER_PROGRAMS = {
    "apt", "cat", "chmod", "cp", "curl", "cut", "echo", "export", "git", "head", "jq", "less",
    "ln", "ls", "mkdir", "mypy", "pass", "pip", "pipx", "printf", "pytest", "python", "python3",
    "ruff", "source", "sort", "sudo", "tail", "tmux", "wc",
}  # fmt: skip
# Options the README names that are not mlchat's, with the reason.
NOT_OPTIONS = {
    "--api-key": "the README explains that there deliberately is no such flag",
}
SEPARATORS = {"|", "||", "&&", ";", "&", "(", ")", "<", ">", ">>", "|&", ";;"}
PLACEHOLDERS = {"...", "…"}


@pytest.fixture(scope="module")
def gen() -> ModuleType:
    return load_generator()


@pytest.fixture(scope="module")
def tree(gen: ModuleType) -> Any:
    return gen.load_tree()


# -- reading the README --------------------------------------------------------------------------


def without_usage_block(text: str, gen: ModuleType) -> str:
    start, end = text.find(gen.USAGE_START), text.find(gen.USAGE_END)
    return text[:start] + text[end:] if 0 <= start < end else text


def code(text: str) -> Iterator[tuple[int, str]]:
    """(line number, text) of every line of a shell code block and every inline code span."""
    fence = re.compile(r"^(```|~~~)([\w-]*)[^\n]*\n(.*?)^\1[ \t]*$", re.M | re.S)
    for m in fence.finditer(text):
        if m.group(2) in ("", "sh", "shell", "bash", "console", "text", "zsh", "fish"):
            first = text.count("\n", 0, m.start(3)) + 1
            for i, line in enumerate(m.group(3).splitlines()):
                # A console transcript: only the `$ ` lines are commands; the rest is output.
                if m.group(2) == "console" and not line.startswith("$ "):
                    continue
                yield first + i, line
    prose = fence.sub(lambda m: "\n" * m.group(0).count("\n"), text)
    for m in re.finditer(r"(`+)(.+?)\1", prose):
        yield prose.count("\n", 0, m.start()) + 1, m.group(2).replace("\\|", "|")


def segments(line: str) -> Iterator[list[str]]:
    """The simple commands of a shell line, as words: split at pipes, `&&`, `;` and redirections,
    with comments, a `$ ` prompt and leading VAR=value assignments dropped."""
    lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    try:
        tokens = list(lexer)
    except ValueError:  # prose in a span, an unbalanced quote: plain words will do
        tokens = line.split()
    words: list[str] = []
    for token in [*tokens, ";"]:
        if token not in SEPARATORS:
            words.append(token)
            continue
        while words and (words[0] in ("$", "env", "time") or re.match(r"\w+=", words[0])):
            words.pop(0)
        if words and "/" in words[0]:  # `.venv/bin/mlchat`, `.venv/bin/pip`: the program
            words[0] = words[0].rsplit("/", 1)[1]
        if words[:3] in (["python", "-m", "mlchat"], ["python3", "-m", "mlchat"]):
            words = ["mlchat", *words[3:]]
        if words:
            yield words
        words = []


@dataclass
class Finding:
    line: int
    text: str
    problem: str

    def __str__(self) -> str:
        return f"README.md:{self.line}: {self.problem}   (in `{self.text}`)"


def check_mlchat(words: list[str], tree: Any) -> list[str]:
    """Problems with one `mlchat ...` command: unknown commands, unknown options, options given
    to the wrong command."""
    problems: list[str] = []
    # `mlchat "a question"` is ask (cli/argv.py); a single word stays checked as a command, so
    # that a typo (`mlchat chatt`) is still caught here.
    first = next((w for w in words[1:] if not w.startswith("-")), "")
    if " " in first:
        words = [words[0], "ask", *words[1:]]
    cmd, positional, i = tree, False, 1
    while i < len(words):
        word = words[i]
        i += 1
        if word == "--":
            break
        if word.startswith("-") and word != "-" and not re.fullmatch(r"-[\d.]+", word):
            name = word.split("=", 1)[0] if word.startswith("--") else word[:2]
            opt = next((o for o in cmd.options if name in o.names), None)
            where = f"mlchat {cmd.name}".strip()
            if opt is None:
                problems.append(f"`{where}` has no option {name}")
            elif opt.value and not ("=" in word if word.startswith("--") else len(word) > 2):
                i += 1  # the next word is its value
            continue
        if positional or word in PLACEHOLDERS:
            continue
        sub = next((s for s in cmd.subcommands if s.path[-1] == word), None)
        if sub is not None:
            cmd = sub
        elif cmd.subcommands and not cmd.args:
            where = f"mlchat {cmd.name}".strip()
            problems.append(f"`{where}` has no command {word!r}")
            positional = True
        else:
            positional = True
    return problems


def readme_findings(text: str, tree: Any, gen: ModuleType) -> list[Finding]:
    long_options = {n for c in tree.walk() for o in c.options for n in o.longs}
    short_options = {n for c in tree.walk() for o in c.options for n in o.shorts}
    top = {c.path[-1] for c in tree.subcommands}
    findings: list[Finding] = []
    for number, line in code(without_usage_block(text, gen)):
        for words in segments(line):
            head = words[0]
            if head == "mlchat" or head in top:
                command = words if head == "mlchat" else ["mlchat", *words]
                findings += [Finding(number, line, p) for p in check_mlchat(command, tree)]
                continue
            if head in OTHER_PROGRAMS:
                continue
            # Prose like `-m/--model`, `--api openai|anthropic` or `--no-log`: the options
            # must exist on some command.
            for word in words:
                for name in re.split(r"[/=,]", word):
                    if name in NOT_OPTIONS:
                        continue
                    if re.fullmatch(r"--[a-z][a-z0-9-]*", name) and name not in long_options:
                        findings.append(Finding(number, line, f"no command has option {name}"))
                    if re.fullmatch(r"-[A-Za-z]", name) and name not in short_options:
                        findings.append(Finding(number, line, f"no command has option {name}"))
    return findings


# -- the README ----------------------------------------------------------------------------------


def test_every_command_and_option_in_the_readme_exists(tree: Any, gen: ModuleType) -> None:
    findings = readme_findings(README.read_text(encoding="utf-8"), tree, gen)
    assert not findings, "the README names what mlchat does not have:\n" + "\n".join(
        map(str, findings)
    )


@pytest.mark.parametrize(
    ("snippet", "problem"),
    [
        ("`mlchat chatt`", "`mlchat` has no command 'chatt'"),
        ("`mlchat sessions purge`", "`mlchat sessions` has no command 'purge'"),
        ("```sh\ngit diff | mlchat ask --temprature 1 hi\n```", "`mlchat ask` has no option"),
        ("`mlchat models -m x`", "`mlchat models` has no option -m"),
        ("`mlchat --json ask hi`", "`mlchat` has no option --json"),  # root options only
        ("Use `--verbose` to see more.", "no command has option --verbose"),
        ("`-q/--hush`", "no command has option --hush"),
        ("`$ MLCHAT_MODEL=x mlchat tokens -x`", "`mlchat tokens` has no option -x"),
    ],
)
def test_the_readme_check_catches_mistakes(
    tree: Any, gen: ModuleType, snippet: str, problem: str
) -> None:
    findings = readme_findings(snippet, tree, gen)
    assert any(problem in f.problem for f in findings), findings


@pytest.mark.parametrize(
    "snippet",
    [
        '```sh\nmlchat ask -m qwen2.5-vl -t 0.2 --api=anthropic "hi" | jq -r .text\n```',
        "`mlchat sessions export a1b2 -f md -o chat.md`",
        "`mlchat config set temperature -1` and `mlchat ask ... | head -1`",
        "`python -m pip install -e '.[test]' && ruff format --check`",
        "`ask -c/--continue` and `--no-log`; `mlchat sessions` alone lists",
        "There is deliberately no `--api-key` flag.",
    ],
)
def test_the_readme_check_accepts_real_usage(tree: Any, gen: ModuleType, snippet: str) -> None:
    assert readme_findings(snippet, tree, gen) == []


def test_the_usage_block_is_current(tree: Any, gen: ModuleType) -> None:
    text = README.read_text(encoding="utf-8")
    assert gen.USAGE_START in text and gen.USAGE_END in text, "the usage markers are missing"
    assert gen.readme_with_block(text, gen.usage_block(tree)) == text, (
        "the README's usage block no longer matches `mlchat --help`: "
        "run `python completions/generate.py` and commit the result"
    )


def render_help(args: list[str], width: int = 100) -> str:
    env = {"COLUMNS": str(width), "TERM": "dumb", "NO_COLOR": "1"}
    result = CliRunner().invoke(app, [*args, "--help"], env=env, prog_name="mlchat")
    assert result.exit_code == 0, result.output
    return result.output


def flat(text: str) -> str:
    """Help text without boxes or line breaks, for comparing what it says."""
    return " ".join(re.sub(r"[│╭╮╰╯─]", " ", text).split())


def test_the_usage_block_says_what_help_says(tree: Any, gen: ModuleType) -> None:
    block = gen.usage_block(tree)
    for cmd in tree.walk():
        if not cmd.subcommands:
            continue
        shown = flat(render_help(list(cmd.path)))
        assert flat(f"Usage: mlchat {cmd.name} {cmd.usage}".replace("  ", " ")) in shown
        for sub in cmd.subcommands:
            assert f"{sub.path[-1]} {sub.summary}" in shown, (sub.name, shown)
            assert re.search(
                rf"^  {re.escape(sub.name)} +{re.escape(sub.summary[:40])}", block, re.M
            )
    root_help = flat(render_help([]))
    for opt in tree.options:
        assert all(name in root_help for name in opt.names)
        assert opt.help in root_help


# -- every command's --help ----------------------------------------------------------------------


def test_every_command_has_a_summary_and_examples(tree: Any) -> None:
    for cmd in tree.walk():
        label = f"mlchat {cmd.name}".strip()
        assert cmd.summary.endswith(".") and len(cmd.summary) <= 76, label
        shown = render_help(list(cmd.path))
        lines = shown.splitlines()
        at = [i for i, line in enumerate(lines) if line.strip() == "Examples:"]
        assert at, f"{label} --help has no examples"
        examples: list[str] = []
        for line in lines[at[0] + 1 :]:
            if line.startswith(("╭", "│")) or (examples and not line.strip()):
                break
            if line.strip():
                examples.append(line)
        assert 2 <= len(examples) <= 4, (label, examples)
        for example in examples:
            assert example.startswith("   ") and "mlchat" in example, (label, example)
            # 80 columns: a one-space margin, two of indent, and the example
            assert len(example.rstrip()) <= 79, (label, example)
            # and the example runs: its commands and options exist, on the right command
            for words in segments(example):
                if words[0] == "mlchat":
                    assert check_mlchat(words, tree) == [], (label, example)


@pytest.mark.parametrize("width", [60, 80, 120])
def test_help_paragraphs_wrap_to_the_terminal(width: int) -> None:
    """Prose is never broken where the source wrapped it: at any width every line but a
    paragraph's last is filled to near the terminal's width."""
    for args in (["ask"], ["models"], ["tokens"], ["key"], ["config", "set"], ["sessions"]):
        text = render_help(args, width)
        body = text.split("Examples:")[0]
        paragraphs = [
            [line for line in p.splitlines() if line.strip()]
            for p in re.split(r"\n\s*\n", body)
            if p.strip()
        ]
        for para in paragraphs:
            if para[0].lstrip().startswith("Usage:"):
                continue
            for line, following in itertools.pairwise(para):
                room = width - len(line.rstrip())
                next_word = following.split()[0]
                assert room <= len(next_word) + 2, (args, width, line, following)


def test_options_are_grouped_on_commands_with_many(tree: Any) -> None:
    """Commands with many options show them in named groups, not one long list."""
    for cmd in tree.walk():
        if len(cmd.options) < 8:
            continue
        shown = render_help(list(cmd.path))
        panels = re.findall(r"╭─ ([^─]+?) ─", shown)
        named = [p for p in panels if p not in ("Options", "Arguments", "Commands")]
        assert len(named) >= 3, (cmd.name, panels)


# -- the set-up commands, and CI running them ----------------------------------------------------


def setup_commands(text: str) -> dict[str, str]:
    """The README's set-up commands by name: the one line of the sh block after `<!-- ci:NAME`."""
    block = re.compile(r"^<!-- ci:(\w+) [^\n]*-->\n```sh\n([^\n]*)\n```$", re.M)
    return {m.group(1): m.group(2) for m in block.finditer(text)}


def test_the_setup_commands_install_into_a_virtual_environment() -> None:
    """`pip install` into the interpreter itself fails on Debian's and Ubuntu's system Python
    (PEP 668): both commands make `.venv` and use its own pip, python and mlchat."""
    commands = setup_commands(README.read_text(encoding="utf-8"))
    assert set(commands) == {"install", "test"}, commands
    for command in commands.values():
        assert command.startswith("python3 -m venv .venv && .venv/bin/pip install "), command
        assert not re.search(r"(^|[\s;&|])(pip3?|python3? -m pip) install", command), command
    assert commands["install"].endswith(" && .venv/bin/mlchat --help")
    assert commands["test"].endswith(" && .venv/bin/python -m pytest")
    assert "'.[test]'" in commands["test"]


def test_ci_runs_the_readme_setup_commands_as_written() -> None:
    """.ci/run holds both README commands, each as a line of its own exactly as the README has it,
    so CI runs what a new user types; then the linters, in the venv the commands made."""
    commands = setup_commands(README.read_text(encoding="utf-8"))
    lines = CI_RUN.read_text(encoding="utf-8").splitlines()
    for name in ("install", "test"):
        assert commands[name] in lines, f"README's {name} command is not a line of .ci/run"
    install, test = lines.index(commands["install"]), lines.index(commands["test"])
    assert install < test
    lints = ("ruff check .", "ruff format --check .", "mypy", "lint-imports")
    for lint in lints:
        assert any(line.startswith(f".venv/bin/{lint}") for line in lines[test:]), lint
    # Where the system python3 refuses pip outside a venv (PEP 668), it is the one they find.
    shim = 'ln -s /usr/bin/python3 "$shim/python3"'
    assert any(line.strip() == shim for line in lines[:install])
