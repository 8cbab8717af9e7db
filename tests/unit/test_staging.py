"""Staging a version: the commands run through ``sh -c`` against a temp directory that
plays a node (no sudo), the sudo prefixes, the plan, and the tarball's checks."""

from __future__ import annotations

import hashlib
import io
import os
import pwd
import shlex
import subprocess
import tarfile
from pathlib import Path
from typing import Any

import pytest

from kafka_upgrade.adapters.stage_source import TarballRefused, check_tarball
from kafka_upgrade.core import staging
from kafka_upgrade.core.inventory import Inventory, Node
from kafka_upgrade.core.staging import (
    Action,
    StageCheck,
    parse_check,
    parse_verify,
    plan_stage,
    prepare_upload_command,
    stage_check_command,
    unpack_command,
    upload_path,
    upload_problem,
    upload_sum_command,
    verify_command,
)

V = "9.9.9"
ME = pwd.getpwuid(os.getuid()).pw_name


def inventory(install_dir: str, user: str = ME, top: dict[str, Any] | None = None) -> Inventory:
    data: dict[str, Any] = {
        "cluster": "c",
        "mode": "kraft",
        "bootstrap_servers": "k1:9092",
        "current_version": "4.0.0",
        "ssh": {"user": user},
        "nodes": [
            {
                "id": i,
                "host": f"k{i}",
                "roles": ["broker", "controller"],
                "install_dir": install_dir,
                "config_path": "/etc/kafka/server.properties",
            }
            for i in (1, 2, 3)
        ],
    }
    if top is not None:
        data["privilege"] = top
    return Inventory(**data)


def build_tarball(path: Path, tops: tuple[str, ...] = (f"kafka_2.13-{V}",), extra=()) -> str:
    """A tiny Kafka-shaped .tgz; returns its sha512."""
    with tarfile.open(path, "w:gz") as tar:
        for top in tops:
            _add(tar, f"{top}/bin/kafka-server-start.sh", b"#!/bin/sh\necho start\n", 0o755)
            _add(tar, f"{top}/libs/kafka_2.13-{V}.jar", b"jar", 0o644)
        for name in extra:
            _add(tar, name, b"x", 0o644)
    return hashlib.sha512(path.read_bytes()).hexdigest()


def _add(tar: tarfile.TarFile, name: str, data: bytes, mode: int) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode = len(data), mode
    tar.addfile(info, io.BytesIO(data))


def sh(command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["sh", "-c", command], capture_output=True, text=True, timeout=30)


