"""JSON Schema (mlchat/schema.py over jsonschema-rs) for `--schema` and tool arguments: the
2020-12 keywords, the cases the hand-written validator got wrong, schemas checked when loaded,
and hostile values and patterns answered with a problem, in bounded time, never an exception."""

from __future__ import annotations

import json
import multiprocessing
import time
from typing import Any

import pytest

from mlchat.schema import MAX_DEPTH, SchemaError, check_schema, validate

PERSON = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "minLength": 1},
        "age": {"type": "integer", "minimum": 0, "maximum": 150},
        "tags": {"type": "array", "items": {"type": "string"}, "uniqueItems": True},
        "role": {"enum": ["admin", "user"]},
        "address": {"$ref": "#/$defs/address"},
    },
    "required": ["name", "age"],
    "additionalProperties": False,
    "$defs": {
        "address": {
            "type": "object",
            "properties": {"zip": {"type": "string", "pattern": "^[0-9]{5}$"}},
            "required": ["zip"],
        }
    },
}


@pytest.mark.parametrize(
    "value",
    [
        {"name": "Ada", "age": 36},
        {"name": "Ada", "age": 36.0, "tags": ["a", "b"], "role": "admin"},  # 36.0 is an integer
        {"name": "Ada", "age": 0, "address": {"zip": "75001"}},
    ],
)
def test_valid_documents(value: Any) -> None:
    assert validate(value, PERSON) is None


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"age": 3}, '$: "name" is a required property'),
        ({"name": "Ada", "age": "3"}, '$.age: "3" is not of type "integer"'),
        ({"name": "Ada", "age": 3.5}, '$.age: 3.5 is not of type "integer"'),
        ({"name": "Ada", "age": True}, '$.age: true is not of type "integer"'),
        ({"name": "Ada", "age": -1}, "$.age: -1 is less than the minimum of 0"),
        ({"name": "", "age": 1}, '$.name: "" is shorter than 1 character'),
        ({"name": "A", "age": 1, "x": 1}, "$: Additional properties are not allowed"),
        ({"name": "A", "age": 1, "tags": ["a", "a"]}, '$.tags: ["a","a"] has non-unique elements'),
        ({"name": "A", "age": 1, "tags": ["a", 2]}, '$.tags[1]: 2 is not of type "string"'),
        ({"name": "A", "age": 1, "role": "root"}, '$.role: "root" is not one of "admin" or "user"'),
        ({"name": "A", "age": 1, "address": {"zip": "1"}}, '$.address.zip: "1" does not match'),
        ([], '$: [] is not of type "object"'),
    ],
)
def test_invalid_documents_name_the_path(value: Any, message: str) -> None:
    error = validate(value, PERSON)
    assert error is not None and error.startswith(message), error


def test_odd_keys_are_quoted_in_the_path() -> None:
    schema = {"properties": {"a key": {"properties": {"x-y": {"type": "string"}}}}}
    assert validate({"a key": {"x-y": 1}}, schema) == '$["a key"]["x-y"]: 1 is not of type "string"'


def test_combinators() -> None:
    schema = {"anyOf": [{"type": "string"}, {"type": "number"}]}
    assert validate(1, schema) is None
    assert validate(None, schema) is not None
    one = {"oneOf": [{"type": "integer"}, {"type": "number"}]}
    assert validate(1.5, one) is None
    assert validate(1, one) is not None
    assert validate(1, {"not": {"type": "integer"}}) is not None
    assert validate(1, {"allOf": [{"type": "integer"}, {"minimum": 2}]}) is not None
    assert validate(True, {"const": True}) is None
    assert validate(1, {"const": True}) is not None
    cond = {"if": {"type": "integer"}, "then": {"minimum": 0}, "else": {"type": "string"}}
    assert validate(1, cond) is None and validate(-1, cond) and validate(None, cond)


# -- what the hand-written validator got wrong ----------------------------------------------------


def test_unique_items_tells_1_from_1_0_as_json_does_not() -> None:
    # JSON Schema compares numbers by value: 1 and 1.0 are the same number, not unique.
    assert validate([1, 1.0], {"uniqueItems": True}) is not None
    assert validate([1, True], {"uniqueItems": True}) is None  # but true is not 1
    assert validate([{"a": 1}, {"a": 1.0}], {"uniqueItems": True}) is not None


