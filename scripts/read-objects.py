#!/usr/bin/env python3
"""Reads every object under s3://BUCKET/PREFIX with pyarrow alone (its own S3 client, its own
Parquet, CSV and JSON readers, its own gzip and zstd), as a reader nobody at tickbench wrote, and
prints one JSON array per tick: [key, symbol, seq, ts_ns, price, bid, ask, size].

usage: read-objects.py ENDPOINT BUCKET PREFIX   (credentials from AWS_ACCESS_KEY_ID /
AWS_SECRET_ACCESS_KEY, as the AWS chain would find them)
"""
import json
import os
import sys
from urllib.parse import urlparse

import pyarrow as pa
import pyarrow.csv
import pyarrow.fs
import pyarrow.json
import pyarrow.parquet

COLUMNS = ["symbol", "seq", "ts_ns", "price", "bid", "ask", "size"]
# The tick's types, as tickbench's Parquet schema has them; the text formats are read to these
# rather than to whatever a block's values suggest (a price of "101" is still a float).
SCHEMA = pa.schema(
    [
        ("symbol", pa.string()),
        ("seq", pa.int64()),
        ("ts_ns", pa.int64()),
        ("price", pa.float64()),
        ("bid", pa.float64()),
        ("ask", pa.float64()),
        ("size", pa.int64()),
    ]
)


def table(fs, path):
    name = path.rsplit("/", 1)[-1]
    if name.endswith(".parquet"):
        return pyarrow.parquet.read_table(path, filesystem=fs)
    codec = {"gz": "gzip", "zst": "zstd"}.get(name.rsplit(".", 1)[-1])
    raw = fs.open_input_stream(path, compression=None)
    stream = pa.CompressedInputStream(raw, codec) if codec else raw
    if ".jsonl" in name:
        return pyarrow.json.read_json(stream, parse_options=pyarrow.json.ParseOptions(explicit_schema=SCHEMA))
    if ".csv" in name:
        types = {f.name: f.type for f in SCHEMA}
        return pyarrow.csv.read_csv(stream, convert_options=pyarrow.csv.ConvertOptions(column_types=types))
    raise SystemExit(f"{path}: not an object tickbench writes")


def main():
    endpoint, bucket, prefix = sys.argv[1:4]
    url = urlparse(endpoint)
    fs = pyarrow.fs.S3FileSystem(
        access_key=os.environ["AWS_ACCESS_KEY_ID"],
        secret_key=os.environ["AWS_SECRET_ACCESS_KEY"],
        region=os.environ.get("AWS_REGION", "us-east-1"),
        endpoint_override=url.netloc,
        scheme=url.scheme,
    )
    files = fs.get_file_info(pyarrow.fs.FileSelector(f"{bucket}/{prefix}", recursive=True))
    out = sys.stdout
    for f in sorted(files, key=lambda f: f.path):
        if f.type != pyarrow.fs.FileType.File:
            continue
        t = table(fs, f.path)
        missing = [c for c in COLUMNS if c not in t.column_names]
        if missing:
            raise SystemExit(f"{f.path}: no column {missing}")
        cols = [t.column(c).to_pylist() for c in COLUMNS]
        key = f.path[len(bucket) + 1 :]
        for row in zip(*cols):
            out.write(json.dumps([key, *row]) + "\n")


if __name__ == "__main__":
    main()
