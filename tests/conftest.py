"""Test-wide settings: Prefect keeps its state in a temporary home and sends no telemetry."""

from __future__ import annotations

import os
import tempfile

# Set before anything imports prefect (pytest loads this file first).
os.environ.setdefault("PREFECT_HOME", tempfile.mkdtemp(prefix="kafka-upgrade-test-prefect-"))
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "INFO")
