"""The comment-preserving TOML editor: every edit parses to the intended data and leaves every
other line of a hand-edited file as it was."""

from __future__ import annotations

import copy
import datetime as dt
import difflib
import random
import tomllib
from typing import Any

import pytest

from mlchat.tomledit import (
    TomlEditError,
    dumps_document,
    dumps_value,
    format_key,
    set_value,
    unset_value,
)

# A file as a person might write it: comments everywhere, odd spacing, unknown keys, multi-line
# values that contain things that look like headers, keys and comments.
HAND_EDITED = """\
# mlchat settings, edited by hand
model   = "minimax-minimax-m1"   # the default
temperature = 0.7 # warm
my_unknown_key = { nested = true, list = [1, 2] }
stop = [
  "END",   # one
  "STOP",  # two
]
system = \"\"\"You are terse.
[not a header]
key = "not a key"   # not a comment
\"\"\"
'literal key' = 'C:\\path # not a comment'
sneaky = "a \\" quote # still a string"

# Short names for long model ids
[aliases]
  fast = "minimax-minimax-m1"   # quick
  "big.one" = "Qwen/Qwen2.5-VL-72B-Instruct-together"

[prices]
minimax-minimax-m1.output = 2.2

[prices."Qwen/Qwen2.5-VL-72B-Instruct-together"]
input = 1.0

# plugins from some future version
[[plugins]]
name = "x"
"""


def changes(before: str, after: str) -> tuple[list[str], list[str]]:
    """The lines removed from `before` and added in `after`."""
    removed, added = [], []
    for line in difflib.ndiff(before.splitlines(), after.splitlines()):
        if line.startswith("- "):
            removed.append(line[2:])
        elif line.startswith("+ "):
            added.append(line[2:])
    return removed, added


def with_value(data: dict[str, Any], path: tuple[str, ...], value: Any) -> dict[str, Any]:
    out = copy.deepcopy(data)
    node = out
    for part in path[:-1]:
        node = node.setdefault(part, {})
    node[path[-1]] = value
    return out


def without(data: dict[str, Any], path: tuple[str, ...]) -> dict[str, Any]:
    out = copy.deepcopy(data)
    node = out
    for part in path[:-1]:
        node = node[part]
    del node[path[-1]]
    return out


# ----------------------------------------------------------------------------- values and keys


@pytest.mark.parametrize(
    "value",
    [
        "",
        "plain",
        'quote " and backslash \\ and \\n literal',
        "new\nline\ttab\r\x01\x1f\x7f",
        "héllo wörld 世界 🎉",
        "# not a comment",
        0,
        -7,
        10**18,
        0.4,
        1e-07,
        1e300,
        2.0,
        -0.5,
        True,
        False,
        ["END", "STOP"],
        [],
        [1, [2, "x"]],
        {"a": 1, "b c": "d"},
        dt.date(2024, 1, 2),
    ],
)
def test_values_round_trip(value: Any) -> None:
    assert tomllib.loads(f"v = {dumps_value(value)}")["v"] == value


@pytest.mark.parametrize(
    ("path", "written"),
    [
        (("model",), "model"),
        (("aliases", "fast"), "aliases.fast"),
        (("prices", "Qwen/Qwen2.5", "input"), 'prices."Qwen/Qwen2.5".input'),
        (("a b", 'q"uote', "x.y", ""), '"a b"."q\\"uote"."x.y".""'),
    ],
)
def test_keys_are_bare_when_allowed_and_quoted_otherwise(
    path: tuple[str, ...], written: str
) -> None:
    assert format_key(path) == written
    data: Any = tomllib.loads(f"{written} = 1")
    for part in path:
        data = data[part]
    assert data == 1


def test_dumps_document_round_trips() -> None:
    data = tomllib.loads(HAND_EDITED)
    assert tomllib.loads(dumps_document(data)) == data
    assert dumps_document({}) == ""


# ----------------------------------------------------------------------------- set


def test_replacing_a_value_keeps_its_key_spacing_and_comment() -> None:
    out = set_value(HAND_EDITED, ("model",), "meta-llama-3-8B-instruct")
    assert changes(HAND_EDITED, out) == (
        ['model   = "minimax-minimax-m1"   # the default'],
        ['model   = "meta-llama-3-8B-instruct"   # the default'],
    )
    out = set_value(HAND_EDITED, ("temperature",), 0.2)
    assert changes(HAND_EDITED, out)[1] == ["temperature = 0.2 # warm"]


def test_replacing_a_multi_line_value_replaces_all_its_lines() -> None:
    out = set_value(HAND_EDITED, ("stop",), ["X"])
    removed, added = changes(HAND_EDITED, out)
    assert removed == ["stop = [", '  "END",   # one', '  "STOP",  # two', "]"]
    assert added == ['stop = ["X"]']
    out = set_value(HAND_EDITED, ("system",), "Be brief")
    removed, added = changes(HAND_EDITED, out)
    assert added == ['system = "Be brief"'] and len(removed) == 4


