"""The inventory reference: generated from the models, committed up to date, every field
described, and a schema that accepts real inventories and refuses wrong ones."""

from __future__ import annotations

import re
from pathlib import Path

import jsonschema
import pytest
import yaml
from pydantic import BaseModel, Field

from kafka_upgrade.app.inventory_reference import main
from kafka_upgrade.core.inventory import Inventory
from kafka_upgrade.core.inventory_reference import (
    MARKDOWN_PATH,
    SCHEMA_PATH,
    cell_text,
    inventory_json_schema,
    nested_model,
    reference_files,
    reference_markdown,
    section_markdown,
    sections,
)
from tests.unit.test_inventory import base
from tests.unit.test_migration_inventory import zk_inventory

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", [MARKDOWN_PATH, SCHEMA_PATH])
def test_the_committed_reference_is_what_the_models_generate(name: str) -> None:
    path = ROOT / name
    assert path.is_file(), f"{name} is missing: run `make reference`"
    assert path.read_text() == reference_files()[name], f"{name} is stale: run `make reference`"


def all_models(model: type[BaseModel]) -> set[type[BaseModel]]:
    found = {model}
    for field in model.model_fields.values():
        nested = nested_model(field.annotation)
        if nested is not None and nested[0] not in found:
            found |= all_models(nested[0])
    return found


def test_every_field_of_every_model_has_a_description() -> None:
    models = all_models(Inventory)
    assert len(models) >= 10  # Inventory, SshSettings, Node, ServiceControl, ZooKeeper, ...
    missing = sorted(
        f"{model.__name__}.{name}"
        for model in models
        for name, field in model.model_fields.items()
        if not (field.description or "").strip()
    )
    assert missing == [], f"fields without a description: {', '.join(missing)}"


def table_rows(markdown: str) -> dict[str, list[str]]:
    """Each table row by its field: the other cells, split on unescaped pipes."""
    rows = {}
    for line in markdown.splitlines():
        if line.startswith("| `"):
            cells = [c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]]
            rows[cells[0].strip("`")] = cells[1:]
    return rows


@pytest.mark.parametrize(
    ("field", "kind", "default", "constraints"),
    [
        ("cluster", "string", "required", "pattern `^[a-z0-9][a-z0-9-]*$`"),
        ("mode", "one of 'zk', 'kraft'", "required", ""),
        ("accept_unavailable", "list of string", "`[]`", ""),
        ("max_parallel", "int", "`1`", ">= 1"),
        ("nodes", "list, see `nodes[]`", "required", "1 or more entries"),
        ("timeouts", "see `timeouts`", "see `timeouts`", ""),
        ("nodes[].jmx_port", "int", "empty", ">= 1, <= 65535"),
        ("nodes[].ssh_port", "int", "empty", ">= 1, <= 65535"),
        ("nodes[].install_dir", "path", "required", ""),
        ("nodes[].env", "map of string to string", "`{}`", ""),
        ("nodes[].service.kind", "one of 'scripts', 'systemd', 'command'", "`scripts`", ""),
        ("nodes[].service.sudo", "bool", "`false`", ""),
        (
            "migration.controllers[].roles",
            "list of one of 'broker', 'controller'",
            '`["controller"]`',
            "",
        ),
        ("kafka.sasl_password", "secret", "empty", ""),
        ("health.poll_interval_s", "float", "`0.25`", "> 0, <= 1.0"),
    ],
)
def test_the_markdown_has_a_row_per_field(
    field: str, kind: str, default: str, constraints: str
) -> None:
    rows = table_rows(reference_markdown())
    assert field in rows, f"no row for {field}"
    assert rows[field][0] == kind
    assert rows[field][1] == default
    assert rows[field][2] == constraints
    assert rows[field][3], f"{field} has no meaning"


def test_the_markdown_has_a_section_per_model_and_says_how_to_override() -> None:
    markdown = reference_markdown()
    for title in ["Top level", "`ssh`", "`nodes[]`", "`nodes[].service`", "`zookeeper`"]:
        assert f"\n## {title}\n" in markdown
    for title in ["`migration`", "`migration.controllers[]`", "`kafka`", "`timeouts`"]:
        assert f"\n## {title}\n" in markdown
    assert "\n## `health`\n" in markdown
    assert "## `migration.controllers[].service`" not in markdown  # described once, above
    assert "KAFKA_UPGRADE_KAFKA__SASL_PASSWORD" in markdown
    assert "masked" in markdown


class Port(BaseModel):
    number: int = Field(ge=1, description="a | b, on two\nlines")


class Toy(BaseModel):
    main: Port = Field(description="the main port")
    extra: list[Port] = Field(default_factory=list, description="more ports")
    spare: Port | None = Field(None, description="a spare")


def test_nested_models_are_found_without_being_named() -> None:
    found = sections(Toy, "", "", {})
    assert [s.path for s in found] == ["", "main"]
    assert [r.type for r in found[0].rows] == ["see `main`", "list, see `main`", "see `main`"]
    assert [r.default for r in found[0].rows] == ["required", "`[]`", "empty"]


def test_pipes_and_newlines_do_not_break_a_table() -> None:
    assert cell_text("a | b\nc") == "a \\| b c"
    line = section_markdown(sections(Toy, "", "", {})[1]).splitlines()[-1]
    assert line == "| `main.number` | int | required | >= 1 | a \\| b, on two lines |"
    assert len(re.split(r"(?<!\\)\|", line)) == 7  # five cells


def validate(document: dict) -> None:
    jsonschema.validate(document, inventory_json_schema())


def test_the_schema_accepts_real_inventories() -> None:
    readme = (ROOT / "README.md").read_text()
    example = readme.split("## The inventory", 1)[1].split("```yaml\n", 1)[1].split("```", 1)[0]
    validate(yaml.safe_load(example))
    validate(zk_inventory())  # with a migration section
    # What the tool writes (the sandbox's inventory): every default, masked secrets.
    written = Inventory(**base(), kafka={"sasl_password": "hunter2"}).to_yaml()
    validate(yaml.safe_load(written))


@pytest.mark.parametrize(
    "change",
    [
        lambda d: d.update(mode="zookeeper"),
        lambda d: d.pop("cluster"),
        lambda d: d.update(colour="blue"),
        lambda d: d["nodes"][0].update(ssh_port=0),
        lambda d: d["ssh"].update(connect_timeout_s=0),
    ],
)
def test_the_schema_refuses_what_the_model_refuses(change) -> None:
    document = base()
    change(document)
    with pytest.raises(jsonschema.ValidationError):
        validate(document)


def test_the_schema_says_what_editors_need() -> None:
    schema = inventory_json_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["title"] == "kafka-upgrade inventory"
    assert schema["properties"]["mode"]["enum"] == ["zk", "kraft"]
    assert set(schema["required"]) >= {"cluster", "mode", "bootstrap_servers", "nodes"}
    password = schema["$defs"]["KafkaClientSettings"]["properties"]["sasl_password"]
    assert {"type": "string", "format": "password", "writeOnly": True} in password["anyOf"]
    assert reference_files()[SCHEMA_PATH].endswith("}\n")


def test_the_writer_writes_then_checks(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["--check"], root=tmp_path) == 1
    assert "docs/inventory.md is stale: run `make reference`" in capsys.readouterr().err
    assert main([], root=tmp_path) == 0
    assert main(["--check"], root=tmp_path) == 0
    (tmp_path / SCHEMA_PATH).write_text("{}\n")
    assert main(["--check"], root=tmp_path) == 1
    err = capsys.readouterr().err
    assert err == "docs/inventory.schema.json is stale: run `make reference`\n"
