"""One error tree, grouped by what happens next; a failed phase keeps its error's class."""

from __future__ import annotations

import pytest

from kafka_upgrade.core.errors import (
    BadInput,
    ClusterBusy,
    StepFailed,
    UnsafeNow,
    UpgradeError,
    in_phase,
)
from kafka_upgrade.core.kafka_cli import ParseError


@pytest.mark.parametrize("kind", [BadInput, UnsafeNow, ClusterBusy, StepFailed])
def test_a_failed_phase_keeps_the_class(kind: type[UpgradeError]) -> None:
    error = in_phase(kind("node 2: why"), "phase-1-binaries", "prod")
    assert type(error) is kind
    assert str(error) == "phase-1-binaries failed on prod: node 2: why"


def test_a_foreign_error_becomes_step_failed() -> None:
    error = in_phase(KeyError("leader"), "finalize-metadata-version", "prod")
    assert type(error) is StepFailed
    assert str(error) == "finalize-metadata-version failed on prod: 'leader'"


def test_the_error_keeps_its_attributes() -> None:
    error = in_phase(ParseError("no CurrentVoters line", "x"), "phase-1-binaries", "prod")
    assert type(error) is ParseError
    assert error.line == "x"
    assert str(error) == "phase-1-binaries failed on prod: no CurrentVoters line: 'x'"
