"""What each phase wants, and the gates between phases, as tables."""

from __future__ import annotations

import pytest

from kafka_upgrade.core.kafka_cli import FeatureLevel
from kafka_upgrade.core.plan import (
    IBP,
    LMF,
    all_on_binary,
    can_finalize,
    finalize_args,
    finalized_at,
    phase1_config,
    phase2_config,
    pin_conflicts,
    protocol_still_pinned,
)


@pytest.mark.parametrize(
    ("mode", "props", "wanted"),
    [
        ("zk", {}, {IBP: "3.7"}),
        ("zk", {IBP: "3.6"}, {IBP: "3.6"}),  # an existing pin is kept, never raised
        ("zk", {IBP: "3.8"}, {IBP: "3.8"}),  # a half-done phase 2 is not undone by a re-run
        ("zk", {LMF: "2.8"}, {IBP: "3.7", LMF: "2.8"}),
        ("kraft", {}, {}),
    ],
)
def test_phase1_pins_the_current_release(mode: str, props: dict, wanted: dict) -> None:
    assert phase1_config(mode, "3.7.2", props) == wanted


@pytest.mark.parametrize(
    ("props", "wanted"),
    [
        ({IBP: "3.7"}, {IBP: "3.8"}),
        ({IBP: "3.7", LMF: "3.7"}, {IBP: "3.8", LMF: "3.8"}),
    ],
)
def test_phase2_raises_to_the_target_release(props: dict, wanted: dict) -> None:
    assert phase2_config("zk", "3.8.1", props) == wanted
    assert phase2_config("kraft", "4.1.1", props) == {}


def test_pin_above_target_is_refused() -> None:
    verdict = pin_conflicts(2, "3.7.2", "3.8.1", {IBP: "3.9"})
    assert verdict.rules == ("pin-above-target",)
    assert "node 2" in str(verdict)
    assert pin_conflicts(2, "3.7.2", "3.8.1", {IBP: "3.7-IV4"}).ok
    assert pin_conflicts(2, "3.7.2", "3.8.1", {IBP: "banana"}).rules == ("unreadable-pin",)


def test_all_on_binary_names_each_laggard() -> None:
    verdict = all_on_binary({1: "3.8.1", 2: "3.7.2", 3: None}, "3.8.1", "phase 2")
    assert verdict.rules == ("not-on-new-binary", "not-on-new-binary")
    assert "node 2 runs 3.7.2" in str(verdict)
    assert "node 3 is not running" in str(verdict)
    assert all_on_binary({1: "3.8.1"}, "3.8.1", "phase 2").ok


def test_rollback_only_while_pinned() -> None:
    assert protocol_still_pinned({1: {IBP: "3.7"}, 2: {IBP: "3.7"}}, "3.7.2").ok
    assert protocol_still_pinned({1: {IBP: "3.8"}}, "3.7.2").rules == ("protocol-raised",)
    assert protocol_still_pinned({1: {}}, "3.7.2").rules == ("protocol-not-pinned",)


def feature(max_: str, finalized: str | None = None) -> FeatureLevel:
    return FeatureLevel("metadata.version", "3.3-IV3", max_, finalized, 1)


def test_finalize_gate_needs_every_node_to_support_the_level() -> None:
    assert can_finalize({1: feature("4.1-IV1"), 2: feature("4.1-IV1")}, "4.1.1").ok
    refused = can_finalize({1: feature("4.1-IV1"), 2: feature("3.9-IV0"), 3: None}, "4.1.1")
    assert refused.rules == ("metadata-unsupported", "feature-unknown")


@pytest.mark.parametrize(
    ("target", "args"),
    [
        ("4.1.1", ["upgrade", "--release-version", "4.1"]),
        ("3.9.1", ["upgrade", "--metadata", "3.9"]),
    ],
)
def test_finalize_arguments_per_major(target: str, args: list[str]) -> None:
    assert finalize_args(target) == args


def test_finalized_at() -> None:
    assert finalized_at(feature("4.1-IV1", "4.1-IV1"), "4.1.1").ok
    assert not finalized_at(feature("4.1-IV1", "3.9-IV0"), "4.1.1").ok
    assert not finalized_at(None, "4.1.1").ok