@pytest.fixture
def node(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Node:
    """A node whose install dir and upload dir sit in tmp_path, names with a space and ;."""
    uploads = tmp_path / "up; load"
    monkeypatch.setattr(staging, "upload_dir", lambda node: str(uploads))
    install = tmp_path / "opt dir; x"
    install.mkdir()
    return inventory(str(install)).nodes[0]


def upload(node: Node, tmp_path: Path, tarball: Path) -> None:
    assert sh(prepare_upload_command(node)).returncode == 0
    Path(staging.upload_path(node, V)).write_bytes(tarball.read_bytes())


def test_check_upload_unpack_verify_then_skip(node: Node, tmp_path: Path) -> None:
    tgz = tmp_path / "k.tgz"
    sha = build_tarball(tgz)
    first = parse_check(sh(stage_check_command(node, V, sha)).stdout)
    assert first == StageCheck(present=False, staged=False, upload_complete=False)
    assert plan_stage([node], {1: first}, V)[0].action is Action.UPLOAD_AND_UNPACK

    upload(node, tmp_path, tgz)
    assert oct(Path(staging.upload_dir(node)).stat().st_mode & 0o777) == "0o700"
    summed = sh(upload_sum_command(node, V)).stdout
    assert upload_problem(node, V, sha, summed) is None
    resumed = parse_check(sh(stage_check_command(node, V, sha)).stdout)
    assert plan_stage([node], {1: resumed}, V)[0].action is Action.UNPACK

    done = sh(unpack_command(node, V, staging.upload_path(node, V), sha))
    assert done.returncode == 0, done.stderr
    vd = node.version_dir(V)
    assert (vd / "bin" / "kafka-server-start.sh").is_file()
    assert not Path(staging.staging_dir(node, V)).exists()
    assert not Path(staging.upload_path(node, V)).exists()
    assert parse_verify(node, V, sha, sh(verify_command(node, V)).stdout) == []

    again = parse_check(sh(stage_check_command(node, V, sha)).stdout)
    assert plan_stage([node], {1: again}, V)[0].action is Action.SKIP


def test_a_corrupt_tarball_leaves_neither_the_version_nor_the_staging_dir(
    node: Node, tmp_path: Path
) -> None:
    tgz = tmp_path / "k.tgz"
    sha = build_tarball(tgz)
    bad = tmp_path / "bad.tgz"
    bad.write_bytes(tgz.read_bytes()[: len(tgz.read_bytes()) // 2])
    result = sh(unpack_command(node, V, str(bad), sha))
    assert result.returncode == 1
    assert "removed it" in result.stderr
    assert not node.version_dir(V).exists()
    assert not Path(staging.staging_dir(node, V)).exists()
    assert parse_check(sh(stage_check_command(node, V, sha)).stdout).staged is False


def test_a_partial_upload_is_not_complete(node: Node, tmp_path: Path) -> None:
    tgz = tmp_path / "k.tgz"
    sha = build_tarball(tgz)
    upload(node, tmp_path, tgz)
    Path(staging.upload_path(node, V)).write_bytes(tgz.read_bytes()[:10])
    assert parse_check(sh(stage_check_command(node, V, sha)).stdout).upload_complete is False
    problem = upload_problem(node, V, sha, sh(upload_sum_command(node, V)).stdout)
    assert problem is not None and problem.startswith("node 1 (k1): the upload")


def test_a_directory_not_made_from_this_tarball_is_left_alone(node: Node, tmp_path: Path) -> None:
    tgz = tmp_path / "k.tgz"
    sha = build_tarball(tgz)
    (node.version_dir(V) / "bin").mkdir(parents=True)
    check = parse_check(sh(stage_check_command(node, V, sha)).stdout)
    step = plan_stage([node], {1: check}, V)[0]
    assert step.action is Action.BLOCKED
    assert "node 1 (k1)" in step.reason and "move it aside" in step.reason
    # The rename refuses a non-empty target, even if someone unpacked anyway.
    (node.version_dir(V) / "bin" / "mine").write_text("x")
    upload(node, tmp_path, tgz)
    assert sh(unpack_command(node, V, staging.upload_path(node, V), sha)).returncode == 1
    assert (node.version_dir(V) / "bin" / "mine").exists()
    assert not Path(staging.staging_dir(node, V)).exists()


def test_verify_names_the_node_and_each_problem(node: Node) -> None:
    out = "start=no\njar=no\nowner=nobody\nsha512=abc\n"
    problems = parse_verify(node, V, "f" * 128, out)
    assert len(problems) == 4
    assert all(p.startswith("node 1 (k1): ") for p in problems)
    assert "owned by nobody, not by the Kafka user" in problems[2]


def test_an_upload_dir_owned_by_someone_else_or_a_link_is_refused(
    node: Node, tmp_path: Path
) -> None:
    (tmp_path / "elsewhere").mkdir()
    Path(staging.upload_dir(node)).symlink_to(tmp_path / "elsewhere")
    result = sh(prepare_upload_command(node))
    assert result.returncode == 1 and "remove it and re-run" in result.stderr


def test_every_path_is_quoted() -> None:
    n = inventory("/opt/ka fka;rm -rf ~", user="o ps").nodes[0]
    sha = "a" * 128
    for cmd in (
        stage_check_command(n, V, sha),
        unpack_command(n, V, staging.upload_path(n, V), sha),
        verify_command(n, V),
        prepare_upload_command(n),
        upload_sum_command(n, V),
    ):
        lexer = shlex.shlex(cmd, posix=True, punctuation_chars=True)
        tokens = list(lexer)
        assert not any(t.startswith("~") for t in tokens), cmd  # the ; never split a path
        assert any(
            t.startswith(("/opt/ka fka;rm -rf ~/", "/tmp/kafka-upgrade-stage-o ps")) for t in tokens
        )
    with pytest.raises(ValueError):
        stage_check_command(n, V, "abc; reboot")


def test_with_sudo_the_file_work_runs_as_root_and_is_given_to_kafka() -> None:
    n = inventory("/opt/kafka", user="ops", top={"sudo": True, "kafka_user": "kafka"}).nodes[0]
    sha = "b" * 128
    unpack = unpack_command(n, V, staging.upload_path(n, V), sha)
    for part in (
        "sudo -n -- rm -rf /opt/kafka/.kafka_2.13-9.9.9.staging",
        "sudo -n -- mkdir -p /opt/kafka/.kafka_2.13-9.9.9.staging",
        "sudo -n -- tar -xzf /tmp/kafka-upgrade-stage-ops/node-1-kafka_2.13-9.9.9.tgz -C ",
        "| sudo -n -- tee /opt/kafka/.kafka_2.13-9.9.9.staging/.kafka-upgrade-sha512",
        "sudo -n -- chown -R kafka: /opt/kafka/.kafka_2.13-9.9.9.staging",
        "sudo -n -- mv -T /opt/kafka/.kafka_2.13-9.9.9.staging /opt/kafka/kafka_2.13-9.9.9",
    ):
        assert part in unpack
    assert unpack.endswith("; rm -f /tmp/kafka-upgrade-stage-ops/node-1-kafka_2.13-9.9.9.tgz")
    check = stage_check_command(n, V, sha)
    assert "sudo -n -- test -x /opt/kafka/kafka_2.13-9.9.9/bin/kafka-server-start.sh" in check
    assert "sha512sum < /tmp/kafka-upgrade-stage-ops/" in check  # the upload: as the login
    assert "sudo -n -- cat /opt/kafka/kafka_2.13-9.9.9/.kafka-upgrade-sha512" in verify_command(
        n, V
    )
    assert "|| o=$(sudo -n -u kafka -- ls -ld /opt/kafka/kafka_2.13-9.9.9 " in verify_command(n, V)
    assert "sudo" not in prepare_upload_command(n) + upload_sum_command(n, V)
    plain = inventory("/opt/kafka", user="ops").nodes[0]
    assert "chown" not in unpack_command(plain, V, "/t.tgz", sha)
    assert "sudo" not in unpack_command(plain, V, "/t.tgz", sha)


@pytest.mark.parametrize(
    ("check", "action", "words"),
    [
        (StageCheck(True, True, False), Action.SKIP, "made from this tarball"),
        (StageCheck(True, True, True), Action.SKIP, "made from this tarball"),
        (StageCheck(True, False, True), Action.BLOCKED, "was not staged from this tarball"),
        (StageCheck(False, False, True), Action.UNPACK, "complete upload is already"),
        (StageCheck(False, False, False), Action.UPLOAD_AND_UNPACK, "is not there yet"),
    ],
)
def test_plan_stage(check: StageCheck, action: Action, words: str) -> None:
    nodes = inventory("/opt/kafka").nodes
    fresh = StageCheck(False, False, False)
    steps = plan_stage(nodes, {1: fresh, 2: check, 3: fresh}, V)
    assert [s.node.id for s in steps] == [1, 2, 3]
    assert steps[1].action is action and words in steps[1].reason
    assert steps[0].action is Action.UPLOAD_AND_UNPACK


def test_parse_check_counts_missing_lines_as_no() -> None:
    assert parse_check("present=yes\n") == StageCheck(True, False, False)


# --------------------------------------------------------------------------- the tarball


def test_a_good_tarball_is_accepted(tmp_path: Path) -> None:
    tgz = tmp_path / "kafka_2.13-9.9.9.tgz"
    sha = build_tarball(tgz)
    checked = check_tarball(tgz, V)
    assert checked.sha512 == sha and checked.size == tgz.stat().st_size


@pytest.mark.parametrize(
    ("tops", "extra", "words"),
    [
        (("kafka_2.13-9.9.9", "other"), (), "one top directory"),
        (("kafka_2.13-9.9.9",), ("kafka_2.13-9.9.9/../evil",), "unsafe path"),
        (("kafka_2.13-9.9.8",), (), "kafka_2.13-9.9.9"),
    ],
)
def test_a_wrong_tarball_is_refused(tmp_path: Path, tops, extra, words: str) -> None:  # noqa: ANN001
    tgz = tmp_path / "k.tgz"
    build_tarball(tgz, tops, extra)
    with pytest.raises(TarballRefused) as caught:
        check_tarball(tgz, V)
    assert words in str(caught.value) and str(tgz) in str(caught.value)


def test_a_missing_or_unreadable_tarball_is_refused(tmp_path: Path) -> None:
    with pytest.raises(TarballRefused, match="cannot read"):
        check_tarball(tmp_path / "none.tgz", V)
    (tmp_path / "text.tgz").write_text("hello")
    with pytest.raises(TarballRefused, match="not a gzip"):
        check_tarball(tmp_path / "text.tgz", V)


def test_the_cached_tarball_is_built_once_and_checked_each_time(tmp_path: Path) -> None:
    from kafka_upgrade.adapters.stage_source import cached_tarball
    from kafka_upgrade.sandbox import dist

    install = tmp_path / f"kafka_2.13-{V}"
    (install / "bin").mkdir(parents=True)
    (install / "libs").mkdir()
    (install / "bin" / "kafka-server-start.sh").write_text("#!/bin/sh\n")
    (install / "libs" / f"kafka_2.13-{V}.jar").write_text("jar")
    (install / "libs" / "link.jar").symlink_to(install / "libs" / f"kafka_2.13-{V}.jar")
    (install / dist.MARKER).write_text(f"version={V}\nsource=test\n")

    built = cached_tarball(V, cache=tmp_path, log=lambda line: None)
    assert built.path == tmp_path / f"kafka_2.13-{V}.tgz"
    assert check_tarball(built.path, V).sha512 == built.sha512
    with tarfile.open(built.path) as tar:
        assert tar.getmember(f"kafka_2.13-{V}/libs/link.jar").isfile()  # dereferenced
    assert cached_tarball(V, cache=tmp_path, log=lambda line: None) == built
    assert not list(tmp_path.glob("*.part-*"))

    built.path.write_bytes(built.path.read_bytes() + b"x")
    with pytest.raises(dist.DistError, match=str(built.path)):
        cached_tarball(V, cache=tmp_path, log=lambda line: None)


def test_nodes_sharing_a_host_never_share_an_upload() -> None:
    """One node's unpack removes its upload; a node beside it on the same host (its /tmp)
    must still find its own."""
    nodes = inventory("/opt/kafka").nodes
    paths = {upload_path(n, "9.9.9") for n in nodes}
    assert len(paths) == len(nodes)
    for n in nodes:
        assert unpack_command(n, "9.9.9", upload_path(n, "9.9.9"), "a" * 128).endswith(
            f"; rm -f {upload_path(n, '9.9.9')}"
        )
