#!/usr/bin/env bash
# tickbench's sink against a bare librdkafka consumer (rdkafka_performance -C -G, built from the
# same vendored librdkafka): what landing a record in S3 costs over reading it. Fills a topic once,
# then in interleaved rounds reads the whole topic with a fresh consumer group each: once with
# rdkafka_performance, then with `tickbench sink --until-idle` for each format. Prints CPU seconds
# per million records (= µs per record) of each, the ratios, and the sink's memory against its
# configured bound.
#
# usage: scripts/compare-sink.sh
#
# The broker and the S3 server are `tickbench up`'s (librdkafka's mock cluster and s3s), in a
# process of their own: the CPU counted is the consumer's or the sink's process alone.
# The topic has 48 partitions: the mock cluster keeps about 5 MiB a partition, and a topic of a
# million and a half records keeps the fixed costs (start-up, joining the group, the sink's idle
# wait at the end) to a few percent of what is counted.
# Environment: ROUNDS (5), TICKS (records to fill the topic with, 1500000), FORMATS ("jsonl
# parquet-zstd"; also "jsonl-zstd", "csv", and "iceberg": zstd Parquet data files committed to an
# Iceberg table, a snapshot per closed batch, on the SQL catalog in the round's results folder).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/reference.sh

ROUNDS=${ROUNDS:-5}
TICKS=${TICKS:-1500000}
FORMATS=${FORMATS:-jsonl parquet-zstd}
build_reference
work=$(mktemp -d)
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null; rm -rf "$work"' EXIT
start_up "$work/up" cmp 48
pids+=("$UP_PID")
eval "$(grep -oE 'export AWS_[^ ]+ AWS_[^ ]+ AWS_[^ ]+' "$work/up/up.log")"

# Each round's sink writes under a prefix of its own: at the same keys as an earlier round its
# conditional writes would be refused, and it would read every object back instead of landing it.
scenario() { # FORMAT COMPRESSION PREFIX
  cat <<EOF
name = "compare-sink"
seed = 3
duration = "4s"

[symbols]
count = 2000

[rate]
ticks_per_second = $((TICKS / 4))

[kafka]
topic = "cmp"
partitions = 48

[s3]
prefix = "$3"

[sink]
format = "$1"
compression = "$2"
EOF
}
declare -A codec=([jsonl]="jsonl none" [parquet-zstd]="parquet zstd" [jsonl-zstd]="jsonl zstd" [csv]="csv none" [iceberg]="iceberg zstd")
scenario jsonl none fill >"$work/jsonl.toml"

"$TB" produce "$work/jsonl.toml" --brokers "$BROKERS" --topic cmp --results-dir "$work/fill" >/dev/null
N=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["acked"])' "$(ls "$work"/fill/*/produce.json)")
echo "topic cmp: $N records over 48 partitions"

declare -A runs
for round in $(seq 1 "$ROUNDS"); do
  line="round $round, CPU s per million records:"
  c=$(cpu_of "$PERF" -C -G "rk-$round-$$" -t cmp -b "$BROKERS" -c "$N" -q \
    -X auto.offset.reset=earliest -X enable.auto.commit=false)
  rk=$(python3 -c "print(f'{$c * 1e6 / $N:.3f}')")
  runs[rk]+="$rk "
  line+=" rdkafka_performance $rk"
  for f in $FORMATS; do
    d="$work/sink-$f-$round"
    # shellcheck disable=SC2086 # two words: the format and its compression
    scenario ${codec[$f]} "round-$round" >"$work/$f.toml"
    c=$(cpu_of "$TB" sink "$work/$f.toml" --brokers "$BROKERS" --topic cmp --s3-endpoint "$S3_ENDPOINT" \
      --bucket tickbench --group "tb-$f-$round-$$" --until-idle 2s --quiet --results-dir "$d")
    read -r landed rss peak bound rate refused < <(python3 -c '
import json, sys
s = json.load(open(sys.argv[1]))
r = s["resources"]
print(s["counts"]["landed"], r["peak_rss_bytes"], r["sink_peak_buffered_bytes"], r["sink_memory_bound_bytes"], int(s["landed_per_s"]), s["requests"]["precondition_failed"])' "$(ls "$d"/*/summary.json)")
    [ "$landed" = "$N" ] || echo "warning: tickbench sink ($f) landed $landed of $N records" >&2
    [ "$refused" = 0 ] || echo "warning: tickbench sink ($f) found $refused objects already at its keys" >&2
    v=$(python3 -c "print(f'{$c * 1e6 / $landed:.3f}')")
    runs[$f]+="$v "
    runs[$f-rate]+="$rate "
    runs[$f-mem]="peak RSS $((rss >> 20)) MiB, buffers at most $((peak >> 20)) MiB of a $((bound >> 20)) MiB bound"
    line+=", tickbench $f $v"
  done
  echo "$line"
done
rk=$(median ${runs[rk]})
printf 'median: rdkafka_performance -C -G %.3f µs of CPU per record\n' "$rk"
for f in $FORMATS; do
  m=$(median ${runs[$f]})
  printf 'median: tickbench sink %-13s %.3f µs of CPU per landed record = %.2f× the bare consumer, landing %.0f records/s (%s)\n' \
    "$f" "$m" "$(python3 -c "print($m / $rk)")" "$(median ${runs[$f-rate]})" "${runs[$f-mem]}"
done
if [[ " $FORMATS " == *" iceberg "* && " $FORMATS " == *" parquet-zstd "* ]]; then
  printf 'median: into an Iceberg table, %.2f× the CPU per landed record and %.2f× the records/s of plain Parquet objects\n' \
    "$(python3 -c "print($(median ${runs[iceberg]}) / $(median ${runs[parquet-zstd]}))")" \
    "$(python3 -c "print($(median ${runs[iceberg-rate]}) / $(median ${runs[parquet-zstd-rate]}))")"
fi
