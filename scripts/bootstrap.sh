#!/usr/bin/env bash
# Install what `make demo` / `make test` need on a fresh Debian machine, then the venv.
#
#   scripts/bootstrap.sh [install|demo|test]
#
# install: uv and .venv (uv sync --frozen). demo: also sshd, ssh-keygen, Java and
# Maven (Kafka's jars come from Maven Central; not needed with KAFKA_UPGRADE_DIST_URL).
# test: also PostgreSQL and Chromium (the service tests).
#
# System packages come from apt-get when this user is root or `sudo -n` works;
# otherwise it prints ONE line with the exact command to run, and stops. uv is
# pip-installed at the pinned version (into the user's site when the system
# Python is externally managed); `python3 -m uv` works even where pip's script
# dir is not on PATH. Idempotent, and quiet and fast when everything is there.
#
# For tests: KAFKA_UPGRADE_BOOTSTRAP_HIDE="sshd mvn ..." treats those system tools
# as missing (sshd is found by absolute path, so PATH cannot hide it);
# KAFKA_UPGRADE_BOOTSTRAP_NO_ROOT=1 behaves as a user without root or sudo.
set -euo pipefail
cd "$(dirname "$0")/.."

PROFILE=${1:-install}
UV_VERSION=0.13.8
PYTHON=${PYTHON:-python3}
HIDE=" ${KAFKA_UPGRADE_BOOTSTRAP_HIDE:-} "

say() { echo "bootstrap: $*" >&2; }

# have TOOL COMMAND...: TOOL is there (and not hidden for a test)
have() {
  local tool=$1
  shift
  [[ $HIDE != *" $tool "* ]] && "$@" >/dev/null 2>&1
}
on_path() { command -v "$1"; }
sshd_present() { [ -x /usr/sbin/sshd ] || [ -x /usr/local/sbin/sshd ] || command -v sshd; }
initdb_present() { compgen -G '/usr/lib/postgresql/*/bin/initdb' || command -v initdb; }

case $PROFILE in
  install | demo | test) ;;
  *)
    say "unknown profile '$PROFILE': use install, demo or test"
    exit 2
    ;;
esac

# --- system packages ---------------------------------------------------------
packages=()
if [ "$PROFILE" != install ]; then
  have sshd sshd_present || packages+=(openssh-server)
  have ssh-keygen on_path ssh-keygen || packages+=(openssh-client)
  have java on_path java || packages+=(openjdk-17-jre-headless)
  if [ -z "${KAFKA_UPGRADE_DIST_URL:-}" ]; then
    have mvn on_path mvn || packages+=(maven)
  fi
fi
if [ "$PROFILE" = test ]; then
  have initdb initdb_present || packages+=(postgresql)
  have chromium on_path chromium || packages+=(chromium)
  have sudo on_path sudo || packages+=(sudo)  # the prod-layout sandbox
fi

# The command that installs packages here, or nothing when this user cannot.
apt_runner() {
  [ -n "${KAFKA_UPGRADE_BOOTSTRAP_NO_ROOT:-}" ] && return 1
  command -v apt-get >/dev/null 2>&1 || return 1
  if [ "$(id -u)" -eq 0 ]; then
    echo env
  elif command -v sudo >/dev/null 2>&1 && sudo -n true >/dev/null 2>&1; then
    echo "sudo -n"
  else
    return 1
  fi
}

apt_install() {
  local runner
  if ! runner=$(apt_runner); then
    echo "missing ${*}; run: sudo apt-get install -y ${*}" >&2
    exit 1
  fi
  say "installing ${*} with apt-get"
  export DEBIAN_FRONTEND=noninteractive
  $runner apt-get update -qq
  $runner apt-get install -y -qq "$@" >/dev/null
}

if [ ${#packages[@]} -gt 0 ]; then
  apt_install "${packages[@]}"
fi

# --- uv ----------------------------------------------------------------------
# The first uv that answers: $UV, uv on PATH, the module, pip's user script dir.
find_uv() {
  local candidate
  for candidate in "${UV:-}" uv "$PYTHON -m uv" "$HOME/.local/bin/uv"; do
    [ -n "$candidate" ] || continue
    # Split on purpose: "python3 -m uv" is a command of three words.
    # shellcheck disable=SC2086
    if $candidate --version >/dev/null 2>&1; then
      echo "$candidate"
      return 0
    fi
  done
  return 1
}

install_uv() {
  if ! "$PYTHON" -m pip --version >/dev/null 2>&1; then
    if apt_runner >/dev/null; then
      apt_install python3-pip
    else
      echo "uv is missing; run: sudo apt-get install -y python3-pip && $PYTHON -m pip install --user --break-system-packages uv==$UV_VERSION" >&2
      exit 1
    fi
  fi
  say "installing uv $UV_VERSION with pip"
  export PIP_ROOT_USER_ACTION=ignore PIP_DISABLE_PIP_VERSION_CHECK=1
  # A plain install works in a venv or a pyenv Python; Debian's own Python is
  # externally managed (PEP 668), so there it goes into the user's site.
  "$PYTHON" -m pip install -q "uv==$UV_VERSION" 2>/dev/null ||
    "$PYTHON" -m pip install -q --user --break-system-packages "uv==$UV_VERSION"
}

if ! UV=$(find_uv); then
  install_uv
  if ! UV=$(find_uv); then
    echo "uv is missing and could not be installed; run: $PYTHON -m pip install --user uv==$UV_VERSION" >&2
    exit 1
  fi
fi

# --- the virtualenv ----------------------------------------------------------
stamp=.venv/.synced
if [ ! -e "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ uv.lock -nt "$stamp" ]; then
  say "creating .venv with $UV sync"
  $UV sync --frozen -p 3.11
  touch "$stamp"
fi
