"""The roll order, the skip/resume decision and the upgrade-path rules, as tables."""

from __future__ import annotations

import pytest

from kafka_upgrade.core.errors import BadInput
from kafka_upgrade.core.order import NodeObservation, NodeRef, node_needs_restart, roll_order
from kafka_upgrade.core.upgrade_path import check_upgrade_path, parse_version, release_of

B = frozenset({"broker"})
C = frozenset({"controller"})
BC = frozenset({"broker", "controller"})


def nodes(**roles_by_id: frozenset[str]) -> list[NodeRef]:
    """nodes(n1=B, n2=BC) -> [NodeRef(1, B), NodeRef(2, BC)] (listed out of order on purpose)."""
    refs = [NodeRef(int(key[1:]), roles) for key, roles in roles_by_id.items()]
    return list(reversed(refs))


# ---------------------------------------------------------------------------
# roll_order
# ---------------------------------------------------------------------------

ORDER_TABLE = [
    # id, nodes, mode, active controller, order
    ("zk-controller-last", nodes(n1=B, n2=B, n3=B), "zk", 2, [1, 3, 2]),
    ("zk-controller-already-last", nodes(n1=B, n2=B, n3=B), "zk", 3, [1, 2, 3]),
    ("zk-controller-unknown", nodes(n3=B, n1=B, n2=B), "zk", None, [1, 2, 3]),
    ("zk-ids-not-contiguous", nodes(n10=B, n2=B, n7=B), "zk", 2, [7, 10, 2]),
    ("kraft-combined-leader-last", nodes(n1=BC, n2=BC, n3=BC), "kraft", 1, [2, 3, 1]),
    (
        "kraft-separate-controllers-then-brokers",
        nodes(n1=B, n2=B, n3=B, n3000=C, n3001=C, n3002=C),
        "kraft",
        3001,
        [3000, 3002, 3001, 1, 2, 3],
    ),
    (
        "kraft-mixed-combined-and-broker-only",
        nodes(n1=BC, n2=BC, n3=BC, n4=B, n5=B),
        "kraft",
        2,
        [1, 3, 2, 4, 5],
    ),
    (
        "kraft-controller-only-and-combined-share-the-group",
        nodes(n1=C, n2=BC, n3=B),
        "kraft",
        1,
        [2, 1, 3],
    ),
    ("kraft-leader-unknown", nodes(n2=C, n1=C, n5=B), "kraft", None, [1, 2, 5]),
]


@pytest.mark.parametrize(
    ("refs", "mode", "active", "expected"),
    [row[1:] for row in ORDER_TABLE],
    ids=[row[0] for row in ORDER_TABLE],
)
def test_roll_order(refs, mode, active, expected) -> None:
    assert roll_order(refs, mode, active) == expected


@pytest.mark.parametrize(
    ("refs", "mode", "active", "words"),
    [
        ([NodeRef(1, B), NodeRef(1, B)], "zk", None, "more than once"),
        ([NodeRef(1, B), NodeRef(2, BC)], "zk", None, "brokers only"),
        ([NodeRef(1, B), NodeRef(2, B)], "zk", 7, "active controller 7"),
        ([NodeRef(1, B), NodeRef(2, C)], "kraft", 1, "not among the controllers"),
        ([NodeRef(1, B), NodeRef(2, B)], "kraft", None, "no node has the controller role"),
        ([NodeRef(1, B)], "zookeeper", None, "mode must be"),
    ],
    ids=[
        "duplicate-id",
        "zk-controller-role",
        "zk-unknown-controller",
        "kraft-leader-is-a-broker",
        "kraft-no-controller",
        "bad-mode",
    ],
)
def test_roll_order_refuses(refs, mode, active, words: str) -> None:
    with pytest.raises(BadInput, match=words):
        roll_order(refs, mode, active)


@pytest.mark.parametrize(
    ("roles", "words"), [(frozenset(), "no role"), (frozenset({"zookeeper"}), "unknown role")]
)
def test_node_ref_refuses_bad_roles(roles: frozenset[str], words: str) -> None:
    with pytest.raises(BadInput, match=words):
        NodeRef(1, roles)


# ---------------------------------------------------------------------------
# node_needs_restart: skip what is done, so a re-run resumes
# ---------------------------------------------------------------------------

IBP = "inter.broker.protocol.version"
LMF = "log.message.format.version"


def obs(
    running: bool = True,
    binary: str | None = "3.8.1",
    link: str | None = "3.8.1",
    **pins: str,
) -> NodeObservation:
    config = {k.replace("_", "."): v for k, v in pins.items()}
    return NodeObservation(2, running, binary if running else None, link, config)


