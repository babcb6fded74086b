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

run_id=$(date +%s)
results=$(mktemp -d)
trap 'rm -rf "$results"' EXIT

echo "== tickbench produce: 2,000,000 ticks due within a second, acks=all, linger.ms=5"
tb_out=$("$TB" produce scenarios/producer-ceiling.toml --brokers "$BROKERS" --topic "cmp-tb-$run_id" \
  --results-dir "$results")
echo "$tb_out" | head -1
tb=$(python3 -c 'import json,sys,glob; print(int(json.load(open(glob.glob(sys.argv[1]+"/*/produce.json")[0]))["achieved_per_s"]))' "$results")
size=$(python3 -c 'import json,sys,glob; print(round(json.load(open(glob.glob(sys.argv[1]+"/*/produce.json")[0]))["payload_bytes_mean"]))' "$results")

# The same topic shape for rdkafka_performance: created by tickbench with one tick.
sed 's/ticks_per_second = 2000000/ticks_per_second = 1/' scenarios/producer-ceiling.toml >"$results/one.toml"
"$TB" produce "$results/one.toml" --brokers "$BROKERS" --topic "cmp-rk-$run_id" --results-dir "$results" >/dev/null

echo "== rdkafka_performance: $COUNT messages of $size bytes, acks=all, linger.ms=5"
rk_out=$("$PERF" -P -t "cmp-rk-$run_id" -b "$BROKERS" -s "$size" -c "$COUNT" -a -1 \
  -X linger.ms=5 -X queue.buffering.max.messages=1000000 2>&1 | tail -5)
echo "$rk_out" | grep -E "msgs/s" | tail -1
rk=$(echo "$rk_out" | grep -oE "[0-9]+ msgs/s" | tail -1 | cut -d' ' -f1)

python3 -c "import sys; tb, rk = int(sys.argv[1]), int(sys.argv[2]); print(f'tickbench / rdkafka_performance = {tb} / {rk} msgs/s = {tb / rk:.2f}')" "$tb" "$rk"
