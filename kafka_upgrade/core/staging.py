"""Staging a Kafka version on the nodes: the remote commands and the plan, all pure.

Per node, one version, one tarball (its sha512 known locally):

1. Check: is ``install_dir/kafka_2.13-V`` already there, complete, and marked with this
   tarball's sha512? Does a complete upload already sit at the temp path?
2. Plan (``plan_stage``): SKIP (verified), UNPACK (the upload is there and complete),
   UPLOAD_AND_UNPACK, or BLOCKED (a directory of that name exists that this tarball did not
   make: it is never touched, it may be what the node runs).
3. Upload to ``/tmp/kafka-upgrade-stage-<login>/`` (a directory of the login's, mode 700),
   check the upload's sha512 on the node.
4. Unpack into ``install_dir/.kafka_2.13-V.staging``, write the checksum marker, give it to
   the Kafka user (with sudo), then rename it to ``kafka_2.13-V``: a stage cut short never
   leaves a half directory under the real name.
5. Verify: the start script, the jar, the owner, the marker.
"""

from __future__ import annotations

import enum
import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath

from kafka_upgrade.core.inventory import Node

MARKER = ".kafka-upgrade-sha512"
_SHA512 = re.compile(r"^[0-9a-f]{128}$")


def dist_name(version: str) -> str:
    return f"kafka_2.13-{version}"


def upload_dir(node: Node) -> str:
    return f"/tmp/kafka-upgrade-stage-{node.access.login}"


def upload_path(node: Node, version: str) -> str:
    """One upload per node: nodes that share a host (and its /tmp) never remove or overwrite
    each other's tarball while it is being unpacked."""
    return f"{upload_dir(node)}/node-{node.id}-{dist_name(version)}.tgz"


def staging_dir(node: Node, version: str) -> str:
    return str(node.install_dir / f".{dist_name(version)}.staging")


def _paths(node: Node, version: str) -> tuple[str, str, str, str]:
    """Quoted: the version dir, the staging dir, the upload, the marker."""
    vd = str(node.version_dir(version))
    marker = str(PurePosixPath(vd) / MARKER)
    q = shlex.quote
    return q(vd), q(staging_dir(node, version)), q(upload_path(node, version)), q(marker)


def _checked_sha(sha512: str) -> str:
    if not _SHA512.fullmatch(sha512):
        raise ValueError(f"not a sha512 hex digest: {sha512!r}")
    return sha512


def stage_check_command(node: Node, version: str, sha512: str) -> str:
    """Prints ``present=yes|no`` (a directory under the version's name), ``staged=yes|no``
    (it is complete and its marker holds ``sha512``), ``upload=yes|no`` (a complete upload
    of the tarball sits at the temp path)."""
    vd, _, up, marker = _paths(node, version)
    jar = shlex.quote(f"{node.version_dir(version)}/libs/{dist_name(version)}.jar")
    sha, r = _checked_sha(sha512), node.access.root_sh()
    return (
        f"if {r}test -e {vd}; then echo present=yes; else echo present=no; fi; "
        f"if {r}test -x {vd}/bin/kafka-server-start.sh && {r}test -f {jar} && "
        f'[ "$({r}cat {marker} 2>/dev/null)" = {sha} ]; '
        "then echo staged=yes; else echo staged=no; fi; "
        f'if [ -f {up} ] && [ "$(sha512sum < {up} | cut -d" " -f1)" = {sha} ]; '
        "then echo upload=yes; else echo upload=no; fi"
    )


@dataclass(frozen=True)
class StageCheck:
    present: bool
    staged: bool
    upload_complete: bool


def parse_check(stdout: str) -> StageCheck:
    """Read ``stage_check_command``'s answer; a missing line counts as no."""
    flags = dict(line.strip().split("=", 1) for line in stdout.splitlines() if "=" in line)
    return StageCheck(
        present=flags.get("present") == "yes",
        staged=flags.get("staged") == "yes",
        upload_complete=flags.get("upload") == "yes",
    )


def prepare_upload_command(node: Node) -> str:
    """Make the login's own upload directory (mode 700); refuse one that is a link or that
    someone else owns (anyone may create names under /tmp)."""
    d = shlex.quote(upload_dir(node))
    return (
        f"mkdir -p -m 700 {d} && test ! -L {d} && test -O {d} && chmod 700 {d} || "
        f"{{ echo {d}' is not a directory of the login (a link, or owned by someone else): "
        "remove it and re-run' >&2; exit 1; }"
    )


def upload_sum_command(node: Node, version: str) -> str:
    """The sha512 of the upload, read as the login."""
    up = shlex.quote(upload_path(node, version))
    return f"sha512sum < {up} | cut -d' ' -f1"


