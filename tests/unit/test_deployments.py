"""prefect.yaml stays true to what `kafka-upgrade deploy` registers; the trigger body."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import yaml

from deployments.register import DEPLOYMENTS, POOL, TAGS
from deployments.tickets import trigger_body

ROOT = Path(__file__).resolve().parents[2]


def test_prefect_yaml_lists_exactly_the_registered_deployments() -> None:
    declared = yaml.safe_load((ROOT / "prefect.yaml").read_text())["deployments"]
    assert [(d["name"], d["entrypoint"]) for d in declared] == [
        (s.name, s.entrypoint) for s in DEPLOYMENTS
    ]
    for d in declared:
        assert d["work_pool"]["name"] == POOL
        assert tuple(d["tags"]) == TAGS


def test_every_entrypoint_names_a_flow_of_that_name() -> None:
    import importlib

    for spec in DEPLOYMENTS:
        path, name = spec.entrypoint.split(":")
        module = path.removesuffix(".py").replace("/", ".")
        flow = getattr(importlib.import_module(module), name)
        assert flow.name == spec.name


def test_a_ticket_gives_tags_an_idempotency_key_and_a_schedule() -> None:
    at = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
    body = trigger_body("/inv/prod.yaml", "prod", "CHG-123", "4.1.1", at)
    assert body["idempotency_key"] == "kafka-upgrade:prod:CHG-123"
    assert set(body["tags"]) == {"kafka-upgrade", "ticket:CHG-123", "cluster:prod"}
    assert body["parameters"] == {
        "request": {"cluster": "/inv/prod.yaml", "ticket": "CHG-123", "to_version": "4.1.1"}
    }
    assert body["state"]["type"] == "SCHEDULED"
    assert body["state"]["state_details"]["scheduled_time"] == "2026-12-01T02:00:00+00:00"
    assert "state" not in trigger_body("p", "prod", "CHG-1", None)
