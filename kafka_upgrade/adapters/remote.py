"""The one narrow seam to the nodes: ``run(node, command) -> CommandResult``.

``FabricRemote`` is the production transport (SSH through Fabric, host keys
verified against a known_hosts file, never auto-added). Tests of pure logic
pass a plain fake with the same ``run`` method; integration tests use real sshd.

Errors are translated where they enter:

- ``TransientRemoteError``: the connection dropped, timed out or was refused.
  Retrying the step is reasonable.
- ``HostKeyError``: the host key is unknown or changed. Never retried: an
  operator must check the host and its known_hosts entry.
- ``LoginError``: the login was refused (user, key) or the key file cannot
  be read. Never retried: the inventory or the node's authorized_keys is wrong.
- A command that ran and exited non-zero is *not* an exception: it is a
  ``CommandResult`` with ``ok == False``; the caller decides what it means.
"""

from __future__ import annotations

import secrets
import shlex
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import paramiko
from fabric import Connection
from invoke.exceptions import CommandTimedOut
from paramiko.hostkeys import InvalidHostKey
from paramiko.ssh_exception import NoValidConnectionsError

from kafka_upgrade.core.errors import Fatal, Transient
from kafka_upgrade.core.inventory import Inventory, Node
from kafka_upgrade.core.shell import node_env, quote_command

LineSink = Callable[[str], None]
Sink = LineSink | None  # where a command's output lines go as they come, if anywhere


class TransientRemoteError(Transient):
    """The SSH connection failed or timed out; the step may be retried."""


class HostKeyError(Fatal):
    """The node's host key is unknown or does not match known_hosts."""


class LoginError(Fatal):
    """The SSH login was refused, or the key file cannot be read."""


class UploadError(Fatal):
    """An SFTP upload was refused by the node or the local disk (not a dropped link)."""


# The transport's errors, for ``except RemoteError``; not a class, as they go different
# ways next (retry, or stop the run).
RemoteError = (TransientRemoteError, HostKeyError, LoginError)


@dataclass(frozen=True)
class CommandResult:
    node_id: int
    command: str
    exit_code: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.exit_code == 0

    def describe(self) -> str:
        tail = (self.stderr.strip() or self.stdout.strip()).splitlines()[-5:]
        return f"node {self.node_id}: `{self.command}` exited {self.exit_code}: " + " | ".join(tail)


class Remote(Protocol):
    def run(
        self, node: Node, command: str, *, timeout: float | None = None, on_line: Sink = None
    ) -> CommandResult: ...

    def look(self, node: Node, command: str, *, timeout: float = 30) -> CommandResult: ...


class _LineWriter:
    """A file-like object that hands complete lines to a sink (for live run logs)."""

    def __init__(self, sink: LineSink, prefix: str) -> None:
        self._sink = sink
        self._prefix = prefix
        self._buffer = ""

    def write(self, data: str) -> int:
        self._buffer += data
        while "\n" in self._buffer:
            line, self._buffer = self._buffer.split("\n", 1)
            self._sink(self._prefix + line)
        return len(data)

    def flush(self) -> None:
        if self._buffer:
            self._sink(self._prefix + self._buffer)
            self._buffer = ""


def standing_command(command: str, marker: str) -> bytes:
    """One command for a standing shell: run in a subshell (nothing it sets or changes
    directory to outlives it), reading nothing of the shell's own input, then a line with
    ``marker`` and its exit status."""
    return f"( {command}\n) </dev/null 2>/dev/null; printf '\\n{marker} %s\\n' \"$?\"\n".encode()


def parse_standing(output: str, marker: str) -> tuple[int, str] | None:
    """(exit status, stdout) from what a standing shell printed for one command, or None
    while its marker line has not come (``output`` is everything read so far)."""
    head, found, tail = output.rpartition(f"\n{marker} ")
    if not found or not tail.endswith("\n") or not tail.strip().isdigit():
        return None
    return int(tail.strip()), head


