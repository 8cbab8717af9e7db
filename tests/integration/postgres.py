"""A real, throwaway PostgreSQL server for one test session.

`throwaway_postgres(base_dir)` initdb's a fresh cluster in a new directory under
`base_dir`, starts it on 127.0.0.1 and a free port (plus a unix socket in that
directory, never /var/run/postgresql), creates the role and database `prefect`
with a random password, and yields a `PostgresServer` whose `.url` Prefect takes
as `PREFECT_API_DATABASE_CONNECTION_URL`. On exit the server is stopped
(`pg_ctl stop -m fast`, SIGKILL if that fails) and no process of its data
directory may remain.

PostgreSQL refuses to run as root: as root, every PostgreSQL program runs as the
`postgres` system user that Debian's `postgresql` package creates; otherwise as
the current user. A directory under a root-only tree (pytest's tmp_path is 0700)
gets the search bit for others on the way down, restored on exit.

The cluster trades durability for speed (fsync off): it is for tests only.
"""

from __future__ import annotations

import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest

PG_LIB = Path("/usr/lib/postgresql")
PROGRAMS = ("initdb", "pg_ctl", "postgres", "psql")
SYSTEM_USER = "postgres"  # created by Debian's postgresql package
SUPERUSER = "postgres"  # the cluster's bootstrap superuser, reachable only over the socket
DB_NAME = "prefect"
DB_USER = "prefect"
INSTALL_HINT = "apt-get install postgresql"
# sun_path is 108 bytes; the socket file is "<dir>/.s.PGSQL.<port>".
MAX_SOCKET_DIR = 107 - len("/.s.PGSQL.65535")
START_ATTEMPTS = 3
TIMEOUT = 60

# Appended to postgresql.conf. Durability is off: nothing here outlives the test session.
SETTINGS = {
    "listen_addresses": "127.0.0.1",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    # Parallel query wants /dev/shm, which is 64 MB in a default container.
    "max_parallel_workers_per_gather": "0",
    "log_min_messages": "warning",
}


@dataclass(frozen=True)
class PostgresServer:
    """A running throwaway server; `url` is what Prefect's database setting takes."""

    url: str  # postgresql+asyncpg://prefect:PASSWORD@127.0.0.1:PORT/prefect
    port: int
    data_dir: Path
    bin_dir: Path

    def psql(self, sql: str) -> str:
        """Run SQL as the `prefect` role over TCP; unaligned, tuples-only output."""
        parts = urlsplit(self.url)
        result = subprocess.run(
            [
                str(self.bin_dir / "psql"),
                "-X",
                "-q",
                "-A",
                "-t",
                "-v",
                "ON_ERROR_STOP=1",
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-U",
                parts.username or DB_USER,
                "-d",
                DB_NAME,
                "-c",
                sql,
            ],
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            env={**_clean_env(), "PGPASSWORD": parts.password or ""},
        )
        if result.returncode != 0:
            raise RuntimeError(f"psql failed ({result.returncode}): {result.stderr.strip()}")
        return result.stdout


@contextmanager
def throwaway_postgres(base_dir: Path) -> Iterator[PostgresServer]:
    """Start a fresh PostgreSQL under `base_dir`; stop it and check nothing is left on exit."""
    bin_dir = find_bin_dir()
    owner = _owner()
    base_dir.mkdir(parents=True, exist_ok=True)
    # A new directory every time: a leftover of a killed run cannot be in the way.
    root = Path(tempfile.mkdtemp(prefix="pg-", dir=base_dir)).resolve()
    data_dir, socket_dir, log = root / "data", root / "s", root / "server.log"
    if len(str(socket_dir)) > MAX_SOCKET_DIR:
        pytest.fail(
            f"{socket_dir} is too long for a unix socket path; use a shorter base_dir",
            pytrace=False,
        )
    opened: list[tuple[Path, int]] = []
    if owner is not None:
        os.chown(root, owner.pw_uid, owner.pw_gid)
        opened = _open_path_for(owner, root)
    try:
        _run(owner, [str(bin_dir / "initdb"), *_initdb_args(data_dir)], cwd=root)
        socket_dir.mkdir(mode=0o700)
        if owner is not None:
            os.chown(socket_dir, owner.pw_uid, owner.pw_gid)
        settings = {**SETTINGS, "unix_socket_directories": str(socket_dir)}
        with (data_dir / "postgresql.conf").open("a") as conf:
            conf.write("\n# throwaway_postgres\n")
            conf.writelines(f"{k} = '{_quote(v)}'\n" for k, v in settings.items())

        port = _start(owner, bin_dir, data_dir, log, root)
        try:
            password = secrets.token_hex(16)
            _run(
                owner,
                [
                    str(bin_dir / "psql"),
                    "-X",
                    "-q",
                    "-v",
                    "ON_ERROR_STOP=1",
                    "-h",
                    str(socket_dir),
                    "-p",
                    str(port),
                    "-U",
                    SUPERUSER,
                    "-d",
                    "postgres",
                    "-c",
                    f"CREATE ROLE {DB_USER} LOGIN PASSWORD '{password}'",
                    # Each -c runs on its own: CREATE DATABASE refuses a transaction block.
                    "-c",
                    f"CREATE DATABASE {DB_NAME} OWNER {DB_USER}",
                ],
                cwd=root,
            )
            server = PostgresServer(
                url=f"postgresql+asyncpg://{DB_USER}:{password}@127.0.0.1:{port}/{DB_NAME}",
                port=port,
                data_dir=data_dir,
                bin_dir=bin_dir,
            )
            server.psql("SELECT 1")  # the password works over TCP
            yield server
        finally:
            _stop(owner, bin_dir, data_dir, root)
    finally:
        for path, mode in reversed(opened):
            try:
                if stat.S_IMODE(path.stat().st_mode) == mode | stat.S_IXOTH:
                    path.chmod(mode)
            except OSError:
                pass


