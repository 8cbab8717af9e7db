"""Helpers for tests of the Prefect service: `kafka-upgrade serve` as a subprocess,
a local webhook receiver, and plain-HTTP calls to Prefect's REST API."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

from kafka_upgrade.app.local_server import _free_port
from kafka_upgrade.app.process_id import alive, descendants

READY = re.compile(r"^ready: ui=(\S+) api=(\S+)$")


@dataclass
class Service:
    proc: subprocess.Popen
    ui_url: str
    api_url: str
    ready_s: float
    output: list[str]

    def api(self, method: str, path: str, body: Any = None) -> httpx.Response:
        """Plain HTTP, as a ticketing system would call it."""
        for wait in (0.5, 1.0, 2.0, 4.0, None):  # a busy server answers 503 for a moment
            response = httpx.request(method, f"{self.api_url}{path}", json=body, timeout=30)
            if response.status_code not in (502, 503, 504) or wait is None:
                break
            time.sleep(wait)
        if response.status_code >= 400:
            raise AssertionError(f"{method} {path} -> {response.status_code}: {response.text}")
        return response

    def run(self, flow_run_id: str) -> dict:
        return self.api("GET", f"/flow_runs/{flow_run_id}").json()

    def state(self, flow_run_id: str) -> tuple[str, str]:
        state = self.run(flow_run_id).get("state") or {}
        return str(state.get("type")), str(state.get("message") or "")

    def wait_state(
        self, flow_run_id: str, wanted: set[str], timeout: float, what: str = ""
    ) -> tuple[str, str]:
        deadline = time.monotonic() + timeout
        seen = ("?", "")
        while time.monotonic() < deadline:
            seen = self.state(flow_run_id)
            if seen[0] in wanted:
                return seen
            if seen[0] in {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}:
                raise AssertionError(
                    f"run {flow_run_id} {what} ended {seen[0]}: {seen[1]}\n"
                    + "\n".join(self.logs(flow_run_id)[-40:])
                )
            time.sleep(0.5)
        raise AssertionError(
            f"run {flow_run_id} {what} not in {wanted} after {timeout:.0f} s (last {seen})\n"
            + "\n".join(self.logs(flow_run_id)[-40:])
        )

    def wait_end(self, flow_run_id: str, timeout: float = 300) -> tuple[str, str]:
        """(state type, message) once the run is final."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state, message = self.state(flow_run_id)
            if state in {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}:
                return state, message
            time.sleep(0.5)
        raise AssertionError(f"run {flow_run_id} did not end within {timeout:.0f} s")

    def logs(self, flow_run_id: str) -> list[str]:
        """Every log line of the run so far, oldest first (read page by page)."""
        lines: list[str] = []
        while True:
            rows = self.api(
                "POST",
                "/logs/filter",
                {
                    "logs": {"flow_run_id": {"any_": [flow_run_id]}},
                    "sort": "TIMESTAMP_ASC",
                    "limit": 200,
                    "offset": len(lines),
                },
            ).json()
            lines += [f"{r['timestamp']} {r['message']}" for r in rows]
            if len(rows) < 200:
                return lines

    def wait_logged(self, flow_run_id: str, text: str, timeout: float = 30) -> list[str]:
        """The run's log once a line holds ``text``. A run's last lines reach the server
        after its final state (the flow's process ships them as it exits)."""
        deadline = time.monotonic() + timeout
        while True:
            lines = self.logs(flow_run_id)
            if any(text in line for line in lines):
                return lines
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"no log line of run {flow_run_id} holds {text!r} after {timeout:.0f} s; "
                    "its last lines:\n" + "\n".join(lines[-40:])
                )
            time.sleep(0.5)

    def task_runs(self, flow_run_id: str) -> list[dict]:
        return self.api(
            "POST",
            "/task_runs/filter",
            {"task_runs": {"flow_run_id": {"any_": [flow_run_id]}}, "limit": 200},
        ).json()

    def deployment_id(self, name: str = "rolling-upgrade/rolling-upgrade") -> str:
        return str(self.api("GET", f"/deployments/name/{name}").json()["id"])

    def create_run(self, body: dict) -> httpx.Response:
        return self.api("POST", f"/deployments/{self.deployment_id()}/create_flow_run", body)


@contextmanager
def serve(
    home: Path, env: dict[str, str], args: list[str], timeout: float = 240
) -> Iterator[Service]:
    """Start `kafka-upgrade serve`; on exit SIGTERM it and check nothing it started is left."""
    port = _free_port()
    output: list[str] = []
    started = time.monotonic()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "kafka_upgrade.app.cli",
            "serve",
            "--home",
            str(home),
            "--port",
            str(port),
            *args,
        ],
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    ready: list[tuple[str, str]] = []

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            output.append(line.rstrip())
            m = READY.match(line.strip())
            if m:
                ready.append((m.group(1), m.group(2)))

    threading.Thread(target=read, daemon=True).start()
    deadline = time.monotonic() + timeout
    while not ready:
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise AssertionError("kafka-upgrade serve did not get ready:\n" + "\n".join(output))
        time.sleep(0.2)
    service = Service(proc, ready[0][0], ready[0][1], time.monotonic() - started, output)
    children = descendants(proc.pid)
    try:
        yield service
    finally:
        children = sorted(set(children) | set(descendants(proc.pid)))
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            raise AssertionError("serve did not stop within 60 s of SIGTERM") from None
        time.sleep(1)
        left = [p for p in children if alive(p)]
        assert code == 0, f"serve exited {code}:\n" + "\n".join(output[-30:])
        assert not left, f"serve left processes behind: {left}"


@dataclass
class WebhookReceiver:
    url: str
    bodies: list[dict] = field(default_factory=list)
    arrived: list[float] = field(default_factory=list)

    def wait_for(self, match: Callable[[dict], bool], timeout: float, what: str) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for body in list(self.bodies):
                if match(body):
                    return body
            time.sleep(0.3)
        raise AssertionError(f"no webhook for {what} within {timeout:.0f} s; got {self.bodies}")


@contextmanager
def webhook_receiver() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            try:
                receiver.bodies.append(json.loads(raw))
            except ValueError:
                receiver.bodies.append({"unparsable": raw.decode(errors="replace")})
            receiver.arrived.append(time.time())
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
