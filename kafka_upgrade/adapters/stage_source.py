"""The tarball a stage uploads: the operator's (``--tarball``), checked, or one built once
from the local distribution cache and kept beside it with its sha512.

- ``check_tarball(path, version)``: a readable gzip tar whose members are all under one
  top directory ``kafka_2.13-V/`` (no absolute paths, no ``..``, no link out of it), with
  ``bin/kafka-server-start.sh``; refusals are ``TarballRefused`` (bad input).
- ``cached_tarball(version)``: ``<cache>/kafka_2.13-V.tgz`` and ``<...>.tgz.sha512``, built
  from ``dist.fetch(version)`` the first time (written to a ``.part``, then renamed) and
  checked against the recorded sha512 each time after (a mismatch is a ``DistError``).
"""

from __future__ import annotations

import hashlib
import os
import tarfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from kafka_upgrade.core.errors import BadInput
from kafka_upgrade.core.staging import dist_name
from kafka_upgrade.sandbox import dist


class TarballRefused(BadInput):
    """The tarball given with --tarball is not a Kafka tarball of the version asked for."""


@dataclass(frozen=True)
class Tarball:
    path: Path
    sha512: str
    size: int


def sha512_of(path: Path) -> str:
    digest = hashlib.sha512()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def check_tarball(path: Path, version: str) -> Tarball:
    """``path`` as a Tarball, or TarballRefused saying what is wrong with it."""
    try:
        with tarfile.open(path, "r:gz") as tar:
            members = tar.getmembers()
        sha = sha512_of(path)
    except tarfile.ReadError as exc:
        raise TarballRefused(f"{path} is not a gzip-compressed tar (.tgz): {exc}") from exc
    except (OSError, tarfile.TarError, EOFError) as exc:
        raise TarballRefused(f"cannot read the tarball {path}: {exc}") from exc
    check_members(path, members, version)
    return Tarball(path, sha, path.stat().st_size)


def check_members(path: Path, members: list[tarfile.TarInfo], version: str) -> None:
    top = dist_name(version)
    for m in members:
        try:
            dist.check_member(m)
        except dist.DistError as exc:
            raise TarballRefused(f"{path}: {exc}") from None
    tops = sorted({m.name.split("/")[0] for m in members})  # what tar --strip-components sees
    if tops != [top]:
        raise TarballRefused(
            f"{path} must hold one top directory {top}/ (the Kafka {version} release); it "
            f"holds {', '.join(tops) or 'nothing'}"
        )
    names = {PurePosixPath(m.name).as_posix() for m in members}
    if f"{top}/bin/kafka-server-start.sh" not in names:
        raise TarballRefused(f"{path} has no {top}/bin/kafka-server-start.sh: not a Kafka install")


def cached_tarball(
    version: str, cache: Path | None = None, log: Callable[[str], None] = print
) -> Tarball:
    """The tarball of the cached distribution of ``version``, built once."""
    install = dist.fetch(version, cache=cache, log=log)
    tgz = install.with_name(install.name + ".tgz")
    recorded = tgz.with_name(tgz.name + ".sha512")
    if tgz.is_file() and recorded.is_file():
        expected = recorded.read_text().split()[0] if recorded.read_text().strip() else ""
        found = sha512_of(tgz)
        if found != expected:
            raise dist.DistError(
                f"{tgz} does not match the sha512 recorded in {recorded} when it was built: "
                "it changed since; delete both files and re-run to build it again"
            )
        return Tarball(tgz, found, tgz.stat().st_size)
    log(f"packing {install} into {tgz}")
    return _build(install, tgz, recorded)


def _build(install: Path, tgz: Path, recorded: Path) -> Tarball:
    part = tgz.with_name(f"{tgz.name}.part-{os.getpid()}")
    try:
        with tarfile.open(part, "w:gz", dereference=True) as tar:
            tar.add(install, arcname=install.name)
        sha = sha512_of(part)
        part.replace(tgz)
        sha_part = recorded.with_name(f"{recorded.name}.part-{os.getpid()}")
        sha_part.write_text(f"{sha}  {tgz.name}\n")
        sha_part.replace(recorded)
    except OSError as exc:
        part.unlink(missing_ok=True)
        raise dist.DistError(f"cannot write the tarball {tgz}: {exc}") from exc
    return Tarball(tgz, sha, tgz.stat().st_size)
