"""The local JSON Schema validator used for `--schema` and tool arguments."""

from __future__ import annotations

from typing import Any

import pytest

from mlchat.schema import SchemaError, validate

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
        {"name": "Ada", "age": 36.0, "tags": ["a", "b"], "role": "admin"},
        {"name": "Ada", "age": 0, "address": {"zip": "75001"}},
    ],
)
def test_valid_documents(value: Any) -> None:
    assert validate(value, PERSON) is None


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"age": 3}, "$: missing required property 'name'"),
        ({"name": "Ada", "age": "3"}, "$.age: expected integer, got string"),
        ({"name": "Ada", "age": 3.5}, "$.age: expected integer, got number"),
        ({"name": "Ada", "age": True}, "$.age: expected integer, got boolean"),
        ({"name": "Ada", "age": -1}, "$.age: -1 is less than the minimum 0"),
        ({"name": "", "age": 1}, "$.name: shorter than 1 characters"),
        ({"name": "A", "age": 1, "x": 1}, "$: unexpected property 'x'"),
        ({"name": "A", "age": 1, "tags": ["a", "a"]}, "$.tags: items must be unique"),
        ({"name": "A", "age": 1, "tags": ["a", 2]}, "$.tags[1]: expected string, got integer"),
        ({"name": "A", "age": 1, "role": "root"}, '$.role: "root" is not one of "admin", "user"'),
        ({"name": "A", "age": 1, "address": {"zip": "1"}}, "$.address.zip: does not match"),
        ([], "$: expected object, got array"),
    ],
)
def test_invalid_documents_name_the_path(value: Any, message: str) -> None:
    error = validate(value, PERSON)
    assert error is not None and error.startswith(message)


def test_combinators() -> None:
    schema = {"anyOf": [{"type": "string"}, {"type": "number"}]}
    assert validate(1, schema) is None
    assert validate(None, schema) == "$: matches none of anyOf"
    one = {"oneOf": [{"type": "integer"}, {"type": "number"}]}
    assert validate(1.5, one) is None
    assert validate(1, one) == "$: matches 2 of oneOf, expected exactly 1"
    assert validate(1, {"not": {"type": "integer"}}) is not None
    assert validate(1, {"allOf": [{"type": "integer"}, {"minimum": 2}]}) is not None
    assert validate(True, {"const": True}) is None
    assert validate(1, {"const": True}) is not None


def test_boolean_schemas_and_bad_refs() -> None:
    assert validate({"a": 1}, True) is None
    assert validate(1, False) is not None
    with pytest.raises(SchemaError):
        validate(1, {"$ref": "#/$defs/missing"})
    with pytest.raises(SchemaError):
        validate(1, "not a schema")
