"""The inventory's reference, generated from its pydantic models: a Markdown page with every
field, its type, default, constraints and meaning, and a JSON Schema for editors.

The models are walked, not listed: a field added to ``inventory.py`` appears here by itself,
and a nested model (or a list of them) gets a section of its own. Pure: the files are written
by ``kafka_upgrade/app/inventory_reference.py`` (``make reference``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from types import NoneType, UnionType
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import to_jsonable_python

from kafka_upgrade.core.inventory import Inventory

MARKDOWN_PATH = "docs/inventory.md"
SCHEMA_PATH = "docs/inventory.schema.json"
SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
SCHEMA_TITLE = "kafka-upgrade inventory"

INTRO = """\
# Inventory reference

<!-- Generated from kafka_upgrade/core/inventory.py by `make reference`: do not edit. -->

One YAML file describes a cluster. Each table below is one section of it: `ssh` is the
`ssh:` mapping, `nodes[]` an entry of the `nodes:` list, `nodes[].service` the `service:`
mapping inside such an entry. *required* fields must be written; the others take the default
shown, and *empty* means unset (`null`, or the field left out).

Environment variables override the file: `KAFKA_UPGRADE_` followed by the field's name, with
`__` between nested names, e.g. `KAFKA_UPGRADE_TARGET_VERSION=4.1.2` or
`KAFKA_UPGRADE_KAFKA__SASL_PASSWORD=...`.

Fields of type *secret* are masked: they print as `**********` in logs, reprs, artifacts and in
an inventory the tool writes. Keep them in the environment rather than in the file.

Editors can check the file against the JSON Schema
[`inventory.schema.json`](inventory.schema.json): put
`# yaml-language-server: $schema=<path to docs/inventory.schema.json>` on the file's first line.
"""

_COLUMNS = ("field", "type", "required / default", "constraints", "meaning")
_TYPE_NAMES = {"integer": "int", "number": "float", "boolean": "bool", "string": "string"}
_CONSTRAINTS = (
    ("minimum", ">= {}"),
    ("exclusiveMinimum", "> {}"),
    ("maximum", "<= {}"),
    ("exclusiveMaximum", "< {}"),
    ("minLength", "{} or more characters"),
    ("maxLength", "{} or fewer characters"),
    ("minItems", "{} or more entries"),
    ("maxItems", "{} or fewer entries"),
    ("pattern", "pattern `{}`"),
)


@dataclass(frozen=True)
class Row:
    field: str  # the dotted path, e.g. nodes[].ssh_port
    type: str
    default: str
    constraints: str
    meaning: str


@dataclass(frozen=True)
class Section:
    path: str  # "" for the top level, else e.g. "nodes[].service"
    intro: str
    rows: tuple[Row, ...]


def reference_markdown() -> str:
    """The whole reference page."""
    parts = [INTRO]
    for section in sections(Inventory, "", Inventory.__doc__ or "", {}):
        parts.append(section_markdown(section))
    return "\n".join(parts)


def inventory_json_schema() -> dict[str, Any]:
    """The inventory's JSON Schema, for editors (``mode`` is an enum, secrets are writeOnly)."""
    return {**Inventory.model_json_schema(), "$schema": SCHEMA_DIALECT, "title": SCHEMA_TITLE}


def reference_files() -> dict[str, str]:
    """Each generated file (path from the repository's root) and its text."""
    schema = json.dumps(inventory_json_schema(), indent=2, sort_keys=True) + "\n"
    return {MARKDOWN_PATH: reference_markdown(), SCHEMA_PATH: schema}


def sections(
    model: type[BaseModel], path: str, intro: str, seen: dict[type[BaseModel], str]
) -> list[Section]:
    """The model's section, then those of its nested models, depth first. ``seen`` maps each
    model already described to its section, so a model used twice is described once."""
    seen[model] = path
    properties = model.model_json_schema()["properties"]
    rows: list[Row] = []
    below: list[Section] = []
    for name, field in model.model_fields.items():
        where = f"{path}.{name}" if path else name
        prop = properties[field.alias or name]
        nested = nested_model(field.annotation)
        if nested is None:
            rows.append(field_row(where, field, prop))
            continue
        inner, many = nested
        target = seen.get(inner, where + ("[]" if many else ""))
        rows.append(model_row(where, field, prop, target, many))
        if inner not in seen:
            below += sections(inner, target, field.description or inner.__doc__ or "", seen)
    return [Section(path, intro, tuple(rows)), *below]


