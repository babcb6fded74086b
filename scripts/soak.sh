#!/usr/bin/env bash
# A long run on the separate services, watched from outside: every 10 s the tickbench process's
# resident memory, open file descriptors and threads, beside what the sink holds (consumed, not
# yet landed) from the run's own `--progress json` lines. Everything goes to disk as the run goes
# (progress.jsonl a line a second, samples.csv a row each 10 s), so a run of hours leaves its
# time series even if it is stopped.
#
# usage: scripts/soak.sh [--minutes 30] [--rate 5000] [--on up|services] [--kafka-debug CONTEXTS] [--out DIR]
#   --on up (the default): Kafka and S3 are `tickbench up`, a process of its own (librdkafka's mock
#   cluster and the s3s server). --on services: tansu and s3s-fs from scripts/services.sh (started
#   if they are not running); tansu's in-memory store stops serving fetches after a few minutes
#   at 2,000 ticks/s (docs/reliability.md, "A long run"). Builds the release binary unless
#   TICKBENCH_BIN names one, runs scenarios/soak.toml (duration and rate replaced), and prints the
#   first, last and largest figures. The run's own results folder is under DIR/results.
#   --kafka-debug cgrp (any of librdkafka's `debug` contexts): the consumer's librdkafka debug log
#   goes to DIR/progress.jsonl beside the progress lines, to see why a group member leaves.
set -euo pipefail
cd "$(dirname "$0")/.."

minutes=30 rate=5000 on=up out="" kafka_debug=""
while [ $# -gt 0 ]; do
  case "$1" in
    --minutes) minutes=$2; shift 2 ;;
    --rate) rate=$2; shift 2 ;;
    --on) on=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --kafka-debug) kafka_debug=$2; shift 2 ;;
    *) echo "soak: unknown argument $1 (--minutes N, --rate N, --on up|services, --kafka-debug CONTEXTS, --out DIR)" >&2; exit 2 ;;
  esac
done
out=${out:-results/soak-$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$out"
bin=${TICKBENCH_BIN:-}
if [ -z "$bin" ]; then
  cargo build --release --quiet
  bin=target/release/tickbench
fi

topic_line='topic = "soak"'
case "$on" in
  services)
    bash scripts/services.sh start
    # shellcheck disable=SC1091
    source "${TICKBENCH_SERVICES_DIR:-$PWD/.services}/env"
    ;;
  up)
    "$bin" up --dir "$out/up" --topic soak --partitions 6 --bucket soak >"$out/up.log" 2>&1 &
    up_pid=$!
    for _ in $(seq 1 100); do grep -q '^Ctrl-C' "$out/up.log" 2>/dev/null && break; sleep 0.2; done
    TICKBENCH_KAFKA_BROKERS=$(grep -o 'bootstrap.servers=[^ ]*' "$out/up.log" | cut -d= -f2)
    TICKBENCH_S3_ENDPOINT=$(grep -o 'endpoint=[^ ]*' "$out/up.log" | cut -d= -f2)
    [ -n "$TICKBENCH_KAFKA_BROKERS" ] || { echo "soak: tickbench up did not start:" >&2; cat "$out/up.log" >&2; exit 1; }
    export TICKBENCH_KAFKA_BROKERS TICKBENCH_S3_ENDPOINT
    export AWS_ACCESS_KEY_ID=tickbench AWS_SECRET_ACCESS_KEY=tickbench-embedded AWS_REGION=us-east-1
    export AWS_EC2_METADATA_DISABLED=true
    # The mock cluster creates no topics: the run uses the one `up` made.
    topic_line='topic = "soak"\ntopic_per_run = false'
    ;;
  *) echo "soak: --on is up or services, not $on" >&2; exit 2 ;;
esac

# The scenario's own names for the addresses (the tests' TICKBENCH_* names stay theirs).
export SOAK_KAFKA_BROKERS=$TICKBENCH_KAFKA_BROKERS SOAK_S3_ENDPOINT=$TICKBENCH_S3_ENDPOINT
sed -e "s/^duration = .*/duration = \"${minutes}m\"/" \
  -e "s/^ticks_per_second = .*/ticks_per_second = $rate/" \
  -e "s/^topic = \"soak\"/$topic_line/" scenarios/soak.toml >"$out/soak.toml"
if [ -n "$kafka_debug" ]; then
  sed -i "s/^\[kafka.consumer\]/[kafka.consumer]\n\"debug\" = \"$kafka_debug\"/" "$out/soak.toml"
  export RUST_LOG=${RUST_LOG:-tickbench=info,librdkafka=debug}
fi

"$bin" run "$out/soak.toml" --results-dir "$out/results" --progress json \
  2>"$out/progress.jsonl" >"$out/run.log" &
pid=$!
trap 'kill "$pid" ${up_pid:-} 2>/dev/null || true' INT TERM EXIT

echo "t_s,rss_mib,fds,threads,consumed,landed,held_by_sink" >"$out/samples.csv"
start=$(date +%s)
while kill -0 "$pid" 2>/dev/null; do
  rss_kib=$(awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status" 2>/dev/null || echo 0)
  threads=$(awk '/^Threads:/ { print $2 }' "/proc/$pid/status" 2>/dev/null || echo 0)
  fds=$(find "/proc/$pid/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)
  # The last progress line: what the sink has consumed and landed so far.
  last=$(grep '^{' "$out/progress.jsonl" 2>/dev/null | tail -1 || true)
  consumed=$(sed -n 's/.*"consumed":\([0-9]*\).*/\1/p' <<<"$last")
  landed=$(sed -n 's/.*"landed":\([0-9]*\).*/\1/p' <<<"$last")
  consumed=${consumed:-0} landed=${landed:-0}
  printf '%s,%s,%s,%s,%s,%s,%s\n' "$(($(date +%s) - start))" "$((rss_kib / 1024))" "$fds" \
    "$threads" "$consumed" "$landed" "$((consumed - landed))" >>"$out/samples.csv"
  sleep 10
done
set +e
wait "$pid"
rc=$?
set -e

awk -F, 'NR == 2 { first = $0 } NR > 1 && $2 > 0 { last = $0; if ($2 > rss) rss = $2; if ($3 > fds) fds = $3;
           if ($7 > held) held = $7 }
         END { print "soak: first sample  " first; print "soak: last sample   " last;
               printf "soak: largest rss %s MiB, fds %s, held by the sink %s ticks\n", rss, fds, held }' \
  "$out/samples.csv"
echo "soak: run exited $rc; results in $out/results, samples in $out/samples.csv"
exit "$rc"
