"""The KRaft metadata quorum read over Kafka's wire protocol: no JVM per poll.

``kafka-metadata-quorum.sh describe --replication`` starts a JVM for every
read (1.5-2 s on a busy host). The health gates poll the quorum every
second while a controller restarts, so the tool's start-up time was most of a
poll. This module sends the same request the tool sends, DescribeQuorum
(API key 55, version 1, KIP-595/KIP-836), straight to a broker over one TCP
connection; the broker forwards it to the active controller and the answer
comes back in a few milliseconds.

Only PLAINTEXT listeners are spoken here (no TLS, no SASL handshake). For a
cluster whose clients need SSL or SASL the sensors keep using the tool, with
the inventory's ``tools_command_config``.

Encoding and decoding are pure functions on bytes, tested without a broker;
``describe_quorum`` is the only part that touches the network.
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Sequence

from kafka_upgrade.core.errors import Transient
from kafka_upgrade.core.health import QuorumStatus, VoterState

DESCRIBE_QUORUM = 55
VERSION = 1
METADATA_TOPIC = "__cluster_metadata"
_CLIENT_ID = "kafka-upgrade-quorum"


class QuorumWireError(Transient):
    """The quorum could not be read this way right now, in words."""


# -- encoding -------------------------------------------------------------------


def _uvarint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _compact_string(text: str) -> bytes:
    raw = text.encode()
    return _uvarint(len(raw) + 1) + raw


def encode_request(correlation_id: int) -> bytes:
    """One DescribeQuorum v1 request for ``__cluster_metadata`` partition 0, size-prefixed."""
    client_id = _CLIENT_ID.encode()
    header = (
        struct.pack(">hhih", DESCRIBE_QUORUM, VERSION, correlation_id, len(client_id))
        + client_id
        + _uvarint(0)  # header tagged fields (request header v2)
    )
    body = (
        _uvarint(1 + 1)  # one topic
        + _compact_string(METADATA_TOPIC)
        + _uvarint(1 + 1)  # one partition
        + struct.pack(">i", 0)
        + _uvarint(0)  # partition tagged fields
        + _uvarint(0)  # topic tagged fields
        + _uvarint(0)  # request tagged fields
    )
    message = header + body
    return struct.pack(">i", len(message)) + message


# -- decoding -------------------------------------------------------------------


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.at = 0

    def take(self, size: int) -> bytes:
        if self.at + size > len(self.data):
            raise QuorumWireError("the DescribeQuorum response ended early")
        chunk = self.data[self.at : self.at + size]
        self.at += size
        return chunk

    def unpack(self, fmt: str) -> int:
        (value,) = struct.unpack(fmt, self.take(struct.calcsize(fmt)))
        return value

    def uvarint(self) -> int:
        value = shift = 0
        while True:
            byte = self.take(1)[0]
            value |= (byte & 0x7F) << shift
            if not byte & 0x80:
                return value
            shift += 7
            if shift > 35:
                raise QuorumWireError("a malformed varint in the DescribeQuorum response")

    def compact_length(self) -> int:
        return self.uvarint() - 1  # -1: null

    def compact_string(self) -> str | None:
        size = self.compact_length()
        try:
            return None if size < 0 else self.take(size).decode()
        except UnicodeDecodeError as exc:
            raise QuorumWireError("a string in the DescribeQuorum response is not UTF-8") from exc

    def skip_tags(self) -> None:
        for _ in range(self.uvarint()):
            self.uvarint()  # tag
            self.take(self.uvarint())


def _replicas(reader: _Reader) -> list[tuple[int, int, int, int]]:
    rows = []
    for _ in range(max(0, reader.compact_length())):
        replica_id = reader.unpack(">i")
        log_end_offset = reader.unpack(">q")
        last_fetch = reader.unpack(">q")
        last_caught_up = reader.unpack(">q")
        reader.skip_tags()
        rows.append((replica_id, log_end_offset, last_fetch, last_caught_up))
    return rows


def decode_response(payload: bytes, correlation_id: int) -> QuorumStatus:
    """A DescribeQuorum v1 response (without its size prefix) -> ``QuorumStatus``.

    Lag and ages follow ``kafka-metadata-quorum.sh``: lag is the leader's log end
    offset minus the replica's, and ages are measured on the leader's clock (its
    own last-caught-up time is "now"), so clock skew between hosts cannot fake a lag.
    """
    reader = _Reader(payload)
    if reader.unpack(">i") != correlation_id:
        raise QuorumWireError("the broker answered another request (correlation id differs)")
    reader.skip_tags()
    error = reader.unpack(">h")
    if error:
        raise QuorumWireError(f"the broker answered DescribeQuorum with error code {error}")
    found = None
    for _ in range(max(0, reader.compact_length())):
        topic = reader.compact_string()
        for _ in range(max(0, reader.compact_length())):
            index = reader.unpack(">i")
            part_error = reader.unpack(">h")
            leader_id = reader.unpack(">i")
            leader_epoch = reader.unpack(">i")
            high_watermark = reader.unpack(">q")
            voters = _replicas(reader)
            observers = _replicas(reader)
            reader.skip_tags()
            if topic == METADATA_TOPIC and index == 0:
                found = (part_error, leader_id, leader_epoch, high_watermark, voters, observers)
        reader.skip_tags()
    if found is None:
        raise QuorumWireError("the DescribeQuorum response has no __cluster_metadata partition")
    part_error, leader_id, leader_epoch, high_watermark, voters, observers = found
    if part_error:
        raise QuorumWireError(f"the metadata partition answered with error code {part_error}")
    try:
        return _status(leader_id, leader_epoch, high_watermark, voters, observers)
    except ValueError as exc:  # e.g. a voter listed twice
        raise QuorumWireError(f"an implausible DescribeQuorum response: {exc}") from exc


def _status(
    leader_id: int,
    leader_epoch: int,
    high_watermark: int,
    voters: Sequence[tuple[int, int, int, int]],
    observers: Sequence[tuple[int, int, int, int]],
) -> QuorumStatus:
    leader = next((row for row in voters if row[0] == leader_id), None)
    leader_end = leader[1] if leader else None
    now = leader[3] if leader and leader[3] >= 0 else None

    def age(timestamp: int) -> int | None:
        return None if timestamp < 0 or now is None else max(0, now - timestamp)

    def state(row: tuple[int, int, int, int]) -> VoterState:
        replica_id, end, fetched, caught_up = row
        lag = max(0, leader_end - end) if leader_end is not None and end >= 0 else 0
        return VoterState(
            node_id=replica_id,
            log_end_offset=end,
            lag=lag,
            last_caught_up_ms_ago=age(caught_up),
            last_fetch_ms_ago=age(fetched),
        )

    return QuorumStatus(
        leader_id=leader_id if leader_id >= 0 else None,
        voters=tuple(state(row) for row in voters),
        observers=tuple(state(row) for row in observers),
        high_watermark=high_watermark,
        leader_epoch=leader_epoch,
    )


# -- the network ----------------------------------------------------------------


def _ask(address: tuple[str, int], timeout: float, correlation_id: int) -> QuorumStatus:
    with socket.create_connection(address, timeout=timeout) as conn:
        conn.settimeout(timeout)
        conn.sendall(encode_request(correlation_id))
        size = struct.unpack(">i", _read_exactly(conn, 4))[0]
        if not 0 < size < 16 * 1024 * 1024:
            raise QuorumWireError(f"an implausible response size ({size} bytes)")
        return decode_response(_read_exactly(conn, size), correlation_id)


def _read_exactly(conn: socket.socket, size: int) -> bytes:
    chunks = bytearray()
    while len(chunks) < size:
        chunk = conn.recv(size - len(chunks))
        if not chunk:
            raise QuorumWireError("the broker closed the connection before answering")
        chunks += chunk
    return bytes(chunks)


def describe_quorum(bootstrap_servers: str, timeout: float = 2.0) -> QuorumStatus:
    """Ask the brokers of ``bootstrap_servers`` in turn; the first answer wins.

    Raises ``QuorumWireError`` naming every broker tried when none answers.
    """
    failures = []
    for correlation_id, server in enumerate(bootstrap_servers.split(","), start=1):
        host, _, port = server.strip().rpartition(":")
        if not host or not port.isdigit():
            failures.append(f"{server.strip()!r} is not host:port")
            continue
        try:
            return _ask((host.strip("[]"), int(port)), timeout, correlation_id)
        except (OSError, QuorumWireError) as exc:
            failures.append(f"{host}:{port}: {exc}")
    raise QuorumWireError("no broker answered DescribeQuorum: " + "; ".join(failures))