def test_const_and_enum_do_not_take_true_for_1() -> None:
    assert validate({"a": True}, {"const": {"a": 1}}) is not None
    assert validate({"a": 1.0}, {"const": {"a": 1}}) is None
    assert validate([True], {"enum": [[1]]}) is not None


@pytest.mark.parametrize(
    ("schema", "good", "bad"),
    [
        ({"dependentRequired": {"card": ["billing"]}}, {"card": 1, "billing": 2}, {"card": 1}),
        (
            {"dependentSchemas": {"card": {"required": ["billing"]}}},
            {"billing": 1},
            {"card": 1},
        ),
        ({"propertyNames": {"pattern": "^[a-z]+$"}}, {"abc": 1}, {"Abc": 1}),
        (
            {"properties": {"a": {}}, "unevaluatedProperties": False},
            {"a": 1},
            {"a": 1, "b": 2},
        ),
        (  # unevaluatedProperties sees what allOf's branches evaluated
            {"allOf": [{"properties": {"a": {}}}], "unevaluatedProperties": False},
            {"a": 1},
            {"a": 1, "b": 2},
        ),
        (
            {"prefixItems": [{"type": "string"}], "unevaluatedItems": False},
            ["x"],
            ["x", 2],
        ),
        ({"contains": {"type": "string"}, "minContains": 2}, ["a", "b", 1], ["a", 1]),
        ({"contains": {"type": "string"}, "maxContains": 1}, ["a", 1], ["a", "b"]),
        ({"prefixItems": [{"type": "integer"}], "items": False}, [1], [1, 2]),
        ({"minProperties": 1, "maxProperties": 1}, {"a": 1}, {}),
        ({"multipleOf": 0.5}, 1.5, 1.2),
        ({"exclusiveMaximum": 3}, 2.9, 3),
    ],
)
def test_draft_2020_12_keywords(schema: dict[str, Any], good: Any, bad: Any) -> None:
    check_schema(schema)
    assert validate(good, schema) is None
    assert validate(bad, schema) is not None


def test_anchor_refs_and_a_ref_to_itself() -> None:
    anchored = {"$defs": {"n": {"$anchor": "count", "type": "integer"}}, "$ref": "#count"}
    assert validate(3, anchored) is None
    assert validate("3", anchored) is not None
    tree = {
        "type": "object",
        "properties": {"value": {"type": "integer"}, "children": {"items": {"$ref": "#"}}},
    }
    assert validate({"value": 1, "children": [{"value": 2, "children": [{}]}]}, tree) is None
    problem = validate({"children": [{"children": [{"value": "x"}]}]}, tree)
    assert problem is not None and problem.startswith("$.children[0].children[0].value:")
    assert validate(1, {"$ref": "#"}) is None  # a schema that is only a reference to itself
    loop = {"$defs": {"a": {"$ref": "#/$defs/b"}, "b": {"$ref": "#/$defs/a"}}, "$ref": "#/$defs/a"}
    assert validate(1, loop) is None


def test_format_is_an_annotation_as_in_2020_12() -> None:
    assert validate("not an email", {"format": "email"}) is None


def test_older_drafts_by_their_schema_uri() -> None:
    draft7 = {"$schema": "http://json-schema.org/draft-07/schema#", "items": [{"type": "string"}]}
    assert validate(["x", 1], draft7) is None
    assert validate([1], draft7) is not None


# -- a schema is checked when it is loaded ---------------------------------------------------------


@pytest.mark.parametrize(
    ("schema", "message"),
    [
        (
            {"type": "objekt"},
            '$.type: "objekt" is not a type '
            "(one of array, boolean, integer, null, number, object, string)",
        ),
        ({"type": ["string", "nul"]}, '$.type: "nul" is not a type'),
        ({"properties": {"a": {"type": "strin"}}}, '$.properties.a.type: "strin" is not a type'),
        ({"required": "name"}, '$.required: "name" is not of type "array"'),
        ({"minLength": -1}, "$.minLength: -1 is less than the minimum of 0"),
        ({"pattern": "(("}, '$.pattern: "((" is not a "regex"'),
        ({"$ref": "#/$defs/missing"}, "$: Pointer '/$defs/missing' does not exist"),
        ("not a schema", "a JSON Schema must be an object"),
        ([{"type": "string"}], "a JSON Schema must be an object"),
    ],
)
def test_bad_schemas_are_refused_with_one_line(schema: Any, message: str) -> None:
    with pytest.raises(SchemaError) as info:
        check_schema(schema)
    assert str(info.value).startswith(message), str(info.value)
    assert "\n" not in str(info.value)
    with pytest.raises(SchemaError):  # validate refuses it the same way, nothing else
        validate(1, schema)