def unpack_command(node: Node, version: str, tarball_path: str, sha512: str) -> str:
    """Unpack the uploaded tarball under a temporary name, mark it with the tarball's sha512,
    give it to the Kafka user (only with sudo: without, the login owns what it unpacks),
    then rename it to the version's name; remove the upload. Any failure: the staging
    directory is removed and the command exits 1."""
    vd, st, _, _ = _paths(node, version)
    tgz = shlex.quote(tarball_path)
    st_marker = shlex.quote(f"{staging_dir(node, version)}/{MARKER}")
    r, sha = node.access.root_sh(), _checked_sha(sha512)
    steps = [
        f"{r}rm -rf {st}",
        f"{r}mkdir -p {st}",
        f"{r}tar -xzf {tgz} -C {st} --strip-components=1",
        f"printf '%s\\n' {sha} | {r}tee {st_marker} >/dev/null",
    ]
    if node.access.sudo:
        steps.append(f"{r}chown -R {shlex.quote(node.access.kafka_owner + ':')} {st}")
    steps.append(f"{r}mv -T {st} {vd}")
    failed = shlex.quote(f"unpacking into {staging_dir(node, version)} failed; removed it")
    # Only this node's upload goes; the folder stays (another node on the same host may be
    # about to upload into it).
    return " && ".join(steps) + f" || {{ {r}rm -rf {st}; echo {failed} >&2; exit 1; }}; rm -f {tgz}"


def verify_command(node: Node, version: str) -> str:
    """Prints ``start=yes|no``, ``jar=yes|no``, ``owner=<user>``, ``sha512=<marker>``."""
    vd, _, _, marker = _paths(node, version)
    jar = shlex.quote(f"{node.version_dir(version)}/libs/{dist_name(version)}.jar")
    r = node.access.root_sh()
    return (
        f"if {r}test -x {vd}/bin/kafka-server-start.sh; then echo start=yes; "
        "else echo start=no; fi; "
        f"if {r}test -f {jar}; then echo jar=yes; else echo jar=no; fi; "
        # The login may not see into install_dir; the Kafka user, who runs from it, can.
        f"o=$(stat -c %U {vd} 2>/dev/null) || "
        f"o=$({node.access.kafka_sh()}ls -ld {vd} 2>/dev/null | awk '{{print $3}}'); "
        'echo "owner=$o"; '
        f'echo "sha512=$({r}cat {marker} 2>/dev/null)"'
    )


def parse_verify(node: Node, version: str, sha512: str, stdout: str) -> list[str]:
    """What is wrong with the staged version, one sentence each naming the node; [] if
    nothing is."""
    flags = dict(line.strip().split("=", 1) for line in stdout.splitlines() if "=" in line)
    where = f"node {node.id} ({node.host}): {node.version_dir(version)}"
    owner = node.access.kafka_owner
    problems = []
    if flags.get("start") != "yes":
        problems.append(f"{where} has no executable bin/kafka-server-start.sh")
    if flags.get("jar") != "yes":
        problems.append(f"{where} has no libs/{dist_name(version)}.jar: not Kafka {version}")
    if flags.get("owner") != owner:
        found = flags.get("owner")
        problems.append(
            f"{where} is owned by {found}, not by the Kafka user {owner}: chown -R it"
            if found
            else f"{where}: its owner cannot be read (stat as the login, ls as {owner})"
        )
    if flags.get("sha512") != sha512:
        problems.append(
            f"{where}/{MARKER} does not hold this tarball's sha512: it was staged from "
            "another tarball; move the directory aside and re-run"
        )
    return problems


def upload_problem(node: Node, version: str, sha512: str, stdout: str) -> str | None:
    """None when the upload's sha512 (``upload_sum_command``) is the tarball's."""
    found = stdout.strip()
    if found == sha512:
        return None
    return (
        f"node {node.id} ({node.host}): the upload {upload_path(node, version)} has sha512 "
        f"{found[:16] or 'none'}..., the tarball {sha512[:16]}...: it was corrupted on the "
        "way; re-run to send it again"
    )


class Action(enum.Enum):
    SKIP = "skip"
    UNPACK = "unpack"
    UPLOAD_AND_UNPACK = "upload and unpack"
    BLOCKED = "blocked"


@dataclass(frozen=True)
class StageStep:
    node: Node
    action: Action
    reason: str


def plan_stage(
    nodes: Sequence[Node], checks: Mapping[int, StageCheck], version: str
) -> list[StageStep]:
    """What to do on each node, from what its check saw (keyed by node id)."""
    return [_step(n, checks[n.id], version) for n in nodes]


def _step(node: Node, check: StageCheck, version: str) -> StageStep:
    vd = node.version_dir(version)
    if check.staged:
        return StageStep(node, Action.SKIP, f"{vd} is complete and made from this tarball")
    if check.present:
        return StageStep(
            node,
            Action.BLOCKED,
            f"node {node.id} ({node.host}): {vd} exists but was not staged from this "
            f"tarball (no {MARKER} with its sha512); it is left alone, as the node may run "
            "from it: move it aside, or remove it, and re-run",
        )
    if check.upload_complete:
        return StageStep(
            node, Action.UNPACK, f"a complete upload is already at {upload_path(node, version)}"
        )
    return StageStep(node, Action.UPLOAD_AND_UNPACK, f"{vd} is not there yet")
