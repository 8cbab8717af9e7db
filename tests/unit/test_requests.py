"""The run request models and how a request's cluster finds its inventory."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from kafka_upgrade.core.requests import (
    ClusterNotFound,
    PhaseRequest,
    UpgradeRequest,
    resolve_cluster,
)


@pytest.fixture()
def inventories(tmp_path: Path) -> Path:
    (tmp_path / "prod-eu-1.yaml").write_text("cluster: prod-eu-1\n")
    (tmp_path / "prod-us-2.yml").write_text("cluster: prod-us-2\n")
    (tmp_path / "staging").mkdir()
    (tmp_path / "staging" / "inventory.yaml").write_text("cluster: staging\n")
    return tmp_path


@pytest.mark.parametrize(
    ("cluster", "found"),
    [
        ("prod-eu-1", "prod-eu-1.yaml"),
        ("prod-us-2", "prod-us-2.yml"),
        ("staging", "staging/inventory.yaml"),
    ],
)
def test_a_name_is_found_in_the_inventories_directory(
    inventories: Path, cluster: str, found: str
) -> None:
    assert resolve_cluster(cluster, inventories) == inventories / found


def test_a_path_is_used_as_it_is(inventories: Path) -> None:
    path = inventories / "prod-eu-1.yaml"
    assert resolve_cluster(str(path), None) == path


@pytest.mark.parametrize(
    ("cluster", "directory", "words"),
    [
        ("/nope/x.yaml", "", "inventory file /nope/x.yaml does not exist"),
        ("missing", "dir", "no inventory for 'missing'"),
        ("Prod EU", "dir", "neither an inventory path nor a cluster name"),
        ("prod-eu-1", None, "set KAFKA_UPGRADE_INVENTORIES on the worker"),
    ],
)
def test_what_cannot_be_found_says_where_it_looked(
    inventories: Path,
    monkeypatch: pytest.MonkeyPatch,
    cluster: str,
    directory: str | None,
    words: str,
) -> None:
    monkeypatch.delenv("KAFKA_UPGRADE_INVENTORIES", raising=False)
    where = inventories if directory == "dir" else (directory or None)
    with pytest.raises(ClusterNotFound, match=words):
        resolve_cluster(cluster, where)


def test_the_worker_environment_names_the_directory(
    inventories: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KAFKA_UPGRADE_INVENTORIES", str(inventories))
    assert resolve_cluster("staging") == inventories / "staging" / "inventory.yaml"


def test_every_field_of_the_form_is_described() -> None:
    schema = UpgradeRequest.model_json_schema()
    for name, prop in schema["properties"].items():
        assert prop.get("description"), f"{name} has no description for the UI form"


@pytest.mark.parametrize(
    "bad",
    [
        {"cluster": ""},
        {"cluster": "a", "to_version": "4.1"},
        {"cluster": "a", "colour": 1},
        {"cluster": "a", "max_parallel": 0},
    ],
)
def test_bad_requests_are_refused(bad: dict) -> None:
    with pytest.raises(ValidationError):
        PhaseRequest(**bad)