def find_bin_dir() -> Path:
    """The newest /usr/lib/postgresql/*/bin, else the directory of `initdb` on PATH."""
    candidates = sorted(
        (p for p in PG_LIB.glob("*/bin") if p.parent.name.isdigit()),
        key=lambda p: int(p.parent.name),
        reverse=True,
    )
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(Path(on_path).resolve().parent)
    for bin_dir in candidates:
        if all(os.access(bin_dir / name, os.X_OK) for name in PROGRAMS):
            return bin_dir
    pytest.fail(
        "integration tests need PostgreSQL (initdb, pg_ctl, postgres, psql): "
        f"{INSTALL_HINT} (found none in {PG_LIB}/*/bin or on PATH)",
        pytrace=False,
    )


def _owner() -> pwd.struct_passwd | None:
    """The user PostgreSQL runs as when we are root; None means the current user."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(SYSTEM_USER)
    except KeyError:
        pytest.fail(
            f"running as root, PostgreSQL needs the '{SYSTEM_USER}' system user: {INSTALL_HINT}",
            pytrace=False,
        )


def _open_path_for(owner: pwd.struct_passwd, path: Path) -> list[tuple[Path, int]]:
    """Give others the search bit on each ancestor `owner` cannot enter; return old modes."""
    groups = set(os.getgrouplist(owner.pw_name, owner.pw_gid))
    changed = []
    for directory in reversed(path.parents):
        st = directory.stat()
        if st.st_uid == owner.pw_uid:
            ok = st.st_mode & stat.S_IXUSR
        elif st.st_gid in groups:
            ok = st.st_mode & stat.S_IXGRP
        else:
            ok = st.st_mode & stat.S_IXOTH
        if not ok:
            mode = stat.S_IMODE(st.st_mode)
            directory.chmod(mode | stat.S_IXOTH)
            changed.append((directory, mode))
    return changed


def _initdb_args(data_dir: Path) -> list[str]:
    return [
        "-D",
        str(data_dir),
        "-U",
        SUPERUSER,
        # The socket directory is 0700 and owned by the server's user: only it and root
        # get in. TCP always needs a password.
        "--auth-local=trust",
        "--auth-host=scram-sha-256",
        "--encoding=UTF8",
        "--locale=C",
        "--no-sync",
    ]


def _start(
    owner: pwd.struct_passwd | None, bin_dir: Path, data_dir: Path, log: Path, cwd: Path
) -> int:
    """Start on a free port (retried: another process may take it first); return the port."""
    for _attempt in range(START_ATTEMPTS):
        port = _free_port()
        result = _run(
            owner,
            [
                str(bin_dir / "pg_ctl"),
                "start",
                "-D",
                str(data_dir),
                "-l",
                str(log),
                "-w",
                "-t",
                str(TIMEOUT),
                "-o",
                f"-p {port}",
            ],
            cwd=cwd,
            check=False,
        )
        if result.returncode == 0:
            return port
        tail = log.read_text(errors="replace")[-3000:] if log.exists() else ""
        if _processes_of(data_dir):
            _kill(data_dir)
        if "could not bind" not in tail and "in use" not in tail:
            break
    raise RuntimeError(
        f"PostgreSQL did not start in {data_dir}\n"
        f"pg_ctl: {result.stdout}{result.stderr}\nlog {log}:\n{tail}"
    )


def _stop(owner: pwd.struct_passwd | None, bin_dir: Path, data_dir: Path, cwd: Path) -> None:
    if data_dir.exists():
        _run(
            owner,
            [str(bin_dir / "pg_ctl"), "stop", "-D", str(data_dir), "-m", "fast", "-w", "-t", "30"],
            cwd=cwd,
            check=False,
        )
    if _processes_of(data_dir):
        _kill(data_dir)
    left = _processes_of(data_dir)
    if left:
        raise RuntimeError(f"PostgreSQL processes of {data_dir} survived SIGKILL: {left}")


def _kill(data_dir: Path) -> None:
    for pid in _processes_of(data_dir):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + 10
    while _processes_of(data_dir) and time.monotonic() < deadline:
        time.sleep(0.1)


def _processes_of(data_dir: Path) -> list[int]:
    """Live processes of the cluster: each one runs in the data dir (the postmaster
    chdir's there and its children inherit it), or names it on its command line."""
    target = str(data_dir.resolve())
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if (entry / "stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
                continue
            cwd = os.readlink(entry / "cwd")
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except (OSError, IndexError):
            continue
        if cwd == target or os.fsencode(target) in argv:
            found.append(int(entry.name))
    return found


def _run(
    owner: pwd.struct_passwd | None,
    cmd: Sequence[str],
    *,
    cwd: Path,
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    """Run a PostgreSQL program as `owner` (root drops to it), else as ourselves."""
    env = _clean_env()
    drop: dict = {}
    if owner is not None:
        env.update(HOME=str(cwd), USER=owner.pw_name, LOGNAME=owner.pw_name)
        drop = {"user": owner.pw_uid, "group": owner.pw_gid, "extra_groups": []}
    result = subprocess.run(
        list(cmd),
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT + 30,
        umask=0o077,
        **drop,
    )
    if check and result.returncode != 0:
        raise RuntimeError(
            f"{' '.join(cmd)} exited {result.returncode}\n"
            f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
        )
    return result


def _clean_env() -> dict[str, str]:
    """Our environment without PG* variables, which would redirect the programs."""
    return {k: v for k, v in os.environ.items() if not re.match(r"PG[A-Z]", k)} | {"LC_ALL": "C"}


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _quote(value: str) -> str:
    return value.replace("'", "''")
