"""``kafka-upgrade serve``: the whole Prefect service in one foreground command.

1. use the server ``PREFECT_API_URL`` names, or start ``prefect server start``
   with its state under ``--home`` (default ``~/.local/share/kafka-upgrade``,
   or ``$KAFKA_UPGRADE_HOME``; SQLite there, or PostgreSQL with ``--database``);
2. create the ``kafka-upgrade`` process work pool, register every deployment;
3. apply the alert automations when a webhook URL is configured;
4. start a process worker on the pool (its flow runs inherit this
   environment: SSH keys, ``KAFKA_UPGRADE_INVENTORIES``);
5. print ``ready: ui=<url> api=<url>``, then wait;
6. on Ctrl-C or SIGTERM stop the worker (and any flow run it started) and the
   server, leaving no process behind.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from prefect.settings import PREFECT_API_URL, temporary_settings

from deployments.register import CHECKOUT, POOL, register
from kafka_upgrade.app.local_server import (
    PrefectServer,
    ServerError,
    _healthy,
    prefect_command,
    prefect_server,
    start_detached,
)
from kafka_upgrade.app.process_id import alive, descendants

Say = Callable[[str], None]
WEBHOOK_ENV = "KAFKA_UPGRADE_NOTIFY_WEBHOOK"


def default_home() -> Path:
    configured = os.environ.get("KAFKA_UPGRADE_HOME")
    return Path(configured) if configured else Path.home() / ".local" / "share" / "kafka-upgrade"


@dataclass(frozen=True)
class ServeOptions:
    home: Path
    host: str = "127.0.0.1"
    port: int = 4200
    database_url: str | None = None
    webhook_url: str | None = None
    worker_name: str | None = None
    pool: str = POOL


def stop_tree(proc: subprocess.Popen, grace: float = 20.0) -> None:
    """SIGTERM a child and everything it started (other sessions included), then SIGKILL."""
    pids = [proc.pid, *descendants(proc.pid)]
    for pid in pids:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and any(alive(p) for p in pids):
        if proc.poll() is None:
            time.sleep(0.2)
        else:
            time.sleep(0.1)
    for pid in pids:
        if alive(pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        pass


@contextmanager
def worker(api_url: str, pool: str, name: str, log_path: Path) -> Iterator[subprocess.Popen]:
    """``prefect worker start`` on ``pool``; flow runs start in this checkout."""
    env = {**os.environ, "PREFECT_API_URL": api_url}
    log = log_path.open("ab")
    proc = start_detached(
        [
            *prefect_command(),
            "worker",
            "start",
            "--pool",
            pool,
            "--type",
            "process",
            "--name",
            name,
        ],
        env,
        log,
        cwd=str(CHECKOUT),
    )
    try:
        yield proc
    finally:
        stop_tree(proc)
        log.close()


def online_workers(api_url: str, pool: str) -> list[str]:
    """Names of the pool's ONLINE workers (a proper body: Prefect 3.8.8's CLI sends
    ``"limit": null`` here and gets a 422)."""
    auth_string = os.environ.get("PREFECT_API_AUTH_STRING")
    auth = tuple(auth_string.split(":", 1)) if auth_string and ":" in auth_string else None
    response = httpx.post(
        f"{api_url}/work_pools/{pool}/workers/filter",
        json={"limit": 200, "offset": 0},
        auth=auth,  # type: ignore[arg-type]
        timeout=10,
    )
    response.raise_for_status()
    return [w["name"] for w in response.json() if w.get("status") == "ONLINE"]


def _wait_online(api_url: str, pool: str, name: str, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log.read_text(errors="replace")[-1500:]
            raise ServerError(f"the worker exited with {proc.returncode}:\n{tail}")
        try:
            if name in online_workers(api_url, pool):
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise ServerError(f"worker {name} did not come online in pool {pool} within 90 s")


@contextmanager
def _server(opts: ServeOptions, say: Say) -> Iterator[PrefectServer]:
    api_url = os.environ.get("PREFECT_API_URL")
    if api_url:
        api_url = api_url.rstrip("/")
        if not _healthy(api_url):
            raise ServerError(f"PREFECT_API_URL={api_url} does not answer; start that server first")
        say(f"using the Prefect server at {api_url} (PREFECT_API_URL)")
        ui_url = api_url[: -len("/api")] if api_url.endswith("/api") else api_url
        yield PrefectServer(api_url=api_url, ui_url=ui_url)
        return
    where = "PostgreSQL" if opts.database_url else f"SQLite in {opts.home / 'prefect'}"
    say(f"starting a Prefect server on {opts.host}:{opts.port}, database: {where}")
    with prefect_server(
        opts.home / "prefect", port=opts.port, host=opts.host, database_url=opts.database_url
    ) as server:
        yield server


def setup(server: PrefectServer, opts: ServeOptions, say: Say) -> None:
    """Pool, deployments and automations on ``server`` (also ``kafka-upgrade deploy``)."""
    from deployments.automations import apply_automations

    with temporary_settings(updates={PREFECT_API_URL: server.api_url}):
        for name in register(pool=opts.pool):
            say(f"deployment {name} registered (work pool {opts.pool})")
        lines = apply_automations(opts.webhook_url, api_url=server.api_url, ui_url=server.ui_url)
    if opts.webhook_url:
        for line in lines:
            say(f"alert: {line}")
    else:
        say(
            "alerts: no webhook configured, so no automation was applied "
            f"(pass --notify-webhook URL or set {WEBHOOK_ENV})"
        )


def serve(opts: ServeOptions, say: Say = print) -> int:
    """Run the service in the foreground until SIGINT/SIGTERM; returns the exit code."""
    stop = threading.Event()
    previous = {
        sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        with ExitStack() as stack:
            server = stack.enter_context(_server(opts, say))
            setup(server, opts, say)
            name = opts.worker_name or f"kafka-upgrade-{os.uname().nodename}"
            log = opts.home / "worker.log"
            opts.home.mkdir(parents=True, exist_ok=True)
            proc = stack.enter_context(worker(server.api_url, opts.pool, name, log))
            _wait_online(server.api_url, opts.pool, name, proc, log)
            say(f"worker {name} online in pool {opts.pool} (log: {log})")
            say(f"ready: ui={server.ui_url} api={server.api_url}")
            while not stop.wait(0.5):
                if proc.poll() is not None:
                    say(f"the worker exited with {proc.returncode}; stopping (log: {log})")
                    return 1
            say("stopping: worker, then server")
        say("stopped")
        return 0
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