def test_a_new_top_level_key_follows_the_last_top_level_key() -> None:
    out = set_value(HAND_EDITED, ("top_p",), 0.5)
    assert changes(HAND_EDITED, out) == ([], ["top_p = 0.5"])
    lines = out.splitlines()
    assert lines[lines.index("top_p = 0.5") - 1].startswith("sneaky = ")


def test_a_new_key_joins_its_table_with_its_indentation() -> None:
    out = set_value(HAND_EDITED, ("aliases", "slow"), "x-model")
    assert changes(HAND_EDITED, out) == ([], ['  slow = "x-model"'])
    lines = out.splitlines()
    assert lines[lines.index('  slow = "x-model"') - 1].startswith('  "big.one"')


def test_a_new_key_beside_dotted_keys_that_define_its_table() -> None:
    out = set_value(HAND_EDITED, ("prices", "minimax-minimax-m1", "input"), 0.4)
    assert changes(HAND_EDITED, out) == ([], ["minimax-minimax-m1.input = 0.4"])
    doc = "aliases.a = 'x'\n\n[other]\nk = 1\n"
    out = set_value(doc, ("aliases", "b"), "y")
    assert out == "aliases.a = 'x'\naliases.b = \"y\"\n\n[other]\nk = 1\n"


def test_a_new_table_goes_after_its_family() -> None:
    out = set_value(HAND_EDITED, ("prices", "deepseek.v3", "input"), 0.3)
    removed, added = changes(HAND_EDITED, out)
    assert removed == [] and added == ['[prices."deepseek.v3"]', "input = 0.3", ""]
    # ...after the [prices.*] sections, before the comment that introduces [[plugins]]
    assert out.index('[prices."deepseek.v3"]') < out.index("# plugins")
    assert out.index('[prices."Qwen/') < out.index('[prices."deepseek.v3"]')
    out = set_value("model = 'x'\n", ("aliases", "fast"), "y")
    assert out == "model = 'x'\n\n[aliases]\nfast = \"y\"\n"


@pytest.mark.parametrize(
    ("doc", "path", "value", "expected"),
    [
        ("", ("model",), "x", 'model = "x"\n'),
        ("   \n", ("model",), "x", '   \nmodel = "x"\n'),
        ('model = "x"', ("top_p",), 0.5, 'model = "x"\ntop_p = 0.5\n'),
        ("# just a comment\n", ("model",), "x", '# just a comment\nmodel = "x"\n'),
        (
            "# header comment\n\n[aliases]\na = 'b'\n",
            ("model",),
            "x",
            "# header comment\n\nmodel = \"x\"\n\n[aliases]\na = 'b'\n",
        ),
        (
            "# about aliases\n[aliases]\na = 'b'\n",
            ("model",),
            "x",
            "model = \"x\"\n\n# about aliases\n[aliases]\na = 'b'\n",
        ),
        ("[aliases]\n", ("aliases", "a"), "b", '[aliases]\na = "b"\n'),
        ("[aliases]", ("aliases", "a"), "b", '[aliases]\na = "b"\n'),
        (
            "a = 1\r\n# c\r\n[t]\r\nk = 2\r\n",
            ("t", "j"),
            3,
            "a = 1\r\n# c\r\n[t]\r\nk = 2\r\nj = 3\r\n",
        ),
        ('s = """x\n"""""\n', ("k",), 1, 's = """x\n"""""\nk = 1\n'),
        ("s = '''a\n''''\n", ("s",), "b", 's = "b"\n'),
    ],
)
def test_set_edge_cases(doc: str, path: tuple[str, ...], value: Any, expected: str) -> None:
    out = set_value(doc, path, value)
    assert out == expected
    assert tomllib.loads(out) == with_value(tomllib.loads(doc), path, value)


def test_inline_tables_and_non_tables_are_refused_not_rewritten() -> None:
    with pytest.raises(TomlEditError, match="edit it by hand"):
        set_value('aliases = { a = "b" }\n', ("aliases", "c"), "d")
    with pytest.raises(TomlEditError, match="aliases is not a table"):
        set_value('aliases = "oops"\n', ("aliases", "c"), "d")
    with pytest.raises(TomlEditError, match="not a table"):
        set_value(HAND_EDITED, ("plugins", "name"), "y")  # an array of tables
    with pytest.raises(TomlEditError, match="not valid TOML"):
        set_value("a = = 1\n", ("a",), 1)


