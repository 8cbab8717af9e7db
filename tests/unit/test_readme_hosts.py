"""The README's "Running it on your hosts" says what the code does: its sudoers drop-in is
exactly what `kafka-upgrade sudoers` prints for its example inventory."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from kafka_upgrade.core.access_checks import node_grants
from kafka_upgrade.core.inventory import Inventory
from kafka_upgrade.core.privilege import sudoers_dropin

README = Path(__file__).resolve().parents[2] / "README.md"


def _section() -> str:
    text = README.read_text()
    start = text.index("## Running it on your hosts")
    end = text.index("\n## ", start + 1)
    return text[start:end]


def test_the_readme_dropin_is_what_the_tool_prints_for_its_example() -> None:
    section = _section()
    example = re.search(r"```yaml\n(.*?)```", section, re.S)
    dropin = re.search(r"```sudoers\n(.*?)```", section, re.S)
    assert example and dropin, "the section lost its example inventory or its drop-in"
    inventory = Inventory(**yaml.safe_load(example.group(1)))
    node = inventory.nodes[0]
    assert dropin.group(1) == sudoers_dropin(node.access.login, node_grants(node))


def test_the_sudoers_command_prints_it_and_refuses_without_sudo(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from kafka_upgrade.app.cli import app

    example = re.search(r"```yaml\n(.*?)```", _section(), re.S)
    assert example
    path = tmp_path / "inv.yaml"
    path.write_text(example.group(1))
    result = CliRunner().invoke(app, ["sudoers", "--inventory", str(path)])
    assert result.exit_code == 0, result.output
    assert "ops ALL=(root) NOPASSWD: /usr/bin/ln\n" in result.output
    plain = yaml.safe_load(example.group(1))
    del plain["privilege"]
    path.write_text(yaml.safe_dump(plain))
    result = CliRunner().invoke(app, ["sudoers", "--inventory", str(path)])
    assert result.exit_code == 2
    assert "privilege.sudo is not set" in result.output
