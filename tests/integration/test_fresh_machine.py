"""`make demo` and `make test` get a fresh machine going by themselves.

A clean copy of the working tree (what a clone gives: no .venv), run with the
system's PATH only (no pyenv shims, so no uv; ``python3`` is Debian's own,
externally managed Python) and an empty HOME:

1. ``make demo`` pip-installs the pinned uv into the user's site, creates the
   venv, and starts the demo (``MODE=none`` makes the demo stop at once, so
   the test does not run a whole upgrade); a second bootstrap is silent and
   instant.
2. Where a system package is missing and this user has neither root nor
   sudo (simulated: ``KAFKA_UPGRADE_BOOTSTRAP_HIDE`` / ``_NO_ROOT``), it prints
   one line with the exact apt-get command, and stops before anything else.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def _clean_copy(dest: Path) -> Path:
    """The working tree's files that a clone would have (tracked and new, not ignored)."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    for name in filter(None, (n.decode() for n in listed)):
        source = REPO / name
        if source.is_file():
            target = dest / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    return dest


def _fresh_env(home: Path, **extra: str) -> dict[str, str]:
    real_home = Path.home()
    env = {
        "PATH": SYSTEM_PATH,
        "HOME": str(home),
        "LANG": "C.UTF-8",
        # Downloads already made on this machine are reused; nothing else is shared.
        "UV_CACHE_DIR": os.environ.get("UV_CACHE_DIR", str(real_home / ".cache" / "uv")),
        "PIP_CACHE_DIR": str(real_home / ".cache" / "pip"),
    }
    for key in ("PIP_CERT", "PIP_FIND_LINKS", "PIP_DEFAULT_TIMEOUT", "SSL_CERT_FILE"):
        if key in os.environ:
            env[key] = os.environ[key]
    env.update(extra)
    return env


def _system_python_lacks_uv() -> None:
    if shutil.which("uv", path=SYSTEM_PATH):
        pytest.fail(
            "uv is installed system-wide on this machine, so a machine without it cannot be "
            f"simulated here ({shutil.which('uv', path=SYSTEM_PATH)}); run this test where the "
            "system PATH has no uv",
            pytrace=False,
        )
    probe = subprocess.run(
        ["python3", "-m", "uv", "--version"], env={"PATH": SYSTEM_PATH}, capture_output=True
    )
    if probe.returncode == 0:
        pytest.fail(
            "the system python3 has the uv module, so a machine without uv cannot be "
            "simulated here; run this test where `python3 -m uv` fails",
            pytrace=False,
        )


def test_make_demo_installs_uv_and_the_venv_itself(tmp_path: Path) -> None:
    _system_python_lacks_uv()
    repo = _clean_copy(tmp_path / "clone")
    home = tmp_path / "home"
    home.mkdir()
    env = _fresh_env(home)
    started = time.monotonic()
    demo = subprocess.run(
        ["make", "demo", "MODE=none"],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    took = time.monotonic() - started
    out = demo.stdout + demo.stderr
    print(f"\nfresh make demo (to the demo's start) took {took:.0f} s:\n{out[-3000:]}")
    assert "bootstrap: installing uv 0.13.8 with pip" in out
    assert "bootstrap: creating .venv with python3 -m uv sync" in out
    # The demo itself started, from the new venv, and refused MODE=none.
    assert "MODE='none': choose zk, kraft or journey" in out, out
    assert "Traceback" not in out
    assert (home / ".local" / "bin" / "uv").exists()
    version = subprocess.run(
        [str(repo / ".venv" / "bin" / "python"), "-m", "kafka_upgrade.app.cli", "--version"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert version.returncode == 0 and "kafka-upgrade" in version.stdout

    # Everything is there now: quiet and instant.
    started = time.monotonic()
    again = subprocess.run(
        ["scripts/bootstrap.sh", "demo"], cwd=repo, env=env, capture_output=True, text=True
    )
    assert again.returncode == 0, again.stderr
    assert again.stdout + again.stderr == ""
    assert time.monotonic() - started < 5


@pytest.mark.parametrize(
    ("target", "hide", "line"),
    [
        ("demo", "sshd", "missing openssh-server; run: sudo apt-get install -y openssh-server"),
        (
            "test",
            "sshd mvn initdb chromium",
            "missing openssh-server maven postgresql chromium; "
            "run: sudo apt-get install -y openssh-server maven postgresql chromium",
        ),
    ],
)
def test_without_root_it_prints_the_one_command_to_run(
    target: str, hide: str, line: str, tmp_path: Path
) -> None:
    repo = _clean_copy(tmp_path / "clone")
    home = tmp_path / "home"
    home.mkdir()
    env = _fresh_env(home, KAFKA_UPGRADE_BOOTSTRAP_HIDE=hide, KAFKA_UPGRADE_BOOTSTRAP_NO_ROOT="1")
    started = time.monotonic()
    result = subprocess.run(
        ["make", target], cwd=repo, env=env, capture_output=True, text=True, timeout=60
    )
    assert time.monotonic() - started < 5
    assert result.returncode != 0
    said = [ln for ln in (result.stdout + result.stderr).splitlines() if not ln.startswith("make")]
    assert said == [line]
    assert not (repo / ".venv").exists()  # stopped before anything else
