"""Parsers for Kafka CLI output, on realistic samples of each shape the tools print."""

from __future__ import annotations

import pytest

from kafka_upgrade.core.health import can_restart_controller
from kafka_upgrade.core.kafka_cli import (
    ParseError,
    parse_features_describe,
    parse_quorum_replication,
    parse_quorum_status,
    quorum_from,
)

# ---------------------------------------------------------------------------
# kafka-features.sh describe
# ---------------------------------------------------------------------------

FEATURES_4_0 = (
    "Feature: eligible.leader.replicas.version\tSupportedMinVersion: 0\t"
    "SupportedMaxVersion: 1\tFinalizedVersionLevel: 0\tEpoch: 7\n"
    "Feature: group.version\tSupportedMinVersion: 0\tSupportedMaxVersion: 1\t"
    "FinalizedVersionLevel: 1\tEpoch: 7\n"
    "Feature: kraft.version\tSupportedMinVersion: 0\tSupportedMaxVersion: 1\t"
    "FinalizedVersionLevel: 0\tEpoch: 7\n"
    "Feature: metadata.version\tSupportedMinVersion: 3.3-IV3\tSupportedMaxVersion: 4.0-IV3\t"
    "FinalizedVersionLevel: 4.0-IV3\tEpoch: 7\n"
    "Feature: transaction.version\tSupportedMinVersion: 0\tSupportedMaxVersion: 2\t"
    "FinalizedVersionLevel: 2\tEpoch: 7\n"
)

# The same with spaces instead of tabs, as copied from a terminal or a ticket.
FEATURES_3_9_SPACES = """
Feature: kraft.version  SupportedMinVersion: 0  SupportedMaxVersion: 1  FinalizedVersionLevel: 0  Epoch: 12
Feature: metadata.version  SupportedMinVersion: 3.0-IV1  SupportedMaxVersion: 3.9-IV0  FinalizedVersionLevel: 3.8-IV0  Epoch: 12
"""  # noqa: E501

# A node that has no finalized levels (ZooKeeper-mode broker, or an epoch not yet known).
FEATURES_NOT_FINALIZED = (
    "Feature: metadata.version\tSupportedMinVersion: 3.0-IV1\tSupportedMaxVersion: 3.9-IV0\t"
    "FinalizedVersionLevel: UNKNOWN 0\tEpoch: -\n"
    "Feature: kraft.version\tSupportedMinVersion: 0\tSupportedMaxVersion: 1\t"
    "FinalizedVersionLevel: -\tEpoch: -\n"
    "Feature: group.version\tSupportedMinVersion: 0\tSupportedMaxVersion: 1\tEpoch: -\n"
)


def test_features_4_0() -> None:
    features = parse_features_describe(FEATURES_4_0)
    assert sorted(features) == [
        "eligible.leader.replicas.version",
        "group.version",
        "kraft.version",
        "metadata.version",
        "transaction.version",
    ]
    mv = features["metadata.version"]
    assert (mv.supported_min, mv.supported_max, mv.finalized, mv.epoch) == (
        "3.3-IV3",
        "4.0-IV3",
        "4.0-IV3",
        7,
    )
    assert features["group.version"].finalized_level == 1
    assert features["kraft.version"].finalized is None  # level 0: not finalized
    assert features["kraft.version"].finalized_level == 0
    with pytest.raises(ValueError, match="named level"):
        _ = mv.finalized_level


def test_features_with_spaces() -> None:
    features = parse_features_describe(FEATURES_3_9_SPACES)
    assert features["metadata.version"].finalized == "3.8-IV0"
    assert features["metadata.version"].supported_max == "3.9-IV0"
    assert features["kraft.version"].epoch == 12


