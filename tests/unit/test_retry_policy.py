"""Only transient faults are retried; logic failures stop the run at once."""

from __future__ import annotations

import pytest
from prefect.states import Failed

from kafka_upgrade.adapters.kafka_admin import KafkaUnavailable
from kafka_upgrade.adapters.remote import HostKeyError, TransientRemoteError
from kafka_upgrade.core.errors import StepFailed, UnsafeNow
from tasks.context import retry_transient_only


@pytest.mark.parametrize(
    ("error", "retried"),
    [
        (TransientRemoteError("node 2: SSH dropped"), True),
        (KafkaUnavailable("metadata timed out"), True),
        (TimeoutError("slow"), True),
        (HostKeyError("node 2: host key changed"), False),
        (StepFailed("node 2: stop command failed"), False),
        (UnsafeNow("not healthy in time"), False),
        (ValueError("bug"), False),
    ],
)
def test_retry_condition(error: Exception, retried: bool) -> None:
    assert retry_transient_only(None, None, Failed(data=error)) is retried
