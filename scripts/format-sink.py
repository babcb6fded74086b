#!/usr/bin/env python3
"""A batching Kafka-to-S3 consumer that writes objects the way other sinks do, for observe's tests:
what tickbench reads back was written by code that is not tickbench's.

Styles (--style):
  firehose      JSON records back to back with no separator, keys
                <prefix>/YYYY/MM/DD/HH/<stream>-1-YYYY-MM-DD-HH-MM-SS-<uuid> (Firehose's defaults)
  connect-json  Kafka Connect's JsonConverter with schemas.enable=true: one
                {"schema": ..., "payload": ...} a line, one object per partition batch, keys
                <prefix>/<topic>/partition=<p>/<topic>+<p>+<first offset>.json
  avro          Kafka Connect's AvroFormat: an Avro object container file (fastavro, deflate codec),
                <prefix>/<topic>/partition=<p>/<topic>+<p>+<first offset>.avro
  vector        Vector's kafka source into its aws_s3 sink with the json codec: each record
                {"message": "<the Kafka value as text>", "topic": ..., "timestamp": ...}, keys
                <prefix>/date=YYYY-MM-DD/<epoch>-<uuid>.log
--gzip compresses each object (and adds .gz); --rename symbol=sym,... writes fields under other
names; --wrap KEY nests each record under KEY. Offsets are committed after the batch is uploaded.

Credentials, region and endpoint: the AWS environment (AWS_ACCESS_KEY_ID, AWS_ENDPOINT_URL...).
"""

import argparse
import gzip
import io
import json
import sys
import time
import uuid
from datetime import datetime, timezone

import boto3
import fastavro
from confluent_kafka import Consumer, TopicPartition

CONNECT_SCHEMA = {
    "type": "struct",
    "optional": False,
    "fields": [
        {"field": "symbol", "type": "string", "optional": False},
        {"field": "seq", "type": "int64", "optional": False},
        {"field": "ts_ns", "type": "int64", "optional": False},
        {"field": "price", "type": "double", "optional": False},
        {"field": "bid", "type": "double", "optional": False},
        {"field": "ask", "type": "double", "optional": False},
        {"field": "size", "type": "int32", "optional": False},
    ],
    "name": "tick",
}

AVRO_SCHEMA = fastavro.parse_schema({
    "type": "record",
    "name": "tick",
    "namespace": "tickbench",
    "fields": [
        {"name": "symbol", "type": "string"},
        {"name": "seq", "type": "long"},
        {"name": "ts_ns", "type": "long"},
        {"name": "price", "type": "double"},
        {"name": "bid", "type": "double"},
        {"name": "ask", "type": "double"},
        {"name": "size", "type": "int"},
    ],
})


def body_of(style, msgs, rename, wrap):
    """The object's bytes for a batch of messages, in the style's format."""
    if rename or wrap:
        def tick(m):
            return {rename.get(k, k): v for k, v in json.loads(m.value()).items()}

        def record(m):
            r = {"schema": CONNECT_SCHEMA, "payload": tick(m)} if style == "connect-json" else tick(m)
            return {wrap: r} if wrap else r
        if style not in ("connect-json", "firehose"):
            raise SystemExit("--rename and --wrap go with --style connect-json or firehose")
        sep = b"\n" if style == "connect-json" else b""
        return b"".join(json.dumps(record(m)).encode() + sep for m in msgs)
    if style == "firehose":
        return b"".join(m.value() for m in msgs)
    if style == "connect-json":
        return b"".join(
            json.dumps({"schema": CONNECT_SCHEMA, "payload": json.loads(m.value())}).encode() + b"\n"
            for m in msgs
        )
    if style == "avro":
        out = io.BytesIO()
        fastavro.writer(out, AVRO_SCHEMA, [json.loads(m.value()) for m in msgs], codec="deflate")
        return out.getvalue()
    if style == "vector":
        return b"".join(
            json.dumps({
                "message": m.value().decode(),
                "topic": m.topic(),
                "partition": m.partition(),
                "offset": m.offset(),
                "timestamp": datetime.now(timezone.utc).isoformat(),
            }).encode() + b"\n"
            for m in msgs
        )
    raise ValueError(style)