def test_features_not_finalized() -> None:
    features = parse_features_describe(FEATURES_NOT_FINALIZED)
    assert all(f.finalized is None and f.epoch is None for f in features.values())


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("", "no 'Feature:' line"),
        ("Error while executing feature command\n", "expected a 'Feature: ...' line"),
        (
            "Feature: metadata.version\tSupportedMaxVersion: 3.9-IV0\tFinalizedVersionLevel: "
            "3.9-IV0\tEpoch: 3",
            "no SupportedMinVersion",
        ),
        (
            "Feature: kraft.version\tSupportedMinVersion: 0\tSupportedMaxVersion: 1\t"
            "FinalizedVersionLevel: 0\tEpoch: seven",
            "Epoch 'seven'",
        ),
        (FEATURES_4_0 + FEATURES_4_0.splitlines()[0], "listed twice"),
    ],
    ids=["empty", "error-text", "missing-field", "bad-epoch", "duplicate"],
)
def test_features_errors_quote_the_line(text: str, words: str) -> None:
    with pytest.raises(ParseError, match=words) as info:
        parse_features_describe(text)
    assert isinstance(info.value, ValueError)


def test_parse_error_quotes_line() -> None:
    with pytest.raises(ParseError) as info:
        parse_features_describe("Feature: metadata.version\tSupportedMinVersion: 3.3-IV3\n")
    assert info.value.line == "Feature: metadata.version\tSupportedMinVersion: 3.3-IV3"
    assert "'Feature: metadata.version" in str(info.value)


# ---------------------------------------------------------------------------
# kafka-metadata-quorum.sh describe --status
# ---------------------------------------------------------------------------

STATUS_3_7 = """\
ClusterId:              fMCL8kv1SWm87L_Md-I2hg
LeaderId:               3002
LeaderEpoch:            2
HighWatermark:          10
MaxFollowerLag:         0
MaxFollowerLagTimeMs:   -1
CurrentVoters:          [3000,3001,3002]
CurrentObservers:       [0,1,2]
"""

STATUS_4_1 = """\
ClusterId:              5R0tZvV0QiqhRaQEcqSFVw
LeaderId:               1
LeaderEpoch:            5
HighWatermark:          4321
MaxFollowerLag:         12
MaxFollowerLagTimeMs:   150
CurrentVoters:          [{"id": 1, "directoryId": "J8aAPcfLQt2bqs1JT_rMgQ", "endpoints": ["CONTROLLER://ctl-1:9093"]}, {"id": 2, "directoryId": "bQjcXDAiS0mW9HZdT5Mpsg", "endpoints": ["CONTROLLER://ctl-2:9093"]}, {"id": 3, "directoryId": "qTXrm0XUQbyCzKGTZw1ZrA", "endpoints": ["CONTROLLER://ctl-3:9093"]}]
CurrentObservers:       [{"id": 4, "directoryId": "Tu5bQ2k8QNC4R7sYvHJtPA"}, {"id": 5, "directoryId": "2xWQfdmETqqWyYh0j8bW0w"}]
"""  # noqa: E501

# A static quorum on 3.9: no directory ids, endpoints only.
STATUS_3_9_STATIC = """\
ClusterId:              abc
LeaderId:               2
LeaderEpoch:            1
HighWatermark:          99
MaxFollowerLag:         0
MaxFollowerLagTimeMs:   0
CurrentVoters:          [{"id": 1, "endpoints": ["CONTROLLER://localhost:9093"]}, {"id": 2, "endpoints": ["CONTROLLER://localhost:9094"]}, {"id": 3, "endpoints": ["CONTROLLER://localhost:9095"]}]
CurrentObservers:       []
"""  # noqa: E501


def test_status_3_7() -> None:
    s = parse_quorum_status(STATUS_3_7)
    assert s.cluster_id == "fMCL8kv1SWm87L_Md-I2hg"
    assert (s.leader_id, s.leader_epoch, s.high_watermark) == (3002, 2, 10)
    assert (s.max_follower_lag, s.max_follower_lag_time_ms) == (0, -1)
    assert s.voters == (3000, 3001, 3002)
    assert s.observers == (0, 1, 2)


def test_status_4_1_json_voters() -> None:
    s = parse_quorum_status(STATUS_4_1)
    assert s.voters == (1, 2, 3)
    assert s.observers == (4, 5)
    assert s.max_follower_lag == 12


def test_status_3_9_static_quorum() -> None:
    s = parse_quorum_status(STATUS_3_9_STATIC)
    assert (s.leader_id, s.voters, s.observers) == (2, (1, 2, 3), ())


