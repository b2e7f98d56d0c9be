"""A small JSON Schema validator for structured output (`--schema`). Pure: standard library only.

Covers what models are asked to produce: type (incl. lists of types and integer vs number),
enum, const, properties / required / additionalProperties / patternProperties, items /
prefixItems, min/max items and length, uniqueItems, minimum / maximum / exclusive bounds /
multipleOf, pattern, allOf / anyOf / oneOf / not, if/then/else, and local `$ref` (`#/$defs/...`,
`#/definitions/...`). `format` is an annotation, as in draft 2020-12's default. Errors name the
JSON path of the first failing value, e.g. `$.items[2].name: expected string, got number`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

_TYPES = {
    "object": dict,
    "array": list,
    "string": str,
    "boolean": bool,
    "null": type(None),
}


class SchemaError(ValueError):
    """The schema itself is unusable."""


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _is_type(value: Any, name: str) -> bool:
    if name == "integer":
        return (isinstance(value, int) and not isinstance(value, bool)) or (
            isinstance(value, float) and value.is_integer()
        )
    if name == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    kind = _TYPES.get(name)
    if kind is None:
        raise SchemaError(f"unknown type '{name}' in the schema")
    return isinstance(value, kind) and not (kind is not bool and isinstance(value, bool))


def check_schema(schema: Any) -> None:
    """Reject what cannot be a schema (before sending it anywhere)."""
    if not isinstance(schema, dict | bool):
        raise SchemaError("a JSON Schema must be an object")


def validate(value: Any, schema: Any) -> str | None:
    """None when `value` conforms to `schema`, else a one-line description of the first error."""
    check_schema(schema)
    return _Validator(schema).check(value, schema, "$")


class _Validator:
    def __init__(self, root: Any) -> None:
        self.root = root

    def resolve(self, ref: str) -> Any:
        if not ref.startswith("#"):
            raise SchemaError(f"only local $ref are supported, got '{ref}'")
        node = self.root
        for part in ref[1:].lstrip("/").split("/") if ref != "#" else []:
            part = part.replace("~1", "/").replace("~0", "~")
            if isinstance(node, dict) and part in node:
                node = node[part]
            else:
                raise SchemaError(f"$ref '{ref}' does not resolve")
        return node

    def check(self, value: Any, schema: Any, path: str) -> str | None:
        if schema is True:
            return None
        if schema is False:
            return f"{path}: no value is allowed here"
        if not isinstance(schema, Mapping):
            raise SchemaError(f"invalid schema at {path}")
        if "$ref" in schema:
            error = self.check(value, self.resolve(str(schema["$ref"])), path)
            if error:
                return error
        kinds = schema.get("type")
        if kinds is not None:
            names = [kinds] if isinstance(kinds, str) else list(kinds)
            if not any(_is_type(value, n) for n in names):
                return f"{path}: expected {' or '.join(names)}, got {_type_name(value)}"
        if "enum" in schema and not any(_equal(value, e) for e in schema["enum"]):
            options = ", ".join(json.dumps(e) for e in schema["enum"][:10])
            return f"{path}: {json.dumps(value)[:60]} is not one of {options}"
        if "const" in schema and not _equal(value, schema["const"]):
            return f"{path}: must be {json.dumps(schema['const'])}"
        for sub in schema.get("allOf", ()):
            if error := self.check(value, sub, path):
                return error
        if "anyOf" in schema and all(self.check(value, s, path) for s in schema["anyOf"]):
            return f"{path}: matches none of anyOf"
        if "oneOf" in schema:
            matches = sum(1 for s in schema["oneOf"] if self.check(value, s, path) is None)
            if matches != 1:
                return f"{path}: matches {matches} of oneOf, expected exactly 1"
        if "not" in schema and self.check(value, schema["not"], path) is None:
            return f"{path}: must not match the 'not' schema"
        if "if" in schema:
            branch = "then" if self.check(value, schema["if"], path) is None else "else"
            if branch in schema and (error := self.check(value, schema[branch], path)):
                return error
        if isinstance(value, dict):
            return self.check_object(value, schema, path)
        if isinstance(value, list):
            return self.check_array(value, schema, path)
        if isinstance(value, str):
            return self.check_string(value, schema, path)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return self.check_number(value, schema, path)
        return None

    def check_object(
        self, value: dict[str, Any], schema: Mapping[str, Any], path: str
    ) -> str | None:
        for name in schema.get("required", ()):
            if name not in value:
                return f"{path}: missing required property '{name}'"
        props: Mapping[str, Any] = schema.get("properties", {})
        patterns: Mapping[str, Any] = schema.get("patternProperties", {})
        extra = schema.get("additionalProperties", True)
        for key, item in value.items():
            where = (
                f"{path}.{key}"
                if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key)
                else (f"{path}[{json.dumps(key)}]")
            )
            matched = False
            if key in props:
                matched = True
                if error := self.check(item, props[key], where):
                    return error
            for pattern, sub in patterns.items():
                if re.search(pattern, key):
                    matched = True
                    if error := self.check(item, sub, where):
                        return error
            if not matched:
                if extra is False:
                    return f"{path}: unexpected property '{key}'"
                if isinstance(extra, Mapping) and (error := self.check(item, extra, where)):
                    return error
        if "minProperties" in schema and len(value) < schema["minProperties"]:
            return f"{path}: needs at least {schema['minProperties']} properties"
        if "maxProperties" in schema and len(value) > schema["maxProperties"]:
            return f"{path}: allows at most {schema['maxProperties']} properties"
        return None

    def check_array(self, value: list[Any], schema: Mapping[str, Any], path: str) -> str | None:
        prefix = schema.get("prefixItems", ())
        for i, sub in enumerate(prefix):
            if i < len(value) and (error := self.check(value[i], sub, f"{path}[{i}]")):
                return error
        items = schema.get("items")
        if isinstance(items, list):  # draft-07 tuple form
            for i, sub in enumerate(items):
                if i < len(value) and (error := self.check(value[i], sub, f"{path}[{i}]")):
                    return error
        elif items is not None:
            for i in range(len(prefix), len(value)):
                if error := self.check(value[i], items, f"{path}[{i}]"):
                    return error
        if "minItems" in schema and len(value) < schema["minItems"]:
            return f"{path}: needs at least {schema['minItems']} items, got {len(value)}"
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            return f"{path}: allows at most {schema['maxItems']} items, got {len(value)}"
        if schema.get("uniqueItems"):
            seen: list[str] = []
            for item in value:
                key = json.dumps(item, sort_keys=True)
                if key in seen:
                    return f"{path}: items must be unique"
                seen.append(key)
        if "contains" in schema and all(self.check(v, schema["contains"], path) for v in value):
            return f"{path}: no item matches 'contains'"
        return None

    def check_string(self, value: str, schema: Mapping[str, Any], path: str) -> str | None:
        if "minLength" in schema and len(value) < schema["minLength"]:
            return f"{path}: shorter than {schema['minLength']} characters"
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            return f"{path}: longer than {schema['maxLength']} characters"
        if "pattern" in schema and not re.search(schema["pattern"], value):
            return f"{path}: does not match pattern {schema['pattern']!r}"
        return None

    def check_number(self, value: float, schema: Mapping[str, Any], path: str) -> str | None:
        if "minimum" in schema and value < schema["minimum"]:
            return f"{path}: {value:g} is less than the minimum {schema['minimum']:g}"
        if "maximum" in schema and value > schema["maximum"]:
            return f"{path}: {value:g} is more than the maximum {schema['maximum']:g}"
        if "exclusiveMinimum" in schema and value <= schema["exclusiveMinimum"]:
            return f"{path}: {value:g} must be more than {schema['exclusiveMinimum']:g}"
        if "exclusiveMaximum" in schema and value >= schema["exclusiveMaximum"]:
            return f"{path}: {value:g} must be less than {schema['exclusiveMaximum']:g}"
        step = schema.get("multipleOf")
        if step and (value / step) % 1 not in (0, 0.0):
            return f"{path}: {value:g} is not a multiple of {step:g}"
        return None


def _equal(a: Any, b: Any) -> bool:
    """JSON equality: 1 == 1.0, but true != 1."""
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    return bool(a == b)