def nested_model(annotation: Any) -> tuple[type[BaseModel], bool] | None:
    """The model a field holds and whether it holds a list of them; None for a plain value."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation, False
    args = [a for a in get_args(annotation) if a is not NoneType]
    origin = get_origin(annotation)
    if origin is list and args:
        inner = nested_model(args[0])
        return None if inner is None or inner[1] else (inner[0], True)
    if origin in (Union, UnionType) and len(args) == 1:
        return nested_model(args[0])
    return None


def field_row(where: str, field: FieldInfo, prop: dict[str, Any]) -> Row:
    meaning = field.description or ""
    return Row(where, type_words(prop), default_words(field), constraint_words(prop), meaning)


def model_row(where: str, field: FieldInfo, prop: dict[str, Any], target: str, many: bool) -> Row:
    kind = f"list, see `{target}`" if many else f"see `{target}`"
    default = default_words(field)
    if not field.is_required() and isinstance(default_value(field), BaseModel):
        default = f"see `{target}`"  # the nested model's own defaults
    return Row(where, kind, default, constraint_words(prop), field.description or "")


def default_words(field: FieldInfo) -> str:
    """The default as YAML shows it; "required" or "empty" (None) when there is none."""
    if field.is_required():
        return "required"
    value = default_value(field)
    if value is None:
        return "empty"
    if isinstance(value, str):
        return f"`{value}`"
    return f"`{json.dumps(to_jsonable_python(value, fallback=str))}`"


def default_value(field: FieldInfo) -> Any:
    return field.get_default(call_default_factory=True)


def type_words(prop: dict[str, Any]) -> str:
    """A JSON Schema property in an operator's words: int, path, secret, list of string..."""
    prop = without_null(prop)
    if "enum" in prop:
        return "one of " + ", ".join(f"'{v}'" for v in prop["enum"])
    if prop.get("writeOnly") or prop.get("format") == "password":
        return "secret"
    if prop.get("format") == "path":
        return "path"
    if "anyOf" in prop:
        return " or ".join(type_words(p) for p in prop["anyOf"])
    kind = prop.get("type")
    if kind == "array":
        return "list of " + type_words(prop.get("items", {}))
    if kind == "object":
        return "map of string to " + type_words(prop.get("additionalProperties") or {})
    return _TYPE_NAMES.get(kind, "any") if isinstance(kind, str) else "any"


def without_null(prop: dict[str, Any]) -> dict[str, Any]:
    """``X | None`` as ``X``: whether a field may be empty shows in its default."""
    options = [p for p in prop.get("anyOf", []) if p.get("type") != "null"]
    if "anyOf" in prop and len(options) == 1:
        return options[0]
    return prop


def constraint_words(prop: dict[str, Any]) -> str:
    prop = without_null(prop)
    return ", ".join(words.format(prop[key]) for key, words in _CONSTRAINTS if key in prop)


def section_markdown(section: Section) -> str:
    title = f"`{section.path}`" if section.path else "Top level"
    lines = [f"## {title}", ""]
    if section.intro:
        lines += [section.intro.strip(), ""]
    lines.append(table_line(_COLUMNS))
    lines.append(table_line(["---"] * len(_COLUMNS)))
    for row in section.rows:
        field = f"`{row.field}`"
        lines.append(table_line([field, row.type, row.default, row.constraints, row.meaning]))
    return "\n".join(lines) + "\n"


def table_line(cells: tuple[str, ...] | list[str]) -> str:
    return "| " + " | ".join(cell_text(c) for c in cells) + " |"


def cell_text(text: str) -> str:
    """A table cell on one line, its pipes escaped (also inside code spans, as GFM wants)."""
    return " ".join(text.split()).replace("|", "\\|")
