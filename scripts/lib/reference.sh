# Sourced by scripts/compare-*.sh: tickbench's release build, librdkafka's own
# rdkafka_performance built from the same vendored source and linked against the same
# librdkafka.a, a broker that is not the bottleneck, and CPU accounting.

# Builds target/release/tickbench and target/rdkafka_performance; sets TB and PERF. TB set in the
# environment (another build of tickbench, to compare before and after) is used as it is.
#
# The example is patched in one place: with PERF_KEYS=N set, message i is keyed "K%04d" by
# i mod N, from keys made once before the loop, so a keyed comparison makes both clients pay
# for partitioning the same way (the stock tool sends one fixed key or none).
build_reference() {
  if [ -z "${TB:-}" ]; then
    cargo build --release --quiet
    TB=$PWD/target/release/tickbench
  fi
  local src out zstd patched
  src=$(cargo metadata --format-version 1 2>/dev/null |
    python3 -c 'import json,sys; d=json.load(sys.stdin); print([p for p in d["packages"] if p["name"]=="rdkafka-sys"][0]["manifest_path"].rsplit("/",1)[0])')/librdkafka
  out=$(ls -td target/release/build/rdkafka-sys-*/out | head -1)
  zstd=$(ls -t target/release/build/zstd-sys-*/out/libzstd.a | head -1)
  PERF=$PWD/target/rdkafka_performance
  patched=target/rdkafka_performance.c
  if [ ! -x "$PERF" ] || [ "$src/examples/rdkafka_performance.c" -nt "$PERF" ] || [ "${BASH_SOURCE[0]}" -nt "$PERF" ]; then
    python3 - "$src/examples/rdkafka_performance.c" "$patched" <<'PY'
import sys
s = open(sys.argv[1]).read()
def sub(old, new):
    global s
    assert s.count(old) == 1, old
    s = s.replace(old, new)
sub("int main(int argc, char **argv) {",
    "static char perf_keys[10000][8];\nstatic int perf_nkeys;\n\nint main(int argc, char **argv) {")
sub("                int keylen  = key ? (int)strlen(key) : 0;\n",
    "                int keylen  = key ? (int)strlen(key) : 0;\n"
    "                if (getenv(\"PERF_KEYS\")) {\n"
    "                        perf_nkeys = atoi(getenv(\"PERF_KEYS\"));\n"
    "                        if (perf_nkeys < 1 || perf_nkeys > 10000) perf_nkeys = 1;\n"
    "                        for (int k = 0; k < perf_nkeys; k++)\n"
    "                                snprintf(perf_keys[k], sizeof(perf_keys[k]), \"K%04d\", k);\n"
    "                }\n")
sub("                        cnt.tx++;\n",
    "                        if (perf_nkeys) {\n"
    "                                key = perf_keys[cnt.tx % perf_nkeys];\n"
    "                                keylen = 5;\n"
    "                        }\n"
    "                        cnt.tx++;\n")
open(sys.argv[2], "w").write(s)
PY
    gcc -O2 -I"$src/src" -I"$out/src" -o "$PERF" "$patched" \
      "$out/src/librdkafka-static.a" "$zstd" -lssl -lcrypto -lz -lpthread -lm -ldl -lrt
  fi
}

# Starts `tickbench up` (librdkafka's mock cluster and the S3 server, in a process of their own)
# with TOPIC of PARTITIONS partitions; sets UP_PID, BROKERS and S3_ENDPOINT.
start_up() { # DIR TOPIC PARTITIONS
  mkdir -p "$1"
  "$TB" up --dir "$1/s3" --topic "$2" --partitions "$3" >"$1/up.log" 2>&1 &
  UP_PID=$!
  for _ in $(seq 1 100); do
    grep -q '^Ctrl-C' "$1/up.log" 2>/dev/null && break
    sleep 0.1
  done
  BROKERS=$(grep -oE 'bootstrap.servers=[^ ]+' "$1/up.log" | cut -d= -f2)
  S3_ENDPOINT=$(grep -oE 'endpoint=[^ ]+' "$1/up.log" | cut -d= -f2)
  [ -n "$BROKERS" ] || { cat "$1/up.log" >&2; return 1; }
}

# Runs a command (its output discarded, its errors shown) and prints the CPU seconds (user +
# system) it and its children used.
cpu_of() {
  python3 - "$@" <<'PY' 3>&1 1>&2
import os, resource, subprocess, sys
subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, check=True)
r = resource.getrusage(resource.RUSAGE_CHILDREN)
os.write(3, f"{r.ru_utime + r.ru_stime:.3f}\n".encode())
PY
}

median() { python3 -c 'import statistics,sys; print(statistics.median(float(x) for x in sys.argv[1:]))' "$@"; }
