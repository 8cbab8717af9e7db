"""``inventory import --ansible``: a cp-ansible hosts.yml becomes our inventory, with a
comment on every assumed value, and what cannot be mapped is refused with its line."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from kafka_upgrade.app.cli import app
from kafka_upgrade.core.ansible_import import Imported, import_cp_ansible
from kafka_upgrade.core.ansible_inventory import AnsibleImportError, read_inventory
from kafka_upgrade.core.errors import BadInput
from kafka_upgrade.core.inventory import Inventory

FIXTURES = Path(__file__).parent / "fixtures" / "ansible"


def _import(name: str, **options: Any) -> Imported:
    return import_cp_ansible((FIXTURES / name).read_text(), source=name, **options)


def _nodes(imported: Imported) -> dict[str, dict[str, Any]]:
    return {f"{n['host']}/{n['roles'][0]}": n for n in imported.data["nodes"]}


def _line_with(text: str, start: str) -> str:
    return next(line for line in text.splitlines() if line.lstrip("- ").startswith(start))


def _valid(data: dict[str, Any]) -> Inventory:
    """What the import wrote is a whole inventory: the model accepts every field."""
    return Inventory(**data)


def _refusal(text: str) -> str:
    with pytest.raises(AnsibleImportError) as caught:
        import_cp_ansible(textwrap.dedent(text), source="hosts.yml")
    assert isinstance(caught.value, BadInput)
    return str(caught.value)


# --- KRaft: cp-ansible's sample shape ----------------------------------------------------


def test_kraft_cluster_settings() -> None:
    data = _import("kraft_hosts.yml", cluster="prod-eu").data
    assert data["cluster"] == "prod-eu"
    assert data["mode"] == "kraft"
    # cp-ansible advertises the inventory names, not ansible_host
    assert data["bootstrap_servers"] == (
        "broker-1.example.com:9092,broker-2.example.com:9092,broker-3.example.com:9092"
    )
    assert data["current_version"] == "3.9.0"  # from confluent_package_version 7.9.0
    assert data["ssh"] == {"user": "ec2-user", "port": 22, "key_file": "/home/ec2-user/guest.pem"}
    assert data["privilege"] == {"sudo": True, "kafka_user": "cp-kafka"}
    assert data["kafka"] == {"security_protocol": "SASL_SSL", "sasl_mechanism": "PLAIN"}
    assert "zookeeper" not in data


def test_kraft_nodes() -> None:
    nodes = _nodes(_import("kraft_hosts.yml"))
    assert [n["id"] for n in nodes.values()] == [101, 2, 3, 9991, 9992, 9993]
    broker, controller = nodes["10.0.0.1/broker"], nodes["10.0.1.1/controller"]
    assert broker["roles"] == ["broker"]
    assert broker["config_path"] == "/etc/kafka/server.properties"
    assert broker["log_dir"] == "/data/log/kafka"  # the kafka_broker group's vars
    assert broker["install_dir"] == "/opt/confluent"
    assert broker["service"] == {"kind": "systemd", "unit": "confluent-server", "sudo": True}
    assert "controller_port" not in broker
    assert controller["roles"] == ["controller"]
    assert controller["config_path"] == "/etc/controller/server.properties"
    assert controller["log_dir"] == "/var/log/controller"
    assert controller["controller_port"] == 9093
    assert controller["service"]["unit"] == "confluent-kcontroller"
    assert nodes["10.0.0.2/broker"]["ssh_port"] == 2222  # host var over the common port
    assert nodes["10.0.0.3/broker"]["ssh_user"] == "admin"
    assert "ssh_user" not in broker and "ssh_port" not in broker


def test_kraft_comments_mark_what_was_assumed() -> None:
    text = _import("kraft_hosts.yml").to_yaml()
    assert "# assumed: from the file name" in _line_with(text, "cluster:")
    assert "# ASSUMED: derived from confluent_package_version 7.9.0" in _line_with(
        text, "current_version:"
    )
    assert "port 9092" in _line_with(text, "bootstrap_servers:")
    assert "# assumed: cp-ansible's default (kafka_broker_user)" in _line_with(text, "kafka_user:")
    assert "# assumed" not in _line_with(text, "id: 101")  # broker_id given
    assert "must match node.id or broker.id" in _line_with(text, "id: 2")
    assert "9991 + position in kafka_controller" in _line_with(text, "id: 9991")
    assert "# assumed" not in _line_with(text, "log_dir: /data/log/kafka")
    assert "# assumed" in _line_with(text, "log_dir: /var/log/controller")
    assert "KAFKA_UPGRADE_KAFKA__SASL_PASSWORD" in _line_with(text, "sasl_mechanism:")
    assert "# broker.rack us-east-1a" in text
    assert "password" not in yaml.safe_load(text)["kafka"]


# --- ZooKeeper mode: groups under all.children, archive install ---------------------------


def test_zookeeper_cluster() -> None:
    imported = _import("zk_hosts.yml", current_version="3.7.2")
    data, nodes = imported.data, _nodes(imported)
    assert data["mode"] == "zk"
    assert data["cluster"] == "zk-hosts"
    assert data["current_version"] == "3.7.2"
    assert data["zookeeper"] == {
        "connect": "zk-1.internal:2181,zk-2.internal:2181,zk-3.internal:2181/kafka"
    }
    assert data["bootstrap_servers"] == "kafka-1.internal:9094,kafka-2.internal:9094"
    assert data["ssh"] == {"user": "centos", "port": 22}
    assert data["privilege"] == {"sudo": True, "kafka_user": "kafka"}
    assert "kafka" not in data  # PLAINTEXT: the default
    assert [n["id"] for n in nodes.values()] == [1, 7]
    broker = nodes["kafka-1.internal/broker"]
    assert broker["install_dir"] == "/opt/cp"
    assert broker["config_path"] == "/opt/cp/etc/kafka/server.properties"
    assert broker["service"]["unit"] == "confluent-kafka"  # confluent_server_enabled: false
    assert not any("controller" in n["roles"] for n in nodes.values())


def test_zookeeper_comments() -> None:
    text = _import("zk_hosts.yml").to_yaml()
    assert "client port 2181" in _line_with(text, "connect:")
    assert "# ASSUMED: hosts.yml names no version" in _line_with(text, "current_version:")
    assert "# assumed: ansible_port not set" in _line_with(text, "port: 22")
    assert "# assumed" not in _line_with(text, "bootstrap_servers:")  # port 9094 given


@pytest.mark.parametrize("name", ["kraft_hosts.yml", "zk_hosts.yml"])
def test_the_text_loads_back_to_the_data_and_validates(name: str) -> None:
    imported = _import(name, current_version="3.9.1")
    assert yaml.safe_load(imported.to_yaml()) == imported.data
    inventory = _valid(imported.data)
    assert len(inventory.nodes) == len(imported.data["nodes"])


def test_an_unknown_version_does_not_load_until_set() -> None:
    data = _import("zk_hosts.yml").data
    assert data["current_version"] == "unknown"
    with pytest.raises(ValueError, match="current_version"):
        _valid(data)


# --- how Ansible merges variables --------------------------------------------------------


def test_host_vars_win_over_group_vars_over_all_vars() -> None:
    inv = read_inventory(
        textwrap.dedent("""\
            all:
              vars: {a: all, b: all, c: all}
              children:
                outer:
                  vars: {b: outer, c: outer}
                  children:
                    kafka_broker:
                      vars: {c: group}
                      hosts:
                        h1: {d: host}
                        h2: {c: host}
            """),
        "hosts.yml",
    )
    h1, h2 = inv.hosts("kafka_broker")
    assert {k: v.value for k, v in h1.vars.items()} == {
        "a": "all",
        "b": "outer",
        "c": "group",
        "d": "host",
    }
    assert h2.vars["c"].value == "host"
    assert h2.vars["c"].line == 11
    assert [h.name for h in inv.hosts("outer")] == ["h1", "h2"]


def test_a_host_in_both_groups_is_two_services() -> None:
    data = import_cp_ansible(
        textwrap.dedent("""\
            all: {vars: {ansible_user: u}}
            kafka_controller: {hosts: {k1: , k2: , k3: }}
            kafka_broker: {hosts: {k1: }}
            """),
        source="hosts.yml",
    ).data
    on_k1 = [
        (n["id"], n["roles"], n["service"]["unit"]) for n in data["nodes"] if n["host"] == "k1"
    ]
    assert on_k1 == [
        (1, ["broker"], "confluent-server"),
        (9991, ["controller"], "confluent-kcontroller"),
    ]


# --- refusals, with the line of hosts.yml --------------------------------------------------

KRAFT = """\
all:
  vars:
    ansible_user: u
