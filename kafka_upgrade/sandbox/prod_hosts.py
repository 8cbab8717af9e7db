"""A production-shaped estate on this machine (``sandbox up --layout prod``).

Each node looks like a real Kafka host: an unprivileged SSH login (``ku<N>ops``)
that reaches root only through ``sudo -n``, a Kafka user (``ku<N>kafka``) that
owns the data and logs and runs the JVM, the install under a root-owned
``opt/kafka`` and the config under a root-owned ``etc/kafka`` (server.properties
``root:<kafka> 0640``: the login cannot even read it), started and stopped by a
site wrapper (``bin/kafka-service``) run through sudo as ``service.kind:
command``, and a sudoers drop-in that is exactly what ``kafka-upgrade sudoers``
prints. Building it needs root (``useradd``, ``/etc/sudoers.d``); taking it down
removes the users and the drop-in it added.
"""

from __future__ import annotations

import os
import pwd
import shutil
import stat
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kafka_upgrade.core.access_checks import node_grants
from kafka_upgrade.core.errors import ToolFailed
from kafka_upgrade.core.inventory import Inventory
from kafka_upgrade.core.privilege import sudoers_dropin
from kafka_upgrade.sandbox import dist
from kafka_upgrade.sandbox.layout import NodeSpec, SandboxSpec

Log = Callable[[str], None]

_TOOLS = ("useradd", "userdel", "usermod", "sudo", "visudo", "runuser")

WRAPPER = """#!/bin/sh
# kafka-service: how this estate starts, stops and checks a Kafka node, as a site wrapper
# does; run as root through sudo.  Usage: kafka-service start|stop|status CONFIG LINK USER
set -eu
action=$1 config=$2 link=$3 user=$4
running() {
  for pid in $(pgrep -u "$user" -f 'kafka[.]Kafka' || true); do
    if tr '\\0' '\\n' < "/proc/$pid/cmdline" 2>/dev/null | grep -qxF -- "$config"; then
      return 0
    fi
  done
  return 1
}
case $action in
  start)
    set -a; . "$(dirname -- "$config")/kafka.env"; set +a
    cd /
    exec runuser -u "$user" -- "$link/bin/kafka-server-start.sh" -daemon "$config" ;;
  stop) cd / && exec runuser -u "$user" -- "$link/bin/kafka-server-stop.sh" "$config" ;;
  status) running ;;
  *) echo "usage: kafka-service start|stop|status CONFIG LINK USER" >&2; exit 2 ;;
esac
"""


class ProdLayoutError(ToolFailed):
    """This machine cannot host a prod-layout sandbox; the message says what is missing."""


def service_entry(spec: SandboxSpec) -> dict[str, Any]:
    """The inventory's ``service`` for a prod node: the wrapper, through sudo."""
    args = "{config} {link} {kafka_user}"
    return {
        "kind": "command",
        "start": f"{spec.wrapper} start {args}",
        "stop": f"{spec.wrapper} stop {args}",
        "status": f"{spec.wrapper} status {args}",
    }


def check_machine(spec: SandboxSpec) -> None:
    """Refuse before anything is made: root, the tools, a root other users can reach."""
    if os.geteuid() != 0:
        raise ProdLayoutError("--layout prod adds users and a sudoers file: run it as root")
    missing = [t for t in _TOOLS if shutil.which(t) is None]
    if missing:
        raise ProdLayoutError(
            f"--layout prod needs {', '.join(missing)}: run `scripts/bootstrap.sh test` "
            "(or apt-get install sudo passwd util-linux)"
        )
    if not all(c.isalnum() or c in "/._-" for c in str(spec.root)):
        raise ProdLayoutError(
            f"--layout prod: the sandbox root {spec.root} may hold only letters, digits and "
            "/._- (it appears in a sudoers line); set KAFKA_UPGRADE_SANDBOX_DIR"
        )
    closed = closed_parent(spec.root)
    if closed is not None:
        raise ProdLayoutError(
            f"--layout prod: the Kafka user cannot reach {spec.root} ({closed} is closed "
            "to other users); set KAFKA_UPGRADE_SANDBOX_DIR to a directory they can reach, "
            "e.g. /var/tmp/kafka-upgrade-sandboxes"
        )


def closed_parent(root: Path) -> Path | None:
    """The first existing folder above ``root`` that other users cannot pass through."""
    for folder in reversed(root.parents):
        if folder.exists() and not folder.stat().st_mode & stat.S_IXOTH:
            return folder
    return None


def _exists(user: str) -> bool:
    try:
        pwd.getpwnam(user)
    except KeyError:
        return False
    return True


def _run(argv: list[str]) -> None:
    result = subprocess.run(argv, capture_output=True, text=True)
    if result.returncode != 0:
        raise ProdLayoutError(f"{' '.join(argv)} failed: {result.stderr.strip()}")


