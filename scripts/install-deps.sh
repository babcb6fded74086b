#!/usr/bin/env bash
# Installs what building and testing tickbench needs, on Debian 12/13 or Ubuntu, where missing.
#
# usage: scripts/install-deps.sh           to build: a C toolchain and make (librdkafka is built
#                                          from its bundled source), perl, pkg-config and OpenSSL's
#                                          headers (TLS for MSK), and Rust by rustup if cargo is
#                                          missing (the toolchain pinned below, with rustfmt and
#                                          clippy), and cargo-nextest, the test runner
#        scripts/install-deps.sh --tests   also what the ignored tests need: Chromium (the report
#                                          screenshot), kcat (reads the topic tickbench wrote),
#                                          kubectl (renders deploy/kubernetes/ to validate it),
#                                          python3 with venv, and a venv at .tools/venv with
#                                          scripts/requirements-tools.txt (HdrHistogram_py,
#                                          tansu, pyarrow...); s3s-fs is built by
#                                          scripts/services.sh when it first starts
#        scripts/install-deps.sh --venv    only the venv
#
# Debian packages need root: run it as root (or with sudo); without root it names what is missing
# and exits 1. rustup and the venv go to the invoking user's folders (under sudo, SUDO_USER's).
set -euo pipefail
cd "$(dirname "$0")/.."

RUST_TOOLCHAIN=1.95.0 # what CI builds with; Cargo.toml's rust-version is the oldest that works
TOOLS=${TICKBENCH_TOOLS_DIR:-$PWD/.tools}
mode=${1:-build}

log() { echo "install-deps: $*" >&2; }

# Under sudo, in a clone of the user's own, rustup and the venv belong to the user who asked,
# not to root.
USER_HOME=$HOME
if [ "$(id -u)" = 0 ] && [ -n "${SUDO_USER:-}" ] && [ "$SUDO_USER" != root ] &&
  command -v sudo >/dev/null 2>&1 && [ "$(stat -c %U .)" = "$SUDO_USER" ]; then
  USER_HOME=$(getent passwd "$SUDO_USER" | cut -d: -f6)
fi
as_user() {
  if [ "$USER_HOME" != "$HOME" ]; then
    sudo -u "$SUDO_USER" -H "$@"
  else
    "$@"
  fi
}
USER_CARGO=${CARGO_HOME:-$USER_HOME/.cargo}

apt_install() { # PACKAGE...
  (($#)) || return 0
  if ! command -v apt-get >/dev/null 2>&1; then
    log "not a Debian/Ubuntu system; please install the equivalents of: $*"
    exit 1
  fi
  if [ "$(id -u)" != 0 ]; then
    log "needs root to install: $* (run: sudo bash scripts/install-deps.sh ${1:+$mode})"
    exit 1
  fi
  log "apt-get install $*"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

venv() {
  local py=$TOOLS/venv/bin/python
  # Up to date when it was made from this very requirements file.
  if [ -x "$py" ] && cmp -s scripts/requirements-tools.txt "$TOOLS/venv/requirements-tools.txt"; then
    return 0
  fi
  local need=()
  command -v python3 >/dev/null 2>&1 || need+=(python3)
  # Debian splits venv (and the pip it seeds) out of python3.
  python3 -c 'import venv, ensurepip' 2>/dev/null || need+=(python3-venv)
  apt_install "${need[@]}"
  log "venv at $TOOLS/venv with scripts/requirements-tools.txt"
  as_user mkdir -p "$TOOLS"
  as_user python3 -m venv "$TOOLS/venv"
  as_user "$py" -m pip install --quiet --disable-pip-version-check --require-virtualenv -r scripts/requirements-tools.txt
  as_user cp scripts/requirements-tools.txt "$TOOLS/venv/requirements-tools.txt"
}

if [ "$mode" = --venv ]; then
  venv
  exit 0
fi
case "$mode" in build | --tests) ;; *)
  echo "usage: $0 [--tests | --venv]" >&2
  exit 2
  ;;
esac

need=()
command -v cc >/dev/null 2>&1 || need+=(build-essential)
command -v make >/dev/null 2>&1 || need+=(make)
command -v perl >/dev/null 2>&1 || need+=(perl)
command -v pkg-config >/dev/null 2>&1 || need+=(pkg-config)
pkg-config --exists openssl 2>/dev/null || need+=(libssl-dev)
if ! command -v cargo >/dev/null 2>&1 && ! [ -x "$USER_CARGO/bin/cargo" ]; then
  command -v curl >/dev/null 2>&1 || need+=(curl)
  [ -e /etc/ssl/certs/ca-certificates.crt ] || need+=(ca-certificates)
fi
if [ "$mode" = --tests ]; then
  command -v chromium >/dev/null 2>&1 || need+=(chromium)
  command -v kcat >/dev/null 2>&1 || need+=(kcat)
  # kubectl's kustomize renders deploy/kubernetes/ for its validation (scripts/validate-deploy.sh).
  command -v kubectl >/dev/null 2>&1 || need+=(kubernetes-client)
  command -v python3 >/dev/null 2>&1 || need+=(python3)
  python3 -c 'import venv, ensurepip' 2>/dev/null || need+=(python3-venv)
fi
apt_install "${need[@]}"

if ! command -v cargo >/dev/null 2>&1 && ! [ -x "$USER_CARGO/bin/cargo" ]; then
  log "rustup with Rust $RUST_TOOLCHAIN (then: source \"\$HOME/.cargo/env\")"
  curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs |
    as_user sh -s -- -y --profile minimal --default-toolchain "$RUST_TOOLCHAIN" -c rustfmt -c clippy
fi
if command -v rustup >/dev/null 2>&1; then
  rustup component list --installed 2>/dev/null | grep -q '^rustfmt' || rustup component add rustfmt
  rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy
fi

# The test runner (README's test command): each test in a process of its own.
if ! PATH="$USER_CARGO/bin:$PATH" cargo nextest --version >/dev/null 2>&1; then
  log "cargo install cargo-nextest (the test runner; about 5 minutes on 2 cores)"
  as_user env PATH="$USER_CARGO/bin:$PATH" cargo install --locked cargo-nextest
fi

if [ "$mode" = --tests ]; then
  venv
fi
