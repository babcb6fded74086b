#!/usr/bin/env bash
# tickbench's producer against librdkafka's own rdkafka_performance (built from the same vendored
# librdkafka and linked against the same librdkafka.a): same broker, same message size, acks=all,
# linger.ms=5, a local queue of a million messages, producer only. Prints each round's rates and
# the ratios of the medians of interleaved rounds.
#
# usage: scripts/compare-producer.sh [BROKERS]
#
# Without BROKERS, each layout gets `tickbench up`'s librdkafka mock cluster in a process of its
# own: a broker that is not the bottleneck, so the figures are the clients' own cost. With
# BROKERS (a real cluster), the topics are created by tickbench.
#
# Layouts, each against a schedule far above what either client can send (10 M ticks due in a
# second), so both run flat out:
#   1 partition   both write every message to partition 0: the same batches, only the cost per
#                 message differs.
#   12, keyed     tickbench keys by symbol (2,000 symbols); rdkafka_performance, patched to key
#                 message i by one of 2,000 keys in turn (PERF_KEYS), hashes the same way.
#   12, 2 threads tickbench with rate.producer_threads = 2, against the same keyed reference.
# Environment: ROUNDS (5), COUNT (messages per rdkafka_performance run, 5000000), THREADS (2).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/reference.sh

ROUNDS=${ROUNDS:-5}
COUNT=${COUNT:-5000000}
THREADS=${THREADS:-2}
build_reference
work=$(mktemp -d)
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null; rm -rf "$work"' EXIT

if [ -n "${1:-}" ]; then
  B1=$1 B12=$1 T1=cmp-p1-$$ T12=cmp-p12-$$
else
  start_up "$work/up1" p1 1 && B1=$BROKERS && pids+=("$UP_PID")
  start_up "$work/up12" p12 12 && B12=$BROKERS && pids+=("$UP_PID")
  T1=p1 T12=p12
fi

scenario() { # PARTITIONS THREADS
  sed -e "s/^partitions = 12/partitions = $1/" -e 's/^ticks_per_second = .*/ticks_per_second = 10000000/' \
    -e "s/^\[rate\]/[rate]\nproducer_threads = $2/" scenarios/producer-ceiling.toml
  printf '\n[kafka.producer]\n"linger.ms" = "5"\n"acks" = "all"\n"queue.buffering.max.messages" = "1000000"\n'
}
scenario 1 1 >"$work/p1.toml"
scenario 12 1 >"$work/p12.toml"
scenario 12 "$THREADS" >"$work/p12t.toml"

tb() { # SCENARIO BROKERS TOPIC -> msgs/s
  local d="$work/tb-$RANDOM"
  "$TB" produce "$1" --brokers "$2" --topic "$3" --results-dir "$d" >/dev/null
  python3 -c 'import json,sys; print(int(json.load(open(sys.argv[1]))["achieved_per_s"]))' "$(ls "$d"/*/produce.json)"
}
rk() { # BROKERS TOPIC EXTRA... -> msgs/s
  local b=$1 t=$2
  shift 2
  "$PERF" -P -t "$t" -b "$b" -s "$SIZE" -c "$COUNT" -a -1 "$@" -X linger.ms=5 \
    -X queue.buffering.max.messages=1000000 2>&1 | grep -oE "[0-9]+ msgs/s" | tail -1 | cut -d' ' -f1
}

# The tick's mean JSON size, from a short run; rdkafka_performance sends messages of that size.
d="$work/size"
sed 's/^ticks_per_second = .*/ticks_per_second = 20000/' "$work/p1.toml" >"$work/size.toml"
"$TB" produce "$work/size.toml" --brokers "$B1" --topic "$T1" --results-dir "$d" >/dev/null
SIZE=$(python3 -c 'import json,sys; print(round(json.load(open(sys.argv[1]))["payload_bytes_mean"]))' "$(ls "$d"/*/produce.json)")

declare -A runs
for round in $(seq 1 "$ROUNDS"); do
  tb1=$(tb "$work/p1.toml" "$B1" "$T1")
  rk1=$(rk "$B1" "$T1" -p 0)
  tb12=$(tb "$work/p12.toml" "$B12" "$T12")
  rk12=$(PERF_KEYS=2000 rk "$B12" "$T12")
  tb12t=$(tb "$work/p12t.toml" "$B12" "$T12")
  echo "round $round ($SIZE-byte messages): 1 partition: tickbench $tb1, rdkafka_performance $rk1; 12 keyed: tickbench $tb12 ($THREADS threads: $tb12t), rdkafka_performance $rk12 msgs/s"
  runs[tb1]+="$tb1 " runs[rk1]+="$rk1 " runs[tb12]+="$tb12 " runs[rk12]+="$rk12 " runs[tb12t]+="$tb12t "
done
python3 - "$THREADS" "${runs[tb1]}" "${runs[rk1]}" "${runs[tb12]}" "${runs[rk12]}" "${runs[tb12t]}" <<'PY'
import statistics, sys
threads = sys.argv[1]
m = [statistics.median(int(x) for x in a.split()) for a in sys.argv[2:]]
print(f"median, 1 partition:      tickbench {m[0]:.0f} / rdkafka_performance {m[1]:.0f} msgs/s = {m[0] / m[1]:.2f}")
print(f"median, 12 keyed:         tickbench {m[2]:.0f} / rdkafka_performance {m[3]:.0f} msgs/s = {m[2] / m[3]:.2f}")
print(f"median, 12 keyed, {threads} thr.: tickbench {m[4]:.0f} / rdkafka_performance (1 thread) {m[3]:.0f} msgs/s = {m[4] / m[3]:.2f}")
PY
