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
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path


class ServerError(Exception):
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
    proc = subprocess.Popen(
        [*prefect_command(), "server", "start", "--host", host, "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
        preexec_fn=_die_with_parent,
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


@contextmanager
def temporary_server(timeout: float = 90.0, keep_home: bool = False) -> Iterator[PrefectServer]:
    home = Path(tempfile.mkdtemp(prefix="kafka-upgrade-prefect-"))
    try:
        with prefect_server(home, timeout=timeout) as server:
            yield server
    finally:
        if not keep_home:
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