@pytest.mark.parametrize(
    ("text", "words"),
    [
        (STATUS_3_7.replace("LeaderId:               3002\n", ""), "no LeaderId"),
        (STATUS_3_7.replace("3002\nLeaderEpoch", "three\nLeaderEpoch"), "LeaderId is not a number"),
        (STATUS_3_7.replace("[3000,3001,3002]", "3000,3001"), r"\[\.\.\.\] list"),
        (STATUS_3_7.replace("[3000,3001,3002]", "[3000,x]"), "node ids"),
        (STATUS_3_7 + "Exception in thread main\n", "Key: value"),
        ("\n".join(STATUS_3_7.splitlines()[:6]), "no CurrentVoters"),
    ],
    ids=["no-leader-line", "leader-not-number", "voters-not-a-list", "bad-id", "junk", "no-voters"],
)
def test_status_errors(text: str, words: str) -> None:
    with pytest.raises(ParseError, match=words):
        parse_quorum_status(text)


# ---------------------------------------------------------------------------
# kafka-metadata-quorum.sh describe --replication
# ---------------------------------------------------------------------------


def kafka_table(*rows: str) -> str:
    """Lay out rows like Kafka's ToolsUtils.prettyPrintTable: cells padded, each ending in a tab."""
    cells = [row.split("|") for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(cells[0]))]
    return "".join(
        "".join(c.ljust(w) + "\t" for c, w in zip(r, widths, strict=True)) + "\n" for r in cells
    )


# 3.3-3.8: no DirectoryId column.
REPLICATION_3_7 = kafka_table(
    "NodeId|LogEndOffset|Lag|LastFetchTimestamp|LastCaughtUpTimestamp|Status",
    "3002|10|0|1730000005000|1730000005000|Leader",
    "3000|10|0|1730000004900|1730000004900|Follower",
    "3001|10|0|1730000004950|1730000004950|Follower",
    "0|10|0|1730000004990|1730000004990|Observer",
    "1|9|1|1730000004990|-1|Observer",
)

# 3.9+/4.x: DirectoryId column; follower 3 lags.
REPLICATION_4_1 = kafka_table(
    "NodeId|DirectoryId|LogEndOffset|Lag|LastFetchTimestamp|LastCaughtUpTimestamp|Status",
    "1|J8aAPcfLQt2bqs1JT_rMgQ|4321|0|1730000010000|1730000010000|Leader",
    "2|bQjcXDAiS0mW9HZdT5Mpsg|4321|0|1730000009990|1730000009990|Follower",
    "3|qTXrm0XUQbyCzKGTZw1ZrA|1200|3121|1730000009000|1729999990000|Follower",
    "4|Tu5bQ2k8QNC4R7sYvHJtPA|4321|0|1730000009995|1730000009995|Observer",
    "5|2xWQfdmETqqWyYh0j8bW0w|4309|12|1730000009995|1730000009800|Observer",
)

# --human-readable: ages instead of timestamps ("-1" stays for "never").
REPLICATION_HUMAN = kafka_table(
    "NodeId|DirectoryId|LogEndOffset|Lag|LastFetchTimestamp|LastCaughtUpTimestamp|Status",
    "1|J8aAPcfLQt2bqs1JT_rMgQ|4321|0|4 ms ago|4 ms ago|Leader",
    "2|bQjcXDAiS0mW9HZdT5Mpsg|4321|0|320 ms ago|320 ms ago|Follower",
    "3|qTXrm0XUQbyCzKGTZw1ZrA|4300|21|120 ms ago|-1|Follower",
)


def test_sample_looks_like_kafka_output() -> None:
    first, leader = REPLICATION_3_7.splitlines()[:2]
    assert first.startswith("NodeId\tLogEndOffset\tLag\t") and first.endswith("Status  \t")
    assert leader.startswith("3002  \t10          \t0  \t1730000005000     \t")


def test_replication_3_7() -> None:
    rows = parse_quorum_replication(REPLICATION_3_7)
    assert [(r.node_id, r.status) for r in rows] == [
        (3002, "Leader"),
        (3000, "Follower"),
        (3001, "Follower"),
        (0, "Observer"),
        (1, "Observer"),
    ]
    assert rows[0].directory_id is None
    assert rows[0].last_caught_up_timestamp == 1730000005000
    assert rows[4].last_caught_up_timestamp is None  # -1