kafka_controller:
  hosts:
    c1:
kafka_broker:
  hosts:
    b1:
"""


def test_a_docker_connection_is_refused() -> None:
    message = _refusal(KRAFT + "    b2:\n      ansible_connection: docker\n")
    assert message.startswith("hosts.yml line 11: b2 is reached with ansible_connection docker")
    assert "over SSH only" in message


def test_a_jinja_value_is_refused() -> None:
    message = _refusal(
        KRAFT.replace("ansible_user: u", "ansible_user: \"{{ lookup('env','U') }}\"")
    )
    assert message.startswith("hosts.yml line 3: ansible_user of b1 is a Jinja template")


def test_no_broker_hosts_is_refused() -> None:
    message = _refusal(KRAFT.replace("    b1:\n", ""))
    assert message.startswith("hosts.yml line 7: no hosts in a kafka_broker group")


def test_zookeeper_with_controllers_is_a_migration() -> None:
    message = _refusal(KRAFT + "zookeeper:\n  hosts:\n    z1:\n")
    assert message.startswith("hosts.yml line 10: both a zookeeper and a kafka_controller group")
    assert "migration" in message


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (
            "    b2:\n      ansible_ssh_common_args: -J bastion\n",
            "line 11: ansible_ssh_common_args",
        ),
        ("    b2:\n      ansible_become_method: su\n", "line 11: ansible_become_method su"),
        ("    <broker-host-2>:\n", "line 10: host '<broker-host-2>' has no address"),
        ("    b2:\n      broker_id: 9991\n", "line 6: node id 9991 of c1 is also b2's"),
        ("  vars:\n    sasl_protocol: kerberos\n", "line 11: sasl_protocol kerberos"),
        ("    b2:\n      kafka: 1\n  bogus: 2\n", "line 12: 'bogus' in group 'kafka_broker'"),
        (
            "    b2:\n      ansible_ssh_private_key_file: /k2\n"
            "    b3:\n      ansible_ssh_private_key_file: /k3\n",
            "line 13: b3 logs in with key /k3",
        ),
    ],
)
def test_what_cannot_be_mapped_is_refused(extra: str, expected: str) -> None:
    assert expected in _refusal(KRAFT + extra)


def test_no_mode_group_and_bad_yaml_are_refused() -> None:
    assert "neither a kafka_controller" in _refusal("kafka_broker:\n  hosts:\n    b1:\n")
    assert _refusal("all:\n  vars: [\n").startswith("hosts.yml line 3: not valid YAML")


# --- the command --------------------------------------------------------------------------


def test_cli_writes_the_file_and_refuses_to_overwrite_it(tmp_path: Path) -> None:
    out = tmp_path / "inventory.yml"
    args = [
        "inventory",
        "import",
        "--ansible",
        str(FIXTURES / "kraft_hosts.yml"),
        "--out",
        str(out),
    ]
    first = CliRunner().invoke(app, [*args, "--cluster", "prod-eu", "--current-version", "3.9.1"])
    assert first.exit_code == 0, first.output
    written = yaml.safe_load(out.read_text())
    assert (written["cluster"], written["current_version"]) == ("prod-eu", "3.9.1")
    again = CliRunner().invoke(app, args)
    assert again.exit_code == 2
    assert "exists: pass --force" in again.stderr
    assert CliRunner().invoke(app, [*args, "--force"]).exit_code == 0


def test_cli_refuses_a_bad_file_in_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "hosts.yml"
    bad.write_text(KRAFT + "    b2:\n      ansible_connection: docker\n")
    result = CliRunner().invoke(app, ["inventory", "import", "--ansible", str(bad)])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: hosts.yml line 11:"), lines
    assert "Traceback" not in result.output


def test_a_port_that_is_not_a_number_is_refused() -> None:
    message = _refusal(KRAFT + "    b2:\n      ansible_port: twenty-two\n")
    assert message.startswith("hosts.yml line 11: ansible_port of b2 is 'twenty-two'")
