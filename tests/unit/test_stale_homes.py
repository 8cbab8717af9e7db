"""Temporary Prefect homes of killed runs are removed; a live one never is."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kafka_upgrade.app.local_server import (
    HOME_PREFIX,
    KEPT_FILE,
    ORPHAN_IDLE_S,
    OWNER_FILE,
    remove_stale_homes,
    stale_home_reason,
)
from kafka_upgrade.app.process_id import ProcessId, observe

OLD = ORPHAN_IDLE_S + 60


@pytest.mark.parametrize(
    ("owner_running", "in_use", "kept", "idle_s", "stale"),
    [
        (False, False, False, 0, True),  # its run was killed
        (True, False, False, OLD, False),  # its run still goes on
        (False, True, False, OLD, False),  # a server still runs on it
        (False, False, True, OLD, False),  # kept on purpose
        (None, False, False, OLD, True),  # no owner recorded, long untouched
        (None, False, False, 5, False),  # no owner yet: it may be being made right now
        (None, True, False, OLD, False),
    ],
)
def test_stale_home_reason(
    owner_running: bool | None, in_use: bool, kept: bool, idle_s: float, stale: bool
) -> None:
    reason = stale_home_reason(owner_running, in_use, kept, idle_s)
    assert (reason is not None) is stale


def _home(parent: Path, name: str, owner: ProcessId | None, age_s: float = 0) -> Path:
    home = parent / f"{HOME_PREFIX}{name}"
    home.mkdir()
    (home / "server.log").write_text("...")
    if owner is not None:
        (home / OWNER_FILE).write_text(json.dumps(owner.to_json()))
    when = time.time() - age_s
    for path in [*home.iterdir(), home]:
        os.utime(path, (when, when))
    return home


def test_removes_only_homes_whose_run_and_server_are_gone(tmp_path: Path) -> None:
    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    dead = observe(ended.pid) or ProcessId(ended.pid, None, None)
    ended.wait()
    assert dead.start_ticks is not None

    killed_run = _home(tmp_path, "killed", dead)
    live_run = _home(tmp_path, "live", ProcessId.current(), age_s=OLD)
    old_unowned = _home(tmp_path, "old", None, age_s=OLD)
    new_unowned = _home(tmp_path, "new", None)
    kept = _home(tmp_path, "kept", dead)
    (kept / KEPT_FILE).touch()
    served = _home(tmp_path, "served", dead)  # its run died, but its server still runs
    other = tmp_path / "something-else"
    other.mkdir()

    server = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)"],
        env={**os.environ, "PREFECT_HOME": str(served)},
    )
    try:
        removed = remove_stale_homes(tmp_path)
    finally:
        server.kill()
        server.wait()

    assert sorted(removed) == sorted([killed_run, old_unowned])
    for home in (live_run, new_unowned, kept, served, other):
        assert home.exists(), home
    assert not killed_run.exists() and not old_unowned.exists()