class _StandingShell:
    """The node's login shell on one SSH channel kept open, fed one command at a time."""

    def __init__(self, channel: paramiko.Channel) -> None:
        self.channel = channel
        self.busy = threading.Lock()

    def ask(self, command: str, timeout: float) -> tuple[int, str]:
        marker = f"__kafka_upgrade_done_{secrets.token_hex(8)}"
        deadline = time.monotonic() + timeout
        self.channel.settimeout(timeout)
        self.channel.sendall(standing_command(command, marker))
        received = b""
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no answer within {timeout:.0f} s")
            self.channel.settimeout(left)
            chunk = self.channel.recv(65536)  # socket.timeout (a TimeoutError) when it hangs
            if not chunk:
                raise EOFError("the standing shell ended")
            received += chunk
            parsed = parse_standing(received.decode(errors="replace"), marker)
            if parsed is not None:
                return parsed

    def close(self) -> None:
        self.channel.close()


class FabricRemote:
    """Runs commands over SSH with Fabric; one cached connection per node."""

    def __init__(self, inventory: Inventory) -> None:
        self._inventory = inventory
        self._connections: dict[int, Connection] = {}
        self._shells: dict[int, _StandingShell] = {}
        self._lock = threading.Lock()

    def _known_hosts(self) -> Path:
        return self._inventory.ssh.known_hosts or Path.home() / ".ssh" / "known_hosts"

    def _connection(self, node: Node) -> Connection:
        with self._lock:
            conn = self._connections.get(node.id)
            if conn is None:
                ssh = self._inventory.ssh
                connect_kwargs: dict[str, object] = {
                    "look_for_keys": ssh.key_file is None,
                    "allow_agent": ssh.key_file is None,
                    # A port that accepts but never speaks SSH fails within the
                    # connect timeout, not paramiko's own 15 s.
                    "banner_timeout": ssh.connect_timeout_s,
                }
                if ssh.key_file is not None:
                    connect_kwargs["key_filename"] = str(ssh.key_file)
                conn = Connection(
                    host=node.host,
                    port=self._inventory.ssh_port(node),
                    user=self._inventory.ssh_user(node),
                    connect_timeout=ssh.connect_timeout_s,
                    connect_kwargs=connect_kwargs,
                )
                # Fabric auto-adds unknown host keys; we verify them instead.
                conn.client.set_missing_host_key_policy(paramiko.RejectPolicy())
                known_hosts = self._known_hosts()
                if known_hosts.exists():
                    try:
                        conn.client.load_host_keys(str(known_hosts))
                    except (OSError, InvalidHostKey) as exc:
                        why = exc.strerror if isinstance(exc, OSError) else f"line {exc.line!r}"
                        raise HostKeyError(
                            f"node {node.id} ({node.host}): cannot read known_hosts "
                            f"{known_hosts} ({why}): fix the file, or set ssh.known_hosts"
                        ) from exc
                self._connections[node.id] = conn
            return conn

    def run(
        self, node: Node, command: str, *, timeout: float | None = None, on_line: Sink = None
    ) -> CommandResult:
        conn = self._connection(node)
        timeout = timeout or self._inventory.ssh.command_timeout_s
        streams: dict[str, object] = {}
        writers: list[_LineWriter] = []
        if on_line is not None:
            out, err = _LineWriter(on_line, ""), _LineWriter(on_line, "stderr: ")
            writers = [out, err]
            streams = {"out_stream": out, "err_stream": err, "hide": False}
        else:
            streams = {"hide": True}
        try:
            result = conn.run(command, warn=True, timeout=timeout, in_stream=False, **streams)
        except CommandTimedOut as exc:
            self._drop(node)
            raise TransientRemoteError(
                f"node {node.id} ({node.host}): command did not finish within {timeout:.0f} s"
            ) from exc
        except (paramiko.SSHException, OSError, EOFError) as exc:
            self._drop(node)
            raise self._translate(node, exc) from None
        finally:
            for w in writers:
                w.flush()
        if result.exited == -1:
            # paramiko closed the channel without an exit status: the connection dropped
            # mid-command. Its (empty) output must never read as "no process" or "done".
            self._drop(node)
            raise TransientRemoteError(
                f"node {node.id} ({node.host}): the SSH connection dropped while the command ran"
            )
        return CommandResult(
            node_id=node.id,
            command=command,
            exit_code=result.exited,
            stdout=result.stdout,
            stderr=result.stderr,
        )

    def look(self, node: Node, command: str, *, timeout: float = 30) -> CommandResult:
        """A short command that changes nothing (a probe), answered by the node's standing
        shell: its login shell on one SSH channel kept open. A new channel costs sshd a
        session (0.1-0.2 s); a poll that probes every quarter second should not pay it.

        A command that exits non-zero is run again through ``run``, so its stderr reaches
        the caller; so is one that finds the shell busy (another thread's probe) or ended
        (it is opened again next time). One that does not finish in ``timeout`` is a
        ``TransientRemoteError``, as with ``run``.
        """
        shell = self._standing_shell(node)
        if shell is None or not shell.busy.acquire(blocking=False):
            return self.run(node, command, timeout=timeout)
        try:
            exit_code, stdout = shell.ask(command, timeout)
        except TimeoutError as exc:
            self._drop_shell(node, shell)
            raise TransientRemoteError(
                f"node {node.id} ({node.host}): command did not finish within {timeout:.0f} s"
            ) from exc
        except (paramiko.SSHException, OSError, EOFError):
            self._drop_shell(node, shell)
            return self.run(node, command, timeout=timeout)
        finally:
            shell.busy.release()
        if exit_code != 0:
            return self.run(node, command, timeout=timeout)
        return CommandResult(node.id, command, exit_code, stdout, "")

    def _standing_shell(self, node: Node) -> _StandingShell | None:
        """The node's standing shell, opened on first use; None when it cannot be (the
        caller then runs the command the usual way, which reports why)."""
        with self._lock:
            shell = self._shells.get(node.id)
        if shell is not None:
            return shell
        try:
            conn = self._connection(node)
            conn.open()
            channel = conn.client.get_transport().open_session()
            channel.exec_command('exec "${SHELL:-/bin/sh}"')
        except (paramiko.SSHException, OSError, EOFError, AttributeError):
            return None
        shell = _StandingShell(channel)
        with self._lock:
            kept = self._shells.setdefault(node.id, shell)
        if kept is not shell:  # another thread opened one meanwhile
            shell.close()
        return kept

    def _drop_shell(self, node: Node, shell: _StandingShell) -> None:
        with self._lock:
            if self._shells.get(node.id) is shell:
                del self._shells[node.id]
        shell.close()

    def _translate(
        self, node: Node, exc: BaseException
    ) -> TransientRemoteError | HostKeyError | LoginError:
        """A paramiko or socket error as the transport's error, in an operator's words."""
        port = self._inventory.ssh_port(node)
        where = f"node {node.id} ({node.host}:{port})"
        known_hosts = self._known_hosts()
        if isinstance(exc, paramiko.BadHostKeyException):
            return HostKeyError(
                f"{where}: host key does not match the entry in known_hosts {known_hosts}: "
                "the host was reinstalled, or it is not the host you think. Verify it, then "
                f"replace the entry (ssh-keygen -R {_keyscan_host(node.host, port)} "
                f"-f {known_hosts})"
            )
        if isinstance(exc, paramiko.SSHException) and "not found in known_hosts" in str(exc):
            return HostKeyError(
                f"{where}: host key is not in {known_hosts}; host keys are verified, never "
                "accepted blindly. Fetch it, compare the fingerprint with the host's, then "
                f"keep it: ssh-keyscan -p {port} {shlex.quote(node.host)} "
                f">> {shlex.quote(str(known_hosts))}"
            )
        user = self._inventory.ssh_user(node)
        key = self._inventory.ssh.key_file
        if isinstance(exc, paramiko.AuthenticationException) and "timeout" in str(exc).lower():
            return TransientRemoteError(f"{where}: the SSH login timed out ({exc})")
        if isinstance(exc, paramiko.AuthenticationException):
            with_key = f"the key {key}" if key is not None else "the agent's or default keys"
            return LoginError(
                f"{where}: SSH login as {user!r} with {with_key} was refused ({exc}): check "
                "ssh.user and that the key is in the user's authorized_keys on the node"
            )
        if isinstance(exc, PermissionError | FileNotFoundError) and exc.filename:
            return LoginError(f"{where}: cannot read {exc.filename}: {exc.strerror}")
        if isinstance(exc, paramiko.SSHException) and "private key" in str(exc).lower():
            return LoginError(f"{where}: cannot use the key {key}: {exc}")
        timeout = self._inventory.ssh.connect_timeout_s
        if isinstance(exc, paramiko.SSHException) and (
            "protocol banner" in str(exc) or "No existing session" in str(exc)
        ):
            # paramiko says the latter when the handshake died under its login.
            return TransientRemoteError(
                f"{where}: something accepts connections there, but no SSH session came up "
                f"within {timeout:.0f} s: check the SSH port (and that sshd is not overloaded)"
            )
        if isinstance(exc, paramiko.SSHException):
            return TransientRemoteError(f"{where}: SSH failed: {exc}")
        if isinstance(exc, socket.gaierror):
            return TransientRemoteError(
                f"{where}: host name {node.host} does not resolve ({exc.strerror}): check "
                "the node's host"
            )
        if isinstance(exc, ConnectionRefusedError | NoValidConnectionsError):
            return TransientRemoteError(
                f"{where}: nothing accepts SSH connections there (connection refused): check "
                "the host, the SSH port and that sshd runs"
            )
        if isinstance(exc, TimeoutError):
            return TransientRemoteError(
                f"{where}: no SSH answer within {timeout:.0f} s "
                "(host unreachable or a firewall drops the connection): check the host and "
                "the SSH port"
            )
        return TransientRemoteError(f"{where}: cannot connect over SSH: {exc}")

    def upload(
        self, node: Node, local: Path, remote: str, on_bytes: Callable[[int, int], None]
    ) -> None:
        """Copy ``local`` to the absolute path ``remote`` over SFTP as the login;
        ``on_bytes(sent, total)`` as it goes. A dropped connection is a
        ``TransientRemoteError``; a refusal on either side (permissions, a full disk)
        an ``UploadError``."""
        conn = self._connection(node)
        try:
            conn.sftp().put(str(local), remote, callback=on_bytes)
        except (paramiko.SSHException, EOFError, ConnectionError, TimeoutError) as exc:
            self._drop(node)
            raise self._translate(node, exc) from None
        except OSError as exc:
            raise UploadError(
                f"node {node.id} ({node.host}): uploading {local} to {remote} over SFTP "
                f"failed: {exc.strerror or exc}: check the space and permissions there"
            ) from exc

    def _drop(self, node: Node) -> None:
        with self._lock:
            conn = self._connections.pop(node.id, None)
            shell = self._shells.pop(node.id, None)
        if shell is not None:
            shell.close()
        if conn is not None:
            conn.close()

    def close(self) -> None:
        with self._lock:
            conns, self._connections = list(self._connections.values()), {}
            shells, self._shells = list(self._shells.values()), {}
        for shell in shells:
            shell.close()
        for conn in conns:
            conn.close()

    def __enter__(self) -> FabricRemote:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _keyscan_host(host: str, port: int) -> str:
    """How known_hosts names a host: ``host``, or ``'[host]:port'`` off port 22."""
    return shlex.quote(host if port == 22 else f"[{host}]:{port}")


__all__ = [
    "CommandResult",
    "FabricRemote",
    "HostKeyError",
    "LoginError",
    "Remote",
    "RemoteError",
    "TransientRemoteError",
    "UploadError",
    "node_env",
    "quote_command",
]
