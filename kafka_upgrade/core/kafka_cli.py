"""Parsers for what Kafka's own CLI tools print; pure functions on strings.

The confluent-kafka AdminClient cannot describe features or the metadata
quorum, so tasks run ``kafka-features.sh describe`` and
``kafka-metadata-quorum.sh describe --status`` / ``--replication`` on a node
and hand the output here.

Rules:

1. Tolerant of layout (tabs or runs of spaces, padding, blank lines, both the
   3.3-3.8 and the 3.9+/4.x shapes), strict about content: a line that cannot
   be read raises ``ParseError`` quoting that line. A guess could let a roll
   continue on a wrong reading.
2. ``quorum_from`` combines --status and --replication into one
   ``health.QuorumStatus``. The two come from separate calls; if they disagree
   on the leader or the voters, the quorum changed in between and
   ``ParseError`` says to describe it again (a later poll reads it afresh).
3. Caught-up ages are measured on the leader's clock by default: the leader
   reports its own LastCaughtUpTimestamp as "now", and Kafka's own
   MaxFollowerLagTimeMs (and Strimzi) compare against it, so clock skew
   between the caller and the controllers does not matter.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Literal

from kafka_upgrade.core.errors import Fatal
from kafka_upgrade.core.health import QuorumStatus, VoterState


class ParseError(Fatal, ValueError):
    """A CLI output could not be read; the message quotes the offending line."""

    def __init__(self, message: str, line: str | None = None) -> None:
        self.line = line
        super().__init__(f"{message}: {line!r}" if line is not None else message)


# --------------------------------------------------------------------------
# kafka-features.sh describe
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class FeatureLevel:
    """One line of ``kafka-features.sh describe``.

    ``finalized`` is None when the feature is not finalized: the tool prints
    0 (or "UNKNOWN 0" for metadata.version) for that, and level 0 means
    disabled, so the two are the same thing. Levels are strings as printed:
    "4.0-IV3" for metadata.version, "1" for the others.
    """

    name: str
    supported_min: str
    supported_max: str
    finalized: str | None
    epoch: int | None

    @property
    def finalized_level(self) -> int:
        """Numeric level for numeric features (0 when not finalized)."""
        if self.finalized is None:
            return 0
        try:
            return int(self.finalized)
        except ValueError:
            raise ValueError(
                f"feature {self.name} has a named level {self.finalized!r}, not a number"
            ) from None


_KEY = re.compile(r"(?:^|\s)([A-Z][A-Za-z]*):(?=\s|$)")
_NOT_FINALIZED = {"", "-", "0"}


def _fields(line: str) -> dict[str, str]:
    """``Key: value<ws>Key: value`` -> dict; values may hold spaces ("UNKNOWN 0")."""
    matches = list(_KEY.finditer(line))
    if not matches or matches[0].start(1) != len(line) - len(line.lstrip()):
        raise ParseError("expected 'Key: value' fields", line)
    out: dict[str, str] = {}
    for m, nxt in zip(matches, [*matches[1:], None], strict=True):
        end = nxt.start() if nxt is not None else len(line)
        out[m.group(1)] = line[m.end() : end].strip()
    return out


def parse_features_describe(text: str) -> dict[str, FeatureLevel]:
    """``kafka-features.sh describe`` output -> {feature name: FeatureLevel}."""
    features: dict[str, FeatureLevel] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        if not line.startswith("Feature:"):
            raise ParseError("expected a 'Feature: ...' line", raw)
        f = _fields(line)
        name = f.get("Feature", "")
        if not name or " " in name:
            raise ParseError("no feature name", raw)
        for key in ("SupportedMinVersion", "SupportedMaxVersion"):
            if not f.get(key):
                raise ParseError(f"no {key}", raw)
        finalized = f.get("FinalizedVersionLevel", "")
        if finalized in _NOT_FINALIZED or finalized.startswith("UNKNOWN"):
            finalized_value: str | None = None
        else:
            finalized_value = finalized
        epoch_text = f.get("Epoch", "-")
        try:
            epoch = None if epoch_text in ("", "-") else int(epoch_text)
        except ValueError:
            raise ParseError(f"Epoch {epoch_text!r} is not a number", raw) from None
        if name in features:
            raise ParseError(f"feature {name} listed twice", raw)
        features[name] = FeatureLevel(
            name, f["SupportedMinVersion"], f["SupportedMaxVersion"], finalized_value, epoch
        )
    if not features:
        raise ParseError("no 'Feature:' line in kafka-features.sh describe output", text[:200])
    return features


# --------------------------------------------------------------------------
# kafka-metadata-quorum.sh describe --status
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class QuorumSummary:
    """``kafka-metadata-quorum.sh describe --status``."""

    cluster_id: str | None
    leader_id: int | None  # None when the tool printed -1
    leader_epoch: int | None
    high_watermark: int | None
    max_follower_lag: int | None
    max_follower_lag_time_ms: int | None
    voters: tuple[int, ...]
    observers: tuple[int, ...]


_STATUS_LINE = re.compile(r"^([A-Za-z]+):\s*(.*)$")


def parse_quorum_status(text: str) -> QuorumSummary:
    values: dict[str, tuple[str, str]] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        m = _STATUS_LINE.match(line)
        if m is None:
            raise ParseError("expected 'Key: value'", raw)
        values[m.group(1)] = (m.group(2).strip(), raw)

    def integer(key: str, required: bool = False) -> int | None:
        if key not in values:
            if required:
                raise ParseError(f"no {key} line in --status output", text[:200])
            return None
        value, raw = values[key]
        try:
            return int(value)
        except ValueError:
            raise ParseError(f"{key} is not a number", raw) from None

    def ids(key: str) -> tuple[int, ...]:
        if key not in values:
            if key == "CurrentVoters":
                raise ParseError("no CurrentVoters line in --status output", text[:200])
            return ()
        value, raw = values[key]
        return _node_ids(value, raw)

    leader = integer("LeaderId", required=True)
    return QuorumSummary(
        cluster_id=values["ClusterId"][0] if "ClusterId" in values else None,
        leader_id=None if leader is None or leader < 0 else leader,
        leader_epoch=integer("LeaderEpoch"),
        high_watermark=integer("HighWatermark"),
        max_follower_lag=integer("MaxFollowerLag"),
        max_follower_lag_time_ms=integer("MaxFollowerLagTimeMs"),
        voters=ids("CurrentVoters"),
        observers=ids("CurrentObservers"),
    )


_JSON_ID = re.compile(r'"id"\s*:\s*(-?\d+)')


def _node_ids(value: str, raw: str) -> tuple[int, ...]:
    """``[1,2,3]`` (3.3-3.8) or ``[{"id": 1, "directoryId": ..., "endpoints": [...]}, ...]``."""
    if not (value.startswith("[") and value.endswith("]")):
        raise ParseError("expected a [...] list of nodes", raw)
    try:
        items = json.loads(value)
    except json.JSONDecodeError:
        items = None
    if isinstance(items, list):
        out: list[int] = []
        for item in items:
            if isinstance(item, int) and not isinstance(item, bool):
                out.append(item)
            elif isinstance(item, dict) and isinstance(item.get("id"), int):
                out.append(item["id"])
            else:
                raise ParseError(f"unreadable node entry {item!r}", raw)
        return tuple(out)
    # Not JSON (an endpoint text with quotes in it?): the ids are still readable.
    found = _JSON_ID.findall(value)
    if found:
        return tuple(int(i) for i in found)
    inner = value[1:-1].strip()
    if not inner:
        return ()
    try:
        return tuple(int(part) for part in inner.split(","))
    except ValueError:
        raise ParseError("unreadable list of node ids", raw) from None


# --------------------------------------------------------------------------
# kafka-metadata-quorum.sh describe --replication
# --------------------------------------------------------------------------

ReplicaStatus = Literal["Leader", "Follower", "Observer"]


@dataclass(frozen=True)
class ReplicationRow:
    """One row of ``--replication``.

    Timestamps are epoch milliseconds; with ``--human-readable`` the tool prints
    "N ms ago" instead, kept in the ``*_ago_ms`` fields. None = -1 (never/unknown).
    """

    node_id: int
    directory_id: str | None
    log_end_offset: int
    lag: int
    last_fetch_timestamp: int | None
    last_caught_up_timestamp: int | None
    status: ReplicaStatus
    last_fetch_ago_ms: int | None = None
    last_caught_up_ago_ms: int | None = None


_COLUMNS_OLD = (
    "NodeId",
    "LogEndOffset",
    "Lag",
    "LastFetchTimestamp",
    "LastCaughtUpTimestamp",
    "Status",
)
_COLUMNS_NEW = ("NodeId", "DirectoryId", *_COLUMNS_OLD[1:])
_AGO = re.compile(r"(-?\d+) ms ago")
_STATUSES: tuple[ReplicaStatus, ...] = ("Leader", "Follower", "Observer")


def parse_quorum_replication(text: str) -> tuple[ReplicationRow, ...]:
    lines = [raw for raw in text.splitlines() if raw.strip()]
    if not lines:
        raise ParseError("empty --replication output")
    header = tuple(lines[0].split())
    if header not in (_COLUMNS_OLD, _COLUMNS_NEW):
        raise ParseError(
            "unknown --replication header (expected NodeId [DirectoryId] LogEndOffset Lag "
            "LastFetchTimestamp LastCaughtUpTimestamp Status)",
            lines[0],
        )
    rows: list[ReplicationRow] = []
    for raw in lines[1:]:
        # "123 ms ago" is one cell: join it before splitting on whitespace.
        cells = _AGO.sub(lambda m: f"{m.group(1)}ms-ago", raw).split()
        if len(cells) != len(header):
            raise ParseError(f"expected {len(header)} columns", raw)
        cell = dict(zip(header, cells, strict=True))
        status = cell["Status"]
        if status not in _STATUSES:
            raise ParseError(f"unknown Status {status!r}", raw)
        try:
            fetch_ts, fetch_ago = _time_cell(cell["LastFetchTimestamp"])
            caught_ts, caught_ago = _time_cell(cell["LastCaughtUpTimestamp"])
            rows.append(
                ReplicationRow(
                    node_id=int(cell["NodeId"]),
                    directory_id=cell.get("DirectoryId"),
                    log_end_offset=int(cell["LogEndOffset"]),
                    lag=int(cell["Lag"]),
                    last_fetch_timestamp=fetch_ts,
                    last_caught_up_timestamp=caught_ts,
                    status=status,  # type: ignore[arg-type]
                    last_fetch_ago_ms=fetch_ago,
                    last_caught_up_ago_ms=caught_ago,
                )
            )
        except ValueError:
            raise ParseError("a number column is not a number", raw) from None
    return tuple(rows)


def _time_cell(cell: str) -> tuple[int | None, int | None]:
    """-> (timestamp, ago); exactly one is set unless the tool printed -1."""
    if cell.endswith("ms-ago"):
        return None, max(0, int(cell.removesuffix("ms-ago")))
    value = int(cell)
    return (None if value < 0 else value), None


# --------------------------------------------------------------------------
# Both together
# --------------------------------------------------------------------------


def quorum_from(status_text: str, replication_text: str, now_ms: int | None = None) -> QuorumStatus:
    """--status + --replication -> ``QuorumStatus`` with ages in milliseconds.

    Ages are ``reference - LastCaughtUpTimestamp`` where the reference is
    ``now_ms`` when given, else the leader's own LastCaughtUpTimestamp (rule 3).
    Negative ages (clock skew) count as 0. Human-readable rows carry their age.
    """
    summary = parse_quorum_status(status_text)
    from_rows = quorum_from_replication(replication_text, now_ms)
    if summary.leader_id != from_rows.leader_id or sorted(summary.voters) != list(
        from_rows.voter_ids
    ):
        raise ParseError(
            f"--status (leader {summary.leader_id}, voters {sorted(summary.voters)}) and "
            f"--replication (leader {from_rows.leader_id}, voters {list(from_rows.voter_ids)}) "
            "disagree: the quorum changed between the two calls; describe it again"
        )
    order = {v: i for i, v in enumerate(summary.voters)}
    return QuorumStatus(
        leader_id=summary.leader_id,
        voters=tuple(sorted(from_rows.voters, key=lambda v: order[v.node_id])),
        high_watermark=summary.high_watermark,
        leader_epoch=summary.leader_epoch,
        observers=from_rows.observers,
        cluster_id=summary.cluster_id,
    )


def quorum_from_replication(replication_text: str, now_ms: int | None = None) -> QuorumStatus:
    """--replication alone -> ``QuorumStatus``: the rows name the leader and the voters.

    One tool run instead of two, for sensors that poll the quorum.
    """
    rows = parse_quorum_replication(replication_text)
    by_id = {r.node_id: r for r in rows}
    if len(by_id) != len(rows):
        raise ParseError("a node appears twice in --replication output", replication_text[:200])
    leaders = [r.node_id for r in rows if r.status == "Leader"]
    leader = leaders[0] if len(leaders) == 1 else None
    reference = now_ms
    if reference is None and leader is not None:
        reference = by_id[leader].last_caught_up_timestamp

    def state(row: ReplicationRow) -> VoterState:
        return VoterState(
            node_id=row.node_id,
            log_end_offset=row.log_end_offset,
            lag=row.lag,
            last_caught_up_ms_ago=_age(
                row.last_caught_up_timestamp, row.last_caught_up_ago_ms, reference
            ),
            last_fetch_ms_ago=_age(row.last_fetch_timestamp, row.last_fetch_ago_ms, reference),
            directory_id=row.directory_id,
        )

    return QuorumStatus(
        leader_id=leader,
        voters=tuple(state(r) for r in rows if r.status != "Observer"),
        observers=tuple(state(r) for r in rows if r.status == "Observer"),
    )


def _age(timestamp: int | None, ago: int | None, reference: int | None) -> int | None:
    if ago is not None:
        return ago
    if timestamp is None or reference is None:
        return None
    return max(0, reference - timestamp)


__all__ = [
    "FeatureLevel",
    "quorum_from_replication",
    "ParseError",
    "QuorumSummary",
    "ReplicaStatus",
    "ReplicationRow",
    "parse_features_describe",
    "parse_quorum_replication",
    "parse_quorum_status",
    "quorum_from",
]