@pytest.mark.parametrize("ref", ["http://127.0.0.1:9/schema.json", "file:///etc/passwd"])
def test_remote_refs_are_never_fetched(ref: str) -> None:
    with pytest.raises(SchemaError, match="Retrieval is disabled"):
        check_schema({"$ref": ref})


def test_a_schema_nested_too_deep_is_refused() -> None:
    schema: dict[str, Any] = {"type": "string"}
    for _ in range(MAX_DEPTH + 10):
        schema = {"items": schema}
    with pytest.raises(SchemaError, match="nested more than"):
        check_schema(schema)


def test_a_value_no_json_holds_is_refused() -> None:
    import datetime  # what a TOML tools file gives for an unquoted date

    with pytest.raises(SchemaError, match="cannot be used"):
        check_schema({"const": datetime.date(2026, 1, 1)})


# -- hostile values: a problem, in bounded time, never an exception -------------------------------


def _hostile_pattern(queue: Any) -> None:
    started = time.perf_counter()
    problem = validate("a" * 40 + "!", {"type": "string", "pattern": "^(a+)+$"})
    queue.put((problem, time.perf_counter() - started))


def test_a_hostile_pattern_is_validated_in_bounded_time() -> None:
    # With backtracking (Python's re) this takes hours: the time doubles with each "a".
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    child = context.Process(target=_hostile_pattern, args=(queue,))
    child.start()
    child.join(30)
    if child.is_alive():
        child.kill()
        child.join()
        pytest.fail("validating against ^(a+)+$ did not finish in 30 s")
    problem, seconds = queue.get(timeout=5)
    assert problem is not None and problem.startswith("$: ")
    assert seconds < 5


def test_patterns_with_lookaround_and_backreferences_stay_bounded() -> None:
    assert validate("abab", {"pattern": "^(ab)\\1$"}) is None
    assert validate("ab" * 20000 + "!", {"pattern": "^(?=(a|b)+$)"}) is not None
    assert (
        validate({"a" * 5000 + "!": 1}, {"propertyNames": {"pattern": "^(a|a)+\\1$"}}) is not None
    )
    assert (
        validate({"a" * 40 + "!": "x"}, {"patternProperties": {"^(a+)+$": {"type": "integer"}}})
        is None
    )


def nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 3000, 200_000])
def test_deep_nesting_is_a_problem_not_an_exception(depth: int) -> None:
    # 200,000 levels overflow jsonschema-rs's stack (the process dies): we stop before it.
    recursive = {"items": {"$ref": "#"}}
    assert validate(nested(depth), recursive) == (f"$: nested more than {MAX_DEPTH} levels deep")
    assert validate(nested(MAX_DEPTH - 1), recursive) is None


@pytest.mark.parametrize(
    ("value", "schema", "problem"),
    [
        (10**400, {"type": "integer", "maximum": 10}, "$: 100000…(401 digits) is greater than"),
        (-(10**400), {"minimum": 0}, "$: -100000…(401 digits) is less than the minimum of 0"),
        (10**400, {"multipleOf": 7}, "$: 100000…(401 digits) is not a multiple of 7"),
        (float("nan"), {"maximum": 10}, "$: nan is not a JSON number"),
        ({"x": float("inf")}, {"type": "object"}, "$.x: inf is not a JSON number"),
        (["\ud800"], {"items": {"type": "string"}}, "$[0]: the string is not valid Unicode"),
        ({"\udfff": 1}, {"type": "object"}, "$: a key is not valid Unicode"),
        ({1: 2}, {"type": "object"}, "$: a key is not a string"),
        ((1, 2), {"type": "array"}, "$: a tuple is not a JSON value"),
    ],
)
def test_values_that_break_validators_are_problems(value: Any, schema: Any, problem: str) -> None:
    found = validate(value, schema)
    assert found is not None and found.startswith(problem), found
    assert len(found) <= 310


def test_model_arguments_as_parsed_by_json() -> None:
    # What the tool runner hands over: json.loads of the model's text.
    big = json.loads('{"n": ' + "9" * 400 + "}")
    assert validate(big, {"properties": {"n": {"maximum": 100}}}) is not None
    assert validate(json.loads('{"n": NaN}'), {"properties": {"n": {"maximum": 100}}}) is not None
    assert validate(json.loads('["\\ud800"]'), {}) is not None
