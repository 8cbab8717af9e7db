"""The standing shell's framing: what ``FabricRemote.look`` sends a node's long-lived
shell for one command, and how the answer is read back. Checked against a real local
``sh`` fed the same bytes (the SSH side is in tests/integration/test_sandbox.py)."""

from __future__ import annotations

import subprocess

import pytest

from kafka_upgrade.adapters.remote import parse_standing, standing_command

MARKER = "__kafka_upgrade_done_0123456789abcdef"


def through_sh(*commands: str) -> list[tuple[int, str] | None]:
    """Each command's (exit status, stdout) from one ``sh`` fed them in turn."""
    script = b"".join(standing_command(c, f"{MARKER}{i}") for i, c in enumerate(commands))
    out = subprocess.run(["sh"], input=script, capture_output=True, check=True).stdout.decode()
    answers = []
    for i in range(len(commands)):  # the shell is fed one command at a time: cut per marker
        marker = f"{MARKER}{i} "
        before, _, after = out.partition(f"\n{marker}")
        status, _, out = after.partition("\n")
        answers.append(parse_standing(f"{before}\n{marker}{status}\n", marker.strip()))
    return answers


@pytest.mark.parametrize(
    ("output", "expected"),
    [
        ("", None),
        ("hello\n", None),  # the command has not finished
        (f"hello\n\n{MARKER} ", None),  # the marker line is still coming
        (f"hello\n\n{MARKER} 0", None),
        (f"hello\n\n{MARKER} 0\n", (0, "hello\n")),
        (f"abc\n{MARKER} 3\n", (3, "abc")),  # output without a final newline
        (f"\n{MARKER} 0\n", (0, "")),
        (f"x\n{MARKER}0 1\n\n{MARKER} 0\n", (0, f"x\n{MARKER}0 1\n")),  # only its own marker
    ],
)
def test_parse_standing(output: str, expected: tuple[int, str] | None) -> None:
    assert parse_standing(output, MARKER) == expected


def test_commands_run_one_after_another_and_leave_nothing_behind() -> None:
    answers = through_sh(
        "cd /; x=1; echo $x; pwd",
        'pwd; echo "x=$x"',  # neither the directory nor the variable outlived the first
        "printf 'no newline'",
        "echo out; echo err >&2; exit 3",  # stderr is not mixed into stdout
        "cat; echo read-nothing",  # stdin is not the shell's: the next commands survive
        "for i in 1 2; do echo $i; done # a trailing comment",
        "echo last",
    )
    assert answers[0] == (0, "1\n/\n")
    assert answers[1][0] == 0 and answers[1][1].endswith("x=\n") and answers[1][1] != "/\nx=\n"
    assert answers[2] == (0, "no newline")
    assert answers[3] == (3, "out\n")
    assert answers[4] == (0, "read-nothing\n")
    assert answers[5] == (0, "1\n2\n")
    assert answers[6] == (0, "last\n")
