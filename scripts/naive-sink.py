#!/usr/bin/env python3
"""The Kafka-to-S3 consumer as tutorials write it: one object per message, offsets committed by
the consumer on its own schedule (enable.auto.commit), with confluent-kafka and boto3.

A sink for `tickbench run` with `[observe]` to measure from the outside. With --skip-every or
--twice-every it misbehaves on purpose (a message committed but never uploaded; a message
uploaded under two keys) and writes what it did wrong to --log as `lost SYMBOL#seq` /
`twice SYMBOL#seq` lines, so a test can check observe names exactly those ticks.

Credentials, region and endpoint: the AWS environment (AWS_ACCESS_KEY_ID, AWS_ENDPOINT_URL...).
"""

import argparse
import json
import sys
import time

import boto3
from confluent_kafka import Consumer


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--brokers", required=True)
    p.add_argument("--topic", required=True)
    p.add_argument("--group", required=True)
    p.add_argument("--bucket", required=True)
    p.add_argument("--prefix", required=True)
    p.add_argument("--endpoint", help="S3-compatible endpoint URL")
    p.add_argument("--idle-exit", type=float, default=10.0,
                   help="stop after this many seconds without a message (after the first)")
    p.add_argument("--skip-every", type=int, default=0,
                   help="commit but never upload every N-th message")
    p.add_argument("--twice-every", type=int, default=0,
                   help="upload every N-th message twice, under two keys")
    p.add_argument("--log", help="where to write what was done wrong")
    a = p.parse_args()

    s3 = boto3.client("s3", endpoint_url=a.endpoint)
    consumer = Consumer({
        "bootstrap.servers": a.brokers,
        "group.id": a.group,
        "auto.offset.reset": "earliest",
        "enable.auto.commit": True,
    })
    consumer.subscribe([a.topic])
    log = open(a.log, "w") if a.log else None
    n = 0
    last = None
    try:
        while True:
            msg = consumer.poll(0.2)
            if msg is None:
                if last is not None and time.time() - last > a.idle_exit:
                    break
                continue
            if msg.error():
                print(f"consumer error: {msg.error()}", file=sys.stderr)
                continue
            last = time.time()
            n += 1
            value = msg.value()
            key = f"{a.prefix}/{msg.topic()}/{msg.partition()}/{msg.offset()}.json"
            tick = json.loads(value)
            name = f"{tick['symbol']}#{tick['seq']}"
            if a.skip_every and n % a.skip_every == 0:
                if log:
                    log.write(f"lost {name}\n")
                continue
            s3.put_object(Bucket=a.bucket, Key=key, Body=value + b"\n")
            if a.twice_every and n % a.twice_every == 0:
                again = key.removesuffix(".json") + "-again.json"
                s3.put_object(Bucket=a.bucket, Key=again, Body=value + b"\n")
                if log:
                    log.write(f"twice {name}\n")
    finally:
        consumer.close()
        if log:
            log.close()
    print(f"naive-sink: {n} messages")


if __name__ == "__main__":
    main()