NEEDS_TABLE = [
    # id, observation, target, wanted config, rule (None = skip), words in the message
    ("done-kraft", obs(), "3.8.1", {}, None, None),
    (
        "done-zk-phase-1",
        obs(inter_broker_protocol_version="3.7"),
        "3.8.1",
        {IBP: "3.7"},
        None,
        None,
    ),
    (
        "ibp-patch-equals-release",
        obs(inter_broker_protocol_version="3.7.2"),
        "3.8.1",
        {IBP: "3.7"},
        None,
        None,
    ),
    ("not-running", obs(running=False), "3.8.1", {}, "not-running", "node 2 is not running"),
    (
        "old-binary",
        obs(binary="3.7.2", link="3.7.2"),
        "3.8.1",
        {},
        "wrong-binary",
        "node 2 runs 3.7.2, target 3.8.1",
    ),
    (
        "link-switched-not-restarted",
        obs(binary="3.7.2", link="3.8.1"),
        "3.8.1",
        {},
        "wrong-binary",
        "runs 3.7.2",
    ),
    (
        "restarted-but-link-old",
        obs(link="3.7.2"),
        "3.8.1",
        {},
        "link-mismatch",
        "'current' link points to 3.7.2",
    ),
    ("link-not-checked", obs(link=None), "3.8.1", {}, None, None),
    (
        "version-unreadable",
        obs(binary=None),
        "3.8.1",
        {},
        "version-unknown",
        "could not be read",
    ),
    (
        "phase-2-ibp-still-old",
        obs(inter_broker_protocol_version="3.7"),
        "3.8.1",
        {IBP: "3.8"},
        "config-mismatch",
        "node 2 runs 3.8.1 but inter.broker.protocol.version is 3.7, wanted 3.8",
    ),
    (
        "phase-2-ibp-missing",
        obs(),
        "3.8.1",
        {IBP: "3.8"},
        "config-mismatch",
        "inter.broker.protocol.version is not set, wanted 3.8",
    ),
    (
        "must-be-unset",
        obs(log_message_format_version="2.8"),
        "3.8.1",
        {LMF: None},
        "config-mismatch",
        "log.message.format.version is 2.8, wanted unset",
    ),
    ("unset-as-wanted", obs(), "3.8.1", {LMF: None}, None, None),
    (
        "iv-suffix-is-not-normalised",
        obs(inter_broker_protocol_version="3.7-IV4"),
        "3.8.1",
        {IBP: "3.7"},
        "config-mismatch",
        "is 3.7-IV4, wanted 3.7",
    ),
]


@pytest.mark.parametrize(
    ("observation", "target", "wanted", "rule", "words"),
    [row[1:] for row in NEEDS_TABLE],
    ids=[row[0] for row in NEEDS_TABLE],
)
def test_node_needs_restart(observation, target, wanted, rule, words) -> None:
    reason = node_needs_restart(observation, target, wanted)
    if rule is None:
        assert reason is None
    else:
        assert reason is not None and reason.rule == rule
        assert words in reason.message


def test_resume_skips_exactly_the_nodes_already_done() -> None:
    """A run stopped after node 2 of [1, 3, 2]: re-running restarts only what is left."""
    seen = {
        1: NodeObservation(1, True, "3.8.1", "3.8.1", {IBP: "3.7"}),
        3: NodeObservation(3, True, "3.7.2", "3.7.2", {IBP: "3.7"}),
        2: NodeObservation(2, False, None, "3.8.1", {IBP: "3.7"}),  # stopped mid-switch
    }
    order = roll_order([NodeRef(i, B) for i in (1, 2, 3)], "zk", 2)
    todo = [n for n in order if node_needs_restart(seen[n], "3.8.1", {IBP: "3.7"}) is not None]
    assert todo == [3, 2]


# ---------------------------------------------------------------------------
# Versions and the upgrade path
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"), [("3.8.1", (3, 8, 1)), (" 4.0.0 ", (4, 0, 0)), ("10.12.3", (10, 12, 3))]
)
def test_parse_version(text: str, expected: tuple[int, int, int]) -> None:
    assert parse_version(text) == expected


@pytest.mark.parametrize("text", ["3.8", "v3.8.1", "3.8.1-rc0", "", "3.x.1", "3.8.1.2"])
def test_parse_version_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="MAJOR.MINOR.PATCH"):
        parse_version(text)


@pytest.mark.parametrize(
    ("text", "release"),
    [("3.8.1", "3.8"), ("3.8", "3.8"), ("3.7-IV4", "3.7"), ("4.0-IV3", "4.0"), ("4.1.1", "4.1")],
)
def test_release_of(text: str, release: str) -> None:
    assert release_of(text) == release


def test_release_of_refuses() -> None:
    with pytest.raises(ValueError, match="not a Kafka version"):
        release_of("latest")


