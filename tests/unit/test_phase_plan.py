"""What the approval form says the next phase will do."""

from __future__ import annotations

import pytest

from kafka_upgrade.core.kafka_cli import FeatureLevel, ParseError
from kafka_upgrade.core.phase_plan import finalize_plan, parse_version_mapping, roll_plan

MAPPING_4_1 = """\
metadata.version=27 (4.1)
kraft.version=1
transaction.version=2
group.version=1
eligible.leader.replicas.version=1
share.version=0
streams.version=0
[2026-11-25 18:13:35,842] WARN [AdminClient clientId=adminclient-1] Connection to node -1
"""


def _feature(name: str, finalized: str | None) -> FeatureLevel:
    return FeatureLevel(name, "0", "9", finalized, 1)


def test_version_mapping_is_read_and_warnings_ignored() -> None:
    mapping = parse_version_mapping(MAPPING_4_1)
    assert mapping["metadata.version"] == (27, "4.1")
    assert mapping["kraft.version"] == (1, None)
    assert len(mapping) == 7


def test_a_mapping_without_metadata_version_is_an_error() -> None:
    with pytest.raises(ParseError):
        parse_version_mapping("kraft.version=1\n")


def test_finalize_plan_lists_every_raised_feature_and_the_one_way_ones() -> None:
    current = {
        "metadata.version": _feature("metadata.version", "3.9-IV0"),
        "kraft.version": _feature("kraft.version", None),
        "group.version": _feature("group.version", None),
    }
    plan = finalize_plan("prod", "4.1", current, parse_version_mapping(MAPPING_4_1))
    raised = {f.name: (f.before, f.after) for f in plan.features}
    assert raised == {
        "metadata.version": ("3.9-IV0", "4.1 (level 27)"),
        "kraft.version": (None, "1"),
        "transaction.version": (None, "2"),
        "group.version": (None, "1"),
        "eligible.leader.replicas.version": (None, "1"),
    }
    # kraft.version is held by default: it changes the quorum and cannot be undone.
    assert [f.name for f in plan.held] == ["kraft.version"]
    assert plan.features[0].name == "metadata.version"  # raised first
    assert {f.name for f in plan.one_way} == set(raised) - {"kraft.version"}
    text = plan.markdown()
    assert "| kraft.version | 0 (off) | 1 | **not raised** | **no** |" in text
    assert "| group.version | 0 (off) | 1 | yes | **no** |" in text
    assert "Not raised in this run:** kraft.version (kraft.version=1)" in text
    assert "Cannot be undone once approved" in text
    assert "share.version" not in text  # level 0: nothing changes


def test_the_operator_chooses_which_features_move() -> None:
    current = {"metadata.version": _feature("metadata.version", "3.9-IV0")}
    plan = finalize_plan(
        "prod", "4.1", current, parse_version_mapping(MAPPING_4_1), ["metadata.version"]
    )
    assert [f.name for f in plan.raised] == ["metadata.version"]
    assert [f.feature_arg for f in plan.raised] == ["metadata.version=27"]
    assert "1 feature(s) raised one by one" in plan.summary and "4 not raised" in plan.summary


def test_finalize_plan_when_nothing_changes() -> None:
    current = {"metadata.version": _feature("metadata.version", "4.1-IV1")}
    plan = finalize_plan("prod", "4.1", current, {"metadata.version": (27, "4.1")})
    assert plan.features == ()
    assert "nothing changes" in plan.summary


def test_roll_plan_shows_each_node_and_its_protocol_change() -> None:
    ibp = "inter.broker.protocol.version"
    plan = roll_plan(
        "phase-2-protocol",
        "prod",
        ["broker-1", "broker-3", "broker-2"],
        "3.8.1",
        {label: {ibp: "3.8"} for label in ("broker-1", "broker-2", "broker-3")},
        {label: {ibp: "3.7"} for label in ("broker-1", "broker-2", "broker-3")},
    )
    assert [s.label for s in plan.nodes] == ["broker-1", "broker-3", "broker-2"]
    assert all(str(s.changes[0]) == f"{ibp}: 3.7 -> 3.8" for s in plan.nodes)
    assert "| 2 | broker-3 | 3.8.1 | `inter.broker.protocol.version: 3.7 -> 3.8` |" in (
        plan.markdown()
    )
    assert plan.lines()[1] == f"  1. broker-1: restart on 3.8.1; {ibp}: 3.7 -> 3.8"


def test_roll_plan_shows_the_batches_when_nodes_restart_together() -> None:
    labels = ["controller-1", "broker-4", "broker-7", "broker-5"]
    batches = ["controller-1", "broker-4 + broker-7 (rack a)", "broker-5 (rack b)"]
    plan = roll_plan("phase-1-binaries", "prod", labels, "4.1.1", {}, {}, batches)
    assert plan.summary.startswith("4 nodes restarted in 3 batches on 4.1.1")
    assert "  batch 2: broker-4 + broker-7 (rack a)" in plan.lines()
    assert "2. broker-4 + broker-7 (rack a)" in plan.markdown()
    one_by_one = roll_plan("phase-1-binaries", "prod", labels, "4.1.1", {}, {})
    assert "one at a time" in one_by_one.summary
    assert not any(line.startswith("  batch") for line in one_by_one.lines())
