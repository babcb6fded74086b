#!/usr/bin/env bash
# Installs what building tickbench needs beyond the Rust toolchain, on Debian/Ubuntu, if missing:
# a C toolchain and make (librdkafka is built from the bundled source), pkg-config and OpenSSL's
# headers (librdkafka's TLS, for MSK and other TLS listeners), and rustfmt/clippy for CI; with
# --tests, Debian's chromium too (the report test takes a screenshot of report.html).
set -euo pipefail

need=()
command -v cc >/dev/null 2>&1 || need+=(build-essential)
command -v make >/dev/null 2>&1 || need+=(make)
command -v pkg-config >/dev/null 2>&1 || need+=(pkg-config)
command -v perl >/dev/null 2>&1 || need+=(perl)
if ! pkg-config --exists openssl 2>/dev/null; then need+=(libssl-dev); fi
# --tests: what the test suite needs besides (Chromium draws report.html in tests/it/report.rs;
# HdrHistogram_py reads the interval logs there, as another HdrHistogram implementation).
if [ "${1:-}" = "--tests" ]; then
  command -v chromium >/dev/null 2>&1 || need+=(chromium)
  if ! python3 -c 'import hdrh' 2>/dev/null; then
    python3 -m pip install --quiet --disable-pip-version-check hdrhistogram
  fi
fi

if ((${#need[@]})); then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    echo "install-deps: installing ${need[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  else
    echo "install-deps: please install: ${need[*]}" >&2
    exit 1
  fi
fi

if command -v rustup >/dev/null 2>&1; then
  rustup component list --installed 2>/dev/null | grep -q '^rustfmt' || rustup component add rustfmt
  rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy
fi
