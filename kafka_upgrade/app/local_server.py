"""A temporary Prefect server for one local run (`kafka-upgrade run`, `make demo`).

It keeps its database in a temporary PREFECT_HOME, serves the UI, and stops
with the run. Point ``PREFECT_API_URL`` at a real server to use that instead.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from kafka_upgrade.core.errors import ToolFailed


class ServerError(ToolFailed):
    """The temporary Prefect server did not start."""


@dataclass(frozen=True)
class PrefectServer:
    api_url: str
    ui_url: str

    def run_url(self, flow_run_id: object) -> str:
        return f"{self.ui_url}/runs/flow-run/{flow_run_id}"


def _die_with_parent() -> None:
    """Linux: the server gets SIGTERM if this process dies, even by a hard crash."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def start_detached(
    command: list[str], env: Mapping[str, str], log: IO[bytes], cwd: str | None = None
) -> subprocess.Popen:
    """``command`` in a session of its own, its output appended to ``log``; it gets
    SIGTERM if this process dies."""
    return subprocess.Popen(
        command,
        env=env,
        cwd=cwd,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
        preexec_fn=_die_with_parent,
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _healthy(api_url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{api_url}/health", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def prefect_command() -> list[str]:
    prefect = Path(sys.executable).with_name("prefect")
    return [str(prefect)] if prefect.exists() else [sys.executable, "-m", "prefect"]


def stop_group(proc: subprocess.Popen, grace: float = 20.0) -> None:
    """SIGTERM the process group (a child that started its own group), then SIGKILL."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=grace)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        try:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            pass
    except PermissionError:
        proc.kill()


@contextmanager
def prefect_server(
    home: Path,
    port: int | None = None,
    host: str = "127.0.0.1",
    database_url: str | None = None,
    timeout: float = 90.0,
) -> Iterator[PrefectServer]:
    """``prefect server start`` with its state in ``home``; stopped on exit.

    ``database_url`` (``postgresql+asyncpg://...``) puts the database in
    PostgreSQL; otherwise it is SQLite under ``home``.
    """
    home.mkdir(parents=True, exist_ok=True)
    port = port or _free_port()
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    api_url = f"http://{shown}:{port}/api"
    env = {
        **os.environ,
        "PREFECT_HOME": str(home),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_API_HOST": host,
        "PREFECT_SERVER_API_PORT": str(port),
        "PREFECT_UI_API_URL": api_url,
    }
    env.pop("PREFECT_API_URL", None)
    if database_url:
        env["PREFECT_API_DATABASE_CONNECTION_URL"] = database_url
    log = (home / "server.log").open("ab")
    proc = start_detached(
        [*prefect_command(), "server", "start", "--host", host, "--port", str(port)], env, log
    )
    try:
        deadline = time.monotonic() + timeout
        while not _healthy(api_url):
            if proc.poll() is not None:
                tail = (home / "server.log").read_text(errors="replace")[-1500:]
                raise ServerError(f"prefect server exited with {proc.returncode}:\n{tail}")
            if time.monotonic() > deadline:
                raise ServerError(f"prefect server did not answer on {api_url} in {timeout:.0f} s")
            time.sleep(0.3)
        yield PrefectServer(api_url=api_url, ui_url=f"http://{shown}:{port}")
    finally:
        stop_group(proc)
        log.close()


HOME_PREFIX = "kafka-upgrade-prefect-"
OWNER_FILE = "owner.json"  # the process that made the home: {"pid", "start_ticks", "boot_id"}
KEPT_FILE = "KEPT"  # keep_home=True: never removed automatically
ORPHAN_IDLE_S = 3600.0  # a home with no owner file is left alone this long after its last write


def stale_home_reason(
    owner_running: bool | None, in_use: bool, kept: bool, idle_s: float
) -> str | None:
    """Why a temporary Prefect home can go, or None to keep it.

    ``owner_running`` is None when the home names no owner (made by an older
    version, or the owner died between creating it and writing the file);
    ``in_use`` means some process runs with ``PREFECT_HOME`` set to it (its server).
    """
    if kept or in_use:
        return None
    if owner_running is None:
        if idle_s > ORPHAN_IDLE_S:
            return f"names no owner and nothing has written to it for {idle_s / 3600:.1f} h"
        return None
    if owner_running:
        return None
    return "the run that made it has ended and no server uses it"


def _homes_in_use() -> set[str]:
    """PREFECT_HOME of every process this user may read (a server keeps its home in use)."""
    homes: set[str] = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        for item in environ.split(b"\0"):
            if item.startswith(b"PREFECT_HOME="):
                homes.add(item[len(b"PREFECT_HOME=") :].decode(errors="replace").rstrip("/"))
    return homes


def _last_write(home: Path) -> float:
    """The newest mtime of the home and what is directly inside (server.log grows)."""
    times = [home.stat().st_mtime]
    for child in home.iterdir():
        try:
            times.append(child.lstat().st_mtime)
        except OSError:
            pass
    return max(times)


def remove_stale_homes(parent: Path | None = None) -> list[Path]:
    """Remove the temporary homes of killed runs: this user's, unused, owner gone."""
    import json

    from kafka_upgrade.app.process_id import ProcessId, is_running

    parent = parent or Path(tempfile.gettempdir())
    candidates = [
        h
        for h in parent.glob(f"{HOME_PREFIX}*")
        if h.is_dir() and not h.is_symlink() and h.lstat().st_uid == os.getuid()
    ]
    if not candidates:
        return []
    in_use = _homes_in_use()
    removed = []
    for home in candidates:
        try:
            owner_text = (home / OWNER_FILE).read_text()
        except FileNotFoundError:
            owner_text = None
        except OSError:
            continue
        try:
            owner = ProcessId.from_json(json.loads(owner_text)) if owner_text else None
            reason = stale_home_reason(
                owner_running=None if owner is None else is_running(owner),
                in_use=str(home) in in_use,
                kept=(home / KEPT_FILE).exists(),
                idle_s=time.time() - _last_write(home),
            )
        except (OSError, ValueError):
            continue
        if reason is not None:
            shutil.rmtree(home, ignore_errors=True)
            removed.append(home)
    return removed


@contextmanager
def temporary_server(timeout: float = 90.0, keep_home: bool = False) -> Iterator[PrefectServer]:
    """A Prefect server whose state lives in a new temporary home, removed afterwards.

    A killed run cannot remove its home, so every start first removes the homes
    left by runs that are gone (never one a live process uses).
    """
    import json

    from kafka_upgrade.app.process_id import ProcessId

    remove_stale_homes()
    home = Path(tempfile.mkdtemp(prefix=HOME_PREFIX))
    (home / OWNER_FILE).write_text(json.dumps(ProcessId.current().to_json()))
    try:
        with prefect_server(home, timeout=timeout) as server:
            yield server
    finally:
        if keep_home:
            (home / KEPT_FILE).touch()
        else:
            shutil.rmtree(home, ignore_errors=True)


@contextmanager
def server_for_run() -> Iterator[PrefectServer]:
    """The server PREFECT_API_URL names, if any; otherwise a temporary one."""
    api_url = os.environ.get("PREFECT_API_URL")
    if api_url:
        api_url = api_url.rstrip("/")
        ui_url = api_url[: -len("/api")] if api_url.endswith("/api") else api_url
        yield PrefectServer(api_url=api_url, ui_url=ui_url)
        return
    with temporary_server() as server:
        yield server
