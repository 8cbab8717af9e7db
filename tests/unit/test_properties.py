"""server.properties edits: minimal, idempotent, last-one-wins like Java."""

from __future__ import annotations

import pytest

from kafka_upgrade.core.properties import apply_properties, read_properties

ORIGINAL = """# broker settings
broker.id=2
log.dirs=/var/lib/kafka
inter.broker.protocol.version = 3.6
# a comment that must survive
num.partitions=3
"""


def test_read_properties_handles_spaces_and_comments() -> None:
    values = read_properties(ORIGINAL)
    assert values["inter.broker.protocol.version"] == "3.6"
    assert values["broker.id"] == "2"
    assert "# a comment that must survive" not in values


def test_updates_replace_in_place_and_keep_everything_else() -> None:
    new = apply_properties(ORIGINAL, {"inter.broker.protocol.version": "3.7"})
    assert new.splitlines()[3] == "inter.broker.protocol.version=3.7"
    assert "# a comment that must survive" in new
    assert read_properties(new)["num.partitions"] == "3"


def test_missing_key_is_appended_with_a_marker() -> None:
    new = apply_properties("broker.id=1\n", {"inter.broker.protocol.version": "3.7"})
    assert new.endswith("# Set by kafka-upgrade\ninter.broker.protocol.version=3.7\n")


@pytest.mark.parametrize(
    "updates",
    [
        {"inter.broker.protocol.version": "3.7"},
        {"inter.broker.protocol.version": "3.7", "log.message.format.version": "3.7"},
        {"num.partitions": None},
    ],
)
def test_applying_twice_changes_nothing_more(updates: dict) -> None:
    once = apply_properties(ORIGINAL, updates)
    assert apply_properties(once, updates) == once


def test_none_removes_the_key() -> None:
    new = apply_properties(ORIGINAL, {"num.partitions": None})
    assert "num.partitions" not in read_properties(new)


def test_duplicate_keys_collapse_to_one() -> None:
    new = apply_properties("a=1\nb=2\na=3\n", {"a": "9"})
    assert new == "a=9\nb=2\n"
