#!/usr/bin/env bash
# tickbench's producer against librdkafka's own rdkafka_performance: same broker, same message
# size, same acks (all) and linger (5 ms), producer only, on one partition and on twelve. Prints
# the rates of each round and the ratios of their medians.
#
# usage: scripts/compare-producer.sh [BROKERS]     (default: $TICKBENCH_KAFKA_BROKERS, as set by
#        `scripts/services.sh start; source .services/env`)
#
# rdkafka_performance is built from the C source that ships in the rdkafka-sys crate's vendored
# librdkafka, linked against the very librdkafka.a that tickbench's release build made.
set -euo pipefail
cd "$(dirname "$0")/.."

BROKERS=${1:-${TICKBENCH_KAFKA_BROKERS:?give BROKERS or set TICKBENCH_KAFKA_BROKERS}}
COUNT=${COUNT:-2000000}

cargo build --release --quiet
TB=target/release/tickbench
SRC=$(cargo metadata --format-version 1 2>/dev/null \
  | python3 -c 'import json,sys; d=json.load(sys.stdin); print([p for p in d["packages"] if p["name"]=="rdkafka-sys"][0]["manifest_path"].rsplit("/",1)[0])')/librdkafka
OUT=$(ls -td target/release/build/rdkafka-sys-*/out | head -1)
ZSTD=$(ls -t target/release/build/zstd-sys-*/out/libzstd.a | head -1)
PERF=target/rdkafka_performance
if [ ! -x "$PERF" ] || [ "$SRC/examples/rdkafka_performance.c" -nt "$PERF" ]; then
  gcc -O2 -I"$SRC/src" -I"$OUT/src" -o "$PERF" "$SRC/examples/rdkafka_performance.c" \
    "$OUT/src/librdkafka-static.a" "$ZSTD" -lssl -lcrypto -lz -lpthread -lm -ldl -lrt
fi

ROUNDS=${ROUNDS:-3}
results=$(mktemp -d)
trap 'rm -rf "$results"' EXIT
# Two layouts. "1 partition": both clients write every message to partition 0 of a one-partition
# topic, so they build the same batches and only the per-message cost differs. "12 partitions":
# tickbench keys by symbol (librdkafka hashes each key to one of 12 partitions, as a keyed
# production load does), while rdkafka_performance sends unkeyed messages, which librdkafka's
# sticky partitioner packs into one partition at a time: fewer, larger batches.
sed 's/partitions = 12/partitions = 1/' scenarios/producer-ceiling.toml >"$results/p1.toml"
for f in producer-ceiling p1; do
  src=scenarios/producer-ceiling.toml
  [ "$f" = p1 ] && src="$results/p1.toml"
  sed 's/ticks_per_second = 2000000/ticks_per_second = 1/' "$src" >"$results/$f-create.toml"
done

tb_rate() { python3 -c 'import json,sys; print(int(json.load(open(sys.argv[1]))["achieved_per_s"]))' "$(ls "$1"/*/produce.json)"; }
rk_rate() { "$PERF" -P -t "$1" -b "$BROKERS" -s "$size" -c "$COUNT" -a -1 $2 \
  -X linger.ms=5 -X queue.buffering.max.messages=1000000 2>&1 | grep -oE "[0-9]+ msgs/s" | tail -1 | cut -d' ' -f1; }

# Interleaved rounds, fresh topics each time (tickbench creates them all), medians: a broker's
# throughput drifts as it fills, and one pair of runs is noise.
declare -A runs
for round in $(seq 1 "$ROUNDS"); do
  id="$(date +%s)-$round"
  "$TB" produce "$results/p1-create.toml" --brokers "$BROKERS" --topic "cmp-rk1-$id" --results-dir "$results/x" >/dev/null
  "$TB" produce "$results/producer-ceiling-create.toml" --brokers "$BROKERS" --topic "cmp-rk12-$id" --results-dir "$results/x" >/dev/null
  "$TB" produce "$results/p1.toml" --brokers "$BROKERS" --topic "cmp-tb1-$id" --results-dir "$results/tb1-$round" >/dev/null
  size=$(python3 -c 'import json,sys; print(round(json.load(open(sys.argv[1]))["payload_bytes_mean"]))' "$(ls "$results/tb1-$round"/*/produce.json)")
  tb1=$(tb_rate "$results/tb1-$round")
  rk1=$(rk_rate "cmp-rk1-$id" "-p 0")
  "$TB" produce scenarios/producer-ceiling.toml --brokers "$BROKERS" --topic "cmp-tb12-$id" --results-dir "$results/tb12-$round" >/dev/null
  tb12=$(tb_rate "$results/tb12-$round")
  rk12=$(rk_rate "cmp-rk12-$id" "")
  echo "round $round ($size-byte messages, acks=all, linger.ms=5): 1 partition: tickbench $tb1, rdkafka_performance $rk1 msgs/s; 12 partitions: tickbench $tb12 (keyed), rdkafka_performance $rk12 (unkeyed, sticky) msgs/s"
  runs[tb1]+="$tb1 "; runs[rk1]+="$rk1 "; runs[tb12]+="$tb12 "; runs[rk12]+="$rk12 "
done
python3 - "${runs[tb1]}" "${runs[rk1]}" "${runs[tb12]}" "${runs[rk12]}" <<'PY'
import statistics, sys
m = [statistics.median(int(x) for x in a.split()) for a in sys.argv[1:]]
print(f"median, 1 partition:   tickbench {m[0]:.0f} / rdkafka_performance {m[1]:.0f} msgs/s = {m[0] / m[1]:.2f}")
print(f"median, 12 partitions: tickbench {m[2]:.0f} / rdkafka_performance {m[3]:.0f} msgs/s = {m[2] / m[3]:.2f}")
PY
