#!/usr/bin/env bash
# tickbench's producer against librdkafka's own rdkafka_performance: same broker, same message
# size, same acks (all) and linger (5 ms), producer only. Prints both rates and their ratio.
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
sed 's/ticks_per_second = 2000000/ticks_per_second = 1/' scenarios/producer-ceiling.toml >"$results/one.toml"

# Interleaved rounds, fresh topics each time (tickbench creates both, 12 partitions), medians:
# a broker's throughput drifts as it fills, and one pair of runs is noise.
tbs=()
rks=()
for round in $(seq 1 "$ROUNDS"); do
  id="$(date +%s)-$round"
  out="$results/tb-$round"
  "$TB" produce scenarios/producer-ceiling.toml --brokers "$BROKERS" --topic "cmp-tb-$id" --results-dir "$out" >/dev/null
  json=$(ls "$out"/*/produce.json)
  tb=$(python3 -c 'import json,sys; print(int(json.load(open(sys.argv[1]))["achieved_per_s"]))' "$json")
  size=$(python3 -c 'import json,sys; print(round(json.load(open(sys.argv[1]))["payload_bytes_mean"]))' "$json")
  "$TB" produce "$results/one.toml" --brokers "$BROKERS" --topic "cmp-rk-$id" --results-dir "$results/one" >/dev/null
  rk=$("$PERF" -P -t "cmp-rk-$id" -b "$BROKERS" -s "$size" -c "$COUNT" -a -1 \
    -X linger.ms=5 -X queue.buffering.max.messages=1000000 2>&1 | grep -oE "[0-9]+ msgs/s" | tail -1 | cut -d' ' -f1)
  echo "round $round: tickbench $tb ticks/s, rdkafka_performance $rk msgs/s ($size-byte messages, acks=all, linger.ms=5)"
  tbs+=("$tb")
  rks+=("$rk")
done
python3 - "${tbs[*]}" "${rks[*]}" <<'PY'
import statistics, sys
tb = statistics.median(int(x) for x in sys.argv[1].split())
rk = statistics.median(int(x) for x in sys.argv[2].split())
print(f"median: tickbench {tb:.0f} / rdkafka_performance {rk:.0f} msgs/s = {tb / rk:.2f}")
PY