def test_replication_4_1() -> None:
    rows = parse_quorum_replication(REPLICATION_4_1)
    third = rows[2]
    assert (third.node_id, third.directory_id, third.log_end_offset, third.lag) == (
        3,
        "qTXrm0XUQbyCzKGTZw1ZrA",
        1200,
        3121,
    )


def test_replication_human_readable() -> None:
    rows = parse_quorum_replication(REPLICATION_HUMAN)
    assert rows[1].last_caught_up_ago_ms == 320
    assert rows[1].last_caught_up_timestamp is None
    assert rows[2].last_caught_up_ago_ms is None and rows[2].last_fetch_ago_ms == 120


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("", "empty"),
        ("NodeId LogEndOffset Lag Status\n1 2 0 Leader\n", "unknown --replication header"),
        (REPLICATION_3_7 + "7 10 0 1 1\n", "expected 6 columns"),
        (REPLICATION_3_7.replace("Leader  ", "Boss    "), "unknown Status 'Boss'"),
        (REPLICATION_3_7.replace("3002  \t10 ", "3002  \tten "), "not a number"),
    ],
    ids=["empty", "old-unknown-header", "short-row", "bad-status", "bad-number"],
)
def test_replication_errors(text: str, words: str) -> None:
    with pytest.raises(ParseError, match=words):
        parse_quorum_replication(text)


# ---------------------------------------------------------------------------
# quorum_from: both together, then the controller rule on the result
# ---------------------------------------------------------------------------


def test_quorum_from_3_7_on_the_leaders_clock() -> None:
    q = quorum_from(STATUS_3_7, REPLICATION_3_7)
    assert q.leader_id == 3002 and q.voter_ids == (3000, 3001, 3002)
    assert q.high_watermark == 10 and q.cluster_id == "fMCL8kv1SWm87L_Md-I2hg"
    ages = {v.node_id: v.last_caught_up_ms_ago for v in q.voters}
    assert ages == {3000: 100, 3001: 50, 3002: 0}
    assert [o.node_id for o in q.observers] == [0, 1]
    assert q.observers[1].last_caught_up_ms_ago is None
    assert can_restart_controller(q, 3000, max_lag=1000, max_caught_up_age_ms=2000).ok


def test_quorum_from_with_callers_clock() -> None:
    q = quorum_from(STATUS_3_7, REPLICATION_3_7, now_ms=1730000006000)
    assert q.voter(3000).last_caught_up_ms_ago == 1100  # type: ignore[union-attr]
    # A caller clock behind the controllers' never gives negative ages.
    q = quorum_from(STATUS_3_7, REPLICATION_3_7, now_ms=1730000000000)
    assert {v.last_caught_up_ms_ago for v in q.voters} == {0}


def test_quorum_from_4_1_lagging_voter_blocks_the_other_follower() -> None:
    q = quorum_from(STATUS_4_1, REPLICATION_4_1)
    three = q.voter(3)
    assert three is not None and (three.lag, three.last_caught_up_ms_ago) == (3121, 20_000)
    assert three.directory_id == "qTXrm0XUQbyCzKGTZw1ZrA"
    refused = can_restart_controller(q, 2, max_lag=1000, max_caught_up_age_ms=2000)
    assert refused.rules == ("would-lose-quorum",)
    assert "voter 3 lags 3121 records" in refused.reasons[0].message
    assert can_restart_controller(q, 3, max_lag=1000, max_caught_up_age_ms=2000).ok


def test_quorum_from_human_readable() -> None:
    status = STATUS_4_1.replace('[{"id": 4', '[{"id": 9').split("CurrentObservers")[0]
    q = quorum_from(status, REPLICATION_HUMAN)
    assert {v.node_id: v.last_caught_up_ms_ago for v in q.voters} == {1: 4, 2: 320, 3: None}


@pytest.mark.parametrize(
    ("status", "replication"),
    [
        (
            STATUS_3_7.replace("LeaderId:               3002", "LeaderId:               3000"),
            REPLICATION_3_7,
        ),
        (STATUS_3_7.replace("[3000,3001,3002]", "[3000,3001,3002,3003]"), REPLICATION_3_7),
    ],
    ids=["leader-changed", "voter-added"],
)
def test_quorum_from_refuses_outputs_that_disagree(status: str, replication: str) -> None:
    with pytest.raises(ParseError, match="changed between the two calls"):
        quorum_from(status, replication)
