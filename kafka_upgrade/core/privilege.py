"""Who runs what on a node: the SSH login, root through ``sudo -n``, or the Kafka user.

On a production host the login is an operator's account, Kafka's files belong
to root or to a ``kafka`` user, and the JVM runs as ``kafka``. The inventory's
``privilege`` section says so (``sudo``, ``kafka_user``); this module turns it
into command prefixes and into the exact sudoers lines the tool needs.

- As **root**: the file work on server.properties and the install directory
  (``cat``, ``test``, ``cp``, ``cmp``, ``mv``, ``rm``, ``ln``, ``chown``,
  ``chmod``, ``tee``, ``mkdir``, ``tar``), and ``systemctl`` or the
  ``service.kind: command`` templates.
- As the **Kafka user**: reading the JVM's open files (``ls``, the version
  probe), Kafka's scripts and tools (through ``env``, which carries the node's
  settings such as ``KAFKA_HEAP_OPTS``) and its logs (``tail``).

Without ``sudo`` every command runs as the login, as before. Each program is
its own sudoers line, so preflight can name the one line that is missing.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass

ROOT = "root"

# What each program is needed for, in the words a refusal uses.
ROOT_PROGRAMS: dict[str, str] = {
    "cat": "reading server.properties",
    "test": "checking the config and install directories",
    "cp": "backing up server.properties",
    "cmp": "verifying the backup of server.properties",
    "mv": "replacing server.properties and the current link atomically",
    "rm": "removing a partial backup or stage",
    "ln": "switching the current link to the new version",
    "chown": "keeping the owner of server.properties and of a staged version",
    "chmod": "keeping the mode of server.properties",
    "tee": "writing server.properties",
    "mkdir": "staging a new version",
    "tar": "unpacking a staged version",
}
KAFKA_PROGRAMS: dict[str, str] = {
    "ls": "reading which Kafka jar the running JVM holds open (its version)",
    "env": "running Kafka's scripts and tools as the Kafka user",
    "tail": "reading the node's Kafka logs after a failure",
}


@dataclass(frozen=True)
class Access:
    """How commands reach one node's files and processes."""

    login: str = ""
    sudo: bool = False
    kafka_user: str | None = None

    @property
    def separate_kafka_user(self) -> bool:
        """Kafka runs as a user other than the login, reached through sudo."""
        return self.sudo and self.kafka_user is not None and self.kafka_user != self.login

    def root(self) -> list[str]:
        """The argv prefix of a command that needs root."""
        return ["sudo", "-n", "--"] if self.sudo else []

    def kafka(self) -> list[str]:
        """The argv prefix of a command run as the Kafka user."""
        if self.separate_kafka_user:
            return ["sudo", "-n", "-u", str(self.kafka_user), "--"]
        return []

    def root_sh(self) -> str:
        """``root()`` as shell text to put before a program name (empty, or ends in a space)."""
        return _prefix(self.root())

    def kafka_sh(self) -> str:
        return _prefix(self.kafka())

    @property
    def kafka_owner(self) -> str:
        """Who should own what the tool writes for Kafka (a staged version)."""
        return self.kafka_user or self.login


def _prefix(argv: list[str]) -> str:
    return shlex.join(argv) + " " if argv else ""


@dataclass(frozen=True)
class Grant:
    """One sudoers permission the tool needs on a node: ``program`` run as ``runas``."""

    runas: str
    program: str  # a name resolved on the node (cp), or an absolute path (a service command)
    needed_for: str

    def line(self, login: str, path: str | None = None) -> str:
        """The sudoers line that allows it; ``path``: the program's absolute path there."""
        where = path or (
            self.program if self.program.startswith("/") else f"/usr/bin/{self.program}"
        )
        return f"{login} ALL=({self.runas}) NOPASSWD: {where}"


def grants(access: Access, service_programs: dict[str, str]) -> list[Grant]:
    """Every sudoers permission a node needs (none without sudo). ``service_programs``: the
    service's programs run as root (``systemctl``, a template's command) and what for."""
    if not access.sudo:
        return []
    found = [Grant(ROOT, p, why) for p, why in ROOT_PROGRAMS.items()]
    found += [Grant(ROOT, p, why) for p, why in service_programs.items()]
    if access.separate_kafka_user:
        found += [Grant(str(access.kafka_user), p, why) for p, why in KAFKA_PROGRAMS.items()]
    return found


def sudoers_dropin(login: str, needed: list[Grant], paths: dict[str, str] | None = None) -> str:
    """The drop-in for /etc/sudoers.d/: one line per program, nothing more."""
    paths = paths or {}
    head = [
        "# /etc/sudoers.d/kafka-upgrade: what kafka-upgrade may run on this Kafka node,",
        f"# as the SSH login {login}, without a password (install with visudo -cf, mode 0440).",
    ]
    body = list(dict.fromkeys(g.line(login, paths.get(g.program)) for g in needed))
    return "\n".join([*head, *body]) + "\n"


def grant_check_command(needed: list[Grant]) -> str:
    """Ask sudo, without running anything, whether each grant is allowed: prints
    ``grant=<i> ok`` or ``grant=<i> no <absolute path of the program on this host>``."""
    lines = []
    for i, g in enumerate(needed):
        prog = shlex.quote(g.program)
        runas = shlex.quote(g.runas)
        lines.append(
            f"if sudo -n -l -u {runas} -- {prog} >/dev/null 2>&1; then echo 'grant={i} ok'; "
            f'else echo "grant={i} no $(command -v {prog} || echo {prog})"; fi'
        )
    return "; ".join(lines) or "true"


def refused_grants(needed: list[Grant], stdout: str) -> list[tuple[Grant, str]]:
    """The grants ``grant_check_command`` found refused, each with the program's path there.
    A grant the output does not mention at all counts as refused (the check was cut short)."""
    seen: dict[int, tuple[bool, str]] = {}
    for line in stdout.splitlines():
        words = line.split()
        if len(words) >= 2 and words[0].startswith("grant="):
            index = int(words[0].removeprefix("grant="))
            seen[index] = (words[1] == "ok", words[2] if len(words) > 2 else "")
    refused = []
    for i, g in enumerate(needed):
        ok, path = seen.get(i, (False, ""))
        if not ok:
            refused.append((g, path if path.startswith("/") else ""))
    return refused
