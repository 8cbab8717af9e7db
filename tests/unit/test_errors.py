"""One error tree, grouped by what happens next: every exception class of the project
sits in exactly one group, tasks retry the transient group only, and a failed phase
keeps its error's class."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest
from prefect.states import Failed

from kafka_upgrade.core import errors
from kafka_upgrade.core.errors import GROUPS, StepFailed, Transient, UpgradeError, in_phase
from kafka_upgrade.core.kafka_cli import ParseError
from tasks.context import retry_transient_only

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("kafka_upgrade", "flows", "tasks", "deployments")


def _exception_classes() -> dict[type[BaseException], str]:
    """Every exception class defined at the top of a module of the project but the root,
    and its file (as the docstring of ``errors`` names it: ``kafka_upgrade/`` left out)."""
    found: dict[type[BaseException], str] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            names = [
                n.name for n in ast.parse(path.read_text()).body if isinstance(n, ast.ClassDef)
            ]
            if not names:
                continue
            relative = path.relative_to(ROOT)
            module = importlib.import_module(".".join(relative.with_suffix("").parts))
            for name in names:
                cls = getattr(module, name)
                if issubclass(cls, BaseException) and cls is not UpgradeError:
                    found[cls] = str(relative).removeprefix("kafka_upgrade/")
    return found


CLASSES = _exception_classes()
IDS = [cls.__name__ for cls in CLASSES]


def test_the_classes_are_found() -> None:
    assert len(CLASSES) >= 25
    assert {c.__name__ for c in CLASSES} >= {"HostKeyError", "ApiError", "SandboxSpecError"}


@pytest.mark.parametrize("cls", CLASSES, ids=IDS)
def test_every_error_is_in_exactly_one_group(cls: type[BaseException]) -> None:
    assert issubclass(cls, UpgradeError)
    groups = [g.__name__ for g in GROUPS if issubclass(cls, g)]
    assert len(groups) == 1, groups


@pytest.mark.parametrize("cls", CLASSES, ids=IDS)
def test_the_docstring_draws_every_error_where_it_lives(cls: type[BaseException]) -> None:
    lines = [line for line in errors.__doc__.splitlines() if f"── {cls.__name__} " in line]
    assert len(lines) == 1, f"{cls.__name__} is not drawn once in kafka_upgrade/core/errors.py"
    if cls not in GROUPS:
        assert CLASSES[cls] in lines[0], lines[0]


@pytest.mark.parametrize("cls", CLASSES, ids=IDS)
def test_tasks_retry_the_transient_group_only(cls: type[BaseException]) -> None:
    retried = retry_transient_only(None, None, Failed(data=cls("node 2: why")))
    assert retried is issubclass(cls, Transient)


@pytest.mark.parametrize(
    ("error", "retried"),
    [(TimeoutError("slow"), True), (ConnectionError("reset"), True), (ValueError("bug"), False)],
)
def test_foreign_timeouts_are_still_retried(error: Exception, retried: bool) -> None:
    assert retry_transient_only(None, None, Failed(data=error)) is retried


@pytest.mark.parametrize("cls", CLASSES, ids=IDS)
def test_a_failed_phase_keeps_the_class(cls: type[UpgradeError]) -> None:
    error = in_phase(cls("node 2: why"), "phase-1-binaries", "prod")
    assert type(error) is cls
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