def add_users(spec: SandboxSpec, record: dict[str, Any], save: Callable[[], None]) -> None:
    """The login and the Kafka user, each recorded before it is made (so `down` removes
    it even after a crash); a user that already exists is used and left alone."""
    users = spec.users
    home = spec.root / "home" / users.login
    for user, argv in (
        (users.kafka, ["useradd", "-r", "-M", "-d", "/nonexistent", "-s", "/usr/sbin/nologin"]),
        (users.login, ["useradd", "-m", "-d", str(home), "-s", "/bin/sh"]),
    ):
        if _exists(user):
            continue
        record.setdefault("users", []).append(user)
        save()
        _run([*argv, user])
    _run(["usermod", "-p", "*", users.login])  # no password, not locked: keys only


def _ids(user: str) -> tuple[int, int]:
    entry = pwd.getpwnam(user)
    return entry.pw_uid, entry.pw_gid


def _folder(path: Path, mode: int, owner: tuple[int, int] = (0, 0)) -> None:
    path.mkdir(parents=True, exist_ok=True)
    os.chown(path, *owner)
    os.chmod(path, mode)


def lay_out_node(
    spec: SandboxSpec, node: NodeSpec, installs: dict[str, Path], properties: str
) -> None:
    """One node's tree, owned and moded as on a production host; ``installs``: the Kafka
    versions to put there (``spec.version`` first: ``current`` points at it)."""
    kafka = _ids(spec.users.kafka)
    _folder(node.root, 0o755)
    _folder(node.install_dir, 0o755)
    _folder(node.config_path.parent, 0o755)
    _folder(node.data_dir, 0o750, kafka)
    _folder(node.log_dir, 0o755, kafka)
    for version, install in installs.items():
        _copy_install(install, node.install_dir / dist.dist_dir_name(version))
    node.current_link.symlink_to(dist.dist_dir_name(spec.version))
    node.config_path.write_text(properties)
    os.chown(node.config_path, 0, kafka[1])
    os.chmod(node.config_path, 0o640)


def _copy_install(install: Path, target: Path) -> None:
    """A root-owned copy of a cached distribution: hard links when the cache shares the
    filesystem (instant, no space), else a real copy."""
    copied = subprocess.run(["cp", "-al", str(install), str(target)], capture_output=True)
    if copied.returncode != 0:
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(install, target, symlinks=True)


def write_env(node: NodeSpec, env: dict[str, str]) -> None:
    """``etc/kafka/kafka.env``: what the wrapper exports before it starts the JVM."""
    import shlex

    lines = [f"{k}={shlex.quote(v)}" for k, v in {**env, "LOG_DIR": str(node.log_dir)}.items()]
    path = node.config_path.parent / "kafka.env"
    path.write_text("\n".join(lines) + "\n")
    os.chmod(path, 0o644)


def install_wrapper(spec: SandboxSpec) -> None:
    _folder(spec.wrapper.parent, 0o755)
    spec.wrapper.write_text(WRAPPER)
    os.chmod(spec.wrapper, 0o755)


def install_sudoers(
    spec: SandboxSpec, inventory: Inventory, record: dict[str, Any], save: Callable[[], None]
) -> None:
    """The drop-in ``kafka-upgrade sudoers`` prints for this inventory, checked by visudo."""
    node = inventory.nodes[0]
    text = sudoers_dropin(node.access.login, node_grants(node))
    staged = spec.root / "sudoers.check"
    staged.write_text(text)
    _run(["visudo", "-cqf", str(staged)])
    record["sudoers_file"] = str(spec.sudoers_file)
    save()
    tmp = spec.sudoers_file.with_name(f".{spec.sudoers_file.name}.tmp")
    tmp.write_text(text)
    os.chmod(tmp, 0o440)
    tmp.replace(spec.sudoers_file)
    staged.unlink()


def open_login_keys(ssh_dir: Path) -> None:
    """sshd reads authorized_keys as the login user: let it (the private keys stay 0600)."""
    os.chmod(ssh_dir, 0o711)
    os.chmod(ssh_dir / "authorized_keys", 0o644)


def remove(record: dict[str, Any], log: Log) -> None:
    """Take away what ``add_users`` and ``install_sudoers`` added (and nothing else)."""
    sudoers = record.get("sudoers_file")
    if sudoers:
        Path(sudoers).unlink(missing_ok=True)
    for user in reversed(record.get("users", [])):
        if _exists(user):
            result = subprocess.run(["userdel", "-f", user], capture_output=True, text=True)
            if result.returncode not in (0, 6):
                log(f"could not remove user {user}: {result.stderr.strip()}")
    users = ", ".join(record.get("users", [])) or "no users"
    log(f"removed {users} and {sudoers or 'no sudoers file'}")