def key_of(style, prefix, topic, partition, first_offset):
    now = datetime.now(timezone.utc)
    if style == "firehose":
        return (f"{prefix}/{now:%Y/%m/%d/%H}/ticks-stream-1-"
                f"{now:%Y-%m-%d-%H-%M-%S}-{uuid.uuid4()}")
    if style == "vector":
        return f"{prefix}/date={now:%Y-%m-%d}/{int(now.timestamp())}-{uuid.uuid4()}.log"
    ext = "avro" if style == "avro" else "json"
    return f"{prefix}/{topic}/partition={partition}/{topic}+{partition}+{first_offset:010d}.{ext}"


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--brokers", required=True)
    p.add_argument("--topic", required=True)
    p.add_argument("--group", required=True)
    p.add_argument("--bucket", required=True)
    p.add_argument("--prefix", required=True)
    p.add_argument("--endpoint", help="S3-compatible endpoint URL")
    p.add_argument("--style", required=True, choices=["firehose", "connect-json", "avro", "vector"])
    p.add_argument("--gzip", action="store_true")
    p.add_argument("--rename", default="", help="field=name,... : write tick fields under other names")
    p.add_argument("--wrap", default="", help="nest each record under this key")
    p.add_argument("--marker", action="store_true",
                   help="after each object, an empty <key>.done marker beside it (as Secor and Hadoop jobs write)")
    p.add_argument("--batch", type=int, default=200, help="records per object at most")
    p.add_argument("--flush", type=float, default=0.5, help="seconds a batch stays open at most")
    p.add_argument("--idle-exit", type=float, default=10.0,
                   help="stop after this many seconds without a message (after the first)")
    a = p.parse_args()
    rename = dict(kv.split("=", 1) for kv in a.rename.split(",") if kv)

    s3 = boto3.client("s3", endpoint_url=a.endpoint)
    consumer = Consumer({
        "bootstrap.servers": a.brokers,
        "group.id": a.group,
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
    })
    consumer.subscribe([a.topic])
    # Connect-style sinks keep one batch per partition (the name carries its first offset);
    # the others one for everything.
    per_partition = a.style in ("connect-json", "avro")
    batches = {}
    opened = {}
    objects = 0

    def flush(slot):
        nonlocal objects
        msgs = batches.pop(slot, [])
        opened.pop(slot, None)
        if not msgs:
            return
        body = body_of(a.style, msgs, rename, a.wrap)
        key = key_of(a.style, a.prefix, a.topic, msgs[0].partition(), msgs[0].offset())
        if a.gzip:
            body, key = gzip.compress(body), key + ".gz"
        s3.put_object(Bucket=a.bucket, Key=key, Body=body)
        objects += 1
        if a.marker:
            s3.put_object(Bucket=a.bucket, Key=key + ".done", Body=b"")
        # Durable first, then the offsets: nothing is lost on a crash.
        ends = {}
        for m in msgs:
            ends[m.partition()] = max(ends.get(m.partition(), -1), m.offset() + 1)
        consumer.commit(offsets=[TopicPartition(a.topic, q, o) for q, o in ends.items()],
                        asynchronous=False)

    n = 0
    last = None
    try:
        while True:
            msg = consumer.poll(0.1)
            now = time.time()
            for slot in [s for s, t in opened.items() if now - t >= a.flush]:
                flush(slot)
            if msg is None:
                if last is not None and now - last > a.idle_exit:
                    break
                continue
            if msg.error():
                print(f"consumer error: {msg.error()}", file=sys.stderr)
                continue
            last = now
            n += 1
            slot = msg.partition() if per_partition else 0
            batches.setdefault(slot, []).append(msg)
            opened.setdefault(slot, now)
            if len(batches[slot]) >= a.batch:
                flush(slot)
        for slot in list(batches):
            flush(slot)
    finally:
        consumer.close()
    print(f"format-sink: {n} messages in {objects} objects")


if __name__ == "__main__":
    main()
