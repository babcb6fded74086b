#!/usr/bin/env python3
"""Reads an Iceberg table's current snapshot with PyIceberg (its SQL catalog, its manifests
reader, its pyarrow-based scan over its own S3 file I/O), as a reader nobody at tickbench wrote,
and prints one JSON array per row: [symbol, seq, ts_ns, price, bid, ask, size, ts_us],
then a last line {"snapshots": N, "files": N, "offsets": {...}, "partition_fields": [...]}.

usage: read-iceberg.py CATALOG_URL WAREHOUSE ENDPOINT NAMESPACE.TABLE
  CATALOG_URL: SQLAlchemy's URL of the SQL catalog, sqlite:////abs/path/catalog.db, or
  glue+http://host:port for PyIceberg's Glue catalog at that endpoint (moto's, in the tests), or
  rest+http://host:port for PyIceberg's REST catalog there (a bearer token from
  TICKBENCH_ICEBERG_TOKEN, as tickbench takes it; WAREHOUSE "" for the catalog's own)
  ENDPOINT: the S3 endpoint the table's files are on
  (credentials from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, as the AWS chain would find them)
"""
import json
import os
import sys

from pyiceberg.catalog.glue import GlueCatalog
from pyiceberg.catalog.rest import RestCatalog
from pyiceberg.catalog.sql import SqlCatalog


def main():
    uri, warehouse, endpoint, name = sys.argv[1:5]
    region = os.environ.get("AWS_REGION", "us-east-1")
    s3 = {
        "s3.endpoint": endpoint,
        "s3.access-key-id": os.environ["AWS_ACCESS_KEY_ID"],
        "s3.secret-access-key": os.environ["AWS_SECRET_ACCESS_KEY"],
        "s3.region": region,
        "s3.path-style-access": "true",
    }
    if uri.startswith("glue+"):
        catalog = GlueCatalog(
            "tickbench",
            warehouse=warehouse,
            **{
                "glue.endpoint": uri[len("glue+"):],
                "glue.region": region,
                "glue.access-key-id": os.environ["AWS_ACCESS_KEY_ID"],
                "glue.secret-access-key": os.environ["AWS_SECRET_ACCESS_KEY"],
            },
            **s3,
        )
    elif uri.startswith("rest+"):
        props = {"uri": uri[len("rest+"):], **s3}
        if warehouse:
            props["warehouse"] = warehouse
        if os.environ.get("TICKBENCH_ICEBERG_TOKEN"):
            props["token"] = os.environ["TICKBENCH_ICEBERG_TOKEN"]
        catalog = RestCatalog("tickbench", **props)
    else:
        catalog = SqlCatalog("tickbench", uri=uri, warehouse=warehouse, **s3)
    table = catalog.load_table(name)
    scan = table.scan()
    out = sys.stdout
    arrow = scan.to_arrow()
    cols = ["symbol", "seq", "ts_ns", "price", "bid", "ask", "size", "ts"]
    by_file = {}
    for task in scan.plan_files():
        by_file[task.file.file_path] = task.file.record_count
    data = arrow.select(cols).to_pylist()
    for r in data:
        out.write(
            json.dumps(
                [
                    r["symbol"],
                    r["seq"],
                    r["ts_ns"],
                    r["price"],
                    r["bid"],
                    r["ask"],
                    r["size"],
                    int(r["ts"].timestamp() * 1_000_000),
                ]
            )
            + "\n"
        )
    snap = table.current_snapshot()
    offsets = {}
    for s in table.snapshots():
        for k, v in (s.summary.additional_properties if s.summary else {}).items():
            if k.startswith("tickbench.offsets."):
                offsets.setdefault(k, []).append(json.loads(v))
    out.write(
        json.dumps(
            {
                "snapshots": len(table.snapshots()),
                "current": snap.snapshot_id if snap else None,
                "operation": snap.summary.operation.value if snap and snap.summary else None,
                "files": len(by_file),
                "file_records": sum(by_file.values()),
                "offsets": offsets,
                "partition_fields": [f.name for f in table.spec().fields],
            }
        )
        + "\n"
    )


if __name__ == "__main__":
    main()