PATH_TABLE = [
    # id, current, target, mode, metadata.version, refusal rules, note rules
    ("zk-minor", "3.7.2", "3.8.1", "zk", None, (), ()),
    ("zk-patch", "3.8.0", "3.8.1", "zk", None, (), ()),
    ("zk-2-to-3", "2.8.2", "3.9.1", "zk", None, (), ()),
    ("kraft-minor", "3.8.1", "3.9.1", "kraft", None, (), ()),
    (
        "kraft-3-to-4",
        "3.9.1",
        "4.1.1",
        "kraft",
        None,
        (),
        ("check-metadata-version", "kafka-4-removals"),
    ),
    ("kraft-3-to-4-mv-known", "3.9.1", "4.1.1", "kraft", "3.9-IV0", (), ("kafka-4-removals",)),
    (
        "kraft-3-to-4-mv-too-old",
        "3.9.1",
        "4.0.0",
        "kraft",
        "3.2-IV0",
        ("metadata-version-too-old",),
        ("kafka-4-removals",),
    ),
    (
        "kraft-3-to-4-mv-unreadable",
        "3.9.1",
        "4.0.0",
        "kraft",
        "latest",
        ("metadata-version-too-old",),
        ("kafka-4-removals",),
    ),
    # Before 3.3 the release itself is too old: the metadata.version is not asked about.
    (
        "kraft-3.2-to-4-mv-known",
        "3.2.3",
        "4.0.0",
        "kraft",
        "3.2-IV0",
        ("metadata-version-too-old",),
        ("kafka-4-removals",),
    ),
    (
        "kraft-from-3.2-to-4",
        "3.2.3",
        "4.0.0",
        "kraft",
        None,
        ("metadata-version-too-old",),
        ("kafka-4-removals",),
    ),
    ("kraft-from-3.3-to-4", "3.3.2", "4.0.0", "kraft", "3.3-IV3", (), ("kafka-4-removals",)),
    ("kraft-4-minor", "4.0.0", "4.1.1", "kraft", None, (), ()),
    (
        "zk-to-4",
        "3.9.1",
        "4.0.0",
        "zk",
        None,
        ("zookeeper-removed-in-4",),
        ("kafka-4-removals",),
    ),
    (
        "zk-2-to-4",
        "2.8.2",
        "4.0.0",
        "zk",
        None,
        ("major-jump-too-large", "zookeeper-removed-in-4"),
        ("kafka-4-removals",),
    ),
    (
        "kraft-2-to-4",
        "2.8.2",
        "4.0.0",
        "kraft",
        None,
        ("major-jump-too-large", "metadata-version-too-old"),
        ("kafka-4-removals",),
    ),
    ("same-version", "3.8.1", "3.8.1", "zk", None, ("nothing-to-do",), ()),
    ("downgrade", "3.8.1", "3.7.2", "zk", None, ("downgrade-refused",), ()),
    ("downgrade-patch", "4.1.1", "4.1.0", "kraft", None, ("downgrade-refused",), ()),
    ("bad-current", "3.8", "3.9.1", "kraft", None, ("invalid-version",), ()),
    ("both-bad", "latest", "next", "kraft", None, ("invalid-version", "invalid-version"), ()),
]


@pytest.mark.parametrize(
    ("current", "target", "mode", "mv", "rules", "notes"),
    [row[1:] for row in PATH_TABLE],
    ids=[row[0] for row in PATH_TABLE],
)
def test_check_upgrade_path(current, target, mode, mv, rules, notes) -> None:
    verdict = check_upgrade_path(current, target, mode, metadata_version=mv)
    assert verdict.rules == rules
    assert verdict.note_rules == notes


def test_upgrade_path_messages_give_advice() -> None:
    zk = check_upgrade_path("3.9.1", "4.0.0", "zk")
    assert "migrate the cluster to KRaft" in zk.reasons[0].message
    jump = check_upgrade_path("2.8.2", "4.0.0", "kraft")
    assert "upgrade to the last 3.x release first" in jump.reasons[0].message
    same = check_upgrade_path("3.8.1", "3.8.1", "zk")
    assert "nothing to upgrade" in str(same)


def test_upgrade_path_refuses_unknown_mode() -> None:
    with pytest.raises(ValueError, match="mode"):
        check_upgrade_path("3.8.1", "3.9.1", "kraft-ish")  # type: ignore[arg-type]


def test_the_zookeeper_controller_goes_last_only_when_it_is_a_broker() -> None:
    from kafka_upgrade.core.order import zookeeper_active_controller

    assert zookeeper_active_controller(2, [1, 2, 3]) == 2
    assert zookeeper_active_controller(3001, [1, 2, 3]) is None  # a KRaft controller (migration)
    assert zookeeper_active_controller(None, [1, 2, 3]) is None
