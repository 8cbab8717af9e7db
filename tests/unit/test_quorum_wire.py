"""DescribeQuorum v1 on the wire: the request's bytes, and responses decoded into QuorumStatus."""

from __future__ import annotations

import socket
import struct
import threading

import pytest

from kafka_upgrade.adapters.quorum_wire import (
    QuorumWireError,
    _compact_string,
    _uvarint,
    decode_response,
    describe_quorum,
    encode_request,
)

NOW = 1_795_643_214_437


def replica(replica_id: int, end: int, fetched: int, caught_up: int) -> bytes:
    return struct.pack(">iqqq", replica_id, end, fetched, caught_up) + _uvarint(0)


def response(
    correlation_id: int = 7,
    error: int = 0,
    partition_error: int = 0,
    leader: int = 2,
    voters: tuple[bytes, ...] = (),
    observers: tuple[bytes, ...] = (),
    tags: bytes = _uvarint(0),
    topic: str = "__cluster_metadata",
) -> bytes:
    partition = (
        struct.pack(">ihiiq", 0, partition_error, leader, 5, 29)
        + _uvarint(len(voters) + 1)
        + b"".join(voters)
        + _uvarint(len(observers) + 1)
        + b"".join(observers)
        + tags
    )
    body = (
        struct.pack(">h", error)
        + _uvarint(2)
        + _compact_string(topic)
        + _uvarint(2)
        + partition
        + _uvarint(0)
        + _uvarint(0)
    )
    return struct.pack(">i", correlation_id) + _uvarint(0) + body


THREE = (
    replica(2, 29, NOW, NOW),
    replica(1, 29, NOW - 243, NOW - 243),
    replica(3, 20, NOW - 240, NOW - 6000),
)


def test_the_request_is_describe_quorum_v1_for_the_metadata_partition() -> None:
    raw = encode_request(9)
    size, api_key, version, correlation, client_len = struct.unpack(">ihhih", raw[:14])
    assert size == len(raw) - 4
    assert (api_key, version, correlation) == (55, 1, 9)
    assert b"__cluster_metadata" in raw
    assert raw.endswith(struct.pack(">i", 0) + b"\x00\x00\x00")  # partition 0, then tag buffers


def test_a_response_reads_as_the_tool_reads_it() -> None:
    status = decode_response(response(voters=THREE, observers=(replica(4, 29, NOW, NOW),)), 7)
    assert status.leader_id == 2
    assert status.leader_epoch == 5 and status.high_watermark == 29
    assert status.voter_ids == (1, 2, 3)
    lagging = status.voter(3)
    assert lagging is not None
    # Lag against the leader's log end; ages on the leader's clock (its own caught-up time).
    assert (lagging.lag, lagging.last_caught_up_ms_ago, lagging.last_fetch_ms_ago) == (9, 6000, 240)
    assert status.voter(2).last_caught_up_ms_ago == 0  # type: ignore[union-attr]
    assert [o.node_id for o in status.observers] == [4]


def test_tagged_fields_are_skipped() -> None:
    tag = _uvarint(1) + _uvarint(0) + _uvarint(8) + struct.pack(">q", NOW)  # HW update time
    assert decode_response(response(voters=THREE, tags=tag), 7).leader_id == 2


def test_no_leader_and_unknown_timestamps() -> None:
    status = decode_response(response(leader=-1, voters=(replica(1, -1, -1, -1),)), 7)
    assert status.leader_id is None
    voter = status.voter(1)
    assert voter is not None and voter.last_caught_up_ms_ago is None and voter.lag == 0


@pytest.mark.parametrize(
    ("payload", "words"),
    [
        (response(error=41), "error code 41"),
        (
            response(partition_error=6, voters=THREE),
            "metadata partition answered with error code 6",
        ),
        (response(topic="other", voters=THREE), "no __cluster_metadata partition"),
        (response(correlation_id=8), "correlation id"),
        (response(voters=THREE)[:-9], "ended early"),
        (response(voters=(THREE[0], THREE[0])), "voter ids must be unique"),
        (response(voters=THREE).replace(b"__cluster", b"\xff_cluster"), "not UTF-8"),
    ],
)
def test_errors_in_words(payload: bytes, words: str) -> None:
    with pytest.raises(QuorumWireError, match=words):
        decode_response(payload, 7)


def test_describe_quorum_asks_the_next_broker_when_one_refuses() -> None:
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    closed = socket.create_server(("127.0.0.1", 0))
    closed_port = closed.getsockname()[1]
    closed.close()  # nothing listens there: refused at once

    def answer() -> None:
        conn, _ = server.accept()
        with conn:
            size = struct.unpack(">i", conn.recv(4))[0]
            request = conn.recv(size)
            correlation = struct.unpack(">i", request[4:8])[0]
            payload = response(correlation_id=correlation, voters=THREE)
            conn.sendall(struct.pack(">i", len(payload)) + payload)

    threading.Thread(target=answer, daemon=True).start()
    try:
        status = describe_quorum(f"127.0.0.1:{closed_port}, 127.0.0.1:{port}", timeout=2)
    finally:
        server.close()
    assert status.leader_id == 2


def test_describe_quorum_names_every_broker_tried() -> None:
    closed = socket.create_server(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    with pytest.raises(QuorumWireError, match=rf"127.0.0.1:{port}: .*'nonsense' is not host:port"):
        describe_quorum(f"127.0.0.1:{port},nonsense", timeout=1)