def test_every_set_parses_to_exactly_the_intended_data() -> None:
    data = tomllib.loads(HAND_EDITED)
    for path, value in [
        (("model",), "m"),
        (("sneaky",), 'x"y'),
        (("literal key",), "z"),
        (("my_unknown_key",), 3),
        (("aliases", "big.one"), "other"),
        (("aliases", "new one"), "m"),
        (("prices", "minimax-minimax-m1", "output"), 3.3),
        (("prices", "Qwen/Qwen2.5-VL-72B-Instruct-together", "output"), 4.0),
        (("brand", "new", "table"), True),
    ]:
        out = set_value(HAND_EDITED, path, value)
        assert tomllib.loads(out) == with_value(data, path, value), path
        removed, _ = changes(HAND_EDITED, out)
        assert len(removed) <= 1, (path, removed)
        # Every comment of the original is still there.
        for line in HAND_EDITED.splitlines():
            if line.lstrip().startswith("#"):
                assert line in out.splitlines()


# ----------------------------------------------------------------------------- unset


def test_unset_removes_only_the_statement() -> None:
    out, found = unset_value(HAND_EDITED, ("temperature",))
    assert found
    assert changes(HAND_EDITED, out) == (["temperature = 0.7 # warm"], [])
    out, _ = unset_value(HAND_EDITED, ("stop",))
    assert changes(HAND_EDITED, out)[0] == ["stop = [", '  "END",   # one', '  "STOP",  # two', "]"]
    out, _ = unset_value(HAND_EDITED, ("aliases", "big.one"))
    assert changes(HAND_EDITED, out) == (
        ['  "big.one" = "Qwen/Qwen2.5-VL-72B-Instruct-together"'],
        [],
    )


def test_unset_a_table_removes_its_sections_and_dotted_keys() -> None:
    data = tomllib.loads(HAND_EDITED)
    out, found = unset_value(HAND_EDITED, ("prices",))
    assert found and tomllib.loads(out) == without(data, ("prices",))
    assert "[prices" not in out and "# plugins from some future version" in out
    out, _ = unset_value(HAND_EDITED, ("prices", "minimax-minimax-m1"))
    assert tomllib.loads(out) == without(data, ("prices", "minimax-minimax-m1"))
    assert "[prices]" in out
    out, _ = unset_value(HAND_EDITED, ("aliases",))
    assert "# Short names for long model ids" in out  # a comment above the table stays
    assert tomllib.loads(out) == without(data, ("aliases",))


def test_unset_of_an_absent_key_changes_nothing() -> None:
    for path in [("nope",), ("aliases", "nope"), ("prices", "x", "input"), ("model", "x")]:
        assert unset_value(HAND_EDITED, path) == (HAND_EDITED, False)


def test_unset_inside_an_inline_table_is_refused() -> None:
    with pytest.raises(TomlEditError, match="edit the file by hand"):
        unset_value(HAND_EDITED, ("my_unknown_key", "nested"))


# ----------------------------------------------------------------------------- a random walk


def test_random_edits_keep_data_and_comments() -> None:
    rng = random.Random(1234)
    paths = [
        ("model",),
        ("temperature",),
        ("top_p",),
        ("stop",),
        ("system",),
        ("aliases", "fast"),
        ("aliases", "x.y"),
        ("prices", "minimax-minimax-m1", "input"),
        ("prices", "minimax-minimax-m1", "output"),
        ("prices", "a/b.c", "input"),
        ("prices", "new", "output"),
    ]
    values: list[Any] = [0.5, 3, "text # with hash", ["a", "b"], True, 'q"uote\n']
    text = HAND_EDITED
    data = tomllib.loads(text)
    comments = [line for line in HAND_EDITED.splitlines() if line.lstrip().startswith("#")]
    unsets = 0
    for _ in range(300):
        path = rng.choice(paths)
        if rng.random() < 0.3:
            text, found = unset_value(text, path)
            assert found == _has(data, path)
            if found:
                data = without(data, path)
                unsets += 1
        else:
            value = rng.choice(values)
            text = set_value(text, path, value)
            data = with_value(data, path, value)
        assert prune(tomllib.loads(text)) == prune(data)
    assert unsets > 20  # the walk removed things, not only added them
    # Comments outside the tables the walk touched are all still there, in order.
    kept = [line for line in text.splitlines() if line.lstrip().startswith("#")]
    assert [c for c in comments if c in kept] == [c for c in kept if c in comments]
    assert "# mlchat settings, edited by hand" in kept
    assert "# plugins from some future version" in kept


def prune(node: Any) -> Any:
    """Data without empty tables: removing the last dotted key of a table removes the table."""
    if not isinstance(node, dict):
        return node
    pruned = {k: prune(v) for k, v in node.items()}
    return {k: v for k, v in pruned.items() if v != {}}


def _has(data: dict[str, Any], path: tuple[str, ...]) -> bool:
    node: Any = data
    for part in path:
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True
