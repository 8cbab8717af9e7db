"""The foundation, against the real thing: a sandbox per mode on the old version.

Each mode: `sandbox up` through the CLI; a topic with RF=3 and
min.insync.replicas=2; 10,000 messages with acks=all written and read back;
the AdminClient sees every broker and no under-replicated partition; a command
runs on a node through Fabric with the host key verified; the quorum read over
the wire agrees with Kafka's own tool (KRaft); `sandbox down`
leaves no Kafka, ZooKeeper or sshd process. Admin requests run in a child
process (``isolated_admin``), so a librdkafka abort cannot end the session.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from kafka_upgrade.adapters import isolated_admin
from kafka_upgrade.adapters.quorum_wire import QuorumWireError, describe_quorum
from kafka_upgrade.adapters.remote import FabricRemote, HostKeyError, TransientRemoteError
from kafka_upgrade.core.inventory import load_inventory
from kafka_upgrade.core.kafka_cli import quorum_from_replication
from kafka_upgrade.core.node_commands import probe_command
from kafka_upgrade.core.versions import pair_for
from kafka_upgrade.sandbox import cluster
from kafka_upgrade.sandbox.traffic import consume, create_topic, produce
from tasks.kafka_tools import tool_command
from tests.integration.conftest import cli, require_tools, sandbox_status

pytestmark = pytest.mark.integration

MESSAGES = 10_000


@pytest.fixture(scope="module", params=["kraft", "zk"])
def sandbox(request: pytest.FixtureRequest) -> Iterator[dict]:
    require_tools()
    mode = request.param
    name = f"it-{mode}"
    started = time.monotonic()
    # No --version: it defaults to the old version of the mode's pair.
    cli("sandbox", "up", "--name", name, "--mode", mode)
    print(f"\nsandbox up ({mode}) took {time.monotonic() - started:.1f} s")
    info = sandbox_status(name)
    yield info
    if cluster.sandbox_dir(name).exists():
        cli("sandbox", "down", "--name", name, check=False)


def test_status_shows_three_running_nodes_on_old_version(sandbox: dict) -> None:
    old = pair_for(sandbox["mode"]).old
    assert len(sandbox["nodes"]) == 3
    for node in sandbox["nodes"]:
        assert node["running"], f"node {node['id']} is not running: {node}"
        assert node["version"] == old, f"node {node['id']} reports {node['version']}, not {old}"
    assert Path(sandbox["inventory"]).exists()
    assert sandbox["bootstrap_servers"].count(":9092") == 3


def test_acks_all_round_trip_loses_nothing(sandbox: dict) -> None:
    bootstrap = sandbox["bootstrap_servers"]
    topic = "roundtrip"
    create_topic(bootstrap, topic, partitions=6, replication=3, min_insync=2)

    stats = produce(bootstrap, topic, range(MESSAGES))
    assert stats.failed == 0, stats.errors
    assert stats.delivered == MESSAGES

    result = consume(bootstrap, topic, expected=MESSAGES, timeout=90)
    assert result.missing(range(MESSAGES)) == []
    assert result.duplicates == 0

    snapshot = isolated_admin.snapshot({"bootstrap.servers": bootstrap}, timeout=30)
    assert {p.min_isr for p in snapshot.partitions if p.topic == topic} == {2}


def test_admin_sees_every_broker_and_nothing_under_replicated(sandbox: dict) -> None:
    config = {"bootstrap.servers": sandbox["bootstrap_servers"]}
    snapshot = isolated_admin.snapshot(config, timeout=30)
    assert sorted(snapshot.brokers) == [n["id"] for n in sandbox["nodes"]]
    assert snapshot.partitions, "expected at least the test topic"
    under = [
        f"{p.topic}-{p.partition}" for p in snapshot.partitions if len(p.isr) < len(p.replicas)
    ]
    assert under == []


def test_command_runs_on_a_node_through_fabric(sandbox: dict, tmp_path: Path) -> None:
    inventory = load_inventory(sandbox["inventory"])
    node = inventory.nodes[1]
    with FabricRemote(inventory) as remote:
        result = remote.run(node, "hostname -I >/dev/null; echo $SSH_CONNECTION")
    assert result.ok
    # sshd reports the address the client connected to: the node's own address.
    assert result.stdout.split()[2] == node.host

    # The host key is verified: an empty known_hosts is refused, not auto-accepted.
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    strict = inventory.model_copy(
        update={"ssh": inventory.ssh.model_copy(update={"known_hosts": empty})}
    )
    with FabricRemote(strict) as remote, pytest.raises(HostKeyError, match="not in"):
        remote.run(node, "true")


def test_a_standing_shell_answers_probes_as_a_new_session_does(sandbox: dict) -> None:
    inventory = load_inventory(sandbox["inventory"])
    node = inventory.nodes[0]
    with FabricRemote(inventory) as remote:
        probe = probe_command(node)
        assert remote.look(node, probe).stdout == remote.run(node, probe).stdout
        # One shell answers every look ($$ is the shell's pid, also in its subshells);
        # every run is a new session.
        shells = {remote.look(node, "echo $$").stdout for _ in range(3)}
        assert len(shells) == 1
        assert len({remote.run(node, "echo $$").stdout for _ in range(3)}) == 3
        # A failure is run again the usual way, so its stderr comes back too.
        failed = remote.look(node, "echo out; echo why >&2; exit 3")
        assert (failed.exit_code, failed.stdout, failed.stderr) == (3, "out\n", "why\n")
        with pytest.raises(TransientRemoteError, match="did not finish within 1 s"):
            remote.look(node, "sleep 30", timeout=1)
        # The hung shell was dropped; a new one answers.
        assert remote.look(node, "echo $((6 * 7))").stdout == "42\n"
        assert remote.look(node, "echo $$").stdout not in shells


def test_the_quorum_read_over_the_wire_agrees_with_the_tool(sandbox: dict) -> None:
    """DescribeQuorum straight to a broker (the gates' route) says what
    kafka-metadata-quorum.sh says; a ZooKeeper cluster has no quorum to describe."""
    bootstrap = sandbox["bootstrap_servers"]
    if sandbox["mode"] == "zk":
        with pytest.raises(QuorumWireError, match="no broker answered DescribeQuorum"):
            describe_quorum(bootstrap)
        return
    inventory = load_inventory(sandbox["inventory"])
    node = inventory.nodes[0]
    with FabricRemote(inventory) as remote:
        tool = remote.run(
            node,
            tool_command(
                node, "kafka-metadata-quorum.sh", bootstrap, ["describe", "--replication"]
            ),
            timeout=90,
        )
    assert tool.ok, tool.describe()
    by_tool = quorum_from_replication(tool.stdout)
    wire = describe_quorum(bootstrap)
    assert wire.leader_id == by_tool.leader_id is not None
    assert wire.voter_ids == by_tool.voter_ids == tuple(n["id"] for n in sandbox["nodes"])
    # The log moves on between the two reads; both see every voter caught up.
    for voter in wire.voters:
        assert voter.lag < 100 and voter.last_caught_up_ms_ago is not None
        assert voter.last_caught_up_ms_ago < 5000


def test_down_leaves_no_process(sandbox: dict) -> None:
    name = sandbox["name"]
    assert cluster.running_processes(name), "the sandbox should have processes before down"
    cli("sandbox", "down", "--name", name)
    assert cluster.running_processes(name) == []
    assert not cluster.sandbox_dir(name).exists()
