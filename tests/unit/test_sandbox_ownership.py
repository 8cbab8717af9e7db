"""Whether `sandbox up --name X` may take down what X's directory holds: the table."""

from __future__ import annotations

import pytest

from kafka_upgrade.app.process_id import ProcessId
from kafka_upgrade.sandbox.ownership import Existing, decide, read_record

CREATOR = ProcessId(111, 5, "boot")
OWNER = ProcessId(222, 6, "boot")

CASES = [
    # (what up sees, action, words the reason must hold)
    (Existing(has_state=False), "take-down", "no state"),
    (
        Existing(True, "starting", CREATOR, creator_running=False, owner=CREATOR),
        "take-down",
        "process 111, died while starting it",
    ),
    (
        Existing(True, "starting", CREATOR, creator_running=True, owner=CREATOR),
        "refuse",
        "started right now by process 111",
    ),
    (
        Existing(True, "starting", CREATOR, True, creator_is_us=True, owner=CREATOR),
        "take-down",
        "this process",
    ),
    # A demo or a test session owns it.
    (
        Existing(True, "up", CREATOR, owner=OWNER, owner_running=True, processes_running=True),
        "refuse",
        "belongs to process 222, which is still running",
    ),
    (
        Existing(True, "up", CREATOR, owner=OWNER, owner_running=False, processes_running=True),
        "take-down",
        "owner, process 222, ended",
    ),
    (
        Existing(True, "up", CREATOR, owner=OWNER, owner_running=True, owner_is_us=True),
        "take-down",
        "this process",
    ),
    # `sandbox up` made it to stay until `sandbox down`; its creator has exited normally.
    (
        Existing(True, "up", CREATOR, owner=None, processes_running=True),
        "refuse",
        "already up",
    ),
    (
        Existing(True, "up", CREATOR, owner=None, processes_running=False),
        "take-down",
        "none of its processes",
    ),
]


@pytest.mark.parametrize(("seen", "action", "words"), CASES)
def test_verdict(seen: Existing, action: str, words: str) -> None:
    verdict = decide("iso-x", seen)
    assert verdict.action == action
    assert words in verdict.reason
    if action == "refuse":
        assert "sandbox down --name iso-x" in verdict.reason


def test_state_files_from_before_ownership_read_as_up_with_no_owner() -> None:
    assert read_record({"name": "x", "sshd_pid": 5}) == ("up", None, None)
    phase, creator, owner = read_record(
        {"phase": "starting", "creator": CREATOR.to_json(), "owner": None}
    )
    assert (phase, creator, owner) == ("starting", CREATOR, None)
